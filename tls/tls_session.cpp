#include "tls/tls_session.hpp"

#include <cstring>
#include <new>

#include "mbedtls/platform_util.h"
#include "mbedtls/ssl_internal.h"

namespace scws::tls {

namespace {

constexpr int kBioRefused = -0x004C;  // what the bio returns for bytes the framer refused
constexpr std::size_t kWriteChunk = 512;  // plaintext pulled from the inner endpoint per record (stack)
constexpr std::size_t kMaxRecordBody = MBEDTLS_SSL_IN_PAYLOAD_LEN;  // what mbedTLS's input buffer holds
static_assert(kMaxRecordBody >= MBEDTLS_SSL_IN_CONTENT_LEN);

bool is_alloc_error(int e) noexcept {
  return e == MBEDTLS_ERR_SSL_ALLOC_FAILED || e == MBEDTLS_ERR_MPI_ALLOC_FAILED || e == MBEDTLS_ERR_ECP_ALLOC_FAILED ||
         e == MBEDTLS_ERR_X509_ALLOC_FAILED || e == MBEDTLS_ERR_PK_ALLOC_FAILED || e == MBEDTLS_ERR_ASN1_ALLOC_FAILED ||
         e == MBEDTLS_ERR_CIPHER_ALLOC_FAILED || e == MBEDTLS_ERR_MD_ALLOC_FAILED;
}

}  // namespace

const char* TlsSession::state_name(State s) noexcept {
  switch (s) {
    case State::kHandshake: return "Handshake";
    case State::kOpen: return "Open";
    case State::kClosing: return "Closing";
    case State::kClosed: return "Closed";
    case State::kFailed: return "Failed";
  }
  return "?";
}

TlsSession::TlsSession(TlsContext& ctx, card::StreamEndpoint& inner, std::size_t connection, const card::Tracer& trace) noexcept
    : ctx_(ctx),
      inner_(inner),
      trace_(trace),
      in_framer_(kMaxRecordBody),
      connection_(static_cast<u8>(connection)) {
  mbedtls_ssl_init(&ssl_);
}

TlsSession::~TlsSession() {
  TlsAllocator::Scope scope(ctx_.allocator());
  close_inner();
  mbedtls_ssl_free(&ssl_);  // zeroizes the record buffers, plaintext included
}

bool TlsSession::start(const mbedtls_ssl_session* resume) noexcept {
  TlsAllocator::Scope scope(ctx_.allocator());
  failed_allocations_at_start_ = static_cast<u32>(ctx_.allocator().failed_allocations());
  if (!ctx_.ready()) {
    fail_with(TlsFailure::kInternal, 0);
    return false;
  }
  const int r = mbedtls_ssl_setup(&ssl_, &ctx_.config());
  if (r != 0) {
    fail_with(is_alloc_error(r) ? TlsFailure::kArenaExhausted : TlsFailure::kInternal, r);
    return false;
  }
  started_ = true;
  mbedtls_ssl_set_bio(&ssl_, this, bio_send, bio_recv, nullptr);
  if (resume != nullptr && !ctx_.is_server()) (void)mbedtls_ssl_set_session(&ssl_, resume);
  trace_("tls[%u] start (%s)", connection_, ctx_.is_server() ? "server" : "client");
  pump();  // a client sends its ClientHello as soon as there is a window
  return true;
}

void TlsSession::set_state(State next, const char* why) noexcept {
  trace_("tls[%u] %s -> %s (%s)", connection_, state_name(state_), state_name(next), why);
  state_ = next;
}

std::size_t TlsSession::receive(Bytes ciphertext) noexcept {
  switch (state_) {
    case State::kHandshake:
    case State::kOpen:
      break;
    case State::kClosing:
    case State::kClosed:
    case State::kFailed:
      return ciphertext.size();  // nobody listens any more: drop
  }
  TlsAllocator::Scope scope(ctx_.allocator());
  const TlsContext::IoScope io(ctx_, ciphertext, {});
  pump();
  return state_ == State::kFailed ? ciphertext.size() : ctx_.io().in_pos;
}

std::size_t TlsSession::send(MutableBytes out) noexcept {
  if (!started_) return 0;
  TlsAllocator::Scope scope(ctx_.allocator());
  const TlsContext::IoScope io(ctx_, {}, out);
  pump();
  return ctx_.io().out_pos;
}

bool TlsSession::wants_close() const noexcept {
  const bool drained = !started_ || ssl_.out_left == 0;
  switch (state_) {
    case State::kHandshake:
    case State::kOpen:
      return false;
    case State::kClosing:
    case State::kClosed:
    case State::kFailed:
      return drained;
  }
  return true;
}

void TlsSession::timeout() noexcept {
  TlsAllocator::Scope scope(ctx_.allocator());
  switch (state_) {
    case State::kHandshake:
      fail_with(TlsFailure::kTimeout, 0);
      return;
    case State::kOpen:
      (void)mbedtls_ssl_close_notify(&ssl_);  // idle: an orderly close, not an attack
      set_state(State::kClosing, "idle timeout");
      return;
    case State::kClosing:
    case State::kClosed:
    case State::kFailed:
      return;
  }
}

u32 TlsSession::verify_flags() const noexcept {
  if (!started_) return 0;
  const u32 flags = mbedtls_ssl_get_verify_result(&ssl_);
  return flags == 0xFFFFFFFFU ? 0 : flags;  // all ones: no verification took place
}

const char* TlsSession::ciphersuite() const noexcept {
  return started_ ? mbedtls_ssl_get_ciphersuite(&ssl_) : nullptr;
}

bool TlsSession::save_session(mbedtls_ssl_session& into) noexcept {
  if (state_ != State::kOpen || ctx_.is_server()) return false;
  TlsAllocator::Scope scope(ctx_.allocator());
  return mbedtls_ssl_get_session(&ssl_, &into) == 0;
}

// ---- bio ---------------------------------------------------------------------------------------

int TlsSession::bio_recv(void* p, unsigned char* buf, std::size_t len) {
  auto* self = static_cast<TlsSession*>(p);
  TlsContext::IoWindow& io = self->ctx_.io();
  const std::size_t available = io.in.size() - io.in_pos;
  if (available == 0) return MBEDTLS_ERR_SSL_WANT_READ;
  const std::size_t n = len < available ? len : available;
  const Bytes piece = io.in.subspan(io.in_pos, n);
  std::size_t passed = 0;
  while (passed < n) {
    auto step = self->in_framer_.feed(piece.subspan(passed));
    if (!step.ok()) {
      self->framing_failed_ = true;
      self->framing_error_ = step.error();
      return kBioRefused;
    }
    passed += step->consumed;
    if (step->header_done && self->in_framer_.type() == RecordFramer::kHandshake && self->state_ == State::kOpen) {
      self->renegotiation_ = true;  // RFC 5246 7.4.1.2: a ClientHello after the handshake
      return kBioRefused;
    }
  }
  std::memcpy(buf, piece.data(), n);
  io.in_pos += n;
  return static_cast<int>(n);
}

int TlsSession::bio_send(void* p, const unsigned char* buf, std::size_t len) {
  auto* self = static_cast<TlsSession*>(p);
  TlsContext::IoWindow& io = self->ctx_.io();
  const std::size_t room = io.out.size() - io.out_pos;
  if (room == 0) return MBEDTLS_ERR_SSL_WANT_WRITE;
  const std::size_t n = len < room ? len : room;
  std::memcpy(io.out.data() + io.out_pos, buf, n);
  io.out_pos += n;
  return static_cast<int>(n);
}

// ---- the state machine ---------------------------------------------------------------------------

void TlsSession::pump() noexcept {
  if (!started_) return;
  for (int guard = 0; guard < 16; ++guard) {
    const State before = state_;
    switch (state_) {
      case State::kHandshake:
        pump_handshake();
        break;
      case State::kOpen:
        pump_open();
        break;
      case State::kClosing:
        flush();
        if (ssl_.out_left == 0 && state_ == State::kClosing) set_state(State::kClosed, "close_notify sent");
        break;
      case State::kClosed:
      case State::kFailed:
        flush();
        break;
    }
    if (state_ == before) return;
  }
}

void TlsSession::flush() noexcept {
  if (ssl_.out_left == 0) return;
  const int r = mbedtls_ssl_flush_output(&ssl_);
  if (r == 0 || r == MBEDTLS_ERR_SSL_WANT_WRITE) return;
  if (state_ != State::kFailed) fail_with(classify(r), r);
}

void TlsSession::pump_handshake() noexcept {
  int r = 0;
  while (ssl_.state != MBEDTLS_SSL_HANDSHAKE_OVER) {
    r = mbedtls_ssl_handshake_step(&ssl_);
    if (ssl_.handshake != nullptr && ssl_.handshake->resume != 0) resumed_ = true;
    if (r != 0) break;
  }
  if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE) return;
  if (r != 0) {
    fail_with(classify(r), r);
    return;
  }
  if (!inner_.open(connection_)) {
    fail_with(TlsFailure::kArenaExhausted, 0);  // the inner endpoint had no RAM for the connection
    return;
  }
  inner_open_ = true;
  set_state(State::kOpen, resumed_ ? "resumed handshake done" : "full handshake done");
}

