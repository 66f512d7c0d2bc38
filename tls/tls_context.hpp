// What all TLS sessions of one role share: the mbedTLS configuration (suites, curves, versions,
// authentication mode), the parsed credentials and the session ticket keys. One server context
// serves every connection on the SCWS TLS port; a client context serves the card's client sessions
// (the remote administration link) and the in-process clients of tests and `scws bench tls`.
//
// Everything mbedTLS allocates for the context (parsed certificates, the private key, ticket key
// cipher contexts) comes from the context's TlsAllocator and stays there until the context dies:
// that is the TLS region's idle level, which every session must return to.
//
// Server (RFC 5246, TLS 1.2 only):
//  - kCertificate: ECDHE-ECDSA on P-256 with SHA-256 (RFC 8422), AES-128-GCM (RFC 5289) preferred,
//    AES-128-CCM (RFC 7251); the client certificate is REQUIRED and verified against the issuer CA
//    in NVM (chain, signature, validity at CardClock::now(), key usage).
//  - kPsk: TLS_PSK_WITH_AES_128_CCM (RFC 6655), _AES_128_GCM_SHA256 (RFC 5487),
//    _AES_128_CBC_SHA256 (RFC 5487, encrypt-then-MAC when offered); identities from NVM.
//  - kBoth: both sets, certificate suites first.
//  - Resumption: RFC 5077 session tickets, AES-128-CCM-protected with keys from the card DRBG,
//    lifetime kTicketLifetime of card time (the card clock only moves when told, so a ticket lives
//    until the card learns a later date); stateless, so the RAM cost does not grow with clients.
#pragma once

#include <cstddef>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "card/os/nvm.hpp"
#include "tls/card_rng.hpp"
#include "tls/tls_allocator.hpp"
#include "tls/tls_error.hpp"
#include "tls/mbedtls_card_config.h"
#include "mbedtls/pk.h"
#include "mbedtls/ssl.h"
#include "mbedtls/ssl_ticket.h"
#include "mbedtls/x509_crt.h"

namespace scws::tls {

enum class TlsMode : u8 { kCertificate = 1, kPsk = 2, kBoth = 3 };

// Credentials of a client context: caller-owned DER / bytes that must outlive the context.
struct ClientCredentials {
  Bytes ca_der;          // CA certificate(s) the server must chain to; empty = do not verify server
  Bytes cert_chain_der;  // client certificate chain, leaf first; empty = no certificate
  Bytes key_der;         // client private key
  Bytes psk_identity;    // empty = no PSK
  Bytes psk_key;
  bool psk_only = false;  // offer only the PSK suites
  int only_suite = 0;     // nonzero: offer just this IANA suite number (tests, benchmarks)
  // Non-null: the suites to offer, in this order, 0-terminated (must outlive the context; mbedTLS
  // keeps the pointer). Overrides psk_only's default list; only_suite overrides it.
  const int* suites = nullptr;
};

class TlsContext {
 public:
  static constexpr u32 kTicketLifetime = 24 * 3600;  // seconds of card time

  explicit TlsContext(TlsAllocator& allocator) noexcept;
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // Loads what `mode` needs from NVM (tls/credentials.hpp) and configures the server. The store is
  // also consulted at each PSK handshake. rng must be seeded and outlive the context.
  Status<TlsError> init_server(card::ObjectStore& store, TlsMode mode, CardRng& rng) noexcept;
  Status<TlsError> init_client(const ClientCredentials& credentials, CardRng& rng) noexcept;

  [[nodiscard]] bool is_server() const noexcept { return server_; }
  [[nodiscard]] bool ready() const noexcept { return ready_; }
  [[nodiscard]] TlsMode mode() const noexcept { return mode_; }
  TlsAllocator& allocator() noexcept { return allocator_; }
  mbedtls_ssl_config& config() noexcept { return conf_; }
  // Bytes of the TLS region the context itself holds (its idle level).
  [[nodiscard]] std::size_t idle_in_use() const noexcept { return idle_in_use_; }

  // The ciphertext windows of the TlsSession::receive() or send() call in progress. One card, one
  // CPU: only one session of a context moves bytes at a time, so the windows live here once rather
  // than in every session's RAM. IoScope installs them for a call and restores the previous ones.
  struct IoWindow {
    Bytes in;                 // ciphertext offered to the session
    std::size_t in_pos = 0;   // of it, taken by mbedTLS
    MutableBytes out;         // room for the session's ciphertext
    std::size_t out_pos = 0;  // of it, filled by mbedTLS
  };
  class IoScope {
   public:
    IoScope(TlsContext& ctx, Bytes in, MutableBytes out) noexcept : ctx_(ctx), saved_(ctx.io_) { ctx.io_ = IoWindow{in, 0, out, 0}; }
    ~IoScope() { ctx_.io_ = saved_; }
    IoScope(const IoScope&) = delete;
    IoScope& operator=(const IoScope&) = delete;

   private:
    TlsContext& ctx_;
    IoWindow saved_;
  };
  IoWindow& io() noexcept { return io_; }

 private:
  static int psk_lookup(void* self, mbedtls_ssl_context* ssl, const unsigned char* identity, std::size_t len);
  Status<TlsError> load_certs(card::ObjectStore& store, u32 id, mbedtls_x509_crt& into, u8*& buffer) noexcept;
  Status<TlsError> load_key(card::ObjectStore& store) noexcept;
  void configure_common(CardRng& rng) noexcept;

  TlsAllocator& allocator_;
  card::ObjectStore* store_ = nullptr;
  mbedtls_ssl_config conf_;
  mbedtls_x509_crt own_chain_;
  mbedtls_x509_crt ca_;
  mbedtls_pk_context key_;
  mbedtls_ssl_ticket_context tickets_;
  int single_suite_[2] = {0, 0};  // storage for ClientCredentials::only_suite (mbedTLS keeps a pointer)
  u8* chain_der_ = nullptr;  // DER the parsed certificates point into (parsed without copies)
  u8* ca_der_ = nullptr;
  std::size_t idle_in_use_ = 0;
  IoWindow io_;  // empty outside receive() / send(): mbedTLS then sees want-read / want-write
  TlsMode mode_ = TlsMode::kCertificate;
  bool server_ = true;
  bool ready_ = false;
};

}  // namespace scws::tls
