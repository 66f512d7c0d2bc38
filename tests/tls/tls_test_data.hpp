// The TLS tests' credentials (tests/tls/data, made by gen.sh) and the in-memory TLS rig
// (sim/testing/tls_rig.hpp) bound to them: a card that holds them on the tests' date, clients that
// present them, both with reproducible seeds.
#pragma once

#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "sim/testing/tls_rig.hpp"
#include "tls/card_clock.hpp"

namespace scws::tls::test {

using sim::tls_rig::App;
using sim::tls_rig::bytes_of;
using sim::tls_rig::LogSink;
using sim::tls_rig::Pipe;
using sim::tls_rig::PipeEnd;

inline std::vector<u8> data_file(const std::string& name) {
  std::ifstream in(std::string(SCWS_TLS_TEST_DATA) + "/" + name, std::ios::binary);
  return std::vector<u8>(std::istreambuf_iterator<char>(in), {});
}

struct Pki {
  std::vector<u8> ca = data_file("ca.der"), server = data_file("server.der"), server_key = data_file("server.key.der"),
                  client = data_file("client.der"), client_key = data_file("client.key.der"),
                  expired = data_file("expired.der"), expired_key = data_file("expired.key.der"),
                  other_client = data_file("other_client.der"), other_client_key = data_file("other_client.key.der");
};
inline const Pki& pki() {
  static const Pki p;
  return p;
}
inline const char* kPskIdentity = "handset-app-7";
inline const u8 kPskKey[16] = {0x1f, 0x2e, 0x3d, 0x4c, 0x5b, 0x6a, 0x79, 0x88, 0x97, 0xa6, 0xb5, 0xc4, 0xd3, 0xe2, 0xf1, 0x00};

// The card's part: the server certificate and key, the CA of the clients, two PSK identities.
inline const sim::tls_rig::CardCredentials& card_credentials() {
  static const sim::tls_rig::CardCredentials c{pki().ca, pki().server, pki().server_key,
                                               {{"another-app", std::vector<u8>(kPskKey, kPskKey + 16)},
                                                {kPskIdentity, std::vector<u8>(kPskKey, kPskKey + 16)}}};
  return c;
}

// The tests' date: the test certificates are valid then, the expired one is not (tests/tls/data/gen.sh).
inline void set_test_date() { CardClock::set(CardClock::from_date(2025, 6, 1)); }
struct TestDate {  // a base that sets the date before the card's context loads the certificates
  TestDate() { set_test_date(); }
};

// The card: the test credentials, a TLS region of region_size bytes, a server context in mode.
struct Card : private TestDate, sim::tls_rig::Card {
  explicit Card(std::size_t region_size, TlsMode mode = TlsMode::kBoth)
      : sim::tls_rig::Card(card_credentials(), region_size, mode, {0x5eed5eed12345678ULL, "card"}) {}
};

// A client of the card build (a 64 KiB region of its own).
struct Client : sim::tls_rig::Client {
  explicit Client(const ClientCredentials& c) : sim::tls_rig::Client(c, {0xc11e47ULL, "client"}) {}
  static ClientCredentials with_cert(const std::vector<u8>& cert, const std::vector<u8>& key) {
    return sim::tls_rig::certificate_client(bytes_of(pki().ca), bytes_of(cert), bytes_of(key));
  }
  static ClientCredentials with_psk(const char* identity, int suite = 0) {
    return sim::tls_rig::psk_client(bytes_of(identity), Bytes(kPskKey, 16), suite);
  }
};

}  // namespace scws::tls::test
