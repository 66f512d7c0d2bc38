// The handset gateway against a scripted card (a CardTransport whose proactive commands each test
// queues, and which records every TERMINAL RESPONSE and ENVELOPE), with real loopback sockets on
// ephemeral ports. Byte vectors cite protocol-notes 1.10-1.13.
#include <doctest/doctest.h>

#include <chrono>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <asio.hpp>

#include "apdu/envelope.hpp"
#include "apdu/proactive_command.hpp"
#include "apdu/terminal_profile.hpp"
#include "apdu/terminal_response.hpp"
#include "base/hex.hpp"
#include "tests/apdu/bytes_util.hpp"
#include "base/hex_text.hpp"
#include "sim/host/card_transport.hpp"
#include "sim/handset/gateway.hpp"
#include "tests/sim/handset/run_until.hpp"

namespace scws::sim {
namespace {

namespace cat = apdu::cat;
using namespace std::chrono_literals;
using asio::ip::tcp;

using scws::test::hex;  // tests/apdu/bytes_util.hpp

std::vector<u8> build(const cat::ProactiveCommand& c) {
  std::vector<u8> out(cat::kMaxProactiveCommandSize);
  auto n = cat::build_proactive_command(c, MutableBytes(out));
  REQUIRE(n.ok());
  out.resize(*n);
  return out;
}

// A card that hands out the proactive commands a test queues and records what the terminal sends.
class ScriptedCard final : public CardTransport {
 public:
  std::deque<std::vector<u8>> proactive;         // D0 blobs, FETCHed in order
  std::vector<std::vector<u8>> profiles;         // TERMINAL PROFILE data
  std::vector<std::vector<u8>> responses;        // TERMINAL RESPONSE data
  std::vector<std::vector<u8>> envelopes;        // ENVELOPE data accepted
  int busy = 0;                                  // answer the next N ENVELOPEs with 93 00
  int busy_answers = 0;
  int statuses = 0;
  bool present = true;
  bool lose_next = false;
  std::function<void(const cat::Envelope&)> on_envelope;
  std::function<void(const cat::TerminalResponse&)> on_response;

  bool connect(std::chrono::milliseconds) override {
    connected_ = present;
    return present;
  }
  void disconnect() override { connected_ = false; }
  [[nodiscard]] bool connected() const override { return connected_; }
  [[nodiscard]] std::string describe() const override { return "scripted card"; }
  void set_trace(ApduTraceSink*) override {}

  std::vector<u8> transmit(Bytes command) override {
    if (lose_next || !connected_) {
      lose_next = false;
      connected_ = false;
      throw CardLost("scripted card reset");
    }
    REQUIRE(command.size() >= 4);
    const u8 ins = command[1];
    Bytes data = command.size() > 5 ? command.subspan(5) : Bytes{};
    switch (ins) {
      case 0x10:
        profiles.emplace_back(data.begin(), data.end());
        return sw();
      case 0x12: {
        if (proactive.empty()) return {0x69, 0x85};
        std::vector<u8> out = proactive.front();
        REQUIRE(command.size() == 5);
        CHECK(command[4] == out.size());
        proactive.pop_front();
        out.push_back(0x90);
        out.push_back(0x00);
        return out;
      }
      case 0x14: {
        responses.emplace_back(data.begin(), data.end());
        auto r = cat::parse_terminal_response(data);
        REQUIRE_MESSAGE(r.ok(), "terminal response does not parse: ", hex_text(data));
        if (on_response) on_response(*r);
        return sw();
      }
      case 0xC2: {
        if (busy > 0) {
          --busy;
          ++busy_answers;
          return {0x93, 0x00};
        }
        envelopes.emplace_back(data.begin(), data.end());
        auto e = cat::parse_envelope(data);
        REQUIRE_MESSAGE(e.ok(), "envelope does not parse: ", hex_text(data));
        if (on_envelope) on_envelope(*e);
        return sw();
      }
      case 0xF2:
        ++statuses;
        return sw();
      default:
        return {0x6D, 0x00};
    }
  }