void TlsSession::pump_open() noexcept {
  flush();
  if (state_ != State::kOpen) return;
  // Inbound: the plaintext of the current record is handed to the inner endpoint where mbedTLS
  // decrypted it, in its input buffer (read with length 0 decrypts the next record and consumes
  // nothing); what the inner endpoint takes is then consumed. A busy inner endpoint leaves the
  // record there, and mbedTLS reads no further record until it is consumed.
  for (;;) {
    u8 none = 0;
    const int r = mbedtls_ssl_read(&ssl_, &none, 0);
    const std::size_t available = mbedtls_ssl_get_bytes_avail(&ssl_);
    if (r == 0) {
      // Nothing available: empty records were read (RFC 5246 6.2.1 allows them; each took input
      // bytes, so this ends). The bio never reports an end of stream, so 0 means nothing else.
      if (available == 0) continue;
      const std::size_t n = inner_.receive(connection_, Bytes(ssl_.in_offt, available));
      if (n == 0) break;  // the inner endpoint is busy
      consume_plaintext(n < available ? n : available);
      continue;
    }
    if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE) break;
    if (r == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
      (void)mbedtls_ssl_close_notify(&ssl_);
      set_state(State::kClosing, "peer sent close_notify");
      return;
    }
    fail_with(classify(r), r);
    return;
  }
  // Outbound: only into a window, and only when no earlier record waits (mbedtls_ssl_write with
  // output pending would only flush and drop the new bytes).
  const TlsContext::IoWindow& io = ctx_.io();
  while (io.out_pos < io.out.size() && ssl_.out_left == 0) {
    const int max_payload = mbedtls_ssl_get_max_out_record_payload(&ssl_);
    if (max_payload <= 0) break;
    std::size_t chunk_size = static_cast<std::size_t>(max_payload);
    if (chunk_size > kWriteChunk) chunk_size = kWriteChunk;
    u8 chunk[kWriteChunk];
    const std::size_t n = inner_.send(connection_, MutableBytes(chunk, chunk_size));
    if (n == 0) break;
    const int r = mbedtls_ssl_write(&ssl_, chunk, n);
    mbedtls_platform_zeroize(chunk, n);
    if (r == MBEDTLS_ERR_SSL_WANT_WRITE) break;  // the record is queued; flush() sends the rest
    if (r < 0) {
      fail_with(classify(r), r);
      return;
    }
  }
  flush();
  if (state_ != State::kOpen) return;
  if (ssl_.out_left == 0 && mbedtls_ssl_get_bytes_avail(&ssl_) == 0 && inner_.wants_close(connection_)) {
    (void)mbedtls_ssl_close_notify(&ssl_);
    set_state(State::kClosing, "inner endpoint closes");
  }
}

