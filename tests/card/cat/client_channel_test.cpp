// Client channels of the CAT toolkit (card/cat/client_channel.hpp, docs/protocol.md section 7.10),
// against the fixture's terminal: the OPEN CHANNEL bytes, background mode, data both ways, the
// server closing, every failure, slot borrowing and resets.
#include <doctest/doctest.h>

#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "card/cat/client_channel.hpp"
#include "card/cat/toolkit.hpp"
#include "tests/card/cat/toolkit_fixture.hpp"

using namespace scws;
using namespace scws::card;
using namespace scws::card::test;

namespace {

std::vector<u8> gateway_profile() { return profile_bytes(cat::scws_gateway_profile()); }

// A client endpoint with fixed buffers: what it sends is `out`, what it receives lands in `in`.
class TestClient final : public ClientEndpoint {
 public:
  static constexpr std::size_t kMax = 16384;
  bool open(std::size_t c) noexcept override {
    connection = c;
    ++opens;
    return !refuse_open;
  }
  std::size_t receive(std::size_t, Bytes data) noexcept override {
    std::size_t n = data.size() < kMax - in_len ? data.size() : kMax - in_len;
    std::memcpy(in.data() + in_len, data.data(), n);
    in_len += n;
    return n;
  }
  std::size_t send(std::size_t, MutableBytes buf) noexcept override {
    std::size_t n = out_len - out_pos;
    if (n > buf.size()) n = buf.size();
    std::memcpy(buf.data(), out.data() + out_pos, n);
    out_pos += n;
    return n;
  }
  [[nodiscard]] bool wants_close(std::size_t) const noexcept override { return close_when_sent && out_pos == out_len; }
  void close(std::size_t) noexcept override { ++closes; }
  void link_failed(std::size_t c, LinkFailure why) noexcept override {
    connection = c;
    ++failures;
    failure = why;
  }

  void queue(const std::string& s) {
    REQUIRE(out_len + s.size() <= kMax);
    std::memcpy(out.data() + out_len, s.data(), s.size());
    out_len += s.size();
  }
  [[nodiscard]] std::string received() const { return std::string(reinterpret_cast<const char*>(in.data()), in_len); }

  std::array<u8, kMax> in{};
  std::size_t in_len = 0;
  std::array<u8, kMax> out{};
  std::size_t out_len = 0, out_pos = 0;
  bool close_when_sent = false;
  bool refuse_open = false;
  std::size_t connection = 99;
  int opens = 0, closes = 0, failures = 0;
  LinkFailure failure = LinkFailure::kBipError;
};

const ClientChannelRequest kRequest{{127, 0, 0, 1}, 7443, 1400};

// Has the card announce what it wants (a STATUS poll) and runs the proactive loop.
void poll(MiniTerminal& t) {
  t.apdu({0x80, 0xF2, 0x00, 0x0C, 0x00});
  t.run();
}

u8 open_client(ToolkitRig& t, TestClient& client, const ClientChannelRequest& r = kRequest) {
  auto c = t.toolkit.open_client(r, client);
  REQUIRE(c.ok());
  t.toolkit.wake();
  poll(t.terminal);
  return *c;
}

// The channel the terminal gave the client (the one with `client` set and open).
u8 client_channel(const MiniTerminal& t) {
  for (u8 i = 1; i <= 7; ++i)
    if (t.channels[i].open && t.channels[i].client) return i;
  return 0;
}

}  // namespace

