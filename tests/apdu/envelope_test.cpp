#include "apdu/envelope.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "tests/apdu/bytes_util.hpp"

using namespace scws;
using namespace scws::apdu;
using namespace scws::apdu::cat;
using scws::test::hex;
using scws::test::to_vector;

namespace {

struct Vector {
  const char* bytes;
  const char* source;
};

const Vector kVectors[] = {
    {"D60E990109820282 81B8028100B701FF", "docs/protocol.md section 7.4: data available, channel 1, >= 255 bytes"},
    {"D60B99010A82028281B8020105", "docs/protocol.md section 5.4: channel status, link dropped (client mode)"},
    {"D60B99010A82028281B8024100", "oFono event_download_channel_status_211: LISTEN"},
    {"D60B99010A82028281B8028100", "oFono event_download_channel_status_221: ESTABLISHED"},
    {"D60E99010982028281B8028100B70123", "docs/protocol.md section 9: data available, 35 bytes"},
    {"D70C82028281A40101A503000001", "oFono timer_expiration_211: timer 1, 10 s"},
    {"D70C82028281A40101A503000003", "oFono timer_expiration_221a: timer 1, 30 s"},
    {"D12D82028381060991112233445566 77F88B1C04049121437F16891010000000000D53686F7274204D657373616765",
     "oFono sms_pp_data_download_161"},
    {"D12D820283810609911122334455667 7F88B1C04049121437FF6891010000000000D53686F7274204D657373616765",
     "oFono sms_pp_data_download_162"},
    {"D13E820283810609911122334455667 7F88B2D44049121437FF6891010000000001E0270000019000D00000000BFFF"
     "00000000000100DCDCDCDCDCDCDCDCDCDC",
     "oFono sms_pp_data_download_182: UDHI, command packet"},
};

Result<Envelope, CatError> parse(std::vector<u8> v) { return parse_envelope(test::keep(std::move(v))); }

std::vector<u8> build(const Envelope& e) {
  std::vector<u8> out(300);
  auto n = build_envelope(e, out);
  REQUIRE_MESSAGE(n.ok(), describe(n.error()));
  out.resize(*n);
  return out;
}

}  // namespace

TEST_CASE("envelope parser decodes and re-encodes every reference vector byte for byte") {
  for (const Vector& v : kVectors) {
    CAPTURE(v.source);
    const auto bytes = hex(v.bytes);
    auto e = parse(bytes);
    REQUIRE_MESSAGE(e.ok(), describe(e.error()));
    CHECK_FALSE(e->skipped_unknown);
    CHECK(e->devices.destination == device::kUicc);
    CHECK(hex_text(build(*e)) == hex_text(bytes));
    for (std::size_t cut = 0; cut < bytes.size(); ++cut)
      CHECK_FALSE(parse_envelope(Bytes(bytes).first(cut)).ok());
  }
}

TEST_CASE("data available tells the card which channel has how many bytes (TS 102 223 7.5.10)") {
  auto e = parse(hex("D60E99010982028281B8028100B701FF"));
  REQUIRE(e.ok());
  CHECK(e->type == EnvelopeType::kEventDownload);
  CHECK(e->event == Event::kDataAvailable);
  CHECK(e->devices.source == device::kTerminal);
  CHECK(e->channel_status.channel_id() == 1);
  CHECK(e->channel_data_length == kChannelDataLengthMany);
  CHECK(hex_text(build(make_data_available(client_channel_status(1, true), 0xFF))) ==
        "D60E99010982028281B8028100B701FF");
  CHECK(hex_text(build(make_data_available(server_channel_status(1, ServerState::kEstablished), 0x23))) ==
        "D60E99010982028281B8028100B70123");
}

TEST_CASE("channel status events carry the server-mode state") {
  const struct {
    ServerState state;
    u8 info;
    const char* bytes;
    const char* source;
  } rows[] = {
      {ServerState::kListen, channel_info::kNone, "D60B99010A82028281B8024100", "docs/protocol.md section 7.4 LISTEN"},
      {ServerState::kEstablished, channel_info::kNone, "D60B99010A82028281B8028100", "1.13 ESTABLISHED"},
      {ServerState::kListen, channel_info::kLinkDropped, "D60B99010A82028281B8024105",
       "1.12: Intel gateway LISTEN with link dropped"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.source);
    const Envelope e = make_channel_status_event(server_channel_status(1, row.state, row.info));
    CHECK(hex_text(build(e)) == row.bytes);
    auto back = parse(hex(row.bytes));
    REQUIRE(back.ok());
    CHECK(back->event == Event::kChannelStatus);
    CHECK(back->channel_status.server_state() == row.state);
    CHECK(back->channel_status.info == row.info);
  }
}