void TlsSession::consume_plaintext(std::size_t n) noexcept {
  // mbedtls_ssl_read is the public way to advance past plaintext (and zeroizes it in the buffer);
  // with a record pending it only copies, into this small sink.
  u8 sink[64];
  while (n > 0) {
    const int r = mbedtls_ssl_read(&ssl_, sink, n < sizeof sink ? n : sizeof sink);
    if (r <= 0) break;  // cannot happen while the record holds n more bytes
    n -= static_cast<std::size_t>(r);
  }
  mbedtls_platform_zeroize(sink, sizeof sink);
}

TlsFailure TlsSession::classify(int e) const noexcept {
  if (e == kBioRefused) {
    if (renegotiation_) return TlsFailure::kRenegotiation;
    if (framing_failed_) return TlsFailure::kBadRecord;
  }
  if (is_alloc_error(e)) return TlsFailure::kArenaExhausted;
  switch (e) {
    case MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE:
      return TlsFailure::kNoClientCertificate;
    case MBEDTLS_ERR_X509_CERT_VERIFY_FAILED:
    case MBEDTLS_ERR_SSL_BAD_HS_CERTIFICATE:
    case MBEDTLS_ERR_SSL_BAD_HS_CERTIFICATE_VERIFY:
    case MBEDTLS_ERR_SSL_PEER_VERIFY_FAILED:
      return TlsFailure::kBadCertificate;
    case MBEDTLS_ERR_SSL_UNKNOWN_IDENTITY:
      return TlsFailure::kUnknownPskIdentity;
    case MBEDTLS_ERR_SSL_INVALID_RECORD:
    case MBEDTLS_ERR_SSL_INVALID_MAC:
    case MBEDTLS_ERR_SSL_UNEXPECTED_RECORD:
    case MBEDTLS_ERR_SSL_BAD_INPUT_DATA:
    case MBEDTLS_ERR_SSL_UNEXPECTED_MESSAGE:
    case MBEDTLS_ERR_SSL_CONN_EOF:
      return TlsFailure::kBadRecord;
    case MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE:
      return TlsFailure::kPeerAlert;
    case MBEDTLS_ERR_SSL_BAD_HS_CLIENT_HELLO:
    case MBEDTLS_ERR_SSL_BAD_HS_SERVER_HELLO:
    case MBEDTLS_ERR_SSL_NO_CIPHER_CHOSEN:
    case MBEDTLS_ERR_SSL_NO_USABLE_CIPHERSUITE:
    case MBEDTLS_ERR_SSL_BAD_HS_PROTOCOL_VERSION:
    case MBEDTLS_ERR_SSL_BAD_HS_CLIENT_KEY_EXCHANGE:
    case MBEDTLS_ERR_SSL_BAD_HS_CLIENT_KEY_EXCHANGE_RP:
    case MBEDTLS_ERR_SSL_BAD_HS_CLIENT_KEY_EXCHANGE_CS:
    case MBEDTLS_ERR_SSL_BAD_HS_SERVER_KEY_EXCHANGE:
    case MBEDTLS_ERR_SSL_BAD_HS_CERTIFICATE_REQUEST:
    case MBEDTLS_ERR_SSL_BAD_HS_SERVER_HELLO_DONE:
    case MBEDTLS_ERR_SSL_BAD_HS_CHANGE_CIPHER_SPEC:
    case MBEDTLS_ERR_SSL_BAD_HS_FINISHED:
    case MBEDTLS_ERR_SSL_BAD_HS_NEW_SESSION_TICKET:
      return TlsFailure::kBadHandshake;
    default:
      return TlsFailure::kInternal;  // mbedTLS error codes are ints, not an enum: default is right here
  }
}

