#include "tls/credentials.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "card/os/nvm_device.hpp"
#include "tests/tls/tls_test_data.hpp"

using namespace scws;
using namespace scws::tls;
using scws::tls::test::bytes_of;

namespace {
// An empty store of the rig's card (128 KiB of NVM, an 8 KiB journal).
struct Store : sim::tls_rig::CardStore {
  Store() : sim::tls_rig::CardStore(128 * 1024, 8192) {}
};
}  // namespace

TEST_CASE("credentials store the server chain, key and issuer CA as NVM objects") {
  Store s;
  const auto& pki = test::pki();
  REQUIRE(put_server_chain(s.store, bytes_of(pki.server)).ok());
  REQUIRE(put_server_key(s.store, bytes_of(pki.server_key)).ok());
  REQUIRE(put_issuer_ca(s.store, bytes_of(pki.ca)).ok());
  auto chain = s.store.find(kServerChainId);
  REQUIRE(chain.ok());
  CHECK(chain->size == pki.server.size());
  std::vector<u8> back(pki.server.size());
  REQUIRE(s.store.read(kServerChainId, 0, MutableBytes(back.data(), back.size())).ok());
  CHECK(back == pki.server);
  // Replacing an object keeps one copy.
  std::vector<u8> two = pki.server;
  two.insert(two.end(), pki.ca.begin(), pki.ca.end());
  REQUIRE(put_server_chain(s.store, bytes_of(two)).ok());
  CHECK(s.store.find(kServerChainId)->size == two.size());
  CHECK_FALSE(s.nvm.in_transaction());
}

TEST_CASE("credentials refuse what is not DER") {
  Store s;
  const u8 junk[] = {0x30, 0x82, 0x01};  // SEQUENCE with a truncated length
  CHECK(put_server_chain(s.store, Bytes(junk, sizeof junk)).error() == CredentialError::kMalformed);
  CHECK(put_issuer_ca(s.store, bytes_of("hello")).error() == CredentialError::kMalformed);
  CHECK(put_server_key(s.store, Bytes()).error() == CredentialError::kMalformed);
  CHECK(s.store.find(kServerChainId).error() == card::NvmError::kNotFound);
}

TEST_CASE("der element length follows X.690 definite lengths") {
  struct Row {
    std::vector<u8> der;
    std::size_t length;
    const char* why;
  };
  const Row rows[] = {
      {{0x30, 0x03, 1, 2, 3}, 5, "short form"},
      {{0x30, 0x81, 0x01, 9}, 4, "long form, 1 octet"},
      {{0x30, 0x82, 0x00, 0x02, 1, 2, 0xff}, 6, "long form, 2 octets, trailing byte ignored"},
      {{0x30, 0x80, 0, 0}, 0, "indefinite length (not DER)"},
      {{0x30, 0x05, 1}, 0, "truncated contents"},
      {{0x30}, 0, "no length"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.why);
    CHECK(der_element_length(Bytes(row.der.data(), row.der.size())) == row.length);
  }
}

TEST_CASE("credentials find a PSK by identity and miss unknown identities") {
  Store s;
  const u8 k1[16] = {1, 2, 3};
  const u8 k2[32] = {9, 9, 9, 9};
  u8 out[kMaxPskKey];
  CHECK(find_psk(s.store, bytes_of("app"), MutableBytes(out, sizeof out)).error() == CredentialError::kNotFound);
  REQUIRE(put_psk(s.store, bytes_of("app-1"), Bytes(k1, 16)).ok());
  REQUIRE(put_psk(s.store, bytes_of("app-2"), Bytes(k2, 32)).ok());
  auto found = find_psk(s.store, bytes_of("app-2"), MutableBytes(out, sizeof out));
  REQUIRE(found.ok());
  CHECK(*found == 32);
  CHECK(std::vector<u8>(out, out + 32) == std::vector<u8>(k2, k2 + 32));
  auto found1 = find_psk(s.store, bytes_of("app-1"), MutableBytes(out, sizeof out));
  REQUIRE(found1.ok());
  CHECK(*found1 == 16);
  CHECK(out[0] == 1);
  for (const char* miss : {"app", "app-", "app-10", "APP-1", "x"}) {
    CAPTURE(miss);
    CHECK(find_psk(s.store, bytes_of(miss), MutableBytes(out, sizeof out)).error() == CredentialError::kNotFound);
    for (u8 b : out) CHECK(b == 0);  // nothing of another key is left behind
  }
  // Replacing a key keeps one entry.
  REQUIRE(put_psk(s.store, bytes_of("app-1"), Bytes(k2, 8)).ok());
  auto replaced = find_psk(s.store, bytes_of("app-1"), MutableBytes(out, sizeof out));
  REQUIRE(replaced.ok());
  CHECK(*replaced == 8);
}

TEST_CASE("credentials bound the PSK table") {
  Store s;
  const u8 key[16] = {};
  for (std::size_t i = 0; i < kMaxPskEntries; ++i) {
    const std::string id = "id-" + std::to_string(i);
    REQUIRE(put_psk(s.store, bytes_of(id.c_str()), Bytes(key, 16)).ok());
  }
  CHECK(put_psk(s.store, bytes_of("one-more"), Bytes(key, 16)).error() == CredentialError::kTooLarge);
  const std::string long_id(kMaxPskIdentity + 1, 'x');
  CHECK(put_psk(s.store, bytes_of(long_id.c_str()), Bytes(key, 16)).error() == CredentialError::kTooLarge);
  const u8 long_key[kMaxPskKey + 1] = {};
  CHECK(put_psk(s.store, bytes_of("k"), Bytes(long_key, sizeof long_key)).error() == CredentialError::kTooLarge);
}

TEST_CASE("credentials refuse a malformed PSK table as malformed and leave no key behind") {
  // The table's framing (tls/credentials.hpp): u8 count, then [u8 id_len][id][u8 key_len][key].
  struct Case {
    std::string name;
    std::vector<u8> table;
  };
  const std::vector<Case> cases = {
      {"count above the bound", {17}},
      {"entry cut in its identity", {1, 5, 'a', 'p'}},
      {"entry cut in its key", {1, 1, 'a', 16, 1, 2}},
      {"empty identity", {1, 0, 1, 7}},
      {"empty key", {1, 1, 'a', 0}},
      {"key longer than 32", {1, 1, 'a', 33}},
      {"bytes after the last entry", {1, 1, 'a', 1, 7, 0xEE}},
      {"fewer entries than counted", {2, 1, 'a', 1, 7}},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    Store s;
    REQUIRE(s.nvm.begin().ok());
    REQUIRE(s.store.create(kPskTableId, static_cast<u32>(c.table.size())).ok());
    REQUIRE(s.store.write(kPskTableId, 0, Bytes(c.table.data(), c.table.size())).ok());
    REQUIRE(s.nvm.commit().ok());
    u8 out[kMaxPskKey];
    std::fill(std::begin(out), std::end(out), u8{0x5A});
    CHECK(find_psk(s.store, bytes_of("a"), MutableBytes(out, sizeof out)).error() == CredentialError::kMalformed);
    for (u8 b : out) CHECK(b == 0);
  }
}
