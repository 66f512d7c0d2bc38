#include "sim/host/pki.hpp"

#include <doctest/doctest.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "card/os/card.hpp"
#include "card/os/nvm.hpp"
#include "card/os/nvm_device.hpp"
#include "sim/host/host_entropy.hpp"
#include "sim/testing/child_process.hpp"
#include "tls/card_clock.hpp"
#include "tls/card_rng.hpp"
#include "tls/credentials.hpp"
#include "tls/tls_allocator.hpp"
#include "tls/tls_context.hpp"
#include "mbedtls/x509_crt.h"

namespace fs = std::filesystem;
using scws::sim::ClientCredential;
using scws::sim::Pki;
using scws::sim::PkiError;
using scws::sim::PkiOptions;

namespace {

template <auto Free>
struct Deleter {
  template <class T>
  void operator()(T* p) const noexcept {
    Free(p);
  }
};
using CertPtr = std::unique_ptr<X509, Deleter<X509_free>>;
using KeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using StorePtr = std::unique_ptr<X509_STORE, Deleter<X509_STORE_free>>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free_all>>;

CertPtr cert_of(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  CertPtr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  REQUIRE(cert);
  return cert;
}
CertPtr cert_of(const std::vector<uint8_t>& der) {
  const unsigned char* p = der.data();
  CertPtr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  REQUIRE(cert);
  CHECK(p == der.data() + der.size());
  return cert;
}
KeyPtr key_of(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  KeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  REQUIRE(key);
  return key;
}
std::vector<uint8_t> der_of(const std::string& pem) {
  CertPtr cert = cert_of(pem);
  std::vector<uint8_t> out(static_cast<std::size_t>(i2d_X509(cert.get(), nullptr)));
  unsigned char* p = out.data();
  i2d_X509(cert.get(), &p);
  return out;
}
std::vector<uint8_t> key_der_of(const std::string& pem) {
  KeyPtr key = key_of(pem);
  std::vector<uint8_t> out(static_cast<std::size_t>(i2d_PrivateKey(key.get(), nullptr)));
  unsigned char* p = out.data();
  i2d_PrivateKey(key.get(), &p);
  return out;
}

// X509_verify_cert of leaf against ca as OpenSSL's TLS stack would (purpose = the TLS role, and
// the host checked when given): the verify error, X509_V_OK when it verifies.
int verify(X509* leaf, const std::string& ca_pem, int purpose, const char* ip = nullptr) {
  StorePtr store(X509_STORE_new());
  CertPtr ca = cert_of(ca_pem);
  REQUIRE(X509_STORE_add_cert(store.get(), ca.get()) == 1);
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  REQUIRE(X509_STORE_CTX_init(ctx.get(), store.get(), leaf, nullptr) == 1);
  REQUIRE(X509_STORE_CTX_set_purpose(ctx.get(), purpose) == 1);
  if (ip != nullptr) REQUIRE(X509_VERIFY_PARAM_set1_ip_asc(X509_STORE_CTX_get0_param(ctx.get()), ip) == 1);
  const int ok = X509_verify_cert(ctx.get());
  const int err = X509_STORE_CTX_get_error(ctx.get());
  ERR_clear_error();
  if (ok == 1) REQUIRE(err == X509_V_OK);
  return ok == 1 ? X509_V_OK : (err == X509_V_OK ? -1 : err);
}

std::string common_name(X509* cert) {
  char buf[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof buf);
  return buf;
}
bool critical(X509* cert, int nid) {
  const int i = X509_get_ext_by_NID(cert, nid, -1);
  REQUIRE(i >= 0);
  return X509_EXTENSION_get_critical(X509_get_ext(cert, i)) == 1;
}

// One generated PKI for the read-only checks (P-256 key generation is fast, but not free).
const Pki& shared_pki() {
  static const Pki pki = scws::sim::generate_pki();
  return pki;
}

// A private temporary folder, removed at the end.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "scws-pki-test-XXXXXX").string();
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}
std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Restores the card clock (a process-wide global other tests rely on) at the end of a test.
struct ClockGuard {
  std::int64_t saved = scws::tls::CardClock::now();
  ClockGuard() = default;
  ~ClockGuard() { scws::tls::CardClock::set(saved); }
  ClockGuard(const ClockGuard&) = delete;
  ClockGuard& operator=(const ClockGuard&) = delete;
};

}  // namespace

