// The SCWS applet end to end through its StreamEndpoint face (what the toolkit drives): requests in
// every split, streamed responses, protection sets, extensions, errors, keep-alive and pipelining,
// and RAM back to idle after every connection.
#include <doctest/doctest.h>

#include "tests/card/scws/scws_fixture.hpp"

using namespace scws;
using namespace scws::card;
using namespace scws::card::test;

namespace {

std::string basic(std::string_view user_colon_password) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(user_colon_password.data());
  const std::size_t n = user_colon_password.size();
  for (; i + 2 < n; i += 3) {
    const unsigned v = (p[i] << 16) | (p[i + 1] << 8) | p[i + 2];
    for (int k = 18; k >= 0; k -= 6) out.push_back(kAlphabet[(v >> k) & 63]);
  }
  if (n - i == 1) {
    const unsigned v = p[i] << 16;
    out += {kAlphabet[(v >> 18) & 63], kAlphabet[(v >> 12) & 63], '=', '='};
  } else if (n - i == 2) {
    const unsigned v = (p[i] << 16) | (p[i + 1] << 8);
    out += {kAlphabet[(v >> 18) & 63], kAlphabet[(v >> 12) & 63], kAlphabet[(v >> 6) & 63], '='};
  }
  return "Basic " + out;
}

}  // namespace

TEST_CASE("scws applet serves a static page with content type, etag and length whatever the request split") {
  ScwsFixture f;
  const std::string request = "GET /a.txt HTTP/1.1\r\nHost: card\r\n\r\n";
  for (std::size_t split = 1; split <= request.size(); ++split) {
    CAPTURE(split);
    Client c(f.applet, 0);
    c.send_request(std::string_view(request).substr(0, split));
    c.send_request(std::string_view(request).substr(split));
    c.pull();
    std::size_t at = 0;
    const Response r = parse_response(c.received, at);
    CHECK(r.status == 200);
    CHECK(r.body == "hello");
    CHECK(r.header("content-type") == "text/plain");
    CHECK(r.header("etag").size() == 10);
    CHECK(at == c.received.size());
    CHECK_FALSE(f.applet.wants_close(0));
    c.close();
    CHECK(f.arena.in_use() == f.idle);
  }
}

TEST_CASE("scws applet serves a request fed byte by byte and pieces of every size") {
  ScwsFixture f;
  for (std::size_t piece : {16, 17, 50, 100, 240}) {
    CAPTURE(piece);
    Client c(f.applet, 1);
    c.piece = piece;
    c.send_request("GET / HTTP/1.1\r\nHost: card\r\n\r\n", 1);
    c.pull();
    std::size_t at = 0;
    const Response r = parse_response(c.received, at);
    CHECK(r.status == 200);
    CHECK(r.body == "<html>home</html>");
    c.close();
  }
  CHECK(f.arena.in_use() == f.idle);
}

TEST_CASE("scws applet serves index.html for a directory path") {
  ScwsFixture f;
  CHECK(get_one(f.applet, "GET /docs/ HTTP/1.1\r\nHost: c\r\n\r\n").body == "docs home");
  CHECK(get_one(f.applet, "GET /nothere/ HTTP/1.1\r\nHost: c\r\n\r\n").status == 404);
}

TEST_CASE("scws applet streams a 1 MiB resource from NVM intact") {
  ScwsFixture f;
  std::vector<u8> big(1024 * 1024);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<u8>(i * 7 + (i >> 10));
  REQUIRE(web_content_put(f.objects, "/big.bin", "application/octet-stream", big).ok());
  f.arena.reset_high_water();
  Client c(f.applet, 2);
  c.send_request("GET /big.bin HTTP/1.1\r\nHost: c\r\n\r\n");
  c.pull();
  std::size_t at = 0;
  const Response r = parse_response(c.received, at);
  REQUIRE(r.status == 200);
  REQUIRE(r.body.size() == big.size());
  CHECK(crc32(text_bytes(r.body)) == crc32(big));
  MESSAGE("RAM high water while streaming 1 MiB: " << f.arena.high_water() - f.idle << " bytes above idle");
  c.close();
  CHECK(f.arena.in_use() == f.idle);
}

