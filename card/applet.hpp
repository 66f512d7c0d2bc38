// Applets in the spirit of Java Card: installed under an AID, selected on a logical channel,
// processing the APDUs of that channel. Applet objects are built by the host before power-up;
// their C++ members are RAM, rebuilt at every power-up (on_power_up); persistent state lives only in
// NVM (CardContext::objects()). Errors are values: process() returns a CardError, never throws.
#pragma once

#include "apdu/command_apdu.hpp"
#include "base/bytes.hpp"
#include "base/result.hpp"
#include "card/card_error.hpp"

namespace scws::card {

class CardContext;

enum class Completion : u8 {
  kNormal,          // 90 00 (or 91 XX when a proactive command waits)
  kEndOfFile,       // 62 82: fewer bytes than Le because the end of the file was reached
};

struct ApduOutcome {
  std::size_t length = 0;  // response data bytes written into ApduRequest::response
  Completion completion = Completion::kNormal;
};

struct ApduRequest {
  const apdu::CommandApdu& command;
  u8 channel;              // logical channel of the command (from CLA)
  MutableBytes response;   // room for response data (already limited to what the card can send)
};

class Applet {
 public:
  virtual ~Applet() = default;
  [[nodiscard]] virtual Bytes aid() const noexcept = 0;
  // Whether the applet may be selected on several logical channels at once (Java Card MultiSelectable).
  [[nodiscard]] virtual bool multiselectable() const noexcept { return false; }
  // Once, when installed into a fresh image (inside a transaction): create persistent objects.
  virtual Status<CardError> install(CardContext& ctx) noexcept = 0;
  // At every power-up, after NVM is mounted: allocate transient memory from the arena.
  virtual Status<CardError> on_power_up(CardContext& ctx) noexcept = 0;
  // Returning false refuses the selection (69 99).
  virtual bool select(CardContext& ctx, u8 channel) noexcept = 0;
  virtual void deselect(CardContext& ctx, u8 channel) noexcept = 0;
  // Every APDU of a channel the applet is selected on, the SELECT that selected it included.
  virtual Result<ApduOutcome, CardError> process(CardContext& ctx, const ApduRequest& request) noexcept = 0;
};

}  // namespace scws::card