TEST_CASE("pki client certificates verify against the CA as TLS clients") {
  const Pki& pki = shared_pki();
  REQUIRE(pki.clients.size() == 2);
  for (const ClientCredential& c : pki.clients) {
    CertPtr cert = cert_of(c.cert_pem);
    CHECK(verify(cert.get(), pki.ca_cert_pem, X509_PURPOSE_SSL_CLIENT) == X509_V_OK);
    // clientAuth only: the same certificate does not pass as a TLS server.
    CHECK(verify(cert.get(), pki.ca_cert_pem, X509_PURPOSE_SSL_SERVER) == X509_V_ERR_INVALID_PURPOSE);
  }
}

TEST_CASE("pki server certificate verifies against the CA for 127.0.0.1 and not for another address") {
  const Pki& pki = shared_pki();
  CertPtr server = cert_of(pki.server_chain_der);
  CHECK(verify(server.get(), pki.ca_cert_pem, X509_PURPOSE_SSL_SERVER, "127.0.0.1") == X509_V_OK);
  CHECK(verify(server.get(), pki.ca_cert_pem, X509_PURPOSE_SSL_SERVER, "10.0.0.1") == X509_V_ERR_IP_ADDRESS_MISMATCH);
  CHECK(X509_check_host(server.get(), "localhost", 0, 0, nullptr) == 1);
  CHECK(X509_check_host(server.get(), "example.org", 0, 0, nullptr) == 0);
  CHECK(verify(server.get(), pki.ca_cert_pem, X509_PURPOSE_SSL_CLIENT) == X509_V_ERR_INVALID_PURPOSE);
  // The PEM copy is the same certificate.
  CHECK(der_of(pki.server_cert_pem) == pki.server_chain_der);
}

