#include "apdu/cat.hpp"

#include <doctest/doctest.h>

#include <iterator>
#include <string>
#include <vector>

#include "apdu/cat_codec.hpp"
#include "apdu/command_apdu.hpp"
#include "apdu/envelope.hpp"
#include "apdu/instruction.hpp"
#include "apdu/proactive_command.hpp"
#include "apdu/terminal_response.hpp"
#include "tests/apdu/bytes_util.hpp"

using namespace scws;
using namespace scws::apdu;
using namespace scws::apdu::cat;
using scws::test::hex;

TEST_CASE("timer values decode from nibble-swapped BCD hh mm ss (TS 102 223 8.38)") {
  struct Row {
    const char* bytes;
    TimerValue value;
    const char* source;
  };
  const Row rows[] = {
      {"005000", {0, 5, 0}, "oFono timer_mgmt_111: 5 minutes"},
      {"001003", {0, 1, 30}, "oFono timer_mgmt_113: 1 minute 30 seconds"},
      {"329595", {23, 59, 59}, "oFono timer_mgmt_121: 23:59:59"},
      {"001001", {0, 1, 10}, "oFono timer_mgmt_123: 1 minute 10 seconds"},
      {"000200", {0, 20, 0}, "oFono timer_mgmt_131: 20 minutes"},
      {"100000", {1, 0, 0}, "oFono timer_mgmt_133: 1 hour"},
      {"000050", {0, 0, 5}, "oFono timer_mgmt_161: 5 seconds"},
      {"000001", {0, 0, 10}, "oFono timer_expiration_211: 10 seconds"},
      {"000003", {0, 0, 30}, "oFono timer_expiration_221a: 30 seconds"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.source);
    const auto bytes = hex(row.bytes);
    auto t = decode_timer_value(bytes);
    REQUIRE(t.ok());
    CHECK(t->hours == row.value.hours);
    CHECK(t->minutes == row.value.minutes);
    CHECK(t->seconds == row.value.seconds);
    u8 out[kTimerValueSize];
    REQUIRE(encode_timer_value(row.value, out).ok());
    CHECK(test::to_vector(out) == bytes);
  }
  CHECK(timer_seconds(TimerValue{1, 1, 1}) == 3661);
}

TEST_CASE("timer values that are not BCD or out of range are refused") {
  const char* bad[] = {"0000", "00000000", "000A00", "A00000", "000600" /* 60 minutes */,
                       "000006" /* 60 seconds */};
  for (const char* b : bad) {
    CAPTURE(b);
    const auto bytes = hex(b);
    auto t = decode_timer_value(bytes);
    REQUIRE_FALSE(t.ok());
    CHECK(t.error() == CatError::kBadTimerValue);
  }
  u8 out[kTimerValueSize];
  CHECK(encode_timer_value(TimerValue{0, 60, 0}, out).error() == CatError::kInvalidArgument);
  CHECK(encode_timer_value(TimerValue{100, 0, 0}, out).error() == CatError::kInvalidArgument);
}

TEST_CASE("durations decode unit and interval and refuse reserved units and a zero interval (TS 102 223 8.8)") {
  struct Row {
    const char* bytes;
    DurationUnit unit;
    u8 interval;
    u32 tenths;
  };
  const Row rows[] = {
      {"0114", DurationUnit::kSeconds, 20, 200},           // 20 s
      {"001A", DurationUnit::kMinutes, 26, 15600},         // 26 min
      {"0205", DurationUnit::kTenthsOfSeconds, 5, 5},      // 0.5 s
      {"01FF", DurationUnit::kSeconds, 255, 2550},
  };
  for (const Row& row : rows) {
    CAPTURE(row.bytes);
    const auto bytes = hex(row.bytes);
    auto d = decode_duration(bytes);
    REQUIRE(d.ok());
    CHECK(d->unit == row.unit);
    CHECK(d->interval == row.interval);
    CHECK(duration_tenths(*d) == row.tenths);
    u8 out[kDurationSize];
    REQUIRE(encode_duration(*d, out).ok());
    CHECK(test::to_vector(out) == bytes);
  }
  for (const char* bad : {"0100" /* zero */, "0314" /* unit 03 reserved */, "01", "011400"}) {
    CAPTURE(bad);
    const auto bytes = hex(bad);
    auto d = decode_duration(bytes);
    REQUIRE_FALSE(d.ok());
    CHECK(d.error() == CatError::kBadDuration);
  }
  u8 out[kDurationSize];
  CHECK(encode_duration(Duration{DurationUnit::kSeconds, 0}, out).error() == CatError::kInvalidArgument);
}

