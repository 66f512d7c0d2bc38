#include "http/request_parser.hpp"

#include <algorithm>

#include "http/ascii.hpp"

namespace scws::http {

namespace {

constexpr u8 kCr = '\r';
constexpr u8 kLf = '\n';
constexpr std::size_t kMaxFieldIndex = 254;  // u8 indexes, 0xFF = none

// Parses Content-Length (RFC 9110 8.6: 1*DIGIT). Values above `cap` saturate to cap + 1 so that
// any number of digits is read without overflow.
bool parse_content_length(std::string_view v, u32 cap, u64& out) noexcept {
  if (v.empty()) return false;
  u64 n = 0;
  for (char ch : v) {
    u8 c = static_cast<u8>(ch);
    if (!is_digit(c)) return false;
    if (n <= cap) n = n * 10 + static_cast<u64>(c - '0');
  }
  out = n > cap ? u64{cap} + 1 : n;
  return true;
}

// uri-host [ ":" port ] (RFC 9110 7.2), checked loosely: refuses what would make it something else.
bool valid_host(std::string_view v) noexcept {
  for (char ch : v) {
    u8 c = static_cast<u8>(ch);
    if (!is_vchar(c)) return false;  // whitespace, obs-text
    if (c == '/' || c == '?' || c == '#' || c == '@' || c == '\\') return false;
  }
  return true;
}

}  // namespace

std::string_view method_name(Method m) noexcept {
  switch (m) {
    case Method::kGet:
      return "GET";
    case Method::kHead:
      return "HEAD";
    case Method::kPost:
      return "POST";
    case Method::kPut:
      return "PUT";
    case Method::kDelete:
      return "DELETE";
    case Method::kOptions:
      return "OPTIONS";
  }
  return "";
}

// --- RequestHead -------------------------------------------------------------------------------

std::string_view RequestHead::path() const noexcept {
  if (absolute_form_ && path_.length == 0) return "/";
  return text(path_);
}

HeaderView RequestHead::header(std::size_t i) const noexcept {
  if (i >= header_count_ || base_ == nullptr) return {};
  const HeaderField& f = fields_[i];
  return {std::string_view(base_ + f.name_offset, f.name_length),
          std::string_view(base_ + f.value_offset, f.value_length)};
}

std::size_t RequestHead::find(std::string_view name, std::size_t from) const noexcept {
  for (std::size_t i = from; i < header_count_; ++i)
    if (iequals(header(i).name, name)) return i;
  return npos;
}

std::optional<std::string_view> RequestHead::value(std::string_view name) const noexcept {
  std::size_t i = find(name);
  if (i == npos) return std::nullopt;
  return header(i).value;
}

std::optional<std::string_view> RequestHead::field_value(u8 index) const noexcept {
  if (index == kNoField || index >= header_count_) return std::nullopt;
  return header(index).value;
}

// --- RequestParser -----------------------------------------------------------------------------

RequestParser::RequestParser(std::span<HeaderField> fields, const RequestLimits& limits) noexcept
    : limits_(limits), fields_(fields) {
  limits_.max_head = std::min(limits_.max_head, kMaxHeadLimit);
  if (limits_.max_head < 4) limits_.max_head = 4;
  limits_.max_request_line = std::min(limits_.max_request_line, limits_.max_head - 2);
  limits_.max_headers = std::min({limits_.max_headers, fields_.size(), kMaxFieldIndex});
  head_.fields_ = fields_.data();
}

void RequestParser::reset() noexcept {
  head_ = RequestHead{};
  head_.fields_ = fields_.data();
  base_ = nullptr;
  pos_ = mark_ = line_length_ = query_at_ = name_end_ = value_begin_ = value_end_ = 0;
  content_length_ = 0;
  state_ = State::kStart;
  error_ = HttpStatus::kBadRequest;
  version_index_ = version_major_ = version_minor_ = 0;
  host_field_ = RequestHead::kNoField;
  content_length_seen_ = te_seen_ = te_chunked_last_ = te_other_ = false;
  connection_close_ = connection_keep_alive_ = expect_continue_ = false;
}

ParseResult RequestParser::parse(Bytes received) noexcept {
  if (state_ == State::kFailed) return scws::fail(error_);
  if (received.size() < pos_) {
    // The caller gave fewer bytes than already seen: a bug above us, not the client's fault.
    fail(HttpStatus::kInternalServerError);
    return scws::fail(error_);
  }
  base_ = reinterpret_cast<const char*>(received.data());
  head_.base_ = base_;
  while (state_ != State::kComplete && pos_ < received.size()) {
    step(received[pos_]);
    if (state_ == State::kFailed) return scws::fail(error_);
    ++pos_;
  }
  if (state_ == State::kComplete) return ParseProgress{true, pos_};
  return ParseProgress{false, 0};
}

void RequestParser::fail(HttpStatus s) noexcept {
  if (state_ != State::kFailed) error_ = s;
  state_ = State::kFailed;
}

std::string_view RequestParser::slice(std::size_t begin, std::size_t end) const noexcept {
  return std::string_view(base_ + begin, end - begin);
}

void RequestParser::step(u8 c) noexcept {
  // pos_ < max_head - 2 holds inside the request line (max_request_line is clamped), so this check
  // never hides a 414 behind a 431 unless empty lines came first.
  if (pos_ >= limits_.max_head) return fail(HttpStatus::kRequestHeaderFieldsTooLarge);

  switch (state_) {
    case State::kStart:
    case State::kMethod:
    case State::kLeadingLf:
    case State::kTarget:
    case State::kVersion:
    case State::kRequestLineLf:
      return step_request_line(c);

    case State::kFieldStart:
    case State::kFieldName:
    case State::kFieldValue:
    case State::kFieldLf:
    case State::kHeadEndLf:
      return step_field(c);

    case State::kComplete:
    case State::kFailed:
      return;  // parse() never steps in these
  }
}

void RequestParser::step_request_line(u8 c) noexcept {
  switch (state_) {
    case State::kStart:
      if (c == kCr) {
        state_ = State::kLeadingLf;
        return;
      }
      state_ = State::kMethod;
      mark_ = pos_;
      line_length_ = 0;
      [[fallthrough]];
    case State::kMethod:
      if (c == ' ') return end_method();
      if (!is_tchar(c)) return fail(HttpStatus::kBadRequest);
      ++line_length_;
      if (pos_ + 1 - mark_ > limits_.max_method) return fail(HttpStatus::kNotImplemented);
      if (line_length_ > limits_.max_request_line) return fail(HttpStatus::kBadRequest);
      return;

    case State::kLeadingLf:
      if (c != kLf) return fail(HttpStatus::kBadRequest);
      state_ = State::kStart;
      return;

    case State::kTarget:
      if (c == ' ') return end_target();
      if (!is_vchar(c) || c == '#') return fail(HttpStatus::kBadRequest);
      if (c == '?' && query_at_ == 0) query_at_ = pos_;
      if (++line_length_ > limits_.max_request_line) return fail(HttpStatus::kUriTooLong);
      return;

    case State::kVersion:
      return step_version(c);

    case State::kRequestLineLf:
      if (c != kLf) return fail(HttpStatus::kBadRequest);
      state_ = State::kFieldStart;
      return;

    case State::kFieldStart:
    case State::kFieldName:
    case State::kFieldValue:
    case State::kFieldLf:
    case State::kHeadEndLf:
    case State::kComplete:
    case State::kFailed:
      return;  // step() sends only the request line's states here
  }
}

void RequestParser::step_version(u8 c) noexcept {
  if (version_index_ == 8) {
    if (c != kCr) return fail(HttpStatus::kBadRequest);
    return end_version();
  }
  if (++line_length_ > limits_.max_request_line) return fail(HttpStatus::kUriTooLong);
  // HTTP-version = "HTTP" "/" DIGIT "." DIGIT, case-sensitive (RFC 9112 2.3).
  constexpr std::string_view kPrefix = "HTTP/";
  bool ok = false;
  if (version_index_ < kPrefix.size()) {
    ok = c == static_cast<u8>(kPrefix[version_index_]);
  } else if (version_index_ == 5) {
    ok = is_digit(c);
    version_major_ = static_cast<u8>(c - '0');
  } else if (version_index_ == 6) {
    ok = c == '.';
  } else {
    ok = is_digit(c);
    version_minor_ = static_cast<u8>(c - '0');
  }
  if (!ok) return fail(HttpStatus::kBadRequest);
  ++version_index_;
}

void RequestParser::step_field(u8 c) noexcept {
  switch (state_) {
    case State::kFieldStart:
      if (c == kCr) {
        state_ = State::kHeadEndLf;
        return;
      }
      // SP/HTAB here is obs-fold, or whitespace after the request line (RFC 9112 5.2, 2.2).
      if (!is_tchar(c)) return fail(HttpStatus::kBadRequest);
      if (head_.header_count_ >= limits_.max_headers) return fail(HttpStatus::kRequestHeaderFieldsTooLarge);
      mark_ = pos_;
      state_ = State::kFieldName;
      return;

    case State::kFieldName:
      if (c == ':') {
        name_end_ = pos_;
        value_begin_ = value_end_ = pos_ + 1;
        state_ = State::kFieldValue;
        return;
      }
      // Includes whitespace before the colon (RFC 9112 5.1: MUST be rejected with 400).
      if (!is_tchar(c)) return fail(HttpStatus::kBadRequest);
      return;

    case State::kFieldValue:
      if (c == kCr) {
        state_ = State::kFieldLf;
        return;
      }
      if (!is_field_value_byte(c)) return fail(HttpStatus::kBadRequest);
      if (is_ows(c)) {
        if (value_begin_ == pos_) value_begin_ = value_end_ = pos_ + 1;  // leading OWS
        return;
      }
      value_end_ = pos_ + 1;
      return;

    case State::kFieldLf:
      if (c != kLf) return fail(HttpStatus::kBadRequest);
      state_ = State::kFieldStart;
      return end_field();

    case State::kHeadEndLf:
      if (c != kLf) return fail(HttpStatus::kBadRequest);
      return end_head();

    case State::kStart:
    case State::kMethod:
    case State::kLeadingLf:
    case State::kTarget:
    case State::kVersion:
    case State::kRequestLineLf:
    case State::kComplete:
    case State::kFailed:
      return;  // step() sends only the field lines' states here
  }
}

void RequestParser::end_method() noexcept {
  std::string_view m = slice(mark_, pos_);
  if (m.empty()) return fail(HttpStatus::kBadRequest);
  ++line_length_;
  // RFC 9110 9.1: case-sensitive. TRACE, CONNECT and extension methods: 501 (see the header).
  if (m == "GET") {
    head_.method_ = Method::kGet;
  } else if (m == "HEAD") {
    head_.method_ = Method::kHead;
  } else if (m == "POST") {
    head_.method_ = Method::kPost;
  } else if (m == "PUT") {
    head_.method_ = Method::kPut;
  } else if (m == "DELETE") {
    head_.method_ = Method::kDelete;
  } else if (m == "OPTIONS") {
    head_.method_ = Method::kOptions;
  } else {
    return fail(HttpStatus::kNotImplemented);
  }
  mark_ = pos_ + 1;
  query_at_ = 0;
  state_ = State::kTarget;
}

void RequestParser::end_target() noexcept {
  const std::size_t begin = mark_;
  const std::size_t end = pos_;
  if (end == begin) return fail(HttpStatus::kBadRequest);
  ++line_length_;
  std::string_view t = slice(begin, end);
  head_.target_ = {static_cast<u16>(begin), static_cast<u16>(end - begin)};
  const std::size_t path_end = query_at_ != 0 ? query_at_ : end;
  if (query_at_ != 0) {
    head_.has_query_ = true;
    head_.query_ = {static_cast<u16>(query_at_ + 1), static_cast<u16>(end - query_at_ - 1)};
  }
  if (t[0] == '/') {  // origin-form (RFC 9112 3.2.1)
    head_.path_ = {static_cast<u16>(begin), static_cast<u16>(path_end - begin)};
  } else if (t == "*") {  // asterisk-form (RFC 9112 3.2.4): OPTIONS only
    if (head_.method_ != Method::kOptions) return fail(HttpStatus::kBadRequest);
    head_.asterisk_form_ = true;
    head_.path_ = head_.target_;
  } else {  // absolute-form (RFC 9112 3.2.2): "http://" or "https://" authority path-abempty
    std::size_t scheme_end = 0;
    if (istarts_with(t, "http://")) {
      scheme_end = 7;
    } else if (istarts_with(t, "https://")) {
      scheme_end = 8;
    } else {
      return fail(HttpStatus::kBadRequest);
    }
    const std::size_t authority_begin = begin + scheme_end;
    std::size_t authority_end = authority_begin;
    while (authority_end < path_end && base_[authority_end] != '/') ++authority_end;
    std::string_view authority = slice(authority_begin, authority_end);
    // userinfo ("user@host") is deprecated and a phishing aid (RFC 9110 4.2.4).
    if (authority.empty() || !valid_host(authority)) return fail(HttpStatus::kBadRequest);
    head_.absolute_form_ = true;
    head_.host_ = {static_cast<u16>(authority_begin), static_cast<u16>(authority.size())};
    head_.path_ = {static_cast<u16>(authority_end), static_cast<u16>(path_end - authority_end)};
  }
  version_index_ = 0;
  state_ = State::kVersion;
}

void RequestParser::end_version() noexcept {
  if (version_major_ != 1) return fail(HttpStatus::kHttpVersionNotSupported);
  head_.version_ = version_minor_ == 0 ? Version::kHttp10 : Version::kHttp11;
  state_ = State::kRequestLineLf;
}

void RequestParser::end_field() noexcept {
  const std::size_t index = head_.header_count_;
  fields_[index] = HeaderField{static_cast<u16>(mark_), static_cast<u16>(name_end_ - mark_),
                               static_cast<u16>(value_begin_), static_cast<u16>(value_end_ - value_begin_)};
  head_.header_count_ = index + 1;
  const std::string_view name = slice(mark_, name_end_);
  const std::string_view value = slice(value_begin_, value_end_);

  if (iequals(name, "host")) {
    // RFC 9112 3.2: more than one Host, or an invalid one, is 400.
    if (host_field_ != RequestHead::kNoField || !valid_host(value)) return fail(HttpStatus::kBadRequest);
    host_field_ = static_cast<u8>(index);
  } else if (iequals(name, "content-length")) {
    u64 n = 0;
    if (!parse_content_length(value, limits_.max_body, n)) return fail(HttpStatus::kBadRequest);
    if (content_length_seen_ && n != content_length_) return fail(HttpStatus::kBadRequest);
    if (n > limits_.max_body) return fail(HttpStatus::kContentTooLarge);
    content_length_seen_ = true;
    content_length_ = static_cast<u32>(n);
  } else if (iequals(name, "transfer-encoding")) {
    // Codings of every line form one list (RFC 9110 5.3); chunked must end it, once.
    te_seen_ = true;
    ListWalker walk(value);
    std::string_view coding;
    while (walk.next(coding)) {
      if (iequals(coding, "chunked")) {
        if (te_chunked_last_) return fail(HttpStatus::kBadRequest);  // RFC 9112 7: not twice
        te_chunked_last_ = true;
      } else {
        if (te_chunked_last_) return fail(HttpStatus::kBadRequest);  // chunked not final
        te_other_ = true;
      }
    }
  } else if (iequals(name, "connection")) {
    ListWalker walk(value);
    std::string_view option;
    while (walk.next(option)) {
      if (iequals(option, "close")) connection_close_ = true;
      if (iequals(option, "keep-alive")) connection_keep_alive_ = true;
    }
  } else if (iequals(name, "expect")) {
    if (head_.version_ == Version::kHttp10) return;  // RFC 9110 10.1.1: ignored in HTTP/1.0
    ListWalker walk(value);
    std::string_view expectation;
    while (walk.next(expectation)) {
      if (!iequals(expectation, "100-continue")) return fail(HttpStatus::kExpectationFailed);
      expect_continue_ = true;
    }
  } else if (iequals(name, "if-none-match")) {
    if (head_.if_none_match_ == RequestHead::kNoField) head_.if_none_match_ = static_cast<u8>(index);
  } else if (iequals(name, "authorization")) {
    if (head_.authorization_ != RequestHead::kNoField) return fail(HttpStatus::kBadRequest);
    head_.authorization_ = static_cast<u8>(index);
  }
}

void RequestParser::end_head() noexcept {
  const bool http11 = head_.version_ == Version::kHttp11;
  if (http11 && host_field_ == RequestHead::kNoField) return fail(HttpStatus::kBadRequest);  // RFC 9112 3.2
  if (!head_.absolute_form_ && host_field_ != RequestHead::kNoField) {
    const HeaderField& f = fields_[host_field_];
    head_.host_ = {f.value_offset, f.value_length};
  }
  if (te_seen_) {
    if (!http11 || content_length_seen_ || !te_chunked_last_) return fail(HttpStatus::kBadRequest);
    if (te_other_) return fail(HttpStatus::kNotImplemented);
    head_.framing_ = BodyFraming::kChunked;
  } else if (content_length_seen_) {
    head_.framing_ = BodyFraming::kLength;
    head_.content_length_ = content_length_;
  }
  head_.keep_alive_ = !connection_close_ && (http11 || connection_keep_alive_);
  head_.expect_continue_ = http11 && expect_continue_;
  state_ = State::kComplete;
}

// --- request-target helpers --------------------------------------------------------------------

HttpStatus to_status(DecodeError e) noexcept {
  switch (e) {
    case DecodeError::kNoSpace:
      return HttpStatus::kUriTooLong;
    case DecodeError::kBadEscape:
    case DecodeError::kControlByte:
    case DecodeError::kDotSegment:
    case DecodeError::kBackslash:
    case DecodeError::kNotAbsolute:
      return HttpStatus::kBadRequest;
  }
  return HttpStatus::kBadRequest;
}

namespace {

// Shared by path and query decoding: RFC 3986 2.1 percent-encoding.
Result<std::string_view, DecodeError> percent_decode(std::string_view in, MutableBytes out,
                                                     bool plus_is_space) noexcept {
  std::size_t n = 0;
  for (std::size_t i = 0; i < in.size(); ++i) {
    u8 c = static_cast<u8>(in[i]);
    if (c == '%') {
      if (in.size() - i < 3) return fail(DecodeError::kBadEscape);
      int hi = hex_value(static_cast<u8>(in[i + 1]));
      int lo = hex_value(static_cast<u8>(in[i + 2]));
      if (hi < 0 || lo < 0) return fail(DecodeError::kBadEscape);
      c = static_cast<u8>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      c = ' ';
    }
    if (c < 0x20 || c == 0x7F) return fail(DecodeError::kControlByte);
    if (n == out.size()) return fail(DecodeError::kNoSpace);
    out[n++] = c;
  }
  return std::string_view(reinterpret_cast<const char*>(out.data()), n);
}

}  // namespace

Result<std::string_view, DecodeError> decode_path(std::string_view path, MutableBytes out) noexcept {
  if (path.empty() || path[0] != '/') return fail(DecodeError::kNotAbsolute);
  auto decoded = percent_decode(path, out, false);
  if (!decoded) return fail(decoded.error());
  // Segments are checked after decoding, so "%2e%2e" and "..%2f" are caught too.
  std::string_view d = *decoded;
  std::size_t seg_begin = 1;
  for (std::size_t i = 1; i <= d.size(); ++i) {
    if (i < d.size() && d[i] == '\\') return fail(DecodeError::kBackslash);
    if (i == d.size() || d[i] == '/') {
      std::string_view seg = d.substr(seg_begin, i - seg_begin);
      if (seg == "." || seg == "..") return fail(DecodeError::kDotSegment);
      seg_begin = i + 1;
    }
  }
  return d;
}

Result<std::string_view, DecodeError> decode_query_component(std::string_view s, MutableBytes out) noexcept {
  return percent_decode(s, out, true);
}

std::optional<std::string_view> find_query_parameter(std::string_view query, std::string_view name) noexcept {
  while (!query.empty()) {
    std::size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    std::size_t eq = pair.find('=');
    std::string_view key = pair.substr(0, eq);
    if (key == name) return eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
  }
  return std::nullopt;
}

namespace {

// Next entity-tag of an If-None-Match list (RFC 9110 8.8.3: entity-tag = [ "W/" ] DQUOTE *etagc
// DQUOTE); etagc may be a comma, so the list is walked by quotes, not by commas. Returns the opaque
// tag with its quotes (weakness dropped: If-None-Match compares weakly, RFC 9110 13.1.2), "*" for a
// wildcard, or an empty view at the end or on malformed input (which then matches nothing).
std::string_view next_entity_tag(std::string_view& list) noexcept {
  std::size_t i = 0;
  while (i < list.size() && (is_ows(static_cast<u8>(list[i])) || list[i] == ',')) ++i;
  list = list.substr(i);
  if (list.empty()) return {};
  if (list[0] == '*') {
    list = list.substr(1);
    return "*";
  }
  if (list.size() >= 2 && list[0] == 'W' && list[1] == '/') list = list.substr(2);
  if (list.empty() || list[0] != '"') {
    list = {};
    return {};
  }
  std::size_t close = list.find('"', 1);
  if (close == std::string_view::npos) {
    list = {};
    return {};
  }
  std::string_view tag = list.substr(0, close + 1);
  list = list.substr(close + 1);
  return tag;
}

std::string_view strip_weak(std::string_view etag) noexcept {
  if (etag.size() >= 2 && etag[0] == 'W' && etag[1] == '/') return etag.substr(2);
  return etag;
}

}  // namespace

bool if_none_match_matches(const RequestHead& head, std::string_view etag) noexcept {
  const std::string_view ours = strip_weak(etag);
  for (std::size_t i = head.find("if-none-match"); i != RequestHead::npos;
       i = head.find("if-none-match", i + 1)) {
    std::string_view list = head.header(i).value;
    for (std::string_view tag = next_entity_tag(list); !tag.empty(); tag = next_entity_tag(list)) {
      if (tag == "*" || tag == ours) return true;
    }
  }
  return false;
}

}  // namespace scws::http
