#include "card/os/security_events.hpp"

#include <cstring>

namespace scws::card {

const char* security_event_name(SecurityEventKind kind) noexcept {
  switch (kind) {
    case SecurityEventKind::kChannelEstablished: return "channel-established";
    case SecurityEventKind::kChannelClosed: return "channel-closed";
    case SecurityEventKind::kHttpMalformed: return "http-malformed";
    case SecurityEventKind::kHttpAuthFailure: return "http-auth-failure";
    case SecurityEventKind::kHttpSlowClient: return "http-slow-client";
    case SecurityEventKind::kHttpIdleClient: return "http-idle-client";
    case SecurityEventKind::kTlsRefused: return "tls-refused";
    case SecurityEventKind::kTlsNoClientCertificate: return "tls-no-client-certificate";
    case SecurityEventKind::kTlsBadCertificate: return "tls-bad-certificate";
    case SecurityEventKind::kTlsUnknownPskIdentity: return "tls-unknown-psk-identity";
    case SecurityEventKind::kTlsBadRecord: return "tls-bad-record";
    case SecurityEventKind::kTlsBadHandshake: return "tls-bad-handshake";
    case SecurityEventKind::kTlsPeerAlert: return "tls-peer-alert";
    case SecurityEventKind::kTlsArenaExhausted: return "tls-arena-exhausted";
    case SecurityEventKind::kTlsRenegotiation: return "tls-renegotiation";
    case SecurityEventKind::kTlsTimeout: return "tls-timeout";
    case SecurityEventKind::kTlsInternal: return "tls-internal";
    case SecurityEventKind::kCommandRefused: return "command-refused";
    case SecurityEventKind::kAdmVerifyFailure: return "adm-verify-failure";
    case SecurityEventKind::kAdmBlocked: return "adm-blocked";
  }
  return "?";
}

SecurityEvent make_security_event(SecurityEventKind kind, u16 port, u8 connection, u16 detail,
                                  Bytes evidence) noexcept {
  SecurityEvent e;
  e.kind = kind;
  e.port = port;
  e.connection = connection;
  e.detail = detail;
  const std::size_t n = evidence.size() < SecurityEvent::kMaxEvidence ? evidence.size() : SecurityEvent::kMaxEvidence;
  if (n != 0) std::memcpy(e.evidence.data(), evidence.data(), n);
  e.evidence_length = static_cast<u8>(n);
  return e;
}

void SecurityEvents::report(const SecurityEvent& event) noexcept {
  const auto k = static_cast<std::size_t>(event.kind);
  if (k >= kSecurityEventKinds) return;
  PortCounters* slot = nullptr;
  for (PortCounters& p : ports_) {
    if (p.used && p.port == event.port) {
      slot = &p;
      break;
    }
    if (!p.used && slot == nullptr) slot = &p;  // the first free one, unless the port is further on
  }
  if (slot != nullptr && !slot->used) {
    slot->used = true;
    slot->port = event.port;
  }
  // Counters saturate: a flood must not wrap them back to small numbers.
  if (slot != nullptr) {
    if (slot->counts[k] != ~u32{0}) ++slot->counts[k];
  } else {
    if (overflow_counts_[k] != ~u32{0}) ++overflow_counts_[k];
    if (overflow_ != ~u32{0}) ++overflow_;
  }
  if (listener_ == nullptr || delivering_) return;
  delivering_ = true;
  listener_->on_security_event(event);
  delivering_ = false;
}

void SecurityEvents::reset() noexcept {
  ports_.fill(PortCounters{});
  overflow_counts_.fill(0);
  overflow_ = 0;
  delivering_ = false;
}

const SecurityEvents::PortCounters* SecurityEvents::find(u16 port) const noexcept {
  for (const PortCounters& p : ports_)
    if (p.used && p.port == port) return &p;
  return nullptr;
}

u32 SecurityEvents::count(u16 port, SecurityEventKind kind) const noexcept {
  const auto k = static_cast<std::size_t>(kind);
  const PortCounters* p = find(port);
  return p == nullptr || k >= kSecurityEventKinds ? 0 : p->counts[k];
}

u32 SecurityEvents::total(SecurityEventKind kind) const noexcept {
  const auto k = static_cast<std::size_t>(kind);
  if (k >= kSecurityEventKinds) return 0;
  u64 sum = overflow_counts_[k];
  for (const PortCounters& p : ports_)
    if (p.used) sum += p.counts[k];
  return sum > ~u32{0} ? ~u32{0} : static_cast<u32>(sum);
}

}  // namespace scws::card
