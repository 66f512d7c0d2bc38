#include "http/request_parser.hpp"

#include <doctest/doctest.h>

#include <array>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "http/ascii.hpp"

using namespace scws;
using namespace scws::http;
using namespace std::string_view_literals;

namespace {

struct Outcome {
  bool complete = false;
  bool failed = false;
  std::size_t head_length = 0;
  HttpStatus status = HttpStatus::kOk;
  bool operator==(const Outcome&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Outcome& o) {
  if (o.failed) return os << "Error(" << code(o.status) << ")";
  if (o.complete) return os << "Complete(" << o.head_length << ")";
  return os << "NeedMore";
}

constexpr std::size_t kWhole = static_cast<std::size_t>(-1);
Outcome complete(std::size_t head_length = kWhole) { return {true, false, head_length, HttpStatus::kOk}; }
Outcome error(HttpStatus s) { return {false, true, 0, s}; }
const Outcome kNeedMore{};

Outcome to_outcome(const ParseResult& r) {
  if (!r.ok()) return error(r.error());
  if (r->complete) return complete(r->head_length);
  return kNeedMore;
}

// Each call gets a fresh copy of the prefix: the parser keeps offsets only, so the buffer may move,
// and a read past the bytes given would read past the end of the copy (caught by sanitizers).
Outcome feed(RequestParser& p, std::string_view prefix) {
  std::vector<u8> copy(prefix.begin(), prefix.end());
  return to_outcome(p.parse(Bytes(copy.data(), copy.size())));
}

const RequestLimits kSmall{.max_request_line = 32, .max_method = 8, .max_head = 128, .max_headers = 4,
                           .max_body = 100};

std::string repeat(std::string_view s, std::size_t n) {
  std::string r;
  for (std::size_t i = 0; i < n; ++i) r += s;
  return r;
}
const std::string kManyEmptyLines = repeat("\r\n", 70);  // 140 bytes > max_head 128

struct Row {
  const char* source;  // the clause the row checks
  std::string_view raw;
  Outcome expected;
  const RequestLimits* limits = nullptr;
};

// clang-format off
const Row kRows[] = {
  // --- accepted ---
  {"docs/protocol.md section 9: the request of the SCWS exchange",
   "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", complete(35)},
  {"RFC 9112 3.2: HTTP/1.0 needs no Host", "GET /index.html HTTP/1.0\r\n\r\n", complete()},
  {"RFC 9112 2.2: empty lines before the request line are ignored",
   "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", complete()},
  {"RFC 9112 3.2.2: absolute-form", "GET http://127.0.0.1:3516/a?b=c HTTP/1.1\r\nHost: x\r\n\r\n", complete()},
  {"RFC 9112 3.2.4: asterisk-form with OPTIONS", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", complete()},
  {"RFC 9110 6.2: HTTP/1.2 is served as 1.1", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", complete()},
  {"RFC 9110 5.5: obs-text and HTAB inside a value", "GET / HTTP/1.1\r\nHost: a\r\nX: \xC3\xA9\tb\r\n\r\n", complete()},
  {"RFC 9110 5.5: empty field value", "GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\n\r\n", complete()},
  {"RFC 9112 6.3 rule 5: repeated equal Content-Length",
   "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 005\r\n\r\n", complete()},
  {"RFC 9112 6.3 rule 4: chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", complete()},
  {"RFC 9110 10.1.1: Expect 100-continue", "PUT /f HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n", complete()},
  {"RFC 9110 10.1.1: Expect ignored in HTTP/1.0", "GET / HTTP/1.0\r\nExpect: something\r\n\r\n", complete()},
  {"RFC 9110 9.1: every known method", "DELETE /x HTTP/1.1\r\nHost: a\r\n\r\n", complete()},
  {"RFC 9110 9.1: HEAD", "HEAD /x HTTP/1.1\r\nHost: a\r\n\r\n", complete()},
  {"RFC 9112 2: the head ends at the empty line; a body after it is not read",
   "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody", complete(47)},

  // --- request line (RFC 9112 3) ---
  {"RFC 9112 2.2: bare LF refused (card decision)", "GET / HTTP/1.1\nHost: a\n\n", error(HttpStatus::kBadRequest)},
  {"RFC 9112 2.2: bare CR refused", "GET / HTTP/1.1\rHost: a\r\n\r\n", error(HttpStatus::kBadRequest)},
  {"RFC 9112 2.2: bare LF as leading empty line", "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", error(HttpStatus::kBadRequest)},
  {"RFC 9110 9.1: methods are case-sensitive", "get / HTTP/1.1\r\nHost: a\r\n\r\n", error(HttpStatus::kNotImplemented)},
  {"RFC 9110 9.3.8: TRACE not implemented", "TRACE / HTTP/1.1\r\nHost: a\r\n\r\n", error(HttpStatus::kNotImplemented)},
  {"RFC 9110 9.3.6: CONNECT not implemented", "CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n", error(HttpStatus::kNotImplemented)},
  {"RFC 9110 15.6.2: extension method", "PATCH / HTTP/1.1\r\nHost: a\r\n\r\n", error(HttpStatus::kNotImplemented)},
  {"RFC 9112 3.1: method must be a token", "G@T / HTTP/1.1\r\nHost: a\r\n\r\n", error(HttpStatus::kBadRequest)},
  {"RFC 9112 3: no leading whitespace", " GET / HTTP/1.1\r\nHost: a\r\n\r\n", error(HttpStatus::kBadRequest)},
  {"RFC 9112 3: one SP between parts", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", error(HttpStatus::kBadRequest)},
  {"RFC 9112 3: no trailing whitespace", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", error(HttpStatus::kBadRequest)},
  {"RFC 9112 3: SP inside the target", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", error(HttpStatus::kBadRequest)},
  {"RFC 9112 3: HTTP/0.9 request line", "GET /\r\n\r\n", error(HttpStatus::kBadRequest)},
  {"RFC 9112 3.2: control byte in the target", "GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", error(HttpStatus::kBadRequest)},
  {"RFC 9112 3.2: non-ASCII in the target", "GET /\xC3\xA9 HTTP/1.1\r\nHost: a\r\n\r\n", error(HttpStatus::kBadRequest)},
  {"RFC 9112 3.2: no fragment in a request-target", "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", error(HttpStatus::kBadRequest)},
  {"RFC 9112 3.2.1: origin-form starts with /", "GET a HTTP/1.1\r\nHost: a\r\n\r\n", error(HttpStatus::kBadRequest)},
  {"RFC 9112 3.2.4: asterisk-form only for OPTIONS", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", error(HttpStatus::kBadRequest)},
  {"RFC 9112 3.2.2: absolute-form is http or https", "GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", error(HttpStatus::kBadRequest)},
  {"RFC 9112 3.2.2: absolute-form needs an authority", "GET http:///a HTTP/1.1\r\nHost: a\r\n\r\n", error(HttpStatus::kBadRequest)},
  {"RFC 9110 4.2.4: no userinfo", "GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n", error(HttpStatus::kBadRequest)},
  {"RFC 9110 15.6.6: HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", error(HttpStatus::kHttpVersionNotSupported)},
  {"RFC 9110 15.6.6: HTTP/0.9", "GET / HTTP/0.9\r\n\r\n", error(HttpStatus::kHttpVersionNotSupported)},
  {"RFC 9112 2.3: version is case-sensitive", "GET / http/1.1\r\nHost: a\r\n\r\n", error(HttpStatus::kBadRequest)},
  {"RFC 9112 2.3: one digit per part", "GET / HTTP/1.10\r\nHost: a\r\n\r\n", error(HttpStatus::kBadRequest)},
  {"RFC 9112 2.3: dot required", "GET / HTTP/11\r\nHost: a\r\n\r\n", error(HttpStatus::kBadRequest)},

  // --- field lines (RFC 9112 5, RFC 9110 5) ---
  {"RFC 9112 2.2: whitespace after the request line", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", error(HttpStatus::kBadRequest)},
  {"RFC 9112 5.2: obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n", error(HttpStatus::kBadRequest)},
  {"RFC 9112 5.2: obs-fold with HTAB", "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n\t2\r\n\r\n", error(HttpStatus::kBadRequest)},
  {"RFC 9112 5.1: whitespace before the colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", error(HttpStatus::kBadRequest)},
  {"RFC 9110 5.1: empty field name", "GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n", error(HttpStatus::kBadRequest)},
  {"RFC 9110 5.1: field name must be a token", "GET / HTTP/1.1\r\nHost: a\r\nX(y): x\r\n\r\n", error(HttpStatus::kBadRequest)},
  {"RFC 9110 5.1: field line without colon", "GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", error(HttpStatus::kBadRequest)},
  {"RFC 9110 5.5: NUL in a value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n"sv, error(HttpStatus::kBadRequest)},
  {"RFC 9110 5.5: control byte in a value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01\r\n\r\n", error(HttpStatus::kBadRequest)},
  {"RFC 9110 5.5: DEL in a value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7F\r\n\r\n", error(HttpStatus::kBadRequest)},
  {"RFC 9110 5.5: bare LF in a value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\nb\r\n\r\n", error(HttpStatus::kBadRequest)},
  {"RFC 9110 5.5: bare CR in a value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", error(HttpStatus::kBadRequest)},
  {"RFC 9112 2.2: CR of the empty line without LF", "GET / HTTP/1.1\r\nHost: a\r\n\rX", error(HttpStatus::kBadRequest)},

  // --- Host (RFC 9112 3.2) ---
  {"RFC 9112 3.2: HTTP/1.1 without Host", "GET / HTTP/1.1\r\nX: a\r\n\r\n", error(HttpStatus::kBadRequest)},
  {"RFC 9112 3.2: absolute-form still needs Host", "GET http://a/ HTTP/1.1\r\n\r\n", error(HttpStatus::kBadRequest)},
  {"RFC 9112 3.2: two Host lines", "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", error(HttpStatus::kBadRequest)},
  {"RFC 9112 3.2: invalid Host (whitespace)", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", error(HttpStatus::kBadRequest)},
  {"RFC 9112 3.2: invalid Host (path)", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", error(HttpStatus::kBadRequest)},
  {"RFC 9112 3.2: invalid Host (userinfo)", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", error(HttpStatus::kBadRequest)},

  // --- Content-Length (RFC 9110 8.6, RFC 9112 6.3) ---
  {"RFC 9110 8.6: digits only", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1a\r\n\r\n", error(HttpStatus::kBadRequest)},
  {"RFC 9110 8.6: no sign", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", error(HttpStatus::kBadRequest)},
  {"RFC 9110 8.6: no plus sign", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n", error(HttpStatus::kBadRequest)},
  {"RFC 9110 8.6: empty", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", error(HttpStatus::kBadRequest)},
  {"RFC 9110 8.6: list refused (card decision)", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", error(HttpStatus::kBadRequest)},
  {"RFC 9110 8.6: space inside", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n", error(HttpStatus::kBadRequest)},
  {"RFC 9112 6.3 rule 5: differing Content-Length",
   "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", error(HttpStatus::kBadRequest)},
  {"RFC 9110 15.5.14: above the body limit", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 65536\r\n\r\n", error(HttpStatus::kContentTooLarge)},
  {"RFC 9110 8.6: beyond 64 bits is too large, not an overflow",
   "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999999\r\n\r\n", error(HttpStatus::kContentTooLarge)},

  // --- Transfer-Encoding (RFC 9112 6.1, 6.3, 7) ---
  {"RFC 9112 6.3 rule 3: Transfer-Encoding with Content-Length",
   "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", error(HttpStatus::kBadRequest)},
  {"RFC 9112 6.3 rule 4: chunked not final", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", error(HttpStatus::kBadRequest)},
  {"RFC 9112 6.3 rule 4: coding after chunked",
   "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", error(HttpStatus::kBadRequest)},
  {"RFC 9112 6.1: a coding the card does not implement",
   "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", error(HttpStatus::kNotImplemented)},
  {"RFC 9112 7: chunked twice (two lines)",
   "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", error(HttpStatus::kBadRequest)},
  {"RFC 9112 6.1: Transfer-Encoding in HTTP/1.0",
   "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", error(HttpStatus::kBadRequest)},
  {"RFC 9112 6.3 rule 4: empty Transfer-Encoding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", error(HttpStatus::kBadRequest)},

  // --- other fields ---
  {"RFC 9110 10.1.1: unknown expectation", "GET / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", error(HttpStatus::kExpectationFailed)},
  {"RFC 9110 11.6.2: Authorization is a singleton",
   "GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Basic YQ==\r\nAuthorization: Basic Yg==\r\n\r\n", error(HttpStatus::kBadRequest)},

  // --- limits (kSmall: line 32, method 8, head 128, 4 fields, body 100) ---
  {"RFC 9112 3: request line at its limit (32)", "GET /234567890123456789 HTTP/1.1\r\nHost: a\r\n\r\n", complete(), &kSmall},
  {"RFC 9112 3 / RFC 9110 15.5.15: target one byte too long",
   "GET /2345678901234567890 HTTP/1.1\r\nHost: a\r\n\r\n", error(HttpStatus::kUriTooLong), &kSmall},
  {"RFC 9110 15.5.15: long target, request line never ends", "GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", error(HttpStatus::kUriTooLong), &kSmall},
  {"RFC 9112 3: method token too long is 501", "ABCDEFGHI / HTTP/1.1\r\nHost: a\r\n\r\n", error(HttpStatus::kNotImplemented), &kSmall},
  {"RFC 9112 3: method at its limit, unknown", "ABCDEFGH / HTTP/1.1\r\nHost: a\r\n\r\n", error(HttpStatus::kNotImplemented), &kSmall},
  {"RFC 6585 5: fields at the count limit (4)",
   "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", complete(), &kSmall},
  {"RFC 6585 5: one field too many",
   "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", error(HttpStatus::kRequestHeaderFieldsTooLarge), &kSmall},
  {"RFC 6585 5: head of exactly 128 bytes",
   "GET / HTTP/1.1\r\nHost: a\r\nX: 012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345\r\n\r\n",
   complete(128), &kSmall},
  {"RFC 6585 5: head of 129 bytes",
   "GET / HTTP/1.1\r\nHost: a\r\nX: 0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456\r\n\r\n",
   error(HttpStatus::kRequestHeaderFieldsTooLarge), &kSmall},
  {"RFC 6585 5: endless empty lines before the request", kManyEmptyLines, error(HttpStatus::kRequestHeaderFieldsTooLarge), &kSmall},
  {"RFC 9110 15.5.14: Content-Length at the limit (100)", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n", complete(), &kSmall},
  {"RFC 9110 15.5.14: Content-Length one above", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n",
   error(HttpStatus::kContentTooLarge), &kSmall},
};
// clang-format on

Outcome expected_of(const Row& row) {
  Outcome e = row.expected;
  if (e.complete && e.head_length == kWhole) e.head_length = row.raw.size();
  return e;
}

}  // namespace

TEST_CASE("request parser gives each table row its expected outcome when fed whole") {
  for (const Row& row : kRows) {
    CAPTURE(row.source);
    FixedRequestParser<24> p(row.limits ? *row.limits : RequestLimits{});
    CHECK(feed(p, row.raw) == expected_of(row));
  }
}

TEST_CASE("request parser gives the same outcome for every split of every request") {
  for (const Row& row : kRows) {
    CAPTURE(row.source);
    const Outcome want = expected_of(row);
    for (std::size_t k = 0; k <= row.raw.size(); ++k) {
      CAPTURE(k);
      FixedRequestParser<24> p(row.limits ? *row.limits : RequestLimits{});
      const Outcome first = feed(p, row.raw.substr(0, k));
      // Before the deciding byte the parser can only ask for more.
      CHECK((first == kNeedMore || first == want));
      CHECK(feed(p, row.raw) == want);
    }
  }
}

TEST_CASE("request parser gives the same outcome when fed byte by byte") {
  for (const Row& row : kRows) {
    CAPTURE(row.source);
    const Outcome want = expected_of(row);
    FixedRequestParser<24> p(row.limits ? *row.limits : RequestLimits{});
    Outcome last;
    for (std::size_t k = 1; k <= row.raw.size(); ++k) {
      last = feed(p, row.raw.substr(0, k));
      if (last != kNeedMore) {
        CHECK(last == want);
        break;
      }
    }
    CHECK(feed(p, row.raw) == want);  // sticky afterwards
  }
}

TEST_CASE("request parser needs more until the empty line arrives") {
  const std::string_view req = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  FixedRequestParser<8> p;
  for (std::size_t k = 0; k < req.size(); ++k) CHECK(feed(p, req.substr(0, k)) == kNeedMore);
  CHECK(feed(p, req) == complete(req.size()));
}

TEST_CASE("request parser exposes method, target, version and fields as views") {
  const std::string raw =
      "POST /scws/form%20a?x=1&y=two HTTP/1.1\r\n"
      "Host: 127.0.0.1:3516\r\n"
      "content-type:  text/plain \t\r\n"
      "X-Multi: a\r\n"
      "x-multi: b\r\n"
      "Content-Length: 12\r\n"
      "Authorization: Basic dXNlcjpwYXNz\r\n"
      "If-None-Match: \"v1\"\r\n"
      "\r\n";
  FixedRequestParser<16> p;
  auto r = p.parse(as_bytes(raw));
  REQUIRE(r.ok());
  REQUIRE(r->complete);
  CHECK(r->head_length == raw.size());
  const RequestHead& h = p.head();
  CHECK(h.method() == Method::kPost);
  CHECK(method_name(h.method()) == "POST");
  CHECK(h.version() == Version::kHttp11);
  CHECK(h.target() == "/scws/form%20a?x=1&y=two");
  CHECK(h.path() == "/scws/form%20a");
  CHECK(h.has_query());
  CHECK(h.query() == "x=1&y=two");
  CHECK_FALSE(h.absolute_form());
  CHECK(h.host() == "127.0.0.1:3516");
  CHECK(h.framing() == BodyFraming::kLength);
  CHECK(h.content_length() == 12);
  CHECK(h.keep_alive());
  CHECK_FALSE(h.expect_continue());
  REQUIRE(h.header_count() == 7);
  CHECK(h.header(1).name == "content-type");
  CHECK(h.header(1).value == "text/plain");  // OWS trimmed both sides (RFC 9112 5.1)
  // Case-insensitive lookup (RFC 9110 5.1), first match, then the next one.
  CHECK(h.value("CONTENT-TYPE") == std::optional<std::string_view>("text/plain"));
  const std::size_t first = h.find("x-multi");
  REQUIRE(first == 2);
  CHECK(h.find("X-MULTI", first + 1) == 3);
  CHECK(h.find("X-MULTI", 4) == RequestHead::npos);
  CHECK_FALSE(h.value("x-absent").has_value());
  CHECK(h.authorization() == std::optional<std::string_view>("Basic dXNlcjpwYXNz"));
  CHECK(h.if_none_match() == std::optional<std::string_view>("\"v1\""));
}

TEST_CASE("request parser takes the authority of an absolute-form target as the host") {
  const std::string raw = "GET http://127.0.0.1:3516?q HTTP/1.1\r\nHost: other\r\n\r\n";
  FixedRequestParser<4> p;
  auto r = p.parse(as_bytes(raw));
  REQUIRE(r.ok());
  REQUIRE(r->complete);
  CHECK(p.head().absolute_form());
  CHECK(p.head().host() == "127.0.0.1:3516");  // RFC 9112 3.2.2
  CHECK(p.head().path() == "/");
  CHECK(p.head().query() == "q");
  CHECK_FALSE(p.head().authorization().has_value());
}

TEST_CASE("request parser reports no query for a target without a question mark") {
  const std::string raw = "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n";
  FixedRequestParser<4> p;
  auto r = p.parse(as_bytes(raw));
  REQUIRE(r.ok());
  CHECK(p.head().path() == "*");
  CHECK_FALSE(p.head().has_query());
  CHECK(p.head().query().empty());
  CHECK(p.head().method() == Method::kOptions);
}

TEST_CASE("request parser applies the HTTP/1.0 and 1.1 connection defaults (RFC 9112 9.3)") {
  struct Case {
    const char* raw;
    bool keep_alive;
  };
  const Case cases[] = {
      {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true},
      {"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false},
      {"GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, CLOSE\r\n\r\n", false},
      {"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n", true},
      {"GET / HTTP/1.0\r\n\r\n", false},
      {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
      {"GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", false},
  };
  for (const Case& c : cases) {
    CAPTURE(c.raw);
    FixedRequestParser<4> p;
    auto r = p.parse(as_bytes(c.raw));
    REQUIRE(r.ok());
    CHECK(p.head().keep_alive() == c.keep_alive);
  }
}

TEST_CASE("request parser notes Expect 100-continue and chunked framing") {
  const std::string raw = "PUT /f HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nTransfer-Encoding: Chunked\r\n\r\n";
  FixedRequestParser<4> p;
  auto r = p.parse(as_bytes(raw));
  REQUIRE(r.ok());
  CHECK(p.head().expect_continue());
  CHECK(p.head().framing() == BodyFraming::kChunked);
  CHECK(p.head().method() == Method::kPut);

  const std::string v10 = "PUT /f HTTP/1.0\r\nExpect: 100-continue\r\n\r\n";
  FixedRequestParser<4> p10;
  REQUIRE(p10.parse(as_bytes(v10)).ok());
  CHECK_FALSE(p10.head().expect_continue());  // RFC 9110 10.1.1
  CHECK(p10.head().framing() == BodyFraming::kNone);
}

TEST_CASE("request parser serves pipelined requests one after another from one buffer") {
  const std::string buffer =
      "GET /a HTTP/1.1\r\nHost: a\r\n\r\n"
      "POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
      "GET /c HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
  const Bytes all = as_bytes(buffer);
  FixedRequestParser<8> p;
  std::size_t at = 0;
  std::vector<std::string> paths;
  while (at < all.size()) {
    auto r = p.parse(all.subspan(at));
    REQUIRE(r.ok());
    REQUIRE(r->complete);
    paths.emplace_back(p.head().path());
    at += r->head_length;
    if (p.head().framing() == BodyFraming::kLength) {
      CHECK(as_text(all.subspan(at, p.head().content_length())) == "hello");
      at += p.head().content_length();
    }
    const bool last = !p.head().keep_alive();
    p.reset();
    if (last) break;
  }
  CHECK(at == all.size());
  CHECK(paths == std::vector<std::string>{"/a", "/b", "/c"});
}

TEST_CASE("request parser is reusable after an error once reset") {
  FixedRequestParser<4> p;
  CHECK(feed(p, "BREW / HTTP/1.1\r\n") == error(HttpStatus::kNotImplemented));
  CHECK(feed(p, "GET / HTTP/1.1\r\nHost: a\r\n\r\n") == error(HttpStatus::kNotImplemented));  // sticky
  p.reset();
  CHECK(feed(p, "GET / HTTP/1.1\r\nHost: a\r\n\r\n") == complete(27));
}

TEST_CASE("request parser treats fewer bytes than already seen as a caller bug (500)") {
  FixedRequestParser<4> p;
  CHECK(feed(p, "GET / HT") == kNeedMore);
  CHECK(feed(p, "GET") == error(HttpStatus::kInternalServerError));
}

TEST_CASE("request parser limits the fields to the storage it was given") {
  std::array<HeaderField, 2> storage{};
  RequestParser p(storage);  // default limit 24, but only 2 slots
  CHECK(feed(p, "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\n\r\n") == complete(33));
  p.reset();
  CHECK(feed(p, "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n") ==
        error(HttpStatus::kRequestHeaderFieldsTooLarge));
}

// --- percent-decoding ---------------------------------------------------------------------------

namespace {
struct DecodeRow {
  const char* source;
  std::string_view in;
  std::string_view out;  // expected text when ok
  bool ok;
  DecodeError error;
};
// clang-format off
const DecodeRow kPathRows[] = {
  {"RFC 3986 2.1: plain path", "/index.html", "/index.html", true, {}},
  {"RFC 3986 2.1: escapes decode, either case", "/a%20b/%4a%4B", "/a b/JK", true, {}},
  {"RFC 3986 2.1: UTF-8 bytes pass", "/%C3%A9", "/\xC3\xA9", true, {}},
  {"RFC 3986 3.3: root", "/", "/", true, {}},
  {"RFC 3986 3.3: dots inside a segment are fine", "/a/..b/c..", "/a/..b/c..", true, {}},
  {"RFC 3986 3.3: three dots are a name", "/a/.../b", "/a/.../b", true, {}},
  {"RFC 3986 2.1: truncated escape", "/a%2", "", false, DecodeError::kBadEscape},
  {"RFC 3986 2.1: escape at the end", "/a%", "", false, DecodeError::kBadEscape},
  {"RFC 3986 2.1: non-hex escape", "/a%zz", "", false, DecodeError::kBadEscape},
  {"RFC 3986 2.1: half-hex escape", "/a%2g", "", false, DecodeError::kBadEscape},
  {"card rule: %00 refused", "/a%00b", "", false, DecodeError::kControlByte},
  {"card rule: encoded LF refused", "/a%0a", "", false, DecodeError::kControlByte},
  {"card rule: encoded DEL refused", "/a%7F", "", false, DecodeError::kControlByte},
  {"RFC 3986 5.2.4: .. segment", "/../etc/passwd", "", false, DecodeError::kDotSegment},
  {"RFC 3986 5.2.4: .. at the end", "/a/..", "", false, DecodeError::kDotSegment},
  {"RFC 3986 5.2.4: encoded ..", "/a/%2e%2E/b", "", false, DecodeError::kDotSegment},
  {"RFC 3986 5.2.4: half-encoded ..", "/a/.%2e/b", "", false, DecodeError::kDotSegment},
  {"RFC 3986 5.2.4: .. behind an encoded slash", "/a%2f..%2fb", "", false, DecodeError::kDotSegment},
  {"RFC 3986 5.2.4: . segment", "/a/./b", "", false, DecodeError::kDotSegment},
  {"card rule: backslash", "/a%5c..%5cb", "", false, DecodeError::kBackslash},
  {"RFC 9112 3.2.1: origin-form starts with /", "a/b", "", false, DecodeError::kNotAbsolute},
  {"RFC 9112 3.2.1: empty path", "", "", false, DecodeError::kNotAbsolute},
};
// clang-format on
}  // namespace

TEST_CASE("decode_path decodes escapes and refuses traversal, NUL and bad escapes") {
  for (const DecodeRow& row : kPathRows) {
    CAPTURE(row.source);
    std::array<u8, 64> out{};
    auto r = decode_path(row.in, out);
    REQUIRE(r.ok() == row.ok);
    if (row.ok) {
      CHECK(*r == row.out);
      CHECK(static_cast<const void*>(r->data()) == static_cast<const void*>(out.data()));
    } else {
      CHECK(r.error() == row.error);
      CHECK(to_status(r.error()) == HttpStatus::kBadRequest);
    }
  }
}

TEST_CASE("decode_path reports a too small output as 414") {
  std::array<u8, 4> out{};
  auto r = decode_path("/abcd", out);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error() == DecodeError::kNoSpace);
  CHECK(to_status(r.error()) == HttpStatus::kUriTooLong);
  CHECK(decode_path("/abc", out).ok());  // exactly fits
}

TEST_CASE("query components decode plus as space and the parameter lookup finds raw values") {
  std::array<u8, 32> out{};
  auto v = decode_query_component("a+b%21%3D", out);
  REQUIRE(v.ok());
  CHECK(*v == "a b!=");
  CHECK(decode_query_component("%00", out).error() == DecodeError::kControlByte);
  CHECK(decode_query_component("%G0", out).error() == DecodeError::kBadEscape);

  CHECK(find_query_parameter("x=1&y=two&z", "y") == std::optional<std::string_view>("two"));
  CHECK(find_query_parameter("x=1&y=two&z", "z") == std::optional<std::string_view>(""));
  CHECK(find_query_parameter("x=1&y=two&z", "x") == std::optional<std::string_view>("1"));
  CHECK_FALSE(find_query_parameter("x=1&y=two&z", "w").has_value());
  CHECK_FALSE(find_query_parameter("", "x").has_value());
  CHECK(find_query_parameter("a=1&a=2", "a") == std::optional<std::string_view>("1"));
}

TEST_CASE("if-none-match compares entity tags weakly across every field line (RFC 9110 13.1.2)") {
  struct Case {
    const char* fields;
    const char* etag;
    bool match;
  };
  const Case cases[] = {
      {"", "\"v1\"", false},
      {"If-None-Match: \"v1\"\r\n", "\"v1\"", true},
      {"If-None-Match: \"v1\"\r\n", "\"v2\"", false},
      {"If-None-Match: W/\"v1\"\r\n", "\"v1\"", true},   // weak comparison
      {"If-None-Match: \"v1\"\r\n", "W/\"v1\"", true},
      {"If-None-Match: *\r\n", "\"anything\"", true},
      {"If-None-Match: \"a\", \"b\" , \"v1\"\r\n", "\"v1\"", true},
      {"If-None-Match: \"a,b\"\r\n", "\"a,b\"", true},   // etagc includes ","
      {"If-None-Match: \"a,b\"\r\n", "\"a\"", false},
      {"If-None-Match: \"a\"\r\nif-none-match: \"v1\"\r\n", "\"v1\"", true},
      {"If-None-Match: v1\r\n", "\"v1\"", false},        // not an entity-tag
      {"If-None-Match: \"v1\r\n", "\"v1\"", false},      // unterminated
  };
  for (const Case& c : cases) {
    CAPTURE(c.fields);
    const std::string raw = std::string("GET / HTTP/1.1\r\nHost: a\r\n") + c.fields + "\r\n";
    FixedRequestParser<8> p;
    auto r = p.parse(as_bytes(raw));
    REQUIRE(r.ok());
    CHECK(if_none_match_matches(p.head(), c.etag) == c.match);
  }
}
