#include "tls/tls_session.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <cstdio>

#include "tests/tls/tls_test_data.hpp"
#include "mbedtls/x509.h"

using namespace scws;
using namespace scws::tls;
using namespace scws::tls::test;

namespace {

constexpr std::size_t kBigRegion = 48 * 1024;
constexpr std::size_t kConnection = 3;

struct Run {
  TlsSession::State client_state, server_state;
  TlsFailure client_failure, server_failure;
  std::string client_got, server_got;
  bool server_inner_opened;
  bool resumed;
  u32 verify_flags;
  std::string suite;
  std::size_t server_peak;  // TLS region high water during the run
  u64 server_allocations;
  bool idle_after;          // region back at the context's idle level after the session
  std::string alert_to_client;  // first bytes the server sent after the client's last flight
};

// One full connection: handshake, the client sends `request`, the server echoes it.
Run connect_with(Card& card, Client& client, const char* request = "GET / HTTP/1.1\r\n\r\n",
                 std::function<std::size_t(std::size_t)> piece = {}, mbedtls_ssl_session* resume = nullptr,
                 mbedtls_ssl_session* save = nullptr) {
  REQUIRE(client.ok);
  App client_app, server_app;
  client_app.to_send = request;
  server_app.echo = true;
  const std::size_t idle = card.allocator->in_use();
  const u64 allocs_before = card.allocator->allocations();
  card.allocator->reset_high_water();
  Run run{};
  {
    TlsSession client_session(client.ctx, client_app, 0, card.trace);
    TlsSession server(*card.ctx, server_app, kConnection, card.trace);
    REQUIRE(client_session.start(resume));
    if (server.start()) {
      Pipe pipe;
      if (piece) pipe.piece = piece;
      pipe.run(client_session, server);
    }
    run.client_state = client_session.state();
    run.server_state = server.state();
    run.client_failure = client_session.failure();
    run.server_failure = server.failure();
    run.client_got = client_app.received;
    run.server_got = server_app.received;
    run.server_inner_opened = server_app.opened;
    run.resumed = server.resumed();
    run.verify_flags = server.verify_flags();
    run.suite = server.ciphersuite() != nullptr ? server.ciphersuite() : "";
    if (save != nullptr) REQUIRE(client_session.save_session(*save));
  }
  run.server_peak = card.allocator->high_water() - idle;
  run.server_allocations = card.allocator->allocations() - allocs_before;
  run.idle_after = card.allocator->in_use() == idle && card.allocator->check_invariants();
  return run;
}

Run connect(Card& card, const ClientCredentials& creds, const char* request = "GET / HTTP/1.1\r\n\r\n",
            std::function<std::size_t(std::size_t)> piece = {}) {
  Client client(creds);
  return connect_with(card, client, request, std::move(piece));
}

}  // namespace

TEST_CASE("tls server completes ECDHE-ECDSA with a client certificate from the issuer CA and echoes") {
  Card card(kBigRegion);
  REQUIRE(card.init_status.ok());
  const Run r = connect(card, Client::with_cert(pki().client, pki().client_key));
  CHECK(r.server_state == TlsSession::State::kOpen);
  CHECK(r.client_state == TlsSession::State::kOpen);
  CHECK(r.server_failure == TlsFailure::kNone);
  CHECK(r.suite == "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256");
  CHECK(r.server_got == "GET / HTTP/1.1\r\n\r\n");
  CHECK(r.client_got == "GET / HTTP/1.1\r\n\r\n");
  CHECK(r.idle_after);
  MESSAGE("ECDHE-ECDSA + client cert: session peak ", r.server_peak, " B, ", r.server_allocations, " allocations");
  CHECK(r.server_peak + TlsAllocator::block_size_for(sizeof(TlsSession)) < kCertificateSessionBudget);
  // A figure, not a limit: client and server in this process, both card builds.
  const auto t0 = std::chrono::steady_clock::now();
  constexpr int kRounds = 10;
  for (int i = 0; i < kRounds; ++i) CHECK(connect(card, Client::with_cert(pki().client, pki().client_key)).server_state == TlsSession::State::kOpen);
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
  MESSAGE("full ECDHE-ECDSA handshake + echo, client and server in-process: ", us / kRounds, " us each");
}

