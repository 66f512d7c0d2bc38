#include "tls/tls_context.hpp"

#include "tls/credentials.hpp"
#include "mbedtls/platform_util.h"

namespace scws::tls {

namespace {

// Server preference order (mbedTLS servers pick by their own order): AEAD first, CCM before CBC.
constexpr int kCertificateSuites[] = {
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,  // RFC 5289
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_CCM,         // RFC 7251
    0,
};
constexpr int kPskSuites[] = {
    MBEDTLS_TLS_PSK_WITH_AES_128_CCM,         // RFC 6655
    MBEDTLS_TLS_PSK_WITH_AES_128_GCM_SHA256,  // RFC 5487
    MBEDTLS_TLS_PSK_WITH_AES_128_CBC_SHA256,  // RFC 5487
    0,
};
constexpr int kAllSuites[] = {
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_CCM,
    MBEDTLS_TLS_PSK_WITH_AES_128_CCM,
    MBEDTLS_TLS_PSK_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_PSK_WITH_AES_128_CBC_SHA256,
    0,
};
constexpr mbedtls_ecp_group_id kCurves[] = {MBEDTLS_ECP_DP_SECP256R1, MBEDTLS_ECP_DP_NONE};
constexpr int kSigHashes[] = {MBEDTLS_MD_SHA256, MBEDTLS_MD_NONE};

const int* suites_for(TlsMode mode) noexcept {
  switch (mode) {
    case TlsMode::kCertificate: return kCertificateSuites;
    case TlsMode::kPsk: return kPskSuites;
    case TlsMode::kBoth: return kAllSuites;
  }
  return kCertificateSuites;
}

// Parses back-to-back DER certificates without copying (der must outlive the chain).
Status<TlsError> parse_chain(mbedtls_x509_crt& into, Bytes der, const TlsAllocator& a) noexcept {
  while (!der.empty()) {
    const std::size_t n = der_element_length(der);
    if (n == 0) return fail(TlsError::kBadCredentials);
    if (mbedtls_x509_crt_parse_der_nocopy(&into, der.data(), n) != 0)
      return fail(a.exhausted() ? TlsError::kNoMemory : TlsError::kBadCredentials);
    der = der.subspan(n);
  }
  return {};
}

}  // namespace

TlsContext::TlsContext(TlsAllocator& allocator) noexcept : allocator_(allocator) {
  mbedtls_ssl_config_init(&conf_);
  mbedtls_x509_crt_init(&own_chain_);
  mbedtls_x509_crt_init(&ca_);
  mbedtls_pk_init(&key_);
  mbedtls_ssl_ticket_init(&tickets_);
}

TlsContext::~TlsContext() {
  TlsAllocator::Scope scope(allocator_);
  mbedtls_ssl_ticket_free(&tickets_);
  mbedtls_pk_free(&key_);
  mbedtls_x509_crt_free(&ca_);
  mbedtls_x509_crt_free(&own_chain_);
  mbedtls_ssl_config_free(&conf_);
  allocator_.deallocate(chain_der_);
  allocator_.deallocate(ca_der_);
}

void TlsContext::configure_common(CardRng& rng) noexcept {
  mbedtls_ssl_conf_rng(&conf_, CardRng::generate, &rng);
  // TLS 1.2 only (the only version compiled in; pinned anyway).
  mbedtls_ssl_conf_min_version(&conf_, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
  mbedtls_ssl_conf_max_version(&conf_, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
  mbedtls_ssl_conf_curves(&conf_, kCurves);
  mbedtls_ssl_conf_sig_hashes(&conf_, kSigHashes);
}

Status<TlsError> TlsContext::load_certs(card::ObjectStore& store, u32 id, mbedtls_x509_crt& into, u8*& buffer) noexcept {
  auto info = store.find(id);
  if (!info.ok()) return fail(info.error() == card::NvmError::kNotFound ? TlsError::kNoCredentials : TlsError::kStorage);
  buffer = static_cast<u8*>(allocator_.allocate(info->size));
  if (buffer == nullptr) return fail(TlsError::kNoMemory);
  if (!store.read(id, 0, MutableBytes(buffer, info->size)).ok()) return fail(TlsError::kStorage);
  return parse_chain(into, Bytes(buffer, info->size), allocator_);
}

Status<TlsError> TlsContext::load_key(card::ObjectStore& store) noexcept {
  auto info = store.find(kServerKeyId);
  if (!info.ok()) return fail(info.error() == card::NvmError::kNotFound ? TlsError::kNoCredentials : TlsError::kStorage);
  if (info->size > 512) return fail(TlsError::kBadCredentials);
  u8 der[512];  // the key passes through the stack once and is wiped
  Status<TlsError> status{};
  if (!store.read(kServerKeyId, 0, MutableBytes(der, info->size)).ok()) {
    status = fail(TlsError::kStorage);
  } else if (mbedtls_pk_parse_key(&key_, der, info->size, nullptr, 0) != 0) {
    status = fail(allocator_.exhausted() ? TlsError::kNoMemory : TlsError::kBadCredentials);
  }
  mbedtls_platform_zeroize(der, sizeof der);
  return status;
}

Status<TlsError> TlsContext::init_server(card::ObjectStore& store, TlsMode mode, CardRng& rng) noexcept {
  if (ready_ || !rng.seeded()) return fail(TlsError::kInternal);
  TlsAllocator::Scope scope(allocator_);
  allocator_.clear_exhausted();
  server_ = true;
  mode_ = mode;
  store_ = &store;
  if (mbedtls_ssl_config_defaults(&conf_, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT) != 0)
    return fail(TlsError::kInternal);
  configure_common(rng);
  mbedtls_ssl_conf_ciphersuites(&conf_, suites_for(mode));
  if (mode != TlsMode::kPsk) {
    SCWS_TRY(load_certs(store, kServerChainId, own_chain_, chain_der_));
    SCWS_TRY(load_key(store));
    SCWS_TRY(load_certs(store, kIssuerCaId, ca_, ca_der_));
    if (mbedtls_ssl_conf_own_cert(&conf_, &own_chain_, &key_) != 0) return fail(TlsError::kNoMemory);
    mbedtls_ssl_conf_ca_chain(&conf_, &ca_, nullptr);
    mbedtls_ssl_conf_authmode(&conf_, MBEDTLS_SSL_VERIFY_REQUIRED);
  }
  if (mode != TlsMode::kCertificate) mbedtls_ssl_conf_psk_cb(&conf_, psk_lookup, this);
  if (mbedtls_ssl_ticket_setup(&tickets_, CardRng::generate, &rng, MBEDTLS_CIPHER_AES_128_CCM, kTicketLifetime) != 0)
    return fail(allocator_.exhausted() ? TlsError::kNoMemory : TlsError::kInternal);
  mbedtls_ssl_conf_session_tickets_cb(&conf_, mbedtls_ssl_ticket_write, mbedtls_ssl_ticket_parse, &tickets_);
  idle_in_use_ = allocator_.in_use();
  ready_ = true;
  return {};
}

Status<TlsError> TlsContext::init_client(const ClientCredentials& c, CardRng& rng) noexcept {
  if (ready_ || !rng.seeded()) return fail(TlsError::kInternal);
  TlsAllocator::Scope scope(allocator_);
  allocator_.clear_exhausted();
  server_ = false;
  if (mbedtls_ssl_config_defaults(&conf_, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT) != 0)
    return fail(TlsError::kInternal);
  configure_common(rng);
  const bool psk = !c.psk_identity.empty();
  mode_ = psk ? (c.psk_only ? TlsMode::kPsk : TlsMode::kBoth) : TlsMode::kCertificate;
  single_suite_[0] = c.only_suite;
  const int* offered = c.suites != nullptr ? c.suites : suites_for(mode_);
  mbedtls_ssl_conf_ciphersuites(&conf_, c.only_suite != 0 ? single_suite_ : offered);
  if (!c.ca_der.empty()) {
    SCWS_TRY(parse_chain(ca_, c.ca_der, allocator_));
    mbedtls_ssl_conf_ca_chain(&conf_, &ca_, nullptr);
    mbedtls_ssl_conf_authmode(&conf_, MBEDTLS_SSL_VERIFY_REQUIRED);
  } else {
    mbedtls_ssl_conf_authmode(&conf_, MBEDTLS_SSL_VERIFY_NONE);
  }
  if (!c.cert_chain_der.empty()) {
    SCWS_TRY(parse_chain(own_chain_, c.cert_chain_der, allocator_));
    if (mbedtls_pk_parse_key(&key_, c.key_der.data(), c.key_der.size(), nullptr, 0) != 0)
      return fail(allocator_.exhausted() ? TlsError::kNoMemory : TlsError::kBadCredentials);
    if (mbedtls_ssl_conf_own_cert(&conf_, &own_chain_, &key_) != 0) return fail(TlsError::kNoMemory);
  }
  if (psk && mbedtls_ssl_conf_psk(&conf_, c.psk_key.data(), c.psk_key.size(), c.psk_identity.data(), c.psk_identity.size()) != 0)
    return fail(allocator_.exhausted() ? TlsError::kNoMemory : TlsError::kBadCredentials);
  idle_in_use_ = allocator_.in_use();
  ready_ = true;
  return {};
}

int TlsContext::psk_lookup(void* self, mbedtls_ssl_context* ssl, const unsigned char* identity, std::size_t len) {
  auto* ctx = static_cast<TlsContext*>(self);
  if (ctx->store_ == nullptr) return -1;
  u8 key[kMaxPskKey];
  auto found = find_psk(*ctx->store_, Bytes(identity, len), MutableBytes(key, sizeof key));
  int ret = -1;  // mbedTLS answers unknown_psk_identity (RFC 4279 section 2)
  if (found.ok()) ret = mbedtls_ssl_set_hs_psk(ssl, key, *found);  // copies into the handshake, wiped by mbedTLS
  mbedtls_platform_zeroize(key, sizeof key);
  return ret;
}

}  // namespace scws::tls
