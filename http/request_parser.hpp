// Streaming HTTP/1.1 request-head parser (RFC 9112 sections 2-6, RFC 9110 sections 5, 7, 8, 10).
//
// The caller owns the connection buffer: it appends received bytes (RECEIVE DATA pieces of at most
// 237 bytes, or TLS plaintext) and calls parse() with the bytes of the request received so far.
// The parser looks at each byte once, remembers where it stopped and keeps only offsets (u16) into
// the head, never pointers: so `received` may move between calls (a compacted buffer), as long as
// it starts at the first byte of this request and its first bytes are the ones already seen.
// The parser stops at the end of the head and never reads further, so a body or a pipelined request
// behind it stays for the caller: parse() reports the head length.
//
// Outcomes: Complete (head length) / NeedMore / Error(HttpStatus to answer with, then close).
// Errors depend only on the bytes seen so far, never on how they were split across calls.
//
// Decisions (documented here because a request that another server accepts may be refused here):
// - Line endings are strictly CRLF. A bare LF or bare CR is 400 (RFC 9112 2.2 allows a recipient to
//   accept a bare LF; the card refuses it so that it never frames a request differently from the
//   gateway in front of it: no request smuggling).
// - Empty lines before the request line are ignored (RFC 9112 2.2), within the head-size limit.
// - obs-fold (a field line starting with SP/HTAB) is 400 (RFC 9112 5.2 lets a server reject it).
//   Whitespace between a field name and the colon is 400 (RFC 9112 5.1, a MUST).
// - NUL, CR, LF and every other control byte but HTAB inside a field value are 400 (RFC 9110 5.5).
// - Methods are case-sensitive (RFC 9110 9.1). GET HEAD POST PUT DELETE OPTIONS are known; every
//   other valid token, TRACE and CONNECT included, is 501 Not Implemented: the card implements
//   neither for any resource, and a 405 would need an Allow field naming a resource's methods
//   (RFC 9110 15.5.6), which the parser does not know. TRACE also reflects headers (credentials).
// - HTTP-version: "HTTP/1.0" and "HTTP/1.1"; "HTTP/1.x" with x > 1 is served as 1.1 (RFC 9110 6.2:
//   a higher minor version of an implemented major version SHOULD be processed as the highest one
//   implemented); any other well-formed version is 505; a malformed one is 400.
// - A request line longer than max_request_line is 414 once the method is read (the target is what
//   grows), 400 before. A method token longer than max_method is 501 (RFC 9112 3).
// - A head larger than max_head, or with more than max_headers field lines, is 431 (RFC 6585 5).
// - Content-Length: 1*DIGIT only; no lists ("5, 5"), no signs. Several lines with equal values are
//   accepted, differing values are 400 (RFC 9112 6.3 rule 5). A value above max_body is 413.
// - Transfer-Encoding: chunked must be the final coding, exactly once (RFC 9112 6.3 rule 4, 7);
//   otherwise 400. Other codings before it ("gzip, chunked") are 501 (RFC 9112 6.1: not
//   understood). Transfer-Encoding together with Content-Length is 400 (RFC 9112 6.3 rule 3
//   allows rejecting), and so is Transfer-Encoding in an HTTP/1.0 request (RFC 9112 6.1).
// - Host: required and single in HTTP/1.1 (RFC 9112 3.2, a MUST: 400); a value with whitespace,
//   "/", "?", "#", "@", "\" or non-ASCII is 400. With an absolute-form target the authority of the
//   target replaces Host (RFC 9112 3.2.2).
// - Expect: 100-continue is noted (HTTP/1.1 only; RFC 9110 10.1.1 says to ignore it in 1.0); any
//   other expectation is 417.
// - Authorization is a singleton field: a second line is 400.
// - request-target: origin-form ("/path?query"), absolute-form ("http://host/path") and, for
//   OPTIONS only, asterisk-form ("*") (RFC 9112 3.2). Bytes outside VCHAR and "#" are 400.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <span>
#include <string_view>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "http/status.hpp"

namespace scws::http {

enum class Method : u8 { kGet, kHead, kPost, kPut, kDelete, kOptions };
std::string_view method_name(Method m) noexcept;  // "GET", ...

enum class Version : u8 { kHttp10, kHttp11 };

// How the request body is delimited (RFC 9112 6.3).
enum class BodyFraming : u8 {
  kNone,     // no Content-Length, no Transfer-Encoding: no body (rule 7)
  kLength,   // Content-Length: content_length() bytes (rule 6); may be 0
  kChunked,  // Transfer-Encoding: chunked (rule 4); decode with ChunkedDecoder
};

// Limits of one parser. Every byte count includes everything but the line terminators unless said.
struct RequestLimits {
  std::size_t max_request_line = 256;  // request-line bytes before CRLF
  std::size_t max_method = 16;         // method token bytes
  std::size_t max_head = 1024;         // whole head incl. every CRLF and leading empty lines
  std::size_t max_headers = 24;        // field lines (also bounded by the caller's field storage)
  u32 max_body = 65535;                // largest Content-Length accepted
};

// Offsets are u16: no head can exceed this, whatever the limits say.
inline constexpr std::size_t kMaxHeadLimit = 65535;
inline constexpr RequestLimits kDefaultRequestLimits{};
static_assert(kDefaultRequestLimits.max_head <= kMaxHeadLimit);
static_assert(kDefaultRequestLimits.max_request_line + 2 <= kDefaultRequestLimits.max_head);
static_assert(kDefaultRequestLimits.max_method < kDefaultRequestLimits.max_request_line);

// One field line: offsets into the head. 8 bytes, so 24 fields cost 192 bytes of card RAM.
struct HeaderField {
  u16 name_offset = 0;
  u16 name_length = 0;
  u16 value_offset = 0;  // value without leading/trailing OWS (RFC 9112 5.1)
  u16 value_length = 0;
};
static_assert(sizeof(HeaderField) == 8);

struct HeaderView {
  std::string_view name;
  std::string_view value;
};

// The parsed head: views into the bytes last given to RequestParser::parse(). Valid while those
// bytes stay in place and until the parser is reset.
class RequestHead {
 public:
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