TEST_CASE("pki foreign client certificate does not verify against the CA") {
  const Pki& pki = shared_pki();
  CertPtr foreign = cert_of(pki.foreign_client.cert_pem);
  CHECK(verify(foreign.get(), pki.ca_cert_pem, X509_PURPOSE_SSL_CLIENT) ==
        X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  CHECK(common_name(foreign.get()) == "foreign-handset-app");
  // A fresh one from the free function is refused just the same.
  const ClientCredential other = scws::sim::generate_foreign_client("intruder");
  CertPtr other_cert = cert_of(other.cert_pem);
  CHECK(common_name(other_cert.get()) == "intruder");
  CHECK(verify(other_cert.get(), pki.ca_cert_pem, X509_PURPOSE_SSL_CLIENT) != X509_V_OK);
}

TEST_CASE("pki expired client certificate fails with X509_V_ERR_CERT_HAS_EXPIRED") {
  const Pki& pki = shared_pki();
  CertPtr expired = cert_of(pki.expired_client.cert_pem);
  CHECK(verify(expired.get(), pki.ca_cert_pem, X509_PURPOSE_SSL_CLIENT) == X509_V_ERR_CERT_HAS_EXPIRED);
  // Issued by the real CA: only the date is wrong.
  CertPtr ca = cert_of(pki.ca_cert_pem);
  CHECK(X509_verify(expired.get(), X509_get0_pubkey(ca.get())) == 1);
  CHECK(X509_cmp_current_time(X509_get0_notAfter(expired.get())) < 0);
  CHECK(X509_cmp_current_time(X509_get0_notBefore(expired.get())) < 0);
  // Also expired for a card whose clock is its build date.
  CHECK(X509_cmp_time(X509_get0_notAfter(expired.get()), nullptr) < 0);
  std::time_t build = static_cast<std::time_t>(scws::tls::CardClock::kBuildTime);
  CHECK(X509_cmp_time(X509_get0_notAfter(expired.get()), &build) < 0);
}

TEST_CASE("pki valid certificates are already valid at the card's build date") {
  const Pki& pki = shared_pki();
  std::time_t build = static_cast<std::time_t>(scws::tls::CardClock::kBuildTime);
  for (const std::string& pem : {pki.ca_cert_pem, pki.server_cert_pem, pki.clients[0].cert_pem}) {
    CertPtr cert = cert_of(pem);
    CHECK(X509_cmp_time(X509_get0_notBefore(cert.get()), &build) < 0);
    CHECK(X509_cmp_time(X509_get0_notAfter(cert.get()), &build) > 0);
  }
  // notAfter = now + validity_days (825): more than 824 days ahead.
  CertPtr server = cert_of(pki.server_chain_der);
  int days = 0, seconds = 0;
  REQUIRE(ASN1_TIME_diff(&days, &seconds, nullptr, X509_get0_notAfter(server.get())) == 1);
  CHECK(days >= 824);
  CHECK(days <= 825);
}

TEST_CASE("pki private keys match their certificates") {
  const Pki& pki = shared_pki();
  CertPtr ca = cert_of(pki.ca_cert_pem);
  KeyPtr ca_key = key_of(pki.ca_key_pem);
  CHECK(X509_check_private_key(ca.get(), ca_key.get()) == 1);
  for (const ClientCredential* c : {&pki.clients[0], &pki.clients[1], &pki.foreign_client, &pki.expired_client}) {
    CertPtr cert = cert_of(c->cert_pem);
    KeyPtr key = key_of(c->key_pem);
    CHECK(X509_check_private_key(cert.get(), key.get()) == 1);
  }
  CertPtr server = cert_of(pki.server_chain_der);
  const unsigned char* p = pki.server_key_der.data();
  KeyPtr server_key(d2i_AutoPrivateKey(nullptr, &p, static_cast<long>(pki.server_key_der.size())));
  REQUIRE(server_key);
  CHECK(X509_check_private_key(server.get(), server_key.get()) == 1);
  // A key from another certificate does not match.
  KeyPtr other = key_of(pki.clients[1].key_pem);
  CertPtr client1 = cert_of(pki.clients[0].cert_pem);
  CHECK(X509_check_private_key(client1.get(), other.get()) != 1);
  ERR_clear_error();
}

TEST_CASE("pki certificates are v3 P-256 ecdsa-with-SHA256 with random positive 16-byte serials") {
  const Pki& pki = shared_pki();
  std::set<std::string> serials;
  for (const std::string& pem : {pki.ca_cert_pem, pki.server_cert_pem, pki.clients[0].cert_pem,
                                 pki.clients[1].cert_pem, pki.foreign_client.cert_pem, pki.expired_client.cert_pem}) {
    CertPtr cert = cert_of(pem);
    CHECK(X509_get_version(cert.get()) == X509_VERSION_3);
    CHECK(X509_get_signature_nid(cert.get()) == NID_ecdsa_with_SHA256);
    EVP_PKEY* pub = X509_get0_pubkey(cert.get());
    REQUIRE(pub != nullptr);
    char group[64] = {};
    REQUIRE(EVP_PKEY_get_group_name(pub, group, sizeof group, nullptr) == 1);
    CHECK(std::string(group) == "prime256v1");
    const ASN1_INTEGER* serial = X509_get0_serialNumber(cert.get());
    CHECK(ASN1_STRING_type(serial) == V_ASN1_INTEGER);  // not V_ASN1_NEG_INTEGER
    CHECK(ASN1_STRING_length(serial) == 16);
    serials.insert(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(serial)), 16));
  }
  CHECK(serials.size() == 6);
}

