// Hex text <-> bytes, for traces, the CLI and tests. Whitespace and ':' between bytes are ignored.
#pragma once

#include <cstddef>
#include <optional>

#include "base/bytes.hpp"

namespace scws {

// Decodes into out; returns the number of bytes, or nullopt on a bad digit, odd digit count or
// overflow of out.
std::optional<std::size_t> hex_decode(const char* text, std::size_t len, MutableBytes out) noexcept;
enum class HexCase : unsigned char { kUpper, kLower };
// Writes 2*len chars (no separators) plus a terminating NUL; out needs 2*len+1.
void hex_encode(Bytes data, char* out, HexCase letters = HexCase::kUpper) noexcept;

}  // namespace scws