  [[nodiscard]] Method method() const noexcept { return method_; }
  [[nodiscard]] Version version() const noexcept { return version_; }
  // The request-target as sent (RFC 9112 3.2).
  [[nodiscard]] std::string_view target() const noexcept { return text(target_); }
  // The path, still percent-encoded (decode with decode_path()): "/" for an absolute-form target
  // without a path, "*" for the asterisk form.
  [[nodiscard]] std::string_view path() const noexcept;
  // The query without "?"; has_query() tells "/a?" (empty query) from "/a".
  [[nodiscard]] std::string_view query() const noexcept { return text(query_); }
  [[nodiscard]] bool has_query() const noexcept { return has_query_; }
  [[nodiscard]] bool absolute_form() const noexcept { return absolute_form_; }
  // The target's authority for absolute-form, otherwise the Host value; empty for an HTTP/1.0
  // request without Host.
  [[nodiscard]] std::string_view host() const noexcept { return text(host_); }

  [[nodiscard]] BodyFraming framing() const noexcept { return framing_; }
  [[nodiscard]] u32 content_length() const noexcept { return content_length_; }  // kLength only
  // Persistent connection (RFC 9112 9.3): HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with
  // "Connection: keep-alive" and without "close".
  [[nodiscard]] bool keep_alive() const noexcept { return keep_alive_; }
  [[nodiscard]] bool expect_continue() const noexcept { return expect_continue_; }  // RFC 9110 10.1.1
  // Field values (first line of that name); nullopt when absent.
  [[nodiscard]] std::optional<std::string_view> authorization() const noexcept { return field_value(authorization_); }
  [[nodiscard]] std::optional<std::string_view> if_none_match() const noexcept { return field_value(if_none_match_); }

  [[nodiscard]] std::size_t header_count() const noexcept { return header_count_; }
  // Precondition: i < header_count().
  [[nodiscard]] HeaderView header(std::size_t i) const noexcept;
  // Index of the first field named `name` (case-insensitive, RFC 9110 5.1) at or after `from`, or npos.
  [[nodiscard]] std::size_t find(std::string_view name, std::size_t from = 0) const noexcept;
  // Value of the first field named `name`; nullopt when absent.
  [[nodiscard]] std::optional<std::string_view> value(std::string_view name) const noexcept;

 private:
  friend class RequestParser;
  struct Slice {
    u16 offset = 0;
    u16 length = 0;
  };
  static constexpr u8 kNoField = 0xFF;

  [[nodiscard]] std::string_view text(Slice s) const noexcept {
    return base_ == nullptr ? std::string_view{} : std::string_view(base_ + s.offset, s.length);
  }
  [[nodiscard]] std::optional<std::string_view> field_value(u8 index) const noexcept;

  const char* base_ = nullptr;
  const HeaderField* fields_ = nullptr;
  std::size_t header_count_ = 0;
  Slice target_;
  Slice path_;
  Slice query_;
  Slice host_;
  u32 content_length_ = 0;
  Method method_ = Method::kGet;
  Version version_ = Version::kHttp11;
  BodyFraming framing_ = BodyFraming::kNone;
  u8 authorization_ = kNoField;
  u8 if_none_match_ = kNoField;
  bool has_query_ = false;
  bool absolute_form_ = false;
  bool asterisk_form_ = false;
  bool keep_alive_ = false;
  bool expect_continue_ = false;
};

struct ParseProgress {
  bool complete = false;
  std::size_t head_length = 0;  // when complete: bytes of the head, up to and including the empty line
};
using ParseResult = Result<ParseProgress, HttpStatus>;

class RequestParser {
 public:
  // `fields` holds the field lines (at most 254 are used); it must outlive the parser. The limits
  // are clamped so that max_head <= kMaxHeadLimit, max_request_line + 2 <= max_head and
  // max_headers <= fields.size().
  explicit RequestParser(std::span<HeaderField> fields, const RequestLimits& limits = {}) noexcept;
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  // `received`: the request's bytes so far, starting at its first byte (see the file comment).
  // Complete and Error are sticky until reset(); calling again returns the same outcome.
  ParseResult parse(Bytes received) noexcept;
  // Forgets the request, to parse the next one (give parse() the bytes after the previous head and body).
  void reset() noexcept;