TEST_CASE("tls server refuses a client without a certificate with an alert and never opens HTTP") {
  Card card(kBigRegion, TlsMode::kCertificate);
  ClientCredentials creds;
  creds.ca_der = bytes_of(pki().ca);
  const Run r = connect(card, creds);
  CHECK(r.server_state == TlsSession::State::kFailed);
  CHECK(r.server_failure == TlsFailure::kNoClientCertificate);
  CHECK(r.client_failure == TlsFailure::kPeerAlert);  // the client got the alert
  CHECK_FALSE(r.server_inner_opened);
  CHECK(r.server_got.empty());
  CHECK(r.idle_after);
}

TEST_CASE("tls server refuses a client certificate from another CA as a bad certificate") {
  Card card(kBigRegion);
  const Run r = connect(card, Client::with_cert(pki().other_client, pki().other_client_key));
  CHECK(r.server_failure == TlsFailure::kBadCertificate);
  CHECK((r.verify_flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED) != 0);
  CHECK(r.client_failure == TlsFailure::kPeerAlert);
  CHECK_FALSE(r.server_inner_opened);
  CHECK(r.idle_after);
}

TEST_CASE("tls server refuses an expired client certificate by the card clock") {
  Card card(kBigRegion);
  const Run r = connect(card, Client::with_cert(pki().expired, pki().expired_key));
  CHECK(r.server_failure == TlsFailure::kBadCertificate);
  CHECK((r.verify_flags & MBEDTLS_X509_BADCERT_EXPIRED) != 0);
  CHECK_FALSE(r.server_inner_opened);
  CHECK(r.idle_after);
  // The same certificate was fine while the card believed it was 2020.
  CardClock::set(CardClock::from_date(2020, 6, 1));
  Card card2020(kBigRegion);
  CardClock::set(CardClock::from_date(2020, 6, 1));  // Card() sets 2025: set again
  const Run r2020 = connect(card2020, Client::with_cert(pki().expired, pki().expired_key));
  CHECK((r2020.verify_flags & MBEDTLS_X509_BADCERT_EXPIRED) == 0);
}

TEST_CASE("tls server completes each PSK suite with an identity from the card's table") {
  Card card(kBigRegion);
  struct Row {
    int suite;
    const char* name;
  };
  const Row rows[] = {
      {0, "TLS-PSK-WITH-AES-128-CCM"},  // the server's first choice among the client's offer
      {MBEDTLS_TLS_PSK_WITH_AES_128_GCM_SHA256, "TLS-PSK-WITH-AES-128-GCM-SHA256"},
      {MBEDTLS_TLS_PSK_WITH_AES_128_CBC_SHA256, "TLS-PSK-WITH-AES-128-CBC-SHA256"},  // RFC 5487
  };
  for (const Row& row : rows) {
    const std::string name = row.name;
    CAPTURE(name);
    const Run r = connect(card, Client::with_psk(kPskIdentity, row.suite));
    CHECK(r.server_state == TlsSession::State::kOpen);
    CHECK(r.suite == row.name);
    CHECK(r.client_got == "GET / HTTP/1.1\r\n\r\n");
    CHECK(r.idle_after);
    MESSAGE(name, ": session peak ", r.server_peak, " B, ", r.server_allocations, " allocations");
    // The port admits PSK sessions by this budget: every PSK suite's session must fit it (the session
    // object lives in the region on the card; here it is on the stack).
    CHECK(r.server_peak + TlsAllocator::block_size_for(sizeof(TlsSession)) < kPskSessionBudget);
  }
}

TEST_CASE("tls server refuses an unknown PSK identity with unknown_psk_identity") {
  Card card(kBigRegion);
  const Run r = connect(card, Client::with_psk("stranger"));
  CHECK(r.server_failure == TlsFailure::kUnknownPskIdentity);
  CHECK(r.client_failure == TlsFailure::kPeerAlert);
  CHECK_FALSE(r.server_inner_opened);
  CHECK(r.idle_after);
}

