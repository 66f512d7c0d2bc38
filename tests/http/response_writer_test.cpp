#include "http/response_writer.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "http/ascii.hpp"
#include "http/chunked.hpp"
#include "http/request_parser.hpp"

using namespace scws;
using namespace scws::http;

namespace {

constexpr std::size_t kSendData = 240;  // SEND DATA payload (docs/protocol.md section 6.4)

// A resource "in NVM": hands out at most `page` bytes per read, as a page-wise store would.
class PagedBody {
 public:
  PagedBody(std::string data, std::size_t page) : data_(std::move(data)), page_(page) {}
  Result<std::size_t, BodyError> read(u32 offset, MutableBytes out) noexcept {
    ++reads;
    if (fail_at_ != 0 && offset >= fail_at_) return fail(BodyError::kReadFailed);
    if (offset >= data_.size()) return std::size_t{0};
    std::size_t n = std::min({out.size(), page_, data_.size() - offset});
    std::memcpy(out.data(), data_.data() + offset, n);
    return n;
  }
  void fail_from(u32 offset) { fail_at_ = offset; }
  std::size_t reads = 0;

 private:
  std::string data_;
  std::size_t page_;
  u32 fail_at_ = 0;
};

struct Written {
  std::string bytes;
  std::vector<std::size_t> pieces;
  bool failed = false;
  WriteError error = WriteError::kNotStarted;
};

// Drives the writer with pieces of `piece` bytes until done (bounded), as the BIP channel would.
Written drain(ResponseWriter& w, std::size_t piece) {
  Written out;
  std::vector<u8> buf(piece);
  for (int guard = 0; guard < 100000 && !w.done(); ++guard) {
    auto r = w.write(buf);
    if (!r.ok()) {
      out.failed = true;
      out.error = r.error();
      return out;
    }
    CHECK(*r <= piece);
    out.pieces.push_back(*r);
    out.bytes.append(reinterpret_cast<const char*>(buf.data()), *r);
  }
  REQUIRE(w.done());
  return out;
}

std::string pattern(std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += static_cast<char>('a' + i % 26);
  return s;
}

std::string decode_chunked(std::string_view encoded) {
  ChunkedDecoder d(ChunkedLimits{.max_chunk_line = 64, .max_trailer = 256, .max_body = 1u << 20});
  std::vector<u8> out(encoded.size());
  auto r = d.decode(as_bytes(encoded), out);
  REQUIRE(r.ok());
  CHECK(r->done);
  CHECK(r->consumed == encoded.size());
  return std::string(reinterpret_cast<const char*>(out.data()), r->produced);
}

}  // namespace

TEST_CASE("response writer output over any piece size equals the full Content-Length response") {
  MemoryBody body(std::string_view("hello"));
  ResponseHead head;
  head.body = BodyMode::kLength;
  head.content_length = 5;
  head.content_type = "text/plain";
  head.etag = "\"v1\"";
  head.cache_control = "no-store";
  const std::string expected =  // RFC 9112 4, 5, 6.2
      "HTTP/1.1 200 OK\r\n"
      "Content-Type: text/plain\r\n"
      "Content-Length: 5\r\n"
      "ETag: \"v1\"\r\n"
      "Cache-Control: no-store\r\n"
      "\r\n"
      "hello";
  for (std::size_t piece = ResponseWriter::kMinPiece; piece <= expected.size() + 10; ++piece) {
    CAPTURE(piece);
    ResponseWriter w;
    REQUIRE(w.start(head, body_source(body)).ok());
    const Written out = drain(w, piece);
    CHECK(out.bytes == expected);
    for (std::size_t i = 0; i + 1 < out.pieces.size(); ++i) CHECK(out.pieces[i] == piece);  // full pieces
    CHECK_FALSE(w.close_after());
  }
}

TEST_CASE("response writer streams a large resource from a paged source in full 240-byte pieces") {
  const std::string content = pattern(5000);
  PagedBody body(content, 64);  // the source never gives more than 64 bytes at once
  ResponseHead head;
  head.body = BodyMode::kLength;
  head.content_length = static_cast<u32>(content.size());
  head.content_type = "application/octet-stream";
  ResponseWriter w;
  REQUIRE(w.start(head, body_source(body)).ok());
  const Written out = drain(w, kSendData);
  const std::string expected = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 5000\r\n\r\n" + content;
  CHECK(out.bytes == expected);
  CHECK(out.pieces.size() == (expected.size() + kSendData - 1) / kSendData);
  for (std::size_t i = 0; i + 1 < out.pieces.size(); ++i) CHECK(out.pieces[i] == kSendData);
  CHECK(w.content_sent() == 5000);
}

