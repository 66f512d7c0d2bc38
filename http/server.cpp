#include "http/server.hpp"

#include <cstdint>
#include <cstring>
#include <new>

#include "http/ascii.hpp"

namespace scws::http {

// ---- extension API (http/extension.hpp) --------------------------------------------------------

std::size_t HttpRequest::read_body(MutableBytes out) noexcept {
  const std::size_t n = out.size() < available_.size() ? out.size() : available_.size();
  if (n != 0) std::memcpy(out.data(), available_.data(), n);
  available_ = available_.subspan(n);
  read_ += static_cast<u32>(n);
  return n;
}

bool HttpResponse::set_content_type(std::string_view type) noexcept {
  if (type.size() > kMaxContentTypeSize || type_buffer_ == nullptr) return false;
  std::memcpy(type_buffer_, type.data(), type.size());
  type_length_ = type.size();
  return true;
}

bool HttpResponse::add_header(std::string_view name, std::string_view value) noexcept {
  if (field_count_ == kMaxExtraFields || fields_ == nullptr) return false;
  fields_[field_count_++] = ResponseField{name, value};
  return true;
}

void HttpResponse::send(ContentFn fn, u32 length) noexcept {
  if (completed_) return;
  completed_ = true;
  fn_ = fn;
  length_ = length;
  mode_ = (length == 0 || fn == nullptr) ? BodyMode::kNone : BodyMode::kLength;
}

void HttpResponse::send_unknown_length(ContentFn fn) noexcept {
  if (completed_) return;
  completed_ = true;
  fn_ = fn;
  mode_ = BodyMode::kChunked;  // the server picks until-close for HTTP/1.0
}

void HttpResponse::send_text(std::string_view static_text) noexcept {
  if (completed_) return;
  completed_ = true;
  text_ = static_text;
  length_ = static_cast<u32>(static_text.size());
  mode_ = static_text.empty() ? BodyMode::kNone : BodyMode::kLength;
}

void HttpResponse::send_empty() noexcept {
  if (completed_) return;
  completed_ = true;
  mode_ = BodyMode::kNone;
}

void HttpResponse::send_error(HttpStatus status, std::string_view allow_or_challenge) noexcept {
  if (completed_) return;
  completed_ = true;
  status_ = status;
  error_page_ = true;
  allow_or_challenge_ = allow_or_challenge;
}

HttpResponse::Out HttpResponse::server_out() const noexcept {
  Out o;
  o.status = status_;
  o.mode = mode_;
  o.length = length_;
  o.fn = fn_;
  o.text = text_;
  o.error_page = error_page_;
  if (status_ == HttpStatus::kMethodNotAllowed) o.allow = allow_or_challenge_;
  if (status_ == HttpStatus::kUnauthorized) o.challenge = allow_or_challenge_;
  o.content_type = std::string_view(type_buffer_ == nullptr ? "" : type_buffer_, type_length_);
  o.extra = std::span<const ResponseField>(fields_, field_count_);
  return o;
}

void Extension::do_options(HttpRequest& request, HttpResponse& response) noexcept {
  (void)request;
  response.add_header("Allow", allowed_methods());
  response.send_empty();
}

void Extension::refuse(HttpRequest& request, HttpResponse& response) noexcept {
  (void)request;
  response.send_error(HttpStatus::kMethodNotAllowed, allowed_methods());
}

std::size_t copy_slice(Bytes whole, u32 offset, MutableBytes out) noexcept {
  if (offset >= whole.size()) return 0;
  const std::size_t n = out.size() < whole.size() - offset ? out.size() : whole.size() - offset;
  std::memcpy(out.data(), whole.data() + offset, n);
  return n;
}

void TextBuilder::put(char c) noexcept {
  if (size_ == out_.size()) {
    ok_ = false;
    return;
  }
  out_[size_++] = c;
}

TextBuilder& TextBuilder::text(std::string_view s) noexcept {
  for (char c : s) put(c);
  return *this;
}

TextBuilder& TextBuilder::number(u64 v) noexcept {
  char digits[20];
  std::size_t n = 0;
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n != 0) put(digits[--n]);
  return *this;
}

