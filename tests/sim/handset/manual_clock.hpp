// Test helper: a TerminalClock that moves only when the test moves it. Calendar time follows the
// monotonic time from a start the test chooses; the local zone is whatever the test says.
#pragma once

#include <chrono>
#include <optional>

#include "sim/handset/cat_terminal.hpp"

namespace scws::sim::test {

class ManualClock final : public TerminalClock {
 public:
  // 2024-03-09 13:05:30 UTC, a Saturday: an arbitrary, fixed start.
  static constexpr std::chrono::sys_seconds kStartUtc{std::chrono::sys_days{std::chrono::year{2024} / 3 / 9} +
                                                      std::chrono::hours(13) + std::chrono::minutes(5) +
                                                      std::chrono::seconds(30)};

  [[nodiscard]] TimePoint now() const override { return now_; }
  [[nodiscard]] std::chrono::system_clock::time_point utc_now() const override {
    return utc_start_ + std::chrono::duration_cast<std::chrono::system_clock::duration>(now_ - start_);
  }
  [[nodiscard]] std::optional<std::chrono::minutes> utc_offset(std::chrono::system_clock::time_point) const override {
    return zone;
  }

  void advance(Duration d) { now_ += d; }
  void set(TimePoint t) {
    if (t > now_) now_ = t;
  }
  void set_utc(std::chrono::system_clock::time_point utc) {
    utc_start_ = utc;
    start_ = now_;
  }
  // Time since the clock was made (or since set_utc).
  [[nodiscard]] Duration elapsed() const { return now_ - start_; }

  std::optional<std::chrono::minutes> zone;  // the "host's" local zone

 private:
  TimePoint start_ = TimePoint{} + std::chrono::hours(1000);  // far from the epoch the terminal starts from
  TimePoint now_ = start_;
  std::chrono::system_clock::time_point utc_start_ = kStartUtc;
};

}  // namespace scws::sim::test
