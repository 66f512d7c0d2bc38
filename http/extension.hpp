// Servlet-style extensions of the on-card web server, in the spirit of ETSI TS 102 588 (the
// uicc.scws package: an SCWS extension registers for a URL and is called back with HttpRequest /
// HttpResponse objects from doGet, doPost, ...). The card has no threads, so the calls are
// non-blocking: an extension is called once the request head is parsed and, while it has not
// completed its response, again each time more request body arrives (on_body). It pulls the body
// bytes available now with HttpRequest::read_body and completes the response with one of the
// HttpResponse::send* calls; the server then streams it out in BIP-sized pieces, pulling generated
// content from the extension's ContentFn as the pieces go. Nothing is buffered whole.
//
// Per-connection extension memory: HttpRequest::state() gives kExtensionStateSize bytes, zeroed
// at the start of every request, kept until the response is sent (that is where a ContentFn finds
// its data: the server passes them as its `state` argument).
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string_view>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "http/request_parser.hpp"
#include "http/response_writer.hpp"
#include "http/status.hpp"

namespace scws::http {

inline constexpr std::size_t kExtensionStateSize = 48;
inline constexpr std::size_t kMaxExtraFields = 2;
inline constexpr std::size_t kMaxContentTypeSize = 56;

// Generated content: copies bytes from `offset` into out (never empty); 0 = the end. `state` is
// the connection's extension state (HttpRequest::state()).
using ContentFn = BodySource::ReadFn;

class HttpRequest {
 public:
  [[nodiscard]] Method method() const noexcept { return head_->method(); }
  // The decoded path ("/status"), as routed.
  [[nodiscard]] std::string_view path() const noexcept { return path_; }
  // The still-encoded query and the raw value of a parameter (decode_query_component to decode).
  [[nodiscard]] std::string_view query() const noexcept { return head_->query(); }
  [[nodiscard]] std::optional<std::string_view> query_parameter(std::string_view name) const noexcept {
    return find_query_parameter(head_->query(), name);
  }
  // First field of that name (case-insensitive); nullopt when absent.
  [[nodiscard]] std::optional<std::string_view> header(std::string_view name) const noexcept {
    return head_->value(name);
  }
  [[nodiscard]] const RequestHead& head() const noexcept { return *head_; }
  // Whether the request has a body at all, and its announced length (Content-Length; chunked: nullopt).
  [[nodiscard]] bool has_body() const noexcept { return head_->framing() != BodyFraming::kNone; }
  [[nodiscard]] std::optional<u32> content_length() const noexcept {
    if (head_->framing() == BodyFraming::kLength) return head_->content_length();
    return std::nullopt;
  }
  // Copies up to out.size() body bytes available now; 0 when none is available now (more may
  // come: on_body is called then) or when the body is complete (body_complete()). Bytes not read
  // during a call stay for the next one.
  std::size_t read_body(MutableBytes out) noexcept;
  // Every body byte has been read (true at once without a body).
  [[nodiscard]] bool body_complete() const noexcept { return complete_ && available_.empty(); }
  [[nodiscard]] u32 body_read() const noexcept { return read_; }
  // Per-connection memory for the extension (see the file comment), 8-byte aligned.
  [[nodiscard]] MutableBytes state() const noexcept { return state_; }
  template <class T>
  [[nodiscard]] T* state_as() const noexcept {
    static_assert(sizeof(T) <= kExtensionStateSize && alignof(T) <= 8);
    return reinterpret_cast<T*>(state_.data());
  }

  // ---- server only ----
  void server_set(const RequestHead* head, std::string_view path, MutableBytes state) noexcept {
    head_ = head;
    path_ = path;
    state_ = state;
    available_ = {};
    complete_ = false;
    read_ = 0;
  }
  void server_offer(Bytes available, bool complete) noexcept {
    available_ = available;
    complete_ = complete;
  }
  [[nodiscard]] std::size_t server_unread() const noexcept { return available_.size(); }

 private:
  const RequestHead* head_ = nullptr;
  std::string_view path_;
  MutableBytes state_;
  Bytes available_;
  u32 read_ = 0;
  bool complete_ = false;
};

class HttpResponse {
 public:
  void set_status(HttpStatus s) noexcept { status_ = s; }
  // Copied (at most kMaxContentTypeSize bytes; longer is refused: false).
  bool set_content_type(std::string_view type) noexcept;
  // Up to kMaxExtraFields; the views must stay valid until the response is sent (string literals,
  // or bytes in the extension state). false when full.
  bool add_header(std::string_view name, std::string_view value) noexcept;

