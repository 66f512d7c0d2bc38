// Passwords at rest (card/scws/password_hash.hpp): PBKDF2-HMAC-SHA-256 against the RFC 7914 section 11
// vectors and OpenSSL, the stored record, and what one verification costs on this host.
#include <doctest/doctest.h>

#include <openssl/evp.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "base/hex_text.hpp"
#include "card/scws/password_hash.hpp"
#include "tests/apdu/bytes_util.hpp"

using namespace scws;
using namespace scws::card;

namespace {

Bytes text(std::string_view s) { return Bytes(reinterpret_cast<const u8*>(s.data()), s.size()); }

std::vector<u8> derive(std::string_view password, std::string_view salt, u32 iterations, std::size_t n) {
  std::vector<u8> out(n);
  REQUIRE(pbkdf2_hmac_sha256(text(password), text(salt), iterations, out));
  return out;
}

}  // namespace

TEST_CASE("PBKDF2-HMAC-SHA-256 gives the RFC 7914 section 11 vectors") {
  CHECK(hex_text(derive("passwd", "salt", 1, 64)) ==
        "55AC046E56E3089FEC1691C22544B605F94185216DDE0465E68B9D57C20DACBC"
        "49CA9CCCF179B645991664B39D77EF317C71B845B1E30BD509112041D3A19783");
  CHECK(hex_text(derive("Password", "NaCl", 80000, 64)) ==
        "4DDCD8F60B98BE21830CEE5EF22701F9641A4418D04C0414AEFF08876B34AB56"
        "A1D425A1225833549ADB841B51C9B3176A272BDEBBA1D078478F62B397F33C8D");
  std::vector<u8> out(32);
  CHECK_FALSE(pbkdf2_hmac_sha256(text("p"), text("s"), 0, out));  // RFC 8018 5.2: c >= 1
}

TEST_CASE("the card's PBKDF2 agrees with OpenSSL's (what `scws provision` uses) for every password shape") {
  const std::string long_key(100, 'k');  // longer than a SHA-256 block: hashed first (RFC 2104)
  for (const std::string& password : {std::string(""), std::string("wonderland"), long_key, std::string(64, 'x')}) {
    for (u32 iterations : {1u, 2u, 1000u}) {
      CAPTURE(password.size());
      CAPTURE(iterations);
      const std::array<u8, 16> salt{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
      std::array<u8, 32> expected{};
      REQUIRE(PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), salt.data(), 16,
                                static_cast<int>(iterations), EVP_sha256(), 32, expected.data()) == 1);
      PasswordHash h;
      REQUIRE(make_password_hash(password, salt, iterations, h));
      CHECK(hex_text(Bytes(h.hash)) == hex_text(Bytes(expected)));
      CHECK(password_matches(password, h));
      CHECK_FALSE(password_matches(password + "x", h));
    }
  }
}

TEST_CASE("a password record refuses iteration counts out of range and a salt of the wrong size") {
  const std::array<u8, 16> salt{};
  PasswordHash h;
  CHECK_FALSE(make_password_hash("p", salt, 0, h));
  CHECK_FALSE(make_password_hash("p", salt, PasswordHash::kMaxIterations + 1, h));
  CHECK_FALSE(make_password_hash("p", Bytes(salt).first(8), 10, h));
  REQUIRE(make_password_hash("p", salt, 3, h));
  h.iterations = 0;
  CHECK_FALSE(password_matches("p", h));  // a damaged record grants nothing
}

// The figure docs/protocol.md quotes: one verification (what a protected request costs on top of the
// page) at the demo profile's 1000 iterations, and per 1000 iterations.
TEST_CASE("one password verification at 1000 iterations costs milliseconds on this host") {
  const std::array<u8, 16> salt{};
  PasswordHash h;
  REQUIRE(make_password_hash("wonderland", salt, 1000, h));
  constexpr int kRuns = 20;
  const auto start = std::chrono::steady_clock::now();
  int granted = 0;
  for (int i = 0; i < kRuns; ++i) granted += password_matches("wonderland", h) ? 1 : 0;
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / kRuns;
  CHECK(granted == kRuns);
  MESSAGE("PBKDF2-HMAC-SHA-256, 1000 iterations: " << ms << " ms per verification");
  CHECK(ms < 1000.0);  // a bound that catches a cost gone wrong by orders of magnitude, not a benchmark
}