TextBuilder& TextBuilder::hex32(u32 v) noexcept {
  constexpr char kHex[] = "0123456789abcdef";
  for (int i = 0; i < 8; ++i) put(kHex[(v >> (28 - 4 * i)) & 0xF]);
  return *this;
}

TextBuilder& TextBuilder::json_escaped(std::string_view s) noexcept {
  constexpr char kHex[] = "0123456789abcdef";
  for (char ch : s) {
    const u8 c = static_cast<u8>(ch);
    if (c == '"' || c == '\\') {
      put('\\');
      put(ch);
    } else if (c < 0x20) {
      text("\\u00");
      put(kHex[c >> 4]);
      put(kHex[c & 0xF]);
    } else {
      put(ch);
    }
  }
  return *this;
}

// ---- the connection ------------------------------------------------------------------------------

struct Server::Connection {
  enum class State : u8 {
    kReadHead,     // accumulating / parsing a request head
    kReadBody,     // an extension consumes the request body
    kDiscardBody,  // reading the body of a request whose response is decided, then kRespond
    kContinue,     // writing "100 Continue", then kReadBody
    kRespond,      // writing the response
    kClosing,      // the response that closes the connection is out: wants_close
  };

  Server* server = nullptr;
  State state = State::kReadHead;
  u16 length = 0;              // bytes in buf
  u16 head_length = 0;         // parsed head bytes at buf[0, head_length)
  u16 body_avail = 0;          // decoded body bytes waiting at buf[head_length, +body_avail)
  u16 raw_at = 0;              // first byte not yet decoded (body framing or the next request)
  u32 body_left = 0;           // kLength: body bytes not yet made available
  bool body_complete = false;
  bool close_after = false;
  bool static_route = false;
  u16 requests = 0;
  std::string_view path;       // decoded path (in buf)
  std::string_view text;       // a static text / canned body being sent
  Extension* extension = nullptr;
  FixedRequestParser<ServerConfig::kMaxHeaders> parser{ServerConfig::kLimits};
  ChunkedDecoder chunked{ChunkedLimits{64, 256, ServerConfig::kMaxBody}};
  ResponseWriter writer;
  HttpRequest request;
  HttpResponse response;
  StaticResource resource;  // static route; its content_type doubles as the extension's
  ResponseField fields[kMaxExtraFields];
  char etag[10] = {};
  // The WWW-Authenticate value of a 401 and the extension state are never needed at once (a 401
  // ends the extension's part), so they share their bytes.
  union {
    char challenge[ServerConfig::kMaxChallengeSize];
    alignas(8) u8 ext_state[kExtensionStateSize];
  };
  u8 buf[ServerConfig::kHeadBuffer];

  void trans(State next) noexcept { state = next; }
};

const std::size_t Server::kConnectionSize = sizeof(Server::Connection);
static_assert(kExtensionStateSize <= ServerConfig::kMaxChallengeSize);
// The RAM budget: serving a page must stay within 2 KiB of card RAM beyond the APDU buffer, block
// headers of the arena (8 bytes, 16-byte rounding) included.
static_assert(sizeof(Server::Connection) <= ServerConfig::kConnectionBudget, "per-connection RAM over budget");

namespace {

using Conn = Server::Connection;

Result<std::size_t, BodyError> read_static(void* context, u32 offset, MutableBytes out) noexcept;
Result<std::size_t, BodyError> read_text(void* context, u32 offset, MutableBytes out) noexcept;

bool covers(std::string_view prefix, std::string_view path) noexcept {
  if (path.size() < prefix.size() || path.substr(0, prefix.size()) != prefix) return false;
  return path.size() == prefix.size() || prefix.back() == '/' || path[prefix.size()] == '/';
}

ConnectionOption connection_option(const Conn& c) noexcept {
  if (c.close_after) return ConnectionOption::kClose;
  if (c.parser.head().version() == Version::kHttp10) return ConnectionOption::kKeepAlive;
  return ConnectionOption::kNone;
}

}  // namespace