TEST_CASE("date-time and time zone code seven swapped semi-octets, the zone in signed quarters (TS 102 223 8.39)") {
  struct Row {
    const char* bytes;
    DateTimeZone value;
    const char* what;
  };
  const Row rows[] = {
      // TS 23.040 9.2.3.11: year, month, day, hour, minute, second, zone; nibbles swapped.
      {"42309041500340", {24, 3, 9, 14, 5, 30, true, 4}, "2024-03-09 14:05:30, GMT+1 (4 quarters)"},
      {"99211232959500", {99, 12, 21, 23, 59, 59, true, 0}, "1999-12-21 23:59:59 GMT"},
      {"5201100000000A", {25, 10, 1, 0, 0, 0, true, -20}, "GMT-5: 20 quarters, sign in b4"},
      {"52011000000032", {25, 10, 1, 0, 0, 0, true, 23}, "GMT+5:45: 23 quarters"},
      {"52011000000049", {25, 10, 1, 0, 0, 0, true, -14}, "GMT-3:30: 14 quarters west"},
      {"520110000000FF", {25, 10, 1, 0, 0, 0, false, 0}, "time zone unknown: FF"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.what);
    const auto bytes = hex(row.bytes);
    auto t = decode_date_time(bytes);
    REQUIRE(t.ok());
    CHECK(t->year == row.value.year);
    CHECK(t->month == row.value.month);
    CHECK(t->day == row.value.day);
    CHECK(t->hour == row.value.hour);
    CHECK(t->minute == row.value.minute);
    CHECK(t->second == row.value.second);
    CHECK(t->zone_known == row.value.zone_known);
    CHECK(t->zone_quarters == row.value.zone_quarters);
    u8 out[kDateTimeSize];
    REQUIRE(encode_date_time(row.value, out).ok());
    CHECK(hex_text(out) == row.bytes);
  }
  for (const char* bad : {"423090415003", "4230904150034000", "42009041500340" /* month 0 */,
                          "42319041500340" /* month 13 */, "42309042500340" /* hour 24 */,
                          "4230904150A340", "423090415003A0" /* zone units A */}) {
    CAPTURE(bad);
    const auto bytes = hex(bad);
    auto t = decode_date_time(bytes);
    REQUIRE_FALSE(t.ok());
    CHECK(t.error() == CatError::kBadDateTime);
  }
  u8 out[kDateTimeSize];
  CHECK(encode_date_time(DateTimeZone{24, 2, 30, 24, 0, 0, false, 0}, out).error() == CatError::kInvalidArgument);
  CHECK(encode_date_time(DateTimeZone{24, 2, 3, 1, 0, 0, true, 80}, out).error() == CatError::kInvalidArgument);
  CHECK(encode_date_time(DateTimeZone{100, 2, 3, 1, 0, 0, false, 0}, out).error() == CatError::kInvalidArgument);
}

TEST_CASE("channel status helpers encode server and client states (TS 102 223 8.56)") {
  struct Row {
    ChannelStatus status;
    u8 byte1;
    u8 byte2;
    const char* source;
  };
  const Row rows[] = {
      {server_channel_status(1, ServerState::kClosed), 0x01, 0x00, "1.6: channel 1 CLOSED = 01"},
      {server_channel_status(1, ServerState::kListen), 0x41, 0x00, "1.6: LISTEN = 41 (1.10 D6 ... B8 02 41 00)"},
      {server_channel_status(1, ServerState::kEstablished), 0x81, 0x00, "1.6: ESTABLISHED = 81"},
      {server_channel_status(7, ServerState::kListen, channel_info::kLinkDropped), 0x47, 0x05,
       "1.12: Intel gateway sends 4n 05 after a client leaves"},
      {client_channel_status(1, true), 0x81, 0x00, "oFono get_channel_status_response_121"},
      {client_channel_status(1, false, channel_info::kLinkDropped), 0x01, 0x05,
       "oFono get_channel_status_response_131"},
      {client_channel_status(0, false), 0x00, 0x00, "oFono get_channel_status_response_111: no channel"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.source);
    CHECK(row.status.status == row.byte1);
    CHECK(row.status.info == row.byte2);
  }
  const ChannelStatus listen{0x42, 0x00};
  CHECK(listen.channel_id() == 2);
  CHECK(listen.server_state() == ServerState::kListen);
  CHECK_FALSE(listen.link_established());
  CHECK(ChannelStatus{0x83, 0}.server_state() == ServerState::kEstablished);
  CHECK(ChannelStatus{0x83, 0}.link_established());
}

