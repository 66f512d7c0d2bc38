// What the admin applet (card/defence/admin_applet.hpp) may ask of the card's attack detection
// (card/defence/detector.hpp) on behalf of an administrator who verified the ADM key, or of the
// card's own admin session: read and replace the detection settings, read the ports' states, close
// or re-open a port. Each change runs in one transaction. The byte layouts are in docs/protocol.md.
#pragma once

#include <cstddef>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "card/os/card_context.hpp"
#include "card/os/card_error.hpp"

namespace scws::card {

class DefenceControl {
 public:
  virtual ~DefenceControl() = default;
  // At every power-up, by the admin applet right after the incident queue's check: the detection
  // reads its settings and port states and starts listening.
  virtual void power_up(CardContext& ctx) noexcept { (void)ctx; }
  // The stored detection settings (thresholds, windows, port policy); kWrongLength when out is too small.
  virtual Result<std::size_t, CardError> read_settings(CardContext& ctx, MutableBytes out) noexcept = 0;
  // Validates and stores new settings; kWrongData when malformed or a value is out of its range
  // (nothing changes then).
  virtual Status<CardError> write_settings(CardContext& ctx, Bytes settings) noexcept = 0;
  // Each guarded port's state (open, closed and why, when it re-opens); kWrongLength when too small.
  virtual Result<std::size_t, CardError> read_port_states(CardContext& ctx, MutableBytes out) noexcept = 0;
  // An administrator's order: close (open = false) or re-open a port now. kReferencedDataNotFound for
  // a port the card does not serve.
  virtual Status<CardError> set_port_open(CardContext& ctx, u16 port, bool open) noexcept = 0;
};

}  // namespace scws::card