TEST_CASE("pki CA certificate is a critical CA:TRUE with keyCertSign, cRLSign and a subject key identifier") {
  CertPtr ca = cert_of(shared_pki().ca_cert_pem);
  CHECK((X509_get_extension_flags(ca.get()) & EXFLAG_CA) != 0);
  CHECK(critical(ca.get(), NID_basic_constraints));
  CHECK(X509_get_key_usage(ca.get()) == (KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  CHECK(critical(ca.get(), NID_key_usage));
  CHECK(X509_get0_subject_key_id(ca.get()) != nullptr);
  CHECK(X509_check_issued(ca.get(), ca.get()) == X509_V_OK);  // self-signed
}

TEST_CASE("pki server certificate is small, names the card and the hosts, serverAuth and digitalSignature") {
  const Pki& pki = shared_pki();
  // The card's Certificate message (4 handshake + 3 list + 3 length + DER) plus the 5-byte record
  // header must fit the card's 1024-byte output record (tls/credentials.hpp).
  CHECK(pki.server_chain_der.size() < 900);
  MESSAGE("server certificate DER: " << pki.server_chain_der.size() << " bytes");
  CHECK(scws::tls::der_element_length(scws::Bytes(pki.server_chain_der.data(), pki.server_chain_der.size())) ==
        pki.server_chain_der.size());  // leaf only
  CertPtr server = cert_of(pki.server_chain_der);
  CHECK(common_name(server.get()) == "scws card");
  CHECK(X509_get_key_usage(server.get()) == KU_DIGITAL_SIGNATURE);
  CHECK(X509_get_extended_key_usage(server.get()) == XKU_SSL_SERVER);
  CHECK((X509_get_extension_flags(server.get()) & EXFLAG_CA) == 0);
  CHECK(X509_get0_authority_key_id(server.get()) != nullptr);
  CertPtr ca = cert_of(pki.ca_cert_pem);
  CHECK(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(server.get()), X509_get0_subject_key_id(ca.get())) == 0);
  CHECK(X509_check_ip_asc(server.get(), "127.0.0.1", 0) == 1);

  // Other names and hosts follow the options; IPv6 goes in as an IP.
  PkiOptions o;
  o.card_name = "card 2";
  o.server_hosts = {"::1", "scws.test"};
  o.clients = 0;
  o.psk_identities = 0;
  const Pki other = scws::sim::generate_pki(o);
  CertPtr s2 = cert_of(other.server_chain_der);
  CHECK(common_name(s2.get()) == "card 2");
  CHECK(X509_check_ip_asc(s2.get(), "::1", 0) == 1);
  CHECK(X509_check_host(s2.get(), "scws.test", 0, 0, nullptr) == 1);
  CHECK(X509_check_ip_asc(s2.get(), "127.0.0.1", 0) == 0);
  CHECK(other.clients.empty());
  CHECK(other.psks.empty());
}

TEST_CASE("pki client certificates are CN=handset-app-N with clientAuth and digitalSignature") {
  const Pki& pki = shared_pki();
  for (std::size_t i = 0; i < pki.clients.size(); ++i) {
    CertPtr cert = cert_of(pki.clients[i].cert_pem);
    const std::string cn = "handset-app-" + std::to_string(i + 1);
    CHECK(pki.clients[i].name == cn);
    CHECK(common_name(cert.get()) == cn);
    CHECK(X509_get_key_usage(cert.get()) == KU_DIGITAL_SIGNATURE);
    CHECK(X509_get_extended_key_usage(cert.get()) == XKU_SSL_CLIENT);
    CHECK((X509_get_extension_flags(cert.get()) & EXFLAG_CA) == 0);
  }
  CHECK(pki.clients[0].key_pem.find("-----BEGIN PRIVATE KEY-----") == 0);  // PKCS#8
}

TEST_CASE("pki PSKs are distinct identities with 16-byte random keys") {
  const Pki& pki = shared_pki();
  REQUIRE(pki.psks.size() == 2);
  CHECK(pki.psks[0].identity == "psk-app-1");
  CHECK(pki.psks[1].identity == "psk-app-2");
  CHECK(pki.psks[0].key.size() == 16);
  CHECK(pki.psks[1].key.size() == 16);
  CHECK(pki.psks[0].key != pki.psks[1].key);
  CHECK(pki.psks[0].key != std::vector<uint8_t>(16, 0));
}

TEST_CASE("pki server key is SEC1 ECPrivateKey DER with the P-256 OID") {
  const std::vector<uint8_t>& der = shared_pki().server_key_der;
  // RFC 5915 3: SEQUENCE { INTEGER 1, OCTET STRING (32), [0] OID prime256v1, [1] public key }
  REQUIRE(der.size() > 40);
  CHECK(der[0] == 0x30);
  const std::vector<uint8_t> version_and_key = {0x02, 0x01, 0x01, 0x04, 0x20};
  CHECK(std::vector<uint8_t>(der.begin() + 2, der.begin() + 7) == version_and_key);
  const std::vector<uint8_t> p256 = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};  // 1.2.840.10045.3.1.7
  CHECK(std::search(der.begin(), der.end(), p256.begin(), p256.end()) != der.end());
}