TEST_CASE("channel devices map to channel identifiers 1..7 (TS 102 223 8.7)") {
  CHECK(channel_device(1) == 0x21);
  CHECK(channel_device(7) == 0x27);
  CHECK(channel_of_device(0x21) == 1);
  CHECK(channel_of_device(0x27) == 7);
  CHECK(channel_of_device(0x28) == 0);
  CHECK(channel_of_device(device::kTerminal) == 0);
  CHECK(is_channel_device(0x24));
  CHECK_FALSE(is_channel_device(0x20));
}

TEST_CASE("size limits keep a proactive command and a terminal response within 255 bytes") {
  CHECK(kMaxSendDataPayload == 240);
  CHECK(kMaxReceiveDataPayload == 237);
  CHECK(kMaxProactiveCommandSize == 255);
}

TEST_CASE("cat errors classify as type not understood, data not understood or values missing") {
  struct Row {
    CatError error;
    GeneralResult result;
  };
  const Row rows[] = {
      {CatError::kUnknownCommandType, GeneralResult::kTypeNotUnderstood},
      {CatError::kMalformedTlv, GeneralResult::kDataNotUnderstood},
      {CatError::kUnknownRequiredTlv, GeneralResult::kDataNotUnderstood},
      {CatError::kDuplicateTlv, GeneralResult::kDataNotUnderstood},
      {CatError::kBadDeviceIdentities, GeneralResult::kDataNotUnderstood},
      {CatError::kBadTimerValue, GeneralResult::kDataNotUnderstood},
      {CatError::kMissingBufferSize, GeneralResult::kRequiredValuesMissing},
      {CatError::kMissingChannelData, GeneralResult::kRequiredValuesMissing},
      {CatError::kMissingDeviceIdentities, GeneralResult::kRequiredValuesMissing},
  };
  for (const Row& row : rows) {
    CAPTURE(describe(row.error));
    CHECK(general_result_for(row.error) == row.result);
  }
  CHECK(kind_of(CatError::kTooLong) == CatErrorKind::kEncoding);
  for (u8 e = 0; e <= static_cast<u8>(CatError::kInvalidArgument); ++e)
    CHECK(std::string(describe(static_cast<CatError>(e))) != "?");
  CHECK(from_tlv_error(TlvError::kValuePastEnd) == CatError::kMalformedTlv);
  CHECK(from_tlv_error(TlvError::kNoSpace) == CatError::kBufferTooSmall);
}

TEST_CASE("result values carry the general result and BIP cause") {
  const ResultValue r = make_bip_error(BipCause::kChannelIdNotValid);
  CHECK(r.general == GeneralResult::kBipError);
  CHECK(r.additional_size == 1);
  CHECK(r.additional[0] == 0x03);  // oFono close_channel_response_121: 83 02 3A 03
  CHECK(make_result(GeneralResult::kOk).additional_size == 0);
}

TEST_CASE("cr flags remember which tags carry comprehension required") {
  CrFlags f{{tag::kResult, tag::kChannelStatus}};
  CHECK(f.has(tag::kResult));
  CHECK(f.has(tag::kChannelStatus));
  CHECK_FALSE(f.has(tag::kBufferSize));
  f.set(tag::kChannelStatus, false);
  CHECK_FALSE(f.has(tag::kChannelStatus));
  f.set(0x68, true);
  CHECK(f.has(0x68));
  f.set(0x1234, true);  // beyond one-byte tags: ignored
  CHECK_FALSE(f.has(0x1234));
}

