#include "apdu/proactive_command.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "tests/apdu/bytes_util.hpp"

using namespace scws;
using namespace scws::apdu;
using namespace scws::apdu::cat;
using scws::test::ascii;
using scws::test::counting;
using scws::test::hex;
using scws::test::join;
using scws::test::to_vector;

namespace {

// docs/protocol.md section 9: the HTTP response the card sends in SEND DATA.
const char kHttpOk[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK";

struct Vector {
  std::vector<u8> bytes;
  const char* source;
};

// Every proactive command vector of docs/protocol.md sections 7 and 8 and the oFono BIP, timer and display
// conformance vectors (rilmodem/ofono unit/test-stkutil.c, from ETSI TS 102 384 / 31.124).
std::vector<Vector> valid_vectors() {
  return {
      {hex("D00D8103010500820281829902090A"), "docs/protocol.md section 7.2 SET UP EVENT LIST 09,0A"},
      {hex("D00C810301050082028182990104"), "oFono setup_event_list_111"},
      {hex("D012810301400082028182390205783C03030DBC"), "docs/protocol.md section 7.3 OPEN CHANNEL server, port 3516"},
      {hex("D012810301400082028182390205783C03031014"), "docs/protocol.md section 5.4: port 4116 variant"},
      {hex("D012810301400082028182390205783C030328CB"), "docs/protocol.md section 5.4: port 10443 variant"},
      {hex("D03681030140018202818235070203040304 1F02390205780D08F4557365724C6F670D08F455736572507764"
           "3C0301AD9C3E052101010101"),
       "oFono open_channel_211"},
      {hex("D05381030140018202818205094F70656E20494420313507020304030 41F023902057847 0A06546573744770"
           "0272730D08F4557365724C6F670D08F4557365725077643C0301AD9C3E052101010101D004000900B4"),
       "oFono open_channel_511: alpha 05 without CR, NAN, text attribute"},
      {hex("D009810301410082028121"), "oFono close_channel_111"},
      {hex("D009810304410182028121"), "docs/protocol.md section 7.7 CLOSE CHANNEL back to LISTEN"},
      {hex("D01B810301410082028121850A436C6F73652049442031D004000A00B4"), "oFono close_channel_211"},
      {hex("D00C810301420082028121B701C8"), "oFono receive_data_111"},
      {hex("D00C810302420082028121B70123"), "docs/protocol.md section 7.5 RECEIVE DATA 35"},
      {hex("D022810301420082028121850E52656365697665204461746120 31B701C8D004000E00B4"),
       "oFono receive_data_211"},
      {hex("D013810301430182028121B6080001020304050607"), "oFono send_data_111"},
      {join({hex("D081D4810301430082028121B681C8"), counting(200)}), "oFono send_data_121: 81 C8 channel data"},
      {hex("D0268103014301820281218 50B53656E6420446174612031B6080001020304050607D004000B00B4"),
       "oFono send_data_211"},
      {join({hex("D033810303430182028121B628"), ascii(kHttpOk)}), "docs/protocol.md section 7.6 SEND DATA"},
      {hex("D009810301440082028182"), "oFono get_channel_status_111"},
      {hex("D011810301270082028182A40101A503005000"), "oFono timer_mgmt_111: start timer 1, 5 min"},
      {hex("D00C810301270282028182A40101"), "oFono timer_mgmt_112: get value of timer 1"},
      {hex("D00C810301270182028182A40101"), "oFono timer_mgmt_114: deactivate timer 1"},
      {hex("D011810301270082028182A40102A503329595"), "oFono timer_mgmt_121: 23:59:59"},
      {hex("D011810301270082028182A40108A503100000"), "oFono timer_mgmt_133: timer 8, 1 hour"},
      {hex("D01A8103012180820281028D0F04546F6F6C6B69742054657374 2031"), "oFono display_text_111"},
      {hex("D01A8103012180820281028D0B0442617369632049636F6E9E020001"), "oFono display_text_511: icon"},
      {hex("D0158103011300820281838B0A010005912143F4000400"),
       "[D] SEND SHORT MESSAGE: TS 102 223 6.6.9 objects, a TS 23.040 SMS-SUBMIT with no user data"},
      {hex("D009810301020082028182"), "[D] MORE TIME: TS 102 223 6.6.4"},
      {hex("D00D810301030082028182 840201 14"), "[D] POLL INTERVAL 20 s: TS 102 223 6.6.6, duration 8.8"},
      {hex("D00D810301030082028182 8402001A"), "[D] POLL INTERVAL 26 min"},
      {hex("D009810301040082028182"), "[D] POLLING OFF: TS 102 223 6.6.14"},
      {hex("D009810301260382028182"), "[D] PROVIDE LOCAL INFORMATION date, time and time zone: 6.6.15"},
  };
}

// The parsed views point into the bytes: keep them for the whole test.
Result<ProactiveCommand, CatError> parse(std::vector<u8> v) { return parse_proactive_command(test::keep(std::move(v))); }

std::vector<u8> build(const ProactiveCommand& c) {
  std::vector<u8> out(300);
  auto n = build_proactive_command(c, out);
  REQUIRE_MESSAGE(n.ok(), describe(n.error()));
  out.resize(*n);
  return out;
}

}  // namespace

TEST_CASE("proactive command parser decodes and re-encodes every reference vector byte for byte") {
  for (const Vector& v : valid_vectors()) {
    CAPTURE(v.source);
    auto c = parse(v.bytes);
    REQUIRE_MESSAGE(c.ok(), describe(c.error()));
    CHECK_FALSE(c->partial_comprehension);
    CHECK(hex_text(build(*c)) == hex_text(v.bytes));
    auto details = peek_command_details(v.bytes);
    REQUIRE(details.ok());
    CHECK(details->type == c->details.type);
  }
}

TEST_CASE("proactive command parser refuses every truncation of a valid command") {
  for (const Vector& v : valid_vectors()) {
    CAPTURE(v.source);
    for (std::size_t cut = 0; cut < v.bytes.size(); ++cut) {
      auto c = parse_proactive_command(Bytes(v.bytes).first(cut));
      CHECK_FALSE(c.ok());
    }
  }
}

TEST_CASE("set up event list carries the events to register (TS 102 223 6.4.16)") {
  auto c = parse(hex("D00D8103010500820281829902090A"));
  REQUIRE(c.ok());
  CHECK(c->details.number == 1);
  CHECK(c->details.type == CommandType::kSetUpEventList);
  CHECK(c->devices.source == device::kUicc);
  CHECK(c->devices.destination == device::kTerminal);
  CHECK(to_vector(c->events) == std::vector<u8>{0x09, 0x0A});
  const u8 events[] = {static_cast<u8>(Event::kDataAvailable), static_cast<u8>(Event::kChannelStatus)};
  CHECK(hex_text(build(make_set_up_event_list(1, events))) == "D00D8103010500820281829902090A");
}

TEST_CASE("open channel in uicc server mode gives buffer size and port (TS 102 223 6.4.27)") {
  auto c = parse(hex("D012810301400082028182390205783C03030DBC"));
  REQUIRE(c.ok());
  const OpenChannelParams& o = c->open_channel;
  CHECK(o.server_mode());
  CHECK(o.buffer_size == 1400);
  CHECK(o.transport_level.port == 3516);
  CHECK_FALSE(o.bearer_description.present);
  CHECK_FALSE(o.destination.present);
  CHECK(hex_text(build(make_open_channel_server(1, 1400, 3516))) == "D012810301400082028182390205783C03030DBC");
  CHECK(hex_text(build(make_open_channel_server(1, 1400, 10443))) == "D012810301400082028182390205783C030328CB");
}

TEST_CASE("open channel in client mode gives bearer, login, password, port and destination") {
  auto c = parse(hex("D03681030140018202818235070203040304 1F02390205780D08F4557365724C6F670D08F455736572507764"
                     "3C0301AD9C3E052101010101"));  // oFono open_channel_211
  REQUIRE(c.ok());
  const OpenChannelParams& o = c->open_channel;
  CHECK_FALSE(o.server_mode());
  CHECK(c->details.qualifier == qualifier::kOpenChannelImmediate);
  CHECK(hex_text(o.bearer_description.value) == "02030403041F02");
  CHECK(o.buffer_size == 1400);
  CHECK(to_vector(o.login.value) == join({hex("F4"), ascii("UserLog")}));
  CHECK(to_vector(o.password.value) == join({hex("F4"), ascii("UserPwd")}));
  CHECK(o.transport_level.protocol == TransportProtocol::kUdpClientRemote);
  CHECK(o.transport_level.port == 44444);
  CHECK_FALSE(o.local_address.present);
  REQUIRE(o.destination.present);
  CHECK(o.destination.type == address_type::kIpv4);
  CHECK(hex_text(o.destination.address) == "01010101");

  // Built from parts: same bytes, CR flags as in the vector.
  const auto bearer = hex("02030403041F02");
  const auto login = join({hex("F4"), ascii("UserLog")});
  const auto password = join({hex("F4"), ascii("UserPwd")});
  const auto ip = hex("01010101");
  ProactiveCommand b = make_open_channel_tcp_client(1, bearer, 1400, 44444, OtherAddress{true, address_type::kIpv4, ip});
  b.open_channel.transport_level.protocol = TransportProtocol::kUdpClientRemote;
  b.open_channel.login = some(login);
  b.open_channel.password = some(password);
  CHECK(hex_text(build(b)) ==
        "D03681030140018202818235070203040304" "1F02390205780D08F4557365724C6F670D08F455736572507764"
        "3C0301AD9C3E052101010101");
}

TEST_CASE("open channel keeps alpha, network access name and text attribute (oFono open_channel_511)") {
  auto c = parse(hex("D05381030140018202818205094F70656E2049442031350702030403041F023902057847 0A065465737447"
                     "700272730D08F4557365724C6F670D08F4557365725077643C0301AD9C3E052101010101D004000900B4"));
  REQUIRE(c.ok());
  CHECK(to_vector(c->alpha_identifier.value) == ascii("Open ID 1"));
  CHECK_FALSE(c->cr.has(tag::kAlphaIdentifier));
  CHECK(to_vector(c->open_channel.network_access_name.value) == join({hex("06"), ascii("TestGp"), hex("02"), ascii("rs")}));
  CHECK(hex_text(c->text_attribute.value) == "000900B4");
}

TEST_CASE("open channel tcp client with the default bearer and an IPv6 destination round-trips") {
  const auto bearer = hex("03");  // TS 102 223 8.52: 35 01 03 default bearer
  const auto ip6 = hex("20010DB8000000000000000000000001");
  const ProactiveCommand c =
      make_open_channel_tcp_client(7, bearer, 1500, 443, OtherAddress{true, address_type::kIpv6, ip6});
  const auto bytes = build(c);
  CHECK(hex_text(bytes) == "D028810307400182028182350103390205DC3C030201BB3E115720010DB8000000000000000000000001");
  auto back = parse(bytes);
  REQUIRE(back.ok());
  CHECK(back->open_channel.transport_level.protocol == TransportProtocol::kTcpClientRemote);
  CHECK(back->open_channel.destination.type == address_type::kIpv6);
  CHECK(to_vector(back->open_channel.destination.address) == ip6);
}

TEST_CASE("an other address before the transport level is the local address") {
  // [D] TS 102 223 6.6.27.2 order: bearer, buffer, local address (dynamic), transport, destination.
  auto c = parse(hex("D01E81030140018202818235010339020578 3E00 3C0302 0050 3E05217F000001"));
  REQUIRE(c.ok());
  CHECK(c->open_channel.local_address.present);
  CHECK(c->open_channel.local_address.address.empty());
  CHECK(hex_text(c->open_channel.destination.address) == "7F000001");
  CHECK(hex_text(build(*c)) == "D01E810301400182028182350103390205783E003C03020050" "3E05217F000001");
}

TEST_CASE("close channel names the channel and the server-mode qualifier (TS 102 223 8.6)") {
  auto c = parse(hex("D009810304410182028121"));
  REQUIRE(c.ok());
  CHECK(c->details.type == CommandType::kCloseChannel);
  CHECK(c->details.number == 4);
  CHECK(c->details.qualifier == qualifier::kCloseChannelToListen);
  CHECK(c->channel_id() == 1);
  CHECK(hex_text(build(make_close_channel(4, 1, true))) == "D009810304410182028121");
  CHECK(hex_text(build(make_close_channel(1, 1, false))) == "D009810301410082028121");
  auto alpha = parse(hex("D01B810301410082028121850A436C6F73652049442031D004000A00B4"));
  REQUIRE(alpha.ok());
  CHECK(to_vector(alpha->alpha_identifier.value) == ascii("Close ID 1"));
}

TEST_CASE("receive data asks for a number of bytes on a channel") {
  auto c = parse(hex("D00C810301420082028121B701C8"));
  REQUIRE(c.ok());
  CHECK(c->channel_data_length == 200);
  CHECK(c->channel_id() == 1);
  CHECK(hex_text(build(make_receive_data(1, 1, 200))) == "D00C810301420082028121B701C8");
  CHECK(hex_text(build(make_receive_data(2, 1, 0x23))) == "D00C810302420082028121B70123");
}

TEST_CASE("send data carries the channel data and the store or send-now qualifier") {
  const auto http = ascii(kHttpOk);
  const auto expected = join({hex("D033810303430182028121B628"), http});
  auto c = parse(expected);
  REQUIRE(c.ok());
  CHECK(c->details.qualifier == qualifier::kSendDataImmediately);
  CHECK(to_vector(c->channel_data) == http);
  CHECK(hex_text(build(make_send_data(3, 1, true, http))) == hex_text(expected));

  const auto data200 = counting(200);
  const auto send121 = join({hex("D081D4810301430082028121B681C8"), data200});
  CHECK(hex_text(build(make_send_data(1, 1, false, data200))) == hex_text(send121));
}

TEST_CASE("send data fits 240 bytes in a 255-byte command and refuses 241") {
  const auto max = counting(kMaxSendDataPayload);
  const auto bytes = build(make_send_data(1, 7, true, max));
  CHECK(bytes.size() == kMaxProactiveCommandSize);
  auto back = parse(bytes);
  REQUIRE(back.ok());
  CHECK(back->channel_data.size() == kMaxSendDataPayload);
  CHECK(back->channel_id() == 7);

  const auto over = counting(kMaxSendDataPayload + 1);
  std::vector<u8> out(400);
  auto r = build_proactive_command(make_send_data(1, 7, true, over), out);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error() == CatError::kTooLong);
  std::vector<u8> small(20);
  CHECK(build_proactive_command(make_send_data(1, 7, true, max), small).error() == CatError::kBufferTooSmall);
}