bool Server::add_extension(std::string_view prefix, Extension& extension) noexcept {
  if (route_count_ == ServerConfig::kMaxExtensions || prefix.empty() || prefix[0] != '/') return false;
  routes_[route_count_++] = Route{prefix, &extension};
  return true;
}

Extension* Server::find_extension(std::string_view path) const noexcept {
  Extension* best = nullptr;
  std::size_t best_length = 0;
  for (std::size_t i = 0; i < route_count_; ++i) {
    if (covers(routes_[i].prefix, path) && (best == nullptr || routes_[i].prefix.size() > best_length)) {
      best = routes_[i].extension;
      best_length = routes_[i].prefix.size();
    }
  }
  return best;
}

bool Server::open(std::size_t connection, MutableBytes memory) noexcept {
  if (connection >= ServerConfig::kMaxConnections || connections_[connection] != nullptr) return false;
  if (memory.size() < kConnectionSize || reinterpret_cast<std::uintptr_t>(memory.data()) % alignof(Connection) != 0)
    return false;
  Connection* c = new (memory.data()) Connection{};
  c->server = this;
  connections_[connection] = c;
  memory_[connection] = memory;
  return true;
}

MutableBytes Server::close(std::size_t connection) noexcept {
  if (connection >= ServerConfig::kMaxConnections || connections_[connection] == nullptr) return {};
  connections_[connection]->~Connection();
  connections_[connection] = nullptr;
  MutableBytes m = memory_[connection];
  memory_[connection] = {};
  return m;
}

std::size_t Server::open_connections() const noexcept {
  std::size_t n = 0;
  for (const Connection* c : connections_) n += c != nullptr ? 1 : 0;
  return n;
}

const char* to_string(ClientWait w) noexcept {
  switch (w) {
    case ClientWait::kNone: return "none";
    case ClientWait::kHead: return "head";
    case ClientWait::kBody: return "body";
    case ClientWait::kIdle: return "idle";
  }
  return "?";
}

ClientWait Server::waiting_for(std::size_t connection) const noexcept {
  if (connection >= ServerConfig::kMaxConnections || connections_[connection] == nullptr) return ClientWait::kNone;
  const Connection& c = *connections_[connection];
  switch (c.state) {
    case Connection::State::kReadHead:
      return (c.requests != 0 && c.length == 0) ? ClientWait::kIdle : ClientWait::kHead;
    case Connection::State::kReadBody:
      return ClientWait::kBody;
    case Connection::State::kDiscardBody:
      return c.body_complete ? ClientWait::kNone : ClientWait::kBody;
    case Connection::State::kContinue:
    case Connection::State::kRespond:
    case Connection::State::kClosing:
      return ClientWait::kNone;
  }
  return ClientWait::kNone;
}

bool Server::request_started(std::size_t connection) const noexcept {
  if (connection >= ServerConfig::kMaxConnections || connections_[connection] == nullptr) return false;
  return connections_[connection]->length != 0 || connections_[connection]->head_length != 0;
}

TimeoutOutcome Server::timed_out(std::size_t connection) noexcept {
  if (connection >= ServerConfig::kMaxConnections || connections_[connection] == nullptr) return TimeoutOutcome::kNothing;
  Connection& c = *connections_[connection];
  const ClientWait w = waiting_for(connection);
  switch (w) {
    case ClientWait::kNone:
      return TimeoutOutcome::kNothing;
    case ClientWait::kIdle:
      c.trans(Connection::State::kClosing);
      return TimeoutOutcome::kClosed;
    case ClientWait::kHead:
    case ClientWait::kBody:
      break;
  }
  // RFC 9110 15.5.9: 408 for a request begun and not answered; the response of a request whose
  // body is being discarded is already decided, and a client that sent nothing gets no answer.
  if (c.state == Connection::State::kDiscardBody || !request_started(connection)) {
    c.trans(Connection::State::kClosing);
    return TimeoutOutcome::kClosed;
  }
  c.body_complete = true;  // nothing more is read
  start_error(c, HttpStatus::kRequestTimeout, true);
  if (c.state == Connection::State::kClosing) return TimeoutOutcome::kClosed;
  c.trans(Connection::State::kRespond);
  return TimeoutOutcome::kRequestTimeout;
}

