// What sits on top of a BIP channel in UICC server mode (TS 102 223 annex M): a byte stream
// consumer such as the HTTP server, or TLS with HTTP above it. The toolkit owns the channels and
// drives the endpoint; the endpoint never knows about APDUs, and HTTP never knows whether TLS is
// under it (docs/architecture.md, "Card-side rules": layers are non-blocking byte transformers).
//
// One endpoint serves every channel opened for one port; `connection` (0..kMaxConnections-1) names
// the client connection so the endpoint keeps per-connection state. Per-connection memory comes from
// the card RAM arena in open() and goes back in close(), so RAM returns to idle after each client.
#pragma once

#include <cstddef>

#include "base/bytes.hpp"

namespace scws::card {

class StreamEndpoint {
 public:
  static constexpr std::size_t kMaxConnections = 7;  // TS 102 223: channel identifiers 1..7

  virtual ~StreamEndpoint() = default;
  // A client connected (channel ESTABLISHED). false = refuse (no RAM): the toolkit drops the client.
  virtual bool open(std::size_t connection) noexcept = 0;
  // Bytes from the client, in order. Returns how many were consumed (0..data.size()); the toolkit
  // keeps the rest and offers it again after the endpoint has produced output.
  virtual std::size_t receive(std::size_t connection, Bytes data) noexcept = 0;
  // Bytes for the client: writes at most out.size() bytes into out and returns how many.
  // 0 means nothing to send now.
  virtual std::size_t send(std::size_t connection, MutableBytes out) noexcept = 0;
  // True once the endpoint wants the connection closed after everything produced has been sent
  // (Connection: close, a fatal error, a TLS alert).
  [[nodiscard]] virtual bool wants_close(std::size_t connection) const noexcept = 0;
  // The client left, or the card closed the channel: release the connection's state.
  virtual void close(std::size_t connection) noexcept = 0;
};

}  // namespace scws::card
