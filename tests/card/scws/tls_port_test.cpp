// tls/tls_port: the TLS port as the card powers it up from its settings, admits, times out and
// counts sessions. Driven directly as the toolkit would drive it (StreamEndpoint calls, timer
// expirations), with in-memory mbedTLS clients from the card build (sim/testing/tls_rig.hpp).
#include "card/scws/tls_port.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "card/os/arena.hpp"
#include "card/os/card_context.hpp"
#include "card/scws/scws_settings.hpp"
#include "card/cat/toolkit.hpp"
#include "card/os/transient.hpp"
#include "http/extension.hpp"
#include "tests/tls/tls_test_data.hpp"

using namespace scws;
using namespace scws::tls;
using namespace scws::card;
using namespace scws::tls::test;

namespace {

// The card around the port: NVM with the test credentials (or none), a RAM arena, the context.
struct PortRig {
  sim::tls_rig::CardStore nvm;
  std::vector<u64> ram;
  std::unique_ptr<card::Arena> arena;
  std::unique_ptr<card::TransientMemory> transient;
  LogSink sink;
  card::Tracer tracer;
  card::SecurityEvents events;
  card::CardTime time;
  std::unique_ptr<card::CardContext> ctx;
  sim::ReproducibleEntropy entropy{0x7a11ce5eedULL};
  CardRng rng;
  card::CatToolkit toolkit;
  App inner;
  TlsPort port{rng};

  explicit PortRig(std::size_t ram_bytes, bool credentials = true) : ram((ram_bytes + 7) / 8) {
    tracer.set_sink(&sink);
    set_test_date();
    if (credentials) nvm.put(card_credentials());
    arena = std::make_unique<card::Arena>(MutableBytes(reinterpret_cast<u8*>(ram.data()), ram_bytes));
    transient = std::make_unique<card::TransientMemory>(*arena);
    ctx = std::make_unique<card::CardContext>(nvm.nvm, nvm.store, *arena, *transient, tracer, events, time);
    REQUIRE(rng.seed(sim::host_entropy, &entropy, bytes_of("port")).ok());
    inner.echo = true;
  }

  Status<card::CardError> power_up(const card::ScwsSettings& s) { return port.power_up(*ctx, s, &toolkit, inner, 1400); }
};

card::ScwsSettings tls_settings(u32 ram = 48 * 1024, card::TlsPortMode mode = card::TlsPortMode::kBoth) {
  card::ScwsSettings s;
  s.http_channels = 4;
  s.tls_port = 10443;
  s.tls_channels = 3;
  s.tls_mode = mode;
  s.tls_timeout = 5;
  s.tls_ram = ram;
  return s;
}

// Moves ciphertext between an in-memory client and the port's connection c (RECEIVE DATA and SEND
// DATA pieces) until nothing moves.
void pump(TlsSession& client, TlsPort& port, std::size_t c, Pipe& pipe) { pipe.run(client, PipeEnd(port, c), {}, 400); }

std::string status_json(TlsPort& port, std::size_t c) {
  port.status_snapshot(c);
  char text[800];
  http::TextBuilder b(text);
  port.status_render(c, b);
  REQUIRE(b.ok());
  return std::string(b.view());
}

}  // namespace

TEST_CASE("tls port stays off and takes no RAM when the settings name no TLS port") {
  PortRig rig(64 * 1024);
  REQUIRE(rig.power_up(card::ScwsSettings{}).ok());
  CHECK(rig.port.state() == TlsPort::State::kOff);
  CHECK(rig.arena->in_use() == 0);
  CHECK_FALSE(rig.port.open(0));
  CHECK(status_json(rig.port, 0).empty());  // no "tls" member in /status
}

TEST_CASE("tls port carves its region from the card arena and admits sessions by the mode's budget") {
  PortRig rig(96 * 1024);
  REQUIRE(rig.power_up(tls_settings(48 * 1024)).ok());
  REQUIRE(rig.port.state() == TlsPort::State::kServing);
  CHECK(rig.arena->in_use() >= 48 * 1024);
  REQUIRE(rig.port.allocator() != nullptr);
  const std::size_t idle = rig.port.region_idle();
  CHECK(rig.port.allocator()->in_use() == idle);
  CHECK(rig.port.max_sessions() == std::min<std::size_t>(3, (rig.port.allocator()->usable() - idle) / tls::kCertificateSessionBudget));
  MESSAGE("context idle in the TLS region (certificate + PSK): ", idle, " B");
}

