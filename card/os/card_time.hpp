// PLACEHOLDER of the detection branch (replaced by the card-clock work at merge): the card's time.
#pragma once

#include "base/bytes.hpp"

namespace scws::card {

class CardTime {
 public:
  [[nodiscard]] u32 uptime() const noexcept { return uptime_; }
  [[nodiscard]] u32 now() const noexcept { return base_ + uptime_; }
  [[nodiscard]] bool from_terminal() const noexcept { return false; }
  void advance(u32 seconds) noexcept { uptime_ += seconds; }

 private:
  u32 uptime_ = 0;
  u32 base_ = 1764720000;
};

}  // namespace scws::card
