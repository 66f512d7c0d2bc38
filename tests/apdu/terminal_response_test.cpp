#include "apdu/terminal_response.hpp"

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

const char kHttpGet[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";  // docs/protocol.md section 9, 35 bytes

struct Vector {
  std::vector<u8> bytes;
  const char* source;
};

std::vector<Vector> valid_vectors() {
  return {
      {hex("810301050082028281830100"), "docs/protocol.md section 7.2 SET UP EVENT LIST response"},
      {hex("810301400082028281830100380241003902 0578"), "docs/protocol.md section 7.3 OPEN CHANNEL: channel 1 LISTEN"},
      {join({hex("810302420082028281830100B623"), ascii(kHttpGet), hex("B70100")}),
       "docs/protocol.md section 7.5 RECEIVE DATA: 35 bytes, none left"},
      {hex("810303430182028281830100B701FF"), "docs/protocol.md section 7.6 SEND DATA: more than 255 bytes free"},
      {hex("810304410182028281830100"), "docs/protocol.md section 7.7 CLOSE CHANNEL"},
      {hex("81030140018202828183010038028100350702030403041F0239020578"), "oFono open_channel_response_211"},
      {hex("810301400182028281830122350702030403041F0239020578"), "oFono open_channel_response_271: user rejected"},
      {hex("81030141008202828183023A03"), "oFono close_channel_response_121: channel id not valid"},
      {hex("81030141008202828183023A02"), "oFono close_channel_response_131: channel already closed"},
      {join({hex("810301420082028281830100B681C8"), counting(200, 0xC8), hex("B701FF")}),
       "oFono receive_data_response_111: 81 C8 channel data"},
      {hex("810301430182028281830100B701FF"), "oFono send_data_response_111"},
      {hex("810301430082028281830100B701FF"), "oFono send_data_response_121"},
      {hex("81030143018202828183023A03"), "oFono send_data_response_151"},
      {hex("810301440082028281830100B8020000"), "oFono get_channel_status_response_111: no channel"},
      {hex("810301440082028281830100B8028100"), "oFono get_channel_status_response_121"},
      {hex("810301440082028281830100B8020105"), "oFono get_channel_status_response_131: link dropped"},
      {hex("810301440082028281830100B8024100B8028200B8020300"),
       "[D] GET CHANNEL STATUS, three server channels (docs/protocol.md section 7.8: one 38 per channel)"},
      {hex("810301270082028281830100A40103"), "oFono timer_mgmt_response_163"},
      {hex("810301270282028281830124A40105"), "oFono timer_mgmt_response_145a: timer conflict"},
      {hex("810301270182028281830124"), "oFono timer_mgmt_response_151b"},
      {hex("810301270282028281830100A40101A503005000"), "[D] TIMER MANAGEMENT get value: 5 minutes left"},
      {hex("8103012180820282818301 00"), "oFono display_text_response_111"},
      {hex("81030121808202828183022001"), "oFono display_text_response_121: screen busy"},
      {hex("810301020082028281830100"), "[D] MORE TIME response: TS 102 223 6.8"},
      {hex("8103010300820282818301008402 0114"), "[D] POLL INTERVAL response: the 20 s in use (6.8, 8.8)"},
      {hex("810301040082028281830100"), "[D] POLLING OFF response"},
      {hex("810301260382028281830100A607 42309041500340"),
       "[D] PROVIDE LOCAL INFORMATION 03 response: 2024-03-09 14:05:30 GMT+1 (6.8, 8.39)"},
  };
}

Result<TerminalResponse, CatError> parse(std::vector<u8> v) {
  return parse_terminal_response(test::keep(std::move(v)));
}

std::vector<u8> build(const TerminalResponse& r) {
  std::vector<u8> out(300);
  auto n = build_terminal_response(r, out);
  REQUIRE_MESSAGE(n.ok(), describe(n.error()));
  out.resize(*n);
  return out;
}

}  // namespace

