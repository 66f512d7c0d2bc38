// The card's security-event channel (card/os/security_events.hpp): per-port, per-kind counters,
// the listener, overflow, saturation, reset at power-up.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "card/os/security_events.hpp"
#include "tests/card/os/card_fixture.hpp"

using namespace scws;
using namespace scws::card;

namespace {

struct Recorder : SecurityEventListener {
  std::vector<SecurityEvent> seen;
  SecurityEvents* echo = nullptr;  // reports again from inside the listener
  void on_security_event(const SecurityEvent& e) noexcept override {
    seen.push_back(e);
    if (echo != nullptr) echo->report(SecurityEventKind::kTlsInternal, e.port);
  }
};

}  // namespace

TEST_CASE("security events are counted per port and kind, and passed to the listener") {
  SecurityEvents events;
  Recorder r;
  events.set_listener(&r);
  events.report(SecurityEventKind::kHttpAuthFailure, 3516, 2);
  events.report(SecurityEventKind::kHttpAuthFailure, 3516, 3);
  events.report(SecurityEventKind::kTlsBadCertificate, 10443, 5, 2);
  events.report(SecurityEventKind::kAdmVerifyFailure, SecurityEvents::kCardPort, 0xFF, 1);
  CHECK(events.count(3516, SecurityEventKind::kHttpAuthFailure) == 2);
  CHECK(events.count(10443, SecurityEventKind::kHttpAuthFailure) == 0);
  CHECK(events.count(10443, SecurityEventKind::kTlsBadCertificate) == 1);
  CHECK(events.count(9999, SecurityEventKind::kTlsBadCertificate) == 0);  // a port never seen
  CHECK(events.total(SecurityEventKind::kHttpAuthFailure) == 2);
  CHECK(events.count(SecurityEvents::kCardPort, SecurityEventKind::kAdmVerifyFailure) == 1);
  REQUIRE(r.seen.size() == 4);
  CHECK(r.seen[1].connection == 3);
  CHECK(r.seen[2].detail == 2);
  CHECK(r.seen[2].port == 10443);
  events.set_listener(nullptr);
  events.report(SecurityEventKind::kChannelEstablished, 3516);
  CHECK(r.seen.size() == 4);
  CHECK(events.count(3516, SecurityEventKind::kChannelEstablished) == 1);
}

TEST_CASE("security event evidence is cut at kMaxEvidence bytes") {
  const std::string line = "GET /a/very/long/path/that/goes/on HTTP/1.1";
  const SecurityEvent e = make_security_event(SecurityEventKind::kHttpMalformed, 3516, 1, 400,
                                              Bytes(reinterpret_cast<const u8*>(line.data()), line.size()));
  CHECK(e.evidence_length == SecurityEvent::kMaxEvidence);
  CHECK(std::string(reinterpret_cast<const char*>(e.evidence.data()), e.evidence_length) == line.substr(0, 16));
  CHECK(make_security_event(SecurityEventKind::kHttpMalformed, 3516).evidence_length == 0);
}

TEST_CASE("ports beyond kMaxPorts are counted as overflow and still reach the listener") {
  SecurityEvents events;
  Recorder r;
  events.set_listener(&r);
  for (u16 p = 1; p <= SecurityEvents::kMaxPorts + 2; ++p) events.report(SecurityEventKind::kChannelClosed, p);
  CHECK(events.overflow() == 2);
  CHECK(events.total(SecurityEventKind::kChannelClosed) == SecurityEvents::kMaxPorts + 2);
  CHECK(events.count(1, SecurityEventKind::kChannelClosed) == 1);
  CHECK(events.count(SecurityEvents::kMaxPorts + 1, SecurityEventKind::kChannelClosed) == 0);
  CHECK(r.seen.size() == SecurityEvents::kMaxPorts + 2);
}

TEST_CASE("a listener that reports in turn is counted but not called again; reset clears the counters") {
  SecurityEvents events;
  Recorder r;
  r.echo = &events;
  events.set_listener(&r);
  events.report(SecurityEventKind::kTlsBadRecord, 10443);
  CHECK(r.seen.size() == 1);
  CHECK(events.count(10443, SecurityEventKind::kTlsInternal) == 1);
  events.reset();
  CHECK(events.count(10443, SecurityEventKind::kTlsBadRecord) == 0);
  CHECK(events.total(SecurityEventKind::kTlsInternal) == 0);
  CHECK(events.listener() == &r);  // the listener stays across a power-up
}

TEST_CASE("every kind has a distinct name") {
  std::vector<std::string> names;
  for (std::size_t k = 0; k < kSecurityEventKinds; ++k) {
    const std::string n = security_event_name(static_cast<SecurityEventKind>(k));
    CHECK(n != "?");
    for (const std::string& other : names) CHECK(other != n);
    names.push_back(n);
  }
}

TEST_CASE("the card resets its security-event counters at every power-up") {
  scws::card::test::CardRig rig;
  rig.power_on();
  CHECK(rig.sw("0020000A083132333435363738") == "6A88");  // no ADM key: no event
  REQUIRE(rig.sw("00A4000C022FE2") == "9000");
  CHECK(rig.sw("00D60000021122") == "6982");
  CHECK(rig.card.security_events().count(SecurityEvents::kCardPort, SecurityEventKind::kCommandRefused) == 1);
  REQUIRE(rig.card.reset().ok());
  CHECK(rig.card.security_events().count(SecurityEvents::kCardPort, SecurityEventKind::kCommandRefused) == 0);
}