TEST_CASE("scws applet keeps per-connection RAM for a 1 KiB page within 2 KiB") {
  ScwsFixture f;
  f.put("/kib.html", "text/html", std::string(1024, 'k'));
  f.arena.reset_high_water();
  const std::size_t before = f.arena.high_water();
  const Response r = get_one(f.applet, "GET /kib.html HTTP/1.1\r\nHost: c\r\n\r\n");
  CHECK(r.body.size() == 1024);
  MESSAGE("per-connection RAM: " << http::Server::kConnectionSize << " bytes; high water +" << f.arena.high_water() - before);
  CHECK(f.arena.high_water() - before <= 2048);
  CHECK(f.arena.in_use() == f.idle);
}

TEST_CASE("scws applet answers 304 to a matching If-None-Match and HEAD without a body") {
  ScwsFixture f;
  const Response first = get_one(f.applet, "GET /a.txt HTTP/1.1\r\nHost: c\r\n\r\n");
  const std::string etag = first.header("etag");
  const Response again =
      get_one(f.applet, "GET /a.txt HTTP/1.1\r\nHost: c\r\nIf-None-Match: " + etag + "\r\n\r\n");
  CHECK(again.status == 304);
  CHECK(again.body.empty());
  CHECK(again.header("etag") == etag);
  CHECK(get_one(f.applet, "GET /a.txt HTTP/1.1\r\nHost: c\r\nIf-None-Match: \"00000000\"\r\n\r\n").status == 200);

  Client c(f.applet, 0);
  c.send_request("HEAD /a.txt HTTP/1.1\r\nHost: c\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: c\r\n\r\n");
  c.pull();
  std::size_t at = 0;
  const Response head = parse_response(c.received, at, true);
  CHECK(head.status == 200);
  CHECK(head.header("content-length") == "5");
  const Response get = parse_response(c.received, at);
  CHECK(get.body == "hello");  // nothing of a body came between the two
  c.close();
}

TEST_CASE("scws applet protects a set: 401 without credentials, 200 with, 401 with a wrong password") {
  ScwsFixture f;
  const Response none = get_one(f.applet, "GET /secure/page.html HTTP/1.1\r\nHost: c\r\n\r\n");
  CHECK(none.status == 401);
  CHECK(none.header("www-authenticate") == "Basic realm=\"Secure Area\"");
  CHECK(f.applet.auth_failures() == 0);  // a challenge is not a failure

  const Response ok = get_one(
      f.applet, "GET /secure/page.html HTTP/1.1\r\nHost: c\r\nAuthorization: " + basic("alice:wonderland") + "\r\n\r\n");
  CHECK(ok.status == 200);
  CHECK(ok.body == "secret page");

  for (const char* wrong : {"alice:wonderlan", "alice:wonderlandx", "bob:builder", "mallory:x", "alicewonderland"}) {
    CAPTURE(wrong);
    const Response r =
        get_one(f.applet, "GET /secure/page.html HTTP/1.1\r\nHost: c\r\nAuthorization: " + basic(wrong) + "\r\n\r\n");
    CHECK(r.status == 401);
  }
  CHECK(f.applet.auth_failures() == 5);
  CHECK(get_one(f.applet, "GET /secure/page.html HTTP/1.1\r\nHost: c\r\nAuthorization: Basic !!!!\r\n\r\n").status == 401);
  CHECK(get_one(f.applet, "GET /securex HTTP/1.1\r\nHost: c\r\n\r\n").status == 404);  // not under the prefix
  CHECK(f.arena.in_use() == f.idle);
}

