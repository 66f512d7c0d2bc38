// The TCP server connector: BIP channels in UICC server mode (TS 102 223 6.4.27, transport level
// 03) served by listening sockets on the host, with Asio.
//
//   - One listening socket per card port, shared by every channel open on that port; its local port
//     is the card's unless the port map says otherwise (0: an ephemeral port, chosen at the first
//     bind and kept across card sessions).
//   - A client is accepted only while a channel of its port asked for one (accept()); others wait in
//     the kernel's listen backlog. A client is given to the channel that asked first.
//   - A client's bytes are read only as far as the channel's Rx buffer has room (ChannelEvents::
//     rx_room); bytes for it are written eagerly, the rest when the socket takes them.
//   - release(graceful): what was sent is flushed, the socket shuts down its side and waits (bounded
//     by `linger`) for the client's EOF, so unread bytes never turn the close into a reset.
//
// Everything runs on the io_context's thread; events reach the terminal from Asio completions only.
#pragma once

#include <array>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include <asio.hpp>

#include "sim/handset/peer_socket_connector.hpp"

namespace scws::sim {

struct TcpServerOptions {
  std::string listen_address = "127.0.0.1";
  std::map<u16, u16> port_map;  // card port -> local port; ports not listed are used as asked
  std::chrono::milliseconds linger{2000};  // a released client: bounded time to flush and see its EOF
  std::function<void(const std::string&)> log;  // one line per listener opened or closed
  // A listening socket opened for a card port (once per socket, not per channel).
  std::function<void(u16 card_port, const std::string& address, u16 local_port)> on_listen;
  // A listening socket could not be opened: the error and the local port it was for.
  std::function<void(u16 card_port, u16 local_port, const std::error_code& error)> on_listen_failure;
};

class TcpServerConnector final : public PeerSocketConnector {
 public:
  TcpServerConnector(asio::io_context& io, TcpServerOptions options);
  ~TcpServerConnector() override;
  TcpServerConnector(const TcpServerConnector&) = delete;
  TcpServerConnector& operator=(const TcpServerConnector&) = delete;

  [[nodiscard]] bool serves(const apdu::cat::OpenChannelParams& p) const override { return p.server_mode(); }
  OpenOutcome open(u8 channel, const apdu::cat::OpenChannelParams& p) override;
  void accept(u8 channel) override;
  void release(u8 channel, bool graceful) override;
  void close(u8 channel) override;
  void reset() override;

  // Where the listening socket for a card port is bound now.
  [[nodiscard]] std::optional<u16> local_port(u16 card_port) const;
  // Whether an accept is outstanding on the card port's socket (a channel is waiting for a client).
  [[nodiscard]] bool accepting(u16 card_port) const;

 private:
  struct Listener;
  struct Slot {
    std::shared_ptr<Listener> listener;
    std::shared_ptr<Peer> peer;
    u64 wants_peer = 0;  // 0: no; else the order in which channels asked (first asked, first served)
  };

  [[nodiscard]] u16 local_port_for(u16 card_port) const;
  std::shared_ptr<Listener> listener_for(u16 card_port, std::error_code& error);
  Slot* slot(u8 channel);
  [[nodiscard]] const Slot* slot(u8 channel) const;
  u8 waiting_channel(const std::shared_ptr<Listener>& l) const;
  void maybe_accept(const std::shared_ptr<Listener>& l);
  void on_accept(const std::shared_ptr<Listener>& l, const std::error_code& ec, asio::ip::tcp::socket s);
  void attach(u8 channel, asio::ip::tcp::socket s);
  [[nodiscard]] std::shared_ptr<Peer> current(u8 channel) const override;
  void close_listener_if_unused(const std::shared_ptr<Listener>& l);
  void log(const std::string& line) const;

  TcpServerOptions options_;
  std::array<Slot, apdu::cat::kMaxChannels> slots_;
  std::map<u16, std::shared_ptr<Listener>> listeners_;  // by card port
  std::map<u16, u16> sticky_ports_;                     // ephemeral ports chosen at a first bind
  u64 next_ask_ = 1;
};

}  // namespace scws::sim
