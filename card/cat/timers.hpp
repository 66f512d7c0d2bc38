// The card's sense of time (no clocks on the card: docs/architecture.md, "Card-side rules"): the
// terminal's timers, run with TIMER MANAGEMENT (TS 102 223 6.4.21) and reported back by ENVELOPE
// Timer expiration (D7, TS 102 223 7.4). Eight timers, identifiers 1..8 (8.37).
//
// This table only records what each timer is doing and who listens; the CAT toolkit
// (card/cat/toolkit.hpp) issues the proactive commands. States:
//   Idle -> StartWanted (start()) -> Starting (TIMER MANAGEMENT start issued) -> Running (success)
//   Running -> StopWanted (stop()) -> Stopping (deactivate issued) -> Idle
//   Running -> Idle on expiration (the listener is called once)
// A start() while a timer runs restarts it (a new TIMER MANAGEMENT start); a stop() of a timer not yet
// started just forgets it.
#pragma once

#include <array>
#include <cstddef>

#include "apdu/cat.hpp"
#include "base/bytes.hpp"

namespace scws::card {

// Told when a timer it started expires (ENVELOPE D7).
class TimerListener {
 public:
  virtual ~TimerListener() = default;
  virtual void timer_expired(u8 timer_id) noexcept = 0;
};

enum class TimerState : u8 { kIdle, kStartWanted, kStarting, kRunning, kStopWanted, kStopping };

const char* to_string(TimerState s) noexcept;

// The longest value TIMER MANAGEMENT can carry: 99:59:59 (three BCD bytes, TS 102 223 8.38).
inline constexpr u32 kMaxTimerSeconds = 99U * 3600U + 59U * 60U + 59U;

// Seconds as hh:mm:ss, capped at kMaxTimerSeconds.
apdu::cat::TimerValue to_timer_value(u32 seconds) noexcept;

class TimerTable {
 public:
  static constexpr u8 kTimers = apdu::cat::kMaxTimerId;  // 8
  static_assert(kTimers == 8, "TS 102 223 8.37: timer identifiers 1..8");

  struct Timer {
    TimerState state = TimerState::kIdle;
    u32 seconds = 0;
    TimerListener* listener = nullptr;
  };

  // Every timer idle, no listener: power-up (the terminal forgot its timers with the reset too).
  void reset() noexcept { timers_.fill(Timer{}); }

  [[nodiscard]] static constexpr bool valid(u8 id) noexcept { return id >= 1 && id <= kTimers; }
  // Precondition: valid(id).
  Timer& at(u8 id) noexcept { return timers_[id - 1]; }
  [[nodiscard]] const Timer& at(u8 id) const noexcept { return timers_[id - 1]; }

  // Records the wish; the toolkit issues the command. false when id is not 1..8.
  bool start(u8 id, u32 seconds, TimerListener* listener) noexcept;
  bool stop(u8 id) noexcept;

  // The next timer with a command to issue (StartWanted or StopWanted), or 0.
  [[nodiscard]] u8 next_wanted() const noexcept;

 private:
  std::array<Timer, kTimers> timers_{};
};

}  // namespace scws::card
