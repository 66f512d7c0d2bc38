#include "card/scws/tls_port.hpp"

#include "http/extension.hpp"

namespace scws::card {

namespace {

const Tracer kSilent{};

static_assert(static_cast<u8>(TlsPortMode::kCertificate) == static_cast<u8>(tls::TlsMode::kCertificate));
static_assert(static_cast<u8>(TlsPortMode::kPsk) == static_cast<u8>(tls::TlsMode::kPsk));
static_assert(static_cast<u8>(TlsPortMode::kBoth) == static_cast<u8>(tls::TlsMode::kBoth));

std::size_t budget_for(TlsPortMode mode) noexcept {
  switch (mode) {
    case TlsPortMode::kPsk: return tls::kPskSessionBudget;
    case TlsPortMode::kNone:
    case TlsPortMode::kCertificate:
    case TlsPortMode::kBoth:
      return tls::kCertificateSessionBudget;  // a certificate client may come: budget for the worst
  }
  return tls::kCertificateSessionBudget;
}

}  // namespace

bool tls_failure_event(tls::TlsFailure reason, SecurityEventKind& kind) noexcept {
  switch (reason) {
    case tls::TlsFailure::kNone: return false;
    case tls::TlsFailure::kNoClientCertificate: kind = SecurityEventKind::kTlsNoClientCertificate; return true;
    case tls::TlsFailure::kBadCertificate: kind = SecurityEventKind::kTlsBadCertificate; return true;
    case tls::TlsFailure::kUnknownPskIdentity: kind = SecurityEventKind::kTlsUnknownPskIdentity; return true;
    case tls::TlsFailure::kBadRecord: kind = SecurityEventKind::kTlsBadRecord; return true;
    case tls::TlsFailure::kBadHandshake: kind = SecurityEventKind::kTlsBadHandshake; return true;
    case tls::TlsFailure::kPeerAlert: kind = SecurityEventKind::kTlsPeerAlert; return true;
    case tls::TlsFailure::kArenaExhausted: kind = SecurityEventKind::kTlsArenaExhausted; return true;
    case tls::TlsFailure::kRenegotiation: kind = SecurityEventKind::kTlsRenegotiation; return true;
    case tls::TlsFailure::kTimeout: kind = SecurityEventKind::kTlsTimeout; return true;
    case tls::TlsFailure::kInternal: kind = SecurityEventKind::kTlsInternal; return true;
  }
  return false;
}

const char* TlsPort::state_name(State s) noexcept {
  switch (s) {
    case State::kOff: return "off";
    case State::kNoEntropy: return "no-entropy";
    case State::kSetUpFailed: return "set-up-failed";
    case State::kServing: return "serving";
  }
  return "?";
}

const Tracer& TlsPort::trace() const noexcept { return ctx_ != nullptr ? ctx_->trace() : kSilent; }

void TlsPort::forget() noexcept {
  // Power-up: the previous session's RAM (region, sessions) is gone; its objects are not destroyed.
  allocator_ = nullptr;
  context_ = nullptr;
  endpoint_ = nullptr;
  toolkit_ = nullptr;
  state_ = State::kOff;
  setup_error_ = tls::TlsError::kInternal;
  mode_ = TlsPortMode::kNone;
  port_ = 0;
  timeout_ = 0;
  max_sessions_ = 0;
  active_ = 0;
  completed_ = 0;
  resumed_ = 0;
  for (Connection& c : connections_) c = Connection{};
  for (Figures& f : figures_) f = Figures{};
}

Status<CardError> TlsPort::power_up(CardContext& ctx, const ScwsSettings& settings,
                                         CatToolkit* toolkit, StreamEndpoint& inner,
                                         u16 buffer_size) noexcept {
  forget();
  ctx_ = &ctx;
  if (settings.tls_port == 0) return {};
  followed_ = &ctx.time();
  tls::CardClock::follow(followed_);
  port_ = settings.tls_port;
  mode_ = settings.tls_mode;
  timeout_ = settings.tls_timeout;
  if (!rng_.seeded()) {
    state_ = State::kNoEntropy;
    trace()("tls port %u: off, the card RNG has no entropy", unsigned{port_});
    return {};
  }
  void* region = ctx.arena().allocate(settings.tls_ram);
  if (region == nullptr) {
    trace()("tls port %u: the card RAM cannot hold a TLS region of %u bytes", unsigned{port_},
            static_cast<unsigned>(settings.tls_ram));
    return fail(CardError::kNotEnoughMemory);
  }
  allocator_ = new (allocator_storage_) tls::TlsAllocator(MutableBytes(static_cast<u8*>(region), settings.tls_ram));
  context_ = new (context_storage_) tls::TlsContext(*allocator_);
  if (auto s = context_->init_server(ctx.objects(), static_cast<tls::TlsMode>(mode_), rng_); !s) {
    state_ = State::kSetUpFailed;
    setup_error_ = s.error();
    trace()("tls port %u: off, set-up failed (%s)", unsigned{port_}, tls::error_name(s.error()));
    return {};
  }
  endpoint_ = new (endpoint_storage_) tls::TlsEndpoint(*context_, inner, ctx.trace());
  const std::size_t idle = context_->idle_in_use();
  const std::size_t usable = allocator_->usable();
  const std::size_t budget = budget_override_ != 0 ? budget_override_ : budget_for(mode_);
  max_sessions_ = usable > idle ? (usable - idle) / budget : 0;
  if (max_sessions_ > settings.tls_channels) max_sessions_ = settings.tls_channels;
  toolkit_ = toolkit;
  state_ = State::kServing;
  trace()("tls port %u: %s, region %u bytes (idle %zu), %zu sessions at once", unsigned{port_},
          card::to_string(mode_), static_cast<unsigned>(settings.tls_ram), idle, max_sessions_);
  if (toolkit_ != nullptr) {
    if (auto r = toolkit_->add_server_port(port_, buffer_size, *this, settings.tls_channels); !r)
      trace()("tls port %u: not registered with the toolkit (%s)", unsigned{port_}, card::describe(r.error()));
  }
  return {};
}

// ---- StreamEndpoint ---------------------------------------------------------------------------------

bool TlsPort::open(std::size_t c) noexcept {
  if (c >= kMaxConnections || endpoint_ == nullptr) return false;
  if (connections_[c].open) close(c);
  if (active_ >= max_sessions_) {
    report(SecurityEventKind::kTlsRefused, c);
    trace()("tls[%zu] refused: %zu of %zu sessions in use", c, active_, max_sessions_);
    return false;
  }
  if (!endpoint_->open(c)) {
    report(SecurityEventKind::kTlsRefused, c);
    if (SecurityEventKind kind{}; tls_failure_event(endpoint_->last_refusal(), kind)) report(kind, c);
    return false;
  }
  connections_[c] = Connection{};
  connections_[c].open = true;
  ++active_;
  arm(c);
  return true;
}

void TlsPort::report(SecurityEventKind kind, std::size_t c, u16 detail) noexcept {
  if (ctx_ != nullptr) ctx_->events().report(kind, port_, static_cast<u8>(c), detail);
}

void TlsPort::arm(std::size_t c) noexcept {
  Connection& k = connections_[c];
  k.moved_at_arm = k.moved;
  if (toolkit_ == nullptr) return;
  Deadlines& d = toolkit_->deadlines();
  if (d.start(static_cast<u8>(kFirstSlot + c), timeout_, *this)) {
    k.timer = true;
    if (!d.timers_available()) trace()("tls[%zu] no timers in the terminal: a stalled client is not cut off", c);
  }
}

void TlsPort::after_io(std::size_t c) noexcept {
  Connection& k = connections_[c];
  if (k.handshake_done) return;
  const tls::TlsSession* s = endpoint_->session(c);
  if (s == nullptr) return;
  switch (s->state()) {
    case tls::TlsSession::State::kOpen:
    case tls::TlsSession::State::kClosing:
    case tls::TlsSession::State::kClosed:
      k.handshake_done = true;
      ++completed_;
      if (s->resumed()) ++resumed_;
      return;
    case tls::TlsSession::State::kHandshake:
    case tls::TlsSession::State::kFailed:
      return;
  }
}

std::size_t TlsPort::receive(std::size_t c, Bytes data) noexcept {
  if (c >= kMaxConnections || endpoint_ == nullptr || !connections_[c].open) return data.size();
  const std::size_t n = endpoint_->receive(c, data);
  if (n != 0) ++connections_[c].moved;
  after_io(c);
  return n;
}

std::size_t TlsPort::send(std::size_t c, MutableBytes out) noexcept {
  if (c >= kMaxConnections || endpoint_ == nullptr || !connections_[c].open) return 0;
  const std::size_t n = endpoint_->send(c, out);
  if (n != 0) ++connections_[c].moved;
  after_io(c);
  return n;
}

bool TlsPort::wants_close(std::size_t c) const noexcept {
  if (c >= kMaxConnections || endpoint_ == nullptr || !connections_[c].open) return true;
  return endpoint_->wants_close(c);
}

void TlsPort::close(std::size_t c) noexcept {
  if (c >= kMaxConnections || endpoint_ == nullptr || !connections_[c].open) return;
  after_io(c);
  if (const tls::TlsSession* s = endpoint_->session(c); s != nullptr) {
    if (SecurityEventKind kind{}; tls_failure_event(s->failure(), kind))
      report(kind, c, static_cast<u16>(s->failure()));
  }
  endpoint_->close(c);
  if (connections_[c].timer && toolkit_ != nullptr) toolkit_->deadlines().stop(static_cast<u8>(kFirstSlot + c));
  connections_[c] = Connection{};
  --active_;
}

void TlsPort::deadline_passed(u8 slot) noexcept {
  if (slot < kFirstSlot || endpoint_ == nullptr) return;
  const std::size_t c = slot - kFirstSlot;
  if (c >= kMaxConnections || !connections_[c].open) return;
  Connection& k = connections_[c];
  k.timer = false;
  const tls::TlsSession* s = endpoint_->session(c);
  if (s == nullptr) return;
  if (k.handshake_done && k.moved != k.moved_at_arm) {
    arm(c);  // busy: another period
    return;
  }
  trace()("tls[%zu] deadline passed %s", c, k.handshake_done ? "on an idle session" : "before the handshake completed");
  endpoint_->timeout(c);
}

// ---- observation and /status -------------------------------------------------------------------------

u32 TlsPort::refused() const noexcept {
  return ctx_ != nullptr && port_ != 0 ? ctx_->events().count(port_, SecurityEventKind::kTlsRefused) : 0;
}

u32 TlsPort::failures(tls::TlsFailure reason) const noexcept {
  SecurityEventKind kind{};
  if (ctx_ == nullptr || port_ == 0 || !tls_failure_event(reason, kind)) return 0;
  return ctx_->events().count(port_, kind);
}

void TlsPort::status_snapshot(std::size_t c) noexcept {
  if (c >= kMaxConnections) return;
  Figures& f = figures_[c];
  f = Figures{};
  f.state = state_;
  f.mode = mode_;
  f.port = port_;
  f.completed = completed_;
  f.resumed = resumed_;
  f.refused = refused();
  for (std::size_t r = 0; r < kReasons; ++r) f.failures[r] = failures(static_cast<tls::TlsFailure>(r));
  f.sessions = static_cast<u8>(active_);
  f.max_sessions = static_cast<u8>(max_sessions_);
  if (allocator_ != nullptr) {
    f.ram_capacity = static_cast<u32>(allocator_->capacity());
    f.ram_in_use = static_cast<u32>(allocator_->in_use());
    f.ram_idle = static_cast<u32>(region_idle());
    f.ram_high_water = static_cast<u32>(allocator_->high_water());
  }
}

void TlsPort::status_render(std::size_t c, http::TextBuilder& b) const noexcept {
  if (c >= kMaxConnections) return;
  const Figures& f = figures_[c];
  if (f.state == State::kOff) return;  // no TLS port: no member
  b.text(",\"tls\":{\"port\":").number(f.port).text(",\"mode\":\"").text(card::to_string(f.mode));
  b.text("\",\"state\":\"").text(state_name(f.state)).text("\",\"sessions\":").number(f.sessions);
  b.text(",\"max_sessions\":").number(f.max_sessions).text(",\"completed\":").number(f.completed);
  b.text(",\"resumed\":").number(f.resumed).text(",\"refused\":").number(f.refused).text(",\"failures\":{");
  for (std::size_t r = 1; r < kReasons; ++r) {  // kNone is no failure
    if (r != 1) b.text(",");
    b.text("\"").text(tls::failure_name(static_cast<tls::TlsFailure>(r))).text("\":").number(f.failures[r]);
  }
  b.text("},\"ram\":{\"capacity\":").number(f.ram_capacity).text(",\"in_use\":").number(f.ram_in_use);
  b.text(",\"idle\":").number(f.ram_idle).text(",\"high_water\":").number(f.ram_high_water).text("}}");
}

}  // namespace scws::card
