// The gateway against the real card OS and CAT toolkit (card::Card + card::CatToolkit) through
// DirectTransport, with real loopback clients: the whole BIP relay of protocol-notes 1.13 end to end,
// without pcscd. The byte-stream layer on the card is a small test endpoint (canned HTTP response or
// echo) so these tests do not depend on the SCWS applet.
#include <doctest/doctest.h>

#include <array>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <asio.hpp>

#include "card/os/card.hpp"
#include "card/os/nvm_device.hpp"
#include "card/cat/stream_endpoint.hpp"
#include "card/cat/toolkit.hpp"
#include "scws_config.hpp"
#include "sim/host/card_transport.hpp"
#include "sim/handset/gateway.hpp"
#include "tests/sim/handset/run_until.hpp"

namespace scws::sim {
namespace {

using namespace std::chrono_literals;
using asio::ip::tcp;

// Canned mode: answers each request head (up to "\r\n\r\n") with `response`, then wants the
// connection closed. Echo mode: sends back every byte it receives, through a small ring.
class TestEndpoint final : public card::StreamEndpoint {
 public:
  static constexpr std::size_t kRing = 512;
  struct Conn {
    bool open = false;
    u32 head_match = 0;  // how much of "\r\n\r\n" was just seen
    bool responding = false;
    std::size_t sent = 0;
    std::array<u8, kRing> ring{};
    std::size_t ring_head = 0;
    std::size_t ring_size = 0;
  };

  bool open(std::size_t c) noexcept override {
    conns[c] = Conn{};
    conns[c].open = true;
    ++opened;
    return true;
  }
  std::size_t receive(std::size_t c, Bytes data) noexcept override {
    Conn& k = conns[c];
    if (echo) {
      const std::size_t n = std::min(data.size(), kRing - k.ring_size);
      for (std::size_t i = 0; i < n; ++i) k.ring[(k.ring_head + k.ring_size + i) % kRing] = data[i];
      k.ring_size += n;
      return n;
    }
    if (k.responding) return 0;  // one request per connection: hold the rest
    static constexpr char kEnd[] = "\r\n\r\n";
    for (std::size_t i = 0; i < data.size(); ++i) {
      k.head_match = data[i] == static_cast<u8>(kEnd[k.head_match]) ? k.head_match + 1 : (data[i] == '\r' ? 1 : 0);
      if (k.head_match == 4) {
        k.responding = true;
        return i + 1;
      }
    }
    return data.size();
  }
  std::size_t send(std::size_t c, MutableBytes out) noexcept override {
    Conn& k = conns[c];
    if (echo) {
      const std::size_t n = std::min(out.size(), k.ring_size);
      for (std::size_t i = 0; i < n; ++i) out[i] = k.ring[(k.ring_head + i) % kRing];
      k.ring_head = (k.ring_head + n) % kRing;
      k.ring_size -= n;
      return n;
    }
    if (!k.responding) return 0;
    const std::size_t n = std::min(out.size(), response.size() - k.sent);
    std::memcpy(out.data(), response.data() + k.sent, n);
    k.sent += n;
    return n;
  }
  [[nodiscard]] bool wants_close(std::size_t c) const noexcept override {
    return !echo && conns[c].responding && conns[c].sent == response.size();
  }
  void close(std::size_t c) noexcept override {
    conns[c].open = false;
    ++closed;
  }

  Bytes response;
  bool echo = false;
  std::array<Conn, kMaxConnections> conns{};
  int opened = 0;
  int closed = 0;
};

using test::run_until;  // tests/sim/handset/run_until.hpp

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
  // Non-blocking: writes what the socket takes of data[sent..], reads what is there.
  void step(Bytes data = {}) {
    asio::error_code ec;
    if (sent < data.size()) {
      std::size_t n = socket.write_some(asio::buffer(data.data() + sent, data.size() - sent), ec);
      if (!ec) sent += n;
    }
    u8 buf[16384];
    while (!eof) {
      std::size_t n = socket.read_some(asio::buffer(buf), ec);
      if (ec == asio::error::would_block) break;
      if (ec) {
        eof = true;
        failed = ec != asio::error::eof;
        break;
      }
      received.insert(received.end(), buf, buf + n);
    }
  }
};

struct CardRig {
  static constexpr std::size_t kImage = 256 * 1024;
  struct alignas(16) Ram {
    u8 bytes[SCWS_RAM_SIZE];
  };
  std::vector<u8> image = std::vector<u8>(kImage);
  card::RamNvmDevice nvm{MutableBytes(image)};
  std::unique_ptr<Ram> ram = std::make_unique<Ram>();
  std::optional<card::Card> card;
  card::CatToolkit toolkit;
  TestEndpoint endpoint;
  std::optional<DirectTransport> transport;
  asio::io_context io;
  std::vector<std::string> lines;
  std::optional<Gateway> gateway;

  explicit CardRig(u8 channels = 7, u16 buffer = 1400) {
    REQUIRE(card::Card::format_image(nvm, card::CardIdentity{}).ok());
    card.emplace(nvm, MutableBytes(ram->bytes, sizeof ram->bytes));
    REQUIRE(card->set_toolkit(toolkit));
    REQUIRE(toolkit.add_server_port(3516, buffer, endpoint, channels).ok());
    transport.emplace(*card);
    GatewayOptions o;
    o.port_map[3516] = 0;
    o.poll_interval = 100ms;
    o.linger = 500ms;
    o.log = [this](const std::string& l) { lines.push_back(l); };
    gateway.emplace(io, *transport, o);
  }
  ~CardRig() { gateway.reset(); }

