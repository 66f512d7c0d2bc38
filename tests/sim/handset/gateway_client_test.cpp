// Client channels end to end in one process: the real card's toolkit opens a TCP client channel
// (card/cat/client_channel.hpp), the gateway's terminal and TCP client connector connect it to a
// real Asio server on 127.0.0.1, and a test ClientEndpoint on the card moves the bytes. Every wait
// is a bounded poll of the io_context (run_until.hpp), never a sleep.
#include <doctest/doctest.h>

#include <array>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <asio.hpp>

#include "card/cat/client_channel.hpp"
#include "card/cat/toolkit.hpp"
#include "card/os/card.hpp"
#include "card/os/nvm_device.hpp"
#include "scws_config.hpp"
#include "sim/handset/gateway.hpp"
#include "sim/handset/tcp_client_connector.hpp"
#include "sim/host/card_transport.hpp"
#include "tests/sim/handset/run_until.hpp"
#include "tests/sim/handset/test_endpoint.hpp"

namespace scws::sim {
namespace {

using namespace std::chrono_literals;
using asio::ip::tcp;
using test::run_until;

// The card's side: sends `out`, keeps what it receives, records what the toolkit told it.
class Endpoint final : public card::ClientEndpoint {
 public:
  bool open(std::size_t c) noexcept override {
    connection = c;
    opened = true;
    return true;
  }
  std::size_t receive(std::size_t, Bytes data) noexcept override {
    in.insert(in.end(), data.begin(), data.end());
    return data.size();
  }
  std::size_t send(std::size_t, MutableBytes buf) noexcept override {
    const std::size_t n = std::min(buf.size(), out.size() - out_pos);
    std::memcpy(buf.data(), out.data() + out_pos, n);
    out_pos += n;
    return n;
  }
  [[nodiscard]] bool wants_close(std::size_t) const noexcept override { return false; }
  void close(std::size_t) noexcept override { closed = true; }
  void link_failed(std::size_t, card::LinkFailure why) noexcept override { failure = why; }

  std::vector<u8> out;
  std::size_t out_pos = 0;
  std::vector<u8> in;
  std::size_t connection = 99;
  bool opened = false;
  bool closed = false;
  std::optional<card::LinkFailure> failure;
};

// A loopback TCP server: accepts when told (or at once), echoes or stays silent, notes the EOF.
class Server {
 public:
  explicit Server(asio::io_context& io, int backlog = asio::socket_base::max_listen_connections) : acceptor_(io) {
    const tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(ep.protocol());
    acceptor_.bind(ep);
    acceptor_.listen(backlog);
    port = acceptor_.local_endpoint().port();
  }
  void accept() {
    acceptor_.async_accept([this](const std::error_code& ec, tcp::socket s) {
      if (ec) return;
      socket_.emplace(std::move(s));
      ++accepted;
      read();
    });
  }
  void read() {
    socket_->async_read_some(asio::buffer(buf_), [this](const std::error_code& ec, std::size_t n) {
      if (ec) {
        eof = true;
        return;
      }
      received.insert(received.end(), buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(n));
      if (echo) asio::write(*socket_, asio::buffer(buf_.data(), n));
      read();
    });
  }
  void close() {
    std::error_code ec;
    if (socket_) socket_->close(ec);
  }
  u16 port = 0;
  bool echo = true;
  int accepted = 0;
  bool eof = false;
  std::vector<u8> received;

