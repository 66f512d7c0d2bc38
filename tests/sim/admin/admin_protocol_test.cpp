// The admin server's parsers and builders (sim/admin/admin_protocol.hpp): the card's requests, the
// report, the templates and the commands' APDUs (docs/protocol.md 16.3-16.6).
#include <doctest/doctest.h>

#include "admin_fixtures.hpp"
#include "sim/admin/admin_protocol.hpp"

using namespace scws::sim::admin;
using namespace scws::sim::admin::testing;

namespace {
std::string s(const Blob& b) { return std::string(b.begin(), b.end()); }
}  // namespace

TEST_CASE("a request with Content-Length is complete only with its whole body, at every split") {
  const std::string body = report(1, 2);
  const std::string w = wire("/scws/admin", std::string(kReportType), body) + "POST /next";
  const std::size_t whole = w.size() - std::string("POST /next").size();
  for (std::size_t n = 0; n < whole; ++n) CHECK_FALSE(parse_request(std::string_view(w).substr(0, n)).has_value());
  auto r = parse_request(w);
  REQUIRE(r.has_value());
  CHECK(r->consumed == whole);
  CHECK(r->request.method == "POST");
  CHECK(r->request.target == "/scws/admin");
  CHECK(r->request.header("x-admin-from") == std::string(kFromPrefix) + kIccid);
  CHECK(r->request.body == body);
  CHECK(r->request.keep_alive);
}

TEST_CASE("a chunked body is reassembled from every split of its bytes") {
  const std::string head = "POST /scws/admin HTTP/1.1\r\nX-Admin-Protocol: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string chunked = "5\r\nhello\r\n1;ext=1\r\n \r\n6\r\nworld!\r\n0\r\nTrailer: t\r\n\r\n";
  const std::string w = head + chunked;
  for (std::size_t n = 0; n < w.size(); ++n) CHECK_FALSE(parse_request(std::string_view(w).substr(0, n)).has_value());
  auto r = parse_request(w + "extra");
  REQUIRE(r.has_value());
  CHECK(r->request.body == "hello world!");
  CHECK(r->consumed == w.size());
}

TEST_CASE("malformed requests are refused with the status naming the problem") {
  auto status_of = [](const std::string& w) {
    try {
      (void)parse_request(w);
    } catch (const ProtocolError& e) {
      return e.status();
    }
    return 0;
  };
  CHECK(status_of("POST /a HTTP/1.0\r\n\r\n") == 505);
  CHECK(status_of("POST a HTTP/1.1\r\n\r\n") == 400);
  CHECK(status_of("POST /a  HTTP/1.1\r\n\r\n") == 400);
  CHECK(status_of("POST /a HTTP/1.1\r\nNo colon\r\n\r\n") == 400);
  CHECK(status_of("POST /a HTTP/1.1\r\nContent-Length: x\r\n\r\n") == 400);
  CHECK(status_of("POST /a HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n") == 400);
  CHECK(status_of("POST /a HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n") == 413);
  CHECK(status_of("POST /a HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n") == 400);
  CHECK(status_of("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n") == 400);
  CHECK(status_of("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n") == 400);
  CHECK(status_of("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n") == 400);
  CHECK(status_of("POST /a HTTP/1.1\r\nX: " + std::string(kMaxHead, 'a')) == 431);
  CHECK(status_of("POST /a HTTP/1.1\r\nX: " + std::string(kMaxHead, 'a') + "\r\n\r\n") == 431);
  CHECK(status_of("POST /a HTTP/1.1\r\nConnection: close\r\n\r\n") == 0);
  CHECK_FALSE(parse_request("POST /a HTTP/1.1\r\nConnection: close\r\n\r\n")->request.keep_alive);
}

TEST_CASE("a report parses into its summary, settings, port states and incidents") {
  const Report r = parse_report(report(3, 5, 2));
  CHECK(r.trigger == 2);
  CHECK(r.summary.first == 3);
  CHECK(r.summary.last == 5);
  CHECK(r.summary.count == 3);
  CHECK(r.settings == settings());
  CHECK(r.port_states == port_states());
  REQUIRE(r.incidents.size() == 3);
  CHECK(r.incidents[0].incident.sequence == 3);
  CHECK(r.incidents[2].record == record(5));
  CHECK(r.incidents[1].incident.rule == scws::card::DetectionRule::kHttpPasswordGuessing);
  CHECK(iccid_from_bcd(r.incidents[0].incident.iccid.data(), 10) == kIccid);
  CHECK(r.highest_sequence() == 5);
  CHECK(parse_report(report(0, 0)).incidents.empty());
}

