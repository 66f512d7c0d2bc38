#include "tls/card_clock.hpp"

#include <ctime>

#include "tls/mbedtls_card_config.h"

namespace scws::tls {

namespace {
std::int64_t g_now = CardClock::kBuildTime;  // constant-initialised
}  // namespace

std::int64_t CardClock::now() noexcept { return g_now; }
void CardClock::set(std::int64_t unix_seconds) noexcept { g_now = unix_seconds; }

}  // namespace scws::tls

extern "C" time_t scws_tls_time(time_t* t) {
  const auto now = static_cast<time_t>(scws::tls::CardClock::now());
  if (t != nullptr) *t = now;
  return now;
}
