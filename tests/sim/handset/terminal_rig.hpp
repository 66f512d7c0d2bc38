// Test helper: a CatTerminal on a ManualClock with a FakeConnector, and the loop a driver would run:
// settle() runs the terminal and pumps the peers until neither has anything to do at this instant;
// advance() moves the clock to the terminal's next wake-up. Time passes only when a test says so,
// so every timer, poll and retry happens at an exact, asserted instant.
#pragma once

#include <doctest/doctest.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sim/handset/cat_terminal.hpp"
#include "tests/sim/handset/fake_connector.hpp"
#include "tests/sim/handset/manual_clock.hpp"

namespace scws::sim::test {

class TerminalRig {
 public:
  explicit TerminalRig(CardTransport& card, const std::function<void(TerminalOptions&)>& tune = {}) {
    TerminalOptions o;
    o.log = [this](const std::string& l) { lines.push_back(l); };
    o.wake = [this] { ++wakes; };
    if (tune) tune(o);
    terminal.emplace(card, clock, o);
    terminal->add_connector(connector);
  }

  [[nodiscard]] bool due() const {
    const auto at = terminal->next_wakeup();
    return at && *at <= clock.now();
  }

  // Runs the terminal and the peers until nothing is due now (bounded: a livelock fails the test).
  void settle(int bound = 1000000) {
    for (int i = 0; i < bound; ++i) {
      if (due()) {
        terminal->run_due();
        continue;
      }
      if (connector.pump()) continue;
      return;
    }
    FAIL("the terminal and its peers never settled");
  }

  // Moves the clock to the next wake-up and settles; false when the terminal waits for nothing.
  bool advance() {
    const auto at = terminal->next_wakeup();
    if (!at) return false;
    clock.set(*at);
    settle();
    return true;
  }

  // Advances wake-up by wake-up until pred() holds, within `limit` of simulated time.
  void advance_until(const std::function<bool()>& pred, TerminalClock::Duration limit, const char* what) {
    const auto end = clock.now() + limit;
    settle();
    while (!pred()) {
      const auto at = terminal->next_wakeup();
      REQUIRE_MESSAGE((at && *at <= end), "the terminal never got to: ", what);
      clock.set(*at);
      settle();
    }
  }

  [[nodiscard]] bool logged(std::string_view part) const {
    for (const auto& l : lines)
      if (l.find(part) != std::string::npos) return true;
    return false;
  }

  ManualClock clock;
  FakeConnector connector;
  std::vector<std::string> lines;
  int wakes = 0;
  std::optional<CatTerminal> terminal;
};

}  // namespace scws::sim::test
