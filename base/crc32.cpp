#include "base/crc32.hpp"

#include <array>

namespace scws {
namespace {

constexpr std::array<u32, 256> make_table() noexcept {
  std::array<u32, 256> t{};
  for (u32 i = 0; i < 256; ++i) {
    u32 c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1U) ? (0xEDB88320U ^ (c >> 1)) : (c >> 1);
    t[i] = c;
  }
  return t;
}

constexpr auto kTable = make_table();

}  // namespace

u32 crc32(Bytes data, u32 seed) noexcept {
  u32 c = ~seed;
  for (u8 b : data) c = kTable[(c ^ b) & 0xFFU] ^ (c >> 8);
  return ~c;
}

}  // namespace scws
