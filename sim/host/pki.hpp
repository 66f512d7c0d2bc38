// The test PKI of `scws provision` and of `scws run`'s demo credentials: an issuer
// CA, the card's server certificate and key, client certificates and keys for N handset
// applications, PSK identities and keys. Host code, on OpenSSL 3 libcrypto.
//
// Certificates are X.509 v3 (RFC 5280) with P-256 keys (RFC 5480) signed ecdsa-with-SHA256
// (RFC 5758 3.2), random positive 16-byte serials (RFC 5280 4.1.2.2: at most 20 octets):
//  - CA:      basicConstraints CA:TRUE critical, keyUsage keyCertSign+cRLSign critical,
//             subjectKeyIdentifier (RFC 5280 4.2.1.9, 4.2.1.3, 4.2.1.2)
//  - server:  CN=card_name, subjectAltName IP/DNS from server_hosts, extKeyUsage serverAuth,
//             keyUsage digitalSignature (what ECDHE-ECDSA signs with, RFC 8422 5.3),
//             authorityKeyIdentifier. Leaf only, no SKI, short names: the card's Certificate
//             message must fit its 1024-byte output record (tls/credentials.hpp).
//  - clients: CN=handset-app-N, extKeyUsage clientAuth, keyUsage digitalSignature,
//             authorityKeyIdentifier.
// Dates: notBefore lies backdate_days in the past because a card's clock is its firmware build
// date until told otherwise (tls/card_clock.hpp): a certificate must already be valid then. The
// expired test client has fixed dates in 2020 so that it is expired for any card clock.
//
// Secrets: the card's server key goes into the card image only (write_card_part); the client
// folder holds what the handset side needs plus the CA key (so `scws run` can re-issue the card's
// certificate from a folder written before, load_pki). Every failure throws PkiError with the
// OpenSSL error text or the file concerned.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace scws::card {
class ObjectStore;
}

namespace scws::sim {

class PkiError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct PkiOptions {
  std::size_t clients = 2;                                             // client-1 .. client-N
  std::string card_name = "scws card";                                 // server certificate CN
  std::vector<std::string> server_hosts = {"127.0.0.1", "localhost"};  // SAN: IP when it parses as one
  int validity_days = 825;   // notAfter = now + validity_days (CA, server, clients)
  int backdate_days = 365;   // notBefore = now - backdate_days (the card clock may lag, see above)
  std::size_t psk_identities = 2;  // psk-app-1 .. psk-app-N, 16-byte random keys
};

struct ClientCredential {
  std::string name;      // the certificate's CN (handset-app-N)
  std::string cert_pem;  // leaf certificate
  std::string key_pem;   // PKCS#8 private key
};

struct PskCredential {
  std::string identity;      // RFC 4279 2: PSK identity
  std::vector<uint8_t> key;  // 16 random bytes (AES-128 suites)
};

struct Pki {
  std::string ca_cert_pem, ca_key_pem;
  std::vector<uint8_t> ca_cert_der;
  // The card's part. server_chain_der is the leaf only (RFC 5246 7.4.2 lets the CA be omitted;
  // the clients have it): short, so the Certificate message fits one 1024-byte record.
  std::vector<uint8_t> server_chain_der;
  std::vector<uint8_t> server_key_der;  // SEC1 ECPrivateKey (RFC 5915), named curve P-256
  std::string server_cert_pem;          // the same certificate as PEM (for tools and README)
  std::vector<ClientCredential> clients;
  std::vector<PskCredential> psks;
  // Negative test material, written beside the clients: issued by another CA, and expired.
  ClientCredential foreign_client, expired_client;
};

// A fresh CA, server certificate, options.clients clients, options.psk_identities PSKs, and the
// foreign and expired test clients.
Pki generate_pki(const PkiOptions& options = {});

// A client certificate (CN=name) issued by a throwaway CA that is NOT the Pki's CA (subject
// "scws foreign CA"): a card must refuse it.
ClientCredential generate_foreign_client(const std::string& name = "foreign-handset-app",
                                         const PkiOptions& options = {});
// A client certificate (CN=name) issued by pki's CA that expired: notBefore 2020-01-01,
// notAfter 2021-01-01 (both in the past for any clock this project runs under).
ClientCredential generate_expired_client(const Pki& pki, const std::string& name = "expired-handset-app");

// The card's part into a formatted, mounted object store (tls/credentials.hpp): server chain,
// server key, issuer CA, every PSK. Each put runs in the caller's transaction when one is open,
// else in its own. Throws PkiError naming the credential the card refused and why.
void write_card_part(const Pki& pki, card::ObjectStore& store);

// The handset side into dir (created 0700, made 0700 when it exists):
//   ca.pem, ca.key, client-N.pem/client-N.key (N = 1..), foreign-client.pem/.key,
//   expired-client.pem/.key, psk.txt ("identity hexkey" lines, lower-case hex as
//   `openssl s_client -psk` takes it), README.txt with the curl and openssl s_client commands for
//   https://host:port/ (absolute paths). Keys and psk.txt 0600, the rest 0644. Stale client-N files
//   beyond pki.clients are removed so load_pki reads back exactly this Pki.
void write_client_folder(const Pki& pki, const std::filesystem::path& dir, const std::string& host = "127.0.0.1",
                         std::uint16_t port = 10443);

// Reads a folder write_client_folder wrote (CA, clients, PSKs, negative clients; each key checked
// against its certificate) and issues a fresh server certificate and key from its CA with
// options' card_name, server_hosts, validity_days and backdate_days (the server key never left the
// card, so it is not in the folder). options.clients / psk_identities are ignored: the folder
// decides. Throws PkiError naming the file that is missing or does not parse.
Pki load_pki(const std::filesystem::path& dir, const PkiOptions& options = {});

// For `scws run`: load_pki when dir holds ca.pem, else generate_pki + write_client_folder.
Pki load_or_create_pki(const std::filesystem::path& dir, const PkiOptions& options = {},
                       const std::string& host = "127.0.0.1", std::uint16_t port = 10443);

}  // namespace scws::sim
