#include "sim/host/pki.hpp"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>

#include "base/bytes.hpp"
#include "base/hex.hpp"
#include "base/hex_text.hpp"
#include "card/os/nvm.hpp"
#include "tls/credentials.hpp"

namespace scws::sim {
namespace {

namespace fs = std::filesystem;

// ---- OpenSSL plumbing ---------------------------------------------------------------------------

template <auto Free>
struct Deleter {
  template <class T>
  void operator()(T* p) const noexcept {
    Free(p);
  }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using KeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX_free>>;
using CertPtr = std::unique_ptr<X509, Deleter<X509_free>>;
using NamePtr = std::unique_ptr<X509_NAME, Deleter<X509_NAME_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BN_free>>;

// The OpenSSL error queue as text (emptied), after what failed.
[[noreturn]] void fail(const std::string& what) {
  std::string text = "pki: " + what;
  unsigned long code = 0;
  bool first = true;
  while ((code = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    text += first ? ": " : "; ";
    text += buf;
    first = false;
  }
  throw PkiError(text);
}

template <class T>
T* check(T* p, const char* what) {
  if (p == nullptr) fail(what);
  return p;
}
void check(int rc, const char* what) {
  if (rc <= 0) fail(what);
}

BioPtr mem_bio() { return BioPtr(check(BIO_new(BIO_s_mem()), "BIO_new")); }
BioPtr mem_bio(const std::string& text) {
  return BioPtr(check(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())), "BIO_new_mem_buf"));
}
std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string();
}

// RFC 5480 2.1.1.1: P-256 as a named curve (OpenSSL 3's default encoding for EC keys).
KeyPtr new_p256_key() {
  KeyCtxPtr ctx(check(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr), "EVP_PKEY_CTX_new_from_name(EC)"));
  check(EVP_PKEY_keygen_init(ctx.get()), "EVP_PKEY_keygen_init");
  check(EVP_PKEY_CTX_set_group_name(ctx.get(), "P-256"), "EVP_PKEY_CTX_set_group_name(P-256)");
  EVP_PKEY* key = nullptr;
  check(EVP_PKEY_keygen(ctx.get(), &key), "EVP_PKEY_keygen(P-256)");
  return KeyPtr(key);
}

std::string cert_pem(X509* cert) {
  BioPtr bio = mem_bio();
  check(PEM_write_bio_X509(bio.get(), cert), "PEM_write_bio_X509");
  return bio_text(bio.get());
}
std::vector<uint8_t> cert_der(X509* cert) {
  const int n = i2d_X509(cert, nullptr);
  check(n, "i2d_X509");
  std::vector<uint8_t> out(static_cast<std::size_t>(n));
  unsigned char* p = out.data();
  check(i2d_X509(cert, &p), "i2d_X509");
  return out;
}
// PKCS#8 PrivateKeyInfo, unencrypted (RFC 5958): what curl and openssl read as --key.
std::string key_pem(EVP_PKEY* key) {
  BioPtr bio = mem_bio();
  check(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr), "PEM_write_bio_PrivateKey");
  return bio_text(bio.get());
}
// The key's "type-specific" DER, for EC keys SEC1 ECPrivateKey (RFC 5915 3) with the curve OID and
// the public key: what mbedtls_pk_parse_key on the card reads.
std::vector<uint8_t> key_sec1_der(EVP_PKEY* key) {
  const int n = i2d_PrivateKey(key, nullptr);
  check(n, "i2d_PrivateKey");
  std::vector<uint8_t> out(static_cast<std::size_t>(n));
  unsigned char* p = out.data();
  check(i2d_PrivateKey(key, &p), "i2d_PrivateKey");
  return out;
}

CertPtr parse_cert_pem(const std::string& pem, const std::string& what) {
  BioPtr bio = mem_bio(pem);
  X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
  if (cert == nullptr) fail(what + ": not a PEM certificate");
  return CertPtr(cert);
}
KeyPtr parse_key_pem(const std::string& pem, const std::string& what) {
  BioPtr bio = mem_bio(pem);
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
  if (key == nullptr) fail(what + ": not a PEM private key");
  return KeyPtr(key);
}

