// In-memory TLS for tests and benchmarks: a card (RAM NVM holding its credentials, a TLS region of
// a chosen size, a server context) and clients built from the same card mbedTLS, joined by a pipe
// that moves ciphertext in chosen piece sizes, with plaintext endpoints that echo, answer a request
// with a page, or send a request and collect the answer. No sockets, no threads.
//
// Entropy: sim/host/host_entropy.hpp, from the kernel unless a reproducible seed is given (tests).
// Setup failures that are not the point of a test or a benchmark (a full NVM, refused credentials,
// a DRBG that cannot seed) throw std::runtime_error; a server context that does not fit its region
// is an outcome (Card::init_status).
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "apdu/cat.hpp"
#include "card/cat/stream_endpoint.hpp"
#include "card/os/nvm.hpp"
#include "card/os/nvm_device.hpp"
#include "card/os/tracer.hpp"
#include "sim/host/host_entropy.hpp"
#include "tls/card_rng.hpp"
#include "tls/credentials.hpp"
#include "tls/tls_allocator.hpp"
#include "tls/tls_context.hpp"
#include "tls/tls_session.hpp"

namespace scws::sim::tls_rig {

inline Bytes bytes_of(const std::vector<u8>& v) { return Bytes(v.data(), v.size()); }
inline Bytes bytes_of(std::string_view s) { return Bytes(reinterpret_cast<const u8*>(s.data()), s.size()); }

// The card's part of the credentials (DER), stored as the card's NVM objects (tls/credentials.hpp).
struct Psk {
  std::string identity;
  std::vector<u8> key;
};
struct CardCredentials {
  std::vector<u8> ca;            // the issuer CA of client certificates
  std::vector<u8> server_chain;  // the card's certificate (chain)
  std::vector<u8> server_key;
  std::vector<Psk> psks;         // stored in this order
};

// A formatted RAM NVM with its object store.
struct CardStore {
  std::vector<u8> bytes;
  card::RamNvmDevice device;
  card::Nvm nvm;
  card::ObjectStore store;

  explicit CardStore(std::size_t nvm_bytes = 256 * 1024, u32 journal_bytes = 16 * 1024);
  CardStore(const CardStore&) = delete;
  CardStore& operator=(const CardStore&) = delete;
  // Stores the credentials; throws naming the object the card refused.
  void put(const CardCredentials& credentials);
};

// Records trace lines (and prints them on stderr when SCWS_TLS_TRACE is set).
struct LogSink : card::TraceSink {
  std::vector<std::string> lines;
  void line(const char* text) noexcept override;
};

// Where a DRBG's seed comes from: the kernel, or a reproducible sequence (tests).
struct Seed {
  std::optional<u64> reproducible;  // nullopt: host_entropy from the kernel
  std::string personalization;
};

// The card: its store with the credentials, a TLS region of region_bytes, a server context in mode.
struct Card {
  CardStore nvm;
  std::vector<u64> region;  // u64: 8-byte aligned
  std::unique_ptr<tls::TlsAllocator> allocator;
  ReproducibleEntropy entropy;  // the DRBG's source when the seed is reproducible (reseeds too)
  tls::CardRng rng;
  std::unique_ptr<tls::TlsContext> ctx;
  LogSink sink;
  card::Tracer trace;
  Status<tls::TlsError> init_status{};

  Card(const CardCredentials& credentials, std::size_t region_bytes, tls::TlsMode mode, const Seed& seed);
  [[nodiscard]] bool ready() const noexcept { return init_status.ok(); }
};

// A client: its own region, its own context. ok: the context initialised.
struct Client {
  static constexpr std::size_t kDefaultRegion = 64 * 1024;
  std::vector<u64> region;
  tls::TlsAllocator allocator;
  ReproducibleEntropy entropy;
  tls::CardRng rng;
  tls::TlsContext ctx;
  bool ok = false;

  Client(const tls::ClientCredentials& credentials, const Seed& seed, std::size_t region_bytes = kDefaultRegion);
};

// Client credentials (views: the bytes must outlive the Client's construction).
tls::ClientCredentials certificate_client(Bytes ca, Bytes cert, Bytes key);
tls::ClientCredentials psk_client(Bytes identity, Bytes key, int only_suite = 0);

// The plaintext side of one conversation at a time: echoes (a server), sends `to_send` (a client's
// request), answers `answer` once a request's blank line ("\r\n\r\n") arrived (an HTTP server), and
// collects what it receives. open() after a close() starts a new conversation: what was received
// and not yet sent is dropped.
struct App : card::StreamEndpoint {
  bool echo = false;
  std::string to_send;
  std::string answer;             // queued once per conversation, after the request's blank line
  std::string received;
  bool opened = false, closed = false, answered = false;
  bool close_after_answer = false;  // wants_close once its output is out (and it has received)
  std::size_t accept_at_most = static_cast<std::size_t>(-1);  // per receive call (a busy endpoint)

  bool open(std::size_t) noexcept override;
  std::size_t receive(std::size_t, Bytes data) noexcept override;
  std::size_t send(std::size_t, MutableBytes out) noexcept override;
  bool wants_close(std::size_t) const noexcept override;
  void close(std::size_t) noexcept override;
};

// "HTTP/1.1 200 OK" with a body of `body` bytes and Connection: close.
std::string page_response(std::size_t body);

// One end of the pipe: a TlsSession, or connection `connection` of a card-side endpoint (the
// TlsEndpoint or TlsPort the toolkit drives).
class PipeEnd {
 public:
  PipeEnd(tls::TlsSession& session) noexcept : session_(&session) {}  // implicit: a session is an end
  PipeEnd(card::StreamEndpoint& endpoint, std::size_t connection) noexcept : endpoint_(&endpoint), connection_(connection) {}
  std::size_t receive(Bytes ciphertext) noexcept;
  std::size_t send(MutableBytes out) noexcept;

 private:
  tls::TlsSession* session_ = nullptr;
  card::StreamEndpoint* endpoint_ = nullptr;
  std::size_t connection_ = 0;
};

// Moves ciphertext both ways, the way BIP does: each pull takes at most kPull bytes (one SEND DATA,
// TS 102 223 6.4.30), deliveries are cut into pieces of piece(i) bytes (one RECEIVE DATA gives at
// most kDelivery, 6.4.29). Bytes a side did not take wait in the queues for the next run().
struct Pipe {
  static constexpr std::size_t kPull = apdu::cat::kMaxSendDataPayload;
  static constexpr std::size_t kDelivery = apdu::cat::kMaxReceiveDataPayload;
  std::function<std::size_t(std::size_t)> piece = [](std::size_t) { return kDelivery; };
  std::deque<u8> to_server, to_client;
  std::size_t pieces = 0;
  std::size_t bytes_to_server = 0, bytes_to_client = 0;

  // Rounds until nothing moves, done() says so (asked after every round), or max_rounds.
  void run(PipeEnd client, PipeEnd server, const std::function<bool()>& done = {}, int max_rounds = 100000);

 private:
  static bool pull(PipeEnd from, std::deque<u8>& queue, std::size_t& count);
  bool push(PipeEnd to, std::deque<u8>& queue);
};

}  // namespace scws::sim::tls_rig