TEST_CASE("tls session completes when every record arrives in 1-byte pieces") {
  Card card(kBigRegion);
  const Run cert = connect(card, Client::with_cert(pki().client, pki().client_key), "ping", [](std::size_t) { return std::size_t{1}; });
  CHECK(cert.server_state == TlsSession::State::kOpen);
  CHECK(cert.client_got == "ping");
  const Run psk = connect(card, Client::with_psk(kPskIdentity), "ping", [](std::size_t i) { return i % 7 + 1; });
  CHECK(psk.client_got == "ping");
  CHECK(psk.idle_after);
}

TEST_CASE("tls session hands plaintext to a slow inner endpoint in order, holding the rest where mbedTLS decrypted it") {
  Card card(kBigRegion);
  const std::size_t idle = card.allocator->in_use();
  Client client(Client::with_psk(kPskIdentity));
  REQUIRE(client.ok);
  std::string request;
  for (int i = 0; i < 3000; ++i) request += static_cast<char>('a' + i % 26);  // several records
  App client_app, server_app;
  client_app.to_send = request;
  server_app.echo = true;
  server_app.accept_at_most = 0;  // busy: takes nothing
  {
    TlsSession c(client.ctx, client_app, 0, card.trace);
    TlsSession s(*card.ctx, server_app, 1, card.trace);
    REQUIRE(c.start());
    REQUIRE(s.start());
    Pipe pipe;
    pipe.run(c, s);
    CHECK(s.state() == TlsSession::State::kOpen);
    CHECK(server_app.received.empty());
    CHECK_FALSE(pipe.to_server.empty());  // one record waits decrypted; the rest stays with the sender
    server_app.accept_at_most = 7;        // slow: 7 bytes per call
    pipe.run(c, s);
    CHECK(server_app.received == request);
    CHECK(client_app.received == request);
    CHECK(s.state() == TlsSession::State::kOpen);
  }
  CHECK(card.allocator->in_use() == idle);
}

namespace {
// A bare mbedTLS client on the test client's context, for records TlsSession never writes.
struct RawClient {
  Client& client;
  mbedtls_ssl_context ssl;
  std::deque<u8> to_server, to_client;
  explicit RawClient(Client& c) : client(c) {
    TlsAllocator::Scope scope(client.allocator);
    mbedtls_ssl_init(&ssl);
    REQUIRE(mbedtls_ssl_setup(&ssl, &client.ctx.config()) == 0);
    mbedtls_ssl_set_bio(&ssl, this, send_cb, recv_cb, nullptr);
  }
  ~RawClient() {
    TlsAllocator::Scope scope(client.allocator);
    mbedtls_ssl_free(&ssl);
  }
  static int send_cb(void* p, const unsigned char* buf, std::size_t len) {
    auto* self = static_cast<RawClient*>(p);
    self->to_server.insert(self->to_server.end(), buf, buf + len);
    return static_cast<int>(len);
  }
  static int recv_cb(void* p, unsigned char* buf, std::size_t len) {
    auto* self = static_cast<RawClient*>(p);
    if (self->to_client.empty()) return MBEDTLS_ERR_SSL_WANT_READ;
    const std::size_t n = std::min(len, self->to_client.size());
    std::copy_n(self->to_client.begin(), n, buf);
    self->to_client.erase(self->to_client.begin(), self->to_client.begin() + static_cast<std::ptrdiff_t>(n));
    return static_cast<int>(n);
  }
  // Moves bytes both ways until neither side moves.
  void exchange(TlsSession& server) {
    for (int round = 0; round < 1000; ++round) {
      bool moved = false;
      {
        TlsAllocator::Scope scope(client.allocator);
        if (ssl.state != MBEDTLS_SSL_HANDSHAKE_OVER) (void)mbedtls_ssl_handshake(&ssl);
      }
      while (!to_server.empty()) {
        const std::size_t n = std::min<std::size_t>(237, to_server.size());
        std::vector<u8> piece(to_server.begin(), to_server.begin() + static_cast<std::ptrdiff_t>(n));
        const std::size_t took = server.receive(Bytes(piece.data(), n));
        to_server.erase(to_server.begin(), to_server.begin() + static_cast<std::ptrdiff_t>(took));
        moved |= took > 0;
        if (took < n) break;
      }
      u8 buf[240];
      for (std::size_t n; (n = server.send(MutableBytes(buf, sizeof buf))) > 0; moved = true) to_client.insert(to_client.end(), buf, buf + n);
      if (!moved) return;
    }
  }
};
}  // namespace

