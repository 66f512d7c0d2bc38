// `scws bench tls` (docs/architecture.md, "Figures and targets"): the card's RAM for one TLS session, beside
// reference peers measured in the same run, and handshake rates.
//
// RAM for one session = the smallest TLS region (tls/tls_allocator.hpp) with which `runs` full
// handshakes plus a GET answered with a 1 KiB page succeed in a row, found by bisection (8-byte
// steps; each probe is a fresh card running all the connections), for ECDHE-ECDSA P-256 with a
// client certificate and for PSK. The region also holds the server context (parsed certificates,
// key, ticket keys): that idle level is reported apart, and session = region - idle is the figure
// the targets apply to (x86-64: <= 12 KiB certificate, <= 6.5 KiB PSK). The card side is a
// TlsEndpoint as on the card (the session object lives in the region too); the client is the card
// build's mbedTLS client over an in-memory pipe that cuts ciphertext into RECEIVE DATA-sized pieces.
//
// Reference peers (separate executables next to `scws`, sim/bench/bench_tls_peer.cpp, run as children on
// the same credentials): Debian's stock mbedTLS (peak heap: idle, and peak during the connections)
// and the card configuration on mbedTLS's own buffer allocator (smallest buffer, same bisection).
// A peer that is missing or fails is reported as such; the card's own figures still stand.
//
// Host code (exceptions on failure to set up; failed handshakes are figures, not exceptions).
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/bytes.hpp"