TEST_CASE("data object readers check sizes and ranges") {
  using namespace scws::apdu::cat::detail;
  CHECK(read_command_details(hex("014000")).ok());
  CHECK(read_command_details(hex("0140")).error() == CatError::kBadCommandDetails);
  CHECK(read_device_identities(hex("81")).error() == CatError::kBadDeviceIdentities);
  CHECK(read_result(Bytes{}).error() == CatError::kBadResult);
  auto r = read_result(hex("3A10"));
  REQUIRE(r.ok());
  CHECK(r->general == GeneralResult::kBipError);
  CHECK(r->additional[0] == 0x10);
  CHECK(read_result(hex("20" "0102030405060708090A0B0C0D0E0F1011")).error() == CatError::kBadResult);
  CHECK(read_channel_status(hex("41")).error() == CatError::kBadChannelStatus);
  auto tl = read_transport_level(hex("030DBC"));  // TS 102 223 8.59: port 3516
  REQUIRE(tl.ok());
  CHECK(tl->protocol == TransportProtocol::kTcpServer);
  CHECK(tl->port == 3516);
  CHECK(read_transport_level(hex("0310")).error() == CatError::kBadTransportLevel);
  auto a4 = read_other_address(hex("2101010101"));  // oFono open_channel_211: 1.1.1.1
  REQUIRE(a4.ok());
  CHECK(a4->type == address_type::kIpv4);
  CHECK(a4->address.size() == 4);
  auto a6 = read_other_address(hex("57" "20010DB8000000000000000000000001"));
  REQUIRE(a6.ok());
  CHECK(a6->address.size() == 16);
  auto dynamic = read_other_address(Bytes{});
  REQUIRE(dynamic.ok());
  CHECK(dynamic->present);
  CHECK(dynamic->address.empty());
  CHECK(read_other_address(hex("21010101")).error() == CatError::kBadOtherAddress);
  CHECK(read_other_address(hex("2201010101")).error() == CatError::kBadOtherAddress);
  CHECK(read_timer_id(hex("08")).ok());
  CHECK(read_timer_id(hex("00")).error() == CatError::kBadTimerIdentifier);
  CHECK(read_timer_id(hex("09")).error() == CatError::kBadTimerIdentifier);
  CHECK(check_framing(hex("830100" "B701")).error() == CatError::kMalformedTlv);
}

// --- one GET over a BIP channel in UICC server mode, APDU by APDU ------------------------------------