TEST_CASE("get channel status goes from the uicc to the terminal") {
  CHECK(hex_text(build(make_get_channel_status(1))) == "D009810301440082028182");
}

TEST_CASE("timer management starts, deactivates and reads timers (TS 102 223 6.6.21)") {
  auto start = parse(hex("D011810301270082028182A40101A503005000"));
  REQUIRE(start.ok());
  CHECK(start->timer_action() == qualifier::kTimerStart);
  CHECK(start->timer_id == 1);
  REQUIRE(start->has_timer_value);
  CHECK(start->timer_value.minutes == 5);
  CHECK(hex_text(build(make_timer_start(1, 1, TimerValue{0, 5, 0}))) == "D011810301270082028182A40101A503005000");
  CHECK(hex_text(build(make_timer_start(1, 2, TimerValue{23, 59, 59}))) == "D011810301270082028182A40102A503329595");
  CHECK(hex_text(build(make_timer_get_value(1, 1))) == "D00C810301270282028182A40101");
  CHECK(hex_text(build(make_timer_deactivate(1, 1))) == "D00C810301270182028182A40101");
  std::vector<u8> out(64);
  CHECK(build_proactive_command(make_timer_start(1, 1, TimerValue{0, 61, 0}), out).error() ==
        CatError::kInvalidArgument);
}