TEST_CASE("client OPEN CHANNEL: qualifier 05, default bearer, buffer, TCP client remote, IPv4 destination") {
  ToolkitRig t;
  t.terminal.start(gateway_profile());
  TestClient client;
  const u8 c = open_client(t, client);
  CHECK(c == 1);  // slot 0 listens for the server port
  const std::vector<u8>& d0 = t.terminal.fetched.back();
  // D0 1C | 81 03 nn 40 05 | 82 02 81 82 | 35 01 03 | 39 02 05 78 | 3C 03 02 1D 13 | 3E 05 21 7F 00 00 01
  const std::string bytes = hex_text(Bytes(d0));
  CHECK(bytes.substr(0, 6) == "D01C81");
  CHECK(bytes.substr(10) == "400582028182350103390205783C03021D133E05217F000001");
  const u8 ch = client_channel(t.terminal);
  REQUIRE(ch == 2);
  CHECK(t.terminal.channels[ch].address == std::array<u8, 4>{127, 0, 0, 1});
  // Background mode: the TERMINAL RESPONSE said "not yet"; the endpoint waits.
  CHECK(t.toolkit.client_phase(c) == ClientPhase::kOpening);
  CHECK(t.toolkit.channel_state(ch) == BipState::kOpenRequested);
  CHECK(client.opens == 0);
  CHECK(t.terminal.link_up(ch) == "9000");
  CHECK(client.opens == 1);
  CHECK(client.connection == c);
  CHECK(t.toolkit.client_phase(c) == ClientPhase::kOpen);
  CHECK(t.toolkit.channel_state(ch) == BipState::kEstablished);
  CHECK(t.log.contains("link established"));
}

TEST_CASE("client channel: bytes both ways, the card closes with CLOSE CHANNEL 00 after its output") {
  ToolkitRig t;
  t.terminal.client_link_at_once = true;
  t.terminal.start(gateway_profile());
  TestClient client;
  std::string request;
  for (int i = 0; request.size() < 3000; ++i) request += "line " + std::to_string(i) + "\n";
  client.queue(request);
  const u8 c = open_client(t, client);
  const u8 ch = client_channel(t.terminal);
  REQUIRE(ch != 0);
  CHECK(client.opens == 1);  // the link was up in the TERMINAL RESPONSE
  CHECK(t.terminal.channels[ch].delivered == request);
  std::string answer;
  for (int i = 0; answer.size() < 2500; ++i) answer += "reply " + std::to_string(i) + "\n";
  t.terminal.server_sends(ch, answer);
  CHECK(client.received() == answer);
  t.toolkit.close_client(c);
  CHECK(t.terminal.count(cat::CommandType::kCloseChannel) == 0);  // at the next scheduling
  t.toolkit.wake();
  poll(t.terminal);
  REQUIRE(t.terminal.close_qualifiers.size() == 1);
  CHECK(t.terminal.close_qualifiers[0] == 0x00);
  CHECK(client.closes == 1);
  CHECK(client.failures == 0);
  CHECK(t.toolkit.client_phase(c) == ClientPhase::kNone);
  CHECK(t.toolkit.slot(c).port == BipChannel::kNoPort);
  CHECK(t.rig.card.ram_report().in_use == t.rig.card.ram_report().idle);
  // The endpoint asking to close once its output is out works the same way.
  TestClient second;
  second.queue("bye");
  second.close_when_sent = true;
  open_client(t, second);
  CHECK(second.closes == 1);
  CHECK(t.terminal.close_qualifiers.size() == 2);
}

TEST_CASE("the server closing: link dropped closes the endpoint, then CLOSE CHANNEL 00 frees the slot") {
  ToolkitRig t;
  t.terminal.client_link_at_once = true;
  t.terminal.start(gateway_profile());
  TestClient client;
  const u8 c = open_client(t, client);
  const u8 ch = client_channel(t.terminal);
  t.terminal.server_sends(ch, "HTTP/1.1 204 No Content\r\n\r\n");
  CHECK(t.terminal.link_dropped(ch) == "910B");  // CLOSE CHANNEL 00 waits
  CHECK(client.received() == "HTTP/1.1 204 No Content\r\n\r\n");
  CHECK(client.closes == 1);
  CHECK(client.failures == 0);
  CHECK(t.terminal.close_qualifiers == std::vector<u8>{0x00});
  CHECK_FALSE(t.terminal.channels[ch].open);
  CHECK(t.toolkit.client_phase(c) == ClientPhase::kNone);
  CHECK(t.rig.card.ram_report().in_use == t.rig.card.ram_report().idle);
}

