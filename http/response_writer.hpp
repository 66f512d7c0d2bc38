// Streams an HTTP/1.1 response (RFC 9112 sections 4-7) into caller-provided output pieces, such as
// the at most 240 bytes of one SEND DATA (docs/protocol.md section 6.4), without ever holding the whole
// response: the head is generated from the fields on the fly and the content is pulled from a
// BodySource (a resource read from NVM) straight into the piece. Between pieces the writer keeps
// only a position: which head segment and how far into it, or how much content was sent.
//
// Content framing (RFC 9112 6.3):
// - kLength: Content-Length, then exactly that many bytes from the source.
// - kChunked: Transfer-Encoding: chunked; each piece carries whole chunks sized to fill it
//   (chunk-size CRLF data CRLF), the last-chunk "0" CRLF CRLF follows when the source ends.
//   Only for HTTP/1.1 clients (RFC 9112 7: never send Transfer-Encoding to HTTP/1.0).
// - kUntilClose: no framing field; the content ends when the connection closes (RFC 9112 6.3
//   rule 8), the answer of unknown length to an HTTP/1.0 client. Forces Connection: close.
// - kNone: no content; "Content-Length: 0" so the connection can persist.
// Responses whose status forbids content (1xx, 204, 304: RFC 9110 6.4.1) carry neither content nor
// framing fields; a 1xx carries the status line and extra fields only (interim response).
// A response to HEAD carries the framing fields GET would have, but no content (RFC 9110 9.3.2).
// No Date field: a server without a clock must not send one (RFC 9110 6.6.1).
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "http/status.hpp"

namespace scws::http {

enum class BodyError : u8 { kReadFailed };

// Where content comes from: a function pointer and its context (no virtual calls, no
// std::function). read(context, offset, out) copies the bytes from `offset` (the count delivered so
// far) into out (never empty) and returns how many it copied; 0 means the content ended. It may
// return fewer than out.size() at any time (e.g. at an NVM page boundary).
struct BodySource {
  using ReadFn = Result<std::size_t, BodyError> (*)(void* context, u32 offset, MutableBytes out) noexcept;
  ReadFn read = nullptr;  // null: no content
  void* context = nullptr;

  [[nodiscard]] constexpr bool empty() const noexcept { return read == nullptr; }
};

// A BodySource calling object.read(offset, out) on any object with that member.
template <class T>
BodySource body_source(T& object) noexcept {
  return BodySource{[](void* context, u32 offset, MutableBytes out) noexcept -> Result<std::size_t, BodyError> {
                      return static_cast<T*>(context)->read(offset, out);
                    },
                    &object};
}

// Content already in memory (canned bodies, small generated pages).
class MemoryBody {
 public:
  constexpr MemoryBody() noexcept = default;
  explicit MemoryBody(Bytes data) noexcept : data_(data) {}
  explicit MemoryBody(std::string_view text) noexcept;
  Result<std::size_t, BodyError> read(u32 offset, MutableBytes out) const noexcept;
  [[nodiscard]] std::size_t size() const noexcept { return data_.size(); }
  // The source reading this object: keep the object alive while the writer uses it.
  [[nodiscard]] BodySource source() noexcept { return body_source(*this); }

 private:
  Bytes data_;
};

enum class BodyMode : u8 { kNone, kLength, kChunked, kUntilClose };

// The framing for content of unknown length.
constexpr BodyMode unknown_length_mode(bool client_is_http11) noexcept {
  return client_is_http11 ? BodyMode::kChunked : BodyMode::kUntilClose;
}

// The Connection field (RFC 9112 9.3, 9.6): kClose announces the close after this response,
// kKeepAlive answers an HTTP/1.0 client that asked for a persistent connection.
enum class ConnectionOption : u8 { kNone, kClose, kKeepAlive };

struct ResponseField {
  std::string_view name;  // a token (RFC 9110 5.1)
  std::string_view value; // field-value bytes only: no CR, LF, NUL or other control byte
};

// What the response says. Empty strings are not sent. Everything viewed here must stay valid
// until the writer is done.
struct ResponseHead {
  HttpStatus status = HttpStatus::kOk;
  BodyMode body = BodyMode::kNone;
  u32 content_length = 0;  // kLength
  bool head_request = false;
  ConnectionOption connection = ConnectionOption::kNone;
  std::string_view content_type;      // RFC 9110 8.3
  std::string_view etag;              // RFC 9110 8.8.3, with its quotes: "\"v1\""
  std::string_view cache_control;     // RFC 9111 5.2
  std::string_view location;          // RFC 9110 10.2.2
  std::string_view allow;             // RFC 9110 10.2.1: required with 405
  std::string_view www_authenticate;  // RFC 9110 11.6.1: required with 401
  std::span<const ResponseField> extra;
};

enum class WriteError : u8 {
  kNotStarted,       // write() without a started response
  kInvalidField,     // a field name that is not a token, or a value with CR/LF/NUL/controls
  kMissingField,     // 401 without WWW-Authenticate, 405 without Allow
  kNoBodySource,     // content announced but no source given
  kOutputTooSmall,   // an output piece shorter than kMinPiece
  kBodyReadFailed,   // the source failed, or returned more than asked
  kBodyTooShort,     // the source ended before content_length bytes
};

class ResponseWriter {
 public:
  // Pieces smaller than this are refused: a chunk (size, CRLF, data, CRLF) must fit with room.
  static constexpr std::size_t kMinPiece = 16;

