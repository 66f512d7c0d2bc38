// The CAT terminal against a scripted card, a fake connector and a clock that moves only when the
// test moves it: every proactive command with its TERMINAL RESPONSE bytes, every ENVELOPE with its
// bytes, and every poll, retry and timer at the instant it is due. Byte vectors cite the clauses of
// ETSI TS 102 223 that define them (the command in 6.6.x, the response in 6.8, objects in 8.x).
#include "sim/handset/cat_terminal.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include "apdu/command_apdu.hpp"
#include "apdu/envelope.hpp"
#include "apdu/proactive_command.hpp"
#include "apdu/terminal_profile.hpp"
#include "apdu/terminal_response.hpp"
#include "base/hex_text.hpp"
#include "tests/apdu/bytes_util.hpp"
#include "tests/sim/handset/scripted_card.hpp"
#include "tests/sim/handset/terminal_rig.hpp"

namespace scws::sim {
namespace {

namespace cat = apdu::cat;
using namespace std::chrono_literals;
using scws::test::hex;
using test::FakePeer;
using test::ScriptedCard;
using test::TerminalRig;

Bytes text_bytes(std::string_view s) { return Bytes(reinterpret_cast<const u8*>(s.data()), s.size()); }

struct Rig {
  explicit Rig(const std::function<void(TerminalOptions&)>& tune = {}) : t(card, tune) {}

  void start() {
    t.terminal->start();
    t.settle();
    REQUIRE(t.terminal->card_session_active());
  }
  // Queues a command; the terminal finds it at its next STATUS poll. Returns its TERMINAL RESPONSE.
  std::string command(const cat::ProactiveCommand& c) { return command_bytes(test::build(c)); }
  std::string command_bytes(std::vector<u8> d0) {
    const std::size_t before = card.responses.size();
    card.proactive.push_back(std::move(d0));
    t.advance_until([&] { return card.responses.size() > before; }, 24h, "the terminal response");
    return hex_text(card.responses[before]);
  }
  void subscribe() { REQUIRE(command(cat::make_set_up_event_list(1, Bytes(kEvents))) == "810301050082028281830100"); }
  // Opens a server channel on 3516 and returns its identifier.
  u8 open(u8 number, u16 buffer = 1400, u16 port = 3516) {
    auto r = cat::parse_terminal_response(hex(command(cat::make_open_channel_server(number, buffer, port))));
    REQUIRE(r.ok());
    REQUIRE(r->channel_status_count == 1);
    return r->channel_status[0].channel_id();
  }
  // A client on card port 3516, attached to whichever channel asked first.
  std::shared_ptr<FakePeer> client(u16 port = 3516) {
    auto p = t.connector.connect(port);
    t.settle();
    return p;
  }
  [[nodiscard]] std::size_t envelopes() const { return card.envelopes.size(); }
  [[nodiscard]] std::string envelope(std::size_t i) const { return hex_text(card.envelopes.at(i)); }
  CatTerminal& terminal() { return *t.terminal; }