TEST_CASE("a refused OPEN CHANNEL or a link that never comes up ends in link_failed") {
  struct Case {
    cat::ResultValue result;
    LinkFailure expected;
  };
  const Case cases[] = {
      {cat::make_result(cat::GeneralResult::kTerminalUnable, 0x00), LinkFailure::kTerminalUnable},
      {cat::make_result(cat::GeneralResult::kNetworkUnable, 0x00), LinkFailure::kNetworkUnable},
      {cat::make_bip_error(cat::BipCause::kNoChannelAvailable), LinkFailure::kNoChannel},
      {cat::make_bip_error(cat::BipCause::kPortNotAvailable), LinkFailure::kNoChannel},
      {cat::make_bip_error(cat::BipCause::kRemoteDeviceNotReachable), LinkFailure::kBipError},
      {cat::make_result(cat::GeneralResult::kBeyondTerminalCapabilities), LinkFailure::kBipError},
  };
  for (const Case& k : cases) {
    CAPTURE(describe(k.expected));
    ToolkitRig t;
    t.terminal.start(gateway_profile());
    t.terminal.override_next = true;
    t.terminal.override_type = cat::CommandType::kOpenChannel;
    t.terminal.override_result = k.result;
    TestClient client;
    const u8 c = open_client(t, client);
    CHECK(client.failures == 1);
    CHECK(client.failure == k.expected);
    CHECK(client.connection == c);
    CHECK(client.opens == 0);
    CHECK(t.toolkit.client_phase(c) == ClientPhase::kNone);
    CHECK(t.toolkit.slot(c).port == BipChannel::kNoPort);
  }
  SUBCASE("link dropped before it was established") {
    ToolkitRig t;
    t.terminal.start(gateway_profile());
    TestClient client;
    const u8 c = open_client(t, client);
    const u8 ch = client_channel(t.terminal);
    t.terminal.link_dropped(ch);
    CHECK(client.failures == 1);
    CHECK(client.failure == LinkFailure::kLinkDropped);
    CHECK(client.opens == 0);
    CHECK(client.closes == 0);
    CHECK(t.terminal.close_qualifiers == std::vector<u8>{0x00});  // the terminal's channel is freed
    CHECK(t.toolkit.client_phase(c) == ClientPhase::kNone);
  }
  SUBCASE("close_client before the link is up") {
    ToolkitRig t;
    t.terminal.start(gateway_profile());
    TestClient client;
    const u8 c = open_client(t, client);
    t.toolkit.close_client(c);
    t.toolkit.wake();
    poll(t.terminal);
    CHECK(client.failures == 1);
    CHECK(client.failure == LinkFailure::kLinkDropped);
    CHECK(t.terminal.close_qualifiers == std::vector<u8>{0x00});
    CHECK(t.toolkit.client_phase(c) == ClientPhase::kNone);
  }
}

TEST_CASE("open_client: bad arguments, no profile yet, a terminal without TCP client mode") {
  ToolkitRig t;
  TestClient client;
  CHECK(t.toolkit.open_client(ClientChannelRequest{{127, 0, 0, 1}, 0, 1400}, client).error() == ClientError::kInvalidArgument);
  CHECK(t.toolkit.open_client(ClientChannelRequest{{127, 0, 0, 1}, 7443, 0}, client).error() == ClientError::kInvalidArgument);
  CHECK(t.toolkit.open_client(kRequest, client).error() == ClientError::kNotReady);
  cat::TerminalProfile p = cat::scws_gateway_profile();
  p.tcp_client_remote = false;
  t.terminal.start(profile_bytes(p));
  auto c = t.toolkit.open_client(kRequest, client);
  REQUIRE(c.ok());
  CHECK(client.failures == 0);  // told at the next scheduling, not inside open_client
  t.toolkit.wake();
  CHECK(client.failures == 1);
  CHECK(client.failure == LinkFailure::kNotSupported);
  CHECK(t.terminal.count(cat::CommandType::kOpenChannel) == 1);  // the server port's only
  CHECK(t.toolkit.client_phase(*c) == ClientPhase::kNone);
}