TEST_CASE("a report with a wrong format, trigger, length or record is refused") {
  std::string good = report(1, 1);
  auto refused = [](const std::string& body) {
    try {
      (void)parse_report(body);
    } catch (const ProtocolError& e) {
      return e.status() == 400;
    }
    return false;
  };
  CHECK(refused(good.substr(0, 10)));
  CHECK(refused(good.substr(0, good.size() - 1)));
  CHECK(refused(good + "x"));
  std::string b = good;
  b[0] = 2;
  CHECK(refused(b));
  b = good;
  b[1] = 9;
  CHECK(refused(b));
  b = good;
  b[b.size() - 10] ^= 1;  // the record's CRC no longer holds
  CHECK(refused(b));
  b = good;
  b[3] = 2;  // says two records
  CHECK(refused(b));
}

TEST_CASE("a script holds the C-APDUs in order, with long forms of the length") {
  std::vector<Blob> apdus{acknowledge_apdu(7), apdu(0x72, 1, 0, Blob(240, 0x41)), apdu(0x72, 2, 0)};
  const std::string sc = build_script(apdus);
  CHECK(static_cast<unsigned char>(sc[0]) == 0xAA);
  CHECK(static_cast<unsigned char>(sc[1]) == 0x82);
  CHECK(parse_script(sc) == apdus);
  CHECK(s(acknowledge_apdu(0x01020304)) == std::string("\x80\x54\x00\x00\x04\x01\x02\x03\x04", 9));
  std::vector<Blob> many(200, acknowledge_apdu(1));
  CHECK(parse_script(build_script(many)).size() == 200);
}

TEST_CASE("response templates: definite AB and indefinite AF, executed count and R-APDUs") {
  const std::vector<RApdu> rs{{{}, 0x9000}, {{1, 2, 3}, 0x6A88}};
  const std::string ab = build_response_script(2, rs);
  const ResponseScript p = parse_response_script(ab);
  CHECK(p.executed == 2);
  REQUIRE(p.responses.size() == 2);
  CHECK(p.responses[1].sw == 0x6A88);
  CHECK(p.responses[1].data == Blob{1, 2, 3});
  const std::string af = std::string("\xAF\x80\x80\x01\x01\x23\x02\x90\x00\x00\x00", 11);
  const ResponseScript q = parse_response_script(af);
  CHECK(q.executed == 1);
  CHECK(q.responses.size() == 1);
  for (const std::string& bad : {std::string("\xAB\x03\x80\x01", 4), std::string("\xAB\x02\x81\x01", 4), std::string("\xAC\x00", 2),
                                std::string("\xAB\x05\x80\x01\x00\x23\x01", 7), std::string("\xAF\x80\x80\x01\x01", 5),
                                std::string("\xAB\x07\x80\x01\x00\x23\x02\x90\x00", 9)}) {
    CHECK_THROWS_AS(parse_response_script(bad), ProtocolError);
  }
  CHECK(sw_success(0x9000));
  CHECK(sw_success(0x6310));
  CHECK(sw_success(0x62F1));
  CHECK_FALSE(sw_success(0x6A80));
}

