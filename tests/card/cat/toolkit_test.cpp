#include "card/cat/toolkit.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "tests/card/cat/toolkit_fixture.hpp"

using namespace scws;
using namespace scws::card;
using namespace scws::card::test;

namespace {

const std::string kRequest = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";  // 35 bytes (docs/protocol.md section 9)
const std::string kResponse = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK";  // 40 bytes

Bytes as_bytes(const std::string& s) { return Bytes(reinterpret_cast<const u8*>(s.data()), s.size()); }

std::string hex_of(const std::string& s) { return hex_text(as_bytes(s)); }

// The minimal SCWS gateway profile of docs/protocol.md section 6.1: byte 1 b1, byte 5 b1, byte 6 b3+b4,
// byte 12 = 1F, byte 13 = E0 (7 channels), byte 17 = 04; no timers, no GET CHANNEL STATUS bit needed.
const char* const kMinimalProfile = "0100000001 0C00000000 001FE00000 0004";

struct Step {
  std::string command;
  std::string response;
  const char* source;
};

// Starts a rig, runs TERMINAL PROFILE with the gateway's full profile, connects a client on channel 1.
std::vector<u8> gateway_profile() { return profile_bytes(cat::scws_gateway_profile()); }

}  // namespace

TEST_CASE("toolkit plays the exchange of docs/protocol.md section 9 byte for byte") {
  ToolkitRig t;
  t.endpoint.response = as_bytes(kResponse);
  // docs/protocol.md section 9: every proactive command of the session gets the next number (01 SET UP EVENT
  // LIST, 02 OPEN CHANNEL, 03 RECEIVE DATA, 04 SEND DATA, 05 CLOSE CHANNEL); TS 102 223 8.6 leaves the
  // number to the card.
  const std::vector<Step> steps = {
      {"8010000011" + std::string(kMinimalProfile), "910F", "TERMINAL PROFILE (minimal, section 6.1)"},
      {"801200000F", "D00D810301050082028182990209 0A9000", "SET UP EVENT LIST 09 0A (section 7.2)"},
      {"801400000C810301050082028281830100", "9114", "TR ok"},
      {"8012000014", "D01281030240008202818239020578 3C03030DBC9000", "OPEN CHANNEL server, 1400, port 3516"},
      {"8014000014810302400082028281830100380241003902 0578", "9000", "TR: channel 1 LISTEN"},
      {"80C200000DD60B990 10A82028281B8028100", "9000", "ENVELOPE channel status ESTABLISHED (section 7.4)"},
      {"80C2000010D60E990109820282 81B8028100B70123", "910E", "ENVELOPE data available 35 bytes"},
      {"801200000E", "D00C810303420082028121B701239000", "RECEIVE DATA 35 (section 7.5)"},
      {"8014000034810303420082028281830100B623" + hex_of(kRequest) + "B70100", "9135", "TR with the request"},
      {"8012000035", "D033810304430182028121B628" + hex_of(kResponse) + "9000", "SEND DATA immediately"},
      {"801400000F810304430182028281830100B701FF", "910B", "TR: Tx buffer free"},
      {"801200000B", "D009810305410182028121 9000", "CLOSE CHANNEL 01 -> LISTEN"},
      {"801400000C810305410182028281830100", "9000", "TR ok"},
  };
  for (const Step& s : steps) {
    CAPTURE(s.source);
    std::string expected;
    for (char c : s.response)
      if (c != ' ') expected.push_back(c);
    CHECK(t.rig.send(s.command) == expected);
  }
  CHECK(t.endpoint.input(0) == kRequest);
  CHECK(t.endpoint.opens[0] == 1);
  CHECK(t.endpoint.closes[0] == 1);
  CHECK(t.toolkit.channel_state(1) == BipState::kListen);
  CHECK(t.rig.card.ram_report().in_use == t.rig.card.ram_report().idle);
}

TEST_CASE("toolkit traces every channel transition and the session decisions") {
  ToolkitRig t;
  t.endpoint.response = as_bytes(kResponse);
  t.terminal.start(gateway_profile());
  t.terminal.connect(1);
  t.terminal.client_sends(1, kRequest);
  CHECK(t.log.contains("toolkit: NoProfile -> EventsSetUp"));
  CHECK(t.log.contains("toolkit: EventsSetUp -> Ready"));
  CHECK(t.log.contains("Closed -> OpenRequested (OPEN CHANNEL)"));
  CHECK(t.log.contains("OpenRequested -> Listen"));
  CHECK(t.log.contains("Listen -> Established (client connected)"));
  CHECK(t.log.contains("Established -> Receiving"));
  CHECK(t.log.contains("Sending -> Established"));
  CHECK(t.log.contains("Established -> Closing (CLOSE CHANNEL 01"));
  CHECK(t.log.contains("Closing -> Listen"));
}

