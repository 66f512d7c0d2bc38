// Framing of the socket between vpcd (the vsmartcard reader driver inside pcscd) and a card
// process (docs/protocol.md section 10; vsmartcard's vpcd protocol). Every message, in both
// directions, is a 2-byte big-endian length followed by that many payload bytes. From vpcd, a
// 1-byte payload is a control byte (00 power off, 01 power on, 02 reset, 04 get ATR); a longer one
// is a command APDU. The card answers get ATR with the ATR and an APDU with the response APDU; it
// never answers the other control bytes.
//
// The parser never allocates: it assembles one frame at a time into a caller-owned buffer and
// accepts its input in pieces of any size (a TCP stream splits frames anywhere).
#pragma once

#include <cstddef>

#include "base/bytes.hpp"
#include "base/result.hpp"

namespace scws::sim {

inline constexpr std::size_t kVpcdHeaderSize = 2;        // vpcd.c: uint16_t length, network order
inline constexpr std::size_t kVpcdMaxPayload = 0xFFFF;   // the largest length the header can carry
inline constexpr std::size_t kVpcdMaxFrame = kVpcdHeaderSize + kVpcdMaxPayload;
inline constexpr u16 kVpcdDefaultPort = 35963;           // 0x8C7B, VPCDPORT in vpcd.h
static_assert(kVpcdDefaultPort == 0x8C7B);

// vpcd.h VPCD_CTRL_*: the control bytes vpcd sends as 1-byte frames.
enum class VpcdControl : u8 { kPowerOff = 0x00, kPowerOn = 0x01, kReset = 0x02, kGetAtr = 0x04 };

enum class VpcdRequestKind : u8 { kPowerOff, kPowerOn, kReset, kGetAtr, kApdu };

// One request from vpcd. apdu is a view into the parser's buffer (kApdu only), valid until the
// next feed() or reset().
struct VpcdRequest {
  VpcdRequestKind kind = VpcdRequestKind::kGetAtr;
  Bytes apdu;
};

enum class VpcdFrameError : u8 {
  kEmptyFrame,      // length 0: vpcd never sends one
  kUnknownControl,  // a 1-byte frame other than 00, 01, 02, 04
  kFrameTooLarge,   // the payload does not fit the parser's buffer
};

const char* describe(VpcdFrameError e) noexcept;

// Classifies a complete payload. A payload of 2 or 3 bytes is an APDU too short to be valid: that
// is for the card to refuse (67 00), not a framing error.
Result<VpcdRequest, VpcdFrameError> classify_vpcd_payload(Bytes payload) noexcept;

// Writes header + payload into out as one frame (so that it goes out in one send). Returns the
// frame size, or 0 when the payload is longer than kVpcdMaxPayload or out is too small.
std::size_t encode_vpcd_frame(Bytes payload, MutableBytes out) noexcept;

class VpcdFrameParser {
 public:
  enum class State : u8 {
    kLengthHigh,  // waiting for the first length byte
    kLengthLow,   // waiting for the second length byte
    kPayload,     // collecting payload bytes
    kFrameReady,  // a whole frame is in the buffer; the next feed() starts the following one
    kFailed,      // a framing error; sticky until reset()
  };

  enum class Event : u8 {
    kNeedMore,  // all input consumed, no frame complete yet
    kFrame,     // a frame is complete: request() is valid until the next feed() or reset()
    kError,     // malformed framing: error() says why; the link must be closed
  };

  struct FeedResult {
    std::size_t consumed = 0;  // input bytes used; on kFrame the rest belongs to later frames
    Event event = Event::kNeedMore;
  };

  // buffer holds one payload; frames longer than buffer.size() fail with kFrameTooLarge.
  explicit VpcdFrameParser(MutableBytes buffer) noexcept : buffer_(buffer) {}

  // Consumes input up to the end of the next complete frame.
  FeedResult feed(Bytes input) noexcept;
  void reset() noexcept;

  [[nodiscard]] State state() const noexcept { return state_; }
  // Precondition: the last feed() returned kFrame.
  [[nodiscard]] const VpcdRequest& request() const noexcept { return request_; }
  // Precondition: state() == kFailed.
  [[nodiscard]] VpcdFrameError error() const noexcept { return error_; }

 private:
  void set_state(State next) noexcept { state_ = next; }
  FeedResult fail_with(VpcdFrameError e, std::size_t consumed) noexcept;
  FeedResult complete(std::size_t consumed) noexcept;

  MutableBytes buffer_;
  State state_ = State::kLengthHigh;
  std::size_t expected_ = 0;  // payload length from the header
  std::size_t filled_ = 0;    // payload bytes collected
  VpcdRequest request_{};
  VpcdFrameError error_ = VpcdFrameError::kEmptyFrame;
};

}  // namespace scws::sim
