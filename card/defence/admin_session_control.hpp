// What the admin applet (card/defence/admin_applet.hpp) may ask of the card's admin agent (card/admin,
// docs/protocol.md section 16): START SESSION, an administrator's order to report now.
#pragma once

#include "base/result.hpp"
#include "card/os/card_context.hpp"
#include "card/os/card_error.hpp"

namespace scws::card {

class AdminSessionControl {
 public:
  virtual ~AdminSessionControl() = default;
  // Starts a session with the administration server at the next opportunity (trigger 03). A session
  // already running is not disturbed (the order is kept and runs after it). kConditionsNotSatisfied
  // when the card has no admin link provisioned.
  virtual Status<CardError> start_session(CardContext& ctx) noexcept = 0;
};

}  // namespace scws::card