TEST_CASE("display text carries a text string with its coding scheme (oFono display_text_111)") {
  auto c = parse(hex("D01A8103012180820281028D0F04546F6F6C6B6974205465737420 31"));
  REQUIRE(c.ok());
  CHECK(c->details.qualifier == 0x80);
  CHECK(c->devices.destination == device::kDisplay);
  CHECK(to_vector(c->text_string) == join({hex("04"), ascii("Toolkit Test 1")}));
  const auto text = join({hex("04"), ascii("Toolkit Test 1")});
  CHECK(hex_text(build(make_display_text(1, 0x80, text))) == "D01A8103012180820281028D0F04546F6F6C6B697420546573742031");
  // Immediate response and duration, in TS 102 223 6.6.1 order.
  ProactiveCommand d = make_display_text(2, 0x00, text);
  d.immediate_response = true;
  const auto duration = hex("0105");
  d.duration = some(duration);
  auto back = parse(build(d));
  REQUIRE(back.ok());
  CHECK(back->immediate_response);
  CHECK(hex_text(back->duration.value) == "0105");
}

TEST_CASE("send short message gives the address and tpdu as views") {
  auto c = parse(hex("D0158103011300820281838B0A010005912143F4000400"));
  REQUIRE(c.ok());
  CHECK(c->devices.destination == device::kNetwork);
  CHECK(hex_text(c->sms_tpdu) == "010005912143F4000400");
  CHECK_FALSE(c->address.present);
}

