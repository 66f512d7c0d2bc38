#include "card/scws/scws_applet.hpp"

#include <cstring>

#include "card/cat/toolkit.hpp"
#include "card/scws/scws_settings.hpp"
#include "card/scws/web_content.hpp"
#include "card/scws/web_users.hpp"

namespace scws::card {

ScwsApplet::ScwsApplet(const ScwsDefaults& config) noexcept : config_(config), server_(*this) {
  server_.add_extension(StatusExtension::kPath, status_);
  server_.add_extension(UploadExtension::kPath, upload_);
}

Status<CardError> ScwsApplet::install(CardContext& ctx) noexcept {
  // Inside the transaction the card OS opened: both join it.
  if (!web_content_format(ctx.objects())) return fail(CardError::kNotEnoughMemory);
  if (!web_users_format(ctx.objects())) return fail(CardError::kNotEnoughMemory);
  return {};
}

Status<CardError> ScwsApplet::on_power_up(CardContext& ctx) noexcept {
  ctx_ = &ctx;
  // RAM of the previous session is gone (the arena was reset): forget its connections.
  for (std::size_t i = 0; i < http::ServerConfig::kMaxConnections; ++i) (void)server_.close(i);
  for (Timing& t : timing_) t = Timing{};
  status_.bind(&ctx, this, port_extension_);
  // The image's settings (card/scws/scws_settings.hpp) override the built-in defaults: the profile chose
  // the port, the channels and the default page.
  ScwsSettings defaults;
  defaults.http_port = config_.http_port;
  defaults.http_channels = config_.max_channels;
  auto stored = scws_settings_get(ctx.objects(), defaults);
  if (!stored) ctx.trace()("scws: %s; serving with the built-in defaults", describe(stored.error()));
  settings_ = stored ? *stored : defaults;
  if (toolkit_ != nullptr) {
    auto r = toolkit_->add_server_port(settings_.http_port, config_.buffer_size, *this, settings_.http_channels);
    if (!r) ctx.trace()("scws: port %u not registered with the toolkit", static_cast<unsigned>(settings_.http_port));
  }
  // The same server behind the TLS port: connection numbers are the toolkit's slots, shared by
  // both ports, so one connection table serves them all.
  if (port_extension_ != nullptr) return port_extension_->power_up(ctx, settings_, toolkit_, *this, config_.buffer_size);
  return {};
}

bool ScwsApplet::select(CardContext& ctx, u8 channel) noexcept {
  (void)ctx;
  (void)channel;
  return true;
}

void ScwsApplet::deselect(CardContext& ctx, u8 channel) noexcept {
  (void)ctx;
  (void)channel;
}

Result<ApduOutcome, CardError> ScwsApplet::process(CardContext& ctx, const ApduRequest& request) noexcept {
  (void)ctx;
  if (request.selecting) return ApduOutcome{};
  return fail(CardError::kInsNotSupported);
}

// ---- StreamEndpoint ----------------------------------------------------------------------------------

bool ScwsApplet::open(std::size_t connection) noexcept {
  if (ctx_ == nullptr) return false;
  current_connection_ = connection;
  void* memory = ctx_->arena().allocate(http::Server::kConnectionSize);
  if (memory == nullptr) {
    ctx_->trace()("scws: connection %zu refused: no RAM", connection);
    return false;
  }
  if (!server_.open(connection, MutableBytes(static_cast<u8*>(memory), http::Server::kConnectionSize))) {
    ctx_->arena().deallocate(memory);
    return false;
  }
  timing_[connection] = Timing{};
  review(connection, connection);
  return true;
}

std::size_t ScwsApplet::receive(std::size_t connection, Bytes data) noexcept {
  current_connection_ = connection;
  const std::size_t n = server_.receive(connection, data);
  review(connection);
  return n;
}

std::size_t ScwsApplet::send(std::size_t connection, MutableBytes out) noexcept {
  current_connection_ = connection;
  const std::size_t n = server_.send(connection, out);
  review(connection);
  return n;
}

bool ScwsApplet::wants_close(std::size_t connection) const noexcept { return server_.wants_close(connection); }

void ScwsApplet::close(std::size_t connection) noexcept {
  MutableBytes m = server_.close(connection);
  if (!m.empty() && ctx_ != nullptr) ctx_->arena().deallocate(m.data());
  if (connection < kMaxConnections) {
    if (toolkit_ != nullptr) toolkit_->deadlines().stop(static_cast<u8>(kFirstSlot + connection));
    timing_[connection] = Timing{};
  }
}

// ---- deadlines ------------------------------------------------------------------------------------------

u16 ScwsApplet::port_of(std::size_t connection) const noexcept {
  const u16 port = toolkit_ != nullptr ? toolkit_->connection_port(connection) : 0;
  return port != 0 ? port : settings_.http_port;
}

void ScwsApplet::start_deadline(std::size_t c, u32 seconds) noexcept {
  if (toolkit_ == nullptr) return;
  (void)toolkit_->deadlines().start(static_cast<u8>(kFirstSlot + c), seconds == 0 ? 1 : seconds, *this);
}

void ScwsApplet::review(std::size_t c, std::size_t opening) noexcept {
  if (c >= kMaxConnections) return;
  Timing& t = timing_[c];
  const http::ClientWait w = server_.waiting_for(c);
  if (w != t.wait) {
    t.wait = w;
    t.evicting = false;
    switch (w) {
      case http::ClientWait::kNone:
        if (toolkit_ != nullptr) toolkit_->deadlines().stop(static_cast<u8>(kFirstSlot + c));
        break;
      case http::ClientWait::kHead: start_deadline(c, settings_.head_timeout); break;
      case http::ClientWait::kBody: start_deadline(c, settings_.body_timeout); break;
      case http::ClientWait::kIdle:
        t.idle_since = uptime();
        start_deadline(c, settings_.idle_timeout);
        break;
    }
  }
  review_evictions(opening);
}

void ScwsApplet::review_evictions(std::size_t opening) noexcept {
  if (toolkit_ == nullptr) return;
  const u32 now = uptime();
  const u16 ports[2] = {settings_.http_port, settings_.tls_port};
  for (const u16 port : ports) {
    if (port == 0) continue;
    std::size_t listening = toolkit_->channels(port, BipState::kListen);
    if (opening < kMaxConnections && toolkit_->connection_port(opening) == port &&
        toolkit_->slot(opening).state() == BipState::kListen && listening != 0)
      --listening;
    const bool full = listening == 0;
    std::size_t oldest = kMaxConnections;
    bool one_evicting = false;
    for (std::size_t c = 0; c < kMaxConnections; ++c) {
      Timing& t = timing_[c];
      if (t.wait != http::ClientWait::kIdle || port_of(c) != port) continue;
      if (t.evicting && !full) {
        // A channel listens again: back to the idle deadline, counted from when the idleness began.
        t.evicting = false;
        const u32 idle = now - t.idle_since;
        start_deadline(c, idle < settings_.idle_timeout ? settings_.idle_timeout - idle : 1);
      }
      if (t.evicting) one_evicting = true;
      if (oldest == kMaxConnections || t.idle_since < timing_[oldest].idle_since) oldest = c;
    }
    if (!full || one_evicting || oldest == kMaxConnections) continue;
    Timing& victim = timing_[oldest];
    victim.evicting = true;
    const u32 idle = now - victim.idle_since;
    ctx_->trace()("scws: port %u full: connection %zu, idle %u s, goes after %u s of idleness", unsigned{port}, oldest,
                  unsigned{idle}, unsigned{kEvictionGrace});
    // A deadline may pass up to Deadlines::kTick early and the uptime lags by as much: one tick more
    // so that a client is never evicted before kEvictionGrace of real idleness.
    start_deadline(oldest, (idle < kEvictionGrace ? kEvictionGrace - idle : 0) + Deadlines::kTick);
  }
}

void ScwsApplet::deadline_passed(u8 slot) noexcept {
  if (slot < kFirstSlot || ctx_ == nullptr) return;
  const std::size_t c = slot - kFirstSlot;
  if (c >= kMaxConnections) return;
  Timing& t = timing_[c];
  const http::ClientWait w = t.wait;
  const bool evicted = t.evicting;
  const http::TimeoutOutcome outcome = server_.timed_out(c);
  t = Timing{};
  const u16 port = port_of(c);
  switch (w) {
    case http::ClientWait::kNone:
      return;
    case http::ClientWait::kIdle:
      ctx_->events().report(SecurityEventKind::kHttpIdleClient, port, static_cast<u8>(c), evicted ? 1 : 0);
      ctx_->trace()("scws: connection %zu closed: idle %s", c, evicted ? "on a full port" : "past its deadline");
      break;
    case http::ClientWait::kHead:
    case http::ClientWait::kBody: {
      const bool answered = outcome == http::TimeoutOutcome::kRequestTimeout;
      ctx_->events().report(SecurityEventKind::kHttpSlowClient, port, static_cast<u8>(c),
                            answered ? http::code(http::HttpStatus::kRequestTimeout) : 0);
      ctx_->trace()("scws: connection %zu: the request %s did not arrive in time%s", c,
                    w == http::ClientWait::kHead ? "head" : "body", answered ? " (408)" : "");
      break;
    }
  }
  t.wait = server_.waiting_for(c);
}

// The current connection's port: the HTTP port, or the TLS port whose sessions carry HTTP here.
u16 ScwsApplet::connection_port() const noexcept {
  const u16 port = toolkit_ != nullptr ? toolkit_->connection_port(current_connection_) : 0;
  return port != 0 ? port : settings_.http_port;
}

void ScwsApplet::refused(http::HttpStatus status, Bytes request_start) noexcept {
  if (ctx_ == nullptr) return;
  ctx_->events().report(SecurityEventKind::kHttpMalformed, connection_port(), static_cast<u8>(current_connection_),
                        http::code(status), request_start);
}

u32 ScwsApplet::auth_failures() const noexcept {
  return ctx_ != nullptr ? ctx_->events().total(SecurityEventKind::kHttpAuthFailure) : 0;
}

// ---- http::Site ----------------------------------------------------------------------------------------

Result<http::StaticResource, http::HttpStatus> ScwsApplet::find(std::string_view path,
                                                                 std::string_view suffix) noexcept {
  if (ctx_ == nullptr) return fail(http::HttpStatus::kServiceUnavailable);
  char joined[WebContentLimits::kMaxPath];
  if (path.size() + suffix.size() > sizeof joined) return fail(http::HttpStatus::kNotFound);
  std::memcpy(joined, path.data(), path.size());
  if (!suffix.empty()) std::memcpy(joined + path.size(), suffix.data(), suffix.size());
  auto r = web_content_find(ctx_->objects(), std::string_view(joined, path.size() + suffix.size()));
  if (!r) {
    switch (r.error()) {
      case ContentError::kNotFound:
      case ContentError::kInvalidPath:
        return fail(http::HttpStatus::kNotFound);
      case ContentError::kNoStore:
        return fail(http::HttpStatus::kServiceUnavailable);
      case ContentError::kInvalidContentType:
      case ContentError::kIndexFull:
      case ContentError::kNoSpace:
      case ContentError::kCommitCapacity:
      case ContentError::kNvm:
        return fail(http::HttpStatus::kInternalServerError);
    }
    return fail(http::HttpStatus::kInternalServerError);
  }
  http::StaticResource s;
  s.handle = r->body_object;
  s.length = r->length;
  s.etag = r->etag;
  static_assert(sizeof s.content_type >= WebContentLimits::kMaxContentType);
  std::memcpy(s.content_type, r->content_type, r->content_type_length);
  s.content_type_length = r->content_type_length;
  return s;
}

Result<std::size_t, http::BodyError> ScwsApplet::read(const http::StaticResource& resource, u32 offset,
                                                     MutableBytes out) noexcept {
  if (ctx_ == nullptr) return fail(http::BodyError::kReadFailed);
  WebResource w;
  w.body_object = resource.handle;
  w.index = resource.handle - kWebBodyObjectBase;  // body objects are numbered by index slot
  w.length = resource.length;
  w.etag = resource.etag;
  auto r = web_content_read(ctx_->objects(), w, offset, out);
  if (!r) return fail(http::BodyError::kReadFailed);
  return *r;
}

http::AccessDecision ScwsApplet::check_access(std::string_view path, std::optional<std::string_view> authorization,
                                              std::span<char> challenge) noexcept {
  if (ctx_ == nullptr) return {http::Access::kError, {}};
  auto p = web_protection_for(ctx_->objects(), path);
  if (!p) return {http::Access::kError, {}};
  if (!p->has_value()) return {};
  const AuthOutcome outcome = web_users_check(ctx_->objects(), **p, authorization);
  switch (outcome) {
    case AuthOutcome::kGranted:
      return {};
    case AuthOutcome::kDenied: {
      ctx_->events().report(SecurityEventKind::kHttpAuthFailure, connection_port(), static_cast<u8>(current_connection_),
                            0, Bytes(reinterpret_cast<const u8*>(path.data()), path.size()));
      ctx_->trace()("scws: authentication failed (%u so far)", static_cast<unsigned>(auth_failures()));
      break;
    }
    case AuthOutcome::kMissing:
      break;
  }
  return {http::Access::kChallenge, basic_challenge(**p, challenge)};
}

}  // namespace scws::card
