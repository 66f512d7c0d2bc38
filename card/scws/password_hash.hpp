// Passwords at rest: the card keeps, per SCWS user, a salted PBKDF2-HMAC-SHA-256 hash (RFC 8018
// 5.2 with HMAC-SHA-256, RFC 2104 / FIPS 180-4), never the password. `scws provision` computes the
// hash on the host (random 16-byte salt per user, the profile's iteration count) and the card
// recomputes it from the password of each Basic authentication attempt, on mbedTLS's SHA-256,
// comparing in constant time (base/bytes.hpp bytes_equal_constant_time).
//
// Cost: 2 SHA-256 compressions per iteration (the HMAC pads are hashed once per derivation), so a
// protected request costs about iterations x 2 compressions; docs/protocol.md gives the measured
// time per request. No heap: everything is on the stack (about 700 bytes).
#pragma once

#include <array>
#include <cstddef>
#include <string_view>

#include "base/bytes.hpp"

namespace scws::card {

struct PasswordHash {
  static constexpr std::size_t kSaltSize = 16;
  static constexpr std::size_t kHashSize = 32;  // one SHA-256 output: PBKDF2 with dkLen = hLen
  static constexpr u32 kMaxIterations = 100000;  // what the card accepts (a bound on the time per request)
  std::array<u8, kSaltSize> salt{};
  u32 iterations = 0;
  std::array<u8, kHashSize> hash{};
};

// PBKDF2-HMAC-SHA-256 of password and salt with `iterations` (>= 1) into out (any length: blocks of
// 32 bytes, RFC 8018 5.2). false when iterations is 0 or SHA-256 failed.
bool pbkdf2_hmac_sha256(Bytes password, Bytes salt, u32 iterations, MutableBytes out) noexcept;

// The record of `password` with this salt and iteration count (iterations 1..kMaxIterations, else
// false and `out` untouched).
bool make_password_hash(std::string_view password, Bytes salt, u32 iterations, PasswordHash& out) noexcept;

// Whether password hashes to `stored` (false when stored's iteration count is out of range).
// Constant time in the hash bytes.
bool password_matches(std::string_view password, const PasswordHash& stored) noexcept;

}  // namespace scws::card
