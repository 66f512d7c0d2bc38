// The TLS-PSK server (sim/admin/admin_server.hpp) on a loopback port with OpenSSL's client: a full
// session over one keep-alive connection, each of the three suites, an unknown identity refused and
// logged, a request that breaks the protocol answered and the connection closed.
#include <doctest/doctest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "admin_fixtures.hpp"
#include "sim/testing/psk_client.hpp"
#include "sim/admin/admin_server.hpp"
#include "sim/testing/scratch_dir.hpp"
#include "sim/testing/tls_rig.hpp"

using namespace scws::sim::admin;
using namespace scws::sim::admin::testing;

namespace {

const Blob kKey(16, 0x5A);

struct ServerRig {
  scws::sim::ScratchDir dir{"scws-admin-server-test"};
  std::unique_ptr<Store> store = open_store((dir.path() / "admin.sqlite").string());
  asio::io_context io;
  std::mutex mutex;
  std::condition_variable line_added;
  std::vector<std::string> lines;
  std::unique_ptr<AdminServer> server;
  std::thread thread;

  ServerRig() {
    store->enrol(kIccid, kIdentity, kKey);
    AdminServerOptions o;
    o.port = 0;
    o.log = [this](const std::string& l) {
      {
        std::lock_guard lock(mutex);
        lines.push_back(l);
      }
      line_added.notify_all();
    };
    o.idle_timeout = std::chrono::seconds(2);
    server = std::make_unique<AdminServer>(io, *store, o);
    server->start();
    thread = std::thread([this] { io.run(); });
  }
  ~ServerRig() {
    io.stop();
    thread.join();
    server->stop();
  }
  // Waits (at most `bound`) until the server's thread has logged a line containing `part`.
  bool wait_logged(const std::string& part, std::chrono::milliseconds bound) {
    std::unique_lock lock(mutex);
    return line_added.wait_for(lock, bound, [&] { return has_line(part); });
  }

 private:
  bool has_line(const std::string& part) const {
    for (const auto& l : lines)
      if (l.find(part) != std::string::npos) return true;
    return false;
  }
};

}  // namespace

TEST_CASE("a full session over TLS-PSK: report, ACKNOWLEDGE script, responses, 204") {
  ServerRig rig;
  CHECK(rig.server->port() != 0);
  for (const char* suite : {"PSK-AES128-CBC-SHA256", "PSK-AES128-CCM", "PSK-AES128-GCM-SHA256"}) {
    CAPTURE(suite);
    PskClient client("127.0.0.1", rig.server->port(), kIdentity, kKey, suite);
    CHECK(client.cipher() == suite);
    HttpAnswer a = client.request(wire("/scws/admin", std::string(kReportType), report(1, 1)));
    REQUIRE(a.status == 200);
    CHECK(a.header("content-type") == kScriptType);
    CHECK(parse_script(a.body) == std::vector<Blob>{acknowledge_apdu(1)});
    // The same connection carries the responses (keep-alive).
    a = client.request(wire(a.header("x-admin-next-uri"), std::string(kResponseType), build_response_script(1, {{{}, 0x9000}})));
    CHECK(a.status == 204);
    CHECK(a.header("x-admin-protocol") == kProtocol);
  }
  CHECK(rig.store->incidents(kIccid).size() == 1);
  CHECK(rig.store->sessions(kIccid).size() == 3);
  CHECK(rig.server->stats().sessions == 3);
  CHECK(rig.server->stats().incidents_stored == 1);
}

TEST_CASE("an unknown PSK identity fails the handshake, logged with the peer and kept in auth_failures") {
  ServerRig rig;
  bool refused = false;
  std::string why;
  try {
    PskClient client("127.0.0.1", rig.server->port(), "scws-admin:8988211000000000025", kKey);
  } catch (const std::runtime_error& e) {
    refused = true;
    why = e.what();
  }
  CHECK(refused);
  CHECK(why.find("unknown psk identity") != std::string::npos);
  // The server's thread writes the log line (after the row): wait for it, bounded.
  CHECK(rig.wait_logged("unknown PSK identity \"scws-admin:8988211000000000025\" from 127.0.0.1:", std::chrono::seconds(2)));
  CHECK(rig.store->auth_failures().at(0).identity == "scws-admin:8988211000000000025");
  // A wrong key for a known identity fails too.
  CHECK_THROWS_AS(PskClient("127.0.0.1", rig.server->port(), kIdentity, Blob(16, 0x01)), std::runtime_error);
}