TEST_CASE("scws applet reports each authentication failure on the security-event channel") {
  struct Recorder : SecurityEventListener {
    std::vector<SecurityEvent> seen;
    void on_security_event(const SecurityEvent& e) noexcept override { seen.push_back(e); }
  } recorder;
  ScwsFixture f;
  f.events.set_listener(&recorder);
  const std::string bad = "GET /secure/page.html HTTP/1.1\r\nHost: c\r\nAuthorization: " + basic("alice:no") + "\r\n\r\n";
  CHECK(get_one(f.applet, bad).status == 401);
  CHECK(get_one(f.applet, bad).status == 401);
  CHECK(get_one(f.applet, "GET /secure/page.html HTTP/1.1\r\nHost: c\r\n\r\n").status == 401);  // a challenge only
  CHECK(get_one(f.applet, "GET /a.txt HTTP/1.1\r\nHost: c\r\n\r\n").status == 200);
  REQUIRE(recorder.seen.size() == 2);
  const SecurityEvent& e = recorder.seen[0];
  CHECK(e.kind == SecurityEventKind::kHttpAuthFailure);
  CHECK(e.port == f.applet.settings().http_port);  // no toolkit: the applet's HTTP port
  CHECK(std::string(reinterpret_cast<const char*>(e.evidence.data()), e.evidence_length) == "/secure/page.htm");
  CHECK(f.events.count(f.applet.settings().http_port, SecurityEventKind::kHttpAuthFailure) == 2);
  CHECK(f.applet.auth_failures() == 2);
}

TEST_CASE("scws applet answers every error status with a small body") {
  ScwsFixture f;
  struct Row {
    std::string request;
    int status;
    bool closes;
  };
  const Row rows[] = {
      {"GET /a.txt HTTP/1.1\r\n\r\n", 400, true},                           // RFC 9112 3.2: Host required
      {"GET /a.txt HTTP/1.1\nHost: c\n\n", 400, true},                      // bare LF
      {"GET /%2e%2e/x HTTP/1.1\r\nHost: c\r\n\r\n", 400, true},             // dot segment
      {"GET /missing HTTP/1.1\r\nHost: c\r\n\r\n", 404, false},
      {"DELETE /a.txt HTTP/1.1\r\nHost: c\r\n\r\n", 405, false},
      {"POST /a.txt HTTP/1.1\r\nHost: c\r\n\r\n", 411, true},               // no Content-Length
      {"POST /upload HTTP/1.1\r\nHost: c\r\nContent-Length: 99999999999\r\n\r\n", 413, true},
      {"GET /" + std::string(300, 'a') + " HTTP/1.1\r\nHost: c\r\n\r\n", 414, true},
      {"GET / HTTP/1.1\r\nHost: c\r\nX: " + std::string(1100, 'x') + "\r\n\r\n", 431, true},
      {"BREW / HTTP/1.1\r\nHost: c\r\n\r\n", 501, true},
      {"GET / HTTP/2.0\r\nHost: c\r\n\r\n", 505, true},
  };
  for (const Row& row : rows) {
    CAPTURE(row.request.substr(0, 40));
    Client c(f.applet, 3);
    c.send_request(row.request);
    c.pull();
    std::size_t at = 0;
    const Response r = parse_response(c.received, at);
    CHECK(r.status == row.status);
    CHECK_FALSE(r.body.empty());
    CHECK(f.applet.wants_close(3) == row.closes);
    if (row.status == 405) CHECK(r.header("allow") == "GET, HEAD, OPTIONS");
    c.close();
    CHECK(f.arena.in_use() == f.idle);
  }
}

TEST_CASE("scws applet answers 503 without a content store and 500 when NVM reads fail") {
  ScwsFixture f(false);
  CHECK(get_one(f.applet, "GET / HTTP/1.1\r\nHost: c\r\n\r\n").status == 503);
  ScwsFixture g;
  auto found = web_content_find(g.objects, "/a.txt");
  REQUIRE(found.ok());
  REQUIRE(g.nvm.begin().ok());
  REQUIRE(g.objects.remove(found->body_object).ok());  // the body vanishes behind the index's back
  REQUIRE(g.nvm.commit().ok());
  Client c(g.applet, 0);
  c.send_request("GET /a.txt HTTP/1.1\r\nHost: c\r\n\r\n");
  c.pull();
  CHECK(g.applet.wants_close(0));  // the head went out; the body could not: the connection closes
  c.close();
}

