// The card's time (card/os/card_time.hpp) and the deadline service (card/cat/deadlines.hpp), with
// the terminal scripted APDU by APDU (no clock: time passes when the script says a timer expired).
#include "card/cat/deadlines.hpp"

#include <doctest/doctest.h>

#include <vector>

#include "card/os/card_time.hpp"
#include "tests/card/cat/toolkit_fixture.hpp"

using namespace scws;
using namespace scws::card;
using namespace scws::card::test;

namespace {

std::vector<u8> dated_profile(bool date = true) {
  cat::TerminalProfile p = cat::scws_gateway_profile();
  p.provide_local_information_date_time = date;
  return profile_bytes(p);
}

// 2090-06-01 12:00:00 local, GMT+2 (8 quarters): 10:00:00 UTC (after any build date).
cat::DateTimeZone june(u8 minute = 0, u8 year = 90) {
  cat::DateTimeZone d;
  d.year = year;
  d.month = 6;
  d.day = 1;
  d.hour = 12;
  d.minute = minute;
  d.zone_known = true;
  d.zone_quarters = 8;
  return d;
}
constexpr u32 kJuneUtc = static_cast<u32>(time_detail::days_from_civil(2090, 6, 1) * 86400 + 10 * 3600);

struct Recorder final : DeadlineListener {
  void deadline_passed(u8 slot) noexcept override { passed.push_back(slot); }
  std::vector<u8> passed;
};

// The terminal tells the card that the deadline timer ran out after `seconds`.
void expire(ToolkitRig& t, u32 seconds) {
  CHECK(t.terminal.envelope(cat::make_timer_expiration(Deadlines::kTimerId, to_timer_value(seconds))).substr(0, 2) != "6A");
}

void poll(ToolkitRig& t) {
  t.toolkit.wake();
  t.terminal.last = t.rig.send("80F2000C");
  t.terminal.run();
}

}  // namespace

TEST_CASE("card time: the build date until told, the terminal's date plus uptime after, never backwards") {
  CardTime time;
  CHECK(time.uptime() == 0);
  CHECK(time.now() == CardTime::kBuildTime);
  CHECK_FALSE(time.from_terminal());
  time.advance(30);
  CHECK(time.now() == CardTime::kBuildTime + 30);
  CHECK(unix_seconds(june(0, 25)) == 1748772000);  // 2025-06-01T10:00:00Z
  CHECK(unix_seconds(june()) == kJuneUtc);
  REQUIRE(time.told(kJuneUtc) == CardTime::Told::kAccepted);
  CHECK(time.from_terminal());
  time.advance(100);
  CHECK(time.now() == kJuneUtc + 100);
  CHECK(time.uptime() == 130);
  CHECK(time.told(kJuneUtc + 50) == CardTime::Told::kRefusedEarlier);  // behind the estimate: kept
  CHECK(time.now() == kJuneUtc + 100);
  CHECK(time.told(kJuneUtc + 160) == CardTime::Told::kAccepted);
  CHECK(time.now() == kJuneUtc + 160);
  time.reset();
  CHECK(time.uptime() == 0);
  CHECK(time.now() == CardTime::kBuildTime);
  CHECK_FALSE(time.from_terminal());
}

TEST_CASE("the toolkit asks the date at session start and the idle period runs until the next refresh") {
  ToolkitRig t;
  t.terminal.date = june();
  t.terminal.start(dated_profile());
  CHECK(t.terminal.date_requests == 1);
  CHECK(t.rig.card.time().from_terminal());
  CHECK(t.rig.card.time().now() == kJuneUtc);
  REQUIRE(t.terminal.deadline_commands.size() == 1);
  CHECK(t.terminal.deadline_commands[0].action == cat::qualifier::kTimerStart);
  CHECK(t.terminal.deadline_commands[0].seconds == Deadlines::kClockRefresh);
  CHECK(t.toolkit.deadlines().state() == Deadlines::State::kRunning);

  SUBCASE("after the refresh period the date is asked again; a backwards answer is refused") {
    t.terminal.date = june(5);  // 5 minutes later than the first answer, but the card counted 10
    expire(t, Deadlines::kClockRefresh);
    CHECK(t.rig.card.time().uptime() == Deadlines::kClockRefresh);
    CHECK(t.terminal.date_requests == 2);
    CHECK(t.rig.card.time().now() == kJuneUtc + Deadlines::kClockRefresh);  // kept: never backwards
    CHECK(t.log.contains("kept the card's (never backwards)"));
    CHECK(t.terminal.deadline_commands.back().seconds == Deadlines::kClockRefresh);
    t.terminal.date = june(30);
    expire(t, Deadlines::kClockRefresh);
    CHECK(t.terminal.date_requests == 3);
    CHECK(t.rig.card.time().now() == kJuneUtc + 30 * 60);
  }
  SUBCASE("no answer keeps the running estimate") {
    t.terminal.date.reset();
    expire(t, Deadlines::kClockRefresh);
    CHECK(t.terminal.date_requests == 2);
    CHECK(t.rig.card.time().now() == kJuneUtc + Deadlines::kClockRefresh);
    CHECK(t.log.contains("no date from the terminal"));
  }
  SUBCASE("a reset forgets the date and the uptime") {
    expire(t, Deadlines::kClockRefresh);
    t.rig.power_on();
    CHECK(t.rig.card.time().uptime() == 0);
    CHECK(t.rig.card.time().now() == CardTime::kBuildTime);
    CHECK_FALSE(t.rig.card.time().from_terminal());
  }
}