TEST_CASE("a terminal profile without BIP server mode gets a trace line and no OPEN CHANNEL") {
  ToolkitRig t;
  cat::TerminalProfile p = cat::scws_gateway_profile();
  p.tcp_server = false;
  t.terminal.start(profile_bytes(p));
  CHECK(t.terminal.sw() == "9000");
  CHECK(t.terminal.commands.empty());
  CHECK(t.toolkit.session() == SessionState::kNoBip);
  CHECK(t.log.contains("terminal profile lacks TCP UICC server mode: no BIP channel will be opened"));
  // The profile is kept (RAM), and a profile with 0 channels is refused the same way.
  CHECK(t.toolkit.terminal_profile_bytes().size() == profile_bytes(p).size());
  p = cat::scws_gateway_profile();
  p.channel_count = 0;
  t.terminal.start(profile_bytes(p));
  CHECK(t.terminal.commands.empty());
  CHECK(t.log.contains("lacks channels"));
}

TEST_CASE("toolkit opens as many listening channels as configured and as the terminal allows") {
  SUBCASE("7 wanted, terminal offers 7") {
    ToolkitRig t(7);
    t.terminal.start(gateway_profile());
    CHECK(t.terminal.count(cat::CommandType::kOpenChannel) == 7);
    CHECK(t.toolkit.channels(3516, BipState::kListen) == 7);
  }
  SUBCASE("7 wanted, terminal profile offers 3") {
    ToolkitRig t(7);
    cat::TerminalProfile p = cat::scws_gateway_profile();
    p.channel_count = 3;
    t.terminal.start(profile_bytes(p));
    CHECK(t.terminal.count(cat::CommandType::kOpenChannel) == 3);
    CHECK(t.toolkit.channels(3516, BipState::kListen) == 3);
  }
  SUBCASE("7 wanted, terminal runs out after 2: 3A 01 stops further OPEN CHANNEL") {
    ToolkitRig t(7);
    t.terminal.max_channels = 2;
    t.terminal.start(gateway_profile());
    CHECK(t.terminal.count(cat::CommandType::kOpenChannel) == 3);
    CHECK(t.toolkit.channels(3516, BipState::kListen) == 2);
    CHECK(t.log.contains("no further OPEN CHANNEL this session (result 3A 01)"));
  }
  SUBCASE("a reduced buffer (result 07) is accepted and used") {
    ToolkitRig t(1, 4000);
    t.terminal.max_buffer = 500;
    t.terminal.start(gateway_profile());
    CHECK(t.toolkit.channels(3516, BipState::kListen) == 1);
    CHECK(t.toolkit.slot(0).buffer_size == 500);
    CHECK(t.log.contains("listening, buffer reduced"));
  }
}

TEST_CASE("toolkit reassembles a request split over many RECEIVE DATA chunks") {
  // The client's bytes arrive 1..N at a time; the endpoint sees them in order, none lost.
  // One request head of 350 bytes whose only blank line is at its end.
  const std::string request = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + std::string(300, 'x') + "\r\n\r\n";
  for (std::size_t split : {1u, 2u, 7u, 100u, 236u, 237u, 238u, 400u}) {
    CAPTURE(split);
    ToolkitRig t;
    t.endpoint.response = as_bytes(kResponse);
    t.terminal.start(gateway_profile());
    t.terminal.connect(1);
    for (std::size_t at = 0; at < request.size(); at += split) t.terminal.client_sends(1, request.substr(at, split));
    CHECK(t.endpoint.input(0) == request);
    CHECK(t.terminal.channels[1].delivered == kResponse);
    CHECK(t.toolkit.channel_state(1) == BipState::kListen);
  }
}