  // Precondition: the last parse() returned Complete.
  [[nodiscard]] const RequestHead& head() const noexcept { return head_; }
  [[nodiscard]] const RequestLimits& limits() const noexcept { return limits_; }

 private:
  enum class State : u8 {
    kStart,            // before the request line; CR starts an ignored empty line
    kLeadingLf,        // after the CR of an ignored empty line
    kMethod,
    kTarget,
    kVersion,
    kRequestLineLf,    // after the CR of the request line
    kFieldStart,       // start of a field line, or CR of the empty line ending the head
    kFieldName,
    kFieldValue,
    kFieldLf,          // after the CR of a field line
    kHeadEndLf,        // after the CR of the empty line
    kComplete,
    kFailed,
  };

  void step(u8 c) noexcept;  // the transition function: consumes the byte at pos_
  // step()'s parts: the request line's states (the version's bytes apart), the field lines' states.
  void step_request_line(u8 c) noexcept;
  void step_version(u8 c) noexcept;
  void step_field(u8 c) noexcept;
  void fail(HttpStatus s) noexcept;
  void end_method() noexcept;
  void end_target() noexcept;
  void end_version() noexcept;
  void end_field() noexcept;
  void end_head() noexcept;
  [[nodiscard]] std::string_view slice(std::size_t begin, std::size_t end) const noexcept;

  RequestLimits limits_;
  std::span<HeaderField> fields_;
  RequestHead head_;
  const char* base_ = nullptr;  // bytes of the current parse() call
  std::size_t pos_ = 0;         // bytes consumed
  std::size_t mark_ = 0;        // start of the current method / target / field name
  std::size_t line_length_ = 0; // request-line bytes so far
  std::size_t query_at_ = 0;    // offset of the first "?" in the target, 0 = none
  std::size_t name_end_ = 0;
  std::size_t value_begin_ = 0;
  std::size_t value_end_ = 0;
  u32 content_length_ = 0;
  State state_ = State::kStart;
  HttpStatus error_ = HttpStatus::kBadRequest;
  u8 version_index_ = 0;        // bytes of "HTTP/d.d" matched
  u8 version_major_ = 0;
  u8 version_minor_ = 0;
  u8 host_field_ = RequestHead::kNoField;
  bool content_length_seen_ = false;
  bool te_seen_ = false;
  bool te_chunked_last_ = false;
  bool te_other_ = false;
  bool connection_close_ = false;
  bool connection_keep_alive_ = false;
  bool expect_continue_ = false;
};

// A parser with its own field storage.
template <std::size_t N>
class FixedRequestParser : public RequestParser {
  static_assert(N >= 1 && N <= 254, "field indexes are u8 with 0xFF reserved");

 public:
  explicit FixedRequestParser(const RequestLimits& limits = {}) noexcept
      : RequestParser(std::span<HeaderField>(storage_), limits) {}

 private:
  std::array<HeaderField, N> storage_{};
};

// --- request-target helpers --------------------------------------------------------------------

enum class DecodeError : u8 {
  kBadEscape,    // "%" not followed by two hex digits (RFC 3986 2.1)
  kControlByte,  // a decoded NUL or other control byte (C0 or DEL)
  kDotSegment,   // a "." or ".." path segment, raw or encoded (RFC 3986 3.3): path traversal
  kBackslash,    // a decoded "\": never part of a card resource name
  kNotAbsolute,  // a path that does not start with "/"
  kNoSpace,      // out is too small
};
// kNoSpace -> 414 (the target is longer than the caller handles), everything else -> 400.
HttpStatus to_status(DecodeError e) noexcept;

// Percent-decodes an origin-form path (as RequestHead::path() returns it) into out and returns the
// decoded text, a view of out. Refuses what could reach outside the resource tree or confuse
// later lookups (see DecodeError). Browsers remove dot segments before sending (RFC 3986 5.2.4), so
// one that arrives is refused rather than normalised.
Result<std::string_view, DecodeError> decode_path(std::string_view path, MutableBytes out) noexcept;

// Percent-decodes a query component (name or value) into out; "+" is a space, as in
// application/x-www-form-urlencoded. Refuses invalid escapes and control bytes.
Result<std::string_view, DecodeError> decode_query_component(std::string_view s, MutableBytes out) noexcept;

// The raw (still encoded) value of the first "name=value" pair of query whose raw name equals
// `name`; "" for "name" without "="; nullopt when absent.
std::optional<std::string_view> find_query_parameter(std::string_view query, std::string_view name) noexcept;

// If-None-Match evaluation (RFC 9110 13.1.2): true when any If-None-Match field of head is "*" or
// lists an entity-tag that weakly matches `etag` (a full entity-tag such as "\"abc\"" or "W/\"abc\"").
// False without If-None-Match. When true, a GET or HEAD is answered 304.
bool if_none_match_matches(const RequestHead& head, std::string_view etag) noexcept;

}  // namespace scws::http
