// The card's time (docs/architecture.md, "Card-side rules": no clocks on the card). Two figures:
//   uptime(): seconds since power-up, advanced only by what the card learns from the terminal's timers
//     (card/cat/deadlines.hpp reports each elapsed period with advance()); monotonic.
//   now(): seconds since 1970-01-01 UTC: the last date the terminal gave (TS 102 223 6.4.15 PROVIDE
//     LOCAL INFORMATION, date, time and time zone 8.39) plus the uptime since; before any answer this
//     session, the firmware's build date (kBuildTime) plus the uptime.
// The date never goes backwards within a session: a terminal date earlier than the running estimate
// is refused (told() returns kRefusedEarlier, the caller traces it) and the estimate kept; the
// estimate can therefore run ahead of the terminal by what the timers over-counted, never behind it
// by more than they under-counted. Power-up and reset: uptime 0, the date forgotten (kBuildTime).
// Owned by the card OS like SecurityEvents; reached through CardContext::time(). RAM only.
#pragma once

#include <cstdint>

#include "apdu/cat.hpp"
#include "base/bytes.hpp"

namespace scws::card {

namespace time_detail {
constexpr std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
  // Howard Hinnant's days_from_civil: proleptic Gregorian date to days since 1970-01-01.
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}
constexpr unsigned month_of(const char* s) noexcept {
  constexpr const char* kNames = "JanFebMarAprMayJunJulAugSepOctNovDec";
  for (unsigned i = 0; i < 12; ++i)
    if (kNames[3 * i] == s[0] && kNames[3 * i + 1] == s[1] && kNames[3 * i + 2] == s[2]) return i + 1;
  return 1;
}
// __DATE__ is "Mmm dd yyyy" (day space-padded).
constexpr std::int64_t parse_build_date(const char* s) noexcept {
  const unsigned day = (s[4] == ' ' ? 0U : static_cast<unsigned>(s[4] - '0')) * 10 + static_cast<unsigned>(s[5] - '0');
  const std::int64_t year = (s[7] - '0') * 1000 + (s[8] - '0') * 100 + (s[9] - '0') * 10 + (s[10] - '0');
  return days_from_civil(year, month_of(s), day) * 86400;
}
}  // namespace time_detail

// Seconds since 1970-01-01 UTC of a terminal's date, time and time zone (TS 102 223 8.39: local
// time, the zone in quarters of an hour east of GMT; an unknown zone is taken as GMT). Two-digit
// years are 2000-2099.
u32 unix_seconds(const apdu::cat::DateTimeZone& t) noexcept;

class CardTime {
 public:
  static constexpr u32 kBuildTime = static_cast<u32>(time_detail::parse_build_date(__DATE__));
  static_assert(time_detail::days_from_civil(1970, 1, 1) == 0);
  static_assert(time_detail::days_from_civil(2000, 3, 1) == 11017);

  enum class Told : u8 {
    kAccepted,        // the date is the terminal's from now on
    kRefusedEarlier,  // earlier than the running estimate: the estimate is kept (never backwards)
  };

  [[nodiscard]] u32 uptime() const noexcept { return uptime_; }
  [[nodiscard]] u32 now() const noexcept { return base_ + (uptime_ - base_uptime_); }
  [[nodiscard]] bool from_terminal() const noexcept { return from_terminal_; }

  // ---- the card OS and the toolkit only ----
  // Power-up / reset: uptime 0, the build date.
  void reset() noexcept { *this = CardTime{}; }
  // The timers tell that `seconds` passed.
  void advance(u32 seconds) noexcept { uptime_ += seconds; }
  // The terminal's date (seconds since 1970 UTC), as of the current uptime.
  Told told(u32 unix_now) noexcept {
    if (unix_now < now()) return Told::kRefusedEarlier;
    base_ = unix_now;
    base_uptime_ = uptime_;
    from_terminal_ = true;
    return Told::kAccepted;
  }

 private:
  u32 uptime_ = 0;
  u32 base_ = kBuildTime;  // the date at uptime base_uptime_
  u32 base_uptime_ = 0;
  bool from_terminal_ = false;
};

}  // namespace scws::card