TEST_CASE("response writer chunks content of unknown length into full 240-byte pieces") {
  const std::string content = pattern(500);
  MemoryBody body(std::string_view{content});
  ResponseHead head;
  head.body = BodyMode::kChunked;
  ResponseWriter w;
  REQUIRE(w.start(head, body_source(body)).ok());
  const Written out = drain(w, kSendData);
  // Computed by hand: the 47-byte head leaves 193 bytes = "BB" CRLF 187 CRLF; the next piece holds
  // "EA" CRLF 234 CRLF; the last 79 bytes ("4F") and the last-chunk (RFC 9112 7.1) end the third.
  const std::string expected = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "BB\r\n" + content.substr(0, 187) + "\r\n"
                               "EA\r\n" + content.substr(187, 234) + "\r\n"
                               "4F\r\n" + content.substr(421) + "\r\n"
                               "0\r\n\r\n";
  CHECK(out.bytes == expected);
  REQUIRE(out.pieces.size() == 3);
  CHECK(out.pieces[0] == 240);
  CHECK(out.pieces[1] == 240);
}

TEST_CASE("response writer chunked output decodes to the content for every piece size and page size") {
  const std::string content = pattern(1200);
  const std::string head_text = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (std::size_t page : {1u, 7u, 64u, 4096u}) {
    for (std::size_t piece = ResponseWriter::kMinPiece; piece <= 300; piece += 1) {
      CAPTURE(page);
      CAPTURE(piece);
      PagedBody body(content, page);
      ResponseHead head;
      head.body = BodyMode::kChunked;
      head.content_type = "text/html";
      ResponseWriter w;
      REQUIRE(w.start(head, body_source(body)).ok());
      const Written out = drain(w, piece);
      REQUIRE(out.bytes.size() > head_text.size());
      CHECK(out.bytes.substr(0, head_text.size()) == head_text);
      CHECK(decode_chunked(std::string_view(out.bytes).substr(head_text.size())) == content);
      if (page >= piece) {
        // A piece ends short only when a chunk would not fit (at most 5 bytes left), or at the end.
        for (std::size_t i = 0; i + 1 < out.pieces.size(); ++i) CHECK(out.pieces[i] + 5 >= piece);
      }
    }
  }
}

