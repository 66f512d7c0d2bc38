#include "card/os/atr.hpp"

#include <doctest/doctest.h>

#include <vector>

using namespace scws;
using namespace scws::card;

namespace {

u8 xor_t0_to_end(Bytes atr) {
  u8 x = 0;
  for (std::size_t i = 1; i < atr.size(); ++i) x = static_cast<u8>(x ^ atr[i]);
  return x;
}

struct AtrRow {
  const char* source;
  std::vector<u8> atr;
  bool valid;
  AtrError error;  // when !valid
  u32 protocols;   // when valid
};

}  // namespace

TEST_CASE("default UICC ATR is a valid direct-convention ATR offering T=0 and T=1") {
  const Bytes atr(kDefaultAtr);
  CHECK(atr.size() <= kMaxAtrSize);
  const std::vector<u8> head{0x3B, 0x9F, 0x96, 0x80, 0xB1, 0xFE, 0x45, 0x1F, 0xC7, 0x80, 0x31, 0xE0, 0x73, 0xF6, 0x21};
  CHECK(std::vector<u8>(atr.begin(), atr.begin() + 15) == head);
  CHECK(xor_t0_to_end(atr) == 0);  // TCK (ISO 7816-3 8.2.5)
  auto info = parse_atr(atr);
  REQUIRE(info.ok());
  CHECK(info->direct_convention);
  CHECK(info->protocols == ((1u << 0) | (1u << 1) | (1u << 15)));
  CHECK(info->has_tck);
  REQUIRE(info->historical.size() == 15);
  CHECK(info->historical[0] == 0x80);  // COMPACT-TLV category indicator
  // Card capabilities byte 3: logical channels assigned by card and terminal, count from the build.
  CHECK((kCardCapabilities3 & 0x18) == 0x18);
  CHECK((kCardCapabilities3 & 0x07) == (SCWS_LOGICAL_CHANNELS > 8 ? 7 : SCWS_LOGICAL_CHANNELS - 1));
}

TEST_CASE("atr parser accepts real ATRs and refuses malformed ones") {
  const std::vector<AtrRow> rows{
      {"USIM Orange, pcsc-tools smartcard_list.txt",
       {0x3B, 0x9F, 0x96, 0x80, 0x1F, 0xC7, 0x80, 0x31, 0xE0, 0x73, 0xFE, 0x21, 0x1B, 0x63, 0xE2, 0x03, 0x94, 0x83,
        0x0F, 0x90, 0x00, 0xBD},
       true, AtrError::kTooShort, (1u << 0) | (1u << 15)},
      {"sysmoUSIM-SJS1, a real UICC",
       {0x3B, 0x9F, 0x96, 0x80, 0x1F, 0xC7, 0x80, 0x31, 0xA0, 0x73, 0xBE, 0x21, 0x13, 0x67, 0x43, 0x20, 0x07, 0x18,
        0x00, 0x00, 0x01, 0xA5},
       true, AtrError::kTooShort, (1u << 0) | (1u << 15)},
      {"T=0 only, no TDi, no TCK (ISO 7816-3 8.2.3)", {0x3B, 0x02, 0x14, 0x50}, true, AtrError::kTooShort, 1u},
      {"inverse convention TS 3F", {0x3F, 0x00}, true, AtrError::kTooShort, 1u},
      {"only TS", {0x3B}, false, AtrError::kTooShort, 0},
      {"bad TS", {0x3A, 0x00}, false, AtrError::kBadTs, 0},
      {"historical bytes missing", {0x3B, 0x02, 0x14}, false, AtrError::kTruncated, 0},
      {"TD1 announced, missing", {0x3B, 0x80}, false, AtrError::kTruncated, 0},
      {"T=1 offered without TCK", {0x3B, 0x80, 0x01}, false, AtrError::kMissingTck, 0},
      {"T=1 offered, wrong TCK", {0x3B, 0x80, 0x01, 0x00}, false, AtrError::kBadTck, 0},
      {"T=1 offered, right TCK", {0x3B, 0x80, 0x01, 0x81}, true, AtrError::kTooShort, (1u << 1)},
      {"trailing byte after T=0 ATR", {0x3B, 0x00, 0x00}, false, AtrError::kTrailingBytes, 0},
      {"34 bytes", std::vector<u8>(34, 0x3B), false, AtrError::kTooLong, 0},
  };
  for (const AtrRow& row : rows) {
    CAPTURE(row.source);
    auto info = parse_atr(row.atr);
    REQUIRE(info.ok() == row.valid);
    if (row.valid) {
      CHECK(info->protocols == row.protocols);
    } else {
      CHECK(info.error() == row.error);
    }
  }
}

TEST_CASE("atr parser refuses every truncation of the default ATR") {
  const Bytes atr(kDefaultAtr);
  for (std::size_t n = 0; n < atr.size(); ++n) {
    CAPTURE(n);
    CHECK_FALSE(parse_atr(atr.first(n)).ok());
  }
}