TEST_CASE("terminal response parser decodes and re-encodes every reference vector byte for byte") {
  for (const Vector& v : valid_vectors()) {
    CAPTURE(v.source);
    auto r = parse(v.bytes);
    REQUIRE_MESSAGE(r.ok(), describe(r.error()));
    CHECK_FALSE(r->skipped_unknown);
    CHECK(r->devices.source == device::kTerminal);
    CHECK(r->devices.destination == device::kUicc);
    CHECK(hex_text(build(*r)) == hex_text(v.bytes));
  }
}

TEST_CASE("open channel response reports the listening channel and the granted buffer") {
  auto r = parse(hex("810301400082028281830100380241003902 0578"));
  REQUIRE(r.ok());
  CHECK(r->details.type == CommandType::kOpenChannel);
  CHECK(r->result.general == GeneralResult::kOk);
  REQUIRE(r->channel_status_count == 1);
  CHECK(r->channel_status[0].channel_id() == 1);
  CHECK(r->channel_status[0].server_state() == ServerState::kListen);
  CHECK(r->has_buffer_size);
  CHECK(r->buffer_size == 1400);
  CHECK_FALSE(r->cr.has(tag::kChannelStatus));  // 38, not B8

  TerminalResponse b = make_terminal_response(CommandDetails{1, CommandType::kOpenChannel, 0},
                                              make_result(GeneralResult::kOk));
  b.add_channel_status(server_channel_status(1, ServerState::kListen));
  b.has_buffer_size = true;
  b.buffer_size = 1400;
  CHECK(hex_text(build(b)) == "8103014000820282818301003802410039020578");
}

TEST_CASE("channel status parses the same with and without the CR flag (38 vs B8)") {
  auto plain = parse(hex("810301440082028281830100 38028100"));
  auto cr = parse(hex("810301440082028281830100 B8028100"));
  REQUIRE(plain.ok());
  REQUIRE(cr.ok());
  CHECK(plain->channel_status[0].status == cr->channel_status[0].status);
  CHECK_FALSE(plain->cr.has(tag::kChannelStatus));
  CHECK(cr->cr.has(tag::kChannelStatus));
}

TEST_CASE("receive data response carries the data and the bytes left (docs/protocol.md section 7.5)") {
  const auto get = ascii(kHttpGet);
  REQUIRE(get.size() == 35);
  auto r = parse(join({hex("810302420082028281830100B623"), get, hex("B70100")}));
  REQUIRE(r.ok());
  CHECK(r->details.number == 2);
  CHECK(to_vector(r->channel_data.value) == get);
  CHECK(r->has_channel_data_length);
  CHECK(r->channel_data_length == 0);

  TerminalResponse b = make_terminal_response(CommandDetails{2, CommandType::kReceiveData, 0},
                                              make_result(GeneralResult::kOk));
  b.channel_data = some(get);
  b.has_channel_data_length = true;
  b.channel_data_length = 0;
  CHECK(hex_text(build(b)) == hex_text(join({hex("810302420082028281830100B623"), get, hex("B70100")})));
}

TEST_CASE("receive data response fits 237 bytes of channel data in 255 and refuses 238") {
  const auto max = counting(kMaxReceiveDataPayload);
  TerminalResponse r = make_terminal_response(CommandDetails{1, CommandType::kReceiveData, 0},
                                              make_result(GeneralResult::kOk));
  r.channel_data = some(max);
  r.has_channel_data_length = true;
  r.channel_data_length = kChannelDataLengthMany;
  CHECK(build(r).size() == kMaxTerminalResponseSize);
  const auto over = counting(kMaxReceiveDataPayload + 1);
  r.channel_data = some(over);
  std::vector<u8> out(400);
  CHECK(build_terminal_response(r, out).error() == CatError::kTooLong);
  std::vector<u8> small(10);
  CHECK(build_terminal_response(r, small).error() == CatError::kBufferTooSmall);
}

