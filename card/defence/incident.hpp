// What the card's attack detection records (card/defence/detector.hpp) and keeps for the remote
// administration server (card/defence/incident_queue.hpp): one incident per attack, the rule that
// fired, the attacked port, the counters and the evidence the card can afford. docs/protocol.md
// gives the stored and transmitted layout.
#pragma once

#include <array>
#include <cstddef>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "card/os/nvm_device.hpp"
#include "card/os/security_events.hpp"

namespace scws::card {

// The detection rules; the values are stored in NVM and sent to the admin server: stable.
enum class DetectionRule : u8 {
  kTlsHandshakeFailures = 1,  // handshakes failed for the client's certificate: none, or not ours
  kTlsUnknownPsk = 2,         // handshakes with a PSK identity the card does not know
  kTlsBadRecords = 3,         // bad records, broken handshake messages, renegotiation attempts
  kHttpPasswordGuessing = 4,  // Basic authentication refused (RFC 7617)
  kHttpMalformedFlood = 5,    // requests the HTTP parser refused (4xx)
  kConnectionFlood = 6,       // channels established faster than a rate
  kSlowClients = 7,           // clients evicted for a request head, body or handshake too slow, or idle
};
inline constexpr std::size_t kDetectionRules = 7;

// A stable short name for traces, /status and reports ("tls-handshake-failures"); "?" if unknown.
const char* detection_rule_name(DetectionRule rule) noexcept;
// kDetectionRules entries: rule r at index r - 1.
[[nodiscard]] constexpr std::size_t rule_index(DetectionRule rule) noexcept { return static_cast<std::size_t>(rule) - 1; }

struct Incident {
  static constexpr std::size_t kIccidSize = 10;  // EF.ICCID, TS 102 221 13.2
  u32 sequence = 0;           // assigned by the queue: 1, 2, ... never reused on this card
  std::array<u8, kIccidSize> iccid{};  // the card's identity when the incident was recorded
  DetectionRule rule = DetectionRule::kTlsHandshakeFailures;
  u16 port = 0;               // TCP port attacked (SecurityEvents::kCardPort for the APDU interface)
  u16 events = 0;             // events counted in the window when the rule fired
  u16 threshold = 0;          // the rule's threshold and window then
  u16 window_seconds = 0;
  u32 first_time = 0;         // card time (seconds since 1970-01-01 UTC) of the first and the last
  u32 last_time = 0;          //   event counted
  bool time_from_terminal = false;  // false: the card never learnt the date this session
  bool port_closed = false;   // the response closed the port
  SecurityEventKind last_kind = SecurityEventKind::kChannelEstablished;  // the last event's kind,
  u8 connection = 0xFF;       //   its connection (BIP slot),
  u16 detail = 0;             //   detail (HTTP status, ...)
  u8 evidence_length = 0;     //   and evidence (start of a request line, ...)
  std::array<u8, SecurityEvent::kMaxEvidence> evidence{};
};

// Where incidents go (card/defence/incident_queue.hpp): append inside the caller's open transaction,
// returning the incident's sequence number.
class IncidentSink {
 public:
  virtual ~IncidentSink() = default;
  virtual Result<u32, NvmError> append(Incident& incident) noexcept = 0;
};

}  // namespace scws::card
