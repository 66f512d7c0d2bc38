// TLS over a BIP channel: TlsSession is one TLS connection (server or client) between a ciphertext
// stream and an inner StreamEndpoint that sees only plaintext; TlsEndpoint is the StreamEndpoint the
// toolkit drives for the TLS port, one TlsSession per connection. HTTP never knows TLS is under it.
//
// I/O (non-blocking, docs/architecture.md, "Card-side rules"): receive() offers ciphertext as it
// arrives (RECEIVE DATA pieces of at most 237 bytes, docs/protocol.md section 6.4); mbedTLS pulls
// exactly the bytes it wants through the bio callback into its own input buffer, which is the record
// accumulator (a record still arriving is "want read", never a copy elsewhere); every byte passes a
// RecordFramer first. send() offers an output window (the toolkit pulls at most 240 bytes, one SEND
// DATA, TS 102 223 6.4.30); mbedTLS flushes pending records into it ("want write" when it is full).
// Decrypted bytes are handed to the inner endpoint where mbedTLS decrypted them, in its input buffer;
// a busy inner endpoint leaves them there, and no further record is read until it takes them.
//
// State machine (one traced transition function, set_state):
//   kHandshake --handshake done--> kOpen --inner wants close / peer close_notify--> kClosing
//   kClosing --close_notify flushed--> kClosed
//   any --error, timeout, renegotiation, exhaustion--> kFailed (alert queued, then wants_close)
// The inner endpoint is opened when the handshake completes (an unauthenticated client never
// reaches HTTP) and closed with the session.
//
// RAM: the session object and everything mbedTLS allocates for it come from the context's
// TlsAllocator; after close() the allocator is back at its idle level.
#pragma once

#include <cstddef>

#include "base/bytes.hpp"
#include "card/cat/stream_endpoint.hpp"
#include "card/os/tracer.hpp"
#include "tls/record_framer.hpp"
#include "tls/tls_context.hpp"
#include "tls/tls_error.hpp"
#include "tls/mbedtls_card_config.h"
#include "mbedtls/ssl.h"

namespace scws::tls {

// Per-session RAM budgets (bytes of a TLS region, x86-64, record buffers IN 2048 / OUT 1024): the
// smallest region one session needs beyond the context, measured by `scws bench tls` with curl and
// openssl as clients (certificate about 10.0 KiB; PSK 6.5 KiB with CCM, 6.8 KiB with CBC-SHA256 and
// its two HMAC contexts, 7.1 KiB with GCM and its multiplication tables), plus room for
// fragmentation when sessions interleave. tests/tls/tls_session_test.cpp checks that each suite's
// session fits its budget; a port admits sessions by these budgets.
inline constexpr std::size_t kCertificateSessionBudget = 12 * 1024;
inline constexpr std::size_t kPskSessionBudget = 7680;  // 7.5 KiB


class TlsSession {
 public:
  enum class State : u8 { kHandshake, kOpen, kClosing, kClosed, kFailed };
  // ctx must be ready(); inner and trace outlive the session. connection is passed to inner.
  TlsSession(TlsContext& ctx, card::StreamEndpoint& inner, std::size_t connection, const card::Tracer& trace) noexcept;
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // Allocates mbedTLS's per-connection state (record buffers: most of a session's RAM). false =
  // the TLS region cannot hold it (failure() == kArenaExhausted, state kFailed, nothing queued).
  // resume (client only): a session from save_session() of an earlier connection, to resume.
  bool start(const mbedtls_ssl_session* resume = nullptr) noexcept;

  std::size_t receive(Bytes ciphertext) noexcept;
  std::size_t send(MutableBytes out) noexcept;
  [[nodiscard]] bool wants_close() const noexcept;
  // The card's timer for this connection expired (a client stalling mid-handshake, an idle one).
  void timeout() noexcept;

