// The card's attack detection and response (card/defence/detector.hpp): rules over sliding windows on
// the card's clock, one incident per attack written in the same transaction as the port's closed
// state, the port kept closed across power cycles, the cool-down and administrator policies, the
// settings' byte layout, and power cuts at every NVM write while an incident is recorded.
#include <doctest/doctest.h>

#include <memory>
#include <vector>

#include "card/defence/detector.hpp"
#include "card/os/arena.hpp"
#include "card/os/nvm_device.hpp"
#include "card/os/transient.hpp"

using namespace scws;
using namespace scws::card;

namespace {

constexpr u16 kHttp = 3516;
constexpr u16 kTls = 10443;
constexpr u32 kImageSize = 64 * 1024;
constexpr u32 kSinkObject = 0x04000001;  // the fake sink's own object: [0..3] incidents kept

class NullEndpoint final : public StreamEndpoint {
 public:
  bool open(std::size_t) noexcept override { return true; }
  std::size_t receive(std::size_t, Bytes data) noexcept override { return data.size(); }
  std::size_t send(std::size_t, MutableBytes) noexcept override { return 0; }
  [[nodiscard]] bool wants_close(std::size_t) const noexcept override { return false; }
  void close(std::size_t) noexcept override {}
};

// Appends by counting in an NVM object, so that a test sees whether the incident and the port state
// were written together.
class NvmSink final : public IncidentSink {
 public:
  explicit NvmSink(ObjectStore& objects) : objects_(objects) {}
  Result<u32, NvmError> append(Incident& incident) noexcept override {
    if (!objects_.nvm().in_transaction()) return fail(NvmError::kNotInTransaction);
    std::array<u8, 4> n{};
    if (auto found = objects_.find(kSinkObject); !found) {
      SCWS_TRY(objects_.create(kSinkObject, 4));
    }
    SCWS_TRY(objects_.read(kSinkObject, 0, n));
    const u32 count = load_be32(n.data()) + 1;
    store_be32(n.data(), count);
    SCWS_TRY(objects_.write(kSinkObject, 0, n));
    incident.sequence = count;
    seen.push_back(incident);
    return count;
  }
  u32 stored() {
    std::array<u8, 4> n{};
    if (!objects_.read(kSinkObject, 0, n)) return 0;
    return load_be32(n.data());
  }
  std::vector<Incident> seen;

 private:
  ObjectStore& objects_;
};

// One card: an image, its NVM, the card OS services a detector needs, a toolkit with the two ports.
struct Rig {
  explicit Rig(std::vector<u8>& image, NvmDevice* device = nullptr)
      : ram_device(image), nvm(device != nullptr ? *device : ram_device), objects(nvm), arena(ram),
        transient(arena), ctx(nvm, objects, arena, transient, tracer, events, time), sink(objects),
        detector(toolkit, sink) {}

  static void format(std::vector<u8>& image, const DetectionSettings* settings = nullptr) {
    RamNvmDevice device(image);
    Nvm nvm(device);
    REQUIRE(nvm.format(4096).ok());
    ObjectStore objects(nvm);
    REQUIRE(nvm.begin().ok());
    REQUIRE(objects.format().ok());
    if (settings != nullptr) REQUIRE(store_detection_settings(objects, *settings).ok());
    REQUIRE(nvm.commit().ok());
  }

  void power_up() {
    REQUIRE(nvm.mount().ok());
    events.reset();
    REQUIRE(toolkit.add_server_port(kHttp, 1400, endpoint, 4).ok());
    REQUIRE(toolkit.add_server_port(kTls, 1400, endpoint, 3).ok());
    detector.power_up(ctx);
  }

  void report(SecurityEventKind kind, u16 port, u32 times = 1) {
    for (u32 i = 0; i < times; ++i) events.report(kind, port, 0, 0);
  }

  RamNvmDevice ram_device;
  Nvm nvm;
  ObjectStore objects;
  alignas(16) std::array<u8, 4096> ram{};
  Arena arena;
  TransientMemory transient;
  Tracer tracer;
  SecurityEvents events;
  CardTime time;
  CardContext ctx;
  NullEndpoint endpoint;
  CatToolkit toolkit;
  NvmSink sink;
  Detector detector;
};

}  // namespace