TEST_CASE("tls session skips empty application records and keeps the connection open") {
  Card card(kBigRegion);
  Client client(Client::with_psk(kPskIdentity));
  REQUIRE(client.ok);
  App server_app;
  TlsSession server(*card.ctx, server_app, 1, card.trace);
  REQUIRE(server.start());
  RawClient raw(client);
  raw.exchange(server);
  REQUIRE(raw.ssl.state == MBEDTLS_SSL_HANDSHAKE_OVER);
  REQUIRE(server.state() == TlsSession::State::kOpen);
  {
    TlsAllocator::Scope scope(client.allocator);
    const unsigned char ping[] = {'p', 'i', 'n', 'g'};
    CHECK(mbedtls_ssl_write(&raw.ssl, ping, 0) == 0);  // RFC 5246 6.2.1: zero-length fragments
    CHECK(mbedtls_ssl_write(&raw.ssl, ping, 0) == 0);  // may be sent
    CHECK(mbedtls_ssl_write(&raw.ssl, ping, sizeof ping) == 4);
  }
  raw.exchange(server);
  CHECK(server_app.received == "ping");
  CHECK(server.state() == TlsSession::State::kOpen);
}

TEST_CASE("tls server resumes a session from its ticket without a certificate exchange") {
  Card card(kBigRegion);
  Client client(Client::with_cert(pki().client, pki().client_key));
  mbedtls_ssl_session saved;
  mbedtls_ssl_session_init(&saved);
  const Run first = connect_with(card, client, "a", {}, nullptr, &saved);
  REQUIRE(first.server_state == TlsSession::State::kOpen);
  CHECK_FALSE(first.resumed);
  const Run again = connect_with(card, client, "b", {}, &saved);
  CHECK(again.server_state == TlsSession::State::kOpen);
  CHECK(again.resumed);
  CHECK(again.client_got == "b");
  CHECK(again.idle_after);
  CHECK(again.server_allocations < first.server_allocations / 10);  // no ECDHE, no ECDSA
  MESSAGE("resumed handshake: session peak ", again.server_peak, " B, ", again.server_allocations, " allocations");
  TlsAllocator::Scope scope(client.allocator);
  mbedtls_ssl_session_free(&saved);
}

TEST_CASE("tls server answers garbage instead of a ClientHello with an alert and a close") {
  Card card(kBigRegion);
  App app;
  const std::size_t idle = card.allocator->in_use();
  {
    TlsSession server(*card.ctx, app, 0, card.trace);
    REQUIRE(server.start());
    const char* garbage = "GET / HTTP/1.1\r\nHost: card\r\n\r\n";
    CHECK(server.receive(bytes_of(garbage)) == std::strlen(garbage));
    CHECK(server.state() == TlsSession::State::kFailed);
    CHECK(server.failure() == TlsFailure::kBadRecord);
    u8 out[240];
    const std::size_t n = server.send(MutableBytes(out, sizeof out));
    REQUIRE(n == 7);  // one alert record: 15 03 03 00 02 <level> <description>
    CHECK(out[0] == 0x15);
    CHECK(out[5] == MBEDTLS_SSL_ALERT_LEVEL_FATAL);
    CHECK(out[6] == MBEDTLS_SSL_ALERT_MSG_DECODE_ERROR);
    CHECK(server.wants_close());
    CHECK_FALSE(app.opened);
  }
  CHECK(card.allocator->in_use() == idle);
}