  // Runs until `channels` channels listen on the card's HTTP port; returns the local port.
  u16 start(std::size_t channels = 7) {
    gateway->start();
    run_until(io, [&] {
      std::size_t listening = 0;
      for (const auto& c : gateway->channels())
        if (c.state == apdu::cat::ServerState::kListen) ++listening;
      return listening >= channels;
    }, 10s, "the card's channels to listen");
    return *gateway->local_port(3516);
  }
};

std::string http_response(std::size_t body_size) {
  std::string body(body_size, '\0');
  for (std::size_t i = 0; i < body_size; ++i) body[i] = static_cast<char>('A' + (i * 31 + i / 97) % 26);
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body_size) + "\r\nConnection: close\r\n\r\n" + body;
}

const std::string kGet = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
Bytes as_bytes(const std::string& s) { return Bytes(reinterpret_cast<const u8*>(s.data()), s.size()); }

TEST_CASE("gateway and the card toolkit serve an HTTP request over BIP in UICC server mode") {
  CardRig rig;
  const std::string response = http_response(1000);
  rig.endpoint.response = as_bytes(response);
  const u16 port = rig.start();
  Client c(rig.io);
  c.connect(port);
  run_until(rig.io, [&] { c.step(as_bytes(kGet)); return c.eof; }, 10s, "the response and the close");
  CHECK_FALSE(c.failed);
  CHECK(std::string(c.received.begin(), c.received.end()) == response);
  CHECK(rig.endpoint.opened == 1);
  run_until(rig.io, [&] { return rig.endpoint.closed == 1; }, 5s, "the card to close the connection");
}

TEST_CASE("gateway and the card toolkit stream a 256 KiB response intact") {
  CardRig rig(1);
  const std::string response = http_response(256 * 1024);
  rig.endpoint.response = as_bytes(response);
  const u16 port = rig.start(1);
  Client c(rig.io);
  c.connect(port);
  run_until(rig.io, [&] { c.step(as_bytes(kGet)); return c.eof; }, 60s, "the whole response");
  REQUIRE(c.received.size() == response.size());
  CHECK(std::string(c.received.begin(), c.received.end()) == response);
}

TEST_CASE("gateway and the card toolkit echo a 64 KiB upload intact through a small channel buffer") {
  CardRig rig(1, 512);
  rig.endpoint.echo = true;
  const u16 port = rig.start(1);
  std::vector<u8> upload(64 * 1024);
  for (std::size_t i = 0; i < upload.size(); ++i) upload[i] = static_cast<u8>(i ^ (i >> 8));
  Client c(rig.io);
  c.connect(port);
  run_until(rig.io, [&] { c.step(Bytes(upload)); return c.received.size() >= upload.size() || c.eof; }, 60s,
            "the echo");
  CHECK(c.received == upload);
  for (const auto& ch : rig.gateway->channels()) CHECK(ch.rx_bytes <= 512);
}

TEST_CASE("gateway and the card toolkit serve 7 clients at once and an 8th when a channel frees") {
  CardRig rig;
  const std::string response = http_response(3000);
  rig.endpoint.response = as_bytes(response);
  const u16 port = rig.start(7);
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 8; ++i) {
    clients.push_back(std::make_unique<Client>(rig.io));
    clients.back()->connect(port);
  }
  // The first 7 are accepted; the 8th waits in the listen backlog until a channel is back in LISTEN.
  run_until(rig.io, [&] { return rig.gateway->stats().clients_accepted >= 7; }, 10s, "7 clients");
  CHECK(rig.gateway->stats().clients_accepted == 7);
  run_until(rig.io, [&] {
    bool all = true;
    for (auto& c : clients) {
      c->step(as_bytes(kGet));
      all = all && c->eof;
    }
    return all;
  }, 30s, "all 8 responses");
  for (auto& c : clients) {
    CHECK_FALSE(c->failed);
    CHECK(std::string(c->received.begin(), c->received.end()) == response);
  }
  CHECK(rig.gateway->stats().clients_accepted == 8);
}

TEST_CASE("gateway recovers from a card reset during traffic and serves again") {
  CardRig rig;
  const std::string response = http_response(50000);
  rig.endpoint.response = as_bytes(response);
  const u16 port = rig.start(7);
  Client c(rig.io);
  c.connect(port);
  run_until(rig.io, [&] { c.step(as_bytes(kGet)); return c.received.size() > 1000; }, 10s, "traffic");
  rig.transport->simulate_reset();
  run_until(rig.io, [&] { c.step(); return c.eof; }, 10s, "the client to be dropped");
  CHECK(c.received.size() < response.size());
  CHECK(rig.gateway->stats().cards_lost == 1);
  // Served again, on the same port, by the new card session.
  run_until(rig.io, [&] { return rig.gateway->stats().sessions == 2 && rig.gateway->channels().size() == 7; }, 10s,
            "the new session's channels");
  CHECK(rig.gateway->local_port(3516) == port);
  Client again(rig.io);
  again.connect(port);
  run_until(rig.io, [&] { again.step(as_bytes(kGet)); return again.eof; }, 10s, "the response after the reset");
  CHECK(std::string(again.received.begin(), again.received.end()) == response);
}

TEST_CASE("gateway waits while the card is out of the reader and starts over when it is back") {
  CardRig rig;
  rig.endpoint.response = as_bytes(http_response(10));
  const u16 port = rig.start(7);
  rig.transport->simulate_removal();
  run_until(rig.io, [&] { return rig.gateway->stats().cards_lost == 1; }, 5s, "the poll to notice");
  CHECK(rig.gateway->channels().empty());
  rig.transport->reinsert();
  run_until(rig.io, [&] { return rig.gateway->channels().size() == 7; }, 10s, "the channels again");
  CHECK(*rig.gateway->local_port(3516) == port);
}

}  // namespace
}  // namespace scws::sim
