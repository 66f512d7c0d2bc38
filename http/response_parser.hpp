// Streaming HTTP/1.1 response parser for the card's client side (RFC 9112 sections 4-7): the card's
// admin agent reads the remote administration server's answers with it (docs/protocol.md section 16).
//
// Contract: feed() takes the bytes of one response in whatever pieces they arrive (TLS plaintext),
// looks at each byte once and keeps no copy of the head: only the values of the fields the agent
// needs are kept, in fixed slots. The body is delivered decoded into a caller buffer (Content-Length
// or chunked through ChunkedDecoder). Zero allocation; errors are sticky and depend only on the bytes
// seen, never on how they were split.
//
// Decisions:
// - status-line = HTTP-version SP 3DIGIT [SP reason-phrase] CRLF; HTTP/1.0 and 1.x accepted, other
//   versions are kBadVersion. The reason phrase is skipped (RFC 9112 4: a client SHOULD ignore it).
// - Line endings strictly CRLF (as the card's request parser), no obs-fold, no whitespace before the
//   colon, no control bytes in values: all kBadHeader.
// - The whole head (status line, fields, CRLFs) is at most max_head bytes: kHeadTooLarge beyond.
// - Field names are case-insensitive (RFC 9110 5.1); unknown fields are skipped. Kept: Content-Type,
//   Content-Length, Transfer-Encoding, X-Admin-Protocol, X-Admin-Next-URI (or SCWS-Next-URI),
//   X-Admin-Targeted-Application. A kept field given twice is kBadHeader (Content-Length with the same
//   value excepted, RFC 9112 6.3); a value longer than its slot is kValueTooLong.
// - Framing (RFC 9112 6.3): 1xx, 204 and 304 have no body; otherwise Transfer-Encoding must be exactly
//   "chunked" (else kBadFraming), Content-Length 1*DIGIT (else kBadFraming), never both (kBadFraming);
//   neither is kBadFraming too (the card does not read until close). A body above max_body is
//   kBodyTooLarge (a Content-Length at once, chunked as it decodes).
#pragma once

#include <array>
#include <cstddef>
#include <string_view>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "http/chunked.hpp"

namespace scws::http {

enum class ResponseError : u8 {
  kBadStatusLine,  // not "HTTP/x.y NNN ..." CRLF
  kBadVersion,     // a well-formed version other than 1.x
  kBadHeader,      // a malformed field line, a bare CR or LF, a kept field repeated
  kHeadTooLarge,   // head above max_head bytes
  kValueTooLong,   // a kept field's value longer than its slot
  kBadFraming,     // Content-Length / Transfer-Encoding missing, malformed or both
  kBodyTooLarge,   // body above max_body
  kBadChunk,       // the chunked coding is malformed
};
const char* describe(ResponseError e) noexcept;

struct ResponseLimits {
  std::size_t max_head = 1024;  // docs/protocol.md section 16.4: the header section budget
  u32 max_body = 32768;         // docs/protocol.md section 16.4
};

class ResponseParser {
 public:
  static constexpr std::size_t kMaxContentType = 80;
  static constexpr std::size_t kMaxProtocol = 48;
  static constexpr std::size_t kMaxNextUri = 96;  // the URI budget of the admin link (16.1)
  static constexpr std::size_t kMaxTarget = 40;
  static constexpr std::size_t kMaxName = 32;  // longer names are no field we keep

  // One field value slot: the value with OWS trimmed.
  template <std::size_t N>
  struct Slot {
    std::array<char, N> bytes{};
    u8 length = 0;
    bool present = false;
    [[nodiscard]] std::string_view view() const noexcept { return {bytes.data(), length}; }
  };
  static_assert(kMaxNextUri <= 255 && kMaxContentType <= 255, "slot lengths are u8");

  struct Progress {
    std::size_t consumed = 0;   // input bytes used
    std::size_t produced = 0;   // body bytes written to out
    bool head_done = false;     // the head is complete (stays true); its fields are readable
    bool done = false;          // the whole response (head and body) has been read
  };

