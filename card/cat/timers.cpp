#include "card/cat/timers.hpp"

namespace scws::card {

const char* to_string(TimerState s) noexcept {
  switch (s) {
    case TimerState::kIdle: return "Idle";
    case TimerState::kStartWanted: return "StartWanted";
    case TimerState::kStarting: return "Starting";
    case TimerState::kRunning: return "Running";
    case TimerState::kStopWanted: return "StopWanted";
    case TimerState::kStopping: return "Stopping";
  }
  return "?";
}

apdu::cat::TimerValue to_timer_value(u32 seconds) noexcept {
  if (seconds > kMaxTimerSeconds) seconds = kMaxTimerSeconds;
  apdu::cat::TimerValue v;
  v.hours = static_cast<u8>(seconds / 3600U);
  v.minutes = static_cast<u8>((seconds / 60U) % 60U);
  v.seconds = static_cast<u8>(seconds % 60U);
  return v;
}

bool TimerTable::start(u8 id, u32 seconds, TimerListener* listener) noexcept {
  if (!valid(id)) return false;
  Timer& t = at(id);
  t.seconds = seconds;
  t.listener = listener;
  t.state = TimerState::kStartWanted;
  return true;
}

bool TimerTable::stop(u8 id) noexcept {
  if (!valid(id)) return false;
  Timer& t = at(id);
  switch (t.state) {
    case TimerState::kIdle:
    case TimerState::kStopWanted:
    case TimerState::kStopping:
      return true;
    case TimerState::kStartWanted:
      t.state = TimerState::kIdle;  // never reached the terminal
      t.listener = nullptr;
      return true;
    case TimerState::kStarting:
    case TimerState::kRunning:
      t.state = TimerState::kStopWanted;
      t.listener = nullptr;
      return true;
  }
  return true;
}

u8 TimerTable::next_wanted() const noexcept {
  for (u8 id = 1; id <= kTimers; ++id) {
    const TimerState s = at(id).state;
    if (s == TimerState::kStartWanted || s == TimerState::kStopWanted) return id;
  }
  return 0;
}

}  // namespace scws::card