std::string common_name(X509* cert) {
  X509_NAME* name = X509_get_subject_name(cert);
  const int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (i < 0) return {};
  unsigned char* utf8 = nullptr;
  const int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
  if (n < 0) return {};
  std::string out(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(n));
  OPENSSL_free(utf8);
  return out;
}

// ---- issuing ------------------------------------------------------------------------------------

// Validity (RFC 5280 4.1.2.5): relative to now, or fixed GeneralizedTime strings.
struct Validity {
  long not_before_offset_s = 0;
  int not_after_days = 0;
  const char* fixed_not_before = nullptr;  // "YYYYMMDDHHMMSSZ"
  const char* fixed_not_after = nullptr;
};
Validity validity_of(const PkiOptions& o) {
  if (o.validity_days <= 0) throw PkiError("pki: validity_days must be positive");
  if (o.backdate_days < 0) throw PkiError("pki: backdate_days must not be negative");
  return Validity{-static_cast<long>(o.backdate_days) * 86400L, o.validity_days, nullptr, nullptr};
}

struct Extension {
  int nid;
  const char* value;  // OpenSSL x509v3_config(5) syntax
};

// One certificate: v3, random positive 16-byte serial, subject CN=cn, issuer = issuer's subject
// (self-signed when issuer is null), extensions in order, signed ecdsa-with-SHA256.
CertPtr issue(const std::string& cn, EVP_PKEY* subject_key, X509* issuer, EVP_PKEY* issuer_key, const Validity& v,
              const std::vector<Extension>& extensions) {
  CertPtr cert(check(X509_new(), "X509_new"));
  check(X509_set_version(cert.get(), X509_VERSION_3), "X509_set_version");  // RFC 5280 4.1.2.1

  // RFC 5280 4.1.2.2: positive, at most 20 octets; top bits 01 keep it positive and 16 bytes long.
  unsigned char serial[16];
  check(RAND_bytes(serial, sizeof serial), "RAND_bytes");
  serial[0] = static_cast<unsigned char>((serial[0] & 0x7F) | 0x40);
  BnPtr bn(check(BN_bin2bn(serial, sizeof serial, nullptr), "BN_bin2bn"));
  check(BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get())), "BN_to_ASN1_INTEGER");

  NamePtr subject(check(X509_NAME_new(), "X509_NAME_new"));
  check(X509_NAME_add_entry_by_NID(subject.get(), NID_commonName, MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0),
        "X509_NAME_add_entry_by_NID(CN)");
  check(X509_set_subject_name(cert.get(), subject.get()), "X509_set_subject_name");
  check(X509_set_issuer_name(cert.get(), issuer != nullptr ? X509_get_subject_name(issuer) : subject.get()),
        "X509_set_issuer_name");

  if (v.fixed_not_before != nullptr) {
    check(ASN1_TIME_set_string_X509(X509_getm_notBefore(cert.get()), v.fixed_not_before), "notBefore");
    check(ASN1_TIME_set_string_X509(X509_getm_notAfter(cert.get()), v.fixed_not_after), "notAfter");
  } else {
    check(X509_gmtime_adj(X509_getm_notBefore(cert.get()), v.not_before_offset_s) != nullptr ? 1 : 0, "notBefore");
    check(X509_time_adj_ex(X509_getm_notAfter(cert.get()), v.not_after_days, 0, nullptr) != nullptr ? 1 : 0,
          "notAfter");
  }
  check(X509_set_pubkey(cert.get(), subject_key), "X509_set_pubkey");

  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer != nullptr ? issuer : cert.get(), cert.get(), nullptr, nullptr, 0);
  for (const Extension& e : extensions) {
    ExtPtr ext(X509V3_EXT_nconf_nid(nullptr, &ctx, e.nid, e.value));
    if (!ext) fail(std::string("extension ") + OBJ_nid2sn(e.nid) + "=" + e.value);
    check(X509_add_ext(cert.get(), ext.get(), -1), "X509_add_ext");
  }
  if (X509_sign(cert.get(), issuer_key, EVP_sha256()) <= 0) fail("X509_sign(ecdsa-with-SHA256) for " + cn);
  return cert;
}

struct Issued {
  CertPtr cert;
  KeyPtr key;
};

constexpr const char* kCaName = "scws test issuer CA";
constexpr const char* kForeignCaName = "scws foreign CA";