TEST_CASE("tls server answers a record longer than its input buffer with record_overflow") {
  Card card(kBigRegion);
  App app;
  TlsSession server(*card.ctx, app, 0, card.trace);
  REQUIRE(server.start());
  const u8 header[] = {0x16, 0x03, 0x01, 0x40, 0x00};  // handshake record of 16384 bytes
  server.receive(Bytes(header, sizeof header));
  CHECK(server.failure() == TlsFailure::kBadRecord);
  u8 out[240];
  REQUIRE(server.send(MutableBytes(out, sizeof out)) == 7);
  CHECK(out[6] == MBEDTLS_SSL_ALERT_MSG_RECORD_OVERFLOW);
}

TEST_CASE("tls server refuses renegotiation after the handshake") {
  Card card(kBigRegion);
  Client client(Client::with_psk(kPskIdentity));
  App client_app, server_app;
  TlsSession c(client.ctx, client_app, 0, card.trace);
  TlsSession s(*card.ctx, server_app, 1, card.trace);
  REQUIRE(c.start());
  REQUIRE(s.start());
  Pipe pipe;
  pipe.run(c, s);
  REQUIRE(s.state() == TlsSession::State::kOpen);
  const u8 hello_header[] = {0x16, 0x03, 0x03, 0x00, 0x40};  // a handshake record after the handshake
  s.receive(Bytes(hello_header, sizeof hello_header));
  CHECK(s.failure() == TlsFailure::kRenegotiation);
  u8 out[240];
  CHECK(s.send(MutableBytes(out, sizeof out)) > 0);  // the (encrypted) no_renegotiation alert
  CHECK(s.wants_close());
  CHECK(server_app.closed);
}

TEST_CASE("tls server fails a handshake that stalls when the card timer fires") {
  Card card(kBigRegion);
  Client client(Client::with_cert(pki().client, pki().client_key));
  App client_app, server_app;
  TlsSession c(client.ctx, client_app, 0, card.trace);
  TlsSession s(*card.ctx, server_app, 1, card.trace);
  REQUIRE(c.start());
  REQUIRE(s.start());
  u8 buf[240];
  const std::size_t n = c.send(MutableBytes(buf, sizeof buf));  // first piece of the ClientHello only
  REQUIRE(n > 10);
  s.receive(Bytes(buf, 10));
  s.timeout();
  CHECK(s.failure() == TlsFailure::kTimeout);
  CHECK_FALSE(s.wants_close());  // not before its alert is out
  CHECK(s.send(MutableBytes(buf, sizeof buf)) == 7);
  CHECK(buf[0] == 0x15);
  CHECK(s.wants_close());
}

TEST_CASE("tls server reports arena exhaustion as such, not as a bad certificate") {
  // Regions from "the context barely fits" to "the handshake barely fails": whatever runs out,
  // the reason is kArenaExhausted, and the region returns to idle.
  std::size_t exhausted = 0;
  for (std::size_t size = 4000; size <= 13000; size += 250) {
    CAPTURE(size);
    Card card(size, TlsMode::kCertificate);
    if (!card.init_status.ok()) {
      CHECK(card.init_status.error() == TlsError::kNoMemory);
      continue;
    }
    const Run r = connect(card, Client::with_cert(pki().client, pki().client_key));
    if (r.server_state == TlsSession::State::kOpen) continue;
    CHECK(r.server_failure == TlsFailure::kArenaExhausted);
    CHECK(r.idle_after);
    ++exhausted;
  }
  CHECK(exhausted > 10);
}

TEST_CASE("tls endpoint serves connections within its region and refuses the ones that do not fit") {
  std::size_t idle = 0, per_open = 0;
  {
    Card probe(kBigRegion);
    App inner;
    TlsEndpoint endpoint(*probe.ctx, inner, probe.trace);
    idle = probe.allocator->in_use();
    REQUIRE(endpoint.open(0));
    per_open = probe.allocator->in_use() - idle;
  }
  // Room for exactly three freshly opened sessions.
  Card card(idle + 3 * per_open + per_open / 2 + 64);
  App inner;
  TlsEndpoint endpoint(*card.ctx, inner, card.trace);
  std::size_t opened = 0;
  for (std::size_t c = 0; c < card::StreamEndpoint::kMaxConnections; ++c) opened += endpoint.open(c) ? 1 : 0;
  MESSAGE("an opened session takes ", per_open, " B before its handshake");
  CHECK(opened == 3);
  CHECK(endpoint.refused() == card::StreamEndpoint::kMaxConnections - 3);
  CHECK(endpoint.failures(TlsFailure::kArenaExhausted) == card::StreamEndpoint::kMaxConnections - 3);
  CHECK(endpoint.wants_close(card::StreamEndpoint::kMaxConnections - 1));  // refused: nothing there
  CHECK_FALSE(endpoint.wants_close(0));
  for (std::size_t c = 0; c < card::StreamEndpoint::kMaxConnections; ++c) endpoint.close(c);
  CHECK(card.allocator->in_use() == card.ctx->idle_in_use());
  CHECK(endpoint.open(5));  // room again
  endpoint.close(5);
}

