// The card's idea of the date, for X.509 validity checks (RFC 5280 4.1.2.5) and session ticket
// lifetimes. A card has no clock: the date is the card's time (card/os/card_time.hpp: the terminal's
// date from PROVIDE LOCAL INFORMATION, TS 102 223 6.4.15, plus the uptime its timers measured; the
// build date until the terminal answers). The TLS port (card/scws/tls_port.hpp) points the clock at
// its card's time at power-up with follow(), and lets go of it when it goes away. Without a card
// time followed, the date is the one set() last gave, the build date (kBuildTime) at first: tools
// and tests set a fixed date. Never a host clock on the card path.
// mbedTLS reads it through scws_tls_time() (tls/mbedtls_card_config.h).
#pragma once

#include <cstdint>

#include "card/os/card_time.hpp"

namespace scws::tls {

class CardClock {
 public:
  static constexpr std::int64_t kBuildTime = card::CardTime::kBuildTime;

  // Seconds since 1970-01-01 UTC: the followed card time's now(), else the date set.
  static std::int64_t now() noexcept;
  // A fixed date; stops following a card time.
  static void set(std::int64_t unix_seconds) noexcept;
  // Reads the date from `time` from now on (it must outlive the following, or be let go first).
  static void follow(const card::CardTime* time) noexcept;
  // Stops following `time` (nothing when another one, or none, is followed).
  static void let_go(const card::CardTime* time) noexcept;
  [[nodiscard]] static const card::CardTime* followed() noexcept;
  static constexpr std::int64_t from_date(int year, unsigned month, unsigned day) noexcept {
    return card::time_detail::days_from_civil(year, month, day) * 86400;
  }
};

}  // namespace scws::tls
