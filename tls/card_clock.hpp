// The card's idea of the date, for X.509 validity checks (RFC 5280 4.1.2.5) and session ticket
// lifetimes. A card has no clock: the date is whatever it was last told. Until told, it is the
// build date of the firmware (kBuildTime, from __DATE__), so certificates valid "now" at build
// time verify and ones already expired then do not. Who tells it: the provisioning step (a date
// stored in the image) and, once the toolkit supports it, the terminal (TS 102 223 6.4.7 PROVIDE
// LOCAL INFORMATION, date/time/time zone). Never a host clock on the card path.
// mbedTLS reads it through scws_tls_time() (tls/mbedtls_card_config.h).
#pragma once

#include <cstdint>

namespace scws::tls {

namespace detail {
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
}  // namespace detail

class CardClock {
 public:
  static constexpr std::int64_t kBuildTime = detail::parse_build_date(__DATE__);
  static_assert(detail::days_from_civil(1970, 1, 1) == 0);
  static_assert(detail::days_from_civil(2000, 3, 1) == 11017);

  // Seconds since 1970-01-01 UTC.
  static std::int64_t now() noexcept;
  static void set(std::int64_t unix_seconds) noexcept;
  static constexpr std::int64_t from_date(int year, unsigned month, unsigned day) noexcept {
    return detail::days_from_civil(year, month, day) * 86400;
  }
};

}  // namespace scws::tls