TEST_CASE("timer expiration names the timer and its value (oFono timer_expiration_211)") {
  auto e = parse(hex("D70C82028281A40101A503000001"));
  REQUIRE(e.ok());
  CHECK(e->type == EnvelopeType::kTimerExpiration);
  CHECK(e->timer_id == 1);
  CHECK(timer_seconds(e->timer_value) == 10);
  CHECK(hex_text(build(make_timer_expiration(1, TimerValue{0, 0, 30}))) == "D70C82028281A40101A503000003");
}

TEST_CASE("sms-pp download gives the address and the tpdu as views for the OTA layer") {
  const auto bytes = hex(kVectors[7].bytes);
  auto e = parse(bytes);
  REQUIRE(e.ok());
  CHECK(e->type == EnvelopeType::kSmsPpDownload);
  CHECK(e->devices.source == device::kNetwork);
  REQUIRE(e->address.present);
  CHECK(hex_text(e->address.value) == "91112233445566" "77F8");
  CHECK(e->sms_tpdu.size() == 0x1C);
  CHECK(e->sms_tpdu[0] == 0x04);  // SMS-DELIVER
  CHECK(e->sms_tpdu.data() >= e->address.value.data());  // views into the input
  const Envelope b = make_sms_pp_download(e->address, e->sms_tpdu);
  CHECK(hex_text(build(b)) == hex_text(bytes));
  // Without an address (TS 31.111 7.1.1.2: the address is optional).
  const auto tpdu = hex("0400");
  auto back = parse(build(make_sms_pp_download(OptionalBytes{}, tpdu)));
  REQUIRE(back.ok());
  CHECK_FALSE(back->address.present);
  CHECK(to_vector(back->sms_tpdu) == tpdu);
}

TEST_CASE("other events parse with their code and skip their objects") {
  // oFono event_download_mt_call_111: network -> UICC, transaction id 9C.
  auto e = parse(hex("D60A99010082028381 9C0100"));
  REQUIRE(e.ok());
  CHECK(e->event == Event::kMtCall);
  CHECK(e->skipped_unknown);
  CHECK_FALSE(e->has_channel_status);
}

TEST_CASE("malformed envelopes are refused with the error that names the problem") {
  struct Row {
    const char* bytes;
    CatError error;
    const char* why;
  };
  const Row rows[] = {
      {"D30782020181900102", CatError::kWrongOuterTag, "oFono menu_selection_111: D3 is not handled here"},
      {"D60B99010A82028281B802410000", CatError::kTrailingBytes, "a byte after the envelope"},
      {"D60C99020 90A82028281B8028100", CatError::kBadEventList, "two events in one envelope"},
      {"D60A9900 82028281B8028100", CatError::kBadEventList, "empty event list"},
      {"D60B99010982028281B8028100", CatError::kMissingChannelDataLength, "data available without 37"},
      {"D60799010A82028281", CatError::kMissingChannelStatus, "channel status event without 38"},
      {"D606 82028281 B800", CatError::kBadChannelStatus, "empty channel status"},
      {"D60399010A", CatError::kMissingDeviceIdentities, "no device identities"},
      {"D60B99010A82028282B8024100", CatError::kBadDeviceIdentities, "destination is not the UICC"},
      {"D60F99010A82028281B8024100B8024100", CatError::kDuplicateTlv, "two channel statuses"},
      {"D60E99010982028281B8028100B702 00", CatError::kMalformedTlv, "channel data length past the end"},
      {"D70782028281A40101", CatError::kMissingTimerValue, "timer expiration without value"},
      {"D70982028281A503000001", CatError::kMissingTimerIdentifier, "timer expiration without id"},
      {"D70C82028281A40100A503000001", CatError::kBadTimerIdentifier, "timer 0"},
      {"D70C82028281A40101A5030000FF", CatError::kBadTimerValue, "F is no BCD digit"},
      {"D10482028381", CatError::kMissingSmsTpdu, "SMS-PP download without TPDU"},
      {"D6", CatError::kMalformedTlv, "tag alone"},
  };
  for (const Row& row : rows) {
    const std::string why = row.why;
    CAPTURE(why);
    auto e = parse(hex(row.bytes));
    REQUIRE_FALSE(e.ok());
    CHECK(std::string(describe(e.error())) == describe(row.error));
  }
}

TEST_CASE("the envelope builder refuses envelopes over 255 bytes") {
  const auto tpdu = test::counting(250);
  std::vector<u8> out(400);
  CHECK(build_envelope(make_sms_pp_download(OptionalBytes{}, tpdu), out).error() == CatError::kTooLong);
  std::vector<u8> small(4);
  CHECK(build_envelope(make_channel_status_event(ChannelStatus{0x41, 0}), small).error() ==
        CatError::kBufferTooSmall);
}