TEST_CASE("scws applet keeps a connection alive for HTTP/1.1 and closes it on Connection: close") {
  ScwsFixture f;
  Client c(f.applet, 0);
  c.send_request("GET /a.txt HTTP/1.1\r\nHost: c\r\n\r\n");
  c.pull();
  CHECK_FALSE(f.applet.wants_close(0));
  c.send_request("GET /a.txt HTTP/1.1\r\nHost: c\r\nConnection: close\r\n\r\n");
  c.pull();
  CHECK(f.applet.wants_close(0));
  std::size_t at = 0;
  CHECK(parse_response(c.received, at).header("connection").empty());
  CHECK(parse_response(c.received, at).header("connection") == "close");
  c.close();

  Client old(f.applet, 1);
  old.send_request("GET /a.txt HTTP/1.0\r\n\r\n");
  old.pull();
  CHECK(f.applet.wants_close(1));
  old.close();
  Client kept(f.applet, 1);
  kept.send_request("GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  kept.pull();
  CHECK_FALSE(f.applet.wants_close(1));
  at = 0;
  CHECK(parse_response(kept.received, at).header("connection") == "keep-alive");
  kept.close();
  CHECK(f.arena.in_use() == f.idle);
}

TEST_CASE("scws applet answers 20 pipelined requests in order") {
  ScwsFixture f;
  std::string all;
  for (int i = 0; i < 20; ++i) all += (i % 2 == 0 ? "GET /a.txt" : "GET /index.html") + std::string(" HTTP/1.1\r\nHost: c\r\n\r\n");
  for (std::size_t chunk : {1, 7, 237}) {
    CAPTURE(chunk);
    Client c(f.applet, 4);
    c.send_request(all, chunk);
    c.pull();
    std::size_t at = 0;
    for (int i = 0; i < 20; ++i) {
      const Response r = parse_response(c.received, at);
      CHECK(r.status == 200);
      CHECK(r.body == (i % 2 == 0 ? "hello" : "<html>home</html>"));
    }
    CHECK(at == c.received.size());
    c.close();
  }
  CHECK(f.arena.in_use() == f.idle);
}

TEST_CASE("scws applet upload extension receives a 64 KiB POST intact, by length or chunked") {
  ScwsFixture f;
  std::string body(64 * 1024, '\0');
  for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>(i * 31 + (i >> 8));
  char expected[64];
  std::snprintf(expected, sizeof expected, "{\"length\":65536,\"crc32\":\"%08x\"}", crc32(text_bytes(body)));

  Client c(f.applet, 0);
  c.send_request("POST /upload HTTP/1.1\r\nHost: c\r\nContent-Length: 65536\r\n\r\n" + body);
  c.pull();
  std::size_t at = 0;
  Response r = parse_response(c.received, at);
  CHECK(r.status == 200);
  CHECK(r.header("content-type") == "application/json");
  CHECK(r.body == expected);
  CHECK_FALSE(f.applet.wants_close(0));

  // The same body chunked, in uneven chunks, on the same connection.
  std::string chunked;
  for (std::size_t i = 0; i < body.size();) {
    const std::size_t n = std::min<std::size_t>(1 + (i % 1000), body.size() - i);
    char size[16];
    std::snprintf(size, sizeof size, "%zx\r\n", n);
    chunked += size + body.substr(i, n) + "\r\n";
    i += n;
  }
  chunked += "0\r\n\r\n";
  c.send_request("POST /upload HTTP/1.1\r\nHost: c\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked, 100);
  c.pull();
  r = parse_response(c.received, at);
  CHECK(r.body == expected);
  c.close();
  CHECK(f.arena.in_use() == f.idle);
}

TEST_CASE("scws applet sends 100 Continue before an expected upload body") {
  ScwsFixture f;
  Client c(f.applet, 0);
  c.send_request("POST /upload HTTP/1.1\r\nHost: c\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
  c.pull();
  CHECK(c.received == "HTTP/1.1 100 Continue\r\n\r\n");
  c.send_request("abc");
  c.pull();
  std::size_t at = 25;
  const Response r = parse_response(c.received, at);
  CHECK(r.body.find("\"length\":3") != std::string::npos);
  c.close();
}

TEST_CASE("scws applet reports card identity, channels, RAM and NVM on /status") {
  ScwsFixture f;
  Client other(f.applet, 5);
  const Response r = get_one(f.applet, "GET /status HTTP/1.1\r\nHost: c\r\n\r\n");
  CHECK(r.status == 200);
  CHECK(r.header("content-type") == "application/json");
  CHECK(r.body.find("\"iccid\":\"8988299000000000001\"") != std::string::npos);
  CHECK(r.body.find("\"channels_in_use\":2") != std::string::npos);
  CHECK(r.body.find("\"capacity\":16384") != std::string::npos);
  CHECK(r.body.find("\"nvm_free\":" + std::to_string(f.objects.free_bytes())) != std::string::npos);
  CHECK(r.body.front() == '{');
  CHECK(r.body.back() == '}');
  other.close();
  CHECK(get_one(f.applet, "POST /status HTTP/1.1\r\nHost: c\r\nContent-Length: 0\r\n\r\n").status == 405);
  CHECK(get_one(f.applet, "HEAD /status HTTP/1.1\r\nHost: c\r\n\r\n").status == 200);
  CHECK(f.arena.in_use() == f.idle);
}

TEST_CASE("scws applet answers OPTIONS for a resource and for the server") {
  ScwsFixture f;
  const Response r = get_one(f.applet, "OPTIONS /a.txt HTTP/1.1\r\nHost: c\r\n\r\n");
  CHECK(r.status == 200);
  CHECK(r.header("allow") == "GET, HEAD, OPTIONS");
  CHECK(get_one(f.applet, "OPTIONS * HTTP/1.1\r\nHost: c\r\n\r\n").header("allow").find("POST") != std::string::npos);
}

TEST_CASE("scws applet refuses a connection when the arena cannot hold its state") {
  ScwsFixture f;
  std::vector<void*> hogs;
  while (void* p = f.arena.allocate(512)) hogs.push_back(p);
  CHECK_FALSE(f.applet.open(0));
  for (void* p : hogs) f.arena.deallocate(p);
  CHECK(f.applet.open(0));
  f.applet.close(0);
  CHECK(f.arena.in_use() == f.idle);
}

TEST_CASE("scws applet reports each malformed request with its status and the start of the request") {
  struct Recorder : SecurityEventListener {
    std::vector<SecurityEvent> seen;
    void on_security_event(const SecurityEvent& e) noexcept override { seen.push_back(e); }
  } recorder;
  ScwsFixture f;
  f.events.set_listener(&recorder);
  CHECK(get_one(f.applet, "GET /a.txt HTTP/1.1\r\nHost: c\r\n\r\n").status == 200);
  CHECK(get_one(f.applet, "GET /a.txt HTTP/9.9\r\nHost: c\r\n\r\n").status == 505);
  CHECK(get_one(f.applet, "BREW /pot HTTP/1.1\r\nHost: c\r\n\r\n").status == 501);
  CHECK(get_one(f.applet, "GET /nothing-here HTTP/1.1\r\nHost: c\r\n\r\n").status == 404);  // not malformed
  REQUIRE(recorder.seen.size() == 2);
  CHECK(recorder.seen[0].kind == SecurityEventKind::kHttpMalformed);
  CHECK(recorder.seen[0].detail == 505);
  CHECK(std::string(reinterpret_cast<const char*>(recorder.seen[0].evidence.data()), recorder.seen[0].evidence_length) ==
        "GET /a.txt HTTP/");
  CHECK(recorder.seen[1].detail == 501);
  CHECK(f.events.count(f.applet.settings().http_port, SecurityEventKind::kHttpMalformed) == 2);
}

// ---- deadlines (card/scws/scws_applet.hpp): the deadline service is told what each connection waits for ----

TEST_CASE("scws applet times a request head, answers 408 to a partial one and reports a slow client") {
  ScwsFixture f(true, true);
  const Deadlines& d = f.toolkit.deadlines();
  const u8 slot = ScwsApplet::kFirstSlot + 2;
  Client c(f.applet, 2);
  CHECK(f.applet.waiting(2) == http::ClientWait::kHead);
  CHECK(d.pending(slot));
  c.send_request("GET /a.txt HTTP/1.1\r\nHo");
  CHECK(f.applet.waiting(2) == http::ClientWait::kHead);
  f.applet.deadline_passed(slot);
  c.pull();
  CHECK(c.received.rfind("HTTP/1.1 408 Request Timeout\r\n", 0) == 0);
  CHECK(f.applet.wants_close(2));
  CHECK(f.events.count(f.applet.settings().http_port, SecurityEventKind::kHttpSlowClient) == 1);
  CHECK(f.events.count(f.applet.settings().http_port, SecurityEventKind::kHttpIdleClient) == 0);
  f.applet.close(2);
  CHECK_FALSE(d.pending(slot));
  CHECK(f.arena.in_use() == f.idle);
}

TEST_CASE("scws applet closes a silent connection at its head deadline without a response") {
  ScwsFixture f(true, true);
  Client c(f.applet, 0);
  f.applet.deadline_passed(ScwsApplet::kFirstSlot + 0);
  CHECK(c.pull() == 0);
  CHECK(f.applet.wants_close(0));
  CHECK(f.events.total(SecurityEventKind::kHttpSlowClient) == 1);
  f.applet.close(0);
}

TEST_CASE("scws applet times a body, then the idle keep-alive wait, which is no slow client") {
  ScwsFixture f(true, true);
  const Deadlines& d = f.toolkit.deadlines();
  const u8 slot = ScwsApplet::kFirstSlot + 1;
  Client c(f.applet, 1);
  c.send_request("POST /upload HTTP/1.1\r\nHost: card\r\nContent-Length: 10\r\n\r\n12345");
  CHECK(f.applet.waiting(1) == http::ClientWait::kBody);
  c.send_request("67890");
  CHECK(c.received.rfind("HTTP/1.1 200", 0) == 0);
  // A complete response on a kept-alive connection: idle until the next request's first byte.
  CHECK(f.applet.waiting(1) == http::ClientWait::kIdle);
  CHECK(d.pending(slot));
  c.received.clear();
  c.send_request("GE");
  CHECK(f.applet.waiting(1) == http::ClientWait::kHead);
  c.send_request("T /a.txt HTTP/1.1\r\nHost: card\r\n\r\n");
  CHECK(c.received.find("hello") != std::string::npos);
  CHECK(f.applet.waiting(1) == http::ClientWait::kIdle);
  f.applet.deadline_passed(slot);
  CHECK(f.applet.wants_close(1));
  CHECK(f.events.total(SecurityEventKind::kHttpIdleClient) == 1);
  CHECK(f.events.total(SecurityEventKind::kHttpSlowClient) == 0);
  f.applet.close(1);
}

TEST_CASE("/status shows the incident queue's count, dropped and damaged flag, never an incident") {
  ScwsFixture f;
  CHECK(get_one(f.applet, "GET /status HTTP/1.1\r\nHost: c\r\n\r\n").body.find("incidents") == std::string::npos);
  IncidentQueue queue;
  REQUIRE(f.nvm.begin().ok());
  REQUIRE(IncidentQueue::format(f.objects, 4).ok());
  REQUIRE(f.nvm.commit().ok());
  REQUIRE(queue.power_up(f.objects).ok());
  f.applet.set_incident_queue(&queue);
  for (int i = 0; i < 5; ++i) {
    Incident in;
    in.rule = DetectionRule::kHttpMalformedFlood;
    in.evidence_length = 4;
    in.evidence = {'S', 'E', 'C', 'R'};
    REQUIRE(f.nvm.begin().ok());
    REQUIRE(queue.append(in).ok());
    REQUIRE(f.nvm.commit().ok());
  }
  const Response r = get_one(f.applet, "GET /status HTTP/1.1\r\nHost: c\r\n\r\n");
  CHECK(r.status == 200);
  CHECK(r.body.find(",\"incidents\":{\"count\":4,\"dropped\":1,\"damaged\":false}") != std::string::npos);
  CHECK(r.body.find("SECR") == std::string::npos);
  CHECK(r.body.find("\"iccid\":\"8988299000000000001\"") != std::string::npos);
  CHECK(f.arena.in_use() == f.idle);
}