  void queue(const cat::ProactiveCommand& c) { proactive.push_back(build(c)); }

 private:
  std::vector<u8> sw() const {
    if (proactive.empty()) return {0x90, 0x00};
    return {0x91, static_cast<u8>(proactive.front().size())};
  }
  bool connected_ = false;
};

using test::run_until;  // tests/sim/handset/run_until.hpp

// A loopback client: blocking connect and write, non-blocking reads checked in run_until predicates.
struct TestClient {
  explicit TestClient(asio::io_context& io) : socket(io) {}
  tcp::socket socket;
  std::vector<u8> received;
  bool eof = false;

  void connect(u16 port) {
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    socket.non_blocking(true);
  }
  void send(Bytes data) {
    std::size_t done = 0;
    while (done < data.size()) {
      asio::error_code ec;
      done += socket.write_some(asio::buffer(data.data() + done, data.size() - done), ec);
      if (ec && ec != asio::error::would_block) FAIL("client write failed: " << ec.message());
    }
  }
  void send(std::string_view text) { send(Bytes(reinterpret_cast<const u8*>(text.data()), text.size())); }
  // Reads what is there; true when something new arrived or EOF was seen.
  bool poll() {
    u8 buf[8192];
    bool any = false;
    while (true) {
      asio::error_code ec;
      std::size_t n = socket.read_some(asio::buffer(buf), ec);
      if (ec == asio::error::would_block) return any;
      if (ec) {
        eof = true;
        return true;
      }
      received.insert(received.end(), buf, buf + n);
      any = true;
    }
  }
  [[nodiscard]] std::string text() const { return std::string(received.begin(), received.end()); }
};

bool can_connect(u16 port) {
  asio::io_context io;
  tcp::socket s(io);
  asio::error_code ec;
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
  return !ec;
}

// Gateway + scripted card + io_context with the card port 3516 mapped to an ephemeral port.
struct Rig {
  asio::io_context io;
  ScriptedCard card;
  std::vector<std::string> lines;
  std::optional<Gateway> gateway;

