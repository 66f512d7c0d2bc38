#include "apdu/status_word.hpp"

#include <doctest/doctest.h>

#include <array>
#include <cstring>
#include <vector>

#include "apdu/instruction.hpp"

using namespace scws;
using namespace scws::apdu;

static_assert(sw1(StatusWord::kOk) == 0x90 && sw2(StatusWord::kOk) == 0x00);
static_assert(with_length(StatusWord::kProactivePending, 0x1F) == 0x911F);
static_assert(in_family(0x6C10, StatusWord::kWrongLe) && !in_family(0x6D00, StatusWord::kWrongLe));
static_assert(to_u8(Ins::kSelect) == 0xA4 && to_u8(Ins::kStatus) == 0xF2 && to_u8(Ins::kEnvelope) == 0xC2);

TEST_CASE("normal endings are 90 00 and 91 XX only (TS 102 221 10.2.1.1)") {
  CHECK(is_normal_ending(0x9000));
  CHECK(is_normal_ending(0x9100));
  CHECK(is_normal_ending(0x91FF));
  CHECK_FALSE(is_normal_ending(0x9001));
  CHECK_FALSE(is_normal_ending(0x9300));
  CHECK_FALSE(is_normal_ending(0x6A82));
  CHECK_FALSE(is_normal_ending(0x6100));
}

TEST_CASE("the status word of a response is its last two bytes") {
  const std::vector<u8> data_and_sw = {0x01, 0x02, 0x6C, 0x10};
  CHECK(response_status(data_and_sw) == 0x6C10);
  const std::vector<u8> sw_only = {0x90, 0x00};
  CHECK(response_status(sw_only) == 0x9000);
  const std::vector<u8> one = {0x90};
  CHECK(response_status(one) == 0);
  CHECK(response_status(Bytes{}) == 0);
}

TEST_CASE("put_status writes SW1 SW2 after the data and returns the response length") {
  std::array<u8, 4> out{0xAA, 0xBB, 0xCC, 0xDD};
  CHECK(put_status(out, 2, with_length(StatusWord::kProactivePending, 0x22)) == 4);
  CHECK(out == std::array<u8, 4>{0xAA, 0xBB, 0x91, 0x22});
  CHECK(put_status(out, 0, to_u16(StatusWord::kFileNotFound)) == 2);
  CHECK(out[0] == 0x6A);
  CHECK(out[1] == 0x82);
}

TEST_CASE("describe names status words and their families") {
  CHECK(std::strcmp(describe(0x9000), "normal end") == 0);
  CHECK(std::strstr(describe(0x6A82), "not found") != nullptr);
  CHECK(std::strstr(describe(0x9110), "proactive") != nullptr);
}
