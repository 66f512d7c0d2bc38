#include "card/defence/incident.hpp"

namespace scws::card {

const char* detection_rule_name(DetectionRule rule) noexcept {
  switch (rule) {
    case DetectionRule::kTlsHandshakeFailures: return "tls-handshake-failures";
    case DetectionRule::kTlsUnknownPsk: return "tls-unknown-psk";
    case DetectionRule::kTlsBadRecords: return "tls-bad-records";
    case DetectionRule::kHttpPasswordGuessing: return "http-password-guessing";
    case DetectionRule::kHttpMalformedFlood: return "http-malformed-flood";
    case DetectionRule::kConnectionFlood: return "connection-flood";
    case DetectionRule::kSlowClients: return "slow-clients";
  }
  return "?";
}

}  // namespace scws::card