TEST_CASE("an unknown object without CR is skipped, with CR it is refused (TS 102 223 6.10)") {
  // close_channel_111 + 36 01 00 (channel data is not a CLOSE CHANNEL object).
  auto skipped = parse(hex("D00C810301410082028121360100"));
  REQUIRE(skipped.ok());
  CHECK(skipped->partial_comprehension);
  auto refused = parse(hex("D00C810301410082028121B60100"));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error() == CatError::kUnknownRequiredTlv);
  CHECK(general_result_for(refused.error()) == GeneralResult::kDataNotUnderstood);
}

TEST_CASE("more time, polling off and provide local information carry only their details (TS 102 223 6.6)") {
  CHECK(hex_text(build(make_more_time(1))) == "D009810301020082028182");
  CHECK(hex_text(build(make_polling_off(1))) == "D009810301040082028182");
  CHECK(hex_text(build(make_provide_local_information(1, qualifier::kLocalInfoDateTimeAndTimeZone))) ==
        "D009810301260382028182");
  auto c = parse(hex("D009810302260382028182"));
  REQUIRE(c.ok());
  CHECK(c->details.type == CommandType::kProvideLocalInformation);
  CHECK(c->details.number == 2);
  CHECK(c->details.qualifier == qualifier::kLocalInfoDateTimeAndTimeZone);
  // Another qualifier (01: IMEI) parses too: the terminal decides what it provides.
  CHECK(parse(hex("D009810301260182028182")).ok());
  // These commands go to the terminal (82): another destination is data not understood.
  auto wrong = parse(hex("D009810301020082028102"));
  REQUIRE_FALSE(wrong.ok());
  CHECK(wrong.error() == CatError::kBadDeviceIdentities);
}

