// The card's deadlines: any number of fixed slots multiplexed over ONE terminal timer (TIMER
// MANAGEMENT, TS 102 223 6.4.21, timer kTimerId; expiry by ENVELOPE Timer expiration, 7.4), which
// is also how the card's uptime (card/os/card_time.hpp) advances: by what elapsed at each expiry, or
// by what a deactivation's TERMINAL RESPONSE says was left (timer value, 8.38).
//
// Slots (start(slot, seconds, listener) / stop(slot); a start of a pending slot restarts it):
//   kTlsFirst .. +6      the TLS port, one per connection (card/scws/tls_port.hpp)
//   kHttpFirst .. +6     the HTTP server's request and keep-alive deadlines, one per connection
//   kDefenceFirst .. +1  card/defence (e.g. the cool-down before a closed port re-opens)
//   kAdminFirst          card/admin: the admin session's inactivity, retry and period deadline
// The listener is told once, inside the toolkit command that learnt the deadline passed.
//
// The terminal timer runs for the whole CAT session when the terminal profile has TIMER MANAGEMENT:
//   - while no deadline is pending, for the time left until the next clock refresh (kClockRefresh:
//     the toolkit then asks the terminal's date again, PROVIDE LOCAL INFORMATION, TS 102 223 6.4.15);
//   - while one is pending, for at most kTick seconds, so that the uptime a new deadline counts from
//     is at most kTick behind the truth; a deadline of S seconds therefore passes between S - kTick
//     and S seconds after its start (never later; docs/protocol.md section 8.2). A deadline started
//     while the timer runs a longer idle period first deactivates it (its TERMINAL RESPONSE tells
//     what elapsed) and starts a tick.
// Uptime error: while a deadline is pending, the uptime lags the terminal's time by at most kTick
// plus the time between an expiry and the restart (one FETCH and TERMINAL RESPONSE) per expiry.
// APDU cost: each expiry is ENVELOPE D7 + FETCH + TERMINAL RESPONSE (the restart); leaving the idle
// period costs a deactivation and a start (two FETCH + TERMINAL RESPONSE pairs).
// Without TIMER MANAGEMENT in the terminal profile nothing ever passes and uptime stays 0 (traced by
// the toolkit). State machine of the terminal timer (one transition function, trans()):
//   Off -> Idle (session with timers) -> Starting -> Running -> Idle (expiry)
//   Running -> Stopping (a deadline wants a tick) -> Idle (TERMINAL RESPONSE)
#pragma once

#include <array>
#include <cstddef>

#include "base/bytes.hpp"
#include "card/os/card_time.hpp"

namespace scws::card {

class DeadlineListener {
 public:
  virtual ~DeadlineListener() = default;
  virtual void deadline_passed(u8 slot) noexcept = 0;
};

class Deadlines {
 public:
  static constexpr u8 kTimerId = 7;  // the terminal timer (TS 102 223 8.37); 8 is the toolkit's OPEN CHANNEL retry
  static constexpr u8 kTlsFirst = 0;
  static constexpr u8 kTlsSlots = 7;
  static constexpr u8 kHttpFirst = kTlsFirst + kTlsSlots;
  static constexpr u8 kHttpSlots = 7;
  static constexpr u8 kDefenceFirst = kHttpFirst + kHttpSlots;
  static constexpr u8 kDefenceSlots = 2;
  static constexpr u8 kAdminFirst = kDefenceFirst + kDefenceSlots;
  static constexpr u8 kAdminSlots = 1;
  static constexpr u8 kSlots = kAdminFirst + kAdminSlots;
  static_assert(kSlots == 17, "7 TLS + 7 HTTP connections + 2 for card/defence + 1 for card/admin");
  static constexpr u32 kTick = 2;           // seconds: the longest period while a deadline is pending
  static constexpr u32 kClockRefresh = 600; // seconds between PROVIDE LOCAL INFORMATION requests

  enum class State : u8 { kOff, kIdle, kStarting, kRunning, kStopping };
  static const char* state_name(State s) noexcept;

  // What the toolkit should issue for the terminal timer now.
  struct Wish {
    enum class Kind : u8 { kNone, kStart, kDeactivate } kind = Kind::kNone;
    u32 seconds = 0;  // kStart
  };

  // ---- for other card layers -------------------------------------------------------------------
  // false for a slot out of range or seconds 0. Before a CAT session the deadline waits for it.
  bool start(u8 slot, u32 seconds, DeadlineListener& listener) noexcept;
  void stop(u8 slot) noexcept;
  [[nodiscard]] bool pending(u8 slot) const noexcept { return slot < kSlots && slots_[slot].listener != nullptr; }
  [[nodiscard]] bool any_pending() const noexcept;
  [[nodiscard]] bool timers_available() const noexcept { return state_ != State::kOff; }

  // ---- the toolkit -----------------------------------------------------------------------------
  // Power-up, or a new CAT session (`timers`: the terminal has TIMER MANAGEMENT). Pending deadlines
  // are dropped at power-up only (keep = false).
  void reset(CardTime* time, bool timers, bool keep) noexcept;
  [[nodiscard]] Wish wanted() const noexcept;
  void issued(const Wish& w) noexcept;
  void start_answered(bool ok) noexcept;
  // Deactivation answered: ok with the time that was left (has_left), or refused (the timer had
  // already expired: its expiry envelope is still owed and will be ignored).
  void deactivate_answered(bool ok, bool has_left, u32 left) noexcept;
  // ENVELOPE Timer expiration for kTimerId: advances the uptime, tells the listeners of what passed.
  void expired() noexcept;
  // Whether the terminal's date should be asked again, and that it was.
  [[nodiscard]] bool clock_refresh_due() const noexcept;
  void clock_refreshed() noexcept;
  [[nodiscard]] State state() const noexcept { return state_; }
  [[nodiscard]] u32 period() const noexcept { return period_; }

 private:
  struct Slot {
    DeadlineListener* listener = nullptr;
    u32 seconds = 0;
    u32 due = 0;        // uptime at which it passes (when synced)
    bool synced = false;
  };
  void trans(State next) noexcept { state_ = next; }
  void sync_all() noexcept;
  [[nodiscard]] bool any_unsynced() const noexcept;
  [[nodiscard]] u32 uptime() const noexcept { return time_ != nullptr ? time_->uptime() : 0; }
  void advance(u32 seconds) noexcept {
    if (time_ != nullptr) time_->advance(seconds);
  }

  std::array<Slot, kSlots> slots_{};
  CardTime* time_ = nullptr;
  State state_ = State::kOff;
  u32 period_ = 0;          // the running (or starting) timer's length
  u32 last_refresh_ = 0;    // uptime of the last clock refresh
  bool refreshed_once_ = false;
  bool owed_expiry_ = false;
};

}  // namespace scws::card