TEST_CASE("tls port fails the card's power-up when the arena cannot hold its region") {
  PortRig rig(32 * 1024);
  const auto s = rig.power_up(tls_settings(40 * 1024));
  REQUIRE_FALSE(s.ok());
  CHECK(s.error() == card::CardError::kNotEnoughMemory);
}

TEST_CASE("tls port without credentials in the image stays off and says why") {
  PortRig rig(96 * 1024, false);
  REQUIRE(rig.power_up(tls_settings()).ok());
  CHECK(rig.port.state() == TlsPort::State::kSetUpFailed);
  CHECK(rig.port.setup_error() == TlsError::kNoCredentials);
  CHECK_FALSE(rig.port.open(0));
  CHECK(status_json(rig.port, 0).find("\"state\":\"set-up-failed\"") != std::string::npos);
}

TEST_CASE("tls port serves a certificate client, counts the handshake and returns the region to idle") {
  PortRig rig(96 * 1024);
  REQUIRE(rig.power_up(tls_settings()).ok());
  const std::size_t idle = rig.port.region_idle();
  Client client(Client::with_cert(pki().client, pki().client_key));
  App client_app;
  client_app.to_send = "GET / HTTP/1.1\r\n\r\n";
  {
    TlsSession c(client.ctx, client_app, 0, rig.tracer);
    REQUIRE(c.start());
    REQUIRE(rig.port.open(2));
    CHECK(rig.toolkit.deadlines().pending(TlsPort::kFirstSlot + 2));
    Pipe pipe;
    pump(c, rig.port, 2, pipe);
    CHECK(c.state() == TlsSession::State::kOpen);
  }
  CHECK(client_app.received == "GET / HTTP/1.1\r\n\r\n");  // the inner endpoint echoed it
  CHECK(rig.port.completed() == 1);
  CHECK(rig.port.sessions() == 1);
  rig.port.close(2);
  CHECK(rig.port.sessions() == 0);
  CHECK_FALSE(rig.toolkit.deadlines().pending(TlsPort::kFirstSlot + 2));  // stopped with the connection
  CHECK(rig.port.allocator()->in_use() == idle);
  CHECK(rig.port.allocator()->check_invariants());
  const std::string json = status_json(rig.port, 4);
  CHECK(json.find("\"completed\":1,") != std::string::npos);
  CHECK(json.find("\"sessions\":0,") != std::string::npos);
  CHECK(json.find("\"bad-certificate\":0") != std::string::npos);
  CHECK(json.find("\"in_use\":" + std::to_string(idle) + ",") != std::string::npos);
}

TEST_CASE("tls port refuses a client beyond the sessions its region admits and counts it") {
  PortRig rig(96 * 1024);
  REQUIRE(rig.power_up(tls_settings(48 * 1024, card::TlsPortMode::kPsk)).ok());
  const std::size_t idle = rig.port.region_idle();
  // Power again with room for the context and one and a half PSK sessions.
  rig.arena->reset();
  const auto region = static_cast<u32>(std::max<std::size_t>(card::ScwsSettings::kMinTlsRam, idle + 64 + tls::kPskSessionBudget * 3 / 2));
  REQUIRE(rig.power_up(tls_settings(region, card::TlsPortMode::kPsk)).ok());
  REQUIRE(rig.port.state() == TlsPort::State::kServing);
  REQUIRE(rig.port.max_sessions() == 1);
  CHECK(rig.port.open(0));
  CHECK_FALSE(rig.port.open(1));
  CHECK(rig.port.refused() == 1);
  CHECK(rig.events.count(rig.port.port(), card::SecurityEventKind::kTlsRefused) == 1);
  rig.port.close(0);
  CHECK(rig.port.open(1));  // room again
  rig.port.close(1);
  CHECK(rig.port.allocator()->in_use() == rig.port.region_idle());
}

