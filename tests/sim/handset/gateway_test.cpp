// The thin Asio layer: the gateway (CatTerminal on the host's clock) with the TCP server connector and
// real loopback sockets on ephemeral ports, against a scripted card and against the real card. What
// the card sees is the terminal's business (cat_terminal_test.cpp); here: sockets listen, accept,
// carry bytes both ways with backpressure, close in order, and the driver wakes the terminal. Every
// wait is a bounded poll of the io_context (run_until.hpp), never a timing assertion.
#include "sim/handset/gateway.hpp"

#include <doctest/doctest.h>

#include <unistd.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <asio.hpp>

#include "apdu/proactive_command.hpp"
#include "apdu/terminal_response.hpp"
#include "base/hex_text.hpp"
#include "card/cat/toolkit.hpp"
#include "card/os/card.hpp"
#include "card/os/nvm_device.hpp"
#include "scws_config.hpp"
#include "tests/apdu/bytes_util.hpp"
#include "tests/sim/handset/run_until.hpp"
#include "tests/sim/handset/scripted_card.hpp"
#include "tests/sim/handset/test_endpoint.hpp"

namespace scws::sim {
namespace {

namespace cat = apdu::cat;
using namespace std::chrono_literals;
using asio::ip::tcp;
using scws::test::hex;
using test::as_bytes;
using test::run_until;
using test::ScriptedCard;

// A loopback client: blocking connect, non-blocking reads and writes checked in run_until predicates.
struct Client {
  explicit Client(asio::io_context& io) : socket(io) {}
  tcp::socket socket;
  std::vector<u8> received;
  std::size_t sent = 0;
  bool eof = false;
  bool failed = false;

  void connect(u16 port) {
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    socket.non_blocking(true);
  }
  // Writes what the socket takes of data[sent..] and reads what is there.
  void step(Bytes data = {}) {
    std::error_code ec;
    if (sent < data.size()) {
      const std::size_t n = socket.write_some(asio::buffer(data.data() + sent, data.size() - sent), ec);
      if (!ec) sent += n;
    }
    u8 buf[16384];
    while (!eof) {
      const std::size_t n = socket.read_some(asio::buffer(buf), ec);
      if (ec == asio::error::would_block) break;
      if (ec) {
        eof = true;
        failed = ec != asio::error::eof;
        break;
      }
      received.insert(received.end(), buf, buf + n);
    }
  }
  [[nodiscard]] std::string text() const { return std::string(received.begin(), received.end()); }
};

bool can_connect(u16 port) {
  asio::io_context io;
  tcp::socket s(io);
  std::error_code ec;
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
  return !ec;
}

// Gateway + scripted card, the card port 3516 mapped to an ephemeral port, polls every 10 ms.
struct Rig {
  explicit Rig(const std::function<void(GatewayOptions&)>& tune = {}) {
    GatewayOptions o;
    o.port_map[3516] = 0;
    o.poll_interval = 10ms;
    o.linger = 200ms;
    o.log = [this](const std::string& l) { lines.push_back(l); };
    if (tune) tune(o);
    gateway.emplace(io, card, o);
  }
  void start() {
    gateway->start();
    run_until(io, [&] { return gateway->card_session_active(); }, 5s, "the card session");
  }
  // Queues a command and runs until its TERMINAL RESPONSE arrived; returns it (hex).
  std::string command(const cat::ProactiveCommand& c) {
    const std::size_t before = card.responses.size();
    card.queue(c);
    run_until(io, [&] { return card.responses.size() > before; }, 5s, "the terminal response");
    return hex_text(card.responses[before]);
  }
  void subscribe() { command(cat::make_set_up_event_list(1, Bytes(kEvents))); }
  u16 local(u16 card_port = 3516) {
    auto p = gateway->local_port(card_port);
    REQUIRE(p.has_value());
    return *p;
  }
  [[nodiscard]] std::string envelope(std::size_t i) const { return hex_text(card.envelopes.at(i)); }

