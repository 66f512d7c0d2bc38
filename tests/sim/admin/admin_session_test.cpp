// The server's session logic (sim/admin/admin_session.hpp) over a SQLite store in a scratch folder:
// reports stored once, scripts with ACKNOWLEDGE and the queued commands, responses marking them
// done or failed (TS 102 226: the script stops at the first error), sessions found by their URI.
#include <doctest/doctest.h>

#include "admin_fixtures.hpp"
#include "sim/admin/admin_session.hpp"
#include "sim/admin/store.hpp"
#include "sim/testing/scratch_dir.hpp"

using namespace scws::sim::admin;
using namespace scws::sim::admin::testing;

namespace {

struct Rig {
  scws::sim::ScratchDir dir{"scws-admin-test"};
  std::unique_ptr<Store> store = open_store((dir.path() / "admin.sqlite").string());
  std::vector<std::string> log;
  AdminSessions sessions{*store, "/scws/admin", [this](const std::string& l) { log.push_back(l); }};

  Rig() { store->enrol(kIccid, kIdentity, Blob(16, 0x11)); }

  HttpResponse send_report(std::uint32_t first, std::uint32_t last, const std::string& target = "/scws/admin") {
    return sessions.handle(post(target, std::string(kReportType), report(first, last)), kIccid, "127.0.0.1:5000");
  }
  HttpResponse send_responses(const std::string& target, unsigned executed, const std::vector<RApdu>& rs) {
    return sessions.handle(post(target, std::string(kResponseType), build_response_script(executed, rs)), kIccid, "127.0.0.1:5000");
  }
  std::int64_t push(const std::string& kind, const std::vector<std::string>& args, const std::optional<std::string>& content = {}) {
    return store->queue_command(kIccid, parse_command(kind, args, content));
  }
};

std::string header(const HttpResponse& r, const std::string& name) {
  for (const auto& [n, v] : r.headers)
    if (n == name) return v;
  return "";
}

const RApdu kOk{{}, 0x9000};

}  // namespace

TEST_CASE("a report with incidents is stored once and answered with ACKNOWLEDGE; the responses end the session") {
  Rig rig;
  HttpResponse r = rig.send_report(1, 2);
  REQUIRE(r.status == 200);
  CHECK(header(r, "Content-Type") == kScriptType);
  CHECK(header(r, "X-Admin-Protocol") == kProtocol);
  const std::string next = header(r, "X-Admin-Next-URI");
  CHECK(next.rfind("/scws/admin/", 0) == 0);
  CHECK(next.substr(next.size() - 2) == "/1");
  CHECK(parse_script(r.body) == std::vector<Blob>{acknowledge_apdu(2)});
  CHECK(rig.store->incidents(kIccid).size() == 2);
  const auto card = rig.store->card(kIccid);
  CHECK(card->last_seen != 0);
  CHECK(card->last_settings == settings());
  CHECK(card->last_port_states == port_states());

  r = rig.send_responses(next, 1, {kOk});
  CHECK(r.status == 204);
  CHECK(r.body.empty());
  CHECK(header(r, "Content-Type").empty());
  const auto sessions = rig.store->sessions(kIccid);
  REQUIRE(sessions.size() == 1);
  CHECK(sessions[0].ended != 0);
  CHECK(sessions[0].outcome == "done");
  CHECK(r.serialize().find("Content-Length") == std::string::npos);

  // The same incidents again (the ACKNOWLEDGE never ran): not stored twice, acknowledged again.
  r = rig.send_report(1, 3);
  CHECK(parse_script(r.body) == std::vector<Blob>{acknowledge_apdu(3)});
  CHECK(rig.store->incidents(kIccid).size() == 3);
  CHECK(rig.sessions.stats().incidents_stored == 3);
}

TEST_CASE("a report with nothing to say and nothing queued is answered 204") {
  Rig rig;
  const HttpResponse r = rig.send_report(0, 0);
  CHECK(r.status == 204);
  CHECK(rig.store->sessions(kIccid).at(0).outcome == "done");
}

