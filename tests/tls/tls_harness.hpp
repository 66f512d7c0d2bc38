// In-memory TLS for tests: a card (NVM with credentials, TLS region, server context) and clients
// built from the same card mbedTLS, joined by a pipe that moves ciphertext in chosen piece sizes.
#pragma once

#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "card/os/nvm.hpp"
#include "card/os/nvm_device.hpp"
#include "card/cat/stream_endpoint.hpp"
#include "card/os/tracer.hpp"
#include "tls/card_clock.hpp"
#include "tls/card_rng.hpp"
#include "tls/credentials.hpp"
#include "tls/tls_allocator.hpp"
#include "tls/tls_context.hpp"
#include "tls/tls_session.hpp"

namespace scws::tls::test {

inline std::vector<u8> data_file(const std::string& name) {
  std::ifstream in(std::string(SCWS_TLS_TEST_DATA) + "/" + name, std::ios::binary);
  return std::vector<u8>(std::istreambuf_iterator<char>(in), {});
}
inline Bytes bytes_of(const std::vector<u8>& v) { return Bytes(v.data(), v.size()); }
inline Bytes bytes_of(const char* s) { return Bytes(reinterpret_cast<const u8*>(s), std::strlen(s)); }

// Deterministic "TRNG" for tests (xorshift; the DRBG is what matters to the card code).
inline int test_entropy(void* ctx, unsigned char* out, std::size_t len) {
  auto* state = static_cast<u64*>(ctx);
  for (std::size_t i = 0; i < len; ++i) {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    out[i] = static_cast<unsigned char>(*state);
  }
  return 0;
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

// Records trace lines (and prints them when SCWS_TLS_TRACE is set).
struct LogSink : card::TraceSink {
  std::vector<std::string> lines;
  void line(const char* text) noexcept override {
    lines.emplace_back(text);
    if (std::getenv("SCWS_TLS_TRACE") != nullptr) std::fprintf(stderr, "%s\n", text);
  }
};

// The card: NVM with the test credentials, a TLS region of region_size bytes, a server context.
struct Card {
  std::vector<u8> nvm_bytes = std::vector<u8>(256 * 1024);
  card::RamNvmDevice device{MutableBytes(nvm_bytes.data(), nvm_bytes.size())};
  card::Nvm nvm{device};
  card::ObjectStore store{nvm};
  std::vector<u64> region;  // u64: 8-byte aligned
  std::unique_ptr<TlsAllocator> allocator;
  u64 entropy_state = 0x5eed5eed12345678ULL;
  CardRng rng;
  std::unique_ptr<TlsContext> ctx;
  LogSink sink;
  card::Tracer trace;
  Status<TlsError> init_status{};

  explicit Card(std::size_t region_size, TlsMode mode = TlsMode::kBoth) {
    trace.set_sink(&sink);
    CardClock::set(CardClock::from_date(2025, 6, 1));
    (void)nvm.format(16 * 1024);
    (void)nvm.begin();
    (void)store.format();
    (void)nvm.commit();
    (void)put_server_chain(store, bytes_of(pki().server));
    (void)put_server_key(store, bytes_of(pki().server_key));
    (void)put_issuer_ca(store, bytes_of(pki().ca));
    (void)put_psk(store, bytes_of("another-app"), Bytes(kPskKey, 16));
    (void)put_psk(store, bytes_of(kPskIdentity), Bytes(kPskKey, 16));
    region.resize((region_size + 7) / 8);
    allocator = std::make_unique<TlsAllocator>(MutableBytes(reinterpret_cast<u8*>(region.data()), region_size));
    (void)rng.seed(test_entropy, &entropy_state, bytes_of("card"));
    ctx = std::make_unique<TlsContext>(*allocator);
    auto s = ctx->init_server(store, mode, rng);
    init_status = s;
  }
};

// A client: its own region (large), its own context.
struct Client {
  std::vector<u64> region = std::vector<u64>(64 * 1024 / 8);
  TlsAllocator allocator{MutableBytes(reinterpret_cast<u8*>(region.data()), region.size() * 8)};
  u64 entropy_state = 0xc11e47ULL;
  CardRng rng;
  TlsContext ctx{allocator};
  bool ok = false;

  explicit Client(const ClientCredentials& c) {
    (void)rng.seed(test_entropy, &entropy_state, bytes_of("client"));
    ok = ctx.init_client(c, rng).ok();
  }
  static ClientCredentials with_cert(const std::vector<u8>& cert, const std::vector<u8>& key) {
    ClientCredentials c;
    c.ca_der = bytes_of(pki().ca);
    c.cert_chain_der = bytes_of(cert);
    c.key_der = bytes_of(key);
    return c;
  }
  static ClientCredentials with_psk(const char* identity, int suite = 0) {
    ClientCredentials c;
    c.psk_identity = bytes_of(identity);
    c.psk_key = Bytes(kPskKey, 16);
    c.psk_only = true;
    c.only_suite = suite;
    return c;
  }
};

// The plaintext side: echoes (server) or sends a request and collects the answer (client).
struct App : card::StreamEndpoint {
  bool echo = false;
  std::string to_send;
  std::string received;
  bool opened = false, closed = false, close_after_answer = false;
  std::size_t accept_at_most = static_cast<std::size_t>(-1);
  bool open(std::size_t) noexcept override {
    opened = true;
    return true;
  }
  std::size_t receive(std::size_t, Bytes data) noexcept override {
    std::size_t n = data.size() < accept_at_most ? data.size() : accept_at_most;
    received.append(reinterpret_cast<const char*>(data.data()), n);
    if (echo) to_send.append(reinterpret_cast<const char*>(data.data()), n);
    return n;
  }
  std::size_t send(std::size_t, MutableBytes out) noexcept override {
    const std::size_t n = to_send.size() < out.size() ? to_send.size() : out.size();
    std::memcpy(out.data(), to_send.data(), n);
    to_send.erase(0, n);
    return n;
  }
  bool wants_close(std::size_t) const noexcept override { return close_after_answer && to_send.empty() && !received.empty(); }
  void close(std::size_t) noexcept override { closed = true; }
};

// Moves ciphertext both ways until nothing moves: the toolkit's pulls are at most 240 bytes, and
// deliveries are cut into pieces of piece(i) bytes (RECEIVE DATA gives at most 237).
struct Pipe {
  std::function<std::size_t(std::size_t)> piece = [](std::size_t) { return std::size_t{237}; };
  std::deque<u8> to_server, to_client;
  std::size_t pieces = 0;
  std::size_t bytes_to_server = 0, bytes_to_client = 0;

  static bool pull(TlsSession& from, std::deque<u8>& q, std::size_t& count) {
    bool moved = false;
    u8 buf[240];
    for (std::size_t n; (n = from.send(MutableBytes(buf, sizeof buf))) > 0;) {
      q.insert(q.end(), buf, buf + n);
      count += n;
      moved = true;
    }
    return moved;
  }
  bool push(TlsSession& to, std::deque<u8>& q) {
    bool moved = false;
    while (!q.empty()) {
      std::size_t n = piece(pieces);
      if (n == 0) n = 1;
      if (n > q.size()) n = q.size();
      std::vector<u8> chunk(q.begin(), q.begin() + static_cast<std::ptrdiff_t>(n));
      const std::size_t took = to.receive(Bytes(chunk.data(), n));
      ++pieces;
      q.erase(q.begin(), q.begin() + static_cast<std::ptrdiff_t>(took));
      if (took == 0) break;
      moved = true;
      if (took < n) break;
    }
    return moved;
  }
  void run(TlsSession& client, TlsSession& server, int max_rounds = 100000) {
    for (int i = 0; i < max_rounds; ++i) {
      bool moved = pull(client, to_server, bytes_to_server);
      moved |= push(server, to_server);
      moved |= pull(server, to_client, bytes_to_client);
      moved |= push(client, to_client);
      if (!moved) return;
    }
  }
};

}  // namespace scws::tls::test
