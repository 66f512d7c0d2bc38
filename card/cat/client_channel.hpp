// BIP channels in UICC client mode (TS 102 223 6.4.27, annex M): the card connects out, through the
// terminal, to a TCP server. The CAT toolkit (card/cat/toolkit.hpp) implements ClientChannels beside
// its server ports, from the same seven channel slots; the card's admin agent (card/admin) is its
// first user, for the session with the remote administration server (docs/protocol.md section 16).
//
// Lifecycle of one client connection, as the endpoint sees it:
//   open_client() -> a connection number; OPEN CHANNEL (client mode, immediate link establishment,
//   background mode when the terminal offers it) is issued at the next opportunity.
//     link established (TERMINAL RESPONSE or Channel status event 8n) -> endpoint.open(connection)
//       then receive() / send() / wants_close() exactly as in server mode (stream_endpoint.hpp);
//       the card's CLOSE CHANNEL after wants_close(), or the link dropped (Channel status 0n 05),
//       or close_client() -> endpoint.close(connection). Nothing more about that connection.
//     link never established -> endpoint.link_failed(connection, why), and nothing more (also after
//       close_client() before the link was up: kLinkDropped). docs/protocol.md section 7.10.
// The connection number is a slot index (0..kMaxConnections-1), reused after close()/link_failed().
// While no slot is free the toolkit frees one by closing a listening channel (no client) of the
// server port with the most channels, and re-opens it when the client channel is gone.
#pragma once

#include <array>
#include <cstddef>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "card/cat/stream_endpoint.hpp"

namespace scws::card {

// Why a client link was not established, or ended before the endpoint opened.
enum class LinkFailure : u8 {
  kNotSupported,      // the terminal profile lacks TCP client mode (no OPEN CHANNEL was issued)
  kTerminalUnable,    // TERMINAL RESPONSE 20: terminal currently unable to process the command
  kNetworkUnable,     // 21: network currently unable (the server refused or is unreachable)
  kNoChannel,         // 3A 01 / 3A 10: no channel available at the terminal
  kBipError,          // another 3A XX, or any other refusal of the OPEN CHANNEL
  kLinkDropped,       // Channel status "link dropped" before the link was established
  kSessionReset,      // the card session ended (reset, a new TERMINAL PROFILE) first
};

const char* describe(LinkFailure f) noexcept;

struct ClientChannelRequest {
  std::array<u8, 4> address{};  // IPv4 of the server (data destination address, TS 102 223 8.58)
  u16 port = 0;                 // TCP port (transport level 02, 8.59)
  u16 buffer_size = 0;          // asked of the terminal (8.55); the terminal may grant less
};

class ClientEndpoint : public StreamEndpoint {
 public:
  // The link for this connection was never established: no open() or close() follows.
  virtual void link_failed(std::size_t connection, LinkFailure why) noexcept = 0;
};

enum class ClientError : u8 {
  kInvalidArgument,  // port 0, buffer size 0
  kBusy,             // every slot is in use by clients or by server channels with a web client
                     // connected (a listening server channel is freed for a client)
  kNotReady,         // no terminal profile yet (a profile without client mode: link_failed(kNotSupported))
};

const char* describe(ClientError e) noexcept;

class ClientChannels {
 public:
  virtual ~ClientChannels() = default;
  // Starts a client connection; the endpoint must outlive it. The OPEN CHANNEL goes out when the
  // terminal next talks to the toolkit (or at once after wake()).
  virtual Result<u8, ClientError> open_client(const ClientChannelRequest& request, ClientEndpoint& endpoint) noexcept = 0;
  // Ends the connection: CLOSE CHANNEL 00 once what the endpoint produced has been sent (or at
  // once when the link is not established yet). endpoint.close() / link_failed() follows.
  virtual void close_client(u8 connection) noexcept = 0;
};

}  // namespace scws::card