TEST_CASE("queued commands follow the ACKNOWLEDGE and are marked done, failed or queued again") {
  Rig rig;
  const auto a = rig.push("close-port", {"3516"});
  const auto b = rig.push("delete-user", {"bob"});
  const auto c = rig.push("reopen-port", {"3516"});
  HttpResponse r = rig.send_report(4, 4);
  REQUIRE(r.status == 200);
  const auto apdus = parse_script(r.body);
  REQUIRE(apdus.size() == 4);
  CHECK(apdus[0] == acknowledge_apdu(4));
  CHECK(apdus[1] == Blob{0x80, 0x5C, 0, 0, 2, 0x0D, 0xBC});
  CHECK(rig.store->command(a)->state == CommandState::kSent);
  CHECK(rig.store->command(c)->state == CommandState::kSent);

  // ACK ok, close-port ok, delete-user 6A88: the script stops, reopen-port goes back to queued...
  r = rig.send_responses(header(r, "X-Admin-Next-URI"), 3, {kOk, kOk, {{}, 0x6A88}});
  CHECK(rig.store->command(a)->state == CommandState::kDone);
  CHECK(rig.store->command(b)->state == CommandState::kFailed);
  CHECK(rig.store->command(b)->sw == 0x6A88);
  // ...and is sent in the next script of the same session.
  REQUIRE(r.status == 200);
  const std::string next = header(r, "X-Admin-Next-URI");
  CHECK(next.substr(next.size() - 2) == "/2");
  CHECK(parse_script(r.body) == std::vector<Blob>{Blob{0x80, 0x5C, 1, 0, 2, 0x0D, 0xBC}});
  CHECK(rig.store->command(c)->state == CommandState::kSent);
  r = rig.send_responses(next, 1, {kOk});
  CHECK(r.status == 204);
  CHECK(rig.store->command(c)->state == CommandState::kDone);
}

TEST_CASE("a PUT RESOURCE runs as begin, data and publish; a break inside it sends it again whole") {
  Rig rig;
  const auto id = rig.push("put-resource", {"/a.txt", "-"}, std::string(300, 'z'));
  HttpResponse r = rig.send_report(0, 0);
  REQUIRE(r.status == 200);
  CHECK(parse_script(r.body).size() == 4);  // begin, 240, 60, publish
  // Two of four ran, no error, the script ended (the card kept no more responses): queued again.
  r = rig.send_responses(header(r, "X-Admin-Next-URI"), 2, {kOk, kOk});
  CHECK(r.status == 204);  // nothing finished in that round: the session ends rather than loop
  CHECK(rig.store->command(id)->state == CommandState::kQueued);
  r = rig.send_report(0, 0);
  REQUIRE(r.status == 200);
  r = rig.send_responses(header(r, "X-Admin-Next-URI"), 4, {kOk, kOk, kOk, kOk});
  CHECK(r.status == 204);
  CHECK(rig.store->command(id)->state == CommandState::kDone);
}

TEST_CASE("settings commands become WRITE SETTINGS edited from the session's report") {
  Rig rig;
  const auto id = rig.push("set-rule", {"http-password-guessing", "9", "120"});
  rig.push("set-policy", {"--other-ports", "close"});
  HttpResponse r = rig.send_report(0, 0);
  const auto apdus = parse_script(r.body);
  REQUIRE(apdus.size() == 2);
  Blob first = apply_settings_command(settings(), "set-rule http-password-guessing 9 120");
  CHECK(apdus[0] == write_settings_apdu(first));
  CHECK(apdus[1] == write_settings_apdu(apply_settings_command(first, "set-policy --other-ports close")));
  r = rig.send_responses(header(r, "X-Admin-Next-URI"), 2, {kOk, kOk});
  CHECK(r.status == 204);
  CHECK(rig.store->command(id)->state == CommandState::kDone);
}

TEST_CASE("a resumed session (report to the session's URI) sends the unanswered commands again") {
  Rig rig;
  const auto id = rig.push("close-port", {"3516"});
  HttpResponse r = rig.send_report(1, 1);
  const std::string next = header(r, "X-Admin-Next-URI");
  // The link broke before the responses: the card resumes with a fresh report at that URI.
  HttpRequest again = post(next, std::string(kReportType), report(1, 1, 4));
  again.headers.emplace_back("x-admin-resume", "true");
  r = rig.sessions.handle(again, kIccid, "127.0.0.1:5001");
  REQUIRE(r.status == 200);
  CHECK(parse_script(r.body).size() == 2);
  const auto sessions = rig.store->sessions(kIccid);
  REQUIRE(sessions.size() == 1);
  CHECK(sessions[0].resumed);
  CHECK(header(r, "X-Admin-Next-URI").substr(next.size() - 2) == "/2");
  r = rig.send_responses(header(r, "X-Admin-Next-URI"), 2, {kOk, kOk});
  CHECK(r.status == 204);
  CHECK(rig.store->command(id)->state == CommandState::kDone);
  CHECK(rig.store->incidents(kIccid).size() == 1);
}