TEST_CASE("a request that breaks the protocol is answered with its status, then the connection closes") {
  ServerRig rig;
  PskClient client("127.0.0.1", rig.server->port(), kIdentity, kKey);
  HttpAnswer a = client.request(wire("/scws/admin", std::string(kReportType), report(1, 1), "8988211000000000025"));
  CHECK(a.status == 403);
  CHECK(a.body.find("not the card") != std::string::npos);
  CHECK(client.closed_by_server());
  PskClient second("127.0.0.1", rig.server->port(), kIdentity, kKey);
  a = second.request("GARBAGE\r\n\r\n");
  CHECK(a.status == 400);
  CHECK(second.closed_by_server());
}

TEST_CASE("an idle connection is closed after the idle timeout") {
  ServerRig rig;
  PskClient client("127.0.0.1", rig.server->port(), kIdentity, kKey);
  CHECK(client.closed_by_server(5000));
}

namespace {

// The card's own TLS client (tls::TlsSession on the card's mbedTLS, as sim/testing/tls_rig.hpp
// builds it) over a real socket: pumps ciphertext until `done` or the bound runs out.
struct CardClient {
  scws::sim::tls_rig::Client client;
  scws::sim::tls_rig::App app;
  scws::card::Tracer trace;
  std::unique_ptr<scws::tls::TlsSession> session;
  asio::io_context io;
  asio::ip::tcp::socket socket{io};

  CardClient(std::uint16_t port, int suite)
      : client(scws::sim::tls_rig::psk_client(scws::sim::tls_rig::bytes_of(kIdentity), scws::Bytes(kKey.data(), kKey.size()), suite),
               scws::sim::tls_rig::Seed{}) {
    REQUIRE(client.ok);
    socket.connect({asio::ip::make_address("127.0.0.1"), port});
    session = std::make_unique<scws::tls::TlsSession>(client.ctx, app, 0, trace);
    REQUIRE(session->start());
  }

  // Sends `request` and pumps until a whole answer (head and Content-Length body) arrived.
  std::string exchange(const std::string& request) {
    app.received.clear();
    app.to_send = request;
    for (int round = 0; round < 2000; ++round) {
      scws::u8 buf[4096];
      for (std::size_t n; (n = session->send(scws::MutableBytes(buf, sizeof buf))) > 0;) asio::write(socket, asio::buffer(buf, n));
      const std::size_t end = app.received.find("\r\n\r\n");
      if (end != std::string::npos) {
        const std::size_t cl = app.received.find("Content-Length: ");
        const std::size_t length = cl == std::string::npos || cl > end ? 0 : std::stoul(app.received.substr(cl + 16));
        if (app.received.size() >= end + 4 + length) return app.received;
      }
      std::error_code ec;
      const std::size_t n = socket.read_some(asio::buffer(buf), ec);  // the client waits for the server
      if (ec) break;
      std::size_t at = 0;
      while (at < n) {
        const std::size_t took = session->receive(scws::Bytes(buf + at, n - at));
        if (took == 0) break;
        at += took;
      }
    }
    return app.received;
  }
};

}  // namespace

TEST_CASE("the card's own mbedTLS client (encrypt-then-MAC on CBC) runs a session with each suite") {
  ServerRig rig;
  for (int suite : {0x00AE, 0xC0A4, 0x00A8}) {
    CAPTURE(suite);
    CardClient card(rig.server->port(), suite);
    std::string answer = card.exchange(wire("/scws/admin", std::string(kReportType), report(1, 2)));
    INFO("state " << std::string(scws::tls::TlsSession::state_name(card.session->state())) << ", mbedTLS error " << card.session->mbedtls_error());
    REQUIRE(answer.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(card.session->state() == scws::tls::TlsSession::State::kOpen);
    const std::size_t at = answer.find("X-Admin-Next-URI: ");
    REQUIRE(at != std::string::npos);
    const std::string next = answer.substr(at + 18, answer.find("\r\n", at) - at - 18);
    CHECK(parse_script(answer.substr(answer.find("\r\n\r\n") + 4)) == std::vector<Blob>{acknowledge_apdu(2)});
    answer = card.exchange(wire(next, std::string(kResponseType), build_response_script(1, {{{}, 0x9000}})));
    CHECK(answer.rfind("HTTP/1.1 204 No Content\r\n", 0) == 0);
  }
  CHECK(rig.store->incidents(kIccid).size() == 2);
}
