#include "sim/host/vpcd_frame.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <optional>
#include <vector>

using namespace scws;
using namespace scws::sim;

namespace {

using Kind = VpcdRequestKind;

struct Observed {
  Kind kind;
  std::vector<u8> apdu;
  bool operator==(const Observed&) const = default;
};

struct Outcome {
  std::vector<Observed> frames;
  std::optional<VpcdFrameError> error;
};

// Feeds the chunks in order, as a socket would deliver them, and records every frame.
Outcome run(VpcdFrameParser& parser, const std::vector<Bytes>& chunks) {
  Outcome out;
  for (Bytes chunk : chunks) {
    while (!chunk.empty()) {
      auto step = parser.feed(chunk);
      REQUIRE(step.consumed <= chunk.size());
      chunk = chunk.subspan(step.consumed);
      if (step.event == VpcdFrameParser::Event::kFrame) {
        const auto& r = parser.request();
        out.frames.push_back({r.kind, std::vector<u8>(r.apdu.begin(), r.apdu.end())});
      } else if (step.event == VpcdFrameParser::Event::kError) {
        out.error = parser.error();
        return out;
      } else {
        CHECK(chunk.empty());  // kNeedMore consumes everything
      }
    }
  }
  return out;
}

std::vector<u8> concat(std::initializer_list<std::vector<u8>> parts) {
  std::vector<u8> out;
  for (auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// A session as vpcd drives it (docs/protocol.md section 10: 2-byte big-endian length + payload;
// 1-byte payloads are control bytes, longer ones APDUs).
const std::vector<u8> kPowerOn = {0x00, 0x01, 0x01};    // VPCD_CTRL_ON
const std::vector<u8> kGetAtr = {0x00, 0x01, 0x04};     // VPCD_CTRL_ATR
const std::vector<u8> kReset = {0x00, 0x01, 0x02};      // VPCD_CTRL_RESET
const std::vector<u8> kPowerOff = {0x00, 0x01, 0x00};   // VPCD_CTRL_OFF
const std::vector<u8> kStatus = {0x00, 0x04, 0x80, 0xF2, 0x00, 0x0C};  // STATUS, no data (TS 102 221 11.1.2)
const std::vector<u8> kSelectMf = {0x00, 0x07, 0x00, 0xA4, 0x00, 0x04, 0x02, 0x3F, 0x00};  // SELECT MF (TS 102 221 11.1.1)
const std::vector<u8> kShortApdu = {0x00, 0x02, 0x00, 0xA4};  // too short for an APDU: the card's business (67 00)

std::vector<u8> big_apdu_frame() {
  // Extended-length UPDATE BINARY with 300 data bytes: vpcd forwards extended APDUs unchanged.
  std::vector<u8> apdu = {0x00, 0xD6, 0x00, 0x00, 0x00, 0x01, 0x2C};
  for (int i = 0; i < 300; ++i) apdu.push_back(static_cast<u8>(i));
  std::vector<u8> frame(2 + apdu.size());
  frame[0] = static_cast<u8>(apdu.size() >> 8);
  frame[1] = static_cast<u8>(apdu.size());
  std::copy(apdu.begin(), apdu.end(), frame.begin() + 2);
  return frame;
}

std::vector<Observed> expected_session() {
  auto big = big_apdu_frame();
  return {
      {Kind::kPowerOn, {}},
      {Kind::kGetAtr, {}},
      {Kind::kApdu, {0x80, 0xF2, 0x00, 0x0C}},
      {Kind::kApdu, {0x00, 0xA4, 0x00, 0x04, 0x02, 0x3F, 0x00}},
      {Kind::kApdu, {0x00, 0xA4}},
      {Kind::kApdu, std::vector<u8>(big.begin() + 2, big.end())},
      {Kind::kReset, {}},
      {Kind::kPowerOff, {}},
  };
}

std::vector<u8> session_stream() {
  return concat({kPowerOn, kGetAtr, kStatus, kSelectMf, kShortApdu, big_apdu_frame(), kReset, kPowerOff});
}

}  // namespace

TEST_CASE("vpcd frame parser decodes a whole session delivered in one piece") {
  std::vector<u8> buffer(kVpcdMaxPayload);
  VpcdFrameParser parser{MutableBytes(buffer)};
  auto stream = session_stream();
  auto out = run(parser, {Bytes(stream)});
  CHECK_FALSE(out.error);
  CHECK(out.frames == expected_session());
}

TEST_CASE("vpcd frame parser gives the same frames for a session split at every offset") {
  std::vector<u8> buffer(kVpcdMaxPayload);
  auto stream = session_stream();
  const auto expected = expected_session();
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    CAPTURE(cut);
    VpcdFrameParser parser{MutableBytes(buffer)};
    Bytes all(stream);
    auto out = run(parser, {all.first(cut), all.subspan(cut)});
    CHECK_FALSE(out.error);
    CHECK(out.frames == expected);
  }
}

TEST_CASE("vpcd frame parser gives the same frames for every three-piece split of a short session") {
  std::vector<u8> buffer(512);
  auto stream = concat({kPowerOn, kGetAtr, kStatus, kSelectMf, kShortApdu, kPowerOff});
  std::vector<Observed> expected = {{Kind::kPowerOn, {}},
                                    {Kind::kGetAtr, {}},
                                    {Kind::kApdu, {0x80, 0xF2, 0x00, 0x0C}},
                                    {Kind::kApdu, {0x00, 0xA4, 0x00, 0x04, 0x02, 0x3F, 0x00}},
                                    {Kind::kApdu, {0x00, 0xA4}},
                                    {Kind::kPowerOff, {}}};
  Bytes all(stream);
  for (std::size_t a = 0; a <= stream.size(); ++a) {
    for (std::size_t b = a; b <= stream.size(); ++b) {
      VpcdFrameParser parser{MutableBytes(buffer)};
      auto out = run(parser, {all.first(a), all.subspan(a, b - a), all.subspan(b)});
      REQUIRE_FALSE(out.error);
      REQUIRE(out.frames == expected);
    }
  }
}

TEST_CASE("vpcd frame parser gives the same frames when fed byte by byte") {
  std::vector<u8> buffer(kVpcdMaxPayload);
  VpcdFrameParser parser{MutableBytes(buffer)};
  auto stream = session_stream();
  std::vector<Bytes> bytes;
  for (std::size_t i = 0; i < stream.size(); ++i) bytes.push_back(Bytes(stream).subspan(i, 1));
  auto out = run(parser, bytes);
  CHECK_FALSE(out.error);
  CHECK(out.frames == expected_session());
}

TEST_CASE("vpcd frame parser rejects malformed framing at every split") {
  struct Row {
    const char* what;
    std::vector<u8> stream;
    std::size_t frames_before;
    VpcdFrameError error;
  };
  // docs/protocol.md section 10 (control bytes 00 01 02 04 only; vpcd never sends length 0).
  const Row rows[] = {
      {"length 0", {0x00, 0x00}, 0, VpcdFrameError::kEmptyFrame},
      {"length 0 after a good frame", concat({kPowerOn, {0x00, 0x00}}), 1, VpcdFrameError::kEmptyFrame},
      {"control byte 03", {0x00, 0x01, 0x03}, 0, VpcdFrameError::kUnknownControl},
      {"control byte FF after get ATR", concat({kGetAtr, {0x00, 0x01, 0xFF}}), 1, VpcdFrameError::kUnknownControl},
      {"payload larger than the buffer", {0x01, 0x01, 0x00, 0xA4}, 0, VpcdFrameError::kFrameTooLarge},
  };
  for (const auto& row : rows) {
    CAPTURE(row.what);
    for (std::size_t cut = 0; cut <= row.stream.size(); ++cut) {
      CAPTURE(cut);
      std::vector<u8> buffer(256);
      VpcdFrameParser parser{MutableBytes(buffer)};
      Bytes all(row.stream);
      auto out = run(parser, {all.first(cut), all.subspan(cut)});
      REQUIRE(out.error);
      CHECK(*out.error == row.error);
      CHECK(out.frames.size() == row.frames_before);
      CHECK(parser.state() == VpcdFrameParser::State::kFailed);
    }
  }
}

TEST_CASE("vpcd frame parser stays failed until reset and then parses again") {
  std::vector<u8> buffer(64);
  VpcdFrameParser parser{MutableBytes(buffer)};
  const u8 bad[] = {0x00, 0x00};
  CHECK(parser.feed(bad).event == VpcdFrameParser::Event::kError);
  auto again = parser.feed(Bytes(kPowerOn));
  CHECK(again.event == VpcdFrameParser::Event::kError);
  CHECK(again.consumed == 0);
  parser.reset();
  auto ok = parser.feed(Bytes(kPowerOn));
  CHECK(ok.event == VpcdFrameParser::Event::kFrame);
  CHECK(ok.consumed == 3);
  CHECK(parser.request().kind == Kind::kPowerOn);
}

TEST_CASE("vpcd frame parser accepts a payload of exactly the buffer size") {
  std::vector<u8> buffer(5);
  VpcdFrameParser parser{MutableBytes(buffer)};
  const u8 frame[] = {0x00, 0x05, 0x80, 0xF2, 0x00, 0x0C, 0x00};
  auto step = parser.feed(frame);
  CHECK(step.event == VpcdFrameParser::Event::kFrame);
  CHECK(parser.request().apdu.size() == 5);
}

TEST_CASE("vpcd payload classification maps control bytes and APDUs") {
  struct Row {
    std::vector<u8> payload;
    bool ok;
    Kind kind;
  };
  // vpcd.h: VPCD_CTRL_OFF 0, VPCD_CTRL_ON 1, VPCD_CTRL_RESET 2, VPCD_CTRL_ATR 4.
  const Row rows[] = {
      {{0x00}, true, Kind::kPowerOff}, {{0x01}, true, Kind::kPowerOn}, {{0x02}, true, Kind::kReset},
      {{0x04}, true, Kind::kGetAtr},   {{0x03}, false, Kind::kApdu},   {{0x05}, false, Kind::kApdu},
      {{0x00, 0x00}, true, Kind::kApdu}, {{}, false, Kind::kApdu},
  };
  for (const auto& row : rows) {
    auto r = classify_vpcd_payload(row.payload);
    REQUIRE(r.ok() == row.ok);
    if (row.ok) CHECK(r->kind == row.kind);
  }
}

TEST_CASE("vpcd frame encoder writes the length and the payload as one frame") {
  const u8 atr[] = {0x3B, 0x80, 0x80, 0x01, 0x01};
  u8 out[16];
  CHECK(encode_vpcd_frame(atr, out) == 7);
  const u8 expected[] = {0x00, 0x05, 0x3B, 0x80, 0x80, 0x01, 0x01};
  CHECK(bytes_equal(Bytes(out, 7), expected));
  CHECK(encode_vpcd_frame(atr, MutableBytes(out, 6)) == 0);  // no room
  std::vector<u8> huge(kVpcdMaxPayload + 1);
  std::vector<u8> room(huge.size() + 2);
  CHECK(encode_vpcd_frame(huge, room) == 0);  // the length field cannot say it
}
