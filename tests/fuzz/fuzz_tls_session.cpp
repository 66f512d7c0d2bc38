// Fuzz target: what happens after a TLS handshake completes. A card TLS server session (PSK) and a
// bare mbedTLS client (the card build, its own RAM) finish a real handshake; then the input drives
// both ends, one operation per byte pair, so that well-formed encrypted records of any length
// (empty ones included), alerts, close_notify, tampered or injected bytes, and an inner endpoint that
// is busy, slow, answers or wants to close all meet the session's open state (the plaintext read in
// place from mbedTLS's input buffer, backpressure, closing).
//
// Input: pairs (op, arg):
//   0 the client writes arg plaintext bytes (0: an empty record)   1 the client sends close_notify
//   2 the client sends an alert (level 1 or 2, description arg)   3 arg raw bytes onto the wire
//   4 the inner endpoint takes at most arg bytes per call (0: busy)
//   5 the inner endpoint queues arg bytes of answer               6 it wants the connection closed
//   7 flips bit (arg & 7) of a byte of the ciphertext in flight to the card
// Checked: no crash or sanitizer report; the inner endpoint receives exactly a prefix of what the
// client wrote, in order; the TLS region's invariants hold, and it is back at the context's idle
// level once the session is gone (aborts otherwise).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <string>
#include <vector>

#include "card/os/nvm.hpp"
#include "card/os/nvm_device.hpp"
#include "card/cat/stream_endpoint.hpp"
#include "card/os/tracer.hpp"
#include "tls/card_rng.hpp"
#include "tls/credentials.hpp"
#include "tls/tls_allocator.hpp"
#include "tls/tls_context.hpp"
#include "tls/tls_session.hpp"

using namespace scws;
using namespace scws::tls;

namespace {

constexpr u8 kPsk[16] = {0x1f, 0x2e, 0x3d, 0x4c, 0x5b, 0x6a, 0x79, 0x88, 0x97, 0xa6, 0xb5, 0xc4, 0xd3, 0xe2, 0xf1, 0x00};
constexpr u8 kIdentity[] = {'f', 'u', 'z', 'z'};

void check(bool ok) {
  if (!ok) std::abort();
}

int entropy(void* ctx, unsigned char* out, std::size_t len) {
  auto* s = static_cast<std::uint64_t*>(ctx);
  for (std::size_t i = 0; i < len; ++i) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    out[i] = static_cast<unsigned char>(*s >> 56);
  }
  return 0;
}

// The plaintext side of the card: behaviour set by the input.
struct Inner final : card::StreamEndpoint {
  std::string received, answer;
  std::size_t accept_at_most = static_cast<std::size_t>(-1);
  bool closing = false;
  bool open(std::size_t) noexcept override { return true; }
  std::size_t receive(std::size_t, Bytes d) noexcept override {
    const std::size_t n = std::min(d.size(), accept_at_most);
    received.append(reinterpret_cast<const char*>(d.data()), n);
    return n;
  }
  std::size_t send(std::size_t, MutableBytes out) noexcept override {
    const std::size_t n = std::min(out.size(), answer.size());
    std::copy_n(answer.begin(), n, out.begin());
    answer.erase(0, n);
    return n;
  }
  bool wants_close(std::size_t) const noexcept override { return closing && answer.empty(); }
  void close(std::size_t) noexcept override {}
};

struct World {
  std::vector<u8> nvm_bytes = std::vector<u8>(64 * 1024);
  card::RamNvmDevice device{MutableBytes(nvm_bytes.data(), nvm_bytes.size())};
  card::Nvm nvm{device};
  card::ObjectStore store{nvm};
  std::vector<std::uint64_t> server_region = std::vector<std::uint64_t>(16 * 1024 / 8);
  TlsAllocator server_allocator{MutableBytes(reinterpret_cast<u8*>(server_region.data()), server_region.size() * 8)};
  std::vector<std::uint64_t> client_region = std::vector<std::uint64_t>(32 * 1024 / 8);
  TlsAllocator client_allocator{MutableBytes(reinterpret_cast<u8*>(client_region.data()), client_region.size() * 8)};
  std::uint64_t server_seed = 1, client_seed = 2;
  CardRng server_rng, client_rng;
  TlsContext server{server_allocator};
  TlsContext client{client_allocator};
  card::Tracer trace;

  World() {
    check(nvm.format(8192).ok() && nvm.begin().ok() && store.format().ok() && nvm.commit().ok());
    check(put_psk(store, Bytes(kIdentity, sizeof kIdentity), Bytes(kPsk, sizeof kPsk)).ok());
    check(server_rng.seed(entropy, &server_seed, {}).ok() && client_rng.seed(entropy, &client_seed, {}).ok());
    check(server.init_server(store, TlsMode::kPsk, server_rng).ok());
    ClientCredentials c;
    c.psk_identity = Bytes(kIdentity, sizeof kIdentity);
    c.psk_key = Bytes(kPsk, sizeof kPsk);
    c.psk_only = true;
    check(client.init_client(c, client_rng).ok());
  }
};

struct Client {
  World& w;
  mbedtls_ssl_context ssl;
  std::deque<u8> to_card, to_client;
  std::string written;  // plaintext the client wrote, in order
  bool broken = false;  // the client hit an error: it writes nothing more