TEST_CASE("bytes the endpoint does not consume are kept and offered again, never lost") {
  for (std::size_t limit : {1u, 3u, 50u, 236u}) {
    CAPTURE(limit);
    ToolkitRig t;
    t.endpoint.echo = true;
    t.endpoint.close_after_response = false;
    t.endpoint.consume_limit = limit;
    t.terminal.start(gateway_profile());
    t.terminal.connect(1);
    std::string data;
    for (int i = 0; i < 600; ++i) data.push_back(static_cast<char>('a' + i % 26));
    t.terminal.client_sends(1, data);
    CHECK(t.endpoint.input(0) == data);
    CHECK(t.terminal.channels[1].delivered == data);
    // Each RECEIVE DATA asked for at most 237 bytes; no more were asked while bytes were kept.
    CHECK(t.terminal.receive_datas == 3);
  }
}

TEST_CASE("a large response goes out in 240-byte SEND DATA pieces within 6 + 2 x ceil(n/240) APDUs") {
  for (std::size_t n : {1u, 239u, 240u, 241u, 1000u, 4321u, 20000u}) {
    for (std::size_t send_limit : {static_cast<std::size_t>(-1), std::size_t{17}}) {
      CAPTURE(n);
      CAPTURE(send_limit);
      ToolkitRig t(1, 1400);
      std::string response(n, 'r');
      for (std::size_t i = 0; i < n; ++i) response[i] = static_cast<char>('0' + i % 10);
      t.endpoint.response = as_bytes(response);
      t.endpoint.send_limit = send_limit;  // the endpoint hands out small pieces: the toolkit fills 240
      t.terminal.start(gateway_profile());
      const int before = t.terminal.apdus;
      t.terminal.connect(1);
      t.terminal.client_sends(1, kRequest);
      const int used = t.terminal.apdus - before;
      CHECK(used == static_cast<int>(6 + 2 * ((n + 239) / 240)));
      CHECK(t.terminal.channels[1].delivered == response);
      CHECK(t.terminal.send_datas == static_cast<int>((n + 239) / 240));
      CHECK(t.terminal.count(cat::CommandType::kGetChannelStatus) == 0);
      CHECK(t.rig.card.ram_report().in_use == t.rig.card.ram_report().idle);
    }
  }
}

TEST_CASE("SEND DATA flushes before the terminal's Tx buffer would overflow") {
  ToolkitRig t(1, 500);
  std::string response(3000, 'z');
  t.endpoint.response = as_bytes(response);
  t.terminal.start(gateway_profile());
  t.terminal.connect(1);
  t.terminal.client_sends(1, kRequest);  // MiniTerminal checks stored bytes <= buffer on every SEND DATA
  CHECK(t.terminal.channels[1].delivered == response);
}

TEST_CASE("seven clients are served at once on one port") {
  ToolkitRig t(7);
  std::string response = "HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n" + std::string(500, 'b');
  t.endpoint.response = as_bytes(response);
  t.terminal.start(gateway_profile());
  for (u8 ch = 1; ch <= 7; ++ch) t.terminal.connect(ch);
  CHECK(t.toolkit.connected_clients() == 7);
  // Requests interleave: each client sends its request in two halves, channel by channel.
  for (u8 ch = 1; ch <= 7; ++ch) t.terminal.client_sends(ch, kRequest.substr(0, 10));
  for (u8 ch = 1; ch <= 7; ++ch) t.terminal.client_sends(ch, kRequest.substr(10));
  for (u8 ch = 1; ch <= 7; ++ch) {
    CAPTURE(ch);
    CHECK(t.terminal.channels[ch].delivered == response);
    CHECK(t.toolkit.channel_state(ch) == BipState::kListen);
  }
  for (std::size_t c = 0; c < 7; ++c) {
    CHECK(t.endpoint.input(c) == kRequest);
    CHECK(t.endpoint.closes[c] == 1);
  }
  CHECK(t.rig.card.ram_report().in_use == t.rig.card.ram_report().idle);
}

