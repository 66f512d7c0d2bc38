#include "tls/card_rng.hpp"

namespace scws::tls {

CardRng::CardRng() noexcept { mbedtls_ctr_drbg_init(&drbg_); }
CardRng::~CardRng() { mbedtls_ctr_drbg_free(&drbg_); }

Status<TlsError> CardRng::seed(EntropySource source, void* context, Bytes personalization) noexcept {
  if (source == nullptr) return fail(TlsError::kEntropy);
  mbedtls_ctr_drbg_free(&drbg_);
  mbedtls_ctr_drbg_init(&drbg_);
  seeded_ = false;
  if (mbedtls_ctr_drbg_seed(&drbg_, source, context, personalization.data(), personalization.size()) != 0)
    return fail(TlsError::kEntropy);
  // Reseed from the source every 10,000 requests (mbedTLS default interval), prediction resistance
  // off: a card TRNG is slow.
  seeded_ = true;
  return {};
}

int CardRng::generate(void* p, unsigned char* out, std::size_t len) {
  auto* self = static_cast<CardRng*>(p);
  if (!self->seeded_) return MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED;
  return mbedtls_ctr_drbg_random(&self->drbg_, out, len);
}

}  // namespace scws::tls