  explicit Client(World& world) : w(world) {
    TlsAllocator::Scope scope(w.client_allocator);
    mbedtls_ssl_init(&ssl);
    check(mbedtls_ssl_setup(&ssl, &w.client.config()) == 0);
    mbedtls_ssl_set_bio(&ssl, this, send_cb, recv_cb, nullptr);
  }
  ~Client() {
    TlsAllocator::Scope scope(w.client_allocator);
    mbedtls_ssl_free(&ssl);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  static int send_cb(void* p, const unsigned char* buf, std::size_t len) {
    auto* self = static_cast<Client*>(p);
    self->to_card.insert(self->to_card.end(), buf, buf + len);
    return static_cast<int>(len);
  }
  static int recv_cb(void* p, unsigned char* buf, std::size_t len) {
    auto* self = static_cast<Client*>(p);
    if (self->to_client.empty()) return MBEDTLS_ERR_SSL_WANT_READ;
    const std::size_t n = std::min(len, self->to_client.size());
    std::copy_n(self->to_client.begin(), n, buf);
    self->to_client.erase(self->to_client.begin(), self->to_client.begin() + static_cast<std::ptrdiff_t>(n));
    return static_cast<int>(n);
  }

  // The client's own progress: handshake, then reading whatever the card sent.
  void step() {
    TlsAllocator::Scope scope(w.client_allocator);
    if (broken) return;
    if (ssl.state != MBEDTLS_SSL_HANDSHAKE_OVER) {
      const int r = mbedtls_ssl_handshake(&ssl);
      if (r != 0 && r != MBEDTLS_ERR_SSL_WANT_READ && r != MBEDTLS_ERR_SSL_WANT_WRITE) broken = true;
      return;
    }
    unsigned char buf[512];
    for (;;) {
      const int r = mbedtls_ssl_read(&ssl, buf, sizeof buf);
      if (r > 0) continue;
      if (r != MBEDTLS_ERR_SSL_WANT_READ && r != MBEDTLS_ERR_SSL_WANT_WRITE) broken = true;
      return;
    }
  }
  void write(std::size_t n, u8 fill) {
    TlsAllocator::Scope scope(w.client_allocator);
    if (broken || ssl.state != MBEDTLS_SSL_HANDSHAKE_OVER) return;
    std::string data(n, static_cast<char>(fill));
    for (std::size_t i = 0; i < n; ++i) data[i] = static_cast<char>(fill + i);
    const int r = mbedtls_ssl_write(&ssl, reinterpret_cast<const unsigned char*>(data.data()), data.size());
    if (r >= 0) {
      written.append(data, 0, static_cast<std::size_t>(r));
    } else {
      broken = true;
    }
  }
};

// Moves ciphertext both ways in RECEIVE DATA / SEND DATA sized pieces until nothing moves.
void exchange(Client& c, TlsSession& s) {
  for (int round = 0; round < 64; ++round) {
    bool moved = false;
    c.step();
    while (!c.to_card.empty()) {
      const std::size_t n = std::min<std::size_t>(237, c.to_card.size());
      std::vector<u8> piece(c.to_card.begin(), c.to_card.begin() + static_cast<std::ptrdiff_t>(n));
      const std::size_t took = s.receive(Bytes(piece.data(), n));
      c.to_card.erase(c.to_card.begin(), c.to_card.begin() + static_cast<std::ptrdiff_t>(took));
      moved |= took > 0;
      if (took < n) break;
    }
    u8 out[240];
    for (std::size_t n; (n = s.send(MutableBytes(out, sizeof out))) > 0; moved = true) c.to_client.insert(c.to_client.end(), out, out + n);
    if (!moved) return;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static World world;
  if (size > 4096) return 0;
  const std::size_t idle = world.server_allocator.in_use();
  {
    Inner inner;
    TlsSession session(world.server, inner, 0, world.trace);
    check(session.start());
    Client client(world);
    exchange(client, session);
    check(session.state() == TlsSession::State::kOpen);  // a PSK handshake between card builds completes
    for (std::size_t i = 0; i + 1 < size; i += 2) {
      const u8 op = data[i] & 7;
      const u8 arg = data[i + 1];
      switch (op) {
        case 0: client.write(static_cast<std::size_t>(arg) * 9, static_cast<u8>(i)); break;
        case 1: {
          TlsAllocator::Scope scope(world.client_allocator);
          (void)mbedtls_ssl_close_notify(&client.ssl);
          break;
        }
        case 2: {
          TlsAllocator::Scope scope(world.client_allocator);
          (void)mbedtls_ssl_send_alert_message(&client.ssl, (arg & 1) != 0 ? 2 : 1, arg);
          break;
        }
        case 3: {
          const std::size_t n = std::min<std::size_t>(arg % 32, size - i - 2);
          client.to_card.insert(client.to_card.end(), data + i + 2, data + i + 2 + n);
          i += n;
          break;
        }
        case 4: inner.accept_at_most = arg; break;
        case 5: inner.answer.append(static_cast<std::size_t>(arg) * 5, 'a'); break;
        case 6: inner.closing = true; break;
        default:
          if (!client.to_card.empty()) client.to_card[arg % client.to_card.size()] ^= static_cast<u8>(1U << (arg & 7));
          break;
      }
      exchange(client, session);
      // Integrity: the card's inner endpoint never sees a byte the client did not write, in order.
      check(inner.received.size() <= client.written.size());
      check(client.written.compare(0, inner.received.size(), inner.received) == 0);
      check(world.server_allocator.check_invariants());
      if (session.wants_close()) break;
    }
  }
  check(world.server_allocator.in_use() == idle);  // RAM back to idle after every session
  return 0;
}
