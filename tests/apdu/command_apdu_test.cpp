#include "apdu/command_apdu.hpp"

#include <doctest/doctest.h>

#include <array>
#include <vector>

using namespace scws;
using namespace scws::apdu;

namespace {
Result<CommandApdu, ApduError> parse(std::vector<u8> v) {
  static std::vector<u8> keep;  // keep the bytes alive for the views in the result
  keep = std::move(v);
  return parse_command_apdu(keep);
}
}  // namespace

TEST_CASE("command apdu parses the four short cases (ISO 7816-4 5.1)") {
  auto c1 = parse({0x00, 0x70, 0x80, 0x01});
  REQUIRE(c1.ok());
  CHECK(c1->kind == ApduCase::k1);
  CHECK(c1->data.empty());
  CHECK_FALSE(c1->has_le);

  auto c2 = parse({0x80, 0x12, 0x00, 0x00, 0x0F});  // FETCH, Le 0F (docs/protocol.md section 9)
  REQUIRE(c2.ok());
  CHECK(c2->kind == ApduCase::k2);
  CHECK(c2->ne == 15);

  auto c2z = parse({0x00, 0xB0, 0x00, 0x00, 0x00});
  REQUIRE(c2z.ok());
  CHECK(c2z->ne == 256);

  auto c3 = parse({0x00, 0xA4, 0x00, 0x04, 0x02, 0x3F, 0x00});
  REQUIRE(c3.ok());
  CHECK(c3->kind == ApduCase::k3);
  REQUIRE(c3->data.size() == 2);
  CHECK(c3->data[0] == 0x3F);

  auto c4 = parse({0x00, 0xA4, 0x04, 0x00, 0x02, 0xA0, 0x00, 0x00});
  REQUIRE(c4.ok());
  CHECK(c4->kind == ApduCase::k4);
  CHECK(c4->ne == 256);
}

TEST_CASE("command apdu parses extended lengths") {
  auto c2 = parse({0x00, 0xB0, 0x00, 0x00, 0x00, 0x01, 0x00});
  REQUIRE(c2.ok());
  CHECK(c2->extended);
  CHECK(c2->ne == 256);

  std::vector<u8> c3{0x80, 0xC2, 0x00, 0x00, 0x00, 0x01, 0x2C};
  c3.resize(c3.size() + 300, 0xAB);
  auto r3 = parse(c3);
  REQUIRE(r3.ok());
  CHECK(r3->kind == ApduCase::k3);
  CHECK(r3->data.size() == 300);

  std::vector<u8> c4{0x80, 0xC2, 0x00, 0x00, 0x00, 0x00, 0x03, 1, 2, 3, 0x00, 0x00};
  auto r4 = parse(c4);
  REQUIRE(r4.ok());
  CHECK(r4->kind == ApduCase::k4);
  CHECK(r4->ne == 65536);
}

TEST_CASE("command apdu refuses malformed lengths") {
  CHECK(parse({0x00, 0xA4, 0x00}).error() == ApduError::kTooShort);
  CHECK(parse({0x00, 0xA4, 0x00, 0x04, 0x03, 0x3F, 0x00}).error() == ApduError::kLengthMismatch);
  CHECK(parse({0x00, 0xA4, 0x00, 0x04, 0x01, 0x3F, 0x00, 0x00}).error() == ApduError::kLengthMismatch);
  CHECK(parse({0x00, 0xA4, 0x00, 0x04, 0x00, 0x00}).error() == ApduError::kBadExtendedLength);
  CHECK(parse({0x00, 0xA4, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01}).error() == ApduError::kBadExtendedLength);
  CHECK(parse({0xFF, 0xA4, 0x00, 0x04}).error() == ApduError::kInvalidCla);
}

TEST_CASE("command apdu encodes what it parses, byte for byte") {
  const std::vector<std::vector<u8>> vectors = {
      {0x80, 0x12, 0x00, 0x00, 0x0F},
      {0x80, 0x14, 0x00, 0x00, 0x0C, 0x81, 0x03, 0x01, 0x05, 0x00, 0x82, 0x02, 0x82, 0x81, 0x83, 0x01, 0x00},
      {0x00, 0xA4, 0x04, 0x00, 0x02, 0xA0, 0x00, 0x00},
      {0x00, 0x70, 0x00, 0x00, 0x01},
  };
  for (const auto& v : vectors) {
    auto c = parse_command_apdu(v);
    REQUIRE(c.ok());
    std::array<u8, 300> out{};
    std::size_t n = encode_command_apdu(*c, out);
    REQUIRE(n == v.size());
    CHECK(std::equal(v.begin(), v.end(), out.begin()));
  }
}

TEST_CASE("logical channel numbers round-trip through CLA (TS 102 221 10.1.1)") {
  for (u8 ch = 0; ch < 20; ++ch) {
    CHECK(channel_from_cla(cla_for_channel(0x00, ch)) == ch);
    CHECK(channel_from_cla(cla_for_channel(0x80, ch)) == ch);
  }
  CHECK(cla_for_channel(0x00, 1) == 0x01);
  CHECK(cla_for_channel(0x80, 3) == 0x83);
  CHECK(cla_for_channel(0x00, 4) == 0x40);
  CHECK(cla_for_channel(0x80, 19) == 0xCF);
}