TEST_CASE("a client leaving with 4n 00 or 4n 05 closes the endpoint and the channel listens again") {
  for (u8 info : {u8{0x00}, u8{0x05}}) {
    CAPTURE(info);
    ToolkitRig t;
    t.endpoint.response = as_bytes(kResponse);
    t.terminal.start(gateway_profile());
    t.terminal.connect(1);
    t.terminal.client_sends(1, "GET / HT");  // half a request: the connection stays open
    CHECK(t.toolkit.channel_state(1) == BipState::kEstablished);
    CHECK(t.endpoint.opens[0] == 1);
    CHECK(t.terminal.client_leaves(1, info) == "9000");
    CHECK(t.toolkit.channel_state(1) == BipState::kListen);
    CHECK(t.endpoint.closes[0] == 1);
    CHECK(t.rig.card.security_events().count(3516, SecurityEventKind::kChannelClosed) == 1);
    CHECK(t.rig.card.ram_report().in_use == t.rig.card.ram_report().idle);
    CHECK(t.terminal.count(cat::CommandType::kCloseChannel) == 0);
    // The next client is served on the same channel.
    t.terminal.connect(1);
    t.terminal.client_sends(1, kRequest);
    CHECK(t.terminal.channels[1].delivered == kResponse);
    CHECK(t.endpoint.opens[0] == 2);
    // Each client is a channel-established event on the port, each departure a channel-closed one.
    const SecurityEvents& events = t.rig.card.security_events();
    CHECK(events.count(3516, SecurityEventKind::kChannelEstablished) == 2);
    CHECK(events.total(SecurityEventKind::kChannelEstablished) == 2);
    CHECK(events.total(SecurityEventKind::kChannelClosed) == static_cast<u32>(t.endpoint.closes[0]));
  }
}

TEST_CASE("close_port issues CLOSE CHANNEL 00 on each channel and reopen_port listens again") {
  ToolkitRig t(3);
  t.endpoint.response = as_bytes(kResponse);
  t.terminal.start(gateway_profile());
  t.terminal.connect(2);
  t.terminal.client_sends(2, "GET");
  REQUIRE(t.toolkit.close_port(3516).ok());
  CHECK(t.toolkit.close_port(80).error() == ToolkitError::kUnknownPort);
  t.toolkit.wake();
  t.terminal.last = t.rig.send("80F2000C");  // STATUS: the 91 XX carries the CLOSE CHANNEL
  t.terminal.run();
  CHECK(t.terminal.close_qualifiers == std::vector<u8>{0x00, 0x00, 0x00});
  CHECK(t.toolkit.channels(3516, BipState::kClosed) == 0);
  CHECK(t.toolkit.channel_state(1) == BipState::kClosed);
  CHECK(t.toolkit.channel_state(2) == BipState::kClosed);
  CHECK(t.endpoint.closes[1] == 1);  // the connected client was dropped
  CHECK(t.rig.card.ram_report().in_use == t.rig.card.ram_report().idle);
  // Stays closed until reopened.
  t.terminal.last = t.rig.send("80F2000C");
  CHECK(t.terminal.sw() == "9000");
  REQUIRE(t.toolkit.reopen_port(3516).ok());
  t.toolkit.wake();
  t.terminal.last = t.rig.send("80F2000C");
  t.terminal.run();
  CHECK(t.toolkit.channels(3516, BipState::kListen) == 3);
}

TEST_CASE("CLOSE CHANNEL 01 keeps the channel listening, 00 closes it") {
  ToolkitRig t;
  t.endpoint.response = as_bytes(kResponse);
  t.terminal.start(gateway_profile());
  t.terminal.connect(1);
  t.terminal.client_sends(1, kRequest);
  CHECK(t.terminal.close_qualifiers == std::vector<u8>{0x01});
  CHECK(t.terminal.channels[1].open);
  CHECK(t.toolkit.channel_state(1) == BipState::kListen);
  REQUIRE(t.toolkit.close_port(3516).ok());
  t.terminal.connect(1);  // any toolkit command lets the card act
  CHECK(t.terminal.close_qualifiers == std::vector<u8>{0x01, 0x00});
  CHECK_FALSE(t.terminal.channels[1].open);
  CHECK(t.toolkit.channel_state(1) == BipState::kClosed);
}

TEST_CASE("a RECEIVE DATA answered 3A 02 or 3A 03 does not wedge the channel") {
  for (u8 cause : {u8{0x02}, u8{0x03}}) {
    CAPTURE(cause);
    ToolkitRig t;
    t.endpoint.response = as_bytes(kResponse);
    t.terminal.start(gateway_profile());
    t.terminal.connect(1);
    t.terminal.override_next = true;
    t.terminal.override_type = cat::CommandType::kReceiveData;
    t.terminal.override_result = cat::make_bip_error(static_cast<cat::BipCause>(cause));
    // 3A 02: the client left, the channel listens; 3A 03: the terminal does not know channel 1.
    if (cause == 0x02) {
      t.terminal.channels[1].established = false;
    } else {
      t.terminal.channels[1] = MiniTerminal::Channel{};
    }
    t.terminal.client_sends(1, kRequest);
    CHECK(t.endpoint.closes[0] == 1);
    // GET CHANNEL STATUS learns the terminal's view: channel 1 listens.
    CHECK(t.terminal.channel_status_requests == 1);
    CHECK(t.toolkit.channel_state(1) == BipState::kListen);
    CHECK(t.rig.card.ram_report().in_use == t.rig.card.ram_report().idle);
    // And the channel serves the next client.
    t.terminal.channels[1].rx.clear();
    t.terminal.connect(1);
    t.terminal.client_sends(1, kRequest);
    CHECK(t.terminal.channels[1].delivered == kResponse);
  }
}

