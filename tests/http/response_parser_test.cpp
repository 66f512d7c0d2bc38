#include "http/response_parser.hpp"

#include <doctest/doctest.h>

#include <array>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "http/request_writer.hpp"

using namespace scws;
using namespace scws::http;
using namespace std::string_view_literals;

namespace {

struct Outcome {
  u16 status = 0;
  std::string body;
  std::string content_type, protocol, next_uri, target;
  std::size_t consumed = 0;
  bool done = false;
  bool failed = false;
  ResponseError error = ResponseError::kBadStatusLine;
  bool operator==(const Outcome&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Outcome& o) {
  os << "status=" << o.status << " body=\"" << o.body << "\" consumed=" << o.consumed << " done=" << o.done
     << " ct=" << o.content_type << " next=" << o.next_uri;
  if (o.failed) os << " error=" << describe(o.error);
  return os;
}

// Feeds `text` cut at the given offsets, draining the body through a small buffer.
Outcome run(std::string_view text, const std::vector<std::size_t>& cuts, std::size_t out_size = 7,
            ResponseLimits limits = {}) {
  ResponseParser p(limits);
  Outcome o;
  std::size_t from = 0;
  std::vector<u8> out(out_size);
  auto feed_piece = [&](std::string_view piece) {
    Bytes in(reinterpret_cast<const u8*>(piece.data()), piece.size());
    while (!in.empty() && !o.failed && !o.done) {
      auto r = p.feed(in, MutableBytes(out.data(), out.size()));
      if (!r) {
        o.failed = true;
        o.error = r.error();
        return;
      }
      o.body.append(reinterpret_cast<const char*>(out.data()), r->produced);
      o.consumed += r->consumed;
      in = in.subspan(r->consumed);
      o.done = r->done;
      if (r->consumed == 0 && r->produced == 0 && !r->head_done) break;
    }
  };
  for (std::size_t cut : cuts) {
    feed_piece(text.substr(from, cut - from));
    from = cut;
  }
  feed_piece(text.substr(from));
  if (o.failed) o.consumed = 0;  // bytes consumed before an error are not reported
  o.status = p.status();
  if (p.head_done()) {
    o.content_type = std::string(p.content_type().view());
    o.protocol = std::string(p.admin_protocol().view());
    o.next_uri = std::string(p.next_uri().view());
    o.target = std::string(p.targeted_application().view());
  }
  return o;
}

// Every split of text in two (and byte by byte) gives the same outcome as one piece.
Outcome check_splits(std::string_view text, ResponseLimits limits = {}) {
  const Outcome whole = run(text, {}, 64, limits);
  for (std::size_t i = 0; i <= text.size(); ++i) {
    CAPTURE(i);
    CHECK(run(text, {i}, 7, limits) == whole);
  }
  std::vector<std::size_t> every;
  for (std::size_t i = 1; i < text.size(); ++i) every.push_back(i);
  CHECK(run(text, every, 1, limits) == whole);
  return whole;
}

constexpr std::string_view kScript =
    "HTTP/1.1 200 OK\r\n"
    "X-Admin-Protocol: globalplatform-remote-admin/1.0\r\n"
    "content-type: application/vnd.globalplatform.card-content-mgt;version=1.0\r\n"
    "X-Admin-Next-URI:  /scws/admin/next?s=1  \r\n"
    "X-Unknown: whatever\r\n"
    "X-Admin-Targeted-Application: //aid/F053435753/41\r\n"
    "Content-Length: 10\r\n"
    "\r\n"
    "0123456789";

}  // namespace

TEST_CASE("a script answer with Content-Length, split at every offset") {
  const Outcome o = check_splits(kScript);
  CHECK_FALSE(o.failed);
  CHECK(o.done);
  CHECK(o.status == 200);
  CHECK(o.body == "0123456789");
  CHECK(o.consumed == kScript.size());
  CHECK(o.protocol == "globalplatform-remote-admin/1.0");
  CHECK(o.content_type == "application/vnd.globalplatform.card-content-mgt;version=1.0");
  CHECK(o.next_uri == "/scws/admin/next?s=1");
  CHECK(o.target == "//aid/F053435753/41");
}

TEST_CASE("a chunked answer, split at every offset; bytes after the response are not consumed") {
  const std::string text = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nSCWS-Next-URI: /n\r\n\r\n"
                           "4\r\nabcd\r\n3;x=y\r\nefg\r\n0\r\n\r\n";
  const Outcome o = check_splits(text + "EXTRA");
  CHECK_FALSE(o.failed);
  CHECK(o.done);
  CHECK(o.body == "abcdefg");
  CHECK(o.next_uri == "/n");
  CHECK(o.consumed == text.size());
}

TEST_CASE("204 has no body; a status line without a reason phrase") {
  Outcome o = check_splits("HTTP/1.1 204 No Content\r\nX-Admin-Protocol: globalplatform-remote-admin/1.0\r\n\r\n");
  CHECK(o.done);
  CHECK(o.status == 204);
  o = check_splits("HTTP/1.1 204\r\n\r\n");
  CHECK(o.done);
  CHECK(o.status == 204);
  o = check_splits("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
  CHECK(o.done);
  CHECK(o.status == 200);
}

TEST_CASE("malformed answers fail the same way however they are split") {
  struct Case {
    std::string_view text;
    ResponseError error;
  };
  const Case cases[] = {
      {"HTTX/1.1 200 OK\r\n\r\n", ResponseError::kBadStatusLine},
      {"HTTP/2.0 200 OK\r\n\r\n", ResponseError::kBadVersion},
      {"HTTP/1.1 20 OK\r\n\r\n", ResponseError::kBadStatusLine},
      {"HTTP/1.1 200 OK\n\r\n", ResponseError::kBadStatusLine},
      {"HTTP/1.1 200 OK\r\nA : b\r\n\r\n", ResponseError::kBadHeader},
      {"HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n", ResponseError::kBadHeader},
      {"HTTP/1.1 200 OK\r\nA: b\x01\r\n\r\n", ResponseError::kBadHeader},
      {"HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n", ResponseError::kBadHeader},
      {"HTTP/1.1 200 OK\r\nX-Admin-Next-URI: /a\r\nx-admin-next-uri: /b\r\n\r\n", ResponseError::kBadHeader},
      {"HTTP/1.1 200 OK\r\n\r\n", ResponseError::kBadFraming},
      {"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", ResponseError::kBadFraming},
      {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n", ResponseError::kBadFraming},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", ResponseError::kBadFraming},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", ResponseError::kBadFraming},
      {"HTTP/1.1 200 OK\r\nContent-Length: 32769\r\n\r\n", ResponseError::kBodyTooLarge},
      {"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999\r\n\r\n", ResponseError::kBodyTooLarge},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", ResponseError::kBadChunk},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8001\r\n", ResponseError::kBodyTooLarge},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    const Outcome o = check_splits(c.text);
    CHECK(o.failed);
    CHECK(o.error == c.error);
  }
}

TEST_CASE("the header section budget and the value slots") {
  std::string head = "HTTP/1.1 204 No Content\r\nX-Pad: ";
  head.append(1024 - head.size() - 4, 'p');
  head += "\r\n\r\n";
  REQUIRE(head.size() == 1024);
  CHECK(check_splits(head).done);
  std::string over = head;
  over.insert(20, "x");
  const Outcome o = check_splits(over);
  CHECK(o.failed);
  CHECK(o.error == ResponseError::kHeadTooLarge);

  std::string long_uri = "HTTP/1.1 204 No Content\r\nX-Admin-Next-URI: /" + std::string(ResponseParser::kMaxNextUri, 'u') + "\r\n\r\n";
  const Outcome u = check_splits(long_uri);
  CHECK(u.failed);
  CHECK(u.error == ResponseError::kValueTooLong);
  std::string just = "HTTP/1.1 204 No Content\r\nX-Admin-Next-URI: /" + std::string(ResponseParser::kMaxNextUri - 1, 'u') + "\r\n\r\n";
  CHECK(check_splits(just).next_uri.size() == ResponseParser::kMaxNextUri);
}

TEST_CASE("the request head writer") {
  std::array<u8, 512> buf{};
  const FieldLine fields[] = {{"X-Admin-Protocol", "globalplatform-remote-admin/1.0"}, {"X-Admin-From", "//se-id/iccid/89"}};
  RequestHeadSpec spec;
  spec.target = "/scws/admin";
  spec.host = "admin.scws.test";
  spec.fields = fields;
  spec.content_type = "application/vnd.scws.incident-report;version=1.0";
  spec.content_length = 1234;
  const std::size_t n = write_request_head(spec, MutableBytes(buf.data(), buf.size()));
  const std::string expected =
      "POST /scws/admin HTTP/1.1\r\nHost: admin.scws.test\r\nX-Admin-Protocol: globalplatform-remote-admin/1.0\r\n"
      "X-Admin-From: //se-id/iccid/89\r\nContent-Type: application/vnd.scws.incident-report;version=1.0\r\n"
      "Content-Length: 1234\r\n\r\n";
  CHECK(std::string(reinterpret_cast<const char*>(buf.data()), n) == expected);
  // Too small: nothing.
  CHECK(write_request_head(spec, MutableBytes(buf.data(), expected.size() - 1)) == 0);
  CHECK(write_request_head(spec, MutableBytes(buf.data(), expected.size())) == expected.size());
  // Injection attempts: nothing.
  RequestHeadSpec bad = spec;
  bad.host = "a\r\nX-Evil: 1";
  CHECK(write_request_head(bad, MutableBytes(buf.data(), buf.size())) == 0);
  bad = spec;
  bad.target = "/a b";
  CHECK(write_request_head(bad, MutableBytes(buf.data(), buf.size())) == 0);
  bad = spec;
  bad.target = "relative";
  CHECK(write_request_head(bad, MutableBytes(buf.data(), buf.size())) == 0);
  const FieldLine evil[] = {{"X-A", "v\nw"}};
  bad = spec;
  bad.fields = evil;
  CHECK(write_request_head(bad, MutableBytes(buf.data(), buf.size())) == 0);
  spec.content_type = {};
  spec.content_length = 0;
  const std::size_t m = write_request_head(spec, MutableBytes(buf.data(), buf.size()));
  CHECK(std::string(reinterpret_cast<const char*>(buf.data()), m).ends_with("Content-Length: 0\r\n\r\n"));
}