  // Completing calls (the first one wins; later ones are ignored):
  // content of `length` bytes from fn (Content-Length framing).
  void send(ContentFn fn, u32 length) noexcept;
  // content of unknown length from fn (chunked for HTTP/1.1, until-close for HTTP/1.0).
  void send_unknown_length(ContentFn fn) noexcept;
  // text that outlives the response (a literal).
  void send_text(std::string_view static_text) noexcept;
  // no content.
  void send_empty() noexcept;
  // a canned error page (405 needs allow, 401 needs challenge: give them).
  void send_error(HttpStatus status, std::string_view allow_or_challenge = {}) noexcept;

  [[nodiscard]] bool completed() const noexcept { return completed_; }

  // ---- server only ----
  struct Out {
    HttpStatus status = HttpStatus::kOk;
    BodyMode mode = BodyMode::kNone;
    u32 length = 0;
    ContentFn fn = nullptr;
    std::string_view text;
    bool error_page = false;
    std::string_view allow;
    std::string_view challenge;
    std::string_view content_type;
    std::span<const ResponseField> extra;
  };
  void server_reset(char* type_buffer, ResponseField* fields) noexcept {
    *this = HttpResponse{};
    type_buffer_ = type_buffer;
    fields_ = fields;
  }
  [[nodiscard]] Out server_out() const noexcept;

 private:
  char* type_buffer_ = nullptr;  // kMaxContentTypeSize bytes in the connection
  ResponseField* fields_ = nullptr;
  std::size_t field_count_ = 0;
  std::size_t type_length_ = 0;
  HttpStatus status_ = HttpStatus::kOk;
  BodyMode mode_ = BodyMode::kNone;
  u32 length_ = 0;
  ContentFn fn_ = nullptr;
  std::string_view text_;
  std::string_view allow_or_challenge_;
  bool error_page_ = false;
  bool completed_ = false;
};

// The servlet: override the methods it serves. A method not overridden answers 405 with Allow
// from allowed_methods(). OPTIONS answers 200 with Allow by default.
class Extension {
 public:
  virtual ~Extension() = default;
  virtual void do_get(HttpRequest& request, HttpResponse& response) noexcept { refuse(request, response); }
  virtual void do_head(HttpRequest& request, HttpResponse& response) noexcept { do_get(request, response); }
  virtual void do_post(HttpRequest& request, HttpResponse& response) noexcept { refuse(request, response); }
  virtual void do_put(HttpRequest& request, HttpResponse& response) noexcept { refuse(request, response); }
  virtual void do_delete(HttpRequest& request, HttpResponse& response) noexcept { refuse(request, response); }
  virtual void do_options(HttpRequest& request, HttpResponse& response) noexcept;
  // More body arrived for a request whose response is not complete yet.
  virtual void on_body(HttpRequest& request, HttpResponse& response) noexcept { refuse(request, response); }
  // The Allow value for 405 and OPTIONS, e.g. "GET, HEAD, OPTIONS" (a literal).
  [[nodiscard]] virtual std::string_view allowed_methods() const noexcept { return "OPTIONS"; }

 protected:
  void refuse(HttpRequest& request, HttpResponse& response) noexcept;
};

// Copies bytes [offset, ...) of `whole` into out: the usual ContentFn body for text rendered into a
// stack buffer at each call (small generated pages: render, then copy the slice asked for).
std::size_t copy_slice(Bytes whole, u32 offset, MutableBytes out) noexcept;

// A bounded text builder over caller memory (no heap): for JSON and small pages.
class TextBuilder {
 public:
  explicit TextBuilder(std::span<char> out) noexcept : out_(out) {}
  TextBuilder& text(std::string_view s) noexcept;
  TextBuilder& number(u64 v) noexcept;
  TextBuilder& hex32(u32 v) noexcept;  // 8 lower-case digits
  // A JSON string body (without quotes): escapes '"', '\' and control bytes.
  TextBuilder& json_escaped(std::string_view s) noexcept;
  [[nodiscard]] bool ok() const noexcept { return ok_; }
  [[nodiscard]] std::string_view view() const noexcept { return {out_.data(), size_}; }
  [[nodiscard]] Bytes bytes() const noexcept { return Bytes(reinterpret_cast<const u8*>(out_.data()), size_); }

 private:
  void put(char c) noexcept;
  std::span<char> out_;
  std::size_t size_ = 0;
  bool ok_ = true;
};

}  // namespace scws::http
