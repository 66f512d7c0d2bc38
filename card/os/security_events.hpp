// The card's one security-event channel: every layer reports what it sees here (the toolkit its
// channels, the HTTP server malformed requests, failed authentication and slow clients, TLS its
// handshake failures, bad records and renegotiation attempts, the dispatcher commands an applet
// refused, the file system wrong ADM verifications). The card OS owns it; CardContext hands out a
// reference. It keeps per-port, per-kind counters since power-up and passes each event to one
// listener (the detection rules plug in there). No heap: everything is fixed-size and lives in RAM
// (the counters are lost at power-off, which is what "since power-up" means).
//
// Ports: the TCP port of a BIP server port (TS 102 223 annex M), or kCardPort (0) for events of
// the APDU interface (VERIFY, refused commands). The first kMaxPorts distinct ports get counters;
// events of further ports still reach the listener and are counted in overflow().
#pragma once

#include <array>
#include <cstddef>

#include "base/bytes.hpp"

namespace scws::card {

// The values are stored in incident records (docs/protocol.md section 15.2) and sent to the admin
// server: stable, numbered explicitly.
enum class SecurityEventKind : u8 {
  kChannelEstablished = 0,       // a client connected to a server port (TS 102 223 7.5.5 channel status)
  kChannelClosed = 1,            // a client connection ended (by either side)
  kHttpMalformed = 2,            // a request refused by the parser: detail = HTTP status (400, 414, 431, ...)
  kHttpAuthFailure = 3,          // Basic credentials given and refused (RFC 7617): wrong user or password
  kHttpSlowClient = 4,           // a request head or body that did not arrive within its deadline
  kHttpIdleClient = 5,           // a keep-alive connection closed for idleness
  kTlsRefused = 6,               // a TLS client refused at connect (admission, or no RAM for the session)
  kTlsNoClientCertificate = 7,   // the handshake failures by reason (tls/tls_error.hpp TlsFailure)
  kTlsBadCertificate = 8,
  kTlsUnknownPskIdentity = 9,
  kTlsBadRecord = 10,
  kTlsBadHandshake = 11,
  kTlsPeerAlert = 12,
  kTlsArenaExhausted = 13,
  kTlsRenegotiation = 14,
  kTlsTimeout = 15,
  kTlsInternal = 16,
  kCommandRefused = 17,          // an applet refused a command: evidence = CLA INS P1 P2, detail = SW
  kAdmVerifyFailure = 18,        // a wrong ADM key presented to VERIFY: detail = tries left
  kAdmBlocked = 19,              // VERIFY of the ADM key while it is blocked
};
inline constexpr std::size_t kSecurityEventKinds = static_cast<std::size_t>(SecurityEventKind::kAdmBlocked) + 1;

// A stable short name for traces, /status and reports ("tls-bad-record").
const char* security_event_name(SecurityEventKind kind) noexcept;

struct SecurityEvent {
  static constexpr std::size_t kMaxEvidence = 16;
  SecurityEventKind kind = SecurityEventKind::kChannelEstablished;
  u16 port = 0;            // TCP port, or SecurityEvents::kCardPort
  u8 connection = 0xFF;    // the toolkit's connection slot (0..6), 0xFF when none
  u16 detail = 0;          // per kind: HTTP status, status word, tries left
  u8 evidence_length = 0;
  std::array<u8, kMaxEvidence> evidence{};  // e.g. the start of a rejected request line

  [[nodiscard]] Bytes evidence_bytes() const noexcept { return Bytes(evidence.data(), evidence_length); }
};

// Builds an event; evidence longer than kMaxEvidence is cut.
SecurityEvent make_security_event(SecurityEventKind kind, u16 port, u8 connection = 0xFF, u16 detail = 0,
                                  Bytes evidence = {}) noexcept;

// The detection rules (a later part) implement this; it is called synchronously from report(),
// after the counters moved, in the reporting layer's context: it must not report in turn.
class SecurityEventListener {
 public:
  virtual ~SecurityEventListener() = default;
  virtual void on_security_event(const SecurityEvent& event) noexcept = 0;
};

class SecurityEvents {
 public:
  static constexpr u16 kCardPort = 0;
  static constexpr std::size_t kMaxPorts = 4;  // the APDU interface, the HTTP port, the TLS port, one spare
  static_assert(kMaxPorts >= 3, "the card, the HTTP port and the TLS port each need counters");
  static_assert(kSecurityEventKinds <= 32, "kinds fit a report mask");

  SecurityEvents() noexcept = default;
  SecurityEvents(const SecurityEvents&) = delete;
  SecurityEvents& operator=(const SecurityEvents&) = delete;

  // Counts the event and passes it to the listener. Re-entrant calls (from the listener) are counted
  // but not passed on.
  void report(const SecurityEvent& event) noexcept;
  void report(SecurityEventKind kind, u16 port, u8 connection = 0xFF, u16 detail = 0, Bytes evidence = {}) noexcept {
    report(make_security_event(kind, port, connection, detail, evidence));
  }

  // Power-up: every counter back to zero; the listener stays.
  void reset() noexcept;

  // Events of this kind on this port since power-up (0 for a port never seen).
  [[nodiscard]] u32 count(u16 port, SecurityEventKind kind) const noexcept;
  // Events of this kind on every port, overflowed ones included.
  [[nodiscard]] u32 total(SecurityEventKind kind) const noexcept;
  // Events of ports beyond the kMaxPorts with counters.
  [[nodiscard]] u32 overflow() const noexcept { return overflow_; }

  // One listener at a time (nullptr: none). It must outlive the card's session.
  void set_listener(SecurityEventListener* listener) noexcept { listener_ = listener; }
  [[nodiscard]] SecurityEventListener* listener() const noexcept { return listener_; }

 private:
  struct PortCounters {
    bool used = false;
    u16 port = 0;
    std::array<u32, kSecurityEventKinds> counts{};
  };
  [[nodiscard]] const PortCounters* find(u16 port) const noexcept;

  std::array<PortCounters, kMaxPorts> ports_{};
  std::array<u32, kSecurityEventKinds> overflow_counts_{};
  u32 overflow_ = 0;
  SecurityEventListener* listener_ = nullptr;
  bool delivering_ = false;
};

}  // namespace scws::card
