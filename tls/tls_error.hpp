// Errors of the card's TLS layer: set-up errors (TlsError) and why a session failed (TlsFailure).
// TlsFailure is what the card's attack detection counts (docs/architecture.md, "Threats and
// answers"), so each reason is a distinct, stable value; names for traces and reports come from
// failure_name().
#pragma once

#include "base/bytes.hpp"

namespace scws::tls {

// Setting up a context or loading credentials.
enum class TlsError : u8 {
  kNoMemory,          // the TLS RAM region cannot hold it (TlsAllocator::exhausted())
  kNoCredentials,     // an object the mode needs is not provisioned in NVM
  kBadCredentials,    // a certificate, key or PSK table does not parse
  kStorage,           // NVM read failed
  kEntropy,           // the card entropy source failed (DRBG not seeded)
  kInternal,          // mbedTLS refused the configuration
};

// Why a session ended other than by an orderly close. Each one leaves a TLS alert for the peer
// (unless the peer's own alert or silence ended it) and then a closed channel.
enum class TlsFailure : u8 {
  kNone,
  kNoClientCertificate,   // client sent no certificate although one is required (RFC 5246 7.4.6)
  kBadCertificate,        // client chain does not verify against the issuer CA: other CA, expired,
                          // wrong key usage, or a CertificateVerify that does not verify
  kUnknownPskIdentity,    // RFC 4279 section 2: identity not in the card's PSK table
  kBadRecord,             // not TLS: bad record header, oversized record, MAC or decode failure
  kBadHandshake,          // malformed or unacceptable handshake (no shared suite, bad ClientHello)
  kPeerAlert,             // the peer sent a fatal alert
  kArenaExhausted,        // the TLS RAM region ran out during the session
  kRenegotiation,         // a handshake message after the handshake: renegotiation is refused
  kTimeout,               // the card's timer expired while the session waited for the peer
  kInternal,              // anything else mbedTLS reported
};

constexpr const char* failure_name(TlsFailure f) noexcept {
  switch (f) {
    case TlsFailure::kNone: return "none";
    case TlsFailure::kNoClientCertificate: return "no-client-certificate";
    case TlsFailure::kBadCertificate: return "bad-certificate";
    case TlsFailure::kUnknownPskIdentity: return "unknown-psk-identity";
    case TlsFailure::kBadRecord: return "bad-record";
    case TlsFailure::kBadHandshake: return "bad-handshake";
    case TlsFailure::kPeerAlert: return "peer-alert";
    case TlsFailure::kArenaExhausted: return "arena-exhausted";
    case TlsFailure::kRenegotiation: return "renegotiation";
    case TlsFailure::kTimeout: return "timeout";
    case TlsFailure::kInternal: return "internal";
  }
  return "?";
}

constexpr const char* error_name(TlsError e) noexcept {
  switch (e) {
    case TlsError::kNoMemory: return "no-memory";
    case TlsError::kNoCredentials: return "no-credentials";
    case TlsError::kBadCredentials: return "bad-credentials";
    case TlsError::kStorage: return "storage";
    case TlsError::kEntropy: return "entropy";
    case TlsError::kInternal: return "internal";
  }
  return "?";
}

}  // namespace scws::tls