TEST_CASE("a SEND DATA that fails drops the client with CLOSE CHANNEL 01") {
  ToolkitRig t;
  t.endpoint.response = as_bytes(kResponse);
  t.terminal.start(gateway_profile());
  t.terminal.connect(1);
  t.terminal.override_next = true;
  t.terminal.override_type = cat::CommandType::kSendData;
  t.terminal.override_result = cat::make_result(cat::GeneralResult::kTerminalUnable, 0x00);
  t.terminal.client_sends(1, kRequest);
  CHECK(t.terminal.close_qualifiers == std::vector<u8>{0x01});
  CHECK(t.toolkit.channel_state(1) == BipState::kListen);
  CHECK(t.endpoint.closes[0] == 1);
  CHECK(t.log.contains("result 20 00"));
}

TEST_CASE("OPEN CHANNEL answered 20 is retried after a timer, then given up") {
  ToolkitRig t;
  t.terminal.override_next = true;
  t.terminal.override_type = cat::CommandType::kOpenChannel;
  t.terminal.override_result = cat::make_result(cat::GeneralResult::kTerminalUnable, 0x00);
  t.terminal.start(gateway_profile());
  CHECK(t.toolkit.channels(3516, BipState::kListen) == 0);
  REQUIRE(t.terminal.timer_commands.size() == 1);
  CHECK(t.terminal.timer_commands[0].id == CatToolkit::kRetryTimerId);
  CHECK(t.terminal.timer_commands[0].seconds == CatToolkit::kRetrySeconds);
  // The timer expires: OPEN CHANNEL again, and this time the terminal accepts.
  CHECK(t.terminal.envelope(cat::make_timer_expiration(CatToolkit::kRetryTimerId, cat::TimerValue{0, 0, 5})) == "9114");
  CHECK(t.toolkit.channels(3516, BipState::kListen) == 1);

  SUBCASE("without TIMER MANAGEMENT the port gives up at once") {
    ToolkitRig u;
    u.terminal.override_next = true;
    u.terminal.override_type = cat::CommandType::kOpenChannel;
    u.terminal.override_result = cat::make_result(cat::GeneralResult::kTerminalUnable, 0x00);
    cat::TerminalProfile p = cat::scws_gateway_profile();
    p.timer_management_start_stop = false;
    u.terminal.start(profile_bytes(p));
    CHECK(u.terminal.timer_commands.empty());
    CHECK(u.log.contains("port 3516: no further OPEN CHANNEL this session (result 20 00)"));
  }
}

TEST_CASE("FETCH with the wrong Le gets 6C XX or 67 00 and the command stays pending") {
  ToolkitRig t;
  CHECK(t.rig.sw("8010000011" + std::string(kMinimalProfile)) == "910F");
  CHECK(t.rig.sw("8012000010") == "6C0F");
  CHECK(t.rig.sw("8012000000") == "6C0F");  // Le 00 = 256
  CHECK(t.rig.sw("80120000") == "6700");    // no Le
  CHECK(t.rig.send("801200000F").substr(0, 4) == "D00D");
  // Fetched again (a terminal that lost the response): the same command.
  CHECK(t.rig.send("801200000F").substr(0, 4) == "D00D");
}

TEST_CASE("FETCH and TERMINAL RESPONSE with nothing outstanding answer 69 85") {
  ToolkitRig t;
  CHECK(t.rig.sw("801200000F") == "6985");
  CHECK(t.rig.sw("801400000C810301050082028281830100") == "6985");
  CHECK(t.rig.sw("8010000011" + std::string(kMinimalProfile)) == "910F");
  // Announced but not fetched: a TERMINAL RESPONSE cannot answer it yet.
  CHECK(t.rig.sw("801400000C810301050082028281830100") == "6985");
}