TEST_CASE("poll interval carries a duration, required and valid (TS 102 223 6.6.6)") {
  auto c = parse(hex("D00D810301030082028182840201 14"));
  REQUIRE(c.ok());
  REQUIRE(c->duration.present);
  auto d = decode_duration(c->duration.value);
  REQUIRE(d.ok());
  CHECK(d->unit == DurationUnit::kSeconds);
  CHECK(d->interval == 20);
  const u8 twenty_s[] = {0x01, 0x14};
  CHECK(hex_text(build(make_poll_interval(1, twenty_s))) == "D00D81030103008202818284020114");

  struct Row {
    const char* bytes;
    CatError error;
  };
  const Row rows[] = {
      {"D009810301030082028182", CatError::kMissingDuration},
      {"D00D8103010300820281828402 0100", CatError::kBadDuration},      // interval 0 is reserved
      {"D00D8103010300820281828402 0714", CatError::kBadDuration},      // unit 07 is reserved
      {"D00C81030103008202818284 0101", CatError::kBadDuration},         // one byte
  };
  for (const Row& row : rows) {
    CAPTURE(row.bytes);
    auto bad = parse(hex(row.bytes));
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error() == row.error);
  }
  CHECK(general_result_for(CatError::kMissingDuration) == GeneralResult::kRequiredValuesMissing);
}

