#include "card/os/card_time.hpp"

namespace scws::card {

u32 unix_seconds(const apdu::cat::DateTimeZone& t) noexcept {
  const std::int64_t days = time_detail::days_from_civil(2000 + t.year, t.month, t.day);
  std::int64_t s = days * 86400 + std::int64_t{t.hour} * 3600 + std::int64_t{t.minute} * 60 + t.second;
  if (t.zone_known) s -= std::int64_t{t.zone_quarters} * 15 * 60;  // local time east of GMT -> UTC
  return s < 0 ? 0U : static_cast<u32>(s);
}

}  // namespace scws::card