TEST_CASE("a TERMINAL RESPONSE for another command is refused and the outstanding one stays") {
  ToolkitRig t;
  CHECK(t.rig.sw("8010000011" + std::string(kMinimalProfile)) == "910F");
  CHECK(t.rig.send("801200000F").substr(0, 4) == "D00D");
  CHECK(t.rig.sw("801400000C810302050082028281830100") == "6A80");  // wrong number
  CHECK(t.rig.sw("801400000C810301400082028281830100") == "6A80");  // wrong type
  CHECK(t.toolkit.session() == SessionState::kEventsSetUp);
  CHECK(t.rig.sw("801400000C810301050082028281830100") == "9114");  // the right one
  CHECK(t.toolkit.session() == SessionState::kReady);
}

TEST_CASE("malformed TERMINAL RESPONSE and ENVELOPE data get 6700 or 6A80 and change nothing") {
  ToolkitRig t;
  t.endpoint.response = as_bytes(kResponse);
  t.terminal.start(gateway_profile());
  t.terminal.connect(1);
  CHECK(t.rig.send("80C2000010D60E99010982028281B8028100B70123") == "910E");  // RECEIVE DATA pending
  CHECK(t.rig.send("801200000E").substr(0, 4) == "D00C");
  const std::vector<Step> bad = {
      {"80140000", "6700", "TERMINAL RESPONSE without data (TS 102 221 10.2.1)"},
      {"8014000003810501", "6700", "TLV running past the data"},
      {"8014000006810301420082", "6700", "TLV cut short"},
      {"80140000078202828183 0100", "6A80", "no command details"},
      {"801400000C810309420082028281830100", "6A80", "a command number that is not outstanding"},
      {"80C20000", "6700", "ENVELOPE without data"},
      {"80C2000003D60599", "6700", "envelope TLV past the data"},
      {"80C2000005D6038201 00", "6A80", "device identities of one byte"},
      {"80C2000008D60699010A820282", "6700", "inner TLV past the data"},
      {"80C2000009D607990109820282 81", "6A80", "data available without channel status"},
      {"80C2000004D3020101", "6A80", "an envelope type the card does not know"},
  };
  for (const Step& s : bad) {
    CAPTURE(s.source);
    std::string cmd;
    for (char c : s.command)
      if (c != ' ') cmd.push_back(c);
    CHECK(t.rig.sw(cmd) == s.response);
  }
  CHECK(t.toolkit.channel_state(1) == BipState::kReceiving);
  CHECK(t.toolkit.queued_events() == 0);
  // The right TERMINAL RESPONSE still completes the exchange.
  // Command 04: SET UP EVENT LIST, OPEN CHANNEL and the deadline timer's idle period came first.
  t.terminal.last = t.rig.send("8014000034810304420082028281830100B623" + hex_of(kRequest) + "B70100");
  t.terminal.run();
  CHECK(t.terminal.channels[1].delivered == kResponse);
}

TEST_CASE("events wait while a proactive command is outstanding and a full queue answers 93 00") {
  ToolkitRig t(7);
  t.endpoint.response = as_bytes(kResponse);
  t.terminal.start(gateway_profile());
  t.terminal.connect(1);
  // A RECEIVE DATA is announced but the terminal sends more events first.
  CHECK(t.rig.sw("80C2000010D60E99010982028281B8028100B70123") == "910E");
  const char* const established[] = {"80C200000DD60B99010A82028281B8028200", "80C200000DD60B99010A82028281B8028300",
                                     "80C200000DD60B99010A82028281B8028400", "80C200000DD60B99010A82028281B8028500"};
  for (const char* e : established) CHECK(t.rig.sw(e) == "910E");  // accepted, queued
  CHECK(t.toolkit.queued_events() == CatToolkit::kEventQueueSize);
  CHECK(t.rig.sw("80C200000DD60B99010A82028281B8028600") == "9300");  // SIM toolkit busy
  CHECK(t.toolkit.channel_state(2) == BipState::kListen);             // nothing applied yet
  // The terminal fetches and answers: the queued events are applied in order.
  for (u8 ch = 2; ch <= 5; ++ch) t.terminal.channels[ch].established = true;
  t.terminal.channels[1].rx = kRequest;
  t.terminal.last = "910E";
  t.terminal.run();
  CHECK(t.toolkit.queued_events() == 0);
  for (u8 ch = 2; ch <= 5; ++ch) CHECK(t.toolkit.channel_state(ch) == BipState::kEstablished);
  CHECK(t.toolkit.channel_state(6) == BipState::kListen);
  CHECK(t.terminal.channels[1].delivered == kResponse);
  // The refused envelope is simply sent again.
  CHECK(t.terminal.connect(6) == "9000");
  CHECK(t.toolkit.channel_state(6) == BipState::kEstablished);
}