TEST_CASE("tls port ends a handshake that stalls when the connection's deadline passes") {
  PortRig rig(96 * 1024);
  REQUIRE(rig.power_up(tls_settings()).ok());
  REQUIRE(rig.port.open(5));
  const u8 half_hello[] = {0x16, 0x03, 0x01, 0x00, 0x80, 0x01, 0x00};  // a record header, then silence
  CHECK(rig.port.receive(5, Bytes(half_hello, sizeof half_hello)) == sizeof half_hello);
  CHECK_FALSE(rig.port.wants_close(5));
  rig.port.deadline_passed(TlsPort::kFirstSlot + 5);
  u8 out[240];
  const std::size_t n = rig.port.send(5, MutableBytes(out, sizeof out));
  CHECK(n == 7);  // an alert record
  CHECK(out[0] == 0x15);
  CHECK(rig.port.wants_close(5));
  CHECK(rig.inner.opened == false);  // HTTP never saw the connection
  rig.port.close(5);
  CHECK(rig.port.failures(TlsFailure::kTimeout) == 1);
  CHECK(rig.port.completed() == 0);
  CHECK(rig.port.allocator()->in_use() == rig.port.region_idle());
}

TEST_CASE("tls port restarts the deadline of a busy session and closes an idle one with close_notify") {
  PortRig rig(96 * 1024);
  REQUIRE(rig.power_up(tls_settings()).ok());
  Client client(Client::with_psk(kPskIdentity));
  App client_app;
  client_app.to_send = "ping";
  TlsSession c(client.ctx, client_app, 0, rig.tracer);
  REQUIRE(c.start());
  REQUIRE(rig.port.open(1));
  Pipe pipe;
  pump(c, rig.port, 1, pipe);
  REQUIRE(client_app.received == "ping");
  // Bytes moved since the timer started: another period, the session stays.
  rig.port.deadline_passed(TlsPort::kFirstSlot + 1);
  CHECK(rig.toolkit.deadlines().pending(TlsPort::kFirstSlot + 1));
  CHECK_FALSE(rig.port.wants_close(1));
  // Nothing moved during that period: close_notify and close.
  rig.port.deadline_passed(TlsPort::kFirstSlot + 1);
  pump(c, rig.port, 1, pipe);
  CHECK(rig.port.wants_close(1));
  CHECK(c.state() != TlsSession::State::kOpen);  // the client saw close_notify
  rig.port.close(1);
  CHECK(rig.port.failures(TlsFailure::kTimeout) == 0);  // an idle close is no attack
  CHECK(rig.port.completed() == 1);
}

TEST_CASE("tls port answers garbage instead of a ClientHello with an alert and keeps serving") {
  PortRig rig(96 * 1024);
  REQUIRE(rig.power_up(tls_settings()).ok());
  REQUIRE(rig.port.open(0));
  const char* garbage = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  rig.port.receive(0, bytes_of(garbage));
  u8 out[240];
  const std::size_t n = rig.port.send(0, MutableBytes(out, sizeof out));
  REQUIRE(n >= 7);
  CHECK(out[0] == 0x15);
  CHECK(rig.port.wants_close(0));
  rig.port.close(0);
  CHECK(rig.port.failures(TlsFailure::kBadRecord) == 1);
  // The failure is the port's event on the card's security-event channel, which /status reads.
  CHECK(rig.events.count(rig.port.port(), card::SecurityEventKind::kTlsBadRecord) == 1);
  CHECK(rig.events.total(card::SecurityEventKind::kTlsBadRecord) == 1);
  // The next client is served.
  Client client(Client::with_psk(kPskIdentity));
  App client_app;
  client_app.to_send = "after garbage";
  TlsSession c(client.ctx, client_app, 0, rig.tracer);
  REQUIRE(c.start());
  REQUIRE(rig.port.open(0));
  Pipe pipe;
  pump(c, rig.port, 0, pipe);
  CHECK(client_app.received == "after garbage");
  rig.port.close(0);
}

TEST_CASE("tls port forgets everything of the previous power-up without touching its RAM") {
  PortRig rig(96 * 1024);
  REQUIRE(rig.power_up(tls_settings()).ok());
  REQUIRE(rig.port.open(3));
  // Power loss: RAM wiped and the arena reset (Card::power_on's order); the port powers up again.
  std::fill(rig.ram.begin(), rig.ram.end(), 0);
  rig.arena->reset();
  REQUIRE(rig.power_up(tls_settings()).ok());
  CHECK(rig.port.state() == TlsPort::State::kServing);
  CHECK(rig.port.sessions() == 0);
  CHECK(rig.port.allocator()->in_use() == rig.port.region_idle());
  CHECK(rig.port.open(3));
  rig.port.close(3);
}