  [[nodiscard]] State state() const noexcept { return state_; }
  [[nodiscard]] TlsFailure failure() const noexcept { return failure_; }
  [[nodiscard]] int mbedtls_error() const noexcept { return error_; }        // last mbedTLS error, 0 if none
  [[nodiscard]] u32 verify_flags() const noexcept;  // MBEDTLS_X509_BADCERT_* of the peer, 0 if none
  [[nodiscard]] bool resumed() const noexcept { return resumed_; }
  [[nodiscard]] bool inner_opened() const noexcept { return inner_open_; }
  [[nodiscard]] const char* ciphersuite() const noexcept;
  // Client only, when kOpen: copies the session for a later resumption (tickets). false on no RAM.
  bool save_session(mbedtls_ssl_session& into) noexcept;

  static const char* state_name(State s) noexcept;

 private:
  static int bio_send(void* self, const unsigned char* buf, std::size_t len);
  static int bio_recv(void* self, unsigned char* buf, std::size_t len);

  void set_state(State next, const char* why) noexcept;
  void pump() noexcept;
  void pump_handshake() noexcept;
  void pump_open() noexcept;
  void consume_plaintext(std::size_t n) noexcept;
  void flush() noexcept;
  void fail_with(TlsFailure reason, int mbedtls_error) noexcept;
  TlsFailure classify(int mbedtls_error) const noexcept;
  void close_inner() noexcept;

  // RAM: every byte here is in each session's share of the TLS region (docs/architecture.md, "Figures
  // and targets"), so the plaintext is read in place from mbedTLS's input buffer (no copy held here),
  // the ciphertext windows live in the context (TlsContext::IoWindow) and the flags are bits.
  TlsContext& ctx_;
  card::StreamEndpoint& inner_;
  const card::Tracer& trace_;
  mbedtls_ssl_context ssl_;
  RecordFramer in_framer_;
  int error_ = 0;
  u32 failed_allocations_at_start_ = 0;  // low 32 bits of the allocator's count (only compared)
  u8 connection_;
  State state_ = State::kHandshake;
  TlsFailure failure_ = TlsFailure::kNone;
  RecordError framing_error_ = RecordError::kBadType;
  bool framing_failed_ : 1 = false;
  bool renegotiation_ : 1 = false;
  bool started_ : 1 = false;
  bool resumed_ : 1 = false;
  bool inner_open_ : 1 = false;
};

static_assert(sizeof(TlsSession) <= sizeof(mbedtls_ssl_context) + 80, "a TlsSession is mostly its mbedTLS context");

// The StreamEndpoint for a TLS port: one TlsSession per connection, allocated in open() from the
// context's TlsAllocator and released in close(). Failures are counted per reason for the card's
// attack detection.
class TlsEndpoint final : public card::StreamEndpoint {
 public:
  TlsEndpoint(TlsContext& ctx, card::StreamEndpoint& inner, const card::Tracer& trace) noexcept;
  ~TlsEndpoint() override;

  bool open(std::size_t connection) noexcept override;
  std::size_t receive(std::size_t connection, Bytes data) noexcept override;
  std::size_t send(std::size_t connection, MutableBytes out) noexcept override;
  [[nodiscard]] bool wants_close(std::size_t connection) const noexcept override;
  void close(std::size_t connection) noexcept override;
  // The card's timer for a connection expired.
  void timeout(std::size_t connection) noexcept;

  [[nodiscard]] const TlsSession* session(std::size_t connection) const noexcept;
  // Sessions that ended with this failure since construction (kNone counts refused opens too:
  // see refused()).
  [[nodiscard]] u32 failures(TlsFailure reason) const noexcept { return failures_[static_cast<u8>(reason)]; }
  [[nodiscard]] u32 refused() const noexcept { return refused_; }      // open() without RAM
  // Why the last refused open() was refused (kArenaExhausted, or the session's start failure).
  [[nodiscard]] TlsFailure last_refusal() const noexcept { return last_refusal_; }
  [[nodiscard]] u32 completed() const noexcept { return completed_; }  // handshakes that reached kOpen

 private:
  static constexpr std::size_t kReasons = static_cast<std::size_t>(TlsFailure::kInternal) + 1;
  TlsContext& ctx_;
  card::StreamEndpoint& inner_;
  const card::Tracer& trace_;
  TlsSession* sessions_[kMaxConnections] = {};
  u32 failures_[kReasons] = {};
  u32 refused_ = 0;
  u32 completed_ = 0;
  TlsFailure last_refusal_ = TlsFailure::kNone;
};

}  // namespace scws::tls