TEST_CASE("response writer answers HEAD with the framing of GET and no content (RFC 9110 9.3.2)") {
  MemoryBody body(std::string_view("hello"));
  ResponseHead head;
  head.body = BodyMode::kLength;
  head.content_length = 5;
  head.head_request = true;
  ResponseWriter w;
  REQUIRE(w.start(head, body_source(body)).ok());
  CHECK(drain(w, kSendData).bytes == "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
  CHECK(body.size() == 5);

  ResponseHead chunked;
  chunked.body = BodyMode::kChunked;
  chunked.head_request = true;
  REQUIRE(w.start(chunked).ok());
  CHECK(drain(w, kSendData).bytes == "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
}

TEST_CASE("response writer sends no content and no framing for 204, 304 and 1xx (RFC 9110 6.4.1)") {
  MemoryBody body(std::string_view("ignored"));
  ResponseWriter w;

  ResponseHead no_content;
  no_content.status = HttpStatus::kNoContent;
  no_content.body = BodyMode::kLength;
  no_content.content_length = 7;
  REQUIRE(w.start(no_content, body_source(body)).ok());
  CHECK(drain(w, kSendData).bytes == "HTTP/1.1 204 No Content\r\n\r\n");

  ResponseHead not_modified;
  not_modified.status = HttpStatus::kNotModified;
  not_modified.etag = "\"v1\"";
  not_modified.cache_control = "max-age=60";
  REQUIRE(w.start(not_modified).ok());
  CHECK(drain(w, kSendData).bytes == "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nCache-Control: max-age=60\r\n\r\n");

  ResponseHead interim;  // RFC 9110 15.2.1: answer to Expect: 100-continue
  interim.status = HttpStatus::kContinue;
  interim.connection = ConnectionOption::kClose;  // ignored: an interim response never closes
  interim.content_type = "text/plain";
  REQUIRE(w.start(interim).ok());
  CHECK(drain(w, kSendData).bytes == "HTTP/1.1 100 Continue\r\n\r\n");
  CHECK_FALSE(w.close_after());
}

TEST_CASE("response writer announces an empty body with Content-Length 0 so the connection persists") {
  ResponseHead head;
  head.status = HttpStatus::kCreated;
  head.location = "/scws/new";
  head.connection = ConnectionOption::kKeepAlive;  // an HTTP/1.0 client that asked for it
  ResponseWriter w;
  REQUIRE(w.start(head).ok());
  CHECK(drain(w, kSendData).bytes ==
        "HTTP/1.1 201 Created\r\nContent-Length: 0\r\nLocation: /scws/new\r\nConnection: keep-alive\r\n\r\n");
  CHECK_FALSE(w.close_after());
}

TEST_CASE("response writer delimits content by closing for HTTP/1.0 clients (RFC 9112 6.3 rule 8)") {
  CHECK(unknown_length_mode(true) == BodyMode::kChunked);
  CHECK(unknown_length_mode(false) == BodyMode::kUntilClose);
  const std::string content = pattern(300);
  PagedBody body(content, 100);
  ResponseHead head;
  head.body = unknown_length_mode(false);
  ResponseWriter w;
  REQUIRE(w.start(head, body_source(body)).ok());
  CHECK(w.close_after());
  CHECK(drain(w, kSendData).bytes == "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + content);
}

TEST_CASE("response writer sends the fields 401, 405 and redirects need, and extra fields in order") {
  const ResponseField extra[] = {{"X-Admin-Protocol", "globalplatform-remote-admin/1.0"}, {"Vary", "Authorization"}};
  ResponseHead head;
  head.status = HttpStatus::kUnauthorized;
  head.www_authenticate = "Basic realm=\"scws\"";
  head.allow = "GET, HEAD";
  head.location = "/login";
  head.extra = extra;
  head.connection = ConnectionOption::kClose;
  ResponseWriter w;
  REQUIRE(w.start(head).ok());
  CHECK(drain(w, 16).bytes ==
        "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nLocation: /login\r\nAllow: GET, HEAD\r\n"
        "WWW-Authenticate: Basic realm=\"scws\"\r\nConnection: close\r\n"
        "X-Admin-Protocol: globalplatform-remote-admin/1.0\r\nVary: Authorization\r\n\r\n");
  CHECK(w.close_after());
}

TEST_CASE("response writer refuses heads that would break the message") {
  ResponseWriter w;
  ResponseHead h401;
  h401.status = HttpStatus::kUnauthorized;  // RFC 9110 15.5.2: needs WWW-Authenticate
  CHECK(w.start(h401).error() == WriteError::kMissingField);
  ResponseHead h405;
  h405.status = HttpStatus::kMethodNotAllowed;  // RFC 9110 15.5.6: needs Allow
  CHECK(w.start(h405).error() == WriteError::kMissingField);

  ResponseHead injected;
  injected.status = HttpStatus::kFound;
  injected.location = "/a\r\nSet-Cookie: x=1";  // header injection
  CHECK(w.start(injected).error() == WriteError::kInvalidField);
  ResponseHead nul;
  nul.content_type = std::string_view("text/plain\0x", 12);
  CHECK(w.start(nul).error() == WriteError::kInvalidField);

  const ResponseField framing[] = {{"Content-Length", "0"}};
  ResponseHead dup;
  dup.extra = framing;
  CHECK(w.start(dup).error() == WriteError::kInvalidField);
  const ResponseField bad_name[] = {{"Bad Name", "x"}};
  ResponseHead bn;
  bn.extra = bad_name;
  CHECK(w.start(bn).error() == WriteError::kInvalidField);
  const ResponseField empty_name[] = {{"", "x"}};
  ResponseHead en;
  en.extra = empty_name;
  CHECK(w.start(en).error() == WriteError::kInvalidField);

  ResponseHead no_source;
  no_source.body = BodyMode::kLength;
  no_source.content_length = 3;
  CHECK(w.start(no_source).error() == WriteError::kNoBodySource);
  CHECK_FALSE(w.active());
  std::array<u8, 64> out{};
  CHECK(w.write(out).error() == WriteError::kNotStarted);
}

TEST_CASE("response writer refuses output pieces too small for a chunk") {
  ResponseHead head;
  ResponseWriter w;
  REQUIRE(w.start(head).ok());
  std::array<u8, ResponseWriter::kMinPiece - 1> small{};
  CHECK(w.write(small).error() == WriteError::kOutputTooSmall);
  CHECK(w.active());  // still resumable with a proper piece
  std::array<u8, ResponseWriter::kMinPiece> ok{};
  CHECK(w.write(ok).ok());
}

TEST_CASE("response writer stops and asks for a close when the source fails or ends early") {
  const std::string content = pattern(600);
  {
    PagedBody body(content, 50);
    body.fail_from(300);
    ResponseHead head;
    head.body = BodyMode::kLength;
    head.content_length = 600;
    ResponseWriter w;
    REQUIRE(w.start(head, body_source(body)).ok());
    const Written out = drain(w, kSendData);
    CHECK(out.failed);
    CHECK(out.error == WriteError::kBodyReadFailed);
    CHECK(w.close_after());
  }
  {
    PagedBody body(content, 50);
    ResponseHead head;
    head.body = BodyMode::kLength;
    head.content_length = 601;  // one byte more than the source holds
    ResponseWriter w;
    REQUIRE(w.start(head, body_source(body)).ok());
    const Written out = drain(w, kSendData);
    CHECK(out.failed);
    CHECK(out.error == WriteError::kBodyTooShort);
    CHECK(w.close_after());
    std::array<u8, 64> buf{};
    CHECK(w.write(buf).error() == WriteError::kBodyTooShort);  // stays failed
  }
  {
    PagedBody body(content, 50);
    body.fail_from(100);
    ResponseHead head;
    head.body = BodyMode::kChunked;
    ResponseWriter w;
    REQUIRE(w.start(head, body_source(body)).ok());
    CHECK(drain(w, kSendData).error == WriteError::kBodyReadFailed);
  }
}

TEST_CASE("response writer reads only as much as the announced length") {
  const std::string content = pattern(100);
  PagedBody body(content, 1000);
  ResponseHead head;
  head.body = BodyMode::kLength;
  head.content_length = 10;  // a prefix of what the source holds
  ResponseWriter w;
  REQUIRE(w.start(head, body_source(body)).ok());
  CHECK(drain(w, kSendData).bytes == "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n" + content.substr(0, 10));
  CHECK(body.reads == 1);
}

TEST_CASE("canned error responses carry their body, its length and Connection: close") {
  const HttpStatus statuses[] = {
      HttpStatus::kBadRequest, HttpStatus::kUnauthorized, HttpStatus::kForbidden, HttpStatus::kNotFound,
      HttpStatus::kMethodNotAllowed, HttpStatus::kLengthRequired, HttpStatus::kContentTooLarge,
      HttpStatus::kUriTooLong, HttpStatus::kRequestHeaderFieldsTooLarge, HttpStatus::kInternalServerError,
      HttpStatus::kNotImplemented, HttpStatus::kServiceUnavailable, HttpStatus::kHttpVersionNotSupported,
  };
  for (HttpStatus s : statuses) {
    CAPTURE(code(s));
    ErrorResponse e = error_response(s);
    if (s == HttpStatus::kUnauthorized) e.head.www_authenticate = "Basic realm=\"scws\"";
    if (s == HttpStatus::kMethodNotAllowed) e.head.allow = "GET, HEAD";
    ResponseWriter w;
    REQUIRE(w.start(e.head, e.body.source()).ok());
    const std::string out = drain(w, kSendData).bytes;
    CHECK(w.close_after());

    // Read it back with the card's own request-side tools: the head is well-formed field lines.
    const std::size_t end = out.find("\r\n\r\n");
    REQUIRE(end != std::string::npos);
    const std::string status_line = out.substr(0, out.find("\r\n"));
    CHECK(status_line == "HTTP/1.1 " + std::to_string(code(s)) + " " + std::string(reason_phrase(s)));
    CHECK(out.substr(end + 4) == canned_body(s));
    CHECK(out.find("Content-Length: " + std::to_string(canned_body(s).size()) + "\r\n") != std::string::npos);
    CHECK(out.find("Content-Type: text/html; charset=utf-8\r\n") != std::string::npos);
    CHECK(out.find("Connection: close\r\n") != std::string::npos);
  }
}

TEST_CASE("response writer can be restarted for the next response on a persistent connection") {
  MemoryBody a(std::string_view("first"));
  MemoryBody b(std::string_view("second!"));
  ResponseHead ha;
  ha.body = BodyMode::kLength;
  ha.content_length = 5;
  ResponseHead hb = ha;
  hb.content_length = 7;
  ResponseWriter w;
  REQUIRE(w.start(ha, body_source(a)).ok());
  CHECK(drain(w, kSendData).bytes == "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst");
  std::array<u8, 64> buf{};
  auto after = w.write(buf);
  REQUIRE(after.ok());
  CHECK(*after == 0);
  REQUIRE(w.start(hb, body_source(b)).ok());
  CHECK(drain(w, kSendData).bytes == "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nsecond!");
}