TEST_CASE("pki options beyond the card's limits are refused") {
  PkiOptions o;
  o.psk_identities = scws::tls::kMaxPskEntries + 1;
  CHECK_THROWS_AS(scws::sim::generate_pki(o), PkiError);
  PkiOptions bad_host;
  bad_host.server_hosts = {"127.0.0.1,DNS:evil"};
  CHECK_THROWS_AS(scws::sim::generate_pki(bad_host), PkiError);
  PkiOptions no_days;
  no_days.validity_days = 0;
  CHECK_THROWS_AS(scws::sim::generate_pki(no_days), PkiError);
}

TEST_CASE("pki client folder holds the handset files with a 0700 folder and 0600 keys") {
  const Pki& pki = shared_pki();
  TempDir tmp;
  const fs::path dir = tmp.path / "creds";
  scws::sim::write_client_folder(pki, dir);
  CHECK(mode_of(dir) == 0700);
  for (const char* key : {"ca.key", "client-1.key", "client-2.key", "foreign-client.key", "expired-client.key", "psk.txt"})
    CHECK_MESSAGE(mode_of(dir / key) == 0600, key);
  for (const char* pub : {"ca.pem", "client-1.pem", "client-2.pem", "foreign-client.pem", "expired-client.pem", "README.txt"})
    CHECK_MESSAGE(mode_of(dir / pub) == 0644, pub);
  CHECK_FALSE(fs::exists(dir / "client-3.pem"));
  CHECK(slurp(dir / "ca.pem") == pki.ca_cert_pem);
  CHECK(slurp(dir / "client-2.key") == pki.clients[1].key_pem);
  CHECK(slurp(dir / "expired-client.pem") == pki.expired_client.cert_pem);
  // The card's key stays in the card.
  for (const auto& entry : fs::directory_iterator(dir)) CHECK(entry.path().filename().string().find("server") == std::string::npos);

  // psk.txt: "identity hexkey", lower-case hex as openssl s_client -psk takes it.
  const std::string psk = slurp(dir / "psk.txt");
  std::string expected;
  for (const auto& p : pki.psks) {
    expected += p.identity + " ";
    for (uint8_t b : p.key) {
      static constexpr char kHex[] = "0123456789abcdef";
      expected += kHex[b >> 4];
      expected += kHex[b & 15];
    }
    expected += "\n";
  }
  CHECK(psk == expected);

  const std::string readme = slurp(dir / "README.txt");
  const std::string curl = "curl --cert " + (dir / "client-1.pem").string() + " --key " + (dir / "client-1.key").string() +
                           " --cacert " + (dir / "ca.pem").string() + " https://127.0.0.1:10443/\n";
  CHECK(readme.find(curl) != std::string::npos);
  CHECK(readme.find("openssl s_client -quiet -connect 127.0.0.1:10443 -tls1_2 -cert ") != std::string::npos);
  CHECK(readme.find("-verify_ip 127.0.0.1 -verify_return_error") != std::string::npos);
  CHECK(readme.find("-psk_identity psk-app-1 -psk " + expected.substr(10, 32) + "\n") != std::string::npos);
  CHECK(readme.find("foreign-client.pem") != std::string::npos);

  // An existing folder with wider rights is narrowed; a second write replaces the files.
  fs::permissions(dir, fs::perms::all, fs::perm_options::replace);
  fs::permissions(dir / "ca.key", fs::perms::all, fs::perm_options::replace);
  scws::sim::write_client_folder(pki, dir, "localhost", 8443);
  CHECK(mode_of(dir) == 0700);
  CHECK(mode_of(dir / "ca.key") == 0600);
  CHECK(slurp(dir / "README.txt").find("https://localhost:8443/") != std::string::npos);
  CHECK(slurp(dir / "README.txt").find("-verify_hostname localhost") != std::string::npos);
}

TEST_CASE("pki client folder paths with spaces are quoted in the README") {
  TempDir tmp;
  const fs::path dir = tmp.path / "my creds";
  scws::sim::write_client_folder(shared_pki(), dir);
  CHECK(slurp(dir / "README.txt").find("curl --cert '" + (dir / "client-1.pem").string() + "'") != std::string::npos);
}