  // Begins a response; body may be empty when there is no content. Refuses (and stays idle) when
  // the head is invalid. A response still being written is abandoned.
  Status<WriteError> start(const ResponseHead& head, BodySource body = {}) noexcept;
  // Writes the next bytes into out: fills it completely unless the response ends, except that a
  // chunked piece may end up to 5 bytes short rather than carry a chunk too small to be useful.
  // Returns the count; 0 once done(). After an error mid-content the response is truncated: the
  // caller must close the connection (close_after() says so); write() then repeats that error.
  Result<std::size_t, WriteError> write(MutableBytes out) noexcept;

  [[nodiscard]] bool done() const noexcept { return state_ == State::kDone; }
  [[nodiscard]] bool active() const noexcept { return state_ == State::kHead || state_ == State::kBody || state_ == State::kLastChunk; }
  // The connection must close once this response is sent (Connection: close, kUntilClose, or a
  // failure after the head went out).
  [[nodiscard]] bool close_after() const noexcept { return close_after_; }
  [[nodiscard]] u32 content_sent() const noexcept { return offset_; }
  void reset() noexcept;

 private:
  enum class State : u8 {
    kIdle,
    kHead,       // status line and fields, segment by segment
    kBody,       // content (kLength, kChunked, kUntilClose)
    kLastChunk,  // "0" CRLF CRLF of kChunked
    kDone,
    kFailed,
  };

  // The transition function: makes what progress fits in out[at...]; false when nothing more fits
  // this piece.
  Result<bool, WriteError> step(MutableBytes out, std::size_t& at) noexcept;
  // step()'s parts: the head (kHead), content of a known length or until close, one chunk (kBody).
  void write_head(MutableBytes out, std::size_t& at) noexcept;
  Result<bool, WriteError> write_content(MutableBytes out, std::size_t& at) noexcept;
  Result<bool, WriteError> write_chunk(MutableBytes out, std::size_t& at) noexcept;
  [[nodiscard]] std::string_view segment(std::size_t index) const noexcept;
  [[nodiscard]] std::size_t segment_count() const noexcept;
  void after_head() noexcept;
  Result<bool, WriteError> fail_with(WriteError e) noexcept;

  ResponseHead head_;
  BodySource body_;
  u32 offset_ = 0;          // content bytes delivered
  u32 remaining_ = 0;       // kLength: content bytes still to send
  std::size_t segment_ = 0; // kHead: current segment
  std::size_t within_ = 0;  // kHead / kLastChunk: bytes of the current segment already written
  char code_[3] = {};
  char length_[10] = {};    // Content-Length digits
  u8 length_size_ = 0;
  State state_ = State::kIdle;
  WriteError error_ = WriteError::kNotStarted;  // kFailed: why
  bool send_content_ = false;
  bool send_framing_ = false;
  bool close_after_ = false;
};

// A canned error response (canned_body(), text/html, Content-Length, Connection: close). 401 and
// 405 need their WWW-Authenticate / Allow set on `head` before start(head, body.source()).
// Keep the object alive until the writer is done: the writer reads `body`.
struct ErrorResponse {
  ResponseHead head;
  MemoryBody body;
};
ErrorResponse error_response(HttpStatus status) noexcept;

}  // namespace scws::http