void TlsSession::fail_with(TlsFailure reason, int e) noexcept {
  if (state_ == State::kFailed) return;
  // Exhaustion wins: mbedTLS reports an allocation failure inside chain verification as a bad
  // certificate and one in Finished as a decrypt error (docs/protocol.md section 12.2).
  if (static_cast<u32>(ctx_.allocator().failed_allocations()) != failed_allocations_at_start_) reason = TlsFailure::kArenaExhausted;
  failure_ = reason;
  error_ = e;
  if (started_) {
    // Did mbedTLS already send or queue an alert? Then it is the last record it wrote (it writes
    // nothing after a fatal one), whether or not it left the output buffer yet.
    const bool alerted = ssl_.out_msgtype == MBEDTLS_SSL_MSG_ALERT;
    unsigned char level = MBEDTLS_SSL_ALERT_LEVEL_FATAL;
    unsigned char description = MBEDTLS_SSL_ALERT_MSG_INTERNAL_ERROR;
    bool send = !alerted;
    switch (reason) {
      case TlsFailure::kNone:
      case TlsFailure::kInternal:
      case TlsFailure::kArenaExhausted:
        break;
      case TlsFailure::kNoClientCertificate:
        description = MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE;
        break;
      case TlsFailure::kBadCertificate:
        description = MBEDTLS_SSL_ALERT_MSG_BAD_CERT;
        break;
      case TlsFailure::kUnknownPskIdentity:
        description = MBEDTLS_SSL_ALERT_MSG_UNKNOWN_PSK_IDENTITY;
        break;
      case TlsFailure::kBadRecord:
        description = framing_failed_ && framing_error_ == RecordError::kTooLong ? MBEDTLS_SSL_ALERT_MSG_RECORD_OVERFLOW
                                                                                 : MBEDTLS_SSL_ALERT_MSG_DECODE_ERROR;
        break;
      case TlsFailure::kBadHandshake:
        description = MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE;
        break;
      case TlsFailure::kPeerAlert:
        send = false;  // the peer already ended it (RFC 5246 7.2.2)
        break;
      case TlsFailure::kRenegotiation:
        level = MBEDTLS_SSL_ALERT_LEVEL_WARNING;  // RFC 5246 7.2.2: no_renegotiation is a warning
        description = MBEDTLS_SSL_ALERT_MSG_NO_RENEGOTIATION;
        break;
      case TlsFailure::kTimeout:
        level = MBEDTLS_SSL_ALERT_LEVEL_WARNING;
        description = MBEDTLS_SSL_ALERT_MSG_CLOSE_NOTIFY;
        break;
    }
    if (send) (void)mbedtls_ssl_send_alert_message(&ssl_, level, description);
  }
  char why[64];
  std::snprintf(why, sizeof why, "%s, mbedtls -0x%04X", failure_name(reason), static_cast<unsigned>(-e));
  set_state(State::kFailed, why);
  close_inner();
}