  static constexpr u8 kEvents[] = {0x09, 0x0A};  // Data available, Channel status (TS 102 223 8.25)
  ScriptedCard card;
  TerminalRig t;
};

cat::ResultValue result_of(const std::string& tr_hex) {
  auto r = cat::parse_terminal_response(hex(tr_hex));
  REQUIRE(r.ok());
  return r->result;
}

// ---------------------------------------------------------------------------------------------------
// TERMINAL PROFILE

TEST_CASE("terminal profile claims exactly what the terminal handles, byte by byte (TS 102 223 5.2)") {
  u8 bytes[cat::kTerminalProfileMaxSize];
  auto n = cat::build_terminal_profile(cat_terminal_profile(), MutableBytes(bytes));
  REQUIRE(n.ok());
  const std::string expected =
      "21"  // 1: b1 profile download, b6 timer expiration (ENVELOPE D7); no SMS-PP, CB, menu download
      "01"  // 2: b1 command result (a Result in every TERMINAL RESPONSE); no call control, no UCS2 input
      "69"  // 3: b1 DISPLAY TEXT, b4 MORE TIME, b6 POLL INTERVAL, b7 POLLING OFF; no GET INKEY/INPUT, PLAY TONE, REFRESH
      "00"  // 4: no SELECT ITEM, SEND SHORT MESSAGE/SS/USSD, SET UP CALL/MENU, location or NMR information
      "01"  // 5: b1 SET UP EVENT LIST; no call, location, user activity, idle screen or reader events
      "0C"  // 6: b3 event Data available, b4 event Channel status
      "00"  // 7: no card reader commands
      "07"  // 8: b1 TIMER MANAGEMENT start/stop, b2 get value, b3 PROVIDE LOCAL INFORMATION date, time, zone
      "00"  // 9: no variable-timeout DISPLAY TEXT, DTMF, language, timing advance, LAUNCH BROWSER
      "00"  // 10: no soft keys
      "00"  // 11: no soft keys
      "1F"  // 12: b1..b5 OPEN CHANNEL, CLOSE CHANNEL, RECEIVE DATA, SEND DATA, GET CHANNEL STATUS
      "E0"  // 13: b8..b6 seven channels; no bearer (server mode uses none)
      "00"  // 14: screen height: no screen
      "00"  // 15: screen width
      "00"  // 16: no screen effects
      "05"; // 17: b1 TCP client mode, remote (the TCP client connector), b3 TCP in UICC server mode
  CHECK(hex_text(Bytes(bytes, *n)) == expected);

  const cat::TerminalProfile p = cat_terminal_profile();
  CHECK(cat::supports_bip_server_mode(p));  // what the card's toolkit needs before it opens a channel
  CHECK_FALSE(p.sms_pp_data_download);      // no SMS-PP path yet
  CHECK_FALSE(p.send_short_message);        // answered 30
  CHECK(cat::supports_bip_client_mode(p));  // the card's admin session can open its client channel
  CHECK_FALSE(p.udp_client_remote);         // UDP and local client modes: answered 30
}

TEST_CASE("terminal sends its profile first, in the TERMINAL PROFILE command (TS 102 221 10.1.2)") {
  Rig rig;
  rig.start();
  REQUIRE(rig.card.commands.size() == 1);
  CHECK(hex_text(rig.card.commands[0]) == "8010000011" "21016900010C0007000000" "1FE000000005");
  CHECK(rig.terminal().stats().sessions == 1);
  CHECK(rig.t.logged("card session 1 on scripted card: TERMINAL PROFILE 21016900010C00070000001FE000000005 -> 9000"));
}

// ---------------------------------------------------------------------------------------------------
// SET UP EVENT LIST (6.4.16)

TEST_CASE("terminal answers SET UP EVENT LIST 09 0A with OK and subscribes to both events") {
  Rig rig;
  rig.start();
  // 6.6.16: D0 0D 81 03 01 05 00 82 02 81 82 99 02 09 0A
  CHECK(rig.command_bytes(hex("D00D8103010500820281829902090A")) == "810301050082028281830100");
  CHECK(rig.terminal().events() == std::vector<cat::Event>{cat::Event::kDataAvailable, cat::Event::kChannelStatus});
}

TEST_CASE("terminal refuses an event it cannot report (30) and keeps the old list") {
  Rig rig;
  rig.start();
  rig.subscribe();
  const u8 idle_screen[] = {0x05};
  CHECK(rig.command(cat::make_set_up_event_list(2, Bytes(idle_screen))) == "810302050082028281830130");
  CHECK(rig.terminal().events().size() == 2);
}

TEST_CASE("terminal sends only the events the card subscribed to") {
  Rig rig;
  rig.start();
  const u8 status_only[] = {0x0A};
  rig.command(cat::make_set_up_event_list(1, Bytes(status_only)));
  rig.open(2);
  auto c = rig.client();
  c->say("data nobody announces");
  rig.t.settle();
  CHECK(rig.terminal().channels()[0].rx_bytes == 21);
  CHECK(rig.envelopes() == 1);  // the ESTABLISHED one only
}

// ---------------------------------------------------------------------------------------------------
// OPEN CHANNEL, server mode (6.4.27)

TEST_CASE("terminal opens a server channel through the connector and answers LISTEN with the buffer") {
  Rig rig;
  rig.start();
  rig.subscribe();
  // 6.6.27: D0 12 81 03 02 40 00 82 02 81 82 39 02 05 78 3C 03 03 0D BC (buffer 1400, port 3516)
  CHECK(rig.command_bytes(hex("D012810302400082028182390205783C03030DBC")) == "8103024000820282818301003802410039020578");
  CHECK(rig.t.connector.calls == std::vector<std::string>{"open 1 3516", "accept 1"});
  CHECK(rig.t.logged("channel 1 listening on 127.0.0.1:3516 (card port 3516, buffer 1400)"));
  auto chans = rig.terminal().channels();
  REQUIRE(chans.size() == 1);
  CHECK(chans[0].state == cat::ServerState::kListen);
  CHECK(chans[0].buffer_size == 1400);
  CHECK(chans[0].local_port == 3516);
}

TEST_CASE("terminal reduces a buffer larger than it grants and answers 07 with the granted size") {
  Rig rig([](TerminalOptions& o) { o.max_buffer_size = 4096; });
  rig.start();
  // 8.55: 39 02 10 00 = 4096; 8.12: result 07 performed with modification.
  CHECK(rig.command(cat::make_open_channel_server(2, 60000, 3516)) == "8103024000820282818301073802410039021000");
}

TEST_CASE("terminal answers OPEN CHANNEL with BIP errors and a CLOSED status when it cannot open") {
  Rig rig;
  rig.start();
  SUBCASE("port not available (3A 10) when the connector cannot listen") {
    rig.t.connector.refused_ports.insert(3516);
    CHECK(rig.command(cat::make_open_channel_server(2, 1400, 3516)) == "81030240008202828183023A103802" "0000");
    CHECK(rig.terminal().channels().empty());
    CHECK(rig.t.logged("OPEN CHANNEL: cannot listen on 127.0.0.1:3516 (card port 3516): Address already in use"));
  }
  SUBCASE("no channel available beyond 7 (3A 01)") {
    for (u8 i = 0; i < 7; ++i) CHECK(rig.open(static_cast<u8>(2 + i)) == i + 1);
    CHECK(rig.command(cat::make_open_channel_server(9, 1400, 3516)) == "81030940008202828183023A013802" "0000");
  }
  SUBCASE("a TCP client mode no connector serves: beyond the terminal's capabilities (30)") {
    const u8 bearer[] = {cat::bearer::kDefault};
    const u8 ip[] = {127, 0, 0, 1};
    auto c = cat::make_open_channel_tcp_client(2, Bytes(bearer), 1400, 443,
                                               cat::OtherAddress{true, cat::address_type::kIpv4, Bytes(ip)});
    CHECK(rig.command(c) == "810302400182028281830130");
  }
}

TEST_CASE("halt from inside a connector call lets the card have its answer, then nothing more runs") {
  Rig rig;
  rig.start();
  rig.t.connector.refused_ports.insert(3516);
  rig.t.connector.on_refused = [&] { rig.terminal().halt(); };
  rig.card.queue(cat::make_open_channel_server(1, 1400, 3516));
  rig.card.queue(cat::make_get_channel_status(2));
  rig.t.advance_until([&] { return rig.card.responses.size() == 1; }, 2s, "the OPEN CHANNEL response");
  CHECK(hex_text(rig.card.responses[0]) == "81030140008202828183023A103802" "0000");
  CHECK_FALSE(rig.t.terminal->next_wakeup().has_value());
  rig.t.clock.advance(1h);
  rig.t.terminal->run_due();
  CHECK(rig.card.responses.size() == 1);  // GET CHANNEL STATUS was never fetched
}

// ---------------------------------------------------------------------------------------------------
// a client's life on a channel: ESTABLISHED, Data available, RECEIVE DATA, SEND DATA, CLOSE CHANNEL

TEST_CASE("terminal relays one HTTP exchange as the SCWS sees it over BIP") {
  Rig rig;
  rig.start();
  rig.subscribe();
  REQUIRE(rig.open(2) == 1);
  auto client = rig.client();
  REQUIRE(client->channel == 1);
  // 7.5.11: Channel status event, channel 1 TCP in ESTABLISHED state (8.56: 81 00).
  REQUIRE(rig.envelopes() == 1);
  CHECK(rig.envelope(0) == "D60B99010A82028281B8028100");

  const std::string request = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";  // 35 bytes
  client->say(request);
  rig.t.settle();
  // 7.5.10: Data available, channel 1, 35 bytes in the Rx buffer (8.54: B7 01 23).
  REQUIRE(rig.envelopes() == 2);
  CHECK(rig.envelope(1) == "D60E99010982028281B8028100B70123");

  // 6.6.29: D0 0C 81 03 02 42 00 82 02 81 21 B7 01 23 -> the 35 bytes, none left (B7 01 00).
  CHECK(rig.command_bytes(hex("D00C810302420082028121B70123")) ==
        "810302420082028281830100B623" + hex_text(text_bytes(request)) + "B70100");

  const std::string reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK";
  // 6.6.30, send immediately: the reply goes out; more than 255 bytes of Tx space free (B7 01 FF).
  CHECK(rig.command(cat::make_send_data(3, 1, true, text_bytes(reply))) == "810303430182028281830100B701FF");
  CHECK(client->text() == reply);

  // 6.6.28 with qualifier 01 (8.6): drop the client in order, listen again.
  CHECK(rig.command_bytes(hex("D009810304410182028121")) == "810304410182028281830100");
  CHECK(client->eof);
  CHECK_FALSE(client->reset);
  auto chans = rig.terminal().channels();
  REQUIRE(chans.size() == 1);
  CHECK(chans[0].state == cat::ServerState::kListen);
  CHECK(rig.t.connector.asked(1));
  CHECK(rig.envelopes() == 2);  // the card closed it: no Channel status event for that
}

TEST_CASE("terminal answers RECEIVE DATA asking for more than is buffered with what there is and result 02") {
  Rig rig;
  rig.start();
  rig.subscribe();
  rig.open(2);
  auto client = rig.client();
  client->say("hello");
  rig.t.settle();
  // 6.4.29: fewer bytes than asked -> 02 performed with missing information.
  CHECK(rig.command(cat::make_receive_data(3, 1, 200)) == "810303420082028281830102B60568656C6C6FB70100");
}

TEST_CASE("terminal keeps the Rx buffer within the channel buffer and a large request arrives intact") {
  Rig rig;
  rig.start();
  rig.subscribe();
  rig.open(2, 300);
  auto client = rig.client();
  std::vector<u8> body(20000);
  for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<u8>(i * 7 + i / 251);
  client->say(Bytes(body));
  // The card drains as a card does: on Data available ask for min(length, 237); while a response says
  // more remains, ask again.
  std::vector<u8> got;
  u8 number = 0x30;
  rig.card.on_envelope = [&](const cat::Envelope& e) {
    if (e.event == cat::Event::kDataAvailable) rig.card.queue(cat::make_receive_data(number++, 1, std::min<u8>(e.channel_data_length, 237)));
  };
  std::size_t most = 0;
  rig.card.on_response = [&](const cat::TerminalResponse& r) {
    for (const auto& c : rig.terminal().channels()) most = std::max(most, c.rx_bytes);
    if (r.details.type != cat::CommandType::kReceiveData) return;
    if (r.channel_data.present) got.insert(got.end(), r.channel_data.value.begin(), r.channel_data.value.end());
    if (r.has_channel_data_length && r.channel_data_length > 0)
      rig.card.queue(cat::make_receive_data(number++, 1, std::min<u8>(r.channel_data_length, 237)));
  };
  rig.t.settle();
  CHECK(got == body);
  CHECK(most <= 300);
  for (const auto& r : rig.card.responses) CHECK(r.size() <= 255);
}

TEST_CASE("terminal stores SEND DATA pieces and hands them to the peer with the immediate one, in order") {
  Rig rig;
  rig.start();
  rig.subscribe();
  rig.open(2);
  auto client = rig.client();
  std::string expected;
  for (u8 i = 0; i < 5; ++i) {
    const std::string piece(240, static_cast<char>('a' + i));
    expected += piece;
    auto r = cat::parse_terminal_response(
        hex(rig.command(cat::make_send_data(static_cast<u8>(3 + i), 1, i == 4, text_bytes(piece)))));
    REQUIRE(r.ok());
    CHECK(r->result.general == cat::GeneralResult::kOk);
    // 6.4.30: the Tx space left, 1400 - 240 x (i + 1) while stored, all of it once sent (FF: > 255).
    const std::size_t free = i == 4 ? 1400 : 1400 - 240 * (i + 1u);
    CHECK(r->channel_data_length == (free > 255 ? 0xFF : free));
    CHECK(client->inbox.size() == (i == 4 ? expected.size() : 0));
  }
  CHECK(client->text() == expected);
}

TEST_CASE("terminal holds FETCH while a peer reads slowly and goes on when the connector drained it") {
  Rig rig;
  rig.start();
  rig.subscribe();
  rig.open(2);
  auto client = rig.client();
  rig.t.connector.hold_tx = true;
  const std::vector<u8> chunk(240, 'x');
  for (int i = 0; i < 288; ++i) rig.card.queue(cat::make_send_data(static_cast<u8>(i), 1, true, Bytes(chunk)));
  rig.t.advance_until([&] { return rig.terminal().channels()[0].tx_bytes > 64 * 1024; }, 10s, "a full Tx backlog");
  const std::size_t fetched = rig.card.responses.size();
  // Saturated: nothing is due, whatever the time (the next poll would only come after a STATUS).
  const auto at = rig.t.terminal->next_wakeup();
  CHECK((!at || *at > rig.t.clock.now()));
  rig.t.settle();
  CHECK(rig.card.responses.size() == fetched);
  const int wakes = rig.t.wakes;
  rig.t.connector.drain(1);
  CHECK(rig.t.wakes == wakes + 1);  // the driver is told to run the terminal again
  rig.t.settle();
  CHECK(rig.card.responses.size() > fetched);
}

TEST_CASE("terminal sends Channel status LISTEN when the client leaves and gives the channel to the next one") {
  Rig rig;
  rig.start();
  rig.subscribe();
  rig.open(2);
  auto first = rig.client();
  first->close_when_sent = true;  // nothing to say: it closes at once
  rig.t.settle();
  REQUIRE(rig.envelopes() == 2);
  CHECK(rig.envelope(1) == "D60B99010A82028281B8024100");  // 7.5.11: channel 1 back in LISTEN (41 00)
  CHECK(first->reset);                                   // closed at once, nothing left to flush
  auto second = rig.client();
  REQUIRE(rig.envelopes() == 3);
  CHECK(rig.envelope(2) == "D60B99010A82028281B8028100");
  CHECK(second->channel == 1);
}

TEST_CASE("a client that closes with bytes unread leaves once the card has drained them") {
  Rig rig;
  rig.start();
  rig.subscribe();
  rig.open(2);
  auto client = rig.client();
  client->say("bye");
  client->close_when_sent = true;
  rig.t.settle();
  CHECK(rig.envelopes() == 2);  // ESTABLISHED, Data available: still ESTABLISHED
  CHECK(rig.command(cat::make_receive_data(3, 1, 3)) == "810303420082028281830100B603627965B70100");
  rig.t.settle();
  REQUIRE(rig.envelopes() == 3);
  CHECK(rig.envelope(2) == "D60B99010A82028281B8024100");
  // Nothing left and nobody there: channel closed (3A 02).
  CHECK(rig.command(cat::make_receive_data(4, 1, 3)) == "81030442008202828183023A02");
}

TEST_CASE("a client dropped by the network leaves at once, its unread bytes with it") {
  Rig rig;
  rig.start();
  rig.subscribe();
  rig.open(2);
  auto client = rig.client();
  client->say("half a request");
  rig.t.settle();
  rig.t.connector.drop(1);
  rig.t.settle();
  CHECK(rig.terminal().channels()[0].state == cat::ServerState::kListen);
  CHECK(rig.terminal().channels()[0].rx_bytes == 0);
  CHECK(rig.envelope(rig.envelopes() - 1) == "D60B99010A82028281B8024100");
}

TEST_CASE("two channels share a port and an extra client waits until one is free again") {
  Rig rig;
  rig.start();
  rig.subscribe();
  REQUIRE(rig.open(2) == 1);
  REQUIRE(rig.open(3) == 2);
  auto a = rig.client();
  auto b = rig.client();
  auto c = rig.client();
  CHECK(a->channel == 1);
  CHECK(b->channel == 2);
  CHECK(c->channel == 0);  // waits: no channel asked for a client
  CHECK(rig.t.connector.backlog(3516) == 1);
  CHECK(rig.terminal().stats().clients_accepted == 2);
  c->say("from c");
  a->say("from a");
  rig.t.settle();
  CHECK(rig.envelope(2) == "D60E99010982028281B8028100B70106");  // a's 6 bytes on channel 1
  CHECK(result_of(rig.command(cat::make_close_channel(4, 1, true))).general == cat::GeneralResult::kOk);
  rig.t.settle();
  CHECK(c->channel == 1);
  CHECK(rig.envelope(3) == "D60B99010A82028281B8028100");       // channel 1 established again, for c
  CHECK(rig.envelope(4) == "D60E99010982028281B8028100B70106");  // c's bytes, not a's
  CHECK(rig.command(cat::make_receive_data(5, 1, 6)) ==
        "810305420082028281830100B606" + hex_text(text_bytes("from c")) + "B70100");
}

TEST_CASE("CLOSE CHANNEL 00 closes the channel and its connector side; the identifier is then unknown") {
  Rig rig;
  rig.start();
  rig.subscribe();
  rig.open(2);
  rig.open(3);
  // 6.6.28: D0 09 81 03 04 41 00 82 02 81 21
  CHECK(rig.command_bytes(hex("D009810304410082028121")) == "810304410082028281830100");
  CHECK(rig.t.connector.listening.count(3516) == 1);  // channel 2 still uses the port
  CHECK(rig.command(cat::make_close_channel(5, 2, false)) == "810305410082028281830100");
  CHECK(rig.t.connector.listening.empty());
  CHECK(rig.terminal().channels().empty());
  CHECK(rig.t.logged("channel 2 closed (card port 3516)"));
  // 8.12.11: channel identifier not valid.
  CHECK(rig.command(cat::make_close_channel(6, 1, false)) == "81030641008202828183023A03");
}

TEST_CASE("terminal answers RECEIVE and SEND DATA on unusable channels with their BIP causes") {
  Rig rig;
  rig.start();
  rig.subscribe();
  SUBCASE("channel identifier not valid (3A 03)") {
    CHECK(rig.command(cat::make_receive_data(2, 5, 10)) == "81030242008202828183023A03");
    CHECK(rig.command(cat::make_send_data(3, 3, true, Bytes(Rig::kEvents))) == "81030343018202828183023A03");
  }
  SUBCASE("channel without a client (3A 02)") {
    rig.open(2);
    CHECK(rig.command(cat::make_send_data(3, 1, true, Bytes(Rig::kEvents))) == "81030343018202828183023A02");
    CHECK(rig.command(cat::make_receive_data(4, 1, 10)) == "81030442008202828183023A02");
  }
}

TEST_CASE("GET CHANNEL STATUS lists every open channel, and 00 00 when there is none (6.4.31)") {
  Rig rig;
  rig.start();
  rig.subscribe();
  // 6.6.31: D0 09 81 03 02 44 00 82 02 81 82
  CHECK(rig.command_bytes(hex("D009810302440082028182")) == "810302440082028281830100B8020000");
  rig.open(3);
  rig.open(4);
  rig.client();
  CHECK(rig.command(cat::make_get_channel_status(5)) == "810305440082028281830100B8028100B8024200");
}

// ---------------------------------------------------------------------------------------------------
// envelopes the card is too busy for

TEST_CASE("terminal retries an ENVELOPE answered 93 00 after 5, 10, 20 ms and keeps the order of events") {
  Rig rig;
  rig.start();
  rig.subscribe();
  rig.open(2);
  rig.card.busy = 3;
  auto client = rig.client();
  client->say("abc");
  rig.t.settle();
  CHECK(rig.card.busy_answers == 1);
  const auto t0 = rig.t.clock.now();
  for (auto delay : {5ms, 10ms, 20ms}) {
    REQUIRE(rig.t.terminal->next_wakeup() == rig.t.clock.now() + delay);  // TS 102 221 10.2.1.1: later
    rig.t.advance();
  }
  CHECK(rig.t.clock.now() - t0 == 35ms);
  CHECK(rig.card.busy_answers == 3);
  REQUIRE(rig.envelopes() == 2);
  CHECK(rig.envelope(0) == "D60B99010A82028281B8028100");
  CHECK(rig.envelope(1) == "D60E99010982028281B8028100B70103");
  CHECK(rig.terminal().stats().envelope_busy == 3);
}

TEST_CASE("terminal drops an ENVELOPE the card stays busy for, after the retry limit") {
  Rig rig([](TerminalOptions& o) { o.envelope_retry_limit = 2; });
  rig.start();
  rig.subscribe();
  rig.open(2);
  rig.card.busy = 100;
  rig.client();
  rig.t.advance_until([&] { return rig.card.busy_answers == 3; }, 1s, "three 93 00");
  rig.t.settle();
  CHECK(rig.t.logged("card stayed busy: dropping ENVELOPE D60B99010A82028281B8028100"));
  CHECK(rig.envelopes() == 0);
}

// ---------------------------------------------------------------------------------------------------
// TIMER MANAGEMENT (6.4.21) and Timer expiration (7.4)

TEST_CASE("terminal runs TIMER MANAGEMENT timers on its clock and sends Timer expiration when one runs out") {
  Rig rig;
  rig.start();
  // All five in one proactive session, at one instant.
  rig.card.queue(cat::make_timer_get_value(2, 3));
  rig.card.queue(cat::make_timer_start(3, 3, cat::TimerValue{0, 0, 1}));
  rig.card.queue(cat::make_timer_start(4, 5, cat::TimerValue{1, 0, 0}));
  rig.card.queue(cat::make_timer_get_value(5, 5));
  rig.card.queue(cat::make_timer_deactivate(6, 5));
  rig.t.advance_until([&] { return rig.card.responses.size() == 5; }, 2s, "five responses");
  const auto started = rig.t.clock.now();
  CHECK(hex_text(rig.card.responses[0]) == "810302270282028281830124");  // 8.12: 24 timer state conflict
  CHECK(hex_text(rig.card.responses[1]) == "810303270082028281830100A40103");
  CHECK(hex_text(rig.card.responses[2]) == "810304270082028281830100A40105");
  // 8.38: 01 00 00 left, nibbles swapped: 10 00 00.
  CHECK(hex_text(rig.card.responses[3]) == "810305270282028281830100A40105A503100000");
  CHECK(hex_text(rig.card.responses[4]) == "810306270182028281830100A40105A503100000");
  // Timer 3 expires exactly 1 s later: 7.4 Timer expiration, timer 3, 1 s elapsed (A5 03 00 00 10).
  REQUIRE(rig.t.terminal->next_wakeup() == started + 1s);
  rig.t.advance();
  REQUIRE(rig.envelopes() == 1);
  CHECK(rig.envelope(0) == "D70C82028281A40103A503000010");
  // Timer 5 was deactivated: nothing more, ever.
  rig.t.clock.advance(2h);
  rig.t.settle();
  CHECK(rig.envelopes() == 1);
}

TEST_CASE("a running timer reports what is left and can be started again") {
  Rig rig;
  rig.start();
  rig.card.queue(cat::make_timer_start(1, 8, cat::TimerValue{0, 1, 30}));  // 8.38: 00 10 03
  rig.t.advance_until([&] { return rig.card.responses.size() == 1; }, 2s, "the start");
  rig.t.clock.advance(61s);
  rig.card.queue(cat::make_timer_get_value(2, 8));
  rig.card.queue(cat::make_timer_start(3, 8, cat::TimerValue{0, 0, 5}));
  const auto before = rig.t.clock.now();
  rig.t.advance_until([&] { return rig.card.responses.size() == 3; }, 2s, "get value and restart");
  CHECK(rig.t.clock.now() == before);  // 61 s idle: the poll was due at once
  CHECK(hex_text(rig.card.responses[1]) == "810302270282028281830100A40108A503000092");  // 29 s left
  rig.t.advance_until([&] { return rig.envelopes() == 1; }, 10s, "the expiration");
  CHECK(rig.t.clock.now() == before + 5s);
  CHECK(rig.envelope(0) == "D70C82028281A40108A503000050");  // 5 s elapsed since the restart
}

// ---------------------------------------------------------------------------------------------------
// polling: STATUS (TS 102 221 11.1.2), POLL INTERVAL (6.4.6), POLLING OFF (6.4.14)

TEST_CASE("terminal polls an idle card with STATUS at the poll interval and picks up its command") {
  Rig rig;
  rig.start();
  const auto t0 = rig.t.clock.now();
  REQUIRE(rig.t.terminal->next_wakeup() == t0 + 1000ms);
  rig.t.advance();
  CHECK(rig.card.statuses == 1);
  CHECK(hex_text(rig.card.commands.back()) == "80F2000C");
  const u8 text[] = {cat::dcs::k8BitData, 'h', 'i'};
  rig.card.queue(cat::make_display_text(7, 0x80, Bytes(text)));  // no exchange tells the terminal
  rig.t.advance();
  CHECK(rig.t.clock.now() == t0 + 2000ms);
  REQUIRE(rig.card.responses.size() == 1);
  CHECK(hex_text(rig.card.responses[0]) == "810307218082028281830100");  // 6.4.1 DISPLAY TEXT: OK
  CHECK(rig.t.logged("DISPLAY TEXT: hi"));
}

TEST_CASE("POLL INTERVAL sets the interval of the STATUS polls and the response states it (6.4.6)") {
  Rig rig;
  rig.start();
  // 6.6.6: D0 0D 81 03 01 03 00 82 02 81 82 84 02 01 14 (20 s); 6.8: the response repeats the duration.
  CHECK(rig.command_bytes(hex("D00D81030103008202818284020114")) == "81030103008202828183010084020114");
  CHECK(rig.terminal().polling() == std::chrono::milliseconds(20000));
  const auto t0 = rig.t.clock.now();
  const int polls = rig.card.statuses;
  REQUIRE(rig.t.terminal->next_wakeup() == t0 + 20s);
  rig.t.advance();
  CHECK(rig.card.statuses == polls + 1);
  // Minutes and tenths of seconds too: 26 min, then 0.5 s.
  CHECK(rig.command_bytes(hex("D00D8103010300820281828402001A")) == "8103010300820282818301008402001A");
  CHECK(rig.terminal().polling() == std::chrono::minutes(26));
  CHECK(rig.command_bytes(hex("D00D81030103008202818284020205")) == "81030103008202828183010084020205");
  CHECK(rig.terminal().polling() == std::chrono::milliseconds(500));
  // A duration of 0 is reserved (8.8): data not understood, required values missing without one.
  CHECK(rig.command_bytes(hex("D00D81030103008202818284020100")) == "810301030082028281830132");
  CHECK(rig.command_bytes(hex("D009810301030082028182")) == "810301030082028281830136");
  CHECK(rig.terminal().polling() == std::chrono::milliseconds(500));
}

TEST_CASE("POLLING OFF stops the STATUS polls until POLL INTERVAL turns them on again (6.4.14)") {
  Rig rig;
  rig.start();
  // 6.6.14: D0 09 81 03 01 04 00 82 02 81 82
  CHECK(rig.command_bytes(hex("D009810301040082028182")) == "810301040082028281830100");
  CHECK_FALSE(rig.terminal().polling().has_value());
  CHECK_FALSE(rig.t.terminal->next_wakeup().has_value());  // nothing to wait for
  const int polls = rig.card.statuses;
  rig.t.clock.advance(24h);
  rig.t.settle();
  CHECK(rig.card.statuses == polls);
}

TEST_CASE("POLL INTERVAL after POLLING OFF, and a new card session, restore polling") {
  Rig rig;
  rig.start();
  rig.card.queue(cat::make_polling_off(1));
  const u8 two_seconds[] = {0x01, 0x02};  // 8.8: unit seconds, 2
  rig.card.queue(cat::make_poll_interval(2, Bytes(two_seconds)));
  rig.t.advance_until([&] { return rig.card.responses.size() == 2; }, 2s, "both commands");
  CHECK(rig.terminal().polling() == std::chrono::milliseconds(2000));
  // A timer, then polling off: the reset is found when the timer's envelope meets it.
  rig.card.queue(cat::make_timer_start(3, 1, cat::TimerValue{0, 0, 5}));
  rig.card.queue(cat::make_polling_off(4));
  rig.t.advance_until([&] { return rig.card.responses.size() == 4; }, 3s, "timer and POLLING OFF");
  CHECK_FALSE(rig.terminal().polling().has_value());
  rig.card.lose_next = true;
  rig.t.advance();  // the timer runs out: ENVELOPE -> the card was reset
  CHECK(rig.terminal().stats().cards_lost == 1);
  rig.t.advance();  // 50 ms later: the new session
  CHECK(rig.terminal().stats().sessions == 2);
  CHECK(rig.terminal().polling() == std::chrono::milliseconds(1000));  // the option again
}

TEST_CASE("MORE TIME is acknowledged (6.4.4)") {
  Rig rig;
  rig.start();
  // 6.6.4: D0 09 81 03 01 02 00 82 02 81 82
  CHECK(rig.command_bytes(hex("D009810301020082028182")) == "810301020082028281830100");
}

// ---------------------------------------------------------------------------------------------------
// PROVIDE LOCAL INFORMATION (6.4.15): date, time and time zone

TEST_CASE("PROVIDE LOCAL INFORMATION 03 gives the local date, time and zone of the option (8.39)") {
  Rig rig([](TerminalOptions& o) { o.time_zone = std::chrono::minutes(60); });
  rig.start();
  rig.t.clock.set_utc(test::ManualClock::kStartUtc);  // 2024-03-09 13:05:30 UTC
  rig.card.queue(cat::make_provide_local_information(1, cat::qualifier::kLocalInfoDateTimeAndTimeZone));
  rig.t.advance_until([&] { return rig.card.responses.size() == 1; }, 2s, "the response");
  // The poll took 1 s: 14:05:31 local, GMT+1 = 4 quarters; semi-octets swapped (TS 23.040 9.2.3.11).
  CHECK(hex_text(rig.card.responses[0]) == "810301260382028281830100A60742309041501340");
}

TEST_CASE("PROVIDE LOCAL INFORMATION takes the clock's local zone when the options name none") {
  Rig rig;
  rig.t.clock.zone = std::chrono::minutes(-5 * 60);  // GMT-5: 20 quarters west
  rig.start();
  // 6.6.15: D0 09 81 03 01 26 03 82 02 81 82
  CHECK(rig.command_bytes(hex("D009810301260382028182")) == "810301260382028281830100A607423090805013" "0A");
  rig.t.clock.zone.reset();  // the host does not know its zone: FF, and the time in UTC
  CHECK(rig.command_bytes(hex("D009810302260382028182")) == "810302260382028281830100A607423090315023" "FF");
}

TEST_CASE("PROVIDE LOCAL INFORMATION other than date and time is beyond this terminal (30)") {
  Rig rig;
  rig.start();
  // Qualifier 01: IMEI; 00: location information.
  CHECK(rig.command_bytes(hex("D009810301260182028182")) == "810301260182028281830130");
  CHECK(rig.command_bytes(hex("D009810302260082028182")) == "810302260082028281830130");
}

TEST_CASE("local date and time cross midnight and the year with the zone") {
  using namespace std::chrono;
  const sys_seconds new_year_utc{sys_days{year{2023} / 12 / 31} + hours(23) + minutes(30)};
  auto t = date_time_zone(new_year_utc, minutes(60));
  CHECK(t.year == 24);
  CHECK(t.month == 1);
  CHECK(t.day == 1);
  CHECK(t.hour == 0);
  CHECK(t.minute == 30);
  CHECK(t.zone_quarters == 4);
  t = date_time_zone(sys_seconds{sys_days{year{2000} / 1 / 1}}, minutes(-3 * 60 - 30));
  CHECK(t.year == 99);
  CHECK(t.month == 12);
  CHECK(t.day == 31);
  CHECK(t.hour == 20);
  CHECK(t.minute == 30);
  CHECK(t.zone_quarters == -14);
  t = date_time_zone(new_year_utc, minutes(20));  // not whole quarters: unknown zone, time in UTC
  CHECK_FALSE(t.zone_known);
  CHECK(t.hour == 23);
  t = date_time_zone(new_year_utc, hours(20));  // 80 quarters do not fit two semi-octets
  CHECK_FALSE(t.zone_known);
}

// ---------------------------------------------------------------------------------------------------
// commands this terminal does not perform

TEST_CASE("terminal answers commands it cannot perform with 30, 31, 32 and 36 (TS 102 223 6.10)") {
  Rig rig;
  rig.start();
  SUBCASE("SEND SHORT MESSAGE: beyond the terminal's capabilities (30)") {
    CHECK(rig.command_bytes(hex("D0158103011300820281838B0A010005912143F4000400")) == "810301130082028281830130");
  }
  SUBCASE("REFRESH: command type not understood (31)") {
    CHECK(rig.command_bytes(hex("D009810301010082028182")) == "810301010082028281830131");
  }
  SUBCASE("an object with CR set the command does not define: data not understood (32)") {
    // GET CHANNEL STATUS with a comprehension-required Text string (8D).
    CHECK(rig.command_bytes(hex("D00D8103014400820281828D020441")) == "810301440082028281830132");
  }
  SUBCASE("no command details at all: a TR with details zero (32)") {
    CHECK(rig.command_bytes(hex("D00482028182")) == "810300010082028281830132");
  }
}

// ---------------------------------------------------------------------------------------------------
// the card session: waiting for the card, losing it, stopping

TEST_CASE("terminal waits for a card that is not there with a doubling delay up to one second") {
  Rig rig;
  rig.card.present = false;
  rig.t.terminal->start();
  rig.t.settle();
  CHECK(rig.card.connects == 1);
  std::vector<std::chrono::milliseconds> delays;
  for (int i = 0; i < 7; ++i) {
    const auto before = rig.t.clock.now();
    REQUIRE(rig.t.advance());
    delays.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(rig.t.clock.now() - before));
  }
  CHECK(delays == std::vector<std::chrono::milliseconds>{50ms, 100ms, 200ms, 400ms, 800ms, 1000ms, 1000ms});
  CHECK_FALSE(rig.terminal().card_session_active());
  rig.card.present = true;
  rig.t.advance();
  CHECK(rig.terminal().card_session_active());
  CHECK(rig.card.profiles.size() == 1);
}

TEST_CASE("terminal closes every channel on a card reset and starts over with TERMINAL PROFILE") {
  Rig rig;
  rig.start();
  rig.subscribe();
  rig.open(2);
  auto client = rig.client();
  const u8 status_only[] = {0x0A};
  rig.card.queue(cat::make_timer_start(3, 1, cat::TimerValue{0, 0, 30}));
  rig.t.advance_until([&] { return rig.card.responses.size() == 3; }, 2s, "the timer");
  rig.card.lose_next = true;
  client->say("x");  // the Data available envelope meets the reset
  rig.t.settle();
  CHECK(rig.terminal().stats().cards_lost == 1);
  CHECK(rig.t.connector.resets == 1);
  CHECK(client->reset);
  CHECK(rig.terminal().channels().empty());
  CHECK(rig.terminal().events().empty());
  CHECK(rig.t.logged("card lost (scripted card reset): closing 1 channel(s), waiting for the card"));
  // 50 ms later the card is back: a new session; the timer of the old one is gone.
  REQUIRE(rig.t.terminal->next_wakeup() == rig.t.clock.now() + 50ms);
  rig.t.advance();
  CHECK(rig.card.profiles.size() == 2);
  CHECK(rig.terminal().stats().sessions == 2);
  rig.command(cat::make_set_up_event_list(1, Bytes(status_only)));
  rig.t.clock.advance(1min);
  rig.t.settle();
  CHECK(rig.envelopes() == 1);  // only the first session's ESTABLISHED, no Timer expiration
}

TEST_CASE("stop resets the connectors, lets the card go and leaves nothing to wake up for") {
  Rig rig;
  rig.start();
  rig.subscribe();
  rig.open(2);
  rig.t.terminal->stop();
  CHECK(rig.t.connector.resets == 1);
  CHECK_FALSE(rig.card.connected());
  CHECK_FALSE(rig.t.terminal->next_wakeup().has_value());
  rig.t.clock.advance(1h);
  rig.t.terminal->run_due();
  CHECK(rig.card.profiles.size() == 1);
}

// ---------------------------------------------------------------------------------------------------
// TCP client mode (6.4.27.2, background mode; docs/protocol.md section 7.10)

// OPEN CHANNEL as the card's toolkit sends it: qualifier 05, bearer 03, buffer 1400, TCP client
// remote to 127.0.0.1:7443.
cat::ProactiveCommand client_open(u8 number) {
  static const u8 bearer[] = {cat::bearer::kDefault};
  static const u8 ip[] = {127, 0, 0, 1};
  auto c = cat::make_open_channel_tcp_client(number, Bytes(bearer), 1400, 7443,
                                             cat::OtherAddress{true, cat::address_type::kIpv4, Bytes(ip)});
  c.details.qualifier = cat::qualifier::kOpenChannelImmediate | cat::qualifier::kOpenChannelBackground;
  return c;
}

TEST_CASE("client OPEN CHANNEL is answered at once, the link comes with Channel status 81 00, data flows") {
  Rig rig;
  rig.t.connector.serve_clients = true;
  rig.start();
  rig.subscribe();
  // 6.8: channel status 01 00 (channel 1, link not established), bearer 03, buffer 1400.
  CHECK(rig.command(client_open(2)) == "8103024005820282818301003802010035010339020578");
  CHECK(rig.t.connector.calls == std::vector<std::string>{"connect 1 127.0.0.1:7443"});
  CHECK(rig.t.logged("channel 1 connecting to 127.0.0.1:7443 (client, buffer 1400)"));
  REQUIRE(rig.terminal().channels().size() == 1);
  CHECK(rig.terminal().channels()[0].client);
  CHECK(rig.envelopes() == 0);  // nothing until the connect is done
  auto server = rig.t.connector.connected(1);
  rig.t.settle();
  REQUIRE(rig.envelopes() == 1);
  CHECK(rig.envelope(0) == "D60B99010A82028281B8028100");  // 7.5.11: link established
  CHECK(rig.t.logged("channel 1 connected"));
  CHECK(rig.terminal().stats().links_established == 1);
  // Card -> server, then server -> card.
  CHECK(rig.command(cat::make_send_data(3, 1, true, text_bytes("POST"))) == "810303430182028281830100B701FF");
  CHECK(server->text() == "POST");
  server->say("204");
  server->close_when_sent = true;
  rig.t.settle();
  REQUIRE(rig.envelopes() == 2);
  CHECK(rig.envelope(1) == "D60E99010982028281B8028100B70103");
  CHECK(rig.command(cat::make_receive_data(4, 1, 3)) == "810304420082028281830100B603323034B70100");
  rig.t.settle();
  // The server closed and the card has its bytes: link dropped (01 05); the channel stays until closed.
  REQUIRE(rig.envelopes() == 3);
  CHECK(rig.envelope(2) == "D60B99010A82028281B8020105");
  CHECK(rig.command(cat::make_get_channel_status(5)) == "810305440082028281830100B8020105");
  CHECK(rig.command(cat::make_close_channel(6, 1, false)) == "810306410082028281830100");
  CHECK(rig.terminal().channels().empty());
  CHECK(rig.t.logged("channel 1 closed (client, port 7443)"));
}

TEST_CASE("a client channel whose connect fails gets Channel status 01 05 and is closed by the card") {
  Rig rig;
  rig.t.connector.serve_clients = true;
  rig.start();
  rig.subscribe();
  CHECK(rig.command(client_open(2)) == "8103024005820282818301003802010035010339020578");
  rig.t.connector.connect_fails(1, "Connection refused");
  rig.t.settle();
  REQUIRE(rig.envelopes() == 1);
  CHECK(rig.envelope(0) == "D60B99010A82028281B8020105");
  CHECK(rig.t.logged("channel 1: connect failed: Connection refused"));
  CHECK(rig.terminal().stats().links_failed == 1);
  CHECK(rig.command(cat::make_send_data(3, 1, true, text_bytes("x"))) == "81030343018202828183023A02");
  CHECK(rig.command(cat::make_close_channel(4, 1, false)) == "810304410082028281830100");
  CHECK(rig.terminal().channels().empty());
}

TEST_CASE("a server dropped by the network: link dropped at once, unread bytes with it") {
  Rig rig;
  rig.t.connector.serve_clients = true;
  rig.start();
  rig.subscribe();
  rig.command(client_open(2));
  auto server = rig.t.connector.connected(1);
  server->say("partial");
  rig.t.settle();
  rig.t.connector.drop(1);
  rig.t.settle();
  CHECK(rig.envelope(rig.envelopes() - 1) == "D60B99010A82028281B8020105");
  CHECK(server->reset);
  CHECK(rig.terminal().channels()[0].rx_bytes == 0);
}

}  // namespace
}  // namespace scws::sim