namespace {

// The exchange: SET UP EVENT LIST, OPEN CHANNEL (server, port 3516), the client's GET announced by
// envelopes, RECEIVE DATA, SEND DATA of the answer, CLOSE CHANNEL; each message built by this layer.
struct GetOverBip {
  std::vector<u8> get = scws::test::ascii("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  std::vector<u8> http = scws::test::ascii("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK");
  std::vector<u8> out = std::vector<u8>(300);

  template <class Built>
  std::vector<u8> bytes(Built n) {
    REQUIRE(n.ok());
    return std::vector<u8>(out.begin(), out.begin() + static_cast<long>(*n));
  }
  std::vector<u8> command(const ProactiveCommand& c) { return bytes(build_proactive_command(c, out)); }
  std::vector<u8> response(const TerminalResponse& r) { return bytes(build_terminal_response(r, out)); }
  std::vector<u8> envelope(const Envelope& e) { return bytes(build_envelope(e, out)); }
  static TerminalResponse ok(u8 number, CommandType type, u8 qualifier) {
    return make_terminal_response(CommandDetails{number, type, qualifier}, make_result(GeneralResult::kOk));
  }

  // The card's proactive commands.
  std::vector<u8> set_up_event_list() {
    const u8 events[] = {0x09, 0x0A};
    return command(make_set_up_event_list(1, events));
  }
  std::vector<u8> open() { return command(make_open_channel_server(1, 1400, 3516)); }
  std::vector<u8> receive() { return command(make_receive_data(2, 1, 0x23)); }
  std::vector<u8> send() { return command(make_send_data(3, 1, true, http)); }
  std::vector<u8> close() { return command(make_close_channel(4, 1, true)); }

  // The terminal's answers.
  std::vector<u8> open_ok() {
    TerminalResponse r = ok(1, CommandType::kOpenChannel, 0);
    r.add_channel_status(server_channel_status(1, ServerState::kListen));
    r.has_buffer_size = true;
    r.buffer_size = 1400;
    return response(r);
  }
  std::vector<u8> receive_ok() {
    TerminalResponse r = ok(2, CommandType::kReceiveData, 0);
    r.channel_data = some(get);
    r.has_channel_data_length = true;
    return response(r);
  }
  std::vector<u8> send_ok() {
    TerminalResponse r = ok(3, CommandType::kSendData, 1);
    r.has_channel_data_length = true;
    r.channel_data_length = kChannelDataLengthMany;
    return response(r);
  }
};

// Each step: the command APDU the terminal sends and, for FETCH, the command the card answers with.
struct Step {
  std::vector<u8> apdu;
  std::vector<u8> fetched;
};

// The APDU a step's command is, decoded by its INS as the card would.
void check_step_decodes(const Step& s) {
  auto apdu = parse_command_apdu(s.apdu);
  REQUIRE(apdu.ok());
  switch (static_cast<Ins>(apdu->ins)) {
    case Ins::kFetch:  // Le = the size announced by 91 XX
      CHECK(apdu->ne == s.fetched.size());
      CHECK(parse_proactive_command(s.fetched).ok());
      break;
    case Ins::kTerminalResponse: {
      auto r = parse_terminal_response(apdu->data);
      REQUIRE(r.ok());
      CHECK(r->result.general == GeneralResult::kOk);
      break;
    }
    case Ins::kEnvelope: {
      auto e = parse_envelope(apdu->data);
      REQUIRE(e.ok());
      CHECK(e->channel_status.server_state() == ServerState::kEstablished);
      break;
    }
    default:
      FAIL("unexpected INS");
  }
}

}  // namespace

TEST_CASE("a GET over BIP: the card's proactive commands encode byte for byte, their sizes announced by 91 XX") {
  GetOverBip x;
  const auto set_up = x.set_up_event_list();
  const auto open = x.open();
  const auto receive = x.receive();
  const auto send = x.send();
  const auto close = x.close();
  CHECK(hex_text(set_up) == "D00D8103010500820281829902090A");
  CHECK(hex_text(open) == "D012810301400082028182390205783C03030DBC");
  CHECK(hex_text(receive) == "D00C810302420082028121B70123");
  CHECK(hex_text(send) == hex_text(scws::test::join({hex("D033810303430182028121B628"), x.http})));
  CHECK(hex_text(close) == "D009810304410182028121");
  // 91 XX announces each: XX is the command size, the FETCH Le.
  CHECK(set_up.size() == 0x0F);
  CHECK(open.size() == 0x14);
  CHECK(receive.size() == 0x0E);
  CHECK(send.size() == 0x35);
  CHECK(close.size() == 0x0B);
}

TEST_CASE("a GET over BIP: the terminal's APDUs encode byte for byte and decode apdu by apdu") {
  using scws::test::join;
  GetOverBip x;
  const Step steps[] = {
      {join({hex("801200000F")}), x.set_up_event_list()},
      {join({hex("801400000C"), x.response(GetOverBip::ok(1, CommandType::kSetUpEventList, 0))}), {}},
      {join({hex("8012000014")}), x.open()},
      {join({hex("8014000014"), x.open_ok()}), {}},
      {join({hex("80C200000D"), x.envelope(make_channel_status_event(server_channel_status(1, ServerState::kEstablished)))}),
       {}},
      {join({hex("80C2000010"),
             x.envelope(make_data_available(server_channel_status(1, ServerState::kEstablished), 0x23))}),
       {}},
      {join({hex("801200000E")}), x.receive()},
      {join({hex("8014000034"), x.receive_ok()}), {}},
      {join({hex("8012000035")}), x.send()},
      {join({hex("801400000F"), x.send_ok()}), {}},
      {join({hex("801200000B")}), x.close()},
      {join({hex("801400000C"), x.response(GetOverBip::ok(4, CommandType::kCloseChannel, 1))}), {}},
  };
  const char* expected[] = {
      "801200000F",
      "801400000C810301050082028281830100",
      "8012000014",
      "80140000148103014000820282818301003802410039020578",
      "80C200000DD60B99010A82028281B8028100",
      "80C2000010D60E99010982028281B8028100B70123",
      "801200000E",
      nullptr,  // RECEIVE DATA response: checked below (35 bytes of text)
      "8012000035",
      "801400000F810303430182028281830100B701FF",
      "801200000B",
      "801400000C810304410182028281830100",
  };
  for (std::size_t i = 0; i < std::size(steps); ++i) {
    CAPTURE(i);
    if (expected[i] != nullptr) CHECK(hex_text(steps[i].apdu) == expected[i]);
    check_step_decodes(steps[i]);
  }
  CHECK(hex_text(steps[7].apdu) ==
        hex_text(join({hex("8014000034810302420082028281830100B623"), x.get, hex("B70100")})));
}
