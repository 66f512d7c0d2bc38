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
  return true;
}

std::size_t ScwsApplet::receive(std::size_t connection, Bytes data) noexcept {
  current_connection_ = connection;
  return server_.receive(connection, data);
}

std::size_t ScwsApplet::send(std::size_t connection, MutableBytes out) noexcept {
  current_connection_ = connection;
  return server_.send(connection, out);
}

bool ScwsApplet::wants_close(std::size_t connection) const noexcept { return server_.wants_close(connection); }

void ScwsApplet::close(std::size_t connection) noexcept {
  MutableBytes m = server_.close(connection);
  if (!m.empty() && ctx_ != nullptr) ctx_->arena().deallocate(m.data());
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
  w.length = resource.length;
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
