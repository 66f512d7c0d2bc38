/* The card's mbedTLS 2.28.3 configuration (MBEDTLS_CONFIG_FILE): only what an SCWS card needs
 * (docs/protocol.md section 12). Replaces mbedtls/config.h entirely, so everything not defined
 * here is off. C header: it is compiled into mbedTLS (C99) and into tls/ (C++20) alike, and both
 * must see the same definitions (structure layouts depend on them).
 *
 * - TLS 1.2 only (RFC 5246), server (SCWS port 10443) and client (the card's TLS-PSK session to the
 *   remote administration server; also lets tests and `scws bench tls` run client against server).
 * - Key exchanges ECDHE-ECDSA (RFC 8422) and PSK (RFC 4279), P-256 only, SHA-256 only.
 * - AES-128 GCM (RFC 5288) and CCM (RFC 6655); CBC only for TLS_PSK_WITH_AES_128_CBC_SHA256
 *   (RFC 5487), with encrypt-then-MAC (RFC 7366).
 * - Every allocation through scws_tls_calloc / scws_tls_free (tls/tls_allocator.hpp), i.e. the card
 *   RAM arena; no filesystem, sockets, /dev/urandom, threads or wall clock: time through
 *   scws_tls_time (tls/card_clock.hpp), randomness from a CTR_DRBG the card seeds itself.
 * - Record buffers sized for a card: input SCWS_TLS_IN_CONTENT_LEN (meson option
 *   tls_in_content_len, 2048 by default, at most 4096), output 1024 bytes.
 */
#ifndef SCWS_MBEDTLS_CARD_CONFIG_H
#define SCWS_MBEDTLS_CARD_CONFIG_H

/* ---- system support ---------------------------------------------------------------------- */
#define MBEDTLS_HAVE_ASM
/* Time for certificate validity (x509 time checks) and session ticket lifetime. The card has no
 * clock: the time is whatever the card was last told (tls/card_clock.hpp). */
#define MBEDTLS_HAVE_TIME
#define MBEDTLS_HAVE_TIME_DATE
#define MBEDTLS_PLATFORM_C
#define MBEDTLS_PLATFORM_MEMORY
#ifdef SCWS_TLS_MBEDTLS_BUFFER_ALLOC
/* Only for the reference peer of `scws bench tls` (sim/bench/bench_tls_peer.cpp), never the card: the same
 * configuration on mbedTLS's own buffer allocator instead of tls/tls_allocator.hpp, to compare. */
#define MBEDTLS_MEMORY_BUFFER_ALLOC_C
#define MBEDTLS_MEMORY_DEBUG /* current and peak use, for the benchmark's figures */
#else
#define MBEDTLS_PLATFORM_CALLOC_MACRO scws_tls_calloc
#define MBEDTLS_PLATFORM_FREE_MACRO scws_tls_free
#endif
#define MBEDTLS_PLATFORM_TIME_MACRO scws_tls_time

#ifdef __cplusplus
extern "C" {
#endif
#include <stddef.h>
#include <time.h>
#ifndef SCWS_TLS_MBEDTLS_BUFFER_ALLOC
void *scws_tls_calloc(size_t count, size_t size);
void scws_tls_free(void *p);
#endif
time_t scws_tls_time(time_t *t);
#ifdef __cplusplus
}
#endif