TEST_CASE("commands become the APDUs of docs/protocol.md 16.6") {
  CHECK(parse_command("close-port", {"3516"}).apdus == std::vector<Blob>{Blob{0x80, 0x5C, 0, 0, 2, 0x0D, 0xBC}});
  CHECK(parse_command("reopen-port", {"3516"}).apdus == std::vector<Blob>{Blob{0x80, 0x5C, 1, 0, 2, 0x0D, 0xBC}});
  const std::string content(500, 'x');
  const CommandSpec put = parse_command("put-resource", {"/index.html", "unused", "--type", "text/html"}, content);
  REQUIRE(put.apdus.size() == 5);  // begin, 240 + 240 + 20, publish
  CHECK(put.apdus[0] == apdu(0x72, 0, 0, Blob{0, 0, 1, 0xF4, 11, '/', 'i', 'n', 'd', 'e', 'x', '.', 'h', 't', 'm', 'l', 9, 't', 'e', 'x', 't', '/', 'h', 't', 'm', 'l'}));
  CHECK(put.apdus[1].size() == 5 + 240);
  CHECK(put.apdus[3].size() == 5 + 20);
  CHECK(put.apdus[4] == Blob{0x80, 0x72, 2, 0});
  CHECK(parse_command("put-user", {"bob", "pw", "staff"}).apdus[0] == apdu(0x76, 0, 0, Blob{3, 'b', 'o', 'b', 2, 'p', 'w', 1, 5, 's', 't', 'a', 'f', 'f'}));
  CHECK(parse_command("put-user", {"bob", "pw"}).text.find("pw") == std::string::npos);
  CHECK(parse_command("delete-user", {"bob"}).apdus[0] == apdu(0x78, 0, 0, Blob{'b', 'o', 'b'}));
  CHECK(parse_command("delete-resource", {"/a"}).apdus[0] == apdu(0x74, 0, 0, Blob{'/', 'a'}));
  CHECK(parse_command("put-remote-nodes", {"10.0.0.0/8:80-443"}).apdus[0] == apdu(0x7A, 0, 0, Blob{1, 1, 10, 0, 0, 0, 8, 0, 80, 1, 0xBB}));
  CHECK(parse_command("put-remote-nodes", {}).apdus[0] == apdu(0x7A, 0, 0, Blob{1, 0}));
  const CommandSpec tls = parse_command("rotate-tls-psk", {"client1", "000102030405060708090a0b0c0d0e0f"});
  CHECK(tls.apdus[0][2] == 1);
  CHECK(tls.text == "rotate-tls-psk client1");
  CHECK(parse_command("set-rule", {"http-password-guessing", "9", "120"}).apdus.empty());
  for (const auto& [kind, args] : std::vector<std::pair<std::string, std::vector<std::string>>>{
           {"close-port", {}}, {"close-port", {"70000"}}, {"set-rule", {"nope", "1", "1"}}, {"set-rule", {"1", "1", "0"}},
           {"set-policy", {"--reopen", "never"}}, {"put-remote-nodes", {"10.0.0/8:1-2"}}, {"put-remote-nodes", {"10.0.0.0/33:1-2"}},
           {"put-remote-nodes", {"10.0.0.0/8:9-2"}}, {"rotate-tls-psk", {"id", "00"}}, {"rotate-psk", {"x"}}, {"frobnicate", {}},
           {"delete-resource", {"a"}}, {"put-user", {"a:b", "pw"}}, {"put-user", {std::string(33, 'n'), "pw"}},
           {"put-user", {"n", "pw", "1", "2", "3", "4", "5", "6", "7", "8", "9"}}, {"put-resource", {"/" + std::string(120, 'p'), "-"}}}) {
    CHECK_THROWS_AS(parse_command(kind, args), std::invalid_argument);
  }
}

TEST_CASE("settings commands edit the card's reported settings") {
  const Blob base = settings();
  const Blob rule = apply_settings_command(base, parse_command("set-rule", {"http-password-guessing", "9", "120"}).text);
  scws::card::DetectionSettings d;
  REQUIRE(scws::card::decode(scws::Bytes(rule.data(), rule.size()), d));
  CHECK(d.rule(scws::card::DetectionRule::kHttpPasswordGuessing).threshold == 9);
  CHECK(d.rule(scws::card::DetectionRule::kHttpPasswordGuessing).window_seconds == 120);
  const Blob policy = apply_settings_command(rule, parse_command("set-policy", {"--reopen", "admin", "--other-ports", "close"}).text);
  REQUIRE(scws::card::decode(scws::Bytes(policy.data(), policy.size()), d));
  CHECK(d.reopen == scws::card::ReopenPolicy::kAdminOnly);
  CHECK(d.other_ports == scws::card::OtherPortsPolicy::kClose);
  CHECK(d.rule(scws::card::DetectionRule::kHttpPasswordGuessing).threshold == 9);
  CHECK_THROWS_AS(apply_settings_command(Blob(3, 0), "set-rule 1 1 1"), std::invalid_argument);
}

TEST_CASE("identities and ICCIDs") {
  CHECK(iccid_of_identity(kIdentity) == kIccid);
  CHECK_FALSE(iccid_of_identity("scws-admin:123").has_value());
  CHECK_FALSE(iccid_of_identity("other:8988211000000000017").has_value());
  CHECK(from_hex("0a 0B") == Blob{0x0A, 0x0B});
  CHECK_THROWS_AS(from_hex("abc"), std::invalid_argument);
}
