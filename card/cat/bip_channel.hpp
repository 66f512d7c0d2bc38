// One BIP channel in UICC server mode (TS 102 223 annex M, 6.4.27-6.4.31), or in TCP client mode
// (`client`, docs/protocol.md section 7.10), as the card sees it: the
// channel state machine and the byte plumbing between RECEIVE/SEND DATA and the StreamEndpoint above
// it. The CAT toolkit (card/cat/toolkit.hpp) owns seven of these, issues the proactive commands and calls
// set_state(); this class never builds an APDU.
//
// States (one proactive command is outstanding in the states marked *):
//   Closed          no channel at the terminal (the slot is free)
//   OpenRequested*  OPEN CHANNEL issued, waiting for its TERMINAL RESPONSE
//   Listen          the terminal listens on the port (channel status 4n)
//   Established     a client is connected (8n); the endpoint connection is open
//   Receiving*      RECEIVE DATA issued
//   Sending*        SEND DATA issued
//   Closing*        CLOSE CHANNEL issued: qualifier 01 back to Listen, 00 to Closed (TS 102 223 8.6)
// A client channel never listens: Closed (slot held, OPEN CHANNEL not issued yet) -> OpenRequested
// (OPEN CHANNEL issued, then the link being established in background mode) -> Established ->
// Receiving/Sending -> Closing (qualifier 00 only) -> Closed.
//
// Receive side: each RECEIVE DATA chunk (at most 237 bytes, docs/protocol.md section 6.4) is offered to the
// endpoint straight from the APDU buffer; whatever it does not consume is kept in a fixed accumulator
// of kRxAccumulatorSize bytes taken from the arena only then and given back once it is empty, and
// offered again before any further RECEIVE DATA. Never a byte lost.
// Send side: pull() fills one SEND DATA piece (at most 240 bytes, or what the terminal's Tx buffer
// still takes) by calling endpoint.send() until the piece is full or the endpoint has nothing more,
// then pulls one byte ahead to learn whether the burst continues (qualifier 00 store) or ends here
// (qualifier 01 send immediately). The look-ahead byte starts the next piece.
#pragma once

#include <cstddef>

#include "apdu/cat.hpp"
#include "base/bytes.hpp"
#include "card/os/arena.hpp"
#include "card/cat/stream_endpoint.hpp"
#include "card/os/tracer.hpp"

namespace scws::card {

enum class BipState : u8 {
  kClosed,
  kOpenRequested,
  kListen,
  kEstablished,
  kReceiving,
  kSending,
  kClosing,
};

const char* to_string(BipState s) noexcept;

// What CLOSE CHANNEL asks for in UICC server mode (TS 102 223 8.6, docs/protocol.md section 7.7).
enum class CloseMode : u8 {
  kNone,
  kToListen,  // qualifier 01: drop the client, keep listening
  kToClosed,  // qualifier 00: drop the client and stop listening
};

class BipChannel {
 public:
  static constexpr std::size_t kRxAccumulatorSize = apdu::cat::kMaxReceiveDataPayload;  // 237
  static constexpr std::size_t kMaxPiece = apdu::cat::kMaxSendDataPayload;              // 240
  static constexpr u8 kNoPort = 0xFF;
  static constexpr u8 kClientPort = 0xFE;  // `port` of a slot held by a client channel
  static_assert(kRxAccumulatorSize == 237 && kMaxPiece == 240);

  // Forgets everything without calling the endpoint or the arena (power-up: RAM is gone already).
  void reset(u8 slot) noexcept;

  [[nodiscard]] BipState state() const noexcept { return state_; }
  // The one transition function: records the new state and traces "old -> new (why)".
  void set_state(BipState next, const char* why, const Tracer& trace) noexcept;

  // Client connected (ESTABLISHED): opens the endpoint connection. false when the endpoint refuses
  // (e.g. no RAM; the caller drops the client).
  bool connect(Arena& arena, StreamEndpoint& endpoint) noexcept;
  // The client is gone or dropped: closes the endpoint connection if open and gives the accumulator
  // back. Safe to call when not connected.
  void disconnect(Arena& arena) noexcept;
  [[nodiscard]] bool connected() const noexcept { return endpoint_open_; }

  // Receive side -----------------------------------------------------------------------------------
  // A RECEIVE DATA chunk: offered to the endpoint straight from the APDU buffer; only bytes it does
  // not take are copied into the accumulator, which is taken from the arena then and given back as
  // soon as it is empty (so a connection whose endpoint takes everything costs no Rx RAM). false =
  // no RAM for the rest: the caller drops the client. Precondition: the accumulator is empty (no
  // RECEIVE DATA is issued while it holds bytes) and chunk fits it.
  bool deliver(Arena& arena, Bytes chunk) noexcept;
  // Offers the kept bytes again; true when the endpoint consumed some.
  bool offer_pending(Arena& arena) noexcept;
  [[nodiscard]] std::size_t pending_rx() const noexcept { return rx_len_; }
  [[nodiscard]] bool holds_accumulator() const noexcept { return rx_ != nullptr; }

  // Send side --------------------------------------------------------------------------------------
  // Fills `stage` (at most piece_capacity() bytes are used) with the next piece; returns its size
  // (0: the endpoint has nothing now) and sets `more` when at least one further byte is waiting.
  std::size_t pull(MutableBytes stage, bool& more) noexcept;
  // Bytes the next SEND DATA may carry: min(240, free space in the terminal's Tx buffer).
  [[nodiscard]] std::size_t piece_capacity() const noexcept;
  // After a piece is accepted: stored pieces fill the terminal's Tx buffer, an immediate one empties it.
  void piece_sent(std::size_t n, bool immediately) noexcept;
  // The terminal's report of free Tx space (channel data length of the SEND DATA response, FF = more).
  void tx_free_reported(u8 free) noexcept;
  // Whether a piece of n bytes followed by `more` must still be sent immediately because the Tx
  // buffer could not take a whole further piece after it.
  [[nodiscard]] bool must_flush_after(std::size_t n) const noexcept;

  // Fields the toolkit reads and writes directly ------------------------------------------------------
  u8 slot = 0;              // index in the toolkit's table = the endpoint's connection number
  u8 port = kNoPort;        // index in the toolkit's port table; kNoPort when the slot is free
  u8 channel_id = 0;        // 1..7, assigned by the terminal in the OPEN CHANNEL response (8.56)
  u16 buffer_size = 0;      // granted by the terminal (8.55)
  u8 rx_available = 0;      // bytes waiting in the terminal's Rx buffer (8.54; FF = more than 255)
  bool drop_requested = false;  // issue CLOSE CHANNEL (01; 00 for a client) at the next opportunity
  bool client = false;          // TCP client mode (the toolkit's ClientChannels): port is kClientPort
  CloseMode closing = CloseMode::kNone;  // what the outstanding CLOSE CHANNEL asked for
  StreamEndpoint* endpoint = nullptr;

 private:
  BipState state_ = BipState::kClosed;
  bool endpoint_open_ = false;
  void release_accumulator(Arena& arena) noexcept;
  u8* rx_ = nullptr;          // accumulator, kRxAccumulatorSize bytes from the arena while it holds bytes
  std::size_t rx_len_ = 0;
  std::size_t tx_used_ = 0;   // bytes stored in the terminal's Tx buffer, not yet sent
  bool has_lookahead_ = false;
  u8 lookahead_ = 0;
};

}  // namespace scws::card
