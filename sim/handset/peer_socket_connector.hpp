// What the TCP server and client connectors share: one connected socket per channel (a Peer) and
// its plumbing (TS 102 223 6.4.27, docs/protocol.md section 7.10).
//
//   - A peer's bytes are read only as far as the channel's Rx buffer has room (ChannelEvents::
//     rx_room); bytes for it are written eagerly, the rest when the socket takes them.
//   - release(graceful) -> detach(): what was sent is flushed, the socket shuts down its side and
//     waits (bounded by `linger`) for the peer's EOF, so unread bytes never turn the close into a
//     reset. A detached peer raises no more events.
//   - A derived connector owns its peers and says which one a channel has now (current()).
//
// Everything runs on the io_context's thread; events reach the terminal from Asio completions only.
#pragma once

#include <array>
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <system_error>
#include <vector>

#include <asio.hpp>

#include "sim/handset/connector.hpp"

namespace scws::sim {

class PeerSocketConnector : public Connector {
 public:
  void bind(ChannelEvents& events) override { events_ = &events; }
  void send(u8 channel, Bytes data) override;
  [[nodiscard]] std::size_t unsent(u8 channel) const override;
  void resume(u8 channel) override;

 protected:
  static constexpr std::size_t kReadChunk = 4096;

  // A channel's connection. Shared with pending socket operations, so their buffers stay alive
  // after the channel let it go (a released peer drains in the background).
  struct Peer {
    Peer(asio::ip::tcp::socket s, u8 ch) : socket(std::move(s)), timer(socket.get_executor()), channel(ch) {}
    asio::ip::tcp::socket socket;
    asio::steady_timer timer;  // the linger of a graceful release (and before it, a connect timeout)
    u8 channel;
    std::string destination;   // the remote end, for events and log lines
    std::array<u8, kReadChunk> read_buf{};
    std::vector<u8> out;       // sent by the card, not yet written
    bool connected = false;    // nothing is read or written before
    bool reading = false;
    bool writing = false;
    bool peer_eof = false;
    bool detached = false;     // released: no more events; flush `out`, shut down, wait for EOF, close
  };

  // `eof_reason`: the peer_closed() text when the peer closes its side.
  PeerSocketConnector(asio::io_context& io, std::chrono::milliseconds linger, std::string eof_reason)
      : io_(io), linger_(linger), eof_reason_(std::move(eof_reason)) {}

  // The channel's peer now; nullptr: none.
  [[nodiscard]] virtual std::shared_ptr<Peer> current(u8 channel) const = 0;

  static void close_now(Peer& peer);
  void start_read(const std::shared_ptr<Peer>& p);
  void flush(const std::shared_ptr<Peer>& p);
  // Let the peer go: at once, or (graceful) after flushing and lingering for its EOF.
  void detach(const std::shared_ptr<Peer>& p, bool graceful);
  // Closes every peer still draining (reset, destruction).
  void close_draining();

  asio::io_context& io_;
  ChannelEvents* events_ = nullptr;
  // Completions check it: a connector being destroyed or reset does not call back.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);

 private:
  void on_read(const std::shared_ptr<Peer>& p, const std::error_code& ec, std::size_t n);
  void write_failed(const std::shared_ptr<Peer>& p, const std::error_code& ec);
  void shutdown_and_linger(const std::shared_ptr<Peer>& p);
  void finish_drain(const std::shared_ptr<Peer>& p);

  std::chrono::milliseconds linger_;
  std::string eof_reason_;
  std::set<std::shared_ptr<Peer>> draining_;  // released gracefully, not yet closed
};

}  // namespace scws::sim
