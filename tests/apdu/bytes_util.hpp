// Test helpers for byte vectors written as hex text (spaces allowed) and ASCII.
#pragma once

#include <doctest/doctest.h>

#include <cstring>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "base/bytes.hpp"
#include "base/hex.hpp"
#include "base/hex_text.hpp"

namespace scws::test {

// Hex digits; any whitespace is ignored, also inside a byte ("D00C 81 03").
inline std::vector<u8> hex(std::string_view text) {
  std::string digits;
  for (char c : text)
    if (c != ' ' && c != '\n' && c != '\t') digits.push_back(c);
  std::vector<u8> out(digits.size() / 2 + 1);
  auto n = hex_decode(digits.data(), digits.size(), out);
  REQUIRE_MESSAGE(n.has_value(), "bad hex in test vector: ", std::string(text));
  out.resize(*n);
  return out;
}

// Keeps a byte vector alive until the end of the test program, for parsers returning views.
inline Bytes keep(std::vector<u8> v) {
  static std::deque<std::vector<u8>> kept;
  kept.push_back(std::move(v));
  return kept.back();
}

inline std::vector<u8> ascii(std::string_view text) { return std::vector<u8>(text.begin(), text.end()); }

inline std::vector<u8> join(std::initializer_list<std::vector<u8>> parts) {
  std::vector<u8> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// n bytes counting up from first (wrapping), as in the oFono channel data vectors.
inline std::vector<u8> counting(std::size_t n, u8 first = 0) {
  std::vector<u8> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<u8>(first + i);
  return v;
}

inline std::vector<u8> to_vector(Bytes b) { return std::vector<u8>(b.begin(), b.end()); }

}  // namespace scws::test