TEST_CASE("pki client folder written again with fewer clients drops the stale ones") {
  TempDir tmp;
  PkiOptions three;
  three.clients = 3;
  scws::sim::write_client_folder(scws::sim::generate_pki(three), tmp.path);
  REQUIRE(fs::exists(tmp.path / "client-3.key"));
  PkiOptions one;
  one.clients = 1;
  scws::sim::write_client_folder(scws::sim::generate_pki(one), tmp.path);
  CHECK(fs::exists(tmp.path / "client-1.pem"));
  CHECK_FALSE(fs::exists(tmp.path / "client-2.pem"));
  CHECK_FALSE(fs::exists(tmp.path / "client-3.key"));
  CHECK(scws::sim::load_pki(tmp.path).clients.size() == 1);
}

TEST_CASE("pki load_pki reads back the folder and issues a new server certificate from the same CA") {
  const Pki& pki = shared_pki();
  TempDir tmp;
  scws::sim::write_client_folder(pki, tmp.path);
  const Pki loaded = scws::sim::load_pki(tmp.path);
  CHECK(loaded.ca_cert_pem == pki.ca_cert_pem);
  CHECK(loaded.ca_key_pem == pki.ca_key_pem);
  CHECK(loaded.ca_cert_der == pki.ca_cert_der);
  REQUIRE(loaded.clients.size() == pki.clients.size());
  for (std::size_t i = 0; i < pki.clients.size(); ++i) {
    CHECK(loaded.clients[i].name == pki.clients[i].name);
    CHECK(loaded.clients[i].cert_pem == pki.clients[i].cert_pem);
    CHECK(loaded.clients[i].key_pem == pki.clients[i].key_pem);
  }
  CHECK(loaded.foreign_client.cert_pem == pki.foreign_client.cert_pem);
  CHECK(loaded.expired_client.key_pem == pki.expired_client.key_pem);
  REQUIRE(loaded.psks.size() == pki.psks.size());
  for (std::size_t i = 0; i < pki.psks.size(); ++i) {
    CHECK(loaded.psks[i].identity == pki.psks[i].identity);
    CHECK(loaded.psks[i].key == pki.psks[i].key);
  }
  // The server key never left the card: a new one, certified by the same CA.
  CHECK(loaded.server_key_der != pki.server_key_der);
  CertPtr server = cert_of(loaded.server_chain_der);
  CHECK(verify(server.get(), pki.ca_cert_pem, X509_PURPOSE_SSL_SERVER, "127.0.0.1") == X509_V_OK);
}

