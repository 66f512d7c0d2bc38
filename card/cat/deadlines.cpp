#include "card/cat/deadlines.hpp"

namespace scws::card {

const char* Deadlines::state_name(State s) noexcept {
  switch (s) {
    case State::kOff: return "Off";
    case State::kIdle: return "Idle";
    case State::kStarting: return "Starting";
    case State::kRunning: return "Running";
    case State::kStopping: return "Stopping";
  }
  return "?";
}

void Deadlines::reset(CardTime* time, bool timers, bool keep) noexcept {
  time_ = time;
  if (!keep) slots_.fill(Slot{});
  trans(timers ? State::kIdle : State::kOff);
  period_ = 0;
  owed_expiry_ = false;
  refreshed_once_ = false;
  last_refresh_ = uptime();
  sync_all();
}

bool Deadlines::start(u8 slot, u32 seconds, DeadlineListener& listener) noexcept {
  if (slot >= kSlots || seconds == 0) return false;
  Slot& s = slots_[slot];
  s = Slot{&listener, seconds, 0, false};
  switch (state_) {
    case State::kOff:
    case State::kIdle:
      break;  // counted from the uptime now: the next period starts from here
    case State::kStarting:
    case State::kRunning:
      if (period_ <= kTick) break;  // the uptime is at most kTick behind: good enough
      return true;                  // a long idle period runs: wanted() deactivates it first
    case State::kStopping:
      return true;  // synced when the deactivation is answered
  }
  s.due = uptime() + seconds;
  s.synced = true;
  return true;
}

void Deadlines::stop(u8 slot) noexcept {
  if (slot < kSlots) slots_[slot] = Slot{};
}

bool Deadlines::any_pending() const noexcept {
  for (const Slot& s : slots_)
    if (s.listener != nullptr) return true;
  return false;
}

bool Deadlines::any_unsynced() const noexcept {
  for (const Slot& s : slots_)
    if (s.listener != nullptr && !s.synced) return true;
  return false;
}

void Deadlines::sync_all() noexcept {
  for (Slot& s : slots_) {
    if (s.listener == nullptr || s.synced) continue;
    s.due = uptime() + s.seconds;
    s.synced = true;
  }
}

Deadlines::Wish Deadlines::wanted() const noexcept {
  Wish w;
  switch (state_) {
    case State::kOff:
    case State::kStarting:
    case State::kStopping:
      return w;
    case State::kRunning:
      if (any_unsynced()) w.kind = Wish::Kind::kDeactivate;
      return w;
    case State::kIdle:
      break;
  }
  const u32 now = uptime();
  const u32 since_refresh = now - last_refresh_;
  // Idle: until the next clock refresh. With a deadline pending: ticks (the refresh is asked between them).
  u32 seconds = any_pending() ? kTick : since_refresh >= kClockRefresh ? 1 : kClockRefresh - since_refresh;
  for (const Slot& s : slots_) {
    if (s.listener == nullptr) continue;
    const u32 left = s.due > now ? s.due - now : 1;
    const u32 step = left < kTick ? left : kTick;
    if (step < seconds) seconds = step;
  }
  w.kind = Wish::Kind::kStart;
  w.seconds = seconds;
  return w;
}

void Deadlines::issued(const Wish& w) noexcept {
  switch (w.kind) {
    case Wish::Kind::kNone:
      return;
    case Wish::Kind::kStart:
      period_ = w.seconds;
      trans(State::kStarting);
      return;
    case Wish::Kind::kDeactivate:
      trans(State::kStopping);
      return;
  }
}

void Deadlines::start_answered(bool ok) noexcept {
  if (state_ != State::kStarting) return;
  // A terminal that cannot start the timer will not start it next time either: no deadlines this session.
  trans(ok ? State::kRunning : State::kOff);
}

void Deadlines::deactivate_answered(bool ok, bool has_left, u32 left) noexcept {
  if (state_ != State::kStopping) return;
  u32 elapsed = period_;
  if (ok) {
    elapsed = has_left && left <= period_ ? period_ - left : 0;  // no value: count nothing (lag, never lead)
  } else {
    owed_expiry_ = true;  // it had run out (TS 102 223 6.6.21, result 24): its envelope is on its way
  }
  advance(elapsed);
  period_ = 0;
  trans(State::kIdle);
  sync_all();
}

void Deadlines::expired() noexcept {
  if (owed_expiry_) {
    owed_expiry_ = false;
    return;
  }
  if (state_ != State::kRunning) return;
  advance(period_);
  period_ = 0;
  trans(State::kIdle);
  sync_all();
  const u32 now = uptime();
  std::array<DeadlineListener*, kSlots> passed{};
  for (std::size_t i = 0; i < kSlots; ++i) {
    Slot& s = slots_[i];
    if (s.listener == nullptr || s.due > now) continue;
    passed[i] = s.listener;
    s = Slot{};
  }
  // Listeners may start and stop deadlines: only what passed before them is told.
  for (std::size_t i = 0; i < kSlots; ++i)
    if (passed[i] != nullptr) passed[i]->deadline_passed(static_cast<u8>(i));
}

bool Deadlines::clock_refresh_due() const noexcept {
  return !refreshed_once_ || uptime() - last_refresh_ >= kClockRefresh;
}

void Deadlines::clock_refreshed() noexcept {
  refreshed_once_ = true;
  last_refresh_ = uptime();
}

}  // namespace scws::card