bool Server::wants_close(std::size_t connection) const noexcept {
  if (connection >= ServerConfig::kMaxConnections || connections_[connection] == nullptr) return false;
  return connections_[connection]->state == Connection::State::kClosing;
}

std::size_t Server::receive(std::size_t connection, Bytes data) noexcept {
  if (connection >= ServerConfig::kMaxConnections || connections_[connection] == nullptr) return 0;
  Connection& c = *connections_[connection];
  // Once the connection is to close, what the client sends no longer matters.
  if (c.state == Connection::State::kClosing || (c.close_after && c.state == Connection::State::kRespond))
    return data.size();
  const std::size_t room = ServerConfig::kHeadBuffer - c.length;
  const std::size_t n = data.size() < room ? data.size() : room;
  if (n != 0) std::memcpy(c.buf + c.length, data.data(), n);
  c.length = static_cast<u16>(c.length + n);
  process(c);
  return n;
}

std::size_t Server::send(std::size_t connection, MutableBytes out) noexcept {
  if (connection >= ServerConfig::kMaxConnections || connections_[connection] == nullptr) return 0;
  Connection& c = *connections_[connection];
  if (c.state != Connection::State::kRespond && c.state != Connection::State::kContinue) return 0;
  if (out.size() < ResponseWriter::kMinPiece) return 0;
  auto n = c.writer.write(out);
  if (!n) {
    // The head (or part of the content) may be out: the only safe end is closing.
    c.trans(Connection::State::kClosing);
    return 0;
  }
  if (c.writer.done()) {
    if (c.state == Connection::State::kContinue) {
      c.writer.reset();
      c.trans(Connection::State::kReadBody);
      process(c);
    } else {
      finish_request(c);
    }
  }
  return *n;
}

// ---- request processing --------------------------------------------------------------------------

void Server::finish_request(Connection& c) noexcept {
  if (c.close_after || c.writer.close_after()) {
    c.trans(Connection::State::kClosing);
    return;
  }
  // Drop the request (head and body framing); what follows is the next, pipelined, request.
  const std::size_t drop = c.raw_at;
  std::memmove(c.buf, c.buf + drop, c.length - drop);
  c.length -= drop;
  c.head_length = c.body_avail = c.raw_at = 0;
  c.body_left = 0;
  c.body_complete = false;
  c.static_route = false;
  c.extension = nullptr;
  c.path = {};
  c.text = {};
  c.parser.reset();
  c.chunked.reset();
  c.writer.reset();
  c.trans(Connection::State::kReadHead);
  process(c);
}

void Server::start_error(Connection& c, HttpStatus status, bool close) noexcept {
  if (is_malformed_request_status(status)) site_.refused(status, Bytes(c.buf, c.length));
  if (close) c.close_after = true;
  ErrorResponse e = error_response(status);
  if (c.head_length == 0) c.close_after = true;  // no parsed head: always close
  e.head.connection = connection_option(c);
  if (status == HttpStatus::kMethodNotAllowed) e.head.allow = ServerConfig::kStaticAllow;
  if (status == HttpStatus::kUnauthorized) e.head.www_authenticate = std::string_view(c.challenge);
  c.text = canned_body(status);
  auto s = c.writer.start(e.head, BodySource{read_text, &c});
  if (!s) {
    c.trans(Connection::State::kClosing);
    return;
  }
  c.raw_at = c.raw_at < c.head_length ? c.head_length : c.raw_at;
  c.trans(c.body_complete || c.close_after ? Connection::State::kRespond : Connection::State::kDiscardBody);
}