namespace scws::sim {

enum class TlsBenchMode { kCertificate, kPsk };
const char* tls_bench_mode_name(TlsBenchMode mode) noexcept;  // "certificate" | "psk"

// Targets on x86-64 for the session part of the region (docs/architecture.md, "Figures and targets").
inline constexpr std::size_t kTlsCertificateTarget = 12 * 1024;
inline constexpr std::size_t kTlsPskTarget = 6656;  // 6.5 KiB

// The smallest size in [lo, hi] (multiples of step above lo) for which works() holds, assuming works
// is monotonic (more RAM never hurts) and works(lo) is false or lo is the floor. Returns nullopt when
// works(hi) is false. probes counts the calls to works.
struct Bisection {
  std::optional<std::size_t> smallest;
  unsigned probes = 0;
};
Bisection bisect_smallest(std::size_t lo, std::size_t hi, std::size_t step, const std::function<bool(std::size_t)>& works);

// Credentials of one benchmark run (a fresh test PKI from sim/host/pki.hpp), as DER for mbedTLS.
struct TlsBenchCredentials {
  std::vector<u8> ca, server_chain, server_key, client, client_key;  // client_key: PKCS#8
  std::string psk_identity;
  std::vector<u8> psk;
};
TlsBenchCredentials make_tls_bench_credentials();
// The DER inside a PEM block ("-----BEGIN ...-----"); throws std::runtime_error when there is none.
std::vector<u8> pem_to_der(const std::string& pem);
// ca.der, server.der, server.key.der, client.der, client.key.der, psk.id, psk.key (the peers' input).
void write_peer_credentials(const TlsBenchCredentials& credentials, const std::filesystem::path& dir);

// One probe of the card: a fresh card with a TLS region of region_bytes runs `runs` connections
// (full handshake, GET, response_bytes page, close) in a row.
struct CardProbe {
  bool ok = false;              // every connection completed and the region returned to idle
  unsigned completed = 0;       // connections that completed before the first failure
  std::size_t idle = 0;         // region bytes the server context holds
  std::size_t peak = 0;         // region high water during the connections, minus idle
  std::size_t allocations = 0;  // per connection (the region's allocator)
  std::string failure;          // the first failure ("handshake: arena exhausted", ...)
  double seconds = 0;           // wall time of the connections (both sides)
};
CardProbe probe_card_region(const TlsBenchCredentials& credentials, TlsBenchMode mode, std::size_t region_bytes,
                            unsigned runs, std::size_t response_bytes = 1024);

// Full and resumed (RFC 5077 ticket) handshakes per second, card mbedTLS client against the card
// server over the in-memory pipe (both sides' CPU), with a region large enough not to matter.
struct PipeRate {
  unsigned handshakes = 0;
  double full_per_second = 0;
  double resumed_per_second = 0;
  bool resumed_ok = false;  // every resumption really resumed
};
PipeRate measure_pipe_rate(const TlsBenchCredentials& credentials, TlsBenchMode mode, unsigned runs);

struct RegionFigures {
  TlsBenchMode mode = TlsBenchMode::kCertificate;
  std::string client;           // "card mbedTLS client (in-memory pipe)", "curl", ...
  std::size_t smallest = 0;     // smallest region (0: none up to the bisection's upper bound)
  std::size_t idle = 0;         // of which the server context
  std::size_t session = 0;      // smallest - idle
  std::size_t session_object = 0;  // of which the TlsSession object (its mbedtls_ssl_context included;
                                   // the peers keep their mbedtls_ssl_context on the stack instead)
  std::size_t peak = 0;         // high water minus idle at the smallest region
  std::size_t allocations = 0;  // per connection
  unsigned runs = 0;
  unsigned probes = 0;
  std::size_t target = 0;       // the target for session
  [[nodiscard]] bool meets_target() const noexcept { return smallest != 0 && session <= target; }
};

struct PeerRegion {
  std::string peer;       // "stock mbedTLS (Debian libmbedtls 2.28)", "card config + mbedTLS buffer allocator"
  TlsBenchMode mode = TlsBenchMode::kCertificate;
  bool measured = false;
  std::string error;      // why not measured
  std::size_t idle = 0;
  std::size_t session = 0;    // stock: peak heap during the connections minus idle; bufalloc: smallest - idle
  std::size_t total = 0;      // stock: peak heap; bufalloc: smallest buffer
  std::size_t allocations = 0;
  std::string raw_json;   // the peer's own output line
};

// Through the in-process stack as `scws run` builds it (EmulatedUicc with the demo profile and a
// [tls] port in mode "both" + DirectTransport + Gateway on loopback), with curl and `openssl
// s_client` as clients (children). APDUs are counted at the gateway from the client's start until
// the card's channel listens again (idle STATUS polling is off meanwhile).
struct StackClientRow {
  std::string client;     // "curl", "openssl s_client"
  TlsBenchMode mode = TlsBenchMode::kCertificate;
  unsigned runs = 0, ok = 0;
  double apdus_per_connection = 0;  // full handshake + GET of the demo page + close
  std::size_t peak = 0;             // TLS region high water minus the context's idle level, so far
};
struct StackFigures {
  bool measured = false;
  std::string error;
  std::vector<StackClientRow> rows;
  // openssl s_client with no request (handshake and close_notify only), certificate mode:
  double apdus_full = 0, apdus_resumed = 0;  // one connection each; resumed = RFC 5077 ticket
  bool resumed_ok = false;
  std::size_t region = 0, region_idle = 0, max_sessions = 0;
};

// Handshakes per second through the real PC/SC stack, beside the in-memory pipe rate of the same
// kind from the same run: a private pcscd in a private mount namespace (sim/testing/pcscd_harness.hpp, needs
// root), `scws card` as a child process through vpcd on an image provisioned with [tls] mode "both"
// (sim/host/provision.hpp, credentials in a temporary folder), and the Gateway over PcscTransport
// (GatewayRunner, sim/bench/bench_http.hpp). Clients: `openssl s_time -new` (full certificate handshakes)
// and `-reuse` (resumed), and for PSK (s_time has no -psk) a loop of `openssl s_client`, one process
// per handshake, with a certificate row of the same loop beside it to show what the process costs.
// The openssl clients handshake and close without a request; the pipe rows include a GET of 1 KiB.
struct PcscdRateRow {
  TlsBenchMode mode = TlsBenchMode::kCertificate;
  bool resumed = false;
  std::string client;          // "openssl s_time -new", "openssl s_client loop", ...
  unsigned connections = 0;    // completed handshakes
  unsigned resumed_count = 0;  // of which resumed (s_time's 'r' marks; s_client's "Reused")
  double seconds = 0;          // wall time of the client(s), process start included
  double per_second = 0;
  double pipe_per_second = 0;  // the in-memory pipe rate of the same kind (0: not measured)
  double pipe_ratio = 0;       // pipe_per_second / per_second: how much slower the stack is
  std::string note;
};
struct PcscdRates {
  bool measured = false;
  std::string note;  // why not measured ("needs root ...")
  std::vector<PcscdRateRow> rows;
};

struct TlsBenchResult {
  std::vector<RegionFigures> regions;
  std::vector<PeerRegion> peers;
  std::vector<std::pair<TlsBenchMode, PipeRate>> pipe_rates;
  StackFigures stack;
  PcscdRates pcscd;
  std::vector<std::string> notes;  // rows not measured and why
  int in_content_len = 0, out_content_len = 0;
  unsigned runs = 0;
};

struct TlsBenchOptions {
  unsigned runs = 100;           // connections per probe
  bool quick = false;            // runs = 10 (unless given), fewer rate runs
  std::size_t response_bytes = 1024;
  std::filesystem::path peer_dir;  // where scws-bench-*-tls live (default: next to scws)
  bool peers = true;
  bool stack = true;               // the curl / openssl rows through the in-process stack
  bool pcscd = true;               // handshake rates through a private pcscd (needs root)
  unsigned pcscd_seconds = 0;      // per rate row; 0: 10, or 3 with quick
  std::filesystem::path scws;      // the scws executable for `scws card` (default: this process's)
  bool verbose = false;            // progress on stderr
};

// Ratio a / b (0 when b is 0): e.g. stock session / card session.
double tls_ratio(double a, double b) noexcept;

StackFigures measure_stack(unsigned runs, bool verbose);

// The same figure with real clients: the smallest TLS region with which `runs` connections of
// curl and `openssl s_client` (certificate; PSK with CCM, CBC-SHA256 and GCM) in a row each get the
// demo page, through the in-process stack; each probe is a fresh card whose port admits a session
// whenever none is open (TlsPort::set_session_budget), so a session that does not fit fails by
// exhaustion. pipe: the in-memory rows, to centre the bisection.
std::vector<RegionFigures> measure_stack_regions(unsigned runs, const std::vector<RegionFigures>& pipe,
                                                 const std::function<void(const std::string&)>& progress);

// Connections per second (0 when seconds is not positive).
double handshake_rate(unsigned connections, double seconds) noexcept;

// The in-process figures, the peers and the pcscd rates. Call it before the process starts any
// thread: as root it first enters a private mount namespace for its pcscd.
TlsBenchResult run_tls_bench(const TlsBenchOptions& options);
std::string format_human(const TlsBenchResult& result);
std::string format_json(const TlsBenchResult& result);

}  // namespace scws::sim
