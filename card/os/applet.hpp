// Applets in the spirit of Java Card: installed under an AID, selected on a logical channel,
// processing the APDUs of that channel. Applet objects are built by the host before power-up;
// their C++ members are RAM, rebuilt at every power-up (on_power_up); persistent state lives only in
// NVM (CardContext::objects()). Errors are values: process() returns a CardError, never throws.
#pragma once

#include "apdu/command_apdu.hpp"
#include "base/bytes.hpp"
#include "base/result.hpp"
#include "card/os/card_error.hpp"

namespace scws::card {

class CardContext;

enum class Completion : u8 {
  kNormal,          // 90 00 (or 91 XX when a proactive command waits)
  kEndOfFile,       // 62 82: fewer bytes than Le because the end of the file was reached
  kWrongLe,         // 6C XX, no data: Le must be exactly `length` (XX), e.g. FETCH (TS 102 221 10.2.1.5)
  kRetriesLeft,     // 63 CX, no data: a verification failed, or VERIFY without data, `length` (X) tries left
};

struct ApduOutcome {
  std::size_t length = 0;  // response data bytes written into ApduRequest::response
  Completion completion = Completion::kNormal;
};

struct ApduRequest {
  const apdu::CommandApdu& command;
  u8 channel;              // logical channel of the command (from CLA)
  MutableBytes response;   // room for response data (already limited to what the card can send)
  // True for the SELECT that has just selected the applet (Java Card Applet.selectingApplet()).
  // Its response is the applet's FCI; when the applet writes none, the card OS answers with a
  // default one (6F with the DF name, or the ADF's FCP 62 for P2=04), and nothing for P2=0C.
  bool selecting = false;
};

class Applet {
 public:
  virtual ~Applet() = default;
  [[nodiscard]] virtual Bytes aid() const noexcept = 0;  // 5..16 bytes (ISO 7816-4 8.2.1.2)
  // Application label for the applet's EF.DIR record (tag 50, at most 16 bytes; empty = none).
  [[nodiscard]] virtual Bytes label() const noexcept { return {}; }
  // Whether the applet may be selected on several logical channels at once (Java Card MultiSelectable).
  [[nodiscard]] virtual bool multiselectable() const noexcept { return false; }
  // Once per image, inside a transaction the card OS opens: at the first power-up that finds the
  // applet's AID missing from the image's list of installed applets. Creates persistent objects.
  // An error aborts the transaction and leaves the applet uninstalled (and not selectable).
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