TEST_CASE("get channel status response lists one channel status per channel") {
  TerminalResponse b = make_terminal_response(CommandDetails{1, CommandType::kGetChannelStatus, 0},
                                              make_result(GeneralResult::kOk));
  b.add_channel_status(server_channel_status(1, ServerState::kListen));
  b.add_channel_status(server_channel_status(2, ServerState::kEstablished));
  b.add_channel_status(server_channel_status(3, ServerState::kClosed));
  const auto bytes = build(b);
  CHECK(hex_text(bytes) == "810301440082028281830100B8024100B8028200B8020300");
  auto back = parse(bytes);
  REQUIRE(back.ok());
  REQUIRE(back->channel_status_count == 3);
  CHECK(back->channel_status[1].server_state() == ServerState::kEstablished);
  CHECK(back->channel_status[2].channel_id() == 3);
}

TEST_CASE("bip errors carry their cause (oFono close_channel_response_121)") {
  const TerminalResponse b = make_terminal_response(CommandDetails{1, CommandType::kCloseChannel, 0},
                                                    make_bip_error(BipCause::kChannelIdNotValid));
  CHECK(hex_text(build(b)) == "81030141008202828183023A03");
  auto r = parse(hex("81030141008202828183023A02"));
  REQUIRE(r.ok());
  CHECK(r->result.general == GeneralResult::kBipError);
  REQUIRE(r->result.additional_size == 1);
  CHECK(r->result.additional[0] == static_cast<u8>(BipCause::kChannelClosed));
}

TEST_CASE("send data response reports the free Tx space (oFono send_data_response_111)") {
  TerminalResponse b = make_terminal_response(CommandDetails{1, CommandType::kSendData, 1},
                                              make_result(GeneralResult::kOk));
  b.has_channel_data_length = true;
  b.channel_data_length = kChannelDataLengthMany;
  CHECK(hex_text(build(b)) == "810301430182028281830100B701FF");
}

TEST_CASE("timer management response echoes the timer and its value") {
  TerminalResponse b = make_terminal_response(CommandDetails{1, CommandType::kTimerManagement, 0},
                                              make_result(GeneralResult::kOk));
  b.has_timer_id = true;
  b.timer_id = 3;
  CHECK(hex_text(build(b)) == "810301270082028281830100A40103");  // oFono timer_mgmt_response_163
  auto r = parse(hex("810301270282028281830100A40101A503005000"));
  REQUIRE(r.ok());
  CHECK(r->timer_id == 1);
  REQUIRE(r->has_timer_value);
  CHECK(r->timer_value.minutes == 5);
}

TEST_CASE("poll interval response states the duration in use (TS 102 223 6.4.6)") {
  TerminalResponse b = make_terminal_response(CommandDetails{1, CommandType::kPollInterval, 0},
                                              make_result(GeneralResult::kOk));
  b.has_duration = true;
  b.duration = Duration{DurationUnit::kSeconds, 20};
  CHECK(hex_text(build(b)) == "81030103008202828183010084020114");
  auto r = parse(hex("810301030082028281830100 8402001A"));
  REQUIRE(r.ok());
  REQUIRE(r->has_duration);
  CHECK(r->duration.unit == DurationUnit::kMinutes);
  CHECK(r->duration.interval == 26);
  auto bad = parse(hex("81030103008202828183010084020100"));
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error() == CatError::kBadDuration);
}

TEST_CASE("provide local information response carries date, time and time zone (TS 102 223 6.4.15)") {
  TerminalResponse b = make_terminal_response(
      CommandDetails{1, CommandType::kProvideLocalInformation, qualifier::kLocalInfoDateTimeAndTimeZone},
      make_result(GeneralResult::kOk));
  b.has_date_time = true;
  b.date_time = DateTimeZone{24, 3, 9, 14, 5, 30, true, 4};
  CHECK(hex_text(build(b)) == "810301260382028281830100A60742309041500340");
  auto r = parse(hex("810301260382028281830100A607520110000000FF"));
  REQUIRE(r.ok());
  REQUIRE(r->has_date_time);
  CHECK(r->date_time.year == 25);
  CHECK(r->date_time.month == 10);
  CHECK_FALSE(r->date_time.zone_known);
  b.date_time.month = 13;
  std::vector<u8> out(64);
  CHECK(build_terminal_response(b, out).error() == CatError::kInvalidArgument);
}

