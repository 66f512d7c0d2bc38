// The card's attack detection and its response (docs/architecture.md, "Threats and answers").
//
// Detection: the detector listens on the card's security-event channel (card/os/security_events.hpp)
// and counts, per attacked port and per rule (card/defence/incident.hpp DetectionRule), the events of
// that rule over a sliding window on the card's clock (CardContext::time(), seconds of uptime):
//   tls-handshake-failures  TLS handshakes failed for no or a foreign client certificate
//   tls-unknown-psk         TLS handshakes with an unknown PSK identity
//   tls-bad-records         bad TLS records, broken handshake messages, renegotiation attempts
//   http-password-guessing  Basic authentication refused (RFC 7617)
//   http-malformed-flood    requests the HTTP parser refused
//   connection-flood        channels established (clients connected)
//   slow-clients            clients evicted at a request-head, body or TLS handshake deadline
// Idle keep-alive clients, peer alerts, admission refusals, RAM shortage and ADM VERIFY failures
// (the ADM key has its own retry counter) are not attacks for these rules. A window is kBuckets
// buckets of window/kBuckets seconds: an event counts for between window - window/kBuckets and
// window seconds, and the count is exact within that. Thresholds and windows come from NVM
// (card/defence/detection_settings.hpp).
//
// Response, when a rule's count reaches its threshold on an open port: in ONE transaction the
// incident is appended to the incident queue (IncidentSink) and the port's new state (closed, by
// which rule and incident) is written to the port-state object; then the toolkit closes the port
// (CLOSE CHANNEL on its channels; no OPEN CHANNEL until it re-opens: the terminal stops listening and
// refuses new connections). Policy (settings): the other ports keep serving or close too; the port
// re-opens after the cool-down or only on an administrator's order (DefenceControl). A closed port is
// NVM state: it stays closed across resets and power cycles (the toolkit asks the PortGuard before
// each OPEN CHANNEL). The cool-down starts when the port closes; after a power cycle the card cannot
// know how long it was off, so it starts again in full, from the first time the terminal would open
// the port.
// One attack, one incident: a closed port counts nothing; a re-opened port starts with empty windows.
// An event arriving while an applet holds a transaction open is answered at once (the port closes)
// and recorded at the next event or timer, when no transaction is open.
//
// Port-state object kPortStateObject (big-endian): version u8 (1), then kMaxGuardedPorts entries of
// kPortEntrySize bytes: port u16 (0 = unused), closed u8, rule u8 (0 = closed by an administrator),
// incident sequence u32 (0 = none), closed at u32 (card time, seconds since 1970).
// read_port_states() answers: count u8, then per port: port u16, closed u8, rule u8, incident u32,
// closed at u32, re-opens in u32 (seconds; 0 when open; FFFFFFFF when only an administrator re-opens it).
#pragma once

#include <array>
#include <cstddef>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "card/cat/toolkit.hpp"
#include "card/defence/defence_control.hpp"
#include "card/defence/detection_settings.hpp"
#include "card/defence/incident.hpp"
#include "card/os/card_context.hpp"
#include "card/os/security_events.hpp"

namespace scws::card {

// The rule an event counts for; false when it counts for none.
bool rule_for(SecurityEventKind kind, DetectionRule& rule) noexcept;

class Detector final : public SecurityEventListener, public PortGuard, public DefenceControl, public DeadlineListener {
 public:
  static constexpr u32 kPortStateObject = 0x04000011;
  static constexpr std::size_t kMaxGuardedPorts = 3;  // the HTTP port, the TLS port, one spare
  static constexpr std::size_t kBuckets = 4;
  static constexpr std::size_t kPortEntrySize = 12;
  static constexpr std::size_t kPortStateSize = 1 + kMaxGuardedPorts * kPortEntrySize;
  static constexpr std::size_t kPortReportSize = 16;
  // Every port the toolkit serves, and every port closed in NVM that it does not serve (any more).
  static constexpr std::size_t kPortStatesMax = 1 + (CatToolkit::kMaxPorts + kMaxGuardedPorts) * kPortReportSize;
  static_assert(kPortStatesMax <= 256, "READ PORT STATES answers in one response APDU");
  static constexpr u32 kAdminOnly = 0xFFFFFFFFU;
  // One deadline (card/cat/deadlines.hpp) for the soonest cool-down of all closed ports.
  static constexpr u8 kCooldownSlot = Deadlines::kDefenceFirst;
  static_assert(kMaxGuardedPorts <= CatToolkit::kMaxPorts);

  Detector(CatToolkit& toolkit, IncidentSink& incidents) noexcept : toolkit_(toolkit), incidents_(incidents) {}
  Detector(const Detector&) = delete;
  Detector& operator=(const Detector&) = delete;

