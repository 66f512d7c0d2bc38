// Benchmark arithmetic and output. Measuring through the real stack is in pcsc_stack_test.cpp.
#include "sim/bench/bench_apdu.hpp"

#include <doctest/doctest.h>

using namespace scws;
using namespace scws::sim;

TEST_CASE("percentile uses the nearest rank") {
  std::vector<double> hundred;
  for (int i = 1; i <= 100; ++i) hundred.push_back(i);
  struct Row {
    double p;
    double expected;
  };
  // Nearest-rank definition: the ceil(p/100 * n)-th smallest sample.
  const Row rows[] = {{0, 1}, {1, 1}, {50, 50}, {99, 99}, {99.5, 100}, {100, 100}};
  for (const auto& row : rows) {
    CAPTURE(row.p);
    CHECK(percentile(hundred, row.p) == row.expected);
  }
  CHECK(percentile({7}, 50) == 7);
  CHECK(percentile({7}, 99) == 7);
  CHECK(percentile({}, 50) == 0);
  CHECK(percentile({1, 2, 3, 4}, 50) == 2);
}

TEST_CASE("bench figures come from the round trips: rate over busy time, median and p99") {
  std::vector<double> us(100, 100.0);
  us[99] = 1100.0;  // one slow APDU
  auto f = summarize("x", "reader", us, 2);
  CHECK(f.apdus == 100);
  CHECK(f.failures == 2);
  CHECK(f.busy_seconds == doctest::Approx(0.011));
  CHECK(f.apdus_per_second == doctest::Approx(100 / 0.011));
  CHECK(f.median_us == 100);
  CHECK(f.p99_us == 100);
  CHECK(f.min_us == 100);
  CHECK(f.max_us == 1100);
  auto none = summarize("y", "r", {}, 0);
  CHECK(none.apdus == 0);
  CHECK(none.apdus_per_second == 0);
}

TEST_CASE("bench output names both peers and the ratio, as text and as JSON") {
  ApduBenchResult r;
  r.ours = summarize("scws card", "scws bench 00 00", {100, 100, 100, 100}, 0);
  r.reference = summarize("reference card (90 00)", "scws bench 00 01", {50, 50, 50, 50}, 0);
  r.ratio = r.ours.apdus_per_second / r.reference.apdus_per_second;
  r.median_ratio = r.reference.median_us / r.ours.median_us;
  r.command_hex = "80 F2 00 0C";
  auto text = format_human(r);
  CHECK(text.find("scws card") != std::string::npos);
  CHECK(text.find("10000 APDU/s") != std::string::npos);
  CHECK(text.find("20000 APDU/s") != std::string::npos);
  CHECK(text.find("ratio ours/reference: 0.500 (APDU/s), 0.500 (median round trip)") != std::string::npos);
  auto json = format_json(r);
  CHECK(json.rfind("{\"benchmark\": \"apdu\"", 0) == 0);
  CHECK(json.find("\"command\": \"80 F2 00 0C\"") != std::string::npos);
  CHECK(json.find("\"ours\": {\"name\": \"scws card\", \"reader\": \"scws bench 00 00\", \"apdus\": 4") != std::string::npos);
  CHECK(json.find("\"apdus_per_second\": 20000.0") != std::string::npos);
  CHECK(json.find("\"ratio\": 0.5000, \"median_ratio\": 0.5000}") != std::string::npos);
  CHECK(json.back() == '\n');
}

TEST_CASE("reference card answers 90 00 to everything and gives a T=0/T=1 ATR") {
  ReferenceCard card;
  std::string error;
  CHECK_FALSE(card.powered());
  CHECK(card.power_on(error));
  CHECK(card.powered());
  u8 response[8];
  const u8 status[] = {0x80, 0xF2, 0x00, 0x0C};
  REQUIRE(card.process(status, response) == 2);
  CHECK(response[0] == 0x90);
  CHECK(response[1] == 0x00);
  CHECK(bytes_equal(card.atr(), kFallbackAtr));
  // TCK: the XOR of T0 .. TCK is zero (ISO 7816-3 8.2.5).
  u8 x = 0;
  for (std::size_t i = 1; i < sizeof kFallbackAtr; ++i) x = static_cast<u8>(x ^ kFallbackAtr[i]);
  CHECK(x == 0);
  card.power_off();
  CHECK_FALSE(card.powered());
}
