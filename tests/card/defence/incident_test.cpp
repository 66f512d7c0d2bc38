#include "card/defence/incident.hpp"

#include <doctest/doctest.h>

#include <cstring>

using namespace scws::card;

TEST_CASE("every detection rule has its own stable name") {
  for (std::size_t i = 0; i < kDetectionRules; ++i) {
    const auto rule = static_cast<DetectionRule>(i + 1);
    CHECK(rule_index(rule) == i);
    CHECK(std::strcmp(detection_rule_name(rule), "?") != 0);
    for (std::size_t j = 0; j < i; ++j)
      CHECK(std::strcmp(detection_rule_name(rule), detection_rule_name(static_cast<DetectionRule>(j + 1))) != 0);
  }
  CHECK(std::strcmp(detection_rule_name(DetectionRule::kSlowClients), "slow-clients") == 0);
  CHECK(std::strcmp(detection_rule_name(static_cast<DetectionRule>(0)), "?") == 0);
}
