// The card's hook for the CAT toolkit (ETSI TS 102 223 run by the card, TS 102 221 section 10.1.x
// commands): the dispatcher hands TERMINAL PROFILE, ENVELOPE, FETCH and TERMINAL RESPONSE
// (proprietary class 80, or A0, on any open channel, whatever is selected there) to the Toolkit the
// card holds, and after every command that ends normally asks it whether a proactive command waits,
// to answer 91 XX instead of 90 00 (TS 102 221 10.2.1.1).
//
// This base class is also the do-nothing default, a card without proactive applications:
//   TERMINAL PROFILE  -> 90 00 (accepted and ignored: every terminal sends it at start-up)
//   FETCH             -> 69 85 (no proactive command pending)
//   TERMINAL RESPONSE -> 69 85 (no proactive command was issued)
//   ENVELOPE          -> 6D 00 (no toolkit application to deliver it to)
// and it never reports a pending proactive command. The CAT toolkit derives from it.
#pragma once

#include "base/result.hpp"
#include "card/os/applet.hpp"
#include "card/os/card_context.hpp"

namespace scws::card {

class Toolkit {
 public:
  virtual ~Toolkit() = default;

  // At every power-up and warm reset, after the applets: RAM (arena, transient memory) and the
  // session state of the toolkit start afresh here. kNotEnoughMemory fails the power-up
  // (PowerError::kRamTooSmall); any other error leaves the do-nothing toolkit answering until the
  // next power-up.
  virtual Status<CardError> on_power_up(CardContext& ctx) noexcept {
    (void)ctx;
    return {};
  }
  // 80 10: TERMINAL PROFILE (TS 102 221 11.2.1).
  virtual Result<ApduOutcome, CardError> terminal_profile(CardContext& ctx, const ApduRequest& request) noexcept {
    (void)ctx;
    (void)request;
    return ApduOutcome{};
  }
  // 80 12: FETCH (TS 102 221 11.2.3): writes the pending proactive command (tag D0).
  virtual Result<ApduOutcome, CardError> fetch(CardContext& ctx, const ApduRequest& request) noexcept {
    (void)ctx;
    (void)request;
    return fail(CardError::kConditionsNotSatisfied);
  }
  // 80 14: TERMINAL RESPONSE (TS 102 221 11.2.4).
  virtual Result<ApduOutcome, CardError> terminal_response(CardContext& ctx, const ApduRequest& request) noexcept {
    (void)ctx;
    (void)request;
    return fail(CardError::kConditionsNotSatisfied);
  }
  // 80 C2: ENVELOPE (TS 102 221 11.2.2). kToolkitBusy answers 93 00.
  virtual Result<ApduOutcome, CardError> envelope(CardContext& ctx, const ApduRequest& request) noexcept {
    (void)ctx;
    (void)request;
    return fail(CardError::kInsNotSupported);
  }
  // Asked after every command ending 90 00: the length (1..255) of the proactive command waiting
  // for FETCH, sent as 91 XX; 0 when none.
  [[nodiscard]] virtual u8 pending_proactive_length() const noexcept { return 0; }
};

}  // namespace scws::card
