// The card's random numbers for TLS (ECDHE keys, ECDSA nonces, randoms, ticket keys): an
// AES-256 CTR_DRBG (NIST SP 800-90A 10.2) seeded from the card's entropy source. On a real card
// the source is its TRNG; here it is a hook the host fills (the card process installs one reading
// the host's getrandom; tests install a deterministic one). No /dev/urandom on the card path
// (tls/mbedtls_card_config.h: MBEDTLS_NO_PLATFORM_ENTROPY, no MBEDTLS_ENTROPY_C).
// The DRBG state lives in this object (about 330 bytes), not in the TLS RAM region.
#pragma once

#include <cstddef>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "tls/tls_error.hpp"
#include "tls/mbedtls_card_config.h"
#include "mbedtls/ctr_drbg.h"

namespace scws::tls {

// Fills out with len bytes of full entropy; returns 0 on success (anything else: source failed).
using EntropySource = int (*)(void* context, unsigned char* out, std::size_t len);

class CardRng {
 public:
  CardRng() noexcept;
  ~CardRng();
  CardRng(const CardRng&) = delete;
  CardRng& operator=(const CardRng&) = delete;

  // Seeds (or reseeds) the DRBG; personalization distinguishes cards (e.g. the ICCID).
  Status<TlsError> seed(EntropySource source, void* context, Bytes personalization) noexcept;
  [[nodiscard]] bool seeded() const noexcept { return seeded_; }
  // mbedTLS's f_rng: p is a CardRng*.
  static int generate(void* p, unsigned char* out, std::size_t len);

 private:
  mbedtls_ctr_drbg_context drbg_;
  bool seeded_ = false;
};

}  // namespace scws::tls