Issued make_ca(const std::string& cn, const PkiOptions& o) {
  KeyPtr key = new_p256_key();
  CertPtr cert = issue(cn, key.get(), nullptr, key.get(), validity_of(o),
                       {{NID_basic_constraints, "critical,CA:TRUE"},  // RFC 5280 4.2.1.9
                        {NID_key_usage, "critical,keyCertSign,cRLSign"},  // RFC 5280 4.2.1.3
                        {NID_subject_key_identifier, "hash"}});           // RFC 5280 4.2.1.2
  return {std::move(cert), std::move(key)};
}

ClientCredential make_client(const std::string& cn, X509* ca, EVP_PKEY* ca_key, const Validity& v) {
  KeyPtr key = new_p256_key();
  CertPtr cert = issue(cn, key.get(), ca, ca_key, v,
                       {{NID_key_usage, "critical,digitalSignature"},      // RFC 8422 5.3 (ECDSA client auth)
                        {NID_ext_key_usage, "clientAuth"},                 // RFC 5280 4.2.1.12
                        {NID_authority_key_identifier, "keyid:always"}});  // RFC 5280 4.2.1.1
  return ClientCredential{cn, cert_pem(cert.get()), key_pem(key.get())};
}

bool is_ip_address(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// The card's certificate from the CA: leaf only, kept short (see pki.hpp).
void make_server(Pki& pki, X509* ca, EVP_PKEY* ca_key, const PkiOptions& o) {
  if (o.card_name.empty()) throw PkiError("pki: card_name is empty");
  if (o.server_hosts.empty()) throw PkiError("pki: server_hosts is empty");
  std::string san;
  for (const std::string& h : o.server_hosts) {
    if (h.empty() || h.find_first_of(", \t\r\n") != std::string::npos)
      throw PkiError("pki: server host '" + h + "' is not a host name or IP address");
    san += san.empty() ? "" : ",";
    san += (is_ip_address(h) ? "IP:" : "DNS:") + h;
  }
  KeyPtr key = new_p256_key();
  CertPtr cert = issue(o.card_name, key.get(), ca, ca_key, validity_of(o),
                       {{NID_key_usage, "critical,digitalSignature"},  // RFC 8422 5.3 (ECDHE-ECDSA)
                        {NID_ext_key_usage, "serverAuth"},             // RFC 5280 4.2.1.12
                        {NID_subject_alt_name, san.c_str()},           // RFC 5280 4.2.1.6, RFC 6125
                        {NID_authority_key_identifier, "keyid:always"}});
  pki.server_chain_der = cert_der(cert.get());
  pki.server_cert_pem = cert_pem(cert.get());
  pki.server_key_der = key_sec1_der(key.get());
}

PskCredential make_psk(std::size_t index) {
  PskCredential psk{"psk-app-" + std::to_string(index), std::vector<uint8_t>(16)};
  check(RAND_bytes(psk.key.data(), static_cast<int>(psk.key.size())), "RAND_bytes");
  return psk;
}

// ---- files --------------------------------------------------------------------------------------

[[noreturn]] void fail_errno(const std::string& what, const fs::path& path) {
  throw PkiError("pki: " + what + " " + path.string() + ": " + std::strerror(errno));
}

// Created with `mode` and chmod'ed to it before anything is written, so a key is never readable by
// others, not even for a moment, and an older file with wider rights is narrowed first.
void write_file(const fs::path& path, const std::string& content, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) fail_errno("cannot create", path);
  if (::fchmod(fd, mode) != 0) {
    const int e = errno;
    ::close(fd);
    errno = e;
    fail_errno("cannot chmod", path);
  }
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int e = errno;
      ::close(fd);
      errno = e;
      fail_errno("cannot write", path);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::close(fd) != 0) fail_errno("cannot close", path);
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw PkiError("pki: cannot read " + path.string());
  return std::string(std::istreambuf_iterator<char>(in), {});
}

constexpr mode_t kPublicMode = 0644;
constexpr mode_t kSecretMode = 0600;

// Lower-case hex, as openssl s_client -psk takes it.
std::string hex(const std::vector<uint8_t>& bytes) { return hex_text(Bytes(bytes.data(), bytes.size()), HexCase::kLower); }