  static constexpr u8 kEvents[] = {0x09, 0x0A};
  asio::io_context io;
  ScriptedCard card;
  std::vector<std::string> lines;
  std::optional<Gateway> gateway;
};

TEST_CASE("gateway port map parses CARDPORT=LOCALPORT and refuses malformed maps") {
  CHECK(parse_port_map("3516=41234") == std::pair<u16, u16>{3516, 41234});
  CHECK(parse_port_map("10443=0") == std::pair<u16, u16>{10443, 0});
  CHECK_THROWS_AS(parse_port_map("3516"), std::invalid_argument);
  CHECK_THROWS_AS(parse_port_map("0=1"), std::invalid_argument);
  CHECK_THROWS_AS(parse_port_map("3516=70000"), std::invalid_argument);
  CHECK_THROWS_AS(parse_port_map("x=1"), std::invalid_argument);
}

TEST_CASE("gateway relays an HTTP exchange between a loopback client and the card's channel") {
  Rig rig;
  rig.start();
  rig.subscribe();
  CHECK(rig.command(cat::make_open_channel_server(2, 1400, 3516)) == "8103024000820282818301003802410039020578");
  const u16 port = rig.local();
  CHECK(port != 3516);
  Client client(rig.io);
  client.connect(port);
  run_until(rig.io, [&] { return rig.card.envelopes.size() >= 1; }, 5s, "the ESTABLISHED envelope");
  CHECK(rig.envelope(0) == "D60B99010A82028281B8028100");
  const std::string request = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  client.step(as_bytes(request));
  run_until(rig.io, [&] { return rig.card.envelopes.size() >= 2; }, 5s, "the Data available envelope");
  CHECK(rig.envelope(1) == "D60E99010982028281B8028100B70123");
  CHECK(rig.command(cat::make_receive_data(3, 1, 35)) ==
        "810303420082028281830100B623" + hex_text(as_bytes(request)) + "B70100");
  const std::string reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK";
  // Stored, then closed: the bytes the card stored still reach the client before its EOF.
  CHECK(rig.command(cat::make_send_data(4, 1, false, as_bytes(reply))) == "810304430082028281830100B701FF");
  CHECK(rig.command(cat::make_close_channel(5, 1, true)) == "810305410182028281830100");
  run_until(rig.io, [&] { client.step(); return client.eof; }, 5s, "the reply and the EOF");
  CHECK_FALSE(client.failed);
  CHECK(client.text() == reply);
  CHECK(rig.gateway->channels().at(0).state == cat::ServerState::kListen);
}

TEST_CASE("gateway leaves a client in the listen backlog until a channel asks for one") {
  Rig rig;
  rig.start();
  rig.subscribe();
  rig.command(cat::make_open_channel_server(2, 1400, 3516));
  const u16 port = rig.local();
  Client a(rig.io), b(rig.io);
  a.connect(port);
  run_until(rig.io, [&] { return rig.gateway->stats().clients_accepted == 1; }, 5s, "the first client");
  b.connect(port);  // completes in the kernel's backlog
  run_until(rig.io, [&] { return rig.card.envelopes.size() >= 1; }, 5s, "the ESTABLISHED envelope");
  CHECK_FALSE(rig.gateway->accepting(3516));  // no accept outstanding: b cannot be taken
  CHECK(rig.gateway->stats().clients_accepted == 1);
  CHECK(rig.command(cat::make_close_channel(3, 1, true)) == "810303410182028281830100");
  run_until(rig.io, [&] { return rig.gateway->stats().clients_accepted == 2; }, 5s, "the waiting client");
  run_until(rig.io, [&] { a.step(); return a.eof; }, 5s, "the first client's EOF");
}

TEST_CASE("gateway stops listening when CLOSE CHANNEL 00 closes the last channel of a port") {
  Rig rig;
  rig.start();
  rig.subscribe();
  rig.command(cat::make_open_channel_server(2, 1400, 3516));
  rig.command(cat::make_open_channel_server(3, 1400, 3516));
  const u16 port = rig.local();
  CHECK(rig.command(cat::make_close_channel(4, 1, false)) == "810304410082028281830100");
  CHECK(can_connect(port));  // channel 2 still listens
  CHECK(rig.command(cat::make_close_channel(5, 2, false)) == "810305410082028281830100");
  CHECK_FALSE(rig.gateway->local_port(3516).has_value());
  CHECK_FALSE(can_connect(port));
  CHECK(rig.gateway->channels().empty());
}

TEST_CASE("a port another process holds: the card gets 3A 10 and the failure names the holder") {
  asio::io_context other;
  tcp::acceptor squatter(other, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const u16 busy = squatter.local_endpoint().port();
  std::optional<ListenFailure> failure;
  Rig rig([&](GatewayOptions& o) {
    o.port_map[3516] = busy;
    o.on_listen_failure = [&](const ListenFailure& f) { failure = f; };
  });
  rig.start();
  CHECK(rig.command(cat::make_open_channel_server(2, 1400, 3516)) == "81030240008202828183023A103802" "0000");
  run_until(rig.io, [&] { return failure.has_value(); }, 5s, "the listen failure report");
  CHECK(failure->card_port == 3516);
  CHECK(failure->local_port == busy);
  CHECK(failure->error == asio::error::address_in_use);
  const std::string text = describe(*failure);
  CHECK(text.find("cannot listen on 127.0.0.1:" + std::to_string(busy) + " (card port 3516)") == 0);
  // This test process holds the port (the kernel says so in /proc).
  CHECK(text.find("held by process " + std::to_string(::getpid())) != std::string::npos);
}

TEST_CASE("gateway closes every socket on a card reset and listens again on the same ephemeral port") {
  Rig rig;
  rig.start();
  rig.subscribe();
  rig.command(cat::make_open_channel_server(2, 1400, 3516));
  const u16 port = rig.local();
  Client client(rig.io);
  client.connect(port);
  run_until(rig.io, [&] { return rig.card.envelopes.size() >= 1; }, 5s, "the ESTABLISHED envelope");
  rig.card.lose_next = true;
  client.step(as_bytes("x"));  // its Data available envelope meets the reset
  run_until(rig.io, [&] { return rig.card.profiles.size() >= 2; }, 5s, "a second TERMINAL PROFILE");
  run_until(rig.io, [&] { client.step(); return client.eof; }, 5s, "the client to be dropped");
  CHECK_FALSE(can_connect(port));
  rig.subscribe();
  rig.command(cat::make_open_channel_server(3, 1400, 3516));
  CHECK(rig.local() == port);
  CHECK(can_connect(port));
}

TEST_CASE("gateway stop closes its listeners and leaves the io_context without work") {
  Rig rig;
  rig.start();
  rig.subscribe();
  rig.command(cat::make_open_channel_server(2, 1400, 3516));
  const u16 port = rig.local();
  rig.gateway->stop();
  rig.io.restart();
  rig.io.run_for(5s);  // returns as soon as nothing is left to run
  CHECK(rig.io.stopped());
  CHECK_FALSE(can_connect(port));
}

TEST_CASE("the host clock knows the local time zone") {
  const HostClock clock;
  const auto offset = clock.utc_offset(clock.utc_now());
  REQUIRE(offset.has_value());
  CHECK(offset->count() % 15 == 0);  // every zone in use is whole quarters of an hour
}

// --- the real card over real sockets -----------------------------------------------------------------

struct CardRig {
  static constexpr std::size_t kImage = 256 * 1024;
  struct alignas(16) Ram {
    u8 bytes[SCWS_RAM_SIZE];
  };
  explicit CardRig(u8 channels, u16 buffer = 1400) {
    REQUIRE(card::Card::format_image(nvm, card::CardIdentity{}).ok());
    card.emplace(nvm, MutableBytes(ram->bytes, sizeof ram->bytes));
    REQUIRE(card->set_toolkit(toolkit));
    REQUIRE(toolkit.add_server_port(3516, buffer, endpoint, channels).ok());
    transport.emplace(*card);
    GatewayOptions o;
    o.port_map[3516] = 0;
    o.log = [](const std::string&) {};
    gateway.emplace(io, *transport, o);
    gateway->start();
    run_until(io, [&] { return gateway->channels().size() == channels; }, 10s, "the card's channels");
    port = *gateway->local_port(3516);
  }
  std::vector<u8> image = std::vector<u8>(kImage);
  card::RamNvmDevice nvm{MutableBytes(image)};
  std::unique_ptr<Ram> ram = std::make_unique<Ram>();
  std::optional<card::Card> card;
  card::CatToolkit toolkit;
  test::TestEndpoint endpoint;
  std::optional<DirectTransport> transport;
  asio::io_context io;
  std::optional<Gateway> gateway;
  u16 port = 0;
};

TEST_CASE("gateway and the card stream a 256 KiB response through a socket intact") {
  CardRig rig(1);
  const std::string response = test::http_response(256 * 1024);
  rig.endpoint.response = as_bytes(response);
  Client c(rig.io);
  c.connect(rig.port);
  run_until(rig.io, [&] { c.step(as_bytes(test::kGet)); return c.eof; }, 60s, "the whole response");
  CHECK_FALSE(c.failed);
  REQUIRE(c.received.size() == response.size());
  CHECK(c.text() == response);
}

TEST_CASE("gateway and the card echo a 64 KiB upload through a socket and a 512-byte buffer") {
  CardRig rig(1, 512);
  rig.endpoint.echo = true;
  std::vector<u8> upload(64 * 1024);
  for (std::size_t i = 0; i < upload.size(); ++i) upload[i] = static_cast<u8>(i ^ (i >> 8));
  Client c(rig.io);
  c.connect(rig.port);
  std::size_t most = 0;
  run_until(rig.io, [&] {
    c.step(Bytes(upload));
    for (const auto& ch : rig.gateway->channels()) most = std::max(most, ch.rx_bytes);
    return c.received.size() >= upload.size() || c.eof;
  }, 60s, "the echo");
  CHECK(c.received == upload);
  CHECK(most <= 512);
}

TEST_CASE("gateway and the card serve 7 clients at once and an 8th when a channel frees") {
  CardRig rig(7);
  const std::string response = test::http_response(3000);
  rig.endpoint.response = as_bytes(response);
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 8; ++i) {
    clients.push_back(std::make_unique<Client>(rig.io));
    clients.back()->connect(rig.port);
  }
  run_until(rig.io, [&] {
    bool all = true;
    for (auto& c : clients) {
      c->step(as_bytes(test::kGet));
      all = all && c->eof;
    }
    return all;
  }, 30s, "all 8 responses");
  for (auto& c : clients) {
    CHECK_FALSE(c->failed);
    CHECK(c->text() == response);
  }
  CHECK(rig.gateway->stats().clients_accepted == 8);
}

}  // namespace
}  // namespace scws::sim