TEST_CASE("each security event counts for its rule, and only attacks count") {
  DetectionRule rule{};
  CHECK((rule_for(SecurityEventKind::kTlsBadCertificate, rule) && rule == DetectionRule::kTlsHandshakeFailures));
  CHECK((rule_for(SecurityEventKind::kTlsNoClientCertificate, rule) && rule == DetectionRule::kTlsHandshakeFailures));
  CHECK((rule_for(SecurityEventKind::kTlsUnknownPskIdentity, rule) && rule == DetectionRule::kTlsUnknownPsk));
  CHECK((rule_for(SecurityEventKind::kTlsRenegotiation, rule) && rule == DetectionRule::kTlsBadRecords));
  CHECK((rule_for(SecurityEventKind::kHttpAuthFailure, rule) && rule == DetectionRule::kHttpPasswordGuessing));
  CHECK((rule_for(SecurityEventKind::kHttpMalformed, rule) && rule == DetectionRule::kHttpMalformedFlood));
  CHECK((rule_for(SecurityEventKind::kChannelEstablished, rule) && rule == DetectionRule::kConnectionFlood));
  CHECK((rule_for(SecurityEventKind::kHttpSlowClient, rule) && rule == DetectionRule::kSlowClients));
  CHECK((rule_for(SecurityEventKind::kTlsTimeout, rule) && rule == DetectionRule::kSlowClients));
  CHECK_FALSE(rule_for(SecurityEventKind::kHttpIdleClient, rule));  // a quiet keep-alive client is legitimate
  CHECK_FALSE(rule_for(SecurityEventKind::kChannelClosed, rule));
  CHECK_FALSE(rule_for(SecurityEventKind::kTlsRefused, rule));
  CHECK_FALSE(rule_for(SecurityEventKind::kAdmVerifyFailure, rule));
}

TEST_CASE("settings: defaults are valid, the byte layout round-trips, out-of-range values are refused") {
  const DetectionSettings d = default_detection_settings();
  CHECK(d.valid());
  std::array<u8, DetectionSettings::kEncodedSize> bytes{};
  REQUIRE(encode(d, bytes));
  CHECK(bytes[0] == 1);
  CHECK(bytes[1] == 1);                 // re-open after the cool-down
  CHECK(bytes[2] == 0x01);              // 300 s
  CHECK(bytes[3] == 0x2C);
  CHECK(bytes[4] == 1);                 // other ports keep serving
  CHECK(bytes[6] == 0x00);              // tls-handshake-failures: 5 in 60 s
  CHECK(bytes[7] == 0x05);
  CHECK(bytes[9] == 0x3C);
  DetectionSettings back;
  REQUIRE(decode(bytes, back));
  CHECK(back.rule(DetectionRule::kConnectionFlood).threshold == d.rule(DetectionRule::kConnectionFlood).threshold);

  auto refused = [&](std::size_t at, u8 value) {
    auto b = bytes;
    b[at] = value;
    DetectionSettings s = default_detection_settings();
    s.cooldown_seconds = 7;
    const bool ok = decode(b, s);
    CHECK(s.cooldown_seconds == 7);  // unchanged when refused
    return !ok;
  };
  CHECK(refused(0, 2));     // version
  CHECK(refused(1, 3));     // policy
  CHECK(refused(4, 0));     // other ports
  CHECK(refused(5, 1));     // reserved
  CHECK(refused(9, 0));     // window 0 (with byte 8 = 0)
  CHECK(refused(6, 0xFF));  // threshold above kMaxThreshold
  CHECK_FALSE(decode(Bytes(bytes).first(33), back));
}

TEST_CASE("a rule fires at its threshold: one incident, the port closed in NVM in the same transaction") {
  std::vector<u8> image(kImageSize);
  Rig::format(image);
  Rig rig(image);
  rig.power_up();
  rig.report(SecurityEventKind::kTlsBadCertificate, kTls, 4);
  CHECK(rig.detector.window_count(kTls, DetectionRule::kTlsHandshakeFailures) == 4);
  CHECK_FALSE(rig.detector.port_closed(kTls));
  CHECK(rig.sink.seen.empty());
  rig.report(SecurityEventKind::kTlsBadCertificate, kTls);
  CHECK(rig.detector.port_closed(kTls));
  CHECK_FALSE(rig.detector.port_closed(kHttp));  // the other port keeps serving (default policy)
  REQUIRE(rig.sink.seen.size() == 1);
  const Incident& i = rig.sink.seen[0];
  CHECK(i.rule == DetectionRule::kTlsHandshakeFailures);
  CHECK(i.port == kTls);
  CHECK(i.events == 5);
  CHECK(i.threshold == 5);
  CHECK(i.window_seconds == 60);
  CHECK(i.port_closed);
  CHECK(i.last_kind == SecurityEventKind::kTlsBadCertificate);
  CHECK(rig.sink.stored() == 1);
  CHECK_FALSE(rig.detector.port_may_open(kTls));
  CHECK(rig.detector.port_may_open(kHttp));
  // One attack, one incident: the closed port counts nothing more.
  rig.report(SecurityEventKind::kTlsBadCertificate, kTls, 20);
  CHECK(rig.sink.seen.size() == 1);
  CHECK(rig.detector.incidents_recorded() == 1);
}