void Server::process(Connection& c) noexcept {
  for (;;) {
    switch (c.state) {
      case Connection::State::kReadHead: {
        if (c.length == 0) return;
        auto r = c.parser.parse(Bytes(c.buf, c.length));
        if (!r) {
          start_error(c, r.error(), true);
          break;
        }
        if (!r->complete) {
          // A full buffer without a whole head: the parser would only see it with one more byte.
          if (c.length == ServerConfig::kHeadBuffer) start_error(c, HttpStatus::kRequestHeaderFieldsTooLarge, true);
          if (c.state == Connection::State::kReadHead) return;
          break;
        }
        c.head_length = static_cast<u16>(r->head_length);
        c.raw_at = c.head_length;
        dispatch(c);
        break;
      }
      case Connection::State::kReadBody: {
        const std::size_t avail_before = c.body_avail;
        const bool complete_before = c.body_complete;
        if (!pump_body(c)) break;  // the error response is started
        if (c.body_avail == avail_before && c.body_complete == complete_before) return;  // nothing new
        call_extension(c, false);
        if (c.state == Connection::State::kReadBody) return;  // waits for more body
        break;
      }
      case Connection::State::kDiscardBody: {
        if (!pump_body(c)) return;
        // Drop what was decoded.
        std::memmove(c.buf + c.head_length, c.buf + c.head_length + c.body_avail, c.length - c.head_length - c.body_avail);
        c.length -= c.body_avail;
        c.raw_at -= c.body_avail;
        c.body_avail = 0;
        if (!c.body_complete) return;
        c.trans(Connection::State::kRespond);
        return;
      }
      case Connection::State::kContinue:
      case Connection::State::kRespond:
      case Connection::State::kClosing:
        return;
    }
  }
}

// Decodes what arrived into buf[head_length, +body_avail) and closes framing gaps. false after a
// framing error (the error response is started).
bool Server::pump_body(Connection& c) noexcept {
  const RequestHead& head = c.parser.head();
  switch (head.framing()) {
    case BodyFraming::kNone:
      c.body_complete = true;
      return true;
    case BodyFraming::kLength: {
      const std::size_t raw = c.length - c.raw_at;
      const std::size_t take = raw < c.body_left ? raw : c.body_left;
      c.body_avail += take;
      c.raw_at += take;
      c.body_left -= static_cast<u32>(take);
      c.body_complete = c.body_left == 0;
      return true;
    }
    case BodyFraming::kChunked: {
      if (c.body_complete) return true;
      const std::size_t out_at = c.head_length + c.body_avail;
      auto r = c.chunked.decode(Bytes(c.buf + c.raw_at, c.length - c.raw_at),
                                MutableBytes(c.buf + out_at, c.length - out_at));
      if (!r) {
        c.body_complete = true;
        c.body_avail = 0;
        start_error(c, to_status(r.error()), true);
        return false;
      }
      c.raw_at += r->consumed;
      c.body_avail += r->produced;
      // Close the gap the framing left between the decoded bytes and the rest.
      const std::size_t end = c.head_length + c.body_avail;
      if (end < c.raw_at) {
        std::memmove(c.buf + end, c.buf + c.raw_at, c.length - c.raw_at);
        c.length -= c.raw_at - end;
        c.raw_at = end;
      }
      c.body_complete = r->done;
      return true;
    }
  }
  return true;
}

