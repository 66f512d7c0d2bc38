// `scws bench http`: the figures of the Smart Card Web Server over BIP (docs/architecture.md,
// "Figures and targets").
//
//  - APDUs per GET for pages of 100 B, 1 KiB and 16 KiB, counted at the card transport, against the
//    protocol minimum 6 + 2 x ceil(response bytes / 240): per connection, ENVELOPE Channel status,
//    ENVELOPE Data available, FETCH + TERMINAL RESPONSE for RECEIVE DATA and for CLOSE CHANNEL, and
//    one FETCH + TERMINAL RESPONSE per SEND DATA of at most 240 bytes (the exchange of
//    docs/protocol.md section 9; 240 keeps the proactive command within 255 bytes, section 6.4).
//    Measured in process (card + gateway, DirectTransport): the count does not depend on the
//    transport. Target: at most 1.1 x.
//  - Card RAM high-water mark while serving the 1 KiB page over plain HTTP (RamReport: high_water -
//    idle), beside the APDU buffer size. Target: at most 2 KiB.
//  - Requests per second for the 1 KiB page through the real stack (a private pcscd + vpcd + `scws
//    card` as a child process + Gateway over PcscTransport), with N concurrent keep-alive clients and
//    with a new connection per request, beside the APDU floor measured in the same run on the same
//    card, right before each row, by `scws bench apdu`'s measurement (measure_apdu_rounds: STATUS, and
//    the reference card):
//    efficiency = requests/s x APDUs per request / floor APDUs/s. Target: at least 0.8.
//
// Benchmarks are programs: nothing here has a time limit or a pass/fail verdict; the figures and
// their targets are printed side by side.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/bytes.hpp"
#include "sim/bench/bench_apdu.hpp"
#include "sim/host/card_transport.hpp"

namespace scws::sim {

// --- arithmetic -------------------------------------------------------------------------------------

inline constexpr std::size_t kSendDataPayload = 240;  // one SEND DATA at most (docs/protocol.md section 6.4)
inline constexpr double kApduRatioTarget = 1.1;       // target: at most 1.1 x the minimum
inline constexpr double kEfficiencyTarget = 0.8;      // target: at least 0.8 of the floor
inline constexpr std::size_t kRamBeyondTarget = 2048; // target: at most 2 KiB beyond the APDU buffer

// 6 + 2 x ceil(response_bytes / 240): the fewest APDUs one GET on a fresh connection can take.
u64 minimum_apdus_per_get(std::size_t response_bytes) noexcept;
// requests/s x APDUs per request / floor APDUs/s (0 when the floor is 0).
double floor_efficiency(double requests_per_second, double apdus_per_request, double floor_apdus_per_second) noexcept;

// The head of an HTTP/1.1 response (up to and including the empty line).
struct ResponseHead {
  int status = 0;                            // 0: not an HTTP/1.x status line
  std::optional<std::size_t> content_length;
  bool close = false;                        // "Connection: close"
};
// Parses a response head (header names case-insensitive).
ResponseHead parse_response_head(std::string_view head);

// --- figures -----------------------------------------------------------------------------------------

struct PageFigures {
  std::string path;                 // "/page-1k.txt"
  std::size_t body_bytes = 0;
  std::size_t response_bytes = 0;   // status line + headers + body, as the client received them
  u64 gets = 0;                     // measured GETs (each on a new connection)
  double apdus_per_get = 0;         // new connection per GET (what the minimum counts)
  double keep_alive_apdus_per_get = 0;  // the same page over one kept-alive connection
  u64 minimum = 0;                  // minimum_apdus_per_get(response_bytes)
  double ratio = 0;                 // apdus_per_get / minimum
};

struct RamFigures {
  std::size_t apdu_buffer = 0;  // SCWS_APDU_BUFFER_SIZE
  std::size_t capacity = 0;
  std::size_t idle = 0;         // in use right after power-up (includes the APDU buffer)
  std::size_t high_water = 0;
  std::size_t beyond_idle = 0;  // high_water - idle
  std::size_t listening = 0;    // in use with every HTTP channel listening, before the first request
};
// RamFigures from the card's report.
RamFigures ram_figures(std::size_t apdu_buffer, std::size_t capacity, std::size_t idle, std::size_t high_water) noexcept;

struct ThroughputRow {
  std::string where;          // "pcscd" or "in-process"
  bool keep_alive = true;     // false: a new connection per request (Connection: close)
  u32 clients = 1;
  u64 requests = 0;           // completed with 200 and the whole body
  u64 failures = 0;           // errors, short bodies, other statuses
  u64 apdus = 0;              // counted at the transport while measuring
  double seconds = 0;
  double requests_per_second = 0;
  double apdus_per_request = 0;
  // The APDU floor measured right before the row (measure_apdu_rounds on the same card, STATUS):
  double floor_apdus_per_second = 0;         // APDUs over busy time, as `scws bench apdu` reports it
  double floor_median_apdus_per_second = 0;  // 1e6 / its median round trip
  double reference_apdus_per_second = 0;     // the reference card (90 00) beside it
  double efficiency = 0;         // floor_efficiency against floor_apdus_per_second (0: no floor)
  double efficiency_median = 0;  // the same against floor_median_apdus_per_second
  std::string first_failure;     // what went wrong first, when failures > 0
};
// Fills the rates and efficiencies of a row from its counts and floor.
void finish_row(ThroughputRow& row) noexcept;

struct HttpBenchResult {
  std::vector<PageFigures> pages;
  RamFigures ram;
  std::vector<ThroughputRow> in_process;  // the same clients against the in-process card
  bool stack_measured = false;
  std::string stack_note;                 // why the stack figures are missing
  std::vector<ThroughputRow> stack;
  std::vector<ApduBenchResult> floors;    // bench apdu's measurement before each stack row
};

std::string format_human(const HttpBenchResult& result);
std::string format_json(const HttpBenchResult& result);

// --- measuring -----------------------------------------------------------------------------------------

// A transport that counts exchanges (readable from any thread) and calls after_exchange on the
// gateway's thread after each one (e.g. to read the in-process card's RAM report there).
class CountingTransport final : public CardTransport {
 public:
  explicit CountingTransport(CardTransport& inner) : inner_(inner) {}
  bool connect(std::chrono::milliseconds wait) override { return inner_.connect(wait); }
  void disconnect() override { inner_.disconnect(); }
  [[nodiscard]] bool connected() const override { return inner_.connected(); }
  std::vector<u8> transmit(Bytes command) override;
  [[nodiscard]] std::string describe() const override { return inner_.describe(); }
  void set_trace(ApduTraceSink* trace) override { inner_.set_trace(trace); }