TEST_CASE("a terminal without the date keeps the build date") {
  ToolkitRig t;
  t.terminal.start(dated_profile(false));
  CHECK(t.terminal.date_requests == 0);
  CHECK_FALSE(t.rig.card.time().from_terminal());
  CHECK(t.rig.card.time().now() == CardTime::kBuildTime);
}

TEST_CASE("deadlines share one terminal timer: deactivate the idle period, tick, pass on time") {
  ToolkitRig t;
  t.terminal.date = june();
  t.terminal.start(dated_profile());
  Recorder r;
  Deadlines& d = t.toolkit.deadlines();
  // 10 s passed in the idle period: the deactivation's TERMINAL RESPONSE says 590 s were left.
  t.terminal.deadline_left = Deadlines::kClockRefresh - 10;
  REQUIRE(d.start(Deadlines::kHttpFirst + 2, 5, r));
  REQUIRE(d.start(Deadlines::kDefenceFirst, 9, r));
  CHECK_FALSE(d.start(Deadlines::kSlots, 5, r));
  CHECK_FALSE(d.start(0, 0, r));
  poll(t);
  REQUIRE(t.terminal.deadline_commands.size() == 3);
  CHECK(t.terminal.deadline_commands[1].action == cat::qualifier::kTimerDeactivate);
  CHECK(t.terminal.deadline_commands[2].action == cat::qualifier::kTimerStart);
  CHECK(t.terminal.deadline_commands[2].seconds == Deadlines::kTick);
  CHECK(t.rig.card.time().uptime() == 10);
  CHECK(t.rig.card.time().now() == kJuneUtc + 10);
  // Ticks of kTick seconds while a deadline is pending: the first passes at uptime 15.
  expire(t, 2);
  expire(t, 2);
  CHECK(r.passed.empty());
  CHECK(t.terminal.deadline_commands.back().seconds == 1);  // the last second to the deadline
  expire(t, 1);
  CHECK(t.rig.card.time().uptime() == 15);
  CHECK(r.passed == std::vector<u8>{Deadlines::kHttpFirst + 2});
  CHECK_FALSE(d.pending(Deadlines::kHttpFirst + 2));
  // A stopped deadline never passes; the other one still does.
  REQUIRE(d.start(Deadlines::kTlsFirst, 3, r));
  d.stop(Deadlines::kTlsFirst);
  expire(t, 2);
  expire(t, 2);
  CHECK(t.rig.card.time().uptime() == 19);
  CHECK(r.passed == std::vector<u8>{Deadlines::kHttpFirst + 2, Deadlines::kDefenceFirst});
  // Nothing pending: back to the idle period until the next refresh (600 s after the first).
  CHECK(t.terminal.deadline_commands.back().seconds == Deadlines::kClockRefresh - 19);
}

TEST_CASE("a deactivation that finds the timer run out counts the whole period and ignores its late envelope") {
  ToolkitRig t;
  t.terminal.start(dated_profile(false));
  Recorder r;
  t.terminal.deadline_left.reset();  // the terminal answers 24: the timer had expired
  REQUIRE(t.toolkit.deadlines().start(Deadlines::kHttpFirst, 4, r));
  poll(t);
  CHECK(t.rig.card.time().uptime() == Deadlines::kClockRefresh);
  expire(t, Deadlines::kClockRefresh);  // the owed envelope: no second count
  CHECK(t.rig.card.time().uptime() == Deadlines::kClockRefresh);
  expire(t, 2);
  expire(t, 2);
  CHECK(r.passed == std::vector<u8>{Deadlines::kHttpFirst});
}

TEST_CASE("without TIMER MANAGEMENT deadlines are kept but never pass, and the uptime stays") {
  ToolkitRig t;
  cat::TerminalProfile p = cat::scws_gateway_profile();
  p.timer_management_start_stop = false;
  t.terminal.start(profile_bytes(p));
  Recorder r;
  REQUIRE(t.toolkit.deadlines().start(Deadlines::kHttpFirst, 4, r));
  CHECK_FALSE(t.toolkit.deadlines().timers_available());
  poll(t);
  CHECK(t.terminal.deadline_commands.empty());
  CHECK(t.rig.card.time().uptime() == 0);
  CHECK(t.log.contains("no TIMER MANAGEMENT"));
}
