#include "base/hex.hpp"

namespace scws {
namespace {
int digit(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::optional<std::size_t> hex_decode(const char* text, std::size_t len, MutableBytes out) noexcept {
  std::size_t n = 0;
  int high = -1;
  for (std::size_t i = 0; i < len; ++i) {
    char c = text[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ':') {
      if (high >= 0) return std::nullopt;  // a separator inside a byte
      continue;
    }
    int d = digit(c);
    if (d < 0) return std::nullopt;
    if (high < 0) {
      high = d;
    } else {
      if (n >= out.size()) return std::nullopt;
      out[n++] = static_cast<u8>((high << 4) | d);
      high = -1;
    }
  }
  if (high >= 0) return std::nullopt;
  return n;
}

void hex_encode(Bytes data, char* out, HexCase letters) noexcept {
  const char* kDigits = letters == HexCase::kUpper ? "0123456789ABCDEF" : "0123456789abcdef";
  for (u8 b : data) {
    *out++ = kDigits[b >> 4];
    *out++ = kDigits[b & 0x0F];
  }
  *out = '\0';
}

}  // namespace scws