  [[nodiscard]] u64 count() const noexcept { return count_.load(std::memory_order_acquire); }
  std::function<void()> after_exchange;  // set before the gateway starts

 private:
  CardTransport& inner_;
  std::atomic<u64> count_{0};
};

// A blocking TCP socket connected to 127.0.0.1:port whose sends and receives give up after timeout.
// A refused connection gives -1 with refused = true; any other failure throws std::runtime_error.
int connect_loopback(u16 port, std::chrono::milliseconds timeout, bool& refused);

// Loopback HTTP/1.1 client with blocking sockets and bounded timeouts (host code, throws
// std::runtime_error). Reconnects when the previous response closed the connection.
class BenchHttpClient {
 public:
  struct Response {
    int status = 0;
    std::size_t bytes = 0;  // head + body
    std::size_t body = 0;
  };
  explicit BenchHttpClient(u16 port, std::chrono::milliseconds timeout = std::chrono::milliseconds(15000));
  ~BenchHttpClient();
  BenchHttpClient(const BenchHttpClient&) = delete;
  BenchHttpClient& operator=(const BenchHttpClient&) = delete;
  // keep_alive false: "Connection: close" and the response read to the end of the stream.
  Response get(const std::string& path, bool keep_alive);
  void close() noexcept;

 private:
  void open();
  u16 port_;
  std::chrono::milliseconds timeout_;
  int fd_ = -1;
};

// `clients` threads GET `path` for `duration` (after one warm-up request each); APDUs from counter.
ThroughputRow measure_throughput(u16 port, const std::string& path, u32 clients, bool keep_alive,
                                 std::chrono::milliseconds duration, const CountingTransport& counter);

// Waits (bounded, 3 s) until the counter has not moved for a few polls: the gateway and card are idle.
void wait_quiet(const CountingTransport& counter);

// A Gateway on its own io_context thread over a CountingTransport, each of card_ports mapped to an
// ephemeral local port on loopback. The first card port is the measured one: start() waits
// (bounded) for `channels` of the card's channels listening on it and returns its local port.
// Also used by `scws bench tls` (the TLS port through pcscd). connect_map: the card's client-channel
// destinations redirected (GatewayOptions::connect_map), e.g. to an in-process admin server.
class GatewayRunner {
 public:
  GatewayRunner(CardTransport& transport, bool verbose, std::string tag, std::vector<u16> card_ports = {3516},
                std::map<std::string, std::string> connect_map = {});
  ~GatewayRunner();  // stop()
  GatewayRunner(const GatewayRunner&) = delete;
  GatewayRunner& operator=(const GatewayRunner&) = delete;

  CountingTransport& counter();
  // Every gateway log line, on the gateway's thread (e.g. "stopped listening on ... (card port N)").
  // Set before start().
  void set_log_hook(std::function<void(const std::string&)> hook);
  // Where a card port listens now (the latest socket opened for it); nullopt before it listened.
  [[nodiscard]] std::optional<u16> local_port(u16 card_port) const;
  // Throws std::runtime_error when the channels do not listen within timeout.
  u16 start(u32 channels, std::chrono::milliseconds timeout);
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct HttpBenchOptions {
  std::chrono::milliseconds duration{3000};  // per throughput row (the APDU floor before each: half of it)
  std::vector<u32> clients{1, 7};            // concurrent clients per row (1..7)
  u32 gets_per_page = 20;                    // measured GETs per page for the APDU counts
  bool stack = true;                         // also through a private pcscd (needs root)
  bool in_process_throughput = true;
  std::size_t ram_bytes = 0;                 // the card's RAM (a multiple of 16); 0: the build's SCWS_RAM_SIZE
  std::filesystem::path scws;                // the scws executable (`scws card`, `scws bench refcard`)
  std::filesystem::path workdir;             // empty: a fresh temporary directory, removed afterwards
  bool keep_workdir = false;
  bool verbose = false;                      // progress lines on stderr
  std::chrono::milliseconds card_wait{10000};
};

// The bench profile (a card.toml and pages of 100 B, 1 KiB and 16 KiB) written into dir.
// Returns the page paths in that order.
std::vector<std::string> write_bench_profile(const std::filesystem::path& dir);

// The whole benchmark. Call it before the process starts any thread: as root it first enters a
// private mount namespace for its pcscd (pcscd_harness.hpp). Without root (or with options.stack
// false) only the in-process figures are measured and stack_note says why. Throws
// std::runtime_error (with the relevant logs) when something it started fails.
HttpBenchResult run_http_bench(const HttpBenchOptions& options);

}  // namespace scws::sim