TEST_CASE("events outside the window do not add up; a rule with threshold 0 is off") {
  std::vector<u8> image(kImageSize);
  DetectionSettings s = default_detection_settings();
  s.rule(DetectionRule::kHttpPasswordGuessing) = {3, 40};  // buckets of 10 s
  s.rule(DetectionRule::kHttpMalformedFlood) = {0, 60};
  Rig::format(image, &s);
  Rig rig(image);
  rig.power_up();
  CHECK(rig.detector.settings_source() == SettingsSource::kImage);
  rig.report(SecurityEventKind::kHttpAuthFailure, kHttp, 2);
  rig.time.advance(45);  // the two are out of the window now
  rig.report(SecurityEventKind::kHttpAuthFailure, kHttp, 2);
  CHECK(rig.detector.window_count(kHttp, DetectionRule::kHttpPasswordGuessing) == 2);
  CHECK_FALSE(rig.detector.port_closed(kHttp));
  rig.time.advance(20);  // still inside: 20 s < 40 s - one bucket
  rig.report(SecurityEventKind::kHttpAuthFailure, kHttp);
  CHECK(rig.detector.port_closed(kHttp));
  REQUIRE(rig.sink.seen.size() == 1);
  CHECK(rig.sink.seen[0].events == 3);
  rig.report(SecurityEventKind::kHttpMalformed, kTls, 500);
  CHECK(rig.sink.seen.size() == 1);
  CHECK(rig.detector.window_count(kTls, DetectionRule::kHttpMalformedFlood) == 0);
}

TEST_CASE("a closed port stays closed across a power cycle; the cool-down re-opens it with empty windows") {
  std::vector<u8> image(kImageSize);
  DetectionSettings s = default_detection_settings();
  s.cooldown_seconds = 30;
  Rig::format(image, &s);
  {
    Rig rig(image);
    rig.power_up();
    rig.report(SecurityEventKind::kTlsUnknownPskIdentity, kTls, 3);
    REQUIRE(rig.detector.port_closed(kTls));
  }
  Rig rig(image);  // power cycle: RAM is new
  rig.power_up();
  CHECK(rig.detector.port_closed(kTls));
  CHECK_FALSE(rig.detector.cooldown_running(kTls));  // it starts when the terminal asks for the port
  CHECK_FALSE(rig.detector.port_may_open(kTls));
  CHECK(rig.detector.cooldown_running(kTls));
  CHECK(rig.toolkit.deadlines().pending(Detector::kCooldownSlot));
  std::array<u8, Detector::kPortStatesMax> states{};
  auto n = rig.detector.read_port_states(rig.ctx, states);
  REQUIRE(n.ok());
  CHECK(states[0] == 2);  // both registered ports
  rig.time.advance(10);
  rig.detector.deadline_passed(Detector::kCooldownSlot);  // too early: nothing happens
  CHECK(rig.detector.port_closed(kTls));
  CHECK(rig.toolkit.deadlines().pending(Detector::kCooldownSlot));
  rig.time.advance(20);
  rig.detector.deadline_passed(Detector::kCooldownSlot);
  CHECK_FALSE(rig.detector.port_closed(kTls));
  CHECK_FALSE(rig.toolkit.deadlines().pending(Detector::kCooldownSlot));
  CHECK(rig.detector.port_may_open(kTls));
  CHECK(rig.detector.window_count(kTls, DetectionRule::kTlsUnknownPsk) == 0);
  Rig again(image);
  again.power_up();
  CHECK_FALSE(again.detector.port_closed(kTls));  // the re-opening is NVM state too
}