TEST_CASE("a command type the codec does not know is type not understood, with its details") {
  // oFono language_notification_121 and a REFRESH: both outside this codec.
  for (const char* v : {"D009810301350082028182", "D009810301010082028182"}) {
    CAPTURE(v);
    const auto bytes = hex(v);
    auto c = parse(bytes);
    REQUIRE_FALSE(c.ok());
    CHECK(c.error() == CatError::kUnknownCommandType);
    CHECK(general_result_for(c.error()) == GeneralResult::kTypeNotUnderstood);
    auto details = peek_command_details(bytes);
    REQUIRE(details.ok());
    CHECK(details->number == 1);
  }
}

TEST_CASE("malformed proactive commands are refused with the error that names the problem") {
  struct Row {
    const char* bytes;
    CatError error;
    const char* why;
  };
  const Row rows[] = {
      {"D109810301410082028121", CatError::kWrongOuterTag, "D1 is an envelope tag"},
      {"D00981030141008202812100", CatError::kTrailingBytes, "a byte after the D0 TLV"},
      {"D00C810301420082028121B701", CatError::kMalformedTlv, "outer length past the end"},
      {"D00C810301420082028121B702C8", CatError::kMalformedTlv, "inner length past the end"},
      {"D00B810301420082028121B681", CatError::kMalformedTlv, "inner length form cut short"},
      {"D00482028182", CatError::kMissingCommandDetails, "no command details"},
      {"D0058103014400", CatError::kMissingDeviceIdentities, "no device identities"},
      {"D0088102014482028182", CatError::kBadCommandDetails, "command details of 2 bytes"},
      {"D009810301420082028121", CatError::kMissingChannelDataLength, "RECEIVE DATA without 37"},
      {"D00B810301420082028121B700", CatError::kBadChannelDataLength, "zero-length channel data length"},
      {"D00F810301420082028121B701C8B70110", CatError::kDuplicateTlv, "two channel data lengths"},
      {"D01081030142008202812182028121B701C8", CatError::kDuplicateTlv, "two device identities"},
      {"D00C810301420082028182B701C8", CatError::kBadDeviceIdentities, "RECEIVE DATA to the terminal"},
      {"D00C810301420082028128B701C8", CatError::kBadDeviceIdentities, "channel 8 does not exist"},
      {"D00C810301420082028221B701C8", CatError::kBadDeviceIdentities, "source is not the UICC"},
      {"D00B8103014200820181B701C8", CatError::kBadDeviceIdentities, "device identities of 1 byte"},
      {"D009810301430082028121", CatError::kMissingChannelData, "SEND DATA without 36"},
      {"D009810301050082028182", CatError::kMissingEventList, "SET UP EVENT LIST without 19"},
      {"D00E8103014000820281823C03030DBC", CatError::kMissingBufferSize, "OPEN CHANNEL without 39"},
      {"D01081030140008202818239003C03030DBC", CatError::kBadBufferSize, "zero-length buffer size"},
      {"D019810301400182028182390205783C030200503E05217F000001", CatError::kMissingBearerDescription,
       "client mode without bearer description"},
      {"D015810301400182028182350103390205783C03020050", CatError::kMissingDestinationAddress,
       "TCP client remote without destination"},
      {"D01B810301400182028182350103390205783C030200503E0421010101", CatError::kBadOtherAddress,
       "IPv4 address of 3 bytes"},
      {"D019810301400182028182350103390205783C030200503E003E00", CatError::kDuplicateTlv,
       "two destination addresses after the transport level"},
      {"D0168103014001820281823500390205783C030200503E00", CatError::kBadBearerDescription,
       "empty bearer description"},
      {"D011810301400082028182390205783C02030D", CatError::kBadTransportLevel, "transport level of 2 bytes"},
      {"D025810301400182028182350103390205780D01040D01040D01043C030200503E05217F000001",
       CatError::kDuplicateTlv, "three text strings in OPEN CHANNEL"},
      {"D00C810301270082028182A40101", CatError::kMissingTimerValue, "start without a timer value"},
      {"D009810301270082028182", CatError::kMissingTimerIdentifier, "no timer identifier"},
      {"D00C810301270382028182A40101", CatError::kBadQualifier, "timer action 11 is RFU"},
      {"D00C810301270282028182A40109", CatError::kBadTimerIdentifier, "timer 9"},
      {"D011810301270082028182A40101A503000A00", CatError::kBadTimerValue, "A is no BCD digit"},
      {"D011810301270082028182A40101A503000600", CatError::kBadTimerValue, "60 minutes"},
      {"D00E810301270082028182A40101A500", CatError::kBadTimerValue, "empty timer value"},
      {"D009810301218082028102", CatError::kMissingTextString, "DISPLAY TEXT without text"},
      {"D00E8103012180820281028D00AB0100", CatError::kBadImmediateResponse, "immediate response with a value"},
      {"D00E8103012180820281028D009E0100", CatError::kBadIconIdentifier, "icon identifier of 1 byte"},
      {"D00E8103012180820281028D00840100", CatError::kBadDuration, "duration of 1 byte"},
      {"D009810301130082028183", CatError::kMissingSmsTpdu, "SEND SHORT MESSAGE without TPDU"},
      {"D009810301218082028102", CatError::kMissingTextString, "DISPLAY TEXT (again, spacing)"},
  };
  for (const Row& row : rows) {
    const std::string why = row.why;
    const std::string bytes = row.bytes;
    CAPTURE(why);
    CAPTURE(bytes);
    auto c = parse(hex(row.bytes));
    REQUIRE_FALSE(c.ok());
    CHECK(std::string(describe(c.error())) == describe(row.error));
  }
}

TEST_CASE("missing mandatory objects are answered with required values missing (36)") {
  auto c = parse(hex("D00E8103014000820281823C03030DBC"));
  REQUIRE_FALSE(c.ok());
  CHECK(kind_of(c.error()) == CatErrorKind::kRequiredValuesMissing);
  CHECK(general_result_for(c.error()) == GeneralResult::kRequiredValuesMissing);
}

TEST_CASE("the builder refuses command types it does not encode") {
  ProactiveCommand c;
  c.details.type = CommandType::kRefresh;
  std::vector<u8> out(64);
  CHECK(build_proactive_command(c, out).error() == CatError::kInvalidArgument);
}
