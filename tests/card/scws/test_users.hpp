// Test users: the hash record of a password with a fixed salt and few iterations (fast tests; the
// hashing itself is tested in password_hash_test.cpp).
#pragma once

#include <array>
#include <string_view>

#include <doctest/doctest.h>

#include "card/scws/password_hash.hpp"

namespace scws::card::test {

inline PasswordHash test_hash(std::string_view password, u32 iterations = 2) {
  std::array<u8, PasswordHash::kSaltSize> salt{};
  for (std::size_t i = 0; i < salt.size(); ++i) salt[i] = static_cast<u8>(0xA0 + i);
  PasswordHash h;
  REQUIRE(make_password_hash(password, salt, iterations, h));
  return h;
}

}  // namespace scws::card::test
