#include "card/scws/password_hash.hpp"

#include <cstring>

#include "mbedtls/sha256.h"

namespace scws::card {
namespace {

constexpr std::size_t kBlock = 64;   // SHA-256 block size (FIPS 180-4)
constexpr std::size_t kDigest = 32;  // SHA-256 output
static_assert(PasswordHash::kHashSize == kDigest);

// HMAC-SHA-256 with the key's inner and outer pads already absorbed (RFC 2104 2): computing an
// HMAC is then cloning the two states, one update, two finishes.
class Hmac {
 public:
  explicit Hmac(Bytes key) noexcept {
    std::array<u8, kBlock> k{};
    mbedtls_sha256_init(&inner_);
    mbedtls_sha256_init(&outer_);
    if (key.size() > kBlock) {  // a long key is hashed first (RFC 2104 2)
      ok_ = mbedtls_sha256_ret(key.data(), key.size(), k.data(), 0) == 0;
    } else if (!key.empty()) {
      std::memcpy(k.data(), key.data(), key.size());
    }
    std::array<u8, kBlock> pad{};
    for (std::size_t i = 0; i < kBlock; ++i) pad[i] = static_cast<u8>(k[i] ^ 0x36);
    ok_ = ok_ && mbedtls_sha256_starts_ret(&inner_, 0) == 0 && mbedtls_sha256_update_ret(&inner_, pad.data(), kBlock) == 0;
    for (std::size_t i = 0; i < kBlock; ++i) pad[i] = static_cast<u8>(k[i] ^ 0x5C);
    ok_ = ok_ && mbedtls_sha256_starts_ret(&outer_, 0) == 0 && mbedtls_sha256_update_ret(&outer_, pad.data(), kBlock) == 0;
    k.fill(0);
    pad.fill(0);
  }
  ~Hmac() {
    mbedtls_sha256_free(&inner_);
    mbedtls_sha256_free(&outer_);
  }
  Hmac(const Hmac&) = delete;
  Hmac& operator=(const Hmac&) = delete;

  // out = HMAC(key, a || b)
  bool mac(Bytes a, Bytes b, u8 (&out)[kDigest]) const noexcept {
    if (!ok_) return false;
    mbedtls_sha256_context c;
    mbedtls_sha256_init(&c);
    mbedtls_sha256_clone(&c, &inner_);
    bool ok = mbedtls_sha256_update_ret(&c, a.data(), a.size()) == 0 &&
              (b.empty() || mbedtls_sha256_update_ret(&c, b.data(), b.size()) == 0) &&
              mbedtls_sha256_finish_ret(&c, out) == 0;
    mbedtls_sha256_clone(&c, &outer_);
    ok = ok && mbedtls_sha256_update_ret(&c, out, kDigest) == 0 && mbedtls_sha256_finish_ret(&c, out) == 0;
    mbedtls_sha256_free(&c);
    return ok;
  }

 private:
  mbedtls_sha256_context inner_;
  mbedtls_sha256_context outer_;
  bool ok_ = true;
};

}  // namespace

bool pbkdf2_hmac_sha256(Bytes password, Bytes salt, u32 iterations, MutableBytes out) noexcept {
  if (iterations == 0) return false;
  const Hmac prf(password);
  u32 block = 1;
  for (std::size_t at = 0; at < out.size(); at += kDigest, ++block) {
    // T_i = U_1 xor ... xor U_c, U_1 = PRF(P, S || INT(i)), U_j = PRF(P, U_{j-1}) (RFC 8018 5.2).
    const u8 index[4] = {static_cast<u8>(block >> 24), static_cast<u8>(block >> 16), static_cast<u8>(block >> 8),
                         static_cast<u8>(block)};
    u8 u[kDigest];
    if (!prf.mac(salt, Bytes(index, sizeof index), u)) return false;
    u8 t[kDigest];
    std::memcpy(t, u, kDigest);
    for (u32 j = 1; j < iterations; ++j) {
      if (!prf.mac(Bytes(u, kDigest), {}, u)) return false;
      for (std::size_t k = 0; k < kDigest; ++k) t[k] ^= u[k];
    }
    const std::size_t n = out.size() - at < kDigest ? out.size() - at : kDigest;
    std::memcpy(out.data() + at, t, n);
    std::memset(u, 0, sizeof u);
    std::memset(t, 0, sizeof t);
  }
  return true;
}

bool make_password_hash(std::string_view password, Bytes salt, u32 iterations, PasswordHash& out) noexcept {
  if (iterations == 0 || iterations > PasswordHash::kMaxIterations || salt.size() != PasswordHash::kSaltSize) return false;
  PasswordHash h;
  std::memcpy(h.salt.data(), salt.data(), salt.size());
  h.iterations = iterations;
  const Bytes p(reinterpret_cast<const u8*>(password.data()), password.size());
  if (!pbkdf2_hmac_sha256(p, salt, iterations, h.hash)) return false;
  out = h;
  return true;
}

bool password_matches(std::string_view password, const PasswordHash& stored) noexcept {
  if (stored.iterations == 0 || stored.iterations > PasswordHash::kMaxIterations) return false;
  std::array<u8, PasswordHash::kHashSize> computed{};
  const Bytes p(reinterpret_cast<const u8*>(password.data()), password.size());
  if (!pbkdf2_hmac_sha256(p, stored.salt, stored.iterations, computed)) return false;
  const bool equal = bytes_equal_constant_time(Bytes(computed), Bytes(stored.hash));
  computed.fill(0);
  return equal;
}

}  // namespace scws::card