  // At every power-up (RAM is new): reads the settings and the closed ports, listens on the card's
  // security-event channel and guards the toolkit's ports. Never fails the card's power-up: damaged
  // settings mean the defaults (traced, settings_source()), a damaged port-state object means every
  // port open until the next incident rewrites it.
  void power_up(CardContext& ctx) noexcept override;

  // SecurityEventListener
  void on_security_event(const SecurityEvent& event) noexcept override;
  // PortGuard
  bool port_may_open(u16 port) noexcept override;
  // DeadlineListener: the soonest cool-down is over: those ports re-open (port state written, toolkit
  // asked), the next cool-down is scheduled.
  void deadline_passed(u8 slot) noexcept override;

  // DefenceControl
  Result<std::size_t, CardError> read_settings(CardContext& ctx, MutableBytes out) noexcept override;
  Status<CardError> write_settings(CardContext& ctx, Bytes settings) noexcept override;
  Result<std::size_t, CardError> read_port_states(CardContext& ctx, MutableBytes out) noexcept override;
  Status<CardError> set_port_open(CardContext& ctx, u16 port, bool open) noexcept override;

  // ---- observation (/status, tests) ----------------------------------------------------------------
  [[nodiscard]] const DetectionSettings& settings() const noexcept { return settings_; }
  [[nodiscard]] SettingsSource settings_source() const noexcept { return source_; }
  [[nodiscard]] bool port_closed(u16 port) const noexcept;
  // Whether the port's cool-down runs, and the seconds of uptime it has left.
  [[nodiscard]] bool cooldown_running(u16 port) const noexcept;
  // Incidents recorded since power-up, and those that could not be written (NVM failure).
  [[nodiscard]] u32 incidents_recorded() const noexcept { return recorded_; }
  [[nodiscard]] u32 incidents_lost() const noexcept { return lost_; }
  // Events counted in the current window of a rule on a port (0 when none).
  [[nodiscard]] u32 window_count(u16 port, DetectionRule rule) const noexcept;
  // RAM of the sliding windows (every rule on every guarded port), the bulk of sizeof(Detector):
  // what `scws bench attack` reports as the detection's cost.
  [[nodiscard]] static constexpr std::size_t windows_bytes() noexcept {
    return kMaxGuardedPorts * sizeof(std::array<Window, kDetectionRules>);
  }

 private:
  struct Window {
    u32 newest_start = 0;              // uptime at which the newest bucket began
    std::array<u16, kBuckets> counts{};  // counts[0] is the newest bucket
    u32 first_time = 0;                // card time of the first event still counted
  };
  struct Guarded {
    u16 port = 0;                      // 0: unused
    bool closed = false;
    bool cooldown_running = false;
    bool awaiting_incident = false;    // closed by a firing whose incident is not recorded yet
    u8 rule = 0;
    u32 incident = 0;
    u32 closed_at = 0;                 // card time
    u32 reopen_at = 0;                 // uptime at which the cool-down ends (when running)
    std::array<Window, kDetectionRules> windows{};
  };
  struct Pending {                     // an incident waiting for the applet's transaction to end
    bool waiting = false;
    Incident incident{};
  };

  Guarded* find(u16 port) noexcept;
  [[nodiscard]] const Guarded* find(u16 port) const noexcept;
  Guarded* find_or_add(u16 port) noexcept;
  u32 count_event(Window& w, const RuleSettings& r) noexcept;
  void fire(Guarded& g, DetectionRule rule, const SecurityEvent& event, u32 count, u32 first_time) noexcept;
  bool record(Incident& incident) noexcept;
  void flush_pending() noexcept;
  Status<NvmError> write_port_states() noexcept;
  // Writes the port states with g become `next`, in a transaction of its own; on failure g stays as it was.
  Status<CardError> commit_port(Guarded& g, const Guarded& next) noexcept;
  void load_port_states() noexcept;
  void close_now(Guarded& g) noexcept;
  void schedule_cooldown() noexcept;
  void begin_cooldown(Guarded& g) noexcept;
  void reopen_now(Guarded& g) noexcept;
  [[nodiscard]] bool toolkit_serves(u16 port) const noexcept;

  CatToolkit& toolkit_;
  IncidentSink& incidents_;
  CardContext* ctx_ = nullptr;
  DetectionSettings settings_{};
  SettingsSource source_ = SettingsSource::kDefaults;
  std::array<Guarded, kMaxGuardedPorts> guarded_{};
  Pending pending_{};
  u32 recorded_ = 0;
  u32 lost_ = 0;
};

}  // namespace scws::card
