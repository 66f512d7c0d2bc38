// `scws admin serve`'s network side (docs/protocol.md 16.7): TLS 1.2 PSK over TCP (OpenSSL libssl
// on an Asio io_context), HTTP/1.1 keep-alive, one AdminSessions for the requests. Identities are
// looked up in the Store at every handshake (never cached): a card enrolled by another process is
// known at once. An unknown identity fails the handshake with unknown_psk_identity; the log and
// the auth_failures table name the identity and the peer.
//
// Link key rotation: while a rotated key is pending (ROTATE PSK sent, not confirmed), a handshake
// that fails after the identity was found switches the key the next handshake tries (the card holds
// one or the other); the confirmation makes the pending key the key.
//
// Threads: everything runs on the io_context's thread(s) given; the Store is used from there only.
// Embedding (scws run, benches): construct, start(), run the io_context, stop() from its thread
// (or post it).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <asio.hpp>

#include "sim/admin/admin_session.hpp"
#include "sim/admin/store.hpp"

namespace scws::sim::admin {

struct AdminServerOptions {
  std::string address = "127.0.0.1";
  std::uint16_t port = 7443;  // 0: an ephemeral port (port() tells which)
  std::string uri = "/scws/admin";
  LogFunction log;            // one line per event; none: silent
  std::chrono::seconds idle_timeout{30};      // a connection silent this long is closed
  std::chrono::seconds handshake_timeout{10};
  std::size_t max_connections = 64;
  // Every request and answer as it travels inside TLS (the head as text, the body in hex), one
  // log call each: what docs/protocol.md 16.10 shows. Off when unset.
  LogFunction dump;
};

// The dump format of AdminServerOptions::dump: "<direction>\n" + the head's lines + the body's bytes,
// 16 per line in hex.
std::string dump_http(const std::string& direction, std::string_view message);

struct AdminServerStats {
  std::uint64_t sessions = 0;
  std::uint64_t incidents_stored = 0;
  std::uint64_t requests = 0;
  std::uint64_t connections = 0;
  std::uint64_t refused_handshakes = 0;
};

class AdminServer {
 public:
  // TLS suites offered, in the card's order (docs/protocol.md 16.1).
  static constexpr const char* kCiphers = "PSK-AES128-CBC-SHA256:PSK-AES128-CCM:PSK-AES128-GCM-SHA256";

  AdminServer(asio::io_context& io, Store& store, AdminServerOptions options);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds and listens; throws std::runtime_error (address in use, bad address, TLS setup).
  void start();
  // Closes the listener and every connection.
  void stop();
  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  [[nodiscard]] AdminServerStats stats() const noexcept;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  std::uint16_t port_ = 0;
};

}  // namespace scws::sim::admin