/* ---- features ---------------------------------------------------------------------------- */
#define MBEDTLS_CIPHER_MODE_CBC /* only for TLS_PSK_WITH_AES_128_CBC_SHA256 (RFC 5487) */
#define MBEDTLS_ECP_DP_SECP256R1_ENABLED
#define MBEDTLS_ECP_NIST_OPTIM /* fast P-256 reduction: faster and fewer temporaries */
#define MBEDTLS_KEY_EXCHANGE_PSK_ENABLED
#define MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA_ENABLED
#define MBEDTLS_NO_PLATFORM_ENTROPY /* no /dev/urandom: the card seeds its DRBG (tls/card_rng.hpp) */
#define MBEDTLS_SSL_ALL_ALERT_MESSAGES
#define MBEDTLS_SSL_ENCRYPT_THEN_MAC
#define MBEDTLS_SSL_EXTENDED_MASTER_SECRET
#define MBEDTLS_SSL_MAX_FRAGMENT_LENGTH /* RFC 6066 section 4: lets a client shrink our records */
#define MBEDTLS_SSL_PROTO_TLS1_2
#define MBEDTLS_SSL_SESSION_TICKETS /* RFC 5077: resumption without server-side state */
/* Server Name Indication (RFC 6066 section 3) is not compiled in: the card has one certificate for
 * every name, a client's server_name extension is skipped like any unknown one, and each session's
 * handshake state is 32 bytes smaller. */
/* Renegotiation is not compiled in: a ClientHello after the handshake is refused (RFC 5746). */
/* MBEDTLS_SSL_KEEP_PEER_CERTIFICATE off: the peer certificate is freed after the handshake and only
 * its digest kept, which returns its RAM early. */

/* ---- modules ----------------------------------------------------------------------------- */
#define MBEDTLS_AES_C
#define MBEDTLS_AES_ROM_TABLES /* tables in ROM (flash), not built in RAM */
#define MBEDTLS_AES_FEWER_TABLES
#define MBEDTLS_ASN1_PARSE_C
#define MBEDTLS_ASN1_WRITE_C
#define MBEDTLS_BIGNUM_C
#define MBEDTLS_CCM_C
#define MBEDTLS_CIPHER_C
#define MBEDTLS_CTR_DRBG_C
#define MBEDTLS_ECDH_C
#define MBEDTLS_ECDSA_C
#define MBEDTLS_ECP_C
#define MBEDTLS_GCM_C
#define MBEDTLS_MD_C
#define MBEDTLS_OID_C
#define MBEDTLS_PK_C
#define MBEDTLS_PK_PARSE_C
#define MBEDTLS_SHA256_C
#define MBEDTLS_SSL_CLI_C
#define MBEDTLS_SSL_SRV_C
#define MBEDTLS_SSL_TLS_C
#define MBEDTLS_SSL_TICKET_C
#define MBEDTLS_X509_USE_C
#define MBEDTLS_X509_CRT_PARSE_C

/* ---- sizes ------------------------------------------------------------------------------- */
#define MBEDTLS_MPI_WINDOW_SIZE 1 /* modular exponentiation is not used by ECC suites */
#define MBEDTLS_MPI_MAX_SIZE 32   /* P-256: 256-bit numbers */
#define MBEDTLS_ECP_MAX_BITS 256
#define MBEDTLS_ECP_WINDOW_SIZE 2       /* smallest precomputation table that still helps */
#define MBEDTLS_ECP_FIXED_POINT_OPTIM 0 /* no per-curve table kept in RAM */

#ifndef SCWS_TLS_IN_CONTENT_LEN
#define SCWS_TLS_IN_CONTENT_LEN 2048
#endif
#define MBEDTLS_SSL_IN_CONTENT_LEN SCWS_TLS_IN_CONTENT_LEN
#define MBEDTLS_SSL_OUT_CONTENT_LEN 1024
#if SCWS_TLS_IN_CONTENT_LEN < 1024 || SCWS_TLS_IN_CONTENT_LEN > 4096
#error "SCWS_TLS_IN_CONTENT_LEN must lie in [1024, 4096] (input 2 KiB by default, at most 4 KiB: docs/protocol.md section 12.2)"
#endif
/* PSK keys up to 32 bytes, identities up to 64 (tls/credentials.hpp agrees by static_assert). */
#define MBEDTLS_PSK_MAX_LEN 32

#include "mbedtls/check_config.h"

#endif /* SCWS_MBEDTLS_CARD_CONFIG_H */
