// Base64 decoding (RFC 4648 section 4, the standard alphabet with "=" padding), for the credentials
// of HTTP Basic authentication (RFC 7617 2). Zero-allocation: decodes into caller memory. Strict:
// the length must be a multiple of 4, padding only at the end, no whitespace, and the unused bits
// of the last group must be zero (RFC 4648 3.5: canonical encoding), so one credential has exactly
// one accepted encoding.
#pragma once

#include <cstddef>
#include <string_view>

#include "base/bytes.hpp"
#include "base/result.hpp"

namespace scws {

enum class Base64Error : u8 {
  kBadLength,     // not a multiple of 4
  kBadCharacter,  // outside the alphabet, or "=" before the end
  kNonCanonical,  // non-zero bits in the padding position
  kNoSpace,       // out too small
};

// Bytes `encoded` decodes to (an upper bound when it is invalid).
constexpr std::size_t base64_decoded_size(std::size_t encoded) noexcept { return encoded / 4 * 3; }

// Decodes into out; returns the number of bytes written.
Result<std::size_t, Base64Error> base64_decode(std::string_view encoded, MutableBytes out) noexcept;

}  // namespace scws
