// The TCP client connector: BIP channels in TCP client mode with a remote connection (TS 102 223
// 6.4.27.2, transport level 02, data destination address IPv4, docs/protocol.md section 7.10) served
// by outgoing sockets on the host, with Asio.
//
//   - open() starts the connection and returns at once (the terminal answers OPEN CHANNEL in
//     background mode); the connect's success comes back as peer_connected(), its failure (refused,
//     unreachable, or no answer within `connect_timeout`) as peer_closed(orderly = false).
//   - The destination is the card's, unless `connect_map` redirects it ("127.0.0.1:7443" ->
//     "127.0.0.1:41234"): tests and `scws run` point the card at a server on another port.
//   - Reading, writing and release(graceful) behave as in the TCP server connector: the server's
//     bytes are read only as far as the channel's Rx buffer has room; what the card sent is flushed
//     before a graceful close, which waits (bounded by `linger`) for the server's EOF.
//
// Everything runs on the io_context's thread; events reach the terminal from Asio completions only.
#pragma once

#include <array>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include <asio.hpp>

#include "sim/handset/peer_socket_connector.hpp"

namespace scws::sim {

// "127.0.0.1:7443=127.0.0.1:41234": a destination the card asks for, and where the gateway connects
// instead. IPv4 addresses only. Throws std::invalid_argument.
std::pair<std::string, std::string> parse_connect_map(std::string_view text);

struct TcpClientOptions {
  std::map<std::string, std::string> connect_map;      // "a.b.c.d:port" -> "a.b.c.d:port"
  std::chrono::milliseconds connect_timeout{10000};    // a connect attempt is abandoned after this
  std::chrono::milliseconds linger{2000};              // a released server: bounded time to flush and see its EOF
  std::function<void(const std::string&)> log;
};

class TcpClientConnector final : public PeerSocketConnector {
 public:
  TcpClientConnector(asio::io_context& io, TcpClientOptions options);
  ~TcpClientConnector() override;
  TcpClientConnector(const TcpClientConnector&) = delete;
  TcpClientConnector& operator=(const TcpClientConnector&) = delete;

  // TCP, UICC in client mode, remote connection, with an IPv4 data destination address.
  [[nodiscard]] bool serves(const apdu::cat::OpenChannelParams& p) const override;
  OpenOutcome open(u8 channel, const apdu::cat::OpenChannelParams& p) override;
  void accept(u8 channel) override;  // nothing: a client channel has one peer, from open()
  void release(u8 channel, bool graceful) override;
  void close(u8 channel) override;
  void reset() override;

  // Where a destination the card asks for is connected to ("a.b.c.d:port").
  [[nodiscard]] std::string mapped(const std::string& destination) const;

 private:
  void on_connect(const std::shared_ptr<Peer>& p, const std::error_code& ec);
  [[nodiscard]] std::shared_ptr<Peer> current(u8 channel) const override;
  void log(const std::string& line) const;

  TcpClientOptions options_;
  std::array<std::shared_ptr<Peer>, apdu::cat::kMaxChannels> peers_;
};

}  // namespace scws::sim
