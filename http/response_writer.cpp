#include "http/response_writer.hpp"

#include <algorithm>
#include <cstring>

#include "http/ascii.hpp"

namespace scws::http {

namespace {

// The status line is 5 segments: "HTTP/1.1 " code " " reason CRLF (RFC 9112 4). The server always
// names its own version, also to HTTP/1.0 clients (RFC 9110 6.2).
constexpr std::size_t kStatusSegments = 5;

// Fields the writer knows, in the order they are sent; each is 3 segments: "Name: " value CRLF.
enum class Field : u8 {
  kContentType,
  kContentLength,
  kTransferEncoding,
  kETag,
  kCacheControl,
  kLocation,
  kAllow,
  kWwwAuthenticate,
  kConnection,
};
constexpr std::size_t kFieldCount = 9;
constexpr std::size_t kFieldSegments = 3 * kFieldCount;
constexpr std::size_t kExtraSegments = 4;  // name ": " value CRLF

constexpr std::string_view field_prefix(Field f) noexcept {
  switch (f) {
    case Field::kContentType:
      return "Content-Type: ";
    case Field::kContentLength:
      return "Content-Length: ";
    case Field::kTransferEncoding:
      return "Transfer-Encoding: ";
    case Field::kETag:
      return "ETag: ";
    case Field::kCacheControl:
      return "Cache-Control: ";
    case Field::kLocation:
      return "Location: ";
    case Field::kAllow:
      return "Allow: ";
    case Field::kWwwAuthenticate:
      return "WWW-Authenticate: ";
    case Field::kConnection:
      return "Connection: ";
  }
  return "";
}

constexpr std::size_t hex_digits(std::size_t n) noexcept {
  std::size_t d = 1;
  while (n >= 16) {
    n /= 16;
    ++d;
  }
  return d;
}

// The last-chunk and the empty trailer section (RFC 9112 7.1).
constexpr std::string_view kLastChunk = "0\r\n\r\n";
// Smallest useful chunk: one hex digit, CRLF, one data byte, CRLF.
constexpr std::size_t kMinChunk = 6;
static_assert(ResponseWriter::kMinPiece >= kMinChunk + kLastChunk.size());

bool valid_value(std::string_view v) noexcept {
  for (char ch : v)
    if (!is_field_value_byte(static_cast<u8>(ch))) return false;
  return true;
}

bool valid_name(std::string_view n) noexcept {
  if (n.empty()) return false;
  for (char ch : n)
    if (!is_tchar(static_cast<u8>(ch))) return false;
  return true;
}

// Segment `index` of the status line (kStatusSegments of them).
std::string_view status_segment(std::size_t index, HttpStatus status, std::string_view code) noexcept {
  switch (index) {
    case 0:
      return "HTTP/1.1 ";
    case 1:
      return code;
    case 2:
      return " ";
    case 3:
      return reason_phrase(status);
    default:
      return "\r\n";
  }
}

// The value of a known field, empty when the response does not send it. length: the Content-Length
// digits; framing: whether Content-Length / Transfer-Encoding are sent at all.
std::string_view field_value(Field field, const ResponseHead& head, bool framing, std::string_view length) noexcept {
  switch (field) {
    case Field::kContentType:
      return head.content_type;
    case Field::kContentLength:
      if (framing && (head.body == BodyMode::kLength || head.body == BodyMode::kNone))
        return length;
      return {};
    case Field::kTransferEncoding:
      if (framing && head.body == BodyMode::kChunked) return "chunked";
      return {};
    case Field::kETag:
      return head.etag;
    case Field::kCacheControl:
      return head.cache_control;
    case Field::kLocation:
      return head.location;
    case Field::kAllow:
      return head.allow;
    case Field::kWwwAuthenticate:
      return head.www_authenticate;
    case Field::kConnection:
      switch (head.connection) {
        case ConnectionOption::kNone:
          return {};
        case ConnectionOption::kClose:
          return "close";
        case ConnectionOption::kKeepAlive:
          return "keep-alive";
      }
      return {};
  }
  return {};
}

}  // namespace

// --- MemoryBody --------------------------------------------------------------------------------

MemoryBody::MemoryBody(std::string_view text) noexcept : data_(as_bytes(text)) {}

Result<std::size_t, BodyError> MemoryBody::read(u32 offset, MutableBytes out) const noexcept {
  if (offset >= data_.size()) return std::size_t{0};
  const std::size_t n = std::min(out.size(), data_.size() - offset);
  std::memcpy(out.data(), data_.data() + offset, n);
  return n;
}

// --- ResponseWriter ----------------------------------------------------------------------------

void ResponseWriter::reset() noexcept { *this = ResponseWriter{}; }

Status<WriteError> ResponseWriter::start(const ResponseHead& head, BodySource body) noexcept {
  reset();
  const bool interim = code(head.status) < 200;
  const bool content_allowed = status_allows_content(head.status);
  // RFC 9110 15.5.2 and 15.5.6: MUST send WWW-Authenticate with 401, Allow with 405.
  if (head.status == HttpStatus::kUnauthorized && head.www_authenticate.empty()) return fail(WriteError::kMissingField);
  if (head.status == HttpStatus::kMethodNotAllowed && head.allow.empty()) return fail(WriteError::kMissingField);
  for (std::string_view v : {head.content_type, head.etag, head.cache_control, head.location, head.allow,
                             head.www_authenticate}) {
    if (!valid_value(v)) return fail(WriteError::kInvalidField);  // no header injection (CR LF)
  }
  for (const ResponseField& f : head.extra) {
    if (!valid_name(f.name) || !valid_value(f.value)) return fail(WriteError::kInvalidField);
    // Framing and connection fields belong to the writer alone: a second copy would let a client
    // frame the response differently.
    if (iequals(f.name, "content-length") || iequals(f.name, "transfer-encoding") ||
        iequals(f.name, "connection"))
      return fail(WriteError::kInvalidField);
  }

  head_ = head;
  body_ = body;
  send_framing_ = content_allowed && head.body != BodyMode::kUntilClose;
  send_content_ = content_allowed && !head.head_request &&
                  (head.body == BodyMode::kChunked || head.body == BodyMode::kUntilClose ||
                   (head.body == BodyMode::kLength && head.content_length > 0));
  if (send_content_ && body.empty() && head.body != BodyMode::kChunked) return fail(WriteError::kNoBodySource);
  if (interim) {
    head_.connection = ConnectionOption::kNone;
  } else if (head.body == BodyMode::kUntilClose && content_allowed) {
    head_.connection = ConnectionOption::kClose;
  }
  close_after_ = head_.connection == ConnectionOption::kClose;

  const u16 c = code(head.status);
  code_[0] = static_cast<char>('0' + c / 100 % 10);
  code_[1] = static_cast<char>('0' + c / 10 % 10);
  code_[2] = static_cast<char>('0' + c % 10);
  u32 n = head.body == BodyMode::kLength ? head.content_length : 0;
  char digits[sizeof(length_)];
  std::size_t count = 0;
  do {
    digits[count++] = static_cast<char>('0' + n % 10);
    n /= 10;
  } while (n != 0);
  for (std::size_t i = 0; i < count; ++i) length_[i] = digits[count - 1 - i];
  length_size_ = static_cast<u8>(count);
  remaining_ = head.body == BodyMode::kLength ? head.content_length : 0;
  state_ = State::kHead;
  return {};
}

std::size_t ResponseWriter::segment_count() const noexcept {
  return kStatusSegments + kFieldSegments + kExtraSegments * head_.extra.size() + 1;
}

std::string_view ResponseWriter::segment(std::size_t index) const noexcept {
  if (index < kStatusSegments) return status_segment(index, head_.status, std::string_view(code_, sizeof(code_)));
  index -= kStatusSegments;
  if (index < kFieldSegments) {
    // An interim (1xx) response carries none of these fields; an absent field is three empty segments.
    const auto field = static_cast<Field>(index / 3);
    const std::string_view value = code(head_.status) < 200 ? std::string_view()
                                                             : field_value(field, head_, send_framing_, std::string_view(length_, length_size_));
    if (value.empty()) return {};
    switch (index % 3) {
      case 0:
        return field_prefix(field);
      case 1:
        return value;
      default:
        return "\r\n";
    }
  }
  index -= kFieldSegments;
  if (index < kExtraSegments * head_.extra.size()) {
    const ResponseField& f = head_.extra[index / kExtraSegments];
    switch (index % kExtraSegments) {
      case 0:
        return f.name;
      case 1:
        return ": ";
      case 2:
        return f.value;
      default:
        return "\r\n";
    }
  }
  return "\r\n";  // the empty line ending the head
}

void ResponseWriter::after_head() noexcept {
  state_ = send_content_ ? State::kBody : State::kDone;
  if (state_ == State::kBody && head_.body == BodyMode::kChunked && body_.empty()) {
    state_ = State::kLastChunk;  // chunked without a source: empty content
    within_ = 0;
  }
}

Result<bool, WriteError> ResponseWriter::fail_with(WriteError e) noexcept {
  state_ = State::kFailed;
  error_ = e;
  close_after_ = true;
  return fail(e);
}

Result<std::size_t, WriteError> ResponseWriter::write(MutableBytes out) noexcept {
  if (state_ == State::kIdle) return fail(WriteError::kNotStarted);
  if (state_ == State::kFailed) return fail(error_);
  if (state_ == State::kDone) return std::size_t{0};
  if (out.size() < kMinPiece) return fail(WriteError::kOutputTooSmall);
  std::size_t at = 0;
  while (at < out.size() && state_ != State::kDone) {
    auto progressed = step(out, at);
    if (!progressed) return fail(progressed.error());
    if (!*progressed) break;
  }
  return at;
}

Result<bool, WriteError> ResponseWriter::step(MutableBytes out, std::size_t& at) noexcept {
  switch (state_) {
    case State::kHead:
      write_head(out, at);
      return true;

    case State::kBody:
      switch (head_.body) {
        case BodyMode::kLength:
        case BodyMode::kUntilClose:
          return write_content(out, at);
        case BodyMode::kChunked:
          return write_chunk(out, at);
        case BodyMode::kNone:
          state_ = State::kDone;  // not reached: kNone never sends content
          return true;
      }
      return true;

    case State::kLastChunk: {
      const std::size_t n = std::min(out.size() - at, kLastChunk.size() - within_);
      std::memcpy(out.data() + at, kLastChunk.data() + within_, n);
      at += n;
      within_ += n;
      if (within_ == kLastChunk.size()) state_ = State::kDone;
      return true;
    }

    case State::kIdle:
    case State::kDone:
    case State::kFailed:
      return false;
  }
  return false;
}

void ResponseWriter::write_head(MutableBytes out, std::size_t& at) noexcept {
  const std::string_view s = segment(segment_);
  const std::size_t n = std::min(out.size() - at, s.size() - within_);
  if (n != 0) std::memcpy(out.data() + at, s.data() + within_, n);
  at += n;
  within_ += n;
  if (within_ != s.size()) return;
  // Skip absent fields now, so that done() turns true with the last byte written.
  within_ = 0;
  const std::size_t count = segment_count();
  do {
    ++segment_;
  } while (segment_ < count && segment(segment_).empty());
  if (segment_ == count) after_head();
}

Result<bool, WriteError> ResponseWriter::write_content(MutableBytes out, std::size_t& at) noexcept {
  std::size_t want = out.size() - at;
  if (head_.body == BodyMode::kLength) want = std::min<std::size_t>(want, remaining_);
  auto got = body_.read(body_.context, offset_, out.subspan(at, want));
  if (!got || *got > want) return fail_with(WriteError::kBodyReadFailed);
  if (*got == 0) {
    if (head_.body == BodyMode::kLength) return fail_with(WriteError::kBodyTooShort);
    state_ = State::kDone;
    return true;
  }
  at += *got;
  offset_ += static_cast<u32>(*got);
  if (head_.body == BodyMode::kLength) {
    remaining_ -= static_cast<u32>(*got);
    if (remaining_ == 0) state_ = State::kDone;
  }
  return true;
}

Result<bool, WriteError> ResponseWriter::write_chunk(MutableBytes out, std::size_t& at) noexcept {
  const std::size_t room = out.size() - at;
  if (room < kMinChunk) return false;  // end this piece; the next one starts a chunk
  // The largest chunk that fits: size digits, CRLF, data, CRLF.
  std::size_t data = room - 5;
  while (hex_digits(data) + 4 + data > room) --data;
  const std::size_t reserved = hex_digits(data);
  auto got = body_.read(body_.context, offset_, out.subspan(at + reserved + 2, data));
  if (!got || *got > data) return fail_with(WriteError::kBodyReadFailed);
  if (*got == 0) {
    state_ = State::kLastChunk;
    within_ = 0;
    return true;
  }
  const std::size_t digits = hex_digits(*got);
  u8* p = out.data() + at;
  if (digits < reserved) std::memmove(p + digits + 2, p + reserved + 2, *got);
  for (std::size_t i = 0, v = *got; i < digits; ++i, v /= 16)
    p[digits - 1 - i] = static_cast<u8>("0123456789ABCDEF"[v % 16]);
  p[digits] = '\r';
  p[digits + 1] = '\n';
  p[digits + 2 + *got] = '\r';
  p[digits + 3 + *got] = '\n';
  at += digits + 4 + *got;
  offset_ += static_cast<u32>(*got);
  return true;
}

ErrorResponse error_response(HttpStatus status) noexcept {
  ErrorResponse r;
  const std::string_view body = canned_body(status);
  r.body = MemoryBody(body);
  r.head.status = status;
  r.head.connection = ConnectionOption::kClose;
  if (status_allows_content(status)) {
    r.head.content_type = kCannedBodyType;
    r.head.body = BodyMode::kLength;
    r.head.content_length = static_cast<u32>(body.size());
  }
  return r;
}

}  // namespace scws::http