void Server::dispatch(Connection& c) noexcept {
  const RequestHead& head = c.parser.head();
  ++requests_;
  ++c.requests;
  c.close_after = !head.keep_alive() || c.requests >= ServerConfig::kMaxRequestsPerConnection;
  c.body_left = head.framing() == BodyFraming::kLength ? head.content_length() : 0;
  c.body_complete = head.framing() == BodyFraming::kNone ||
                    (head.framing() == BodyFraming::kLength && head.content_length() == 0);

  // The asterisk form: OPTIONS for the server as a whole (RFC 9110 9.3.7).
  if (head.path() == "*") {
    c.fields[0] = ResponseField{"Allow", "GET, HEAD, POST, PUT, DELETE, OPTIONS"};
    c.response.server_reset(c.resource.content_type, c.fields);
    ResponseHead r;
    r.connection = connection_option(c);
    r.extra = std::span<const ResponseField>(c.fields, 1);
    if (!c.writer.start(r)) return start_error(c, HttpStatus::kInternalServerError, true);
    c.trans(c.body_complete ? Connection::State::kRespond : Connection::State::kDiscardBody);
    return;
  }

  // Decode the path in place: the decoded form is never longer, and the raw path is not needed again.
  std::string_view raw = head.path();
  const char* base = reinterpret_cast<const char*>(c.buf);
  if (raw.data() >= base && raw.data() + raw.size() <= base + c.head_length) {
    auto d = decode_path(raw, MutableBytes(c.buf + (raw.data() - base), raw.size()));
    if (!d) return start_error(c, to_status(d.error()), true);
    c.path = *d;
  } else {
    c.path = "/";  // absolute-form without a path
  }

  const Method m = head.method();
  if ((m == Method::kPost || m == Method::kPut) && head.framing() == BodyFraming::kNone)
    return start_error(c, HttpStatus::kLengthRequired, true);

  const AccessDecision access = site_.check_access(c.path, head.authorization(), std::span<char>(c.challenge));
  switch (access.access) {
    case Access::kAllow:
      break;
    case Access::kChallenge: {
      // The challenge text is in c.challenge (NUL padded): cut it to its length.
      const std::size_t n = access.challenge.size() < sizeof c.challenge ? access.challenge.size() : sizeof c.challenge - 1;
      c.challenge[n] = '\0';
      return start_error(c, HttpStatus::kUnauthorized, false);
    }
    case Access::kForbidden:
      return start_error(c, HttpStatus::kForbidden, false);
    case Access::kError:
      return start_error(c, HttpStatus::kInternalServerError, true);
  }

  c.extension = find_extension(c.path);
  if (c.extension != nullptr) {
    std::memset(c.ext_state, 0, sizeof c.ext_state);
    c.request.server_set(&head, c.path, MutableBytes(c.ext_state, sizeof c.ext_state));
    c.response.server_reset(c.resource.content_type, c.fields);
    c.trans(Connection::State::kReadBody);
    if (!pump_body(c)) return;
    call_extension(c, true);
    if (c.state == Connection::State::kReadBody && head.expect_continue() && c.body_avail == 0 && !c.body_complete &&
        c.length == c.raw_at) {
      // RFC 9110 10.1.1: the client waits for 100 before sending the body.
      ResponseHead interim;
      interim.status = HttpStatus::kContinue;
      if (c.writer.start(interim)) c.trans(Connection::State::kContinue);
    }
    return;
  }
  start_static(c);
}

void Server::call_extension(Connection& c, bool first) noexcept {
  c.request.server_offer(Bytes(c.buf + c.head_length, c.body_avail), c.body_complete);
  if (first) {
    switch (c.parser.head().method()) {
      case Method::kGet:
        c.extension->do_get(c.request, c.response);
        break;
      case Method::kHead:
        c.extension->do_head(c.request, c.response);
        break;
      case Method::kPost:
        c.extension->do_post(c.request, c.response);
        break;
      case Method::kPut:
        c.extension->do_put(c.request, c.response);
        break;
      case Method::kDelete:
        c.extension->do_delete(c.request, c.response);
        break;
      case Method::kOptions:
        c.extension->do_options(c.request, c.response);
        break;
    }
  } else {
    c.extension->on_body(c.request, c.response);
  }
  // Remove what the extension read from the front of the decoded bytes.
  const std::size_t consumed = c.body_avail - c.request.server_unread();
  if (consumed != 0) {
    std::memmove(c.buf + c.head_length, c.buf + c.head_length + consumed, c.length - c.head_length - consumed);
    c.length -= consumed;
    c.raw_at -= consumed;
    c.body_avail -= consumed;
  }
  if (!c.response.completed()) {
    if (c.body_complete && c.body_avail == 0) start_error(c, HttpStatus::kInternalServerError, true);  // no answer
    return;
  }
  if (!c.body_complete || c.body_avail != 0) c.close_after = true;  // answered before the body ended
  start_response(c);
}