  explicit Rig(std::function<void(GatewayOptions&)> tune = {}) {
    GatewayOptions o;
    o.port_map[3516] = 0;
    o.port_map[4116] = 0;
    o.poll_interval = 50ms;
    o.linger = 200ms;
    o.log = [this](const std::string& l) { lines.push_back(l); };
    if (tune) tune(o);
    gateway.emplace(io, card, o);
  }
  ~Rig() {
    gateway.reset();
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
  std::string subscribe() { return command(cat::make_set_up_event_list(1, Bytes(kEvents))); }
  u16 open(u8 number, u16 buffer = 1400, u16 port = 3516) {
    std::string tr = command(cat::make_open_channel_server(number, buffer, port));
    auto r = cat::parse_terminal_response(hex(tr));
    REQUIRE(r.ok());
    REQUIRE(r->channel_status_count == 1);
    return r->channel_status[0].channel_id();
  }
  u16 local(u16 card_port = 3516) {
    auto p = gateway->local_port(card_port);
    REQUIRE(p.has_value());
    return *p;
  }
  std::size_t envelopes() const { return card.envelopes.size(); }
  std::string envelope(std::size_t i) const { return hex_text(card.envelopes.at(i)); }
  bool logged(std::string_view part) const {
    for (const auto& l : lines)
      if (l.find(part) != std::string::npos) return true;
    return false;
  }
  static constexpr u8 kEvents[] = {0x09, 0x0A};
};

cat::ResultValue result_of(const std::string& tr_hex) {
  auto r = cat::parse_terminal_response(hex(tr_hex));
  REQUIRE(r.ok());
  return r->result;
}

// The bytes a channel's client sent, drained by RECEIVE DATA as a card would do it: on Data available
// ask for min(length, 237); while a response says more remains, ask again.
struct Drainer {
  Rig& rig;
  u8 channel;
  std::vector<u8> got;
  u8 number = 0x30;
  void arm() {
    rig.card.on_envelope = [this](const cat::Envelope& e) {
      if (e.event == cat::Event::kDataAvailable && e.channel_status.channel_id() == channel)
        rig.card.queue(cat::make_receive_data(number++, channel, std::min<u8>(e.channel_data_length, 237)));
    };
    rig.card.on_response = [this](const cat::TerminalResponse& r) {
      if (r.details.type != cat::CommandType::kReceiveData) return;
      if (r.channel_data.present) got.insert(got.end(), r.channel_data.value.begin(), r.channel_data.value.end());
      if (r.has_channel_data_length && r.channel_data_length > 0)
        rig.card.queue(cat::make_receive_data(number++, channel, std::min<u8>(r.channel_data_length, 237)));
    };
  }
};

// ---------------------------------------------------------------------------------------------------

TEST_CASE("gateway port map parses CARDPORT=LOCALPORT and refuses malformed maps") {
  CHECK(parse_port_map("3516=41234") == std::pair<u16, u16>{3516, 41234});
  CHECK(parse_port_map("10443=0") == std::pair<u16, u16>{10443, 0});
  CHECK_THROWS_AS(parse_port_map("3516"), std::invalid_argument);
  CHECK_THROWS_AS(parse_port_map("0=1"), std::invalid_argument);
  CHECK_THROWS_AS(parse_port_map("3516=70000"), std::invalid_argument);
  CHECK_THROWS_AS(parse_port_map("x=1"), std::invalid_argument);
}

TEST_CASE("gateway terminal profile advertises BIP in UICC server mode with 7 channels and timers") {
  cat::TerminalProfile p = gateway_terminal_profile();
  CHECK(cat::supports_bip_server_mode(p));
  CHECK(p.channel_count == 7);
  CHECK(p.get_channel_status);
  CHECK(p.timer_management_start_stop);
  CHECK(p.timer_expiration);
  CHECK_FALSE(p.tcp_client_remote);  // client modes are not implemented
}

TEST_CASE("gateway sends its terminal profile first and answers SET UP EVENT LIST with OK") {
  Rig rig;
  rig.start();
  REQUIRE(rig.card.profiles.size() == 1);
  u8 expected[cat::kTerminalProfileMaxSize];
  auto n = cat::build_terminal_profile(gateway_terminal_profile(), MutableBytes(expected));
  REQUIRE(n.ok());
  CHECK(hex_text(rig.card.profiles[0]) == hex_text(Bytes(expected, *n)));
  // protocol-notes 1.13: D0 0D 81 03 01 05 00 82 02 81 82 99 02 09 0A -> TR 81 03 01 05 00 82 02 82 81 83 01 00
  CHECK(rig.subscribe() == "810301050082028281830100");
  CHECK(rig.gateway->events() == std::vector<cat::Event>{cat::Event::kDataAvailable, cat::Event::kChannelStatus});
}

TEST_CASE("gateway refuses SET UP EVENT LIST with an event it cannot report (30) and keeps the old list") {
  Rig rig;
  rig.start();
  rig.subscribe();
  const u8 idle_screen[] = {0x05};
  CHECK(rig.command(cat::make_set_up_event_list(2, Bytes(idle_screen))) == "810302050082028281830130");
  CHECK(rig.gateway->events().size() == 2);
}

TEST_CASE("gateway opens a listening socket for OPEN CHANNEL in server mode and answers LISTEN with the buffer") {
  Rig rig;
  rig.start();
  rig.subscribe();
  // protocol-notes 1.13: buffer 1400, port 3516 -> TR ... 83 01 00 38 02 41 00 39 02 05 78
  CHECK(rig.command(cat::make_open_channel_server(2, 1400, 3516)) == "8103024000820282818301003802410039020578");
  const u16 port = rig.local();
  CHECK(port != 0);
  CHECK(can_connect(port));
  CHECK(rig.logged("channel 1 listening on 127.0.0.1:" + std::to_string(port) + " (card port 3516"));
  auto chans = rig.gateway->channels();
  REQUIRE(chans.size() == 1);
  CHECK(chans[0].state == cat::ServerState::kListen);
  CHECK(chans[0].buffer_size == 1400);
}

TEST_CASE("gateway reduces a buffer larger than it supports and answers 07 with the granted size") {
  Rig rig([](GatewayOptions& o) { o.max_buffer_size = 4096; });
  rig.start();
  std::string tr = rig.command(cat::make_open_channel_server(2, 60000, 3516));
  auto r = cat::parse_terminal_response(hex(tr));
  REQUIRE(r.ok());
  CHECK(r->result.general == cat::GeneralResult::kPerformedWithModification);
  CHECK(r->buffer_size == 4096);
  CHECK(r->channel_status[0].status == 0x41);
}

TEST_CASE("gateway relays one HTTP exchange exactly as protocol-notes 1.13 shows it") {
  Rig rig;
  rig.start();
  rig.subscribe();
  REQUIRE(rig.open(2) == 1);
  TestClient client(rig.io);
  client.connect(rig.local());
  run_until(rig.io, [&] { return rig.envelopes() >= 1; }, 5s, "ESTABLISHED envelope");
  CHECK(rig.envelope(0) == "D60B99010A82028281B8028100");  // 1.10: channel 1 established

  const std::string request = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";  // 35 bytes
  client.send(request);
  run_until(rig.io, [&] { return rig.envelopes() >= 2; }, 5s, "Data available envelope");
  CHECK(rig.envelope(1) == "D60E99010982028281B8028100B70123");  // 1.13: 35 bytes waiting

  std::string tr = rig.command(cat::make_receive_data(2, 1, 35));
  CHECK(tr == "810302420082028281830100B623" + hex_text(Bytes(reinterpret_cast<const u8*>(request.data()), 35)) +
                  "B70100");

  const std::string reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK";
  tr = rig.command(cat::make_send_data(3, 1, true, Bytes(reinterpret_cast<const u8*>(reply.data()), reply.size())));
  CHECK(tr == "810303430182028281830100B701FF");  // 1.13
  run_until(rig.io, [&] { client.poll(); return client.received.size() >= reply.size(); }, 5s, "the reply");
  CHECK(client.text() == reply);

  CHECK(rig.command(cat::make_close_channel(4, 1, true)) == "810304410182028281830100");
  run_until(rig.io, [&] { client.poll(); return client.eof; }, 5s, "EOF at the client");
  auto chans = rig.gateway->channels();
  REQUIRE(chans.size() == 1);
  CHECK(chans[0].state == cat::ServerState::kListen);
}

TEST_CASE("gateway answers RECEIVE DATA asking for more than is buffered with what there is and result 02") {
  Rig rig;
  rig.start();
  rig.subscribe();
  rig.open(2);
  TestClient client(rig.io);
  client.connect(rig.local());
  client.send("hello");
  run_until(rig.io, [&] { return rig.envelopes() >= 2; });
  std::string tr = rig.command(cat::make_receive_data(3, 1, 200));
  CHECK(tr == "810303420082028281830102B60568656C6C6FB70100");
}

TEST_CASE("gateway keeps the Rx buffer within the channel buffer and a large request arrives intact") {
  Rig rig;
  rig.start();
  rig.subscribe();
  rig.open(2, 300);
  TestClient client(rig.io);
  client.connect(rig.local());
  std::vector<u8> body(20000);
  for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<u8>(i * 7 + i / 251);
  Drainer drain{rig, 1, {}};
  drain.arm();
  client.send(Bytes(body));
  std::size_t most = 0;
  run_until(rig.io, [&] {
    for (const auto& c : rig.gateway->channels()) most = std::max(most, c.rx_bytes);
    return drain.got.size() >= body.size();
  }, 10s, "the whole request");
  CHECK(most <= 300);
  CHECK(drain.got == body);
  // Each Data available announced at most FF ("more than 255") and the card asked at most 237 a time.
  for (const auto& r : rig.card.responses) CHECK(r.size() <= 255);
}

TEST_CASE("gateway buffers SEND DATA store pieces and writes them with the immediate one, in order") {
  Rig rig;
  rig.start();
  rig.subscribe();
  rig.open(2);
  TestClient client(rig.io);
  client.connect(rig.local());
  run_until(rig.io, [&] { return rig.envelopes() >= 1; });
  std::string expected;
  for (u8 i = 0; i < 5; ++i) {
    std::string piece(240, static_cast<char>('a' + i));
    expected += piece;
    std::string tr = rig.command(cat::make_send_data(static_cast<u8>(3 + i), 1, i == 4,
                                                     Bytes(reinterpret_cast<const u8*>(piece.data()), piece.size())));
    auto r = cat::parse_terminal_response(hex(tr));
    REQUIRE(r.ok());
    CHECK(r->result.general == cat::GeneralResult::kOk);
    // free Tx space: 1400 - 240 * (i + 1) while stored, all of it once sent
    const std::size_t free = i == 4 ? 1400 : 1400 - 240 * (i + 1u);
    CHECK(r->channel_data_length == (free > 255 ? 0xFF : free));
    if (i < 4) {
      client.poll();
      CHECK(client.received.empty());
    }
  }
  run_until(rig.io, [&] { client.poll(); return client.received.size() >= expected.size(); });
  CHECK(client.text() == expected);
}

TEST_CASE("gateway sends Channel status LISTEN when the client leaves and gives the channel to the next client") {
  Rig rig;
  rig.start();
  rig.subscribe();
  rig.open(2);
  {
    TestClient first(rig.io);
    first.connect(rig.local());
    run_until(rig.io, [&] { return rig.envelopes() >= 1; });
  }  // closed
  run_until(rig.io, [&] { return rig.envelopes() >= 2; }, 5s, "LISTEN envelope");
  CHECK(rig.envelope(1) == "D60B99010A82028281B8024100");  // 1.10: channel 1 back in LISTEN
  TestClient second(rig.io);
  second.connect(rig.local());
  run_until(rig.io, [&] { return rig.envelopes() >= 3; });
  CHECK(rig.envelope(2) == "D60B99010A82028281B8028100");
}

TEST_CASE("gateway shares one listening socket between channels and holds an extra client until one frees") {
  Rig rig;
  rig.start();
  rig.subscribe();
  REQUIRE(rig.open(2) == 1);
  REQUIRE(rig.open(3) == 2);
  const u16 port = rig.local();
  CHECK(rig.gateway->channels()[1].local_port == port);
  TestClient a(rig.io), b(rig.io), c(rig.io);
  a.connect(port);
  b.connect(port);
  c.connect(port);  // completes in the kernel backlog, not accepted by the gateway
  run_until(rig.io, [&] { return rig.envelopes() >= 2; });
  // Give the gateway time to (wrongly) take the third client: run a while, bounded.
  const auto until = std::chrono::steady_clock::now() + 200ms;
  while (std::chrono::steady_clock::now() < until) rig.io.run_one_for(5ms);
  CHECK(rig.envelopes() == 2);
  CHECK(rig.gateway->stats().clients_accepted == 2);

  a.send("from a");
  c.send("from c");
  run_until(rig.io, [&] { return rig.envelopes() >= 3; });
  CHECK(rig.envelope(2) == "D60E99010982028281B8028100B70106");  // a's 6 bytes on channel 1

  CHECK(result_of(rig.command(cat::make_close_channel(4, 1, true))).general == cat::GeneralResult::kOk);
  run_until(rig.io, [&] { return rig.gateway->stats().clients_accepted == 3; }, 5s, "the waiting client");
  run_until(rig.io, [&] { return rig.envelopes() >= 5; });
  CHECK(rig.envelope(3) == "D60B99010A82028281B8028100");  // channel 1 established again (client c)
  CHECK(rig.envelope(4) == "D60E99010982028281B8028100B70106");  // c's bytes, not a's
  std::string tr = rig.command(cat::make_receive_data(5, 1, 6));
  CHECK(tr.find(hex_text(Bytes(reinterpret_cast<const u8*>("from c"), 6))) != std::string::npos);
}

TEST_CASE("gateway stops listening when CLOSE CHANNEL 00 closes the last channel of a port") {
  Rig rig;
  rig.start();
  rig.subscribe();
  rig.open(2);
  rig.open(3);
  const u16 port = rig.local();
  CHECK(rig.command(cat::make_close_channel(4, 1, false)) == "810304410082028281830100");
  CHECK(can_connect(port));  // channel 2 still listens
  CHECK(rig.command(cat::make_close_channel(5, 2, false)) == "810305410082028281830100");
  CHECK_FALSE(rig.gateway->local_port(3516).has_value());
  CHECK_FALSE(can_connect(port));
  CHECK(rig.gateway->channels().empty());
  // 1.12: already closed -> 3A 02 or invalid -> 3A 03; this gateway forgets closed ids: 3A 03.
  CHECK(rig.command(cat::make_close_channel(6, 1, false)) == "81030641008202828183023A03");
}

TEST_CASE("gateway answers BIP errors with their causes") {
  Rig rig;
  rig.start();
  rig.subscribe();
  SUBCASE("channel id not valid (3A 03)") {
    CHECK(result_of(rig.command(cat::make_receive_data(2, 5, 10))).additional[0] == 0x03);
    CHECK(rig.command(cat::make_send_data(3, 3, true, Bytes(Rig::kEvents))) == "81030343018202828183023A03");
  }
  SUBCASE("channel without a client (3A 02)") {
    rig.open(2);
    CHECK(rig.command(cat::make_send_data(3, 1, true, Bytes(Rig::kEvents))) == "81030343018202828183023A02");
    CHECK(rig.command(cat::make_receive_data(4, 1, 10)) == "81030442008202828183023A02");
  }
  SUBCASE("no channel available beyond 7 (3A 01)") {
    for (u8 i = 0; i < 7; ++i) CHECK(rig.open(static_cast<u8>(2 + i)) == i + 1);
    std::string tr = rig.command(cat::make_open_channel_server(9, 1400, 3516));
    CHECK(tr == "81030940008202828183023A013802" "0000");
  }
  SUBCASE("port not available (3A 10) and status CLOSED") {
    asio::io_context io;
    tcp::acceptor squatter(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    const u16 busy_port = squatter.local_endpoint().port();
    std::string tr = rig.command(cat::make_open_channel_server(2, 1400, busy_port));
    CHECK(tr == "81030240008202828183023A103802" "0000");
    CHECK(rig.gateway->channels().empty());
  }
}

TEST_CASE("gateway answers commands it cannot perform with 30, 31 and 32") {
  Rig rig;
  rig.start();
  SUBCASE("OPEN CHANNEL in TCP client mode: beyond the terminal's capabilities (30)") {
    const u8 bearer[] = {0x03};
    const u8 ip[] = {127, 0, 0, 1};
    auto c = cat::make_open_channel_tcp_client(2, Bytes(bearer), 1400, 443,
                                               cat::OtherAddress{true, cat::address_type::kIpv4, Bytes(ip)});
    CHECK(result_of(rig.command(c)).general == cat::GeneralResult::kBeyondTerminalCapabilities);
  }
  SUBCASE("POLL INTERVAL: not parsed, command type not understood (31)") {
    // TS 102 223 6.6.6: D0 0D 81 03 01 03 00 82 02 81 82 84 02 01 14
    rig.card.proactive.push_back(hex("D00D81030103008202818284020114"));
    run_until(rig.io, [&] { return !rig.card.responses.empty(); });
    CHECK(hex_text(rig.card.responses[0]) == "810301030082028281830131");
  }
  SUBCASE("a required object with CR set that the command does not define: data not understood (32)") {
    // GET CHANNEL STATUS with a comprehension-required Text string (8D).
    rig.card.proactive.push_back(hex("D00D810301440082028182 8D020441"));
    run_until(rig.io, [&] { return !rig.card.responses.empty(); });
    CHECK(hex_text(rig.card.responses[0]) == "810301440082028281830132");
  }
}

TEST_CASE("gateway lists every open channel in GET CHANNEL STATUS and 00 00 when none") {
  Rig rig;
  rig.start();
  rig.subscribe();
  // 1.12: no channel -> B8 02 00 00
  CHECK(rig.command(cat::make_get_channel_status(2)) == "810302440082028281830100B8020000");
  rig.open(3);
  rig.open(4);
  TestClient client(rig.io);
  client.connect(rig.local());
  run_until(rig.io, [&] { return rig.envelopes() >= 1; });
  CHECK(rig.command(cat::make_get_channel_status(5)) == "810305440082028281830100B8028100B8024200");
}

TEST_CASE("gateway sends only the events the card subscribed to") {
  Rig rig;
  rig.start();
  const u8 status_only[] = {0x0A};
  rig.command(cat::make_set_up_event_list(1, Bytes(status_only)));
  rig.open(2);
  TestClient client(rig.io);
  client.connect(rig.local());
  run_until(rig.io, [&] { return rig.envelopes() >= 1; });
  client.send("data nobody announces");
  run_until(rig.io, [&] {
    for (const auto& c : rig.gateway->channels()) if (c.rx_bytes > 0) return true;
    return false;
  });
  const auto until = std::chrono::steady_clock::now() + 100ms;
  while (std::chrono::steady_clock::now() < until) rig.io.run_one_for(5ms);
  CHECK(rig.envelopes() == 1);  // the ESTABLISHED one only
}

TEST_CASE("gateway retries an ENVELOPE answered 93 00 later and keeps the order of events") {
  Rig rig;
  rig.start();
  rig.subscribe();
  rig.open(2);
  rig.card.busy = 3;
  TestClient client(rig.io);
  client.connect(rig.local());
  client.send("abc");
  run_until(rig.io, [&] { return rig.envelopes() >= 2; }, 5s, "both envelopes");
  CHECK(rig.card.busy_answers == 3);
  CHECK(rig.envelope(0) == "D60B99010A82028281B8028100");
  CHECK(rig.envelope(1) == "D60E99010982028281B8028100B70103");
  CHECK(rig.gateway->stats().envelope_busy == 3);
}

TEST_CASE("gateway runs TIMER MANAGEMENT timers and sends Timer expiration envelopes") {
  Rig rig;
  rig.start();
  // Get value of a timer that does not run: action in contradiction with the timer state (24).
  CHECK(result_of(rig.command(cat::make_timer_get_value(2, 3))).general == cat::GeneralResult::kTimerConflict);
  std::string tr = rig.command(cat::make_timer_start(3, 3, cat::TimerValue{0, 0, 1}));
  CHECK(tr == "810303270082028281830100A40103");
  tr = rig.command(cat::make_timer_start(4, 5, cat::TimerValue{1, 0, 0}));
  auto r = cat::parse_terminal_response(hex(rig.command(cat::make_timer_get_value(5, 5))));
  REQUIRE(r.ok());
  CHECK(r->has_timer_value);
  CHECK(r->timer_value.hours == 0);  // 59 min 59 s left
  CHECK(r->timer_value.minutes == 59);
  auto d = cat::parse_terminal_response(hex(rig.command(cat::make_timer_deactivate(6, 5))));
  REQUIRE(d.ok());
  CHECK(d->result.general == cat::GeneralResult::kOk);
  CHECK(d->timer_id == 5);
  run_until(rig.io, [&] { return rig.envelopes() >= 1; }, 3s, "the timer expiration");
  auto e = cat::parse_envelope(rig.card.envelopes[0]);
  REQUIRE(e.ok());
  CHECK(e->type == cat::EnvelopeType::kTimerExpiration);
  CHECK(e->timer_id == 3);
  CHECK(e->timer_value.seconds == 1);
  const auto until = std::chrono::steady_clock::now() + 100ms;
  while (std::chrono::steady_clock::now() < until) rig.io.run_one_for(5ms);
  CHECK(rig.envelopes() == 1);  // timer 5 was deactivated
}

TEST_CASE("gateway polls an idle card with STATUS and picks up its proactive command") {
  Rig rig;
  rig.start();
  run_until(rig.io, [&] { return rig.card.statuses >= 2; }, 3s, "STATUS polls");
  const u8 text[] = {0x04, 'h', 'i'};
  rig.card.queue(cat::make_display_text(7, 0x80, Bytes(text)));  // no 91 XX announced: found by STATUS
  run_until(rig.io, [&] { return !rig.card.responses.empty(); }, 3s, "the polled command");
  CHECK(hex_text(rig.card.responses[0]) == "810307218082028281830100");
  CHECK(rig.logged("DISPLAY TEXT: hi"));
}

TEST_CASE("gateway closes every socket on a card reset and starts over with TERMINAL PROFILE") {
  Rig rig;
  rig.start();
  rig.subscribe();
  rig.open(2);
  const u16 port = rig.local();
  TestClient client(rig.io);
  client.connect(port);
  run_until(rig.io, [&] { return rig.envelopes() >= 1; });
  rig.card.lose_next = true;
  client.send("x");  // the Data available envelope meets the reset
  run_until(rig.io, [&] { return rig.card.profiles.size() >= 2; }, 5s, "a second TERMINAL PROFILE");
  CHECK(rig.gateway->stats().cards_lost == 1);
  CHECK(rig.gateway->stats().sessions == 2);
  run_until(rig.io, [&] { client.poll(); return client.eof; }, 5s, "the client to be dropped");
  CHECK(rig.gateway->channels().empty());
  CHECK(rig.gateway->events().empty());
  CHECK_FALSE(can_connect(port));
  // The new session opens its channel again on the same (sticky ephemeral) port.
  rig.subscribe();
  rig.open(3);
  CHECK(rig.local() == port);
  TestClient again(rig.io);
  again.connect(port);
  run_until(rig.io, [&] { return rig.gateway->stats().clients_accepted == 2; });
}

TEST_CASE("gateway waits for a card that is not there and starts once it comes") {
  Rig rig;
  rig.card.present = false;
  rig.gateway->start();
  const auto until = std::chrono::steady_clock::now() + 150ms;
  while (std::chrono::steady_clock::now() < until) rig.io.run_one_for(5ms);
  CHECK_FALSE(rig.gateway->card_session_active());
  rig.card.present = true;
  run_until(rig.io, [&] { return rig.gateway->card_session_active(); }, 5s, "the card session");
  CHECK(rig.card.profiles.size() == 1);
}

TEST_CASE("gateway stop closes its listeners and lets io.run return") {
  Rig rig;
  rig.start();
  rig.subscribe();
  rig.open(2);
  const u16 port = rig.local();
  rig.gateway->stop();
  rig.io.restart();
  const auto t0 = std::chrono::steady_clock::now();
  rig.io.run_for(2s);
  CHECK(std::chrono::steady_clock::now() - t0 < 1s);  // nothing left to run
  CHECK_FALSE(can_connect(port));
}

}  // namespace
}  // namespace scws::sim
