// Test helper: the byte-stream layer on the card for the handset tests, so they do not depend on the
// SCWS applet. Canned mode answers each request head (up to the empty line) with `response`, then
// wants the connection closed; echo mode sends back every byte it receives, through a small ring.
#pragma once

#include <algorithm>
#include <array>
#include <cstring>
#include <string>

#include "card/cat/stream_endpoint.hpp"

namespace scws::sim::test {

class TestEndpoint final : public card::StreamEndpoint {
 public:
  static constexpr std::size_t kRing = 512;
  struct Conn {
    bool open = false;
    u32 head_match = 0;  // how much of "\r\n\r\n" was just seen
    bool responding = false;
    std::size_t sent = 0;
    std::array<u8, kRing> ring{};
    std::size_t ring_head = 0;
    std::size_t ring_size = 0;
  };

  bool open(std::size_t c) noexcept override {
    conns[c] = Conn{};
    conns[c].open = true;
    ++opened;
    return true;
  }
  std::size_t receive(std::size_t c, Bytes data) noexcept override {
    Conn& k = conns[c];
    if (echo) {
      const std::size_t n = std::min(data.size(), kRing - k.ring_size);
      for (std::size_t i = 0; i < n; ++i) k.ring[(k.ring_head + k.ring_size + i) % kRing] = data[i];
      k.ring_size += n;
      return n;
    }
    if (k.responding) return 0;  // one request per connection: hold the rest
    static constexpr char kEnd[] = "\r\n\r\n";
    for (std::size_t i = 0; i < data.size(); ++i) {
      k.head_match = data[i] == static_cast<u8>(kEnd[k.head_match]) ? k.head_match + 1 : (data[i] == '\r' ? 1 : 0);
      if (k.head_match == 4) {
        k.responding = true;
        return i + 1;
      }
    }
    return data.size();
  }
  std::size_t send(std::size_t c, MutableBytes out) noexcept override {
    Conn& k = conns[c];
    if (echo) {
      const std::size_t n = std::min(out.size(), k.ring_size);
      for (std::size_t i = 0; i < n; ++i) out[i] = k.ring[(k.ring_head + i) % kRing];
      k.ring_head = (k.ring_head + n) % kRing;
      k.ring_size -= n;
      return n;
    }
    if (!k.responding) return 0;
    const std::size_t n = std::min(out.size(), response.size() - k.sent);
    std::memcpy(out.data(), response.data() + k.sent, n);
    k.sent += n;
    return n;
  }
  [[nodiscard]] bool wants_close(std::size_t c) const noexcept override {
    return !echo && conns[c].responding && conns[c].sent == response.size();
  }
  void close(std::size_t c) noexcept override {
    conns[c].open = false;
    ++closed;
  }

  Bytes response;
  bool echo = false;
  std::array<Conn, kMaxConnections> conns{};
  int opened = 0;
  int closed = 0;
};

// An HTTP/1.1 response of body_size bytes, "Connection: close".
inline std::string http_response(std::size_t body_size) {
  std::string body(body_size, '\0');
  for (std::size_t i = 0; i < body_size; ++i) body[i] = static_cast<char>('A' + (i * 31 + i / 97) % 26);
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body_size) + "\r\nConnection: close\r\n\r\n" + body;
}

inline const std::string kGet = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

inline Bytes as_bytes(const std::string& s) { return Bytes(reinterpret_cast<const u8*>(s.data()), s.size()); }

}  // namespace scws::sim::test