  explicit ResponseParser(const ResponseLimits& limits = {}) noexcept;

  // Parses from in; body bytes go to out. Returns early (consumed < in.size()) when out is full,
  // when the head completes (so the caller sees the head before any body byte) or when the
  // response ends (bytes after it are not consumed).
  Result<Progress, ResponseError> feed(Bytes in, MutableBytes out) noexcept;

  [[nodiscard]] bool head_done() const noexcept { return state_ >= State::kBody; }
  [[nodiscard]] bool done() const noexcept { return state_ == State::kDone; }
  [[nodiscard]] u16 status() const noexcept { return status_; }
  [[nodiscard]] bool chunked() const noexcept { return chunked_; }
  [[nodiscard]] bool has_content_length() const noexcept { return has_length_; }
  [[nodiscard]] u32 content_length() const noexcept { return length_; }
  [[nodiscard]] u32 body_received() const noexcept { return body_; }
  [[nodiscard]] const Slot<kMaxContentType>& content_type() const noexcept { return content_type_; }
  [[nodiscard]] const Slot<kMaxProtocol>& admin_protocol() const noexcept { return protocol_; }
  // X-Admin-Next-URI, or SCWS-Next-URI when only that one came.
  [[nodiscard]] const Slot<kMaxNextUri>& next_uri() const noexcept { return next_uri_; }
  [[nodiscard]] const Slot<kMaxTarget>& targeted_application() const noexcept { return target_; }

  void reset() noexcept;

 private:
  enum class State : u8 {
    kVersion,      // "HTTP/1.1"
    kStatusSp,
    kStatusCode,
    kReason,       // skipped to CR
    kLineLf,       // after a CR of the status line or a field line
    kLineStart,    // a field name's first byte, or the CR of the empty line
    kName,
    kValue,
    kEndLf,        // the LF of the empty line
    kBody,         // >= kBody: the head is done
    kDone,
    kFailed,
  };
  enum class Field : u8 { kOther, kContentType, kContentLength, kTransferEncoding, kProtocol, kNextUri, kScwsNextUri, kTarget };

  Status<ResponseError> step(u8 c) noexcept;  // the transition function for head bytes
  Status<ResponseError> step_status_line(u8 c) noexcept;
  Status<ResponseError> step_field(u8 c) noexcept;
  Status<ResponseError> end_name() noexcept;
  Status<ResponseError> end_value() noexcept;
  Status<ResponseError> value_byte(u8 c) noexcept;
  Status<ResponseError> end_head() noexcept;
  Status<ResponseError> failure(ResponseError e) noexcept;
  Result<Progress, ResponseError> body(Bytes in, MutableBytes out, Progress p) noexcept;

  ResponseLimits limits_;
  ChunkedDecoder chunked_decoder_;
  Slot<kMaxContentType> content_type_;
  Slot<kMaxProtocol> protocol_;
  Slot<kMaxNextUri> next_uri_;
  Slot<kMaxNextUri> scws_next_uri_;
  Slot<kMaxTarget> target_;
  std::array<char, kMaxName> name_{};
  std::array<char, 12> scratch_{};  // the version, then a Content-Length / Transfer-Encoding value
  std::size_t head_ = 0;            // head bytes seen
  u32 length_ = 0;
  u32 body_ = 0;
  u16 status_ = 0;
  u8 name_length_ = 0;
  u8 scratch_length_ = 0;
  u8 pending_ows_ = 0;  // whitespace seen inside a value, kept only if more value follows
  State state_ = State::kVersion;
  State after_lf_ = State::kLineStart;
  Field field_ = Field::kOther;
  ResponseError error_ = ResponseError::kBadStatusLine;
  bool name_too_long_ = false;
  bool value_overflow_ = false;
  bool value_started_ = false;
  bool chunked_ = false;
  bool has_length_ = false;
  bool has_te_ = false;
};

}  // namespace scws::http