TEST_CASE("unknown objects in a terminal response are skipped whatever their CR flag") {
  // oFono get_inkey_response_111 carries a text string 8D the card did not ask for here.
  auto r = parse(hex("810301220082028281830100 8D02042B"));
  REQUIRE(r.ok());
  CHECK(r->skipped_unknown);
  CHECK(hex_text(build(*r)) == "810301220082028281830100");
}

TEST_CASE("malformed terminal responses are refused with the error that names the problem") {
  struct Row {
    const char* bytes;
    CatError error;
    const char* why;
  };
  const Row rows[] = {
      {"8202828183010 0", CatError::kMissingCommandDetails, "no command details"},
      {"8103014000830100", CatError::kMissingDeviceIdentities, "no device identities"},
      {"81030140008202828 1", CatError::kMissingResult, "no result"},
      {"810301400082028281 8300", CatError::kBadResult, "empty result"},
      {"81030140008202818283 0100", CatError::kBadDeviceIdentities, "81 -> 82 is the proactive direction"},
      {"810301400082028281830100830100", CatError::kDuplicateTlv, "two results"},
      {"810301400082028281830100 3902057839020578", CatError::kDuplicateTlv, "two buffer sizes"},
      {"810301400082028281830100 390105", CatError::kBadBufferSize, "buffer size of 1 byte"},
      {"810301400082028281830100 380141", CatError::kBadChannelStatus, "channel status of 1 byte"},
      {"810301440082028281830100 B8020100B8020200B8020300B8020400B8020500B8020600B8020700B8020000",
       CatError::kBadChannelStatus, "eight channel statuses"},
      {"810301430182028281830100 B70200FF", CatError::kBadChannelDataLength, "channel data length of 2"},
      {"810301270082028281830100 A40100", CatError::kBadTimerIdentifier, "timer 0"},
      {"810301270082028281830100 A40101A5020000", CatError::kBadTimerValue, "timer value of 2 bytes"},
      {"810301400082028281830100 3500", CatError::kBadBearerDescription, "empty bearer description"},
      {"810301400082028281830100 3E0121", CatError::kBadOtherAddress, "address type without address"},
      {"810301400082028281830100 3802", CatError::kMalformedTlv, "value past the end"},
      {"810301400082028281830100 83", CatError::kMalformedTlv, "tag without length"},
      {"8103014000820282818312" "20" "0000000000000000000000000000000000",
       CatError::kBadResult, "17 bytes of additional information"},
      {"8103014000820282818311" "20" "00000000000000000000000000000000 FF",
       CatError::kMalformedTlv, "16 bytes of additional information, then a stray byte"},
  };
  for (const Row& row : rows) {
    const std::string why = row.why;
    CAPTURE(why);
    auto r = parse(hex(row.bytes));
    REQUIRE_FALSE(r.ok());
    CHECK(std::string(describe(r.error())) == describe(row.error));
  }
}

TEST_CASE("the terminal response builder refuses impossible field values") {
  TerminalResponse r;
  r.channel_status_count = kMaxChannels + 1;
  std::vector<u8> out(64);
  CHECK(build_terminal_response(r, out).error() == CatError::kInvalidArgument);
  TerminalResponse t = make_terminal_response(CommandDetails{1, CommandType::kTimerManagement, 2},
                                              make_result(GeneralResult::kOk));
  t.has_timer_value = true;
  t.timer_value = TimerValue{0, 0, 75};
  CHECK(build_terminal_response(t, out).error() == CatError::kInvalidArgument);
}

TEST_CASE("terminal response cr flags follow the command type") {
  CHECK_FALSE(terminal_response_cr(CommandType::kOpenChannel).has(tag::kChannelStatus));
  CHECK(terminal_response_cr(CommandType::kGetChannelStatus).has(tag::kChannelStatus));
  CHECK(terminal_response_cr(CommandType::kReceiveData).has(tag::kChannelData));
  CHECK_FALSE(terminal_response_cr(CommandType::kOpenChannel).has(tag::kBufferSize));
}
