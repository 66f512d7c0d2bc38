#include "base/base64.hpp"

namespace scws {
namespace {

// -1: not in the alphabet (RFC 4648 table 1).
constexpr int value_of(char c) noexcept {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

Result<std::size_t, Base64Error> base64_decode(std::string_view in, MutableBytes out) noexcept {
  if (in.size() % 4 != 0) return fail(Base64Error::kBadLength);
  std::size_t n = 0;
  for (std::size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    int pad = 0;
    if (last && in[i + 3] == '=') pad = in[i + 2] == '=' ? 2 : 1;
    u32 group = 0;
    for (int k = 0; k < 4; ++k) {
      int v = 0;
      if (k < 4 - pad) {
        v = value_of(in[i + static_cast<std::size_t>(k)]);
        if (v < 0) return fail(Base64Error::kBadCharacter);
      }
      group = (group << 6) | static_cast<u32>(v);
    }
    // The bits a padded group does not carry must be zero (RFC 4648 3.5).
    if ((pad == 1 && (group & 0xFF) != 0) || (pad == 2 && (group & 0xFFFF) != 0)) return fail(Base64Error::kNonCanonical);
    const std::size_t count = static_cast<std::size_t>(3 - pad);
    if (out.size() - n < count) return fail(Base64Error::kNoSpace);
    for (std::size_t k = 0; k < count; ++k) out[n++] = static_cast<u8>(group >> (16 - 8 * k));
  }
  return n;
}

}  // namespace scws