 private:
  tcp::acceptor acceptor_;
  std::optional<tcp::socket> socket_;
  std::array<u8, 4096> buf_{};
};

// The real card (toolkit + one listening server port) and the gateway, in memory.
struct CardRig {
  static constexpr std::size_t kImage = 256 * 1024;
  struct alignas(16) Ram {
    u8 bytes[SCWS_RAM_SIZE];
  };
  explicit CardRig(asio::io_context& io_, const std::function<void(GatewayOptions&)>& tune = {}) : io(io_) {
    REQUIRE(card::Card::format_image(nvm, card::CardIdentity{}).ok());
    card.emplace(nvm, MutableBytes(ram->bytes, sizeof ram->bytes));
    REQUIRE(card->set_toolkit(toolkit));
    REQUIRE(toolkit.add_server_port(3516, 1400, web, 1).ok());
    transport.emplace(*card);
    GatewayOptions o;
    o.port_map[3516] = 0;
    o.poll_interval = 10ms;
    o.linger = 200ms;
    o.log = [this](const std::string& l) { lines.push_back(l); };
    if (tune) tune(o);
    gateway.emplace(io, *transport, o);
    gateway->start();
    run_until(io, [&] { return toolkit.session() == card::SessionState::kReady && !gateway->channels().empty(); }, 10s,
              "the card's session");
  }
  u8 open(Endpoint& e, u16 port, std::array<u8, 4> address = {127, 0, 0, 1}) {
    auto c = toolkit.open_client(card::ClientChannelRequest{address, port, 1400}, e);
    REQUIRE(c.ok());
    toolkit.wake();
    return *c;
  }
  [[nodiscard]] bool logged(std::string_view part) const {
    for (const auto& l : lines)
      if (l.find(part) != std::string::npos) return true;
    return false;
  }
  std::vector<u8> image = std::vector<u8>(kImage);
  card::RamNvmDevice nvm{MutableBytes(image)};
  std::unique_ptr<Ram> ram = std::make_unique<Ram>();
  std::optional<card::Card> card;
  card::CatToolkit toolkit;
  test::TestEndpoint web;
  std::optional<DirectTransport> transport;
  asio::io_context& io;
  std::vector<std::string> lines;
  std::optional<Gateway> gateway;
};

std::vector<u8> pattern(std::size_t n) {
  std::vector<u8> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<u8>(i * 7 + (i >> 8));
  return v;
}

TEST_CASE("connect map parses ADDR:PORT=ADDR:PORT and refuses malformed maps") {
  CHECK(parse_connect_map("127.0.0.1:7443=127.0.0.1:41234") ==
        std::pair<std::string, std::string>{"127.0.0.1:7443", "127.0.0.1:41234"});
  for (const char* bad : {"", "127.0.0.1:7443", "127.0.0.1=127.0.0.1:1", "127.0.0.1:0=127.0.0.1:1",
                          "host:1=127.0.0.1:2", "127.0.0.1:1=127.0.0.1:70000", "::1:1=127.0.0.1:2"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(parse_connect_map(bad), std::invalid_argument);
  }
}

TEST_CASE("a client channel through the connect map echoes 10 KB both ways and closes in order") {
  asio::io_context io;
  Server server(io);
  server.accept();
  // The card asks for 127.0.0.1:7443; the gateway connects to the server's ephemeral port instead.
  CardRig rig(io, [&](GatewayOptions& g) { g.connect_map["127.0.0.1:7443"] = "127.0.0.1:" + std::to_string(server.port); });
  Endpoint e;
  e.out = pattern(10 * 1024);
  const u8 c = rig.open(e, 7443);
  run_until(io, [&] { return e.in.size() >= e.out.size(); }, 30s, "the echo");
  CHECK(e.opened);
  CHECK(e.connection == c);
  CHECK(server.received == e.out);
  CHECK(e.in == e.out);
  CHECK(rig.logged("connecting to 127.0.0.1:" + std::to_string(server.port) + " (client"));
  CHECK(rig.logged(" connected"));
  rig.toolkit.close_client(c);
  rig.toolkit.wake();
  run_until(io, [&] { return e.closed && server.eof; }, 10s, "the close");
  CHECK_FALSE(e.failure.has_value());
  run_until(io, [&] { return rig.toolkit.client_phase(c) == card::ClientPhase::kNone && rig.gateway->channels().size() == 1; },
            5s, "the slot and the listening channel back");
}

TEST_CASE("the server closing its side: the card gets its last bytes, then the endpoint closes") {
  asio::io_context io;
  Server server(io);
  server.echo = true;
  server.accept();
  CardRig rig(io);
  Endpoint e;
  e.out = pattern(300);
  rig.open(e, server.port);
  run_until(io, [&] { return e.in.size() == 300; }, 10s, "the echo");
  server.close();
  run_until(io, [&] { return e.closed; }, 10s, "the endpoint closed");
  CHECK_FALSE(e.failure.has_value());
  CHECK(rig.logged("link dropped"));
}

TEST_CASE("connection refused: the endpoint hears link_failed(kLinkDropped) and the channel is closed") {
  asio::io_context io;
  u16 dead = 0;
  {
    Server gone(io);  // bound and closed again: nobody listens there
    dead = gone.port;
  }
  CardRig rig(io);
  Endpoint e;
  const u8 c = rig.open(e, dead);
  run_until(io, [&] { return e.failure.has_value(); }, 10s, "the failure");
  CHECK(*e.failure == card::LinkFailure::kLinkDropped);
  CHECK_FALSE(e.opened);
  CHECK(rig.logged("connect failed: "));
  run_until(io, [&] { return rig.toolkit.client_phase(c) == card::ClientPhase::kNone && rig.gateway->channels().size() == 1; },
            5s, "the channel closed");
  CHECK(rig.gateway->stats().links_failed == 1);
}

TEST_CASE("a server that accepts and never answers: no data, and closing works") {
  asio::io_context io;
  Server server(io);
  server.echo = false;
  server.accept();
  CardRig rig(io);
  Endpoint e;
  e.out = pattern(100);
  const u8 c = rig.open(e, server.port);
  run_until(io, [&] { return server.received.size() == 100; }, 10s, "the request");
  CHECK(e.opened);
  CHECK(e.in.empty());
  rig.toolkit.close_client(c);
  rig.toolkit.wake();
  run_until(io, [&] { return e.closed && server.eof; }, 10s, "the close");
  CHECK(e.in.empty());
}

TEST_CASE("a server slow to accept: the link is up from the kernel's backlog and the bytes wait") {
  asio::io_context io;
  Server server(io);  // listening, not accepting yet
  CardRig rig(io);
  Endpoint e;
  e.out = pattern(2000);
  rig.open(e, server.port);
  run_until(io, [&] { return e.opened; }, 10s, "the link");
  CHECK(server.accepted == 0);
  server.accept();
  run_until(io, [&] { return e.in.size() >= 2000; }, 10s, "the echo after the accept");
  CHECK(e.in == e.out);
}

TEST_CASE("a server whose backlog is full: the connect times out and the endpoint hears link_failed") {
  asio::io_context io;
  Server server(io, 0);  // never accepts; backlog 0 holds one connection on Linux
  std::vector<std::unique_ptr<tcp::socket>> fillers;
  int filled = 0;
  for (int i = 0; i < 3; ++i) {  // asynchronous: a SYN the full queue drops would block a plain connect
    fillers.push_back(std::make_unique<tcp::socket>(io));
    fillers.back()->async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server.port),
                                  [&filled](const std::error_code& ec) { filled += ec ? 0 : 1; });
  }
  run_until(io, [&] { return filled >= 1; }, 5s, "the backlog filled");
  CardRig rig(io, [](GatewayOptions& g) { g.connect_timeout = 300ms; });
  Endpoint e;
  rig.open(e, server.port);
  run_until(io, [&] { return e.failure.has_value() || e.opened; }, 10s, "the connect's outcome");
  REQUIRE(e.failure.has_value());
  CHECK(*e.failure == card::LinkFailure::kLinkDropped);
  CHECK(rig.logged("connect failed: no answer within 300 ms"));
}

}  // namespace
}  // namespace scws::sim