TEST_CASE("tls endpoint carries a full connection for the inner endpoint") {
  Card card(kBigRegion);
  App inner;
  inner.echo = true;
  TlsEndpoint endpoint(*card.ctx, inner, card.trace);
  Client client(Client::with_psk(kPskIdentity));
  App client_app;
  client_app.to_send = "hello over BIP";
  TlsSession c(client.ctx, client_app, 0, card.trace);
  REQUIRE(c.start());
  REQUIRE(endpoint.open(2));
  Pipe pipe;
  pipe.run(c, PipeEnd(endpoint, 2), {}, 200);
  CHECK(client_app.received == "hello over BIP");
  CHECK(inner.opened);
  endpoint.close(2);
  CHECK(endpoint.completed() == 1);
  CHECK(inner.closed);
  CHECK(card.allocator->in_use() == card.ctx->idle_in_use());
}

namespace {

// Smallest region (8-byte steps) with which `rounds` connections in a row succeed; 0 if none <= hi.
template <class Make>
std::size_t smallest_region(TlsMode mode, Make make_creds, int rounds, std::size_t lo, std::size_t hi, std::size_t& idle) {
  auto works = [&](std::size_t size) {
    Card card(size, mode);
    if (!card.init_status.ok()) return false;
    for (int i = 0; i < rounds; ++i) {
      const Run r = connect(card, make_creds(), "GET /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
      if (r.server_state != TlsSession::State::kOpen || !r.idle_after) return false;
    }
    idle = card.ctx->idle_in_use();
    return true;
  };
  if (!works(hi)) return 0;
  while (hi - lo > 8) {
    const std::size_t mid = (lo + hi) / 2 / 8 * 8;
    if (works(mid)) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  std::size_t dummy;
  (void)dummy;
  works(hi);  // leaves idle for the smallest working size
  return hi;
}

}  // namespace

TEST_CASE("tls smallest region for one session is within the targets of docs/architecture.md") {
  std::size_t idle_cert = 0, idle_psk = 0;
  const std::size_t cert = smallest_region(
      TlsMode::kCertificate, [] { return Client::with_cert(pki().client, pki().client_key); }, 3, 2048, 40000, idle_cert);
  const std::size_t psk = smallest_region(TlsMode::kPsk, [] { return Client::with_psk(kPskIdentity); }, 3, 1024, 40000, idle_psk);
  std::printf("tls figures (x86-64, IN %d / OUT %d): smallest region ECDHE-ECDSA+client cert %zu B "
              "(context idle %zu B, session %zu B); PSK %zu B (context idle %zu B, session %zu B); "
              "TlsSession object %zu B\n",
              MBEDTLS_SSL_IN_CONTENT_LEN, MBEDTLS_SSL_OUT_CONTENT_LEN, cert, idle_cert, cert - idle_cert, psk, idle_psk,
              psk - idle_psk, sizeof(TlsSession));
  REQUIRE(cert > 0);
  REQUIRE(psk > 0);
  // Targets on x86-64 (docs/architecture.md, "Figures and targets"): 12 KiB (certificate) and 6.5 KiB (PSK, the CCM suite the card
  // prefers) for the session, counting the TlsSession object the card keeps in the region too
  // (here it is on the stack).
  const std::size_t object = TlsAllocator::block_size_for(sizeof(TlsSession));
  CHECK(cert - idle_cert + object <= 12 * 1024);
  CHECK(psk - idle_psk + object <= 6656);
}
