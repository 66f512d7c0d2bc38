// Hex as std::string, for host programs and tests (card code uses base/hex.hpp on its own buffers).
#pragma once

#include <string>

#include "base/hex.hpp"

namespace scws {

// "0A1B2C" (or "0a1b2c" with HexCase::kLower).
inline std::string hex_text(Bytes data, HexCase letters = HexCase::kUpper) {
  std::string s(data.size() * 2 + 1, '\0');
  hex_encode(data, s.data(), letters);
  s.resize(data.size() * 2);
  return s;
}

// "0A 1B 2C": APDUs as people read them.
inline std::string hex_spaced(Bytes data) {
  std::string s;
  s.reserve(data.size() * 3);
  for (std::size_t i = 0; i < data.size(); ++i) {
    if (i != 0) s += ' ';
    s += hex_text(data.subspan(i, 1));
  }
  return s;
}

}  // namespace scws