namespace {
struct RecordingListener final : TimerListener {
  void timer_expired(u8 id) noexcept override { fired.push_back(id); }
  std::vector<u8> fired;
};
}  // namespace

TEST_CASE("timers start and stop with TIMER MANAGEMENT and expirations reach the listener") {
  ToolkitRig t;
  RecordingListener listener;
  t.terminal.start(gateway_profile());
  REQUIRE(t.toolkit.start_timer(3, 90, listener).ok());
  CHECK(t.toolkit.start_timer(8, 1, listener).error() == ToolkitError::kInvalidArgument);  // the toolkit's own
  CHECK(t.toolkit.start_timer(0, 1, listener).error() == ToolkitError::kInvalidArgument);
  t.toolkit.wake();
  t.terminal.last = t.rig.send("80F2000C");
  t.terminal.run();
  REQUIRE(t.terminal.timer_commands.size() == 1);
  CHECK(t.terminal.timer_commands[0].id == 3);
  CHECK(t.terminal.timer_commands[0].action == cat::qualifier::kTimerStart);
  CHECK(t.terminal.timer_commands[0].seconds == 90);
  CHECK(t.toolkit.timer_state(3) == TimerState::kRunning);
  // Expiration (TS 102 223 7.4): the listener hears of it once.
  CHECK(t.terminal.envelope(cat::make_timer_expiration(3, cat::TimerValue{0, 1, 30})) == "9000");
  CHECK(listener.fired == std::vector<u8>{3});
  CHECK(t.toolkit.timer_state(3) == TimerState::kIdle);
  CHECK(t.terminal.envelope(cat::make_timer_expiration(3, cat::TimerValue{0, 1, 30})) == "9000");
  CHECK(listener.fired.size() == 1);
  // Stop: a deactivate command; an expiration racing it is not reported.
  REQUIRE(t.toolkit.start_timer(4, 5, listener).ok());
  t.toolkit.wake();
  t.terminal.last = t.rig.send("80F2000C");
  t.terminal.run();
  REQUIRE(t.toolkit.stop_timer(4).ok());
  t.toolkit.wake();
  t.terminal.last = t.rig.send("80F2000C");
  t.terminal.run();
  REQUIRE(t.terminal.timer_commands.size() == 3);
  CHECK(t.terminal.timer_commands[2].action == cat::qualifier::kTimerDeactivate);
  CHECK(t.toolkit.timer_state(4) == TimerState::kIdle);
  CHECK(t.terminal.envelope(cat::make_timer_expiration(4, cat::TimerValue{0, 0, 5})) == "9000");
  CHECK(listener.fired.size() == 1);
}

TEST_CASE("timers are refused when the terminal profile has no TIMER MANAGEMENT") {
  ToolkitRig t;
  RecordingListener listener;
  cat::TerminalProfile p = cat::scws_gateway_profile();
  p.timer_management_start_stop = false;
  REQUIRE(t.toolkit.start_timer(2, 10, listener).ok());  // before the profile: kept
  t.terminal.start(profile_bytes(p));
  CHECK(t.terminal.timer_commands.empty());
  CHECK(t.log.contains("timer 2 dropped"));
  CHECK(t.toolkit.start_timer(2, 10, listener).error() == ToolkitError::kNotSupported);
}

TEST_CASE("an endpoint refusing the connection gets the client dropped with CLOSE CHANNEL 01") {
  ToolkitRig t;
  t.endpoint.refuse_open = true;
  t.terminal.start(gateway_profile());
  t.terminal.connect(1);
  CHECK(t.terminal.close_qualifiers == std::vector<u8>{0x01});
  CHECK(t.toolkit.channel_state(1) == BipState::kListen);
  CHECK(t.endpoint.closes[0] == 0);  // never opened
  CHECK(t.rig.card.ram_report().in_use == t.rig.card.ram_report().idle);
}

TEST_CASE("a stalled endpoint gets its client dropped instead of wedging the channel") {
  ToolkitRig t;
  t.endpoint.stall = true;
  t.endpoint.close_after_response = false;
  t.terminal.start(gateway_profile());
  t.terminal.connect(1);
  t.terminal.client_sends(1, kRequest);
  CHECK(t.log.contains("endpoint stalled"));
  CHECK(t.toolkit.channel_state(1) == BipState::kListen);
  CHECK(t.endpoint.closes[0] == 1);
}