// psk.txt: "identity hexkey" per line; blank lines and '#' comments skipped.
std::vector<PskCredential> parse_psk_file(const std::string& text, const fs::path& path) {
  std::vector<PskCredential> out;
  std::istringstream lines(text);
  std::string line;
  std::size_t number = 0;
  while (std::getline(lines, line)) {
    ++number;
    std::istringstream fields(line);
    std::string identity, key_hex, extra;
    if (!(fields >> identity) || identity[0] == '#') continue;
    const std::string where = path.string() + " line " + std::to_string(number);
    if (!(fields >> key_hex) || (fields >> extra)) throw PkiError("pki: " + where + ": expected \"identity hexkey\"");
    if (identity.size() > tls::kMaxPskIdentity) throw PkiError("pki: " + where + ": identity longer than the card takes");
    if (key_hex.size() % 2 != 0 || key_hex.empty() || key_hex.size() / 2 > tls::kMaxPskKey)
      throw PkiError("pki: " + where + ": key is not 1.." + std::to_string(tls::kMaxPskKey) + " bytes of hex");
    PskCredential psk{identity, std::vector<uint8_t>(key_hex.size() / 2)};
    const auto n = hex_decode(key_hex.data(), key_hex.size(), MutableBytes(psk.key.data(), psk.key.size()));
    if (!n || *n != psk.key.size()) throw PkiError("pki: " + where + ": key is not hex");
    out.push_back(std::move(psk));
  }
  return out;
}

