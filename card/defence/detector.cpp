#include "card/defence/detector.hpp"

namespace scws::card {

bool rule_for(SecurityEventKind kind, DetectionRule& rule) noexcept {
  switch (kind) {
    case SecurityEventKind::kTlsNoClientCertificate:
    case SecurityEventKind::kTlsBadCertificate:
      rule = DetectionRule::kTlsHandshakeFailures;
      return true;
    case SecurityEventKind::kTlsUnknownPskIdentity:
      rule = DetectionRule::kTlsUnknownPsk;
      return true;
    case SecurityEventKind::kTlsBadRecord:
    case SecurityEventKind::kTlsBadHandshake:
    case SecurityEventKind::kTlsRenegotiation:
      rule = DetectionRule::kTlsBadRecords;
      return true;
    case SecurityEventKind::kHttpAuthFailure:
      rule = DetectionRule::kHttpPasswordGuessing;
      return true;
    case SecurityEventKind::kHttpMalformed:
      rule = DetectionRule::kHttpMalformedFlood;
      return true;
    case SecurityEventKind::kChannelEstablished:
      rule = DetectionRule::kConnectionFlood;
      return true;
    case SecurityEventKind::kHttpSlowClient:
    case SecurityEventKind::kTlsTimeout:
      rule = DetectionRule::kSlowClients;
      return true;
    // Not attacks by themselves: a client leaving, a keep-alive client going quiet, a client aborting
    // with an alert, admission and RAM refusals (the card's own limits), internal errors, commands an
    // applet refused, ADM VERIFY (the key's retry counter blocks it).
    case SecurityEventKind::kChannelClosed:
    case SecurityEventKind::kHttpIdleClient:
    case SecurityEventKind::kTlsRefused:
    case SecurityEventKind::kTlsPeerAlert:
    case SecurityEventKind::kTlsArenaExhausted:
    case SecurityEventKind::kTlsInternal:
    case SecurityEventKind::kCommandRefused:
    case SecurityEventKind::kAdmVerifyFailure:
    case SecurityEventKind::kAdmBlocked:
      return false;
  }
  return false;
}

void Detector::power_up(CardContext& ctx) noexcept {
  ctx_ = &ctx;
  guarded_.fill(Guarded{});
  pending_ = Pending{};
  recorded_ = 0;
  lost_ = 0;
  source_ = load_detection_settings(ctx.objects(), settings_);
  if (source_ == SettingsSource::kDamaged) ctx.trace()("defence: detection settings damaged, using the defaults");
  load_port_states();
  ctx.events().set_listener(this);
  toolkit_.set_port_guard(this);
}

// ---- detection --------------------------------------------------------------------------------------------

Detector::Guarded* Detector::find(u16 port) noexcept {
  for (Guarded& g : guarded_)
    if (g.port == port) return &g;
  return nullptr;
}

const Detector::Guarded* Detector::find(u16 port) const noexcept {
  for (const Guarded& g : guarded_)
    if (g.port == port) return &g;
  return nullptr;
}

Detector::Guarded* Detector::find_or_add(u16 port) noexcept {
  if (Guarded* g = find(port)) return g;
  for (Guarded& g : guarded_) {
    if (g.port == 0) {
      g = Guarded{};
      g.port = port;
      return &g;
    }
  }
  return nullptr;
}

u32 Detector::count_event(Window& w, const RuleSettings& r) noexcept {
  const u32 now = ctx_->time().uptime();
  const u32 width = (r.window_seconds + kBuckets - 1) / kBuckets;  // >= 1: windows are >= 1 s
  const u32 shift = (now - w.newest_start) / width;
  if (shift >= kBuckets) {
    w.counts.fill(0);
  } else if (shift > 0) {
    for (std::size_t i = kBuckets; i-- > 0;) w.counts[i] = i >= shift ? w.counts[i - shift] : u16{0};
    w.newest_start += shift * width;
  }
  u32 total = 0;
  for (u16 c : w.counts) total += c;
  if (total == 0) {  // a window starting afresh with this event
    w.newest_start = now;
    w.first_time = ctx_->time().now();
  }
  if (w.counts[0] < 0xFFFF) ++w.counts[0];
  return total + 1;
}

void Detector::on_security_event(const SecurityEvent& event) noexcept {
  if (ctx_ == nullptr) return;
  flush_pending();
  DetectionRule rule{};
  if (event.port == SecurityEvents::kCardPort || !rule_for(event.kind, rule)) return;
  const RuleSettings& r = settings_.rule(rule);
  if (r.threshold == 0) return;
  Guarded* g = find_or_add(event.port);
  if (g == nullptr || g->closed) return;  // no room to count (traced by nobody: ports are few), or answered
  Window& w = g->windows[rule_index(rule)];
  const u32 count = count_event(w, r);
  if (count >= r.threshold) fire(*g, rule, event, count, w.first_time);
}

// ---- response ---------------------------------------------------------------------------------------------

void Detector::fire(Guarded& g, DetectionRule rule, const SecurityEvent& event, u32 count, u32 first_time) noexcept {
  const RuleSettings& r = settings_.rule(rule);
  Incident incident;
  incident.rule = rule;
  incident.port = g.port;
  incident.events = static_cast<u16>(count > 0xFFFF ? 0xFFFF : count);
  incident.threshold = r.threshold;
  incident.window_seconds = r.window_seconds;
  incident.first_time = first_time;
  incident.last_time = ctx_->time().now();
  incident.time_from_terminal = ctx_->time().from_terminal();
  incident.port_closed = true;
  incident.last_kind = event.kind;
  incident.connection = event.connection;
  incident.detail = event.detail;
  incident.evidence_length = event.evidence_length;
  incident.evidence = event.evidence;
  ctx_->trace()("defence: %s on port %u: %u events in %u s (threshold %u): closing the port",
                detection_rule_name(rule), unsigned{g.port}, unsigned{count}, unsigned{r.window_seconds},
                unsigned{r.threshold});

  auto close_for_rule = [&](Guarded& p) {
    p.closed = true;
    p.rule = static_cast<u8>(rule);
    p.closed_at = incident.last_time;
    p.incident = 0;
    p.awaiting_incident = true;
    close_now(p);
    begin_cooldown(p);
  };
  if (settings_.other_ports == OtherPortsPolicy::kClose) {
    for (std::size_t i = 0; i < CatToolkit::kMaxPorts; ++i) {
      const u16 other = toolkit_.registered_port(i);
      if (other == 0 || other == g.port) continue;
      Guarded* o = find_or_add(other);
      if (o != nullptr && !o->closed) close_for_rule(*o);
    }
  }
  close_for_rule(g);

  if (ctx_->nvm().in_transaction()) {
    if (pending_.waiting) {
      ++lost_;  // a second incident while the first still waits: only the first is kept
      g.awaiting_incident = false;
      ctx_->trace()("defence: incident not recorded (another one waits for the applet's transaction)");
      return;
    }
    pending_ = Pending{true, incident};
    return;
  }
  record(incident);
}

bool Detector::record(Incident& incident) noexcept {
  if (!ctx_->begin_transaction()) {
    for (Guarded& o : guarded_) o.awaiting_incident = false;
    ++lost_;
    return false;
  }
  auto seq = incidents_.append(incident);
  bool ok = seq.ok();
  if (ok) {
    for (Guarded& o : guarded_)
      if (o.closed && o.awaiting_incident) o.incident = seq.value();
    ok = write_port_states().ok();
  }
  if (ok) ok = ctx_->commit_transaction().ok();
  if (!ok) {
    (void)ctx_->abort_transaction();
    for (Guarded& o : guarded_) {
      if (o.awaiting_incident) o.incident = 0;  // the sequence number went with the aborted transaction
      o.awaiting_incident = false;
    }
    ++lost_;
    ctx_->trace()("defence: incident could not be written to NVM: the port stays closed until the next power-up");
    return false;
  }
  for (Guarded& o : guarded_) o.awaiting_incident = false;
  ++recorded_;
  ctx_->trace()("defence: incident %u recorded (%s, port %u)", unsigned{seq.value()}, detection_rule_name(incident.rule),
                unsigned{incident.port});
  return true;
}

void Detector::flush_pending() noexcept {
  if (!pending_.waiting || ctx_->nvm().in_transaction()) return;
  pending_.waiting = false;
  record(pending_.incident);
}

void Detector::close_now(Guarded& g) noexcept {
  (void)toolkit_.close_port(g.port);
  toolkit_.wake();
  if (g.cooldown_running) {
    g.cooldown_running = false;
    schedule_cooldown();
  }
}

void Detector::schedule_cooldown() noexcept {
  const u32 now = ctx_->time().uptime();
  u32 soonest = 0;
  bool any = false;
  for (const Guarded& g : guarded_) {
    if (!g.cooldown_running) continue;
    const u32 left = g.reopen_at > now ? g.reopen_at - now : 1;
    if (!any || left < soonest) soonest = left;
    any = true;
  }
  if (any) {
    (void)toolkit_.deadlines().start(kCooldownSlot, soonest, *this);
  } else {
    toolkit_.deadlines().stop(kCooldownSlot);
  }
}

void Detector::reopen_now(Guarded& g) noexcept {
  g.closed = false;
  g.rule = 0;
  g.incident = 0;
  g.closed_at = 0;
  g.windows.fill(Window{});
  if (g.cooldown_running) {
    g.cooldown_running = false;
    schedule_cooldown();
  }
  (void)toolkit_.reopen_port(g.port);
}

bool Detector::port_may_open(u16 port) noexcept {
  if (ctx_ == nullptr) return true;
  flush_pending();
  Guarded* g = find(port);
  if (g == nullptr || !g->closed) return true;
  begin_cooldown(*g);
  return false;
}

void Detector::begin_cooldown(Guarded& g) noexcept {
  // A port an administrator closed (rule 0) waits for an administrator.
  if (settings_.reopen != ReopenPolicy::kAfterCooldown || g.cooldown_running || g.rule == 0) return;
  g.cooldown_running = true;
  g.reopen_at = ctx_->time().uptime() + settings_.cooldown_seconds;
  schedule_cooldown();
  ctx_->trace()("defence: port %u closed, re-opens in %u s", unsigned{g.port}, unsigned{settings_.cooldown_seconds});
}

void Detector::deadline_passed(u8 slot) noexcept {
  if (ctx_ == nullptr || slot != kCooldownSlot) return;
  flush_pending();
  // The deadline service lets a deadline pass up to one tick early (card/cat/deadlines.hpp).
  const u32 now = ctx_->time().uptime() + Deadlines::kTick;
  for (Guarded& g : guarded_) {
    if (!g.cooldown_running || g.reopen_at > now) continue;
    g.cooldown_running = false;
    if (!g.closed || settings_.reopen != ReopenPolicy::kAfterCooldown) continue;
    if (ctx_->nvm().in_transaction()) {
      g.cooldown_running = true;  // try again at the next deadline
      g.reopen_at = ctx_->time().uptime() + 1;
      continue;
    }
    Guarded open = g;
    open.closed = false;
    if (!commit_port(g, open)) {
      ctx_->trace()("defence: port %u could not be re-opened (NVM)", unsigned{g.port});
      continue;
    }
    reopen_now(g);
    toolkit_.wake();
    ctx_->trace()("defence: port %u re-opens after its cool-down", unsigned{g.port});
  }
  schedule_cooldown();
}

// ---- NVM port states ------------------------------------------------------------------------------------

Status<CardError> Detector::commit_port(Guarded& g, const Guarded& next) noexcept {
  const Guarded before = g;
  SCWS_TRY(ctx_->begin_transaction());
  g = next;
  if (auto w = write_port_states(); !w || !ctx_->commit_transaction()) {
    (void)ctx_->abort_transaction();
    g = before;
    return fail(w ? CardError::kMemoryFailure : to_card_error(w.error()));
  }
  return {};
}

Status<NvmError> Detector::write_port_states() noexcept {
  std::array<u8, kPortStateSize> bytes{};
  ByteWriter w(bytes);
  w.u8_(1);
  for (const Guarded& g : guarded_) {
    const bool keep = g.port != 0 && g.closed;  // only closed ports need remembering
    w.u16_be(keep ? g.port : 0);
    w.u8_(keep ? 1 : 0);
    w.u8_(keep ? g.rule : 0);
    w.u32_be(keep ? g.incident : 0);
    w.u32_be(keep ? g.closed_at : 0);
  }
  return ctx_->objects().put(kPortStateObject, bytes);
}

void Detector::load_port_states() noexcept {
  std::array<u8, kPortStateSize> bytes{};
  auto found = ctx_->objects().find(kPortStateObject);
  if (!found) return;  // never closed a port
  if (found.value().size != kPortStateSize || !ctx_->objects().read(kPortStateObject, 0, bytes) || bytes[0] != 1) {
    ctx_->trace()("defence: port states damaged: every port open");
    return;
  }
  ByteReader r(Bytes(bytes).subspan(1));
  for (std::size_t i = 0; i < kMaxGuardedPorts; ++i) {
    const u16 port = r.u16_be();
    const u8 closed = r.u8_();
    const u8 rule = r.u8_();
    const u32 incident = r.u32_be();
    const u32 closed_at = r.u32_be();
    if (port == 0 || closed != 1) continue;
    Guarded* g = find_or_add(port);
    if (g == nullptr) continue;
    g->closed = true;
    g->rule = rule;
    g->incident = incident;
    g->closed_at = closed_at;
    ctx_->trace()("defence: port %u stays closed (incident %u)", unsigned{port}, unsigned{incident});
  }
}

// ---- DefenceControl -------------------------------------------------------------------------------------

Result<std::size_t, CardError> Detector::read_settings(CardContext& ctx, MutableBytes out) noexcept {
  (void)ctx;
  if (!encode(settings_, out)) return fail(CardError::kWrongLength);
  return DetectionSettings::kEncodedSize;
}

Status<CardError> Detector::write_settings(CardContext& ctx, Bytes settings) noexcept {
  DetectionSettings s;
  if (!decode(settings, s)) return fail(CardError::kWrongData);
  SCWS_TRY(ctx.begin_transaction());
  if (auto stored = store_detection_settings(ctx.objects(), s); !stored) {
    (void)ctx.abort_transaction();
    return fail(to_card_error(stored.error()));
  }
  SCWS_TRY(ctx.commit_transaction());
  settings_ = s;
  source_ = SettingsSource::kImage;
  for (Guarded& g : guarded_) g.windows.fill(Window{});  // counts under the old thresholds start over
  ctx.trace()("defence: detection settings replaced");
  return {};
}

Result<std::size_t, CardError> Detector::read_port_states(CardContext& ctx, MutableBytes out) noexcept {
  ByteWriter w(out);
  w.u8_(0);
  std::size_t written = 0;
  auto put = [&](u16 port) {
    const Guarded* g = find(port);
    const bool closed = g != nullptr && g->closed;
    u32 reopen_in = 0;
    if (closed) {
      if (settings_.reopen == ReopenPolicy::kAdminOnly) {
        reopen_in = kAdminOnly;
      } else if (g->cooldown_running) {
        const u32 now = ctx.time().uptime();
        reopen_in = g->reopen_at > now ? g->reopen_at - now : 0;
      } else {
        reopen_in = settings_.cooldown_seconds;  // starts when the terminal next asks for the port
      }
    }
    w.u16_be(port);
    w.u8_(closed ? 1 : 0);
    w.u8_(closed ? g->rule : 0);
    w.u32_be(closed ? g->incident : 0);
    w.u32_be(closed ? g->closed_at : 0);
    w.u32_be(reopen_in);
    ++written;
  };
  for (std::size_t i = 0; i < CatToolkit::kMaxPorts; ++i)
    if (const u16 port = toolkit_.registered_port(i); port != 0) put(port);
  for (const Guarded& g : guarded_)
    if (g.port != 0 && g.closed && !toolkit_serves(g.port)) put(g.port);
  if (!w.ok()) return fail(CardError::kWrongLength);
  w.patch(0, static_cast<u8>(written));
  return w.size();
}

bool Detector::toolkit_serves(u16 port) const noexcept {
  for (std::size_t i = 0; i < CatToolkit::kMaxPorts; ++i)
    if (toolkit_.registered_port(i) == port) return true;
  return false;
}

Status<CardError> Detector::set_port_open(CardContext& ctx, u16 port, bool open) noexcept {
  if (port == 0 || !toolkit_serves(port)) return fail(CardError::kReferencedDataNotFound);
  Guarded* g = find_or_add(port);
  if (g == nullptr) return fail(CardError::kNotEnoughMemory);
  if (g->closed == !open) return {};  // already so
  Guarded next = *g;
  next.closed = !open;
  next.rule = 0;  // an administrator's order
  next.incident = 0;
  next.closed_at = open ? 0 : ctx.time().now();
  SCWS_TRY(commit_port(*g, next));
  if (open) {
    reopen_now(*g);
  } else {
    close_now(*g);
  }
  toolkit_.wake();
  ctx.trace()("defence: port %u %s by the administrator", unsigned{port}, open ? "re-opened" : "closed");
  return {};
}

// ---- observation -------------------------------------------------------------------------------------------

bool Detector::cooldown_running(u16 port) const noexcept {
  const Guarded* g = find(port);
  return g != nullptr && g->cooldown_running;
}

bool Detector::port_closed(u16 port) const noexcept {
  const Guarded* g = find(port);
  return g != nullptr && g->closed;
}

u32 Detector::window_count(u16 port, DetectionRule rule) const noexcept {
  const Guarded* g = find(port);
  if (g == nullptr) return 0;
  u32 total = 0;
  for (u16 c : g->windows[rule_index(rule)].counts) total += c;
  return total;
}

}  // namespace scws::card
