#include "tls/card_clock.hpp"

#include <ctime>

#include "tls/mbedtls_card_config.h"

namespace scws::tls {

namespace {
std::int64_t g_fixed = CardClock::kBuildTime;  // constant-initialised
const card::CardTime* g_followed = nullptr;
}  // namespace

std::int64_t CardClock::now() noexcept { return g_followed != nullptr ? g_followed->now() : g_fixed; }
void CardClock::set(std::int64_t unix_seconds) noexcept {
  g_fixed = unix_seconds;
  g_followed = nullptr;
}
void CardClock::follow(const card::CardTime* time) noexcept { g_followed = time; }
void CardClock::let_go(const card::CardTime* time) noexcept {
  if (g_followed == time) g_followed = nullptr;
}
const card::CardTime* CardClock::followed() noexcept { return g_followed; }

}  // namespace scws::tls

extern "C" time_t scws_tls_time(time_t* t) {
  const auto now = static_cast<time_t>(scws::tls::CardClock::now());
  if (t != nullptr) *t = now;
  return now;
}
