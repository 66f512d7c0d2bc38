// `scws bench attack`: the parsing of the admin applet's answers (docs/protocol.md section 15),
// checked against the card's own serializer, and the memory figures. The attack rows need root
// and a private pcscd; `scws bench attack` itself runs them (tests/e2e/test_bench_attack.py).
#include "sim/bench/bench_attack.hpp"

#include <doctest/doctest.h>

#include <array>
#include <string>
#include <vector>

#include "card/defence/detector.hpp"
#include "card/defence/incident_queue.hpp"

using namespace scws;
using namespace scws::sim;

namespace {

card::Incident sample_incident() {
  card::Incident in;
  in.sequence = 0x01020304;
  in.iccid = {0x98, 0x88, 0x12, 0x01, 0x00, 0x00, 0x00, 0x00, 0x10, 0xF7};  // 8988211000000000017, F filler
  in.rule = card::DetectionRule::kTlsUnknownPsk;
  in.port = 10443;
  in.events = 3;
  in.threshold = 3;
  in.window_seconds = 60;
  in.first_time = 1700000000;
  in.last_time = 1700000004;
  in.time_from_terminal = true;
  in.port_closed = true;
  in.last_kind = card::SecurityEventKind::kTlsUnknownPskIdentity;
  in.connection = 5;
  in.detail = 0x0115;
  const std::string evidence = "GET /x";
  in.evidence_length = static_cast<u8>(evidence.size());
  for (std::size_t i = 0; i < evidence.size(); ++i) in.evidence[i] = static_cast<u8>(evidence[i]);
  return in;
}

}  // namespace

TEST_CASE("an incident record the card serializes parses back field by field") {
  std::array<u8, card::IncidentQueue::kRecordSize> bytes{};
  static_assert(card::IncidentQueue::kRecordSize == kIncidentRecordSize);
  card::IncidentQueue::serialize(sample_incident(), bytes);
  const auto r = parse_incident_record(bytes);
  REQUIRE(r.has_value());
  CHECK(r->sequence == 0x01020304);
  CHECK(r->iccid == "8988211000000000017");
  CHECK(r->rule == 2);
  CHECK(rule_name(r->rule) == "tls-unknown-psk");
  CHECK(r->port == 10443);
  CHECK(r->events == 3);
  CHECK(r->threshold == 3);
  CHECK(r->window_seconds == 60);
  CHECK(r->first_time == 1700000000);
  CHECK(r->last_time == 1700000004);
  CHECK(r->time_from_terminal);
  CHECK(r->port_closed);
  CHECK(r->last_kind == static_cast<unsigned>(card::SecurityEventKind::kTlsUnknownPskIdentity));
  CHECK(r->connection == 5);
  CHECK(r->detail == 0x0115);
  CHECK(std::string(r->evidence.begin(), r->evidence.end()) == "GET /x");
  const std::string line = describe_incident(*r);
  CHECK(line.find("#16909060 tls-unknown-psk port 10443: 3 events (threshold 3 / 60 s) in 4 s") == 0);
  CHECK(line.find("evidence \"GET /x\"") != std::string::npos);
}

TEST_CASE("a record with a wrong CRC, format or length is refused") {
  std::array<u8, card::IncidentQueue::kRecordSize> bytes{};
  card::IncidentQueue::serialize(sample_incident(), bytes);
  auto flipped = bytes;
  flipped[20] ^= 0x01;  // the events counter: the CRC no longer holds
  CHECK_FALSE(parse_incident_record(flipped).has_value());
  auto format = bytes;
  format[0] = 0x02;
  CHECK_FALSE(parse_incident_record(format).has_value());
  CHECK_FALSE(parse_incident_record(Bytes(bytes.data(), bytes.size() - 1)).has_value());
}

TEST_CASE("the queue summary's 20 bytes parse as docs/protocol.md section 15.3 lays them out") {
  // capacity 32, count 2, damaged, first 7, last 9, next 10, dropped 1
  const std::vector<u8> data = {0x20, 0x02, 0x01, 0x00, 0, 0, 0, 7, 0, 0, 0, 9, 0, 0, 0, 10, 0, 0, 0, 1};
  const auto s = parse_queue_summary(data);
  REQUIRE(s.has_value());
  CHECK(s->capacity == 32);
  CHECK(s->count == 2);
  CHECK(s->damaged);
  CHECK(s->first == 7);
  CHECK(s->last == 9);
  CHECK(s->next == 10);
  CHECK(s->dropped == 1);
  // The empty queue of a fresh demo card (tests/e2e/test_admin_applet.py's bytes).
  const std::vector<u8> empty = {0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0};
  const auto e = parse_queue_summary(empty);
  REQUIRE(e.has_value());
  CHECK(e->count == 0);
  CHECK_FALSE(e->damaged);
  CHECK(e->next == 1);
  CHECK_FALSE(parse_queue_summary(Bytes(empty.data(), 19)).has_value());
}

TEST_CASE("the memory figures: the windows are part of the detector, the queue's NVM is header plus records") {
  const MemoryFigures m = memory_figures(32);
  CHECK(m.detector == sizeof(card::Detector));
  CHECK(m.windows > 0);
  CHECK(m.windows < m.detector);
  CHECK(m.windows % (m.guarded_ports * m.rules) == 0);
  CHECK(m.record == 60);
  CHECK(m.queue_nvm == 20 + 32 * 60);  // docs/protocol.md section 15.1: 1940 bytes for 32
  CHECK(m.capacity == 32);
}

TEST_CASE("the report without the stack still gives the memory figures") {
  AttackBenchResult r;
  r.memory = memory_figures(32);
  r.stack_note = "needs root";
  const std::string human = format_human(r);
  CHECK(human.find("sizeof(card::Detector) = ") != std::string::npos);
  CHECK(human.find("NVM per incident: 60 bytes") != std::string::npos);
  CHECK(human.find("not measured: needs root") != std::string::npos);
  const std::string json = format_json(r);
  CHECK(json.find("\"nvm_per_incident\": 60") != std::string::npos);
  CHECK(json.find("\"measured\": false") != std::string::npos);
}
