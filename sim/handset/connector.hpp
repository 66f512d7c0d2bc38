// How a BIP channel's bytes reach a peer, apart from what the card asked for.
//
// The CAT terminal (cat_terminal.hpp) keeps everything TS 102 223 defines for a channel: its
// identifier and state, the buffer size granted, the Rx buffer RECEIVE DATA drains, the Tx buffer
// SEND DATA fills, the events the card is told. A Connector moves the bytes: it owns sockets (or
// anything else that reaches a peer) and reports what happens to them through ChannelEvents.
//
// One connector serves the OPEN CHANNELs whose parameters it recognises (serves()): today the TCP
// server connector (UICC server mode, transport level 03, TS 102 223 6.4.27 and 8.59). A TCP client
// connector (transport levels 01/02, 04/05) fits the same interface: open() starts the connection
// and its establishment or failure comes back as peer_connected() or peer_closed().
//
// Contract, both directions:
//   - Channels are named by their identifier 1..7. At most one peer is attached to a channel at a
//     time; after release() or close() the connector reports nothing more about the peer it had.
//   - A connector reports events from its own driver, never from inside a call the terminal makes:
//     the terminal may be half-way through a proactive command when it calls the connector.
//     rx_room() is a question, not an event: it may be asked at any time.
//   - The terminal may call the connector from inside an event (e.g. release() from peer_closed()).
#pragma once

#include <cstddef>
#include <string>

#include "apdu/cat.hpp"
#include "apdu/proactive_command.hpp"
#include "base/bytes.hpp"

namespace scws::sim {

// What a connector tells the terminal about a channel's peer.
class ChannelEvents {
 public:
  // A peer is attached to a channel accept() asked one for (server mode: a client connected).
  virtual void peer_connected(u8 channel, const std::string& peer) = 0;
  // How many bytes the channel's Rx buffer takes now; deliver at most this much with peer_data().
  [[nodiscard]] virtual std::size_t rx_room(u8 channel) const = 0;
  virtual void peer_data(u8 channel, Bytes data) = 0;
  // The peer went away: orderly (it closed its side, EOF) or not (an error, a reset).
  virtual void peer_closed(u8 channel, bool orderly, const std::string& why) = 0;
  // Bytes that waited in unsent() went out: a terminal holding back FETCH may go on.
  virtual void tx_progress(u8 channel) = 0;

 protected:
  ~ChannelEvents() = default;
};

struct OpenOutcome {
  bool ok = false;
  std::string endpoint;  // where the channel's peers connect ("127.0.0.1:3516"), for log lines
  u16 local_port = 0;
  // !ok: the BIP error the card gets (TS 102 223 8.12.11) and the reason, for the log.
  apdu::cat::BipCause cause = apdu::cat::BipCause::kNoSpecificCause;
  std::string error;
};

class Connector {
 public:
  virtual ~Connector() = default;
  // The terminal calls this once, before anything else.
  virtual void bind(ChannelEvents& events) = 0;
  // Whether this connector carries a channel opened with these parameters.
  [[nodiscard]] virtual bool serves(const apdu::cat::OpenChannelParams& p) const = 0;
  // OPEN CHANNEL: prepare the channel's way to peers (server mode: listen on the port).
  virtual OpenOutcome open(u8 channel, const apdu::cat::OpenChannelParams& p) = 0;
  // The channel wants its next peer (server mode: it is in LISTEN without a client).
  virtual void accept(u8 channel) = 0;
  // Bytes for the channel's peer, in order; kept until written (unsent() counts them).
  virtual void send(u8 channel, Bytes data) = 0;
  [[nodiscard]] virtual std::size_t unsent(u8 channel) const = 0;
  // The Rx buffer has room again: read from the peer (idempotent).
  virtual void resume(u8 channel) = 0;
  // Let the peer go: graceful flushes what it was sent and closes in order; otherwise at once.
  virtual void release(u8 channel, bool graceful) = 0;
  // The channel is CLOSED: its peer goes gracefully and its way to peers closes (server mode: the
  // listening socket, once no other channel of the port uses it).
  virtual void close(u8 channel) = 0;
  // The card session ended: every peer and listener closes at once.
  virtual void reset() = 0;
};

}  // namespace scws::sim
