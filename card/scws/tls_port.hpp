// The SCWS TLS port (TLS on 10443 with mandatory client authentication: docs/architecture.md,
// "Threats and answers"): the card component that puts a tls::TlsEndpoint on a BIP server port, with
// the SCWS applet's HTTP server as its inner endpoint, so the very same pages are served over HTTP
// and TLS.
//
// Power-up (called by the SCWS applet, card/scws/scws_applet.hpp PortExtension, after it read the
// image's settings, card/scws/scws_settings.hpp): when the settings name a TLS port it
//   1. carves settings.tls_ram bytes from the card RAM arena for the TLS region (a permanent block:
//      part of the card's idle RAM; kNotEnoughMemory when the arena cannot hold it, which fails the
//      card's power-up: the image asks for more RAM than the card has);
//   2. builds the tls::TlsAllocator over it and the server tls::TlsContext from the image's credentials
//      (tls/credentials.hpp) in the settings' mode; a set-up error (credentials missing, region too
//      small for them, no entropy) leaves the port unregistered and is shown by state() and /status;
//   3. registers the port with the CAT toolkit (settings.tls_channels channels).
// Objects live in this component's own storage and are rebuilt at every power-up without running
// destructors: what they pointed to was card RAM, gone with the power (like every applet member).
//
// Admission: a session is admitted only while `max_sessions()` sessions are not all taken, where
// max_sessions = (region - context idle) / per-session budget of the mode (tls::kCertificateSessionBudget,
// tls::kPskSessionBudget: the smallest region one session needs, measured by tests/tls/tls_session_test.cpp,
// with a margin for the fragmentation of sessions interleaving). A client beyond that is refused at
// connect (the toolkit closes its channel at once, counted as refused): a clean refusal instead of
// a handshake that runs the region dry and takes other sessions down with it.
//
// Deadlines (card/cat/deadlines.hpp, slot Deadlines::kTlsFirst + connection, over the terminal's
// TIMER MANAGEMENT, TS 102 223 6.4.21): each connection's deadline starts at connect with
// settings.tls_timeout seconds. Expiring before the
// handshake completed, the session fails (kTimeout, a stalled or slow-loris client); expiring
// later, it is restarted when bytes moved since it was started, else the idle session is closed
// with close_notify. The deadline is stopped when the connection closes. Without timers in the
// terminal profile there is no stall protection (traced).
//
// The date of certificate validity (tls/card_clock.hpp) is the card's time from power-up on
// (CardClock::follow(&ctx.time())), let go when the port goes away.
//
// Security events (card/os/security_events.hpp, on the port's number): a refusal at connect
// (admission or no RAM for the session object) is a tls-refused event, and every session that ends
// with a tls::TlsFailure reason is the event of that reason (tls_failure_event), with the
// connection. /status's "refused" and "failures" read the channel's counters; the port itself counts
// only handshakes completed (and how many resumed), since power-up.
#pragma once

#include <cstddef>
#include <new>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "card/os/card_context.hpp"
#include "card/scws/scws_applet.hpp"
#include "card/scws/scws_settings.hpp"
#include "card/cat/stream_endpoint.hpp"
#include "card/cat/timers.hpp"
#include "card/cat/toolkit.hpp"
#include "tls/card_clock.hpp"
#include "tls/card_rng.hpp"
#include "tls/tls_allocator.hpp"
#include "tls/tls_context.hpp"
#include "tls/tls_error.hpp"
#include "tls/tls_session.hpp"

namespace scws::card {

// The security event of a session failure reason (kNone: none, returns false).
bool tls_failure_event(tls::TlsFailure reason, SecurityEventKind& kind) noexcept;

class TlsPort final : public PortExtension, public StreamEndpoint, public DeadlineListener {
 public:
  static constexpr u8 kFirstSlot = Deadlines::kTlsFirst;  // connection c uses deadline kFirstSlot + c
  static constexpr std::size_t kReasons = static_cast<std::size_t>(tls::TlsFailure::kInternal) + 1;
  static_assert(StreamEndpoint::kMaxConnections <= Deadlines::kTlsSlots, "one deadline per connection");

  enum class State : u8 {
    kOff,           // the settings name no TLS port
    kNoEntropy,     // the card RNG is not seeded: no TLS without randomness
    kSetUpFailed,   // credentials missing or unusable, or the region too small for them
    kServing,       // registered with the toolkit
  };
  static const char* state_name(State s) noexcept;

  // rng must be seeded before power-up (the host's entropy hook; a real card has a TRNG) and
  // outlive the port.
  explicit TlsPort(tls::CardRng& rng) noexcept : rng_(rng) {}
  // Nothing to release (the objects live in card RAM, see above) but the clock's pointer.
  ~TlsPort() override { tls::CardClock::let_go(followed_); }
  TlsPort(const TlsPort&) = delete;
  TlsPort& operator=(const TlsPort&) = delete;