TEST_CASE("rotate-psk: the pending key becomes the key when the card confirms it") {
  Rig rig;
  const Blob key(16, 0x22);
  CommandSpec spec = parse_command("rotate-psk", {});
  spec.apdus = {apdu(0x7E, 0, 0, key)};
  rig.store->set_pending_key(kIccid, key);
  rig.store->queue_command(kIccid, spec);
  HttpResponse r = rig.send_report(0, 0);
  CHECK(rig.store->card(kIccid)->psk_key == Blob(16, 0x11));
  r = rig.send_responses(header(r, "X-Admin-Next-URI"), 1, {kOk});
  CHECK(rig.store->card(kIccid)->psk_key == key);
  CHECK(rig.store->card(kIccid)->pending_psk_key.empty());
}

TEST_CASE("requests that break the protocol are refused with a status and a short text") {
  Rig rig;
  HttpRequest r = post("/scws/admin", std::string(kReportType), report(1, 1), "8988211000000000025");
  CHECK(rig.sessions.handle(r, kIccid, "p").status == 403);
  r = post("/scws/admin", std::string(kReportType), report(1, 1));
  r.headers[1].second = "other/1.0";
  CHECK(rig.sessions.handle(r, kIccid, "p").status == 400);
  r = post("/scws/admin", "text/plain", "x");
  CHECK(rig.sessions.handle(r, kIccid, "p").status == 415);
  r = post("/scws/admin", std::string(kReportType), "garbage");
  const HttpResponse bad = rig.sessions.handle(r, kIccid, "p");
  CHECK(bad.status == 400);
  CHECK(bad.body.find("report") != std::string::npos);
  CHECK(bad.close);
  CHECK(rig.send_responses("/scws/admin/unknown/1", 0, {}).status == 404);
  r = post("/other", std::string(kReportType), report(1, 1));
  CHECK(rig.sessions.handle(r, kIccid, "p").status == 404);
  // Responses to a stale round.
  rig.push("close-port", {"1"});
  const HttpResponse s = rig.send_report(0, 0);
  std::string uri = header(s, "X-Admin-Next-URI");
  uri.back() = '7';
  CHECK(rig.send_responses(uri, 1, {kOk}).status == 409);
  CHECK(rig.store->incidents(kIccid).empty());
  CHECK_FALSE(rig.log.empty());
}

TEST_CASE("two servers on one store: a command is sent by one of them only") {
  Rig rig;
  rig.push("close-port", {"1"});
  const HttpResponse a = rig.send_report(0, 0);
  CHECK(a.status == 200);
  // The other server sees it sent (the first session's responses are still due): nothing to send.
  // A new report would re-queue sent commands (a session whose responses never came), so claim directly.
  const auto queued = rig.store->queued_commands(kIccid);
  CHECK(queued.empty());
  CHECK_FALSE(rig.store->claim_command(1, "x"));
}

TEST_CASE("the store lists cards, incidents and commands; enrolment replaces a key") {
  Rig rig;
  rig.send_report(1, 2);
  rig.store->enrol(kIccid, kIdentity, Blob(16, 0x33));
  CHECK(rig.store->card_by_identity(kIdentity)->psk_key == Blob(16, 0x33));
  CHECK(rig.store->cards().size() == 1);
  CHECK(rig.store->incidents(std::nullopt).size() == 2);
  CHECK(rig.store->incidents(std::string("8988211000000000025")).empty());
  const IncidentRecord i = rig.store->incidents(kIccid).at(0);
  CHECK(i.rule == 4);
  CHECK(i.port == 3516);
  CHECK(i.evidence == Blob{'G', 'E', 'T', ' '});
  CHECK(i.record == record(1));
  rig.store->add_auth_failure({1, "peer", "who", "unknown identity"});
  CHECK(rig.store->auth_failures().at(0).identity == "who");
  // The same file opened again: the schema is already there.
  auto again = open_store((rig.dir.path() / "admin.sqlite").string());
  CHECK(again->incidents(kIccid).size() == 2);
  CHECK(iso_time(0).empty());
  CHECK(iso_time(86400) == "1970-01-02T00:00:00Z");
}