TEST_CASE("channel status CLOSED from the terminal frees the slot and the port is not reopened by itself") {
  ToolkitRig t;
  t.terminal.start(gateway_profile());
  t.terminal.connect(1);
  t.terminal.channels[1] = MiniTerminal::Channel{};
  CHECK(t.terminal.envelope(cat::make_channel_status_event(cat::server_channel_status(1, cat::ServerState::kClosed))) ==
        "9000");
  CHECK(t.toolkit.channel_state(1) == BipState::kClosed);
  CHECK(t.toolkit.channels(3516, BipState::kListen) == 0);
  CHECK(t.endpoint.closes[0] == 1);
  CHECK(t.rig.card.ram_report().in_use == t.rig.card.ram_report().idle);
}

TEST_CASE("a reset forgets the unanswered proactive command and the whole CAT session") {
  ToolkitRig t;
  t.endpoint.response = as_bytes(kResponse);
  t.terminal.start(gateway_profile());
  t.terminal.connect(1);
  CHECK(t.rig.sw("80C2000010D60E99010982028281B8028100B70123") == "910E");
  REQUIRE(t.rig.card.reset().ok());
  CHECK(t.toolkit.session() == SessionState::kNoProfile);
  CHECK(t.toolkit.channel_state(1) == BipState::kClosed);
  CHECK(t.rig.sw("801200000E") == "6985");
  CHECK(t.rig.card.ram_report().in_use == t.rig.card.ram_report().idle);
  // The port registration survived: a new session opens it again.
  MiniTerminal again(t.rig);
  again.start(gateway_profile());
  CHECK(t.toolkit.channels(3516, BipState::kListen) == 1);
}

TEST_CASE("a second TERMINAL PROFILE restarts the session and closes open connections") {
  ToolkitRig t;
  t.terminal.start(gateway_profile());
  t.terminal.connect(1);
  CHECK(t.toolkit.connected_clients() == 1);
  MiniTerminal again(t.rig);
  again.start(gateway_profile());
  CHECK(t.endpoint.closes[0] == 1);
  CHECK(t.log.contains("new TERMINAL PROFILE"));
  CHECK(t.toolkit.channels(3516, BipState::kListen) == 1);
  CHECK(t.rig.card.ram_report().in_use == t.rig.card.ram_report().idle);
}

TEST_CASE("add_server_port validates its arguments and updates an existing port") {
  CatToolkit toolkit;
  ScriptedEndpoint ep;
  CHECK(toolkit.add_server_port(0, 1400, ep, 1).error() == ToolkitError::kInvalidArgument);
  CHECK(toolkit.add_server_port(3516, 0, ep, 1).error() == ToolkitError::kInvalidArgument);
  CHECK(toolkit.add_server_port(3516, 1400, ep, 0).error() == ToolkitError::kInvalidArgument);
  CHECK(toolkit.add_server_port(3516, 1400, ep, 8).error() == ToolkitError::kInvalidArgument);
  CHECK(toolkit.add_server_port(3516, 1400, ep, 1).ok());
  CHECK(toolkit.add_server_port(3516, 1500, ep, 2).ok());  // the same port again: updated
  CHECK(toolkit.add_server_port(10443, 1400, ep, 1).ok());
  CHECK(toolkit.add_server_port(4116, 1400, ep, 1).ok());
  CHECK(toolkit.add_server_port(8080, 1400, ep, 1).ok());
  CHECK(toolkit.add_server_port(8081, 1400, ep, 1).error() == ToolkitError::kTableFull);
}

TEST_CASE("two ports share the terminal's channels") {
  CardRig rig;
  CatToolkit toolkit;
  ScriptedEndpoint http, tls;
  REQUIRE(toolkit.add_server_port(3516, 1400, http, 4).ok());
  REQUIRE(toolkit.add_server_port(10443, 1400, tls, 4).ok());
  REQUIRE(rig.card.set_toolkit(toolkit));
  rig.power_on();
  MiniTerminal terminal(rig);
  terminal.start(gateway_profile());
  CHECK(toolkit.channels(3516, BipState::kListen) == 4);
  CHECK(toolkit.channels(10443, BipState::kListen) == 3);
  std::size_t on_10443 = 0;
  for (u8 ch = 1; ch <= 7; ++ch)
    if (terminal.channels[ch].port == 10443) ++on_10443;
  CHECK(on_10443 == 3);
}