void Server::start_response(Connection& c) noexcept {
  const HttpResponse::Out o = c.response.server_out();
  if (o.error_page) {
    if (o.status == HttpStatus::kUnauthorized) {
      const std::size_t n = o.challenge.size() < sizeof c.challenge ? o.challenge.size() : sizeof c.challenge - 1;
      std::memcpy(c.challenge, o.challenge.data(), n);
      c.challenge[n] = '\0';
    }
    ErrorResponse e = error_response(o.status);
    e.head.connection = connection_option(c);
    e.head.allow = o.allow;
    if (o.status == HttpStatus::kUnauthorized) e.head.www_authenticate = std::string_view(c.challenge);
    c.text = canned_body(o.status);
    if (!c.writer.start(e.head, BodySource{read_text, &c})) return start_error(c, HttpStatus::kInternalServerError, true);
    c.trans(Connection::State::kRespond);
    return;
  }
  ResponseHead r;
  r.status = o.status;
  r.content_type = o.content_type;
  r.extra = o.extra;
  r.head_request = c.parser.head().method() == Method::kHead;
  BodySource body;
  switch (o.mode) {
    case BodyMode::kNone:
      r.body = BodyMode::kNone;
      break;
    case BodyMode::kLength:
      r.body = BodyMode::kLength;
      r.content_length = o.length;
      if (o.fn != nullptr) {
        body = BodySource{o.fn, c.ext_state};
      } else {
        c.text = o.text;
        body = BodySource{read_text, &c};
      }
      break;
    case BodyMode::kChunked:
    case BodyMode::kUntilClose:
      r.body = unknown_length_mode(c.parser.head().version() == Version::kHttp11);
      if (r.body == BodyMode::kUntilClose && !r.head_request) c.close_after = true;
      body = BodySource{o.fn, c.ext_state};
      break;
  }
  r.connection = connection_option(c);
  if (!c.writer.start(r, body)) return start_error(c, HttpStatus::kInternalServerError, true);
  c.trans(Connection::State::kRespond);
}

void Server::start_static(Connection& c) noexcept {
  const RequestHead& head = c.parser.head();
  const bool directory = !c.path.empty() && c.path.back() == '/';
  auto found = site_.find(c.path, directory ? site_.index_name() : std::string_view{});
  if (!found) return start_error(c, found.error(), found.error() != HttpStatus::kNotFound);
  c.resource = *found;
  c.static_route = true;
  const Method m = head.method();
  if (m == Method::kPost || m == Method::kPut || m == Method::kDelete)
    return start_error(c, HttpStatus::kMethodNotAllowed, false);

  ResponseHead r;
  r.connection = connection_option(c);
  if (m == Method::kOptions) {
    r.allow = ServerConfig::kStaticAllow;
    if (!c.writer.start(r)) return start_error(c, HttpStatus::kInternalServerError, true);
    c.trans(c.body_complete ? Connection::State::kRespond : Connection::State::kDiscardBody);
    return;
  }
  constexpr char kHex[] = "0123456789abcdef";
  c.etag[0] = '"';
  for (int i = 0; i < 8; ++i) c.etag[1 + i] = kHex[(c.resource.etag >> (28 - 4 * i)) & 0xF];
  c.etag[9] = '"';
  r.etag = std::string_view(c.etag, sizeof c.etag);
  if (if_none_match_matches(head, r.etag)) {
    r.status = HttpStatus::kNotModified;  // RFC 9110 15.4.5: no content
  } else {
    r.content_type = std::string_view(c.resource.content_type, c.resource.content_type_length);
    r.body = BodyMode::kLength;
    r.content_length = c.resource.length;
    r.head_request = m == Method::kHead;
  }
  if (!c.writer.start(r, BodySource{read_static, &c})) return start_error(c, HttpStatus::kInternalServerError, true);
  c.trans(c.body_complete ? Connection::State::kRespond : Connection::State::kDiscardBody);
}

namespace {

Result<std::size_t, BodyError> read_static(void* context, u32 offset, MutableBytes out) noexcept {
  auto& c = *static_cast<Conn*>(context);
  return c.server->site().read(c.resource, offset, out);
}

Result<std::size_t, BodyError> read_text(void* context, u32 offset, MutableBytes out) noexcept {
  auto& c = *static_cast<Conn*>(context);
  return copy_slice(as_bytes(c.text), offset, out);
}

}  // namespace

}  // namespace scws::http