TEST_CASE("with every slot listening, a client borrows one of the busiest port and gives it back") {
  ToolkitRig t(5);
  ScriptedEndpoint other;
  REQUIRE(t.toolkit.add_server_port(4116, 1400, other, 2).ok());
  t.terminal.client_link_at_once = true;
  t.terminal.start(gateway_profile());
  CHECK(t.toolkit.channels(3516, BipState::kListen) == 5);
  CHECK(t.toolkit.channels(4116, BipState::kListen) == 2);
  TestClient client;
  const u8 c = open_client(t, client);
  CHECK(t.toolkit.connection_port(c) == 0);  // a client slot belongs to no server port
  // One listening channel of port 3516 (5 channels) was closed with 00, then the client opened.
  CHECK(t.terminal.close_qualifiers == std::vector<u8>{0x00});
  CHECK(t.toolkit.channels(3516, BipState::kListen) == 4);
  CHECK(t.toolkit.channels(4116, BipState::kListen) == 2);
  CHECK(t.toolkit.client_phase(c) == ClientPhase::kOpen);
  CHECK(client.opens == 1);
  // Every slot is busy: an eighth channel is a client's only if a listener can go.
  TestClient second;
  auto s = t.toolkit.open_client(kRequest, second);
  REQUIRE(s.ok());
  t.toolkit.wake();
  poll(t.terminal);
  CHECK(t.toolkit.client_phase(*s) == ClientPhase::kOpen);
  CHECK(t.toolkit.channels(3516, BipState::kListen) + t.toolkit.channels(4116, BipState::kListen) == 5);
  // The clients go: the listening channels are opened again.
  t.toolkit.close_client(c);
  t.toolkit.close_client(*s);
  t.toolkit.wake();
  poll(t.terminal);
  CHECK(client.closes == 1);
  CHECK(second.closes == 1);
  CHECK(t.toolkit.channels(3516, BipState::kListen) == 5);
  CHECK(t.toolkit.channels(4116, BipState::kListen) == 2);
}

TEST_CASE("seven client channels fill the table: the eighth is kBusy") {
  ToolkitRig t;
  REQUIRE(t.toolkit.close_port(3516).ok());
  t.terminal.client_link_at_once = true;
  t.terminal.start(gateway_profile());
  poll(t.terminal);
  std::array<TestClient, 7> clients;
  for (TestClient& k : clients) open_client(t, k);
  for (const TestClient& k : clients) CHECK(k.opens == 1);
  TestClient eighth;
  CHECK(t.toolkit.open_client(kRequest, eighth).error() == ClientError::kBusy);
}

TEST_CASE("a card session ending mid-connect tells the endpoint kSessionReset; an open client is closed") {
  ToolkitRig t;
  t.terminal.start(gateway_profile());
  TestClient connecting;
  const u8 c = open_client(t, connecting);
  REQUIRE(t.toolkit.client_phase(c) == ClientPhase::kOpening);
  TestClient waiting;  // asked, OPEN CHANNEL not issued yet
  REQUIRE(t.toolkit.open_client(kRequest, waiting).ok());
  t.terminal.start(gateway_profile());  // a new TERMINAL PROFILE: the terminal starts over
  CHECK(connecting.failures == 1);
  CHECK(connecting.failure == LinkFailure::kSessionReset);
  CHECK(waiting.failures == 1);
  CHECK(waiting.failure == LinkFailure::kSessionReset);
  CHECK(t.toolkit.client_phase(c) == ClientPhase::kNone);

  t.terminal.client_link_at_once = true;
  TestClient open;
  const u8 o = open_client(t, open);
  REQUIRE(open.opens == 1);
  t.terminal.start(gateway_profile());
  CHECK(open.closes == 1);
  CHECK(open.failures == 0);
  CHECK(t.toolkit.client_phase(o) == ClientPhase::kNone);

  SUBCASE("a card reset forgets the request without a call (the endpoints power up afresh)") {
    TestClient lost;
    REQUIRE(t.toolkit.open_client(kRequest, lost).ok());
    t.rig.power_on();
    CHECK(lost.failures == 0);
    for (std::size_t i = 0; i < CatToolkit::kMaxSlots; ++i) CHECK(t.toolkit.client_phase(i) == ClientPhase::kNone);
  }
}