// Single-quoted for a POSIX shell when it holds anything beyond a safe set.
std::string shell_quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./-+:@,=%") ==
                        std::string::npos)
    return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string readme(const Pki& pki, const fs::path& dir, const std::string& host, std::uint16_t port) {
  const auto file = [&](const std::string& name) { return shell_quote((dir / name).string()); };
  const std::string url = "https://" + (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
                          std::to_string(port) + "/";
  const std::string connect =
      (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
  const std::string verify_name = is_ip_address(host) ? "-verify_ip " + host : "-verify_hostname " + host;
  const std::string get = "printf 'GET / HTTP/1.1\\r\\nHost: " + host + "\\r\\nConnection: close\\r\\n\\r\\n'";
  std::ostringstream r;
  const auto entry = [&r](const std::string& name, const std::string& what) {
    r << name << std::string(name.size() < 26 ? 26 - name.size() : 1, ' ') << what << "\n";
  };
  r << "scws test credentials: FOR TESTS AND DEMOS ONLY (the CA's private key is in this folder).\n\n";
  entry("ca.pem", "the issuer CA: clients verify the card with it, the card verifies clients against it");
  entry("ca.key", "the CA's private key (scws issues the card's certificate from it)");
  for (std::size_t i = 0; i < pki.clients.size(); ++i)
    entry("client-" + std::to_string(i + 1) + ".pem, .key",
          "certificate and key of a handset application (CN=" + pki.clients[i].name + ")");
  entry("foreign-client.pem, .key", "a client certificate from another CA: the card refuses it");
  entry("expired-client.pem, .key", "a client certificate from this CA that has expired: the card refuses it");
  entry("psk.txt", "PSK identities and keys, one \"identity hexkey\" per line");
  r << "\n";
  if (!pki.clients.empty()) {
    r << "Fetch the card's page with a client certificate:\n\n"
      << "curl --cert " << file("client-1.pem") << " --key " << file("client-1.key") << " --cacert " << file("ca.pem")
      << " " << url << "\n\n"
      << "The same with openssl:\n\n"
      << get << " | openssl s_client -quiet -connect " << connect << " -tls1_2 -cert " << file("client-1.pem")
      << " -key " << file("client-1.key") << " -CAfile " << file("ca.pem") << " " << verify_name
      << " -verify_return_error\n\n";
  }
  if (!pki.psks.empty()) {
    const PskCredential& psk = pki.psks.front();
    r << "With a PSK instead of a certificate (TLS_PSK_WITH_AES_128_CCM; PSK-AES128-CBC-SHA256 works too):\n\n"
      << get << " | openssl s_client -quiet -connect " << connect << " -tls1_2 -cipher PSK-AES128-CCM -psk_identity "
      << shell_quote(psk.identity) << " -psk " << hex(psk.key) << "\n\n";
  }
  r << "Refused on purpose (the handshake fails, the card serves nothing):\n\n"
    << "curl --cert " << file("foreign-client.pem") << " --key " << file("foreign-client.key") << " --cacert "
    << file("ca.pem") << " " << url << "\n"
    << "curl --cert " << file("expired-client.pem") << " --key " << file("expired-client.key") << " --cacert "
    << file("ca.pem") << " " << url << "\n"
    << "curl --cacert " << file("ca.pem") << " " << url << "\n";
  return r.str();
}

// Reads name.pem + name.key, checks the key matches and (when ca is given) who issued it.
ClientCredential load_client(const fs::path& dir, const std::string& stem, X509* ca, bool issued_by_ca) {
  ClientCredential c;
  c.cert_pem = read_file(dir / (stem + ".pem"));
  c.key_pem = read_file(dir / (stem + ".key"));
  CertPtr cert = parse_cert_pem(c.cert_pem, (dir / (stem + ".pem")).string());
  KeyPtr key = parse_key_pem(c.key_pem, (dir / (stem + ".key")).string());
  if (X509_check_private_key(cert.get(), key.get()) != 1)
    fail((dir / (stem + ".key")).string() + " does not belong to " + stem + ".pem");
  const bool by_ca = X509_verify(cert.get(), X509_get0_pubkey(ca)) == 1;
  ERR_clear_error();
  if (by_ca != issued_by_ca)
    throw PkiError("pki: " + (dir / (stem + ".pem")).string() +
                   (issued_by_ca ? " is not issued by ca.pem" : " is issued by ca.pem, expected another CA"));
  c.name = common_name(cert.get());
  return c;
}

}  // namespace

Pki generate_pki(const PkiOptions& options) {
  Pki pki;
  Issued ca = make_ca(kCaName, options);
  pki.ca_cert_pem = cert_pem(ca.cert.get());
  pki.ca_key_pem = key_pem(ca.key.get());
  pki.ca_cert_der = cert_der(ca.cert.get());
  make_server(pki, ca.cert.get(), ca.key.get(), options);
  const Validity v = validity_of(options);
  for (std::size_t i = 1; i <= options.clients; ++i)
    pki.clients.push_back(make_client("handset-app-" + std::to_string(i), ca.cert.get(), ca.key.get(), v));
  if (options.psk_identities > tls::kMaxPskEntries)
    throw PkiError("pki: " + std::to_string(options.psk_identities) + " PSK identities, the card holds at most " +
                   std::to_string(tls::kMaxPskEntries));
  for (std::size_t i = 1; i <= options.psk_identities; ++i) pki.psks.push_back(make_psk(i));
  pki.foreign_client = generate_foreign_client("foreign-handset-app", options);
  pki.expired_client = generate_expired_client(pki, "expired-handset-app");
  return pki;
}

ClientCredential generate_foreign_client(const std::string& name, const PkiOptions& options) {
  Issued other = make_ca(kForeignCaName, options);
  return make_client(name, other.cert.get(), other.key.get(), validity_of(options));
}

ClientCredential generate_expired_client(const Pki& pki, const std::string& name) {
  CertPtr ca = parse_cert_pem(pki.ca_cert_pem, "CA certificate");
  KeyPtr ca_key = parse_key_pem(pki.ca_key_pem, "CA key");
  return make_client(name, ca.get(), ca_key.get(), Validity{0, 0, "20200101000000Z", "20210101000000Z"});
}

void write_card_part(const Pki& pki, card::ObjectStore& store) {
  const auto bytes = [](const auto& v) { return Bytes(reinterpret_cast<const u8*>(v.data()), v.size()); };
  const auto put = [](Status<tls::CredentialError> s, const std::string& what) {
    if (s.ok()) return;
    const char* why = "";
    switch (s.error()) {
      case tls::CredentialError::kNotFound: why = "not found"; break;
      case tls::CredentialError::kTooLarge: why = "too large for the card"; break;
      case tls::CredentialError::kMalformed: why = "malformed"; break;
      case tls::CredentialError::kStorage: why = "NVM error (transaction, space or device)"; break;
    }
    throw PkiError("pki: the card refused " + what + ": " + why);
  };
  put(tls::put_server_chain(store, bytes(pki.server_chain_der)), "the server certificate chain");
  put(tls::put_server_key(store, bytes(pki.server_key_der)), "the server key");
  put(tls::put_issuer_ca(store, bytes(pki.ca_cert_der)), "the issuer CA certificate");
  for (const PskCredential& psk : pki.psks) put(tls::put_psk(store, bytes(psk.identity), bytes(psk.key)), "PSK identity " + psk.identity);
}

void write_client_folder(const Pki& pki, const std::filesystem::path& dir_in, const std::string& host,
                         std::uint16_t port) {
  std::error_code ec;
  const fs::path dir = fs::absolute(dir_in, ec);
  if (ec) throw PkiError("pki: " + dir_in.string() + ": " + ec.message());
  fs::create_directories(dir, ec);
  if (ec) throw PkiError("pki: cannot create " + dir.string() + ": " + ec.message());
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  if (ec) throw PkiError("pki: cannot chmod 0700 " + dir.string() + ": " + ec.message());

  write_file(dir / "ca.pem", pki.ca_cert_pem, kPublicMode);
  write_file(dir / "ca.key", pki.ca_key_pem, kSecretMode);
  for (std::size_t i = 0; i < pki.clients.size(); ++i) {
    const std::string stem = "client-" + std::to_string(i + 1);
    write_file(dir / (stem + ".pem"), pki.clients[i].cert_pem, kPublicMode);
    write_file(dir / (stem + ".key"), pki.clients[i].key_pem, kSecretMode);
  }
  for (std::size_t i = pki.clients.size() + 1;; ++i) {  // stale ones from a larger PKI before
    const std::string stem = "client-" + std::to_string(i);
    const bool pem = fs::remove(dir / (stem + ".pem"), ec);
    const bool key = fs::remove(dir / (stem + ".key"), ec);
    if (!pem && !key) break;
  }
  write_file(dir / "foreign-client.pem", pki.foreign_client.cert_pem, kPublicMode);
  write_file(dir / "foreign-client.key", pki.foreign_client.key_pem, kSecretMode);
  write_file(dir / "expired-client.pem", pki.expired_client.cert_pem, kPublicMode);
  write_file(dir / "expired-client.key", pki.expired_client.key_pem, kSecretMode);
  std::string psk_text;
  for (const PskCredential& psk : pki.psks) psk_text += psk.identity + " " + hex(psk.key) + "\n";
  write_file(dir / "psk.txt", psk_text, kSecretMode);
  write_file(dir / "README.txt", readme(pki, dir, host, port), kPublicMode);
}

Pki load_pki(const std::filesystem::path& dir, const PkiOptions& options) {
  Pki pki;
  pki.ca_cert_pem = read_file(dir / "ca.pem");
  pki.ca_key_pem = read_file(dir / "ca.key");
  CertPtr ca = parse_cert_pem(pki.ca_cert_pem, (dir / "ca.pem").string());
  KeyPtr ca_key = parse_key_pem(pki.ca_key_pem, (dir / "ca.key").string());
  if (X509_check_private_key(ca.get(), ca_key.get()) != 1) fail((dir / "ca.key").string() + " does not belong to ca.pem");
  pki.ca_cert_der = cert_der(ca.get());
  make_server(pki, ca.get(), ca_key.get(), options);
  for (std::size_t i = 1; fs::exists(dir / ("client-" + std::to_string(i) + ".pem")); ++i)
    pki.clients.push_back(load_client(dir, "client-" + std::to_string(i), ca.get(), true));
  pki.foreign_client = load_client(dir, "foreign-client", ca.get(), false);
  pki.expired_client = load_client(dir, "expired-client", ca.get(), true);
  pki.psks = parse_psk_file(read_file(dir / "psk.txt"), dir / "psk.txt");
  if (pki.psks.size() > tls::kMaxPskEntries) throw PkiError("pki: " + (dir / "psk.txt").string() + ": too many PSKs");
  return pki;
}

Pki load_or_create_pki(const std::filesystem::path& dir, const PkiOptions& options, const std::string& host,
                       std::uint16_t port) {
  if (fs::exists(dir / "ca.pem")) return load_pki(dir, options);
  Pki pki = generate_pki(options);
  write_client_folder(pki, dir, host, port);
  return pki;
}

}  // namespace scws::sim