  // PortExtension
  Status<CardError> power_up(CardContext& ctx, const ScwsSettings& settings, CatToolkit* toolkit,
                                   StreamEndpoint& inner, u16 buffer_size) noexcept override;
  void status_snapshot(std::size_t connection) noexcept override;
  void status_render(std::size_t connection, http::TextBuilder& out) const noexcept override;

  // StreamEndpoint (the toolkit drives it for the TLS port)
  bool open(std::size_t connection) noexcept override;
  std::size_t receive(std::size_t connection, Bytes data) noexcept override;
  std::size_t send(std::size_t connection, MutableBytes out) noexcept override;
  [[nodiscard]] bool wants_close(std::size_t connection) const noexcept override;
  void close(std::size_t connection) noexcept override;

  // DeadlineListener
  void deadline_passed(u8 slot) noexcept override;

  // Host tuning (`scws bench tls` bisects the region with real clients, one at a time): admit
  // sessions by `bytes` each instead of the mode's budget, from the next power-up on; 0 restores
  // the mode's budget. Kept across power-ups, like the RNG.
  void set_session_budget(std::size_t bytes) noexcept { budget_override_ = bytes; }

  // ---- observation ------------------------------------------------------------------------------
  [[nodiscard]] State state() const noexcept { return state_; }
  [[nodiscard]] tls::TlsError setup_error() const noexcept { return setup_error_; }  // when kSetUpFailed
  [[nodiscard]] u16 port() const noexcept { return port_; }
  [[nodiscard]] std::size_t sessions() const noexcept { return active_; }
  [[nodiscard]] std::size_t max_sessions() const noexcept { return max_sessions_; }
  [[nodiscard]] u32 completed() const noexcept { return completed_; }
  [[nodiscard]] u32 resumed() const noexcept { return resumed_; }
  // Refused at connect: by admission, or by the endpoint for want of RAM for the session object.
  [[nodiscard]] u32 refused() const noexcept;
  [[nodiscard]] u32 failures(tls::TlsFailure reason) const noexcept;
  // The TLS region (nullptr when not serving).
  [[nodiscard]] const tls::TlsAllocator* allocator() const noexcept { return allocator_; }
  // The same region for the card's other TLS user, the admin agent's client session (card/admin).
  [[nodiscard]] tls::TlsAllocator* region() noexcept { return allocator_; }
  [[nodiscard]] const tls::TlsEndpoint* endpoint() const noexcept { return endpoint_; }
  [[nodiscard]] std::size_t region_idle() const noexcept { return context_ != nullptr ? context_->idle_in_use() : 0; }

 private:
  struct Connection {
    bool open = false;
    bool handshake_done = false;
    bool timer = false;
    u32 moved = 0;           // receive/send calls that moved bytes
    u32 moved_at_arm = 0;
  };
  // /status figures frozen for one connection's response.
  struct Figures {
    u32 completed = 0, resumed = 0, refused = 0;
    u32 failures[kReasons] = {};
    u32 ram_capacity = 0, ram_in_use = 0, ram_idle = 0, ram_high_water = 0;
    u16 port = 0;
    u8 sessions = 0, max_sessions = 0;
    State state = State::kOff;
    TlsPortMode mode = TlsPortMode::kNone;
  };

  void forget() noexcept;
  void report(SecurityEventKind kind, std::size_t connection, u16 detail = 0) noexcept;
  void after_io(std::size_t connection) noexcept;
  void arm(std::size_t connection) noexcept;
  [[nodiscard]] const Tracer& trace() const noexcept;

  tls::CardRng& rng_;
  CardContext* ctx_ = nullptr;
  CatToolkit* toolkit_ = nullptr;
  const CardTime* followed_ = nullptr;  // the card time tls::CardClock follows
  State state_ = State::kOff;
  tls::TlsError setup_error_ = tls::TlsError::kInternal;
  TlsPortMode mode_ = TlsPortMode::kNone;
  u16 port_ = 0;
  u8 timeout_ = 0;
  std::size_t max_sessions_ = 0;
  std::size_t budget_override_ = 0;
  std::size_t active_ = 0;
  u32 completed_ = 0;
  u32 resumed_ = 0;
  Connection connections_[kMaxConnections] = {};
  Figures figures_[kMaxConnections] = {};
  // Built in place at power-up, never destroyed (their memory is card RAM and this storage).
  tls::TlsAllocator* allocator_ = nullptr;
  tls::TlsContext* context_ = nullptr;
  tls::TlsEndpoint* endpoint_ = nullptr;
  alignas(tls::TlsAllocator) unsigned char allocator_storage_[sizeof(tls::TlsAllocator)];
  alignas(tls::TlsContext) unsigned char context_storage_[sizeof(tls::TlsContext)];
  alignas(tls::TlsEndpoint) unsigned char endpoint_storage_[sizeof(tls::TlsEndpoint)];
};

}  // namespace scws::card