TEST_CASE("pki load_pki names the file that is missing, does not parse or does not match") {
  const Pki& pki = shared_pki();
  TempDir tmp;
  scws::sim::write_client_folder(pki, tmp.path);
  const auto message = [&] {
    try {
      (void)scws::sim::load_pki(tmp.path);
    } catch (const PkiError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  {
    std::ofstream(tmp.path / "psk.txt") << "psk-app-1 00112g\n";
    CHECK(message().find("psk.txt line 1") != std::string::npos);
    std::ofstream(tmp.path / "psk.txt") << "# comment\n\npsk-app-1 0011\n";
    CHECK(scws::sim::load_pki(tmp.path).psks.size() == 1);
  }
  {
    std::ofstream(tmp.path / "client-2.key") << pki.clients[0].key_pem;
    CHECK(message().find("client-2.key does not belong to client-2.pem") != std::string::npos);
    std::ofstream(tmp.path / "client-2.key") << pki.clients[1].key_pem;
  }
  {
    std::ofstream(tmp.path / "client-2.pem") << pki.foreign_client.cert_pem;
    std::ofstream(tmp.path / "client-2.key") << pki.foreign_client.key_pem;
    CHECK(message().find("client-2.pem is not issued by ca.pem") != std::string::npos);
  }
  {
    std::ofstream(tmp.path / "ca.pem") << "garbage";
    CHECK(message().find("ca.pem: not a PEM certificate") != std::string::npos);
  }
  fs::remove(tmp.path / "ca.key");
  CHECK(message().find("cannot read " + (tmp.path / "ca.key").string()) != std::string::npos);
}

TEST_CASE("pki load_or_create_pki creates the folder once, then reuses its CA") {
  TempDir tmp;
  const fs::path dir = tmp.path / "demo";
  const Pki first = scws::sim::load_or_create_pki(dir);
  CHECK(fs::exists(dir / "ca.key"));
  const Pki second = scws::sim::load_or_create_pki(dir);
  CHECK(second.ca_cert_pem == first.ca_cert_pem);
  CHECK(second.clients[0].cert_pem == first.clients[0].cert_pem);
  CHECK(second.psks[0].key == first.psks[0].key);
}

TEST_CASE("pki card part lands in the image where find_psk and the card's TLS context read it") {
  const Pki& pki = shared_pki();
  std::vector<scws::u8> image(256 * 1024);
  scws::card::RamNvmDevice device{scws::MutableBytes(image.data(), image.size())};
  REQUIRE(scws::card::Card::format_image(device, {}).ok());
  scws::card::Nvm nvm{device};
  REQUIRE(nvm.mount().ok());
  scws::card::ObjectStore store{nvm};
  scws::sim::write_card_part(pki, store);

  for (const auto& psk : pki.psks) {
    scws::u8 key[scws::tls::kMaxPskKey] = {};
    auto found = scws::tls::find_psk(
        store, scws::Bytes(reinterpret_cast<const scws::u8*>(psk.identity.data()), psk.identity.size()), key);
    REQUIRE(found.ok());
    CHECK(std::vector<uint8_t>(key, key + *found) == psk.key);
  }
  scws::u8 key[scws::tls::kMaxPskKey] = {};
  const std::string unknown = "psk-app-9";
  auto missing = scws::tls::find_psk(store, scws::Bytes(reinterpret_cast<const scws::u8*>(unknown.data()), unknown.size()), key);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error() == scws::tls::CredentialError::kNotFound);

  std::vector<scws::u8> stored(pki.server_chain_der.size());
  REQUIRE(store.read(scws::tls::kServerChainId, 0, stored).ok());
  CHECK(stored == pki.server_chain_der);

  // The card parses what was written: its server context loads chain, key, CA and PSKs.
  ClockGuard clock;
  scws::tls::CardClock::set(std::time(nullptr));
  std::vector<scws::u64> region(48 * 1024 / 8);
  scws::tls::TlsAllocator allocator{scws::MutableBytes(reinterpret_cast<scws::u8*>(region.data()), region.size() * 8)};
  scws::sim::ReproducibleEntropy seed{0x5eedULL};
  scws::tls::CardRng rng;
  REQUIRE(rng.seed(scws::sim::host_entropy, &seed, scws::Bytes()).ok());
  {
    scws::tls::TlsContext server{allocator};
    CHECK(server.init_server(store, scws::tls::TlsMode::kBoth, rng).ok());
  }
  // And a handset's credentials from the folder load into a card-built client.
  const std::vector<uint8_t> client_der = der_of(pki.clients[0].cert_pem), client_key = key_der_of(pki.clients[0].key_pem);
  scws::tls::ClientCredentials creds;
  creds.ca_der = scws::Bytes(pki.ca_cert_der.data(), pki.ca_cert_der.size());
  creds.cert_chain_der = scws::Bytes(client_der.data(), client_der.size());
  creds.key_der = scws::Bytes(client_key.data(), client_key.size());
  scws::tls::TlsContext client{allocator};
  CHECK(client.init_client(creds, rng).ok());
}

namespace {

// What the card's handshake does with a client certificate (mbedtls_x509_crt_verify against the
// issuer CA at CardClock::now()): the verify flags, 0 when it verifies.
uint32_t card_verify(const std::vector<uint8_t>& leaf_der, const std::vector<uint8_t>& ca_der) {
  std::vector<scws::u64> region(32 * 1024 / 8);
  scws::tls::TlsAllocator allocator{scws::MutableBytes(reinterpret_cast<scws::u8*>(region.data()), region.size() * 8)};
  scws::tls::TlsAllocator::Scope scope(allocator);
  mbedtls_x509_crt leaf, ca;
  mbedtls_x509_crt_init(&leaf);
  mbedtls_x509_crt_init(&ca);
  REQUIRE(mbedtls_x509_crt_parse_der(&leaf, leaf_der.data(), leaf_der.size()) == 0);
  REQUIRE(mbedtls_x509_crt_parse_der(&ca, ca_der.data(), ca_der.size()) == 0);
  uint32_t flags = 0;
  const int rc = mbedtls_x509_crt_verify(&leaf, &ca, nullptr, nullptr, &flags, nullptr, nullptr);
  CHECK((rc == 0) == (flags == 0));
  mbedtls_x509_crt_free(&leaf);
  mbedtls_x509_crt_free(&ca);
  CHECK(allocator.in_use() == 0);
  return flags;
}

}  // namespace

TEST_CASE("pki certificates verify with the card's mbedTLS now and at the card's build date, the negative ones do not") {
  const Pki& pki = shared_pki();
  ClockGuard clock;
  for (const std::int64_t when : {static_cast<std::int64_t>(std::time(nullptr)), scws::tls::CardClock::kBuildTime}) {
    scws::tls::CardClock::set(when);
    CHECK(card_verify(der_of(pki.clients[0].cert_pem), pki.ca_cert_der) == 0);
    CHECK(card_verify(der_of(pki.clients[1].cert_pem), pki.ca_cert_der) == 0);
    CHECK(card_verify(pki.server_chain_der, pki.ca_cert_der) == 0);
    CHECK(card_verify(der_of(pki.foreign_client.cert_pem), pki.ca_cert_der) == MBEDTLS_X509_BADCERT_NOT_TRUSTED);
    CHECK(card_verify(der_of(pki.expired_client.cert_pem), pki.ca_cert_der) == MBEDTLS_X509_BADCERT_EXPIRED);
  }
}

TEST_CASE("pki card part the card refuses is named in the error") {
  const Pki& pki = shared_pki();
  std::vector<scws::u8> image(256 * 1024);
  scws::card::RamNvmDevice device{scws::MutableBytes(image.data(), image.size())};
  REQUIRE(scws::card::Card::format_image(device, {}).ok());
  scws::card::Nvm nvm{device};
  REQUIRE(nvm.mount().ok());
  scws::card::ObjectStore store{nvm};
  Pki huge = pki;
  huge.server_chain_der.resize(scws::tls::kMaxCredentialObject + 1);
  CHECK_THROWS_WITH_AS(scws::sim::write_card_part(huge, store), doctest::Contains("server certificate chain"), PkiError);
}

TEST_CASE("pki folder passes `openssl verify` for client-1 and fails it for the foreign and expired clients") {
  const auto openssl = scws::sim::find_program("openssl");
  if (!openssl) {
    MESSAGE("openssl CLI not installed: skipped");
    return;
  }
  TempDir tmp;
  scws::sim::write_client_folder(shared_pki(), tmp.path);
  const auto run = [&](const std::string& leaf, std::vector<std::string> extra) {
    std::vector<std::string> argv = {openssl->string(), "verify"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.insert(argv.end(), {"-CAfile", (tmp.path / "ca.pem").string(), (tmp.path / leaf).string()});
    const auto r = scws::sim::ChildProcess::run(argv, std::nullopt, scws::sim::ChildProcess::Stderr::kWithStdout,
                                                std::chrono::seconds(60));
    return std::make_pair(r.exit_code, r.out);
  };
  auto ok = run("client-1.pem", {"-purpose", "sslclient"});
  CHECK_MESSAGE(ok.first == 0, ok.second);
  CHECK(ok.second.find(": OK") != std::string::npos);
  auto foreign = run("foreign-client.pem", {});
  CHECK(foreign.first != 0);
  auto expired = run("expired-client.pem", {});
  CHECK(expired.first != 0);
  CHECK(expired.second.find("certificate has expired") != std::string::npos);
  // The card's certificate as a TLS server for 127.0.0.1.
  std::ofstream(tmp.path / "server.pem") << shared_pki().server_cert_pem;
  auto server = run("server.pem", {"-purpose", "sslserver", "-verify_ip", "127.0.0.1"});
  CHECK_MESSAGE(server.first == 0, server.second);
}