void TlsSession::close_inner() noexcept {
  if (!inner_open_) return;
  inner_open_ = false;
  inner_.close(connection_);
}

// ---- the endpoint ---------------------------------------------------------------------------------

TlsEndpoint::TlsEndpoint(TlsContext& ctx, card::StreamEndpoint& inner, const card::Tracer& trace) noexcept
    : ctx_(ctx), inner_(inner), trace_(trace) {}

TlsEndpoint::~TlsEndpoint() {
  for (std::size_t c = 0; c < kMaxConnections; ++c) close(c);
}

bool TlsEndpoint::open(std::size_t connection) noexcept {
  if (connection >= kMaxConnections) return false;
  close(connection);
  void* memory = ctx_.allocator().allocate(sizeof(TlsSession));
  static_assert(alignof(TlsSession) <= TlsAllocator::kAlignment);
  if (memory == nullptr) {
    ++refused_;
    ++failures_[static_cast<u8>(TlsFailure::kArenaExhausted)];
    last_refusal_ = TlsFailure::kArenaExhausted;
    trace_("tls[%zu] refused: no RAM for a session", connection);
    return false;
  }
  auto* session = new (memory) TlsSession(ctx_, inner_, connection, trace_);
  if (!session->start()) {
    ++refused_;
    ++failures_[static_cast<u8>(session->failure())];
    last_refusal_ = session->failure();
    session->~TlsSession();
    ctx_.allocator().deallocate(memory);
    return false;
  }
  sessions_[connection] = session;
  return true;
}

std::size_t TlsEndpoint::receive(std::size_t connection, Bytes data) noexcept {
  if (connection >= kMaxConnections || sessions_[connection] == nullptr) return data.size();
  return sessions_[connection]->receive(data);
}

std::size_t TlsEndpoint::send(std::size_t connection, MutableBytes out) noexcept {
  if (connection >= kMaxConnections || sessions_[connection] == nullptr) return 0;
  return sessions_[connection]->send(out);
}

bool TlsEndpoint::wants_close(std::size_t connection) const noexcept {
  if (connection >= kMaxConnections || sessions_[connection] == nullptr) return true;
  return sessions_[connection]->wants_close();
}

void TlsEndpoint::timeout(std::size_t connection) noexcept {
  if (connection < kMaxConnections && sessions_[connection] != nullptr) sessions_[connection]->timeout();
}

const TlsSession* TlsEndpoint::session(std::size_t connection) const noexcept {
  return connection < kMaxConnections ? sessions_[connection] : nullptr;
}

void TlsEndpoint::close(std::size_t connection) noexcept {
  if (connection >= kMaxConnections || sessions_[connection] == nullptr) return;
  TlsSession* s = sessions_[connection];
  sessions_[connection] = nullptr;
  if (s->failure() != TlsFailure::kNone) ++failures_[static_cast<u8>(s->failure())];
  if (s->state() == TlsSession::State::kOpen || s->state() == TlsSession::State::kClosing ||
      s->state() == TlsSession::State::kClosed)
    ++completed_;
  s->~TlsSession();
  ctx_.allocator().deallocate(s);
}

}  // namespace scws::tls
