// The card's TLS credentials in NVM (ObjectStore objects, id range 0x12xxxxxx = TLS):
//
//   kServerChainId  the card's certificate chain, DER certificates back to back, leaf first
//                   (RFC 5246 7.4.2); keep it short: mbedTLS does not split its Certificate
//                   message, which must fit the 1024-byte output record (docs/protocol.md section 12.1)
//   kServerKeyId    the card's private key, DER (SEC1 ECPrivateKey or PKCS#8), P-256
//   kIssuerCaId     the issuer CA certificate(s) client certificates must chain to, DER back to back
//   kPskTableId     PSK identities and keys (RFC 4279): u8 count, then per entry
//                   u8 identity length, identity, u8 key length, key
//
// put_* are what the provisioning compiler (host) calls on a RAM NvmDevice; each runs in the
// caller's transaction when one is open, else in its own. The card reads them at power-up
// (TlsContext::init_server) and, for PSKs, at each handshake (find_psk): the key goes into a
// caller buffer the caller wipes (mbedtls_platform_zeroize) right after use.
#pragma once

#include <cstddef>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "card/os/nvm.hpp"

namespace scws::tls {

inline constexpr u32 kServerChainId = 0x12000001;
inline constexpr u32 kServerKeyId = 0x12000002;
inline constexpr u32 kIssuerCaId = 0x12000003;
inline constexpr u32 kPskTableId = 0x12000004;

inline constexpr std::size_t kMaxPskEntries = 16;
inline constexpr std::size_t kMaxPskIdentity = 64;  // RFC 4279 allows 2^16-1; a card keeps them short
inline constexpr std::size_t kMaxPskKey = 32;        // = MBEDTLS_PSK_MAX_LEN
inline constexpr std::size_t kMaxCredentialObject = 4096;  // one chain / key / CA object
inline constexpr std::size_t kPskTableMax = 1 + kMaxPskEntries * (2 + kMaxPskIdentity + kMaxPskKey);

enum class CredentialError : u8 {
  kNotFound,   // no such object / identity
  kTooLarge,   // above the limits above
  kMalformed,  // table or DER framing does not parse
  kStorage,    // NVM error (transaction, space, device)
};

Status<CredentialError> put_server_chain(card::ObjectStore& store, Bytes der_chain) noexcept;
Status<CredentialError> put_server_key(card::ObjectStore& store, Bytes der_key) noexcept;
Status<CredentialError> put_issuer_ca(card::ObjectStore& store, Bytes der_certs) noexcept;
// Adds an identity, or replaces the key of an existing one.
Status<CredentialError> put_psk(card::ObjectStore& store, Bytes identity, Bytes key) noexcept;

// Looks the identity up, comparing it against every entry in constant time (no early exit, so the
// time does not tell which entry or prefix matched); on success copies the key into key_out
// (kMaxPskKey bytes) and returns its length; on any failure key_out is all zeros. Reads the table
// one entry at a time (its stack holds one entry, not the table). kMalformed for a table whose
// framing is broken.
Result<std::size_t, CredentialError> find_psk(card::ObjectStore& store, Bytes identity, MutableBytes key_out) noexcept;

// Length of the DER element (tag, length, contents) at the start of der, or 0 when it is not a
// well-formed definite-length element that fits (X.690 8.1). Splits certificate lists.
std::size_t der_element_length(Bytes der) noexcept;

}  // namespace scws::tls