TEST_CASE("re-opening only on an administrator's order; closing the other ports too") {
  std::vector<u8> image(kImageSize);
  DetectionSettings s = default_detection_settings();
  s.reopen = ReopenPolicy::kAdminOnly;
  s.other_ports = OtherPortsPolicy::kClose;
  Rig::format(image, &s);
  Rig rig(image);
  rig.power_up();
  rig.report(SecurityEventKind::kTlsBadRecord, kTls, 5);
  CHECK(rig.detector.port_closed(kTls));
  CHECK(rig.detector.port_closed(kHttp));
  CHECK(rig.sink.seen.size() == 1);  // one attack, one incident, two ports closed
  CHECK_FALSE(rig.detector.port_may_open(kTls));
  CHECK_FALSE(rig.detector.cooldown_running(kTls));  // no cool-down
  CHECK_FALSE(rig.toolkit.deadlines().pending(Detector::kCooldownSlot));
  std::array<u8, Detector::kPortStatesMax> states{};
  auto n = rig.detector.read_port_states(rig.ctx, states);
  REQUIRE(n.ok());
  REQUIRE(n.value() == 1 + 2 * Detector::kPortReportSize);
  CHECK(states[0] == 2);
  CHECK(states[3] == 1);                                   // closed
  CHECK(states[4] == static_cast<u8>(DetectionRule::kTlsBadRecords));
  CHECK(load_be32(&states[5]) == 1);                       // incident 1
  CHECK(load_be32(&states[13]) == Detector::kAdminOnly);
  CHECK(rig.detector.set_port_open(rig.ctx, 4242, true).error() == CardError::kReferencedDataNotFound);
  REQUIRE(rig.detector.set_port_open(rig.ctx, kTls, true).ok());
  CHECK_FALSE(rig.detector.port_closed(kTls));
  CHECK(rig.detector.port_closed(kHttp));
  Rig again(image);
  again.power_up();
  CHECK_FALSE(again.detector.port_closed(kTls));
  CHECK(again.detector.port_closed(kHttp));
  REQUIRE(again.detector.set_port_open(again.ctx, kHttp, false).ok());  // already closed: nothing to do
  REQUIRE(again.detector.set_port_open(again.ctx, kHttp, true).ok());
  CHECK_FALSE(again.detector.port_closed(kHttp));
}

TEST_CASE("settings written through DefenceControl are validated, stored and used at once") {
  std::vector<u8> image(kImageSize);
  Rig::format(image);
  Rig rig(image);
  rig.power_up();
  CHECK(rig.detector.settings_source() == SettingsSource::kDefaults);
  std::array<u8, DetectionSettings::kEncodedSize> bytes{};
  REQUIRE(rig.detector.read_settings(rig.ctx, bytes).ok());
  std::array<u8, 10> small{};
  CHECK(rig.detector.read_settings(rig.ctx, small).error() == CardError::kWrongLength);
  bytes[6 + 4 * 5 + 1] = 2;  // connection-flood threshold 2
  bytes[6 + 4 * 5 + 0] = 0;
  REQUIRE(rig.detector.write_settings(rig.ctx, bytes).ok());
  bytes[0] = 9;
  CHECK(rig.detector.write_settings(rig.ctx, bytes).error() == CardError::kWrongData);
  rig.report(SecurityEventKind::kChannelEstablished, kHttp, 2);
  CHECK(rig.detector.port_closed(kHttp));
  Rig again(image);
  again.power_up();
  CHECK(again.detector.settings_source() == SettingsSource::kImage);
  CHECK(again.detector.settings().rule(DetectionRule::kConnectionFlood).threshold == 2);
}

TEST_CASE("an event during an applet's transaction closes the port at once and is recorded after it") {
  std::vector<u8> image(kImageSize);
  Rig::format(image);
  Rig rig(image);
  rig.power_up();
  REQUIRE(rig.ctx.begin_transaction().ok());
  rig.report(SecurityEventKind::kTlsUnknownPskIdentity, kTls, 3);
  CHECK(rig.detector.port_closed(kTls));
  CHECK(rig.sink.seen.empty());
  REQUIRE(rig.ctx.commit_transaction().ok());
  rig.report(SecurityEventKind::kChannelClosed, kHttp);  // any next event flushes
  CHECK(rig.sink.seen.size() == 1);
  CHECK(rig.sink.stored() == 1);
}

TEST_CASE("power cut at every NVM write while an incident is recorded: incident and port state together or not at all") {
  std::vector<u8> pristine(kImageSize);
  Rig::format(pristine);
  u64 cut = 0;
  for (;; ++cut) {
    std::vector<u8> image = pristine;
    bool finished = false;
    {
      RamNvmDevice inner(image);
      PowerLossNvmDevice lossy(inner, cut);
      Rig rig(image, &lossy);
      rig.power_up();
      rig.report(SecurityEventKind::kTlsBadCertificate, kTls, 5);
      finished = !lossy.power_cut();
    }
    Rig after(image);  // reboot on the plain device
    after.power_up();
    const u32 stored = after.sink.stored();
    CHECK(stored <= 1);
    CHECK(after.detector.port_closed(kTls) == (stored == 1));
    if (finished) {
      CHECK(stored == 1);
      break;
    }
  }
  CHECK(cut > 2);  // the sweep cut inside the transaction at least a few times
}
