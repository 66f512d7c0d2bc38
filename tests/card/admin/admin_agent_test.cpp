// The card's admin agent (card/admin/admin_agent.hpp) against an in-process administration server:
// a TLS-PSK server context of the card's own mbedTLS with the link's PSK, a tiny scripted HTTP
// server above it, and a fake ClientChannels standing for the toolkit (the test moves the
// ciphertext the way BIP does, sim/testing/tls_rig.hpp). Sessions of docs/protocol.md section 16:
// a whole session with an acknowledgement, 204 at once, each malformed answer of 16.4, the retry
// policy, the resume header after a breakdown, and a power cut at every NVM write of a session.
#include "card/admin/admin_agent.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "card/admin/script_template.hpp"
#include "card/defence/admin_applet.hpp"
#include "card/defence/admin_link.hpp"
#include "card/os/uicc_files.hpp"
#include "sim/testing/tls_rig.hpp"
#include "tls/credentials.hpp"

using namespace scws;
using namespace scws::card;
namespace rig = scws::sim::tls_rig;
using scws::sim::host_entropy;
using scws::sim::ReproducibleEntropy;

namespace {

using Blob = std::vector<u8>;

const std::string kIdentity = "scws-admin:8988211000000000017";
const Blob kKey = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF};
// 89 88 21 10 00 00 00 00 01 7F, nibbles swapped (TS 102 221 13.2)
const Blob kIccid = {0x98, 0x88, 0x12, 0x01, 0x00, 0x00, 0x00, 0x00, 0x10, 0xF7};
constexpr std::string_view kProtocolLine = "X-Admin-Protocol: globalplatform-remote-admin/1.0\r\n";
constexpr std::string_view kScriptType = "Content-Type: application/vnd.globalplatform.card-content-mgt;version=1.0\r\n";

std::string text_of(const Blob& b) { return std::string(b.begin(), b.end()); }

// The card side's ClientChannels: hands out connection 2 and records what the agent asked.
struct FakeChannels final : ClientChannels {
  bool ready = true;
  bool busy = false;
  int opens = 0, closes = 0;
  ClientChannelRequest last{};
  u8 connection = 2;
  Result<u8, ClientError> open_client(const ClientChannelRequest& request, ClientEndpoint&) noexcept override {
    if (!ready) return fail(ClientError::kNotReady);
    if (busy) return fail(ClientError::kBusy);
    ++opens;
    last = request;
    return connection;
  }
  void close_client(u8) noexcept override { ++closes; }
};

// The server's plaintext side: one scripted answer per complete request (head + Content-Length body).
struct ScriptedServer final : StreamEndpoint {
  std::vector<std::string> answers;
  std::vector<std::string> requests;
  std::string in, out;
  std::size_t next = 0;
  bool opened = false, closed = false;
  bool open(std::size_t) noexcept override {
    opened = true;
    return true;
  }
  std::size_t receive(std::size_t, Bytes data) noexcept override {
    in.append(reinterpret_cast<const char*>(data.data()), data.size());
    for (;;) {
      const std::size_t end = in.find("\r\n\r\n");
      if (end == std::string::npos) break;
      const std::size_t cl = in.find("Content-Length: ");
      const std::size_t length = cl < end ? std::stoul(in.substr(cl + 16)) : 0;
      if (in.size() < end + 4 + length) break;
      requests.push_back(in.substr(0, end + 4 + length));
      in.erase(0, end + 4 + length);
      if (next < answers.size()) out += answers[next++];
    }
    return data.size();
  }
  std::size_t send(std::size_t, MutableBytes o) noexcept override {
    const std::size_t n = std::min(o.size(), out.size());
    std::memcpy(o.data(), out.data(), n);
    out.erase(0, n);
    return n;
  }
  bool wants_close(std::size_t) const noexcept override { return false; }
  void close(std::size_t) noexcept override { closed = true; }
};

std::string body_of(const std::string& request) { return request.substr(request.find("\r\n\r\n") + 4); }
std::string head_of(const std::string& request) { return request.substr(0, request.find("\r\n\r\n") + 4); }

Blob definite(const std::vector<Blob>& apdus) {
  Blob inner;
  for (const Blob& a : apdus) {
    inner.push_back(0x22);
    inner.push_back(static_cast<u8>(a.size()));
    inner.insert(inner.end(), a.begin(), a.end());
  }
  Blob b = {0xAA};
  if (inner.size() >= 0x100) {
    b.push_back(0x82);
    b.push_back(static_cast<u8>(inner.size() >> 8));
  } else if (inner.size() >= 0x80) {
    b.push_back(0x81);
  }
  b.push_back(static_cast<u8>(inner.size()));
  b.insert(b.end(), inner.begin(), inner.end());
  return b;
}

Blob ack(u32 sequence) {
  return {0x80, 0x54, 0x00, 0x00, 0x04, static_cast<u8>(sequence >> 24), static_cast<u8>(sequence >> 16),
          static_cast<u8>(sequence >> 8), static_cast<u8>(sequence)};
}

std::string script_answer(const Blob& body, std::string_view next = "/scws/admin/2") {
  return "HTTP/1.1 200 OK\r\n" + std::string(kProtocolLine) + std::string(kScriptType) + "X-Admin-Next-URI: " +
         std::string(next) + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + text_of(body);
}
std::string no_content() { return "HTTP/1.1 204 No Content\r\n" + std::string(kProtocolLine) + "\r\n"; }

struct Sink final : TraceSink {
  std::vector<std::string> lines;
  void line(const char* text) noexcept override {
    lines.emplace_back(text);
    if (std::getenv("SCWS_TLS_TRACE") != nullptr) std::fprintf(stderr, "%s\n", text);
  }
};

// A blank image with the link, the PSK, an ICCID and `incidents` incidents in the queue.
Blob make_image(int incidents, u8 retry_count = 3, u32 period = 0) {
  Blob bytes(256 * 1024);
  RamNvmDevice dev(MutableBytes(bytes.data(), bytes.size()));
  Nvm nvm(dev);
  REQUIRE(nvm.format(16 * 1024).ok());
  ObjectStore store(nvm);
  REQUIRE(nvm.begin().ok());
  REQUIRE(store.format().ok());
  REQUIRE(nvm.commit().ok());
  REQUIRE(nvm.begin().ok());
  REQUIRE(UiccFiles::format(store, Bytes(kIccid.data(), kIccid.size())).ok());
  REQUIRE(IncidentQueue::format(store, 8).ok());
  REQUIRE(nvm.commit().ok());
  AdminLinkSettings link;
  link.enabled = true;
  link.port = 7443;
  link.retry_count = retry_count;
  link.period_seconds = period;
  REQUIRE(link.set_host("admin.scws.test"));
  REQUIRE(link.set_uri("/scws/admin"));
  REQUIRE(store_admin_link(store, link).ok());
  REQUIRE(store_admin_psk(store, rig::bytes_of(kIdentity), Bytes(kKey.data(), kKey.size())).ok());
  IncidentQueue queue;
  REQUIRE(queue.power_up(store).ok());
  for (int i = 0; i < incidents; ++i) {
    Incident in;
    in.rule = DetectionRule::kConnectionFlood;
    in.port = 3516;
    in.events = static_cast<u16>(10 + i);
    REQUIRE(nvm.begin().ok());
    REQUIRE(queue.append(in).ok());
    REQUIRE(nvm.commit().ok());
  }
  return bytes;
}

// The card's side (context, applet, queue, agent) over an image, optionally cutting the power at
// the Nth write; and the server's side.
struct Rig {
  static constexpr std::size_t kRamSize = 64 * 1024;
  static constexpr std::size_t kRegionSize = 24 * 1024;

  explicit Rig(Blob& bytes, u64 cut = std::numeric_limits<u64>::max())
      : ram_dev(MutableBytes(bytes.data(), bytes.size())), dev(ram_dev, cut), nvm(dev), store(nvm),
        ram(kRamSize / 16), arena(MutableBytes(reinterpret_cast<u8*>(ram.data()), kRamSize)), transient(arena),
        ctx(nvm, store, arena, transient, trace, events, time), applet(queue),
        region_bytes(kRegionSize / 8), region(MutableBytes(reinterpret_cast<u8*>(region_bytes.data()), kRegionSize)),
        agent(channels, deadlines, applet, queue), server_store(64 * 1024, 8 * 1024),
        server_region_bytes(32 * 1024 / 8),
        server_region(MutableBytes(reinterpret_cast<u8*>(server_region_bytes.data()), 32 * 1024)),
        server_ctx(server_region) {
    trace.set_sink(&sink);
    REQUIRE(nvm.mount().ok());
    REQUIRE(queue.power_up(store).ok());
    ReproducibleEntropy e;
    REQUIRE(rng.seed(host_entropy, &e, rig::bytes_of("card")).ok());
    ReproducibleEntropy s{0x1234};
    REQUIRE(server_rng.seed(host_entropy, &s, rig::bytes_of("server")).ok());
    REQUIRE(tls::put_psk(server_store.store, rig::bytes_of(kIdentity), Bytes(kKey.data(), kKey.size())).ok());
    REQUIRE(server_ctx.init_server(server_store.store, tls::TlsMode::kPsk, server_rng).ok());
    agent.power_up(ctx, &region, rng);
  }

  // Opens the channel the agent asked for and runs the session until the agent wants the channel
  // closed (then closes it, as the toolkit does) or nothing moves.
  void connect() {
    REQUIRE(channels.opens > 0);
    server = std::make_unique<tls::TlsSession>(server_ctx, http, 0, trace);
    REQUIRE(server->start());
    REQUIRE(agent.open(channels.connection));
  }
  bool run() {
    rig::Pipe pipe;
    const std::size_t c = channels.connection;
    pipe.run(rig::PipeEnd(agent, c), rig::PipeEnd(*server), [&] { return agent.wants_close(c); });
    if (agent.wants_close(c)) {
      agent.close(c);
      return true;
    }
    return false;
  }
  // A whole session: poll, connect, run.
  void session() {
    agent.poll();
    connect();
    CHECK(run());
  }
  u32 queued() {
    auto n = queue.size();
    REQUIRE(n.ok());
    return *n;
  }

  RamNvmDevice ram_dev;
  PowerLossNvmDevice dev;
  Nvm nvm;
  ObjectStore store;
  struct alignas(16) Chunk {
    u8 b[16];
  };
  std::vector<Chunk> ram;
  Arena arena;
  TransientMemory transient;
  Sink sink;
  Tracer trace;
  SecurityEvents events;
  CardTime time;
  CardContext ctx;
  IncidentQueue queue;
  AdminApplet applet;
  std::vector<u64> region_bytes;
  tls::TlsAllocator region;
  tls::CardRng rng;
  FakeChannels channels;
  Deadlines deadlines;
  AdminAgent agent;
  // The server.
  rig::CardStore server_store;
  std::vector<u64> server_region_bytes;
  tls::TlsAllocator server_region;
  tls::CardRng server_rng;
  tls::TlsContext server_ctx;
  ScriptedServer http;
  std::unique_ptr<tls::TlsSession> server;
};

}  // namespace

TEST_CASE("a whole session: the report, ACKNOWLEDGE from the script, the responses, 204") {
  Blob image = make_image(2);
  Rig r(image);
  CHECK(r.agent.state() == AdminAgent::State::kIdle);
  CHECK(r.agent.pending_trigger() == AdminAgent::Trigger::kPowerUp);
  const Blob summary = {0x80, 0x50, 0x00, 0x00, 0x00};
  r.http.answers = {script_answer(definite({ack(2), summary})), no_content()};
  const std::size_t arena_idle = r.arena.in_use();
  const std::size_t region_idle = r.region.in_use();
  r.session();

  CHECK(r.channels.last.port == 7443);
  CHECK(r.channels.last.buffer_size == 1400);
  CHECK(r.channels.last.address == std::array<u8, 4>{127, 0, 0, 1});
  CHECK(r.agent.sessions_started() == 1);
  CHECK(r.agent.sessions_completed() == 1);
  CHECK(r.agent.sessions_failed() == 0);
  CHECK(r.agent.state() == AdminAgent::State::kIdle);
  CHECK(r.agent.commands_run() == 2);
  CHECK(r.queued() == 0);
  // RAM back at idle.
  CHECK(r.arena.in_use() == arena_idle);
  CHECK(r.region.in_use() == region_idle);
  MESSAGE("admin session RAM: TLS region peak " << r.region.high_water() << " bytes (" << r.agent.last_tls_ram()
                                                << " held once established), HTTP state " << AdminAgent::session_ram()
                                                << " bytes of the card arena");
  CHECK(r.region.high_water() <= tls::kPskSessionBudget + sizeof(tls::TlsContext) + 1024);

  REQUIRE(r.http.requests.size() == 2);
  const std::string report = r.http.requests[0];
  CHECK(head_of(report).starts_with("POST /scws/admin HTTP/1.1\r\nHost: admin.scws.test\r\n"));
  CHECK(report.find(kProtocolLine) != std::string::npos);
  CHECK(report.find("X-Admin-From: //se-id/iccid/8988211000000000017\r\n") != std::string::npos);
  CHECK(report.find("Content-Type: application/vnd.scws.incident-report;version=1.0\r\n") != std::string::npos);
  CHECK(report.find("X-Admin-Resume") == std::string::npos);
  const std::string body = body_of(report);
  REQUIRE(body.size() == 59 + 2 * 60);
  CHECK(static_cast<u8>(body[0]) == 1);
  CHECK(static_cast<u8>(body[1]) == 5);  // power-up with incidents waiting
  CHECK(static_cast<u8>(body[3]) == 2);
  CHECK(static_cast<u8>(body[4]) == 8);  // the summary: capacity 8, count 2
  CHECK(static_cast<u8>(body[5]) == 2);
  CHECK(static_cast<u8>(body[58]) == 0);  // no detection here: no port states
  for (int i = 0; i < 2; ++i) {
    auto in = IncidentQueue::parse(Bytes(reinterpret_cast<const u8*>(body.data()) + 59 + 60 * i, 60));
    REQUIRE(in.ok());
    CHECK(in->sequence == static_cast<u32>(i + 1));
    CHECK(in->events == 10 + i);
  }
  const std::string responses = r.http.requests[1];
  CHECK(head_of(responses).starts_with("POST /scws/admin/2 HTTP/1.1\r\n"));
  CHECK(responses.find("X-Admin-Script-Status: ok\r\n") != std::string::npos);
  CHECK(responses.find("Content-Type: application/vnd.globalplatform.card-content-mgt-response;version=1.0\r\n") !=
        std::string::npos);
  const std::string rb = body_of(responses);
  // AB L 80 01 02 | 23 02 90 00 | 23 16 <20-byte summary> 90 00
  REQUIRE(rb.size() == 2 + 3 + 4 + 2 + 20 + 2);
  CHECK(static_cast<u8>(rb[0]) == 0xAB);
  CHECK(static_cast<u8>(rb[4]) == 2);
  CHECK(static_cast<u8>(rb[7]) == 0x90);
  CHECK(static_cast<u8>(rb[12]) == 0);  // the summary after the ACK: count 0
}

TEST_CASE("204 at once: the session completes, the incidents stay") {
  Blob image = make_image(1);
  Rig r(image);
  r.http.answers = {no_content()};
  r.session();
  CHECK(r.agent.sessions_completed() == 1);
  CHECK(r.queued() == 1);
  CHECK(r.http.requests.size() == 1);
}

TEST_CASE("each malformed answer ends the session without a retry and keeps the incidents") {
  const Blob good = definite({ack(1)});
  std::string huge_head = "HTTP/1.1 204 No Content\r\n" + std::string(kProtocolLine) + "X-Pad: " + std::string(1000, 'p') + "\r\n\r\n";
  std::vector<Blob> many(256, Blob{0x80, 0x50, 0x00, 0x00});
  const Blob too_many = [&] {
    Blob b = {0xAE, 0x80};
    for (const Blob& a : many) {
      b.push_back(0x22);
      b.push_back(4);
      b.insert(b.end(), a.begin(), a.end());
    }
    b.push_back(0);
    b.push_back(0);
    return b;
  }();
  struct Case {
    const char* name;
    std::string answer;
    AdminAgent::Failure failure;
  };
  const std::string body = text_of(good);
  const std::string cl = "Content-Length: " + std::to_string(good.size()) + "\r\n\r\n";
  const Case cases[] = {
      {"500", "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n", AdminAgent::Failure::kStatus},
      {"403", "HTTP/1.1 403 Forbidden\r\n" + std::string(kProtocolLine) + "Content-Length: 0\r\n\r\n", AdminAgent::Failure::kStatus},
      {"no protocol", "HTTP/1.1 200 OK\r\n" + std::string(kScriptType) + "X-Admin-Next-URI: /n\r\n" + cl + body,
       AdminAgent::Failure::kProtocol},
      {"other protocol", "HTTP/1.1 200 OK\r\nX-Admin-Protocol: globalplatform-remote-admin/2.0\r\n" + std::string(kScriptType) +
           "X-Admin-Next-URI: /n\r\n" + cl + body, AdminAgent::Failure::kProtocol},
      {"no content type", "HTTP/1.1 200 OK\r\n" + std::string(kProtocolLine) + "X-Admin-Next-URI: /n\r\n" + cl + body,
       AdminAgent::Failure::kContentType},
      {"no next URI", "HTTP/1.1 200 OK\r\n" + std::string(kProtocolLine) + std::string(kScriptType) + cl + body,
       AdminAgent::Failure::kNoNextUri},
      {"other application", "HTTP/1.1 200 OK\r\n" + std::string(kProtocolLine) + std::string(kScriptType) +
           "X-Admin-Next-URI: /n\r\nX-Admin-Targeted-Application: //aid/A000000151/00\r\n" + cl + body,
       AdminAgent::Failure::kTarget},
      {"unknown tag", script_answer({0xAA, 0x06, 0x23, 0x04, 0x80, 0x50, 0x00, 0x00}), AdminAgent::Failure::kScript},
      {"length past the body", script_answer({0xAA, 0x09, 0x22, 0x04, 0x80, 0x50, 0x00, 0x00}), AdminAgent::Failure::kScript},
      {"short C-APDU", script_answer({0xAA, 0x05, 0x22, 0x03, 0x80, 0x50, 0x00}), AdminAgent::Failure::kScript},
      {"Lc past the C-APDU", script_answer({0xAA, 0x08, 0x22, 0x06, 0x80, 0x54, 0x00, 0x00, 0x04, 0x01}), AdminAgent::Failure::kScript},
      {"256 C-APDUs", script_answer(too_many), AdminAgent::Failure::kScript},
      {"body over 32768", "HTTP/1.1 200 OK\r\n" + std::string(kProtocolLine) + std::string(kScriptType) +
           "X-Admin-Next-URI: /n\r\nContent-Length: 32769\r\n\r\n", AdminAgent::Failure::kHttp},
      {"head over 1024", huge_head, AdminAgent::Failure::kHttp},
      {"not HTTP", "SSH-2.0-OpenSSH\r\n\r\n", AdminAgent::Failure::kHttp},
  };
  for (const Case& c : cases) {
    const std::string name = c.name;
    CAPTURE(name);
    Blob image = make_image(1);
    Rig r(image);
    r.http.answers = {c.answer, no_content()};
    r.session();
    CHECK(r.agent.sessions_failed() == 1);
    CHECK(r.agent.sessions_completed() == 0);
    CHECK(r.agent.last_failure() == c.failure);
    CHECK(r.agent.state() == AdminAgent::State::kIdle);  // not kRetryWait: no retry
    CHECK(r.channels.opens == 1);
    CHECK(r.queued() == 1);
    CHECK(r.http.requests.size() == 1);
  }
}

TEST_CASE("the C-APDUs before a fault in a streamed script have run") {
  Blob image = make_image(1);
  Rig r(image);
  Blob body = {0xAE, 0x80, 0x22, 0x09};
  const Blob a = ack(1);
  body.insert(body.end(), a.begin(), a.end());
  body.insert(body.end(), {0x99, 0x00});  // an unknown tag
  r.http.answers = {script_answer(body)};
  r.session();
  CHECK(r.agent.last_failure() == AdminAgent::Failure::kScript);
  CHECK(r.queued() == 0);
}

TEST_CASE("an error status stops the script; data beyond 1024 bytes is 62 F1") {
  Blob image = make_image(1);
  Rig r(image);
  const Blob read = {0x80, 0x52, 0x05, 0x00, 0x00};   // beyond the queue: 6A 83
  const Blob summary = {0x80, 0x50, 0x00, 0x00, 0x00};
  r.http.answers = {script_answer(definite({summary, read, ack(1)})), no_content()};
  r.session();
  CHECK(r.agent.sessions_completed() == 1);
  CHECK(r.queued() == 1);  // the ACK after the error did not run
  REQUIRE(r.http.requests.size() == 2);
  const std::string rb = body_of(r.http.requests[1]);
  CHECK(static_cast<u8>(rb[4]) == 2);
  CHECK(static_cast<u8>(rb[rb.size() - 2]) == 0x6A);
  CHECK(static_cast<u8>(rb[rb.size() - 1]) == 0x83);

  Blob image2 = make_image(1);
  Rig r2(image2);
  const Blob record = {0x80, 0x52, 0x00, 0x00, 0x00};  // 60 bytes each: the 18th passes 1024
  r2.http.answers = {script_answer(definite(std::vector<Blob>(20, record))), no_content()};
  r2.session();
  REQUIRE(r2.http.requests.size() == 2);
  const std::string rb2 = body_of(r2.http.requests[1]);
  CHECK(static_cast<u8>(rb2[6]) == 18);
  CHECK(static_cast<u8>(rb2[rb2.size() - 2]) == 0x62);
  CHECK(static_cast<u8>(rb2[rb2.size() - 1]) == 0xF1);
}

TEST_CASE("the link fails: retries as configured, then the agent waits for the next trigger") {
  Blob image = make_image(1, 2);
  Rig r(image);
  r.agent.poll();
  CHECK(r.channels.opens == 1);
  CHECK(r.agent.state() == AdminAgent::State::kOpening);
  for (int attempt = 0; attempt < 2; ++attempt) {
    r.agent.link_failed(r.channels.connection, LinkFailure::kNetworkUnable);
    CHECK(r.agent.state() == AdminAgent::State::kRetryWait);
    CHECK(r.deadlines.pending(AdminAgent::kSlot));
    r.agent.deadline_passed(AdminAgent::kSlot);
    CHECK(r.agent.state() == AdminAgent::State::kOpening);
    CHECK(r.channels.opens == attempt + 2);
  }
  r.agent.link_failed(r.channels.connection, LinkFailure::kNetworkUnable);
  CHECK(r.agent.state() == AdminAgent::State::kIdle);
  CHECK(r.agent.sessions_failed() == 1);
  CHECK(r.agent.retries() == 2);
  CHECK(r.agent.last_failure() == AdminAgent::Failure::kLinkFailed);
  CHECK(r.queued() == 1);
  // The next trigger: a fresh session whose first POST says it follows a breakdown.
  r.http.answers = {no_content()};
  REQUIRE(r.agent.start_session(r.ctx).ok());
  CHECK(r.channels.opens == 4);
  r.connect();
  CHECK(r.run());
  CHECK(r.agent.sessions_completed() == 1);
  REQUIRE(r.http.requests.size() == 1);
  CHECK(r.http.requests[0].find("X-Admin-Resume: true\r\n") != std::string::npos);
  CHECK(static_cast<u8>(body_of(r.http.requests[0])[1]) == 3);  // START SESSION
}

TEST_CASE("a breakdown mid-script: the retry resumes with a fresh report and X-Admin-Resume") {
  Blob image = make_image(2);
  Rig r(image);
  r.http.answers = {"HTTP/1.1 200 OK\r\n" + std::string(kProtocolLine) + std::string(kScriptType) +
                    "X-Admin-Next-URI: /n\r\nTransfer-Encoding: chunked\r\n\r\n" + "d\r\n" + text_of(definite({ack(1)})) + "\r\n"};
  r.agent.poll();
  r.connect();
  CHECK_FALSE(r.run());  // the rest of the chunked body never comes
  CHECK(r.agent.state() == AdminAgent::State::kAwaiting);
  CHECK(r.queued() == 1);  // the ACK that arrived has run
  // The server goes silent: the inactivity deadline is a breakdown.
  REQUIRE(r.deadlines.pending(AdminAgent::kSlot));
  r.agent.deadline_passed(AdminAgent::kSlot);
  CHECK(r.channels.closes == 1);
  CHECK(r.agent.state() == AdminAgent::State::kClosing);
  r.agent.close(r.channels.connection);
  CHECK(r.agent.state() == AdminAgent::State::kRetryWait);
  CHECK(r.agent.last_failure() == AdminAgent::Failure::kTimeout);
  r.agent.deadline_passed(AdminAgent::kSlot);
  CHECK(r.agent.state() == AdminAgent::State::kOpening);
  r.http = ScriptedServer{};
  r.http.answers = {script_answer(definite({ack(2)})), no_content()};
  r.connect();
  CHECK(r.run());
  CHECK(r.agent.sessions_completed() == 1);
  CHECK(r.agent.sessions_failed() == 0);
  REQUIRE(r.http.requests.size() == 2);
  CHECK(r.http.requests[0].find("X-Admin-Resume: true\r\n") != std::string::npos);
  const std::string body = body_of(r.http.requests[0]);
  CHECK(static_cast<u8>(body[1]) == 4);  // a retry after a breakdown
  CHECK(static_cast<u8>(body[3]) == 1);  // a fresh report: the one incident left
  CHECK(r.queued() == 0);

  // The link dropping under a session is a breakdown too.
  Blob image2 = make_image(1);
  Rig r2(image2);
  r2.agent.poll();
  r2.connect();
  CHECK_FALSE(r2.run());
  r2.agent.close(r2.channels.connection);
  CHECK(r2.agent.state() == AdminAgent::State::kRetryWait);
  CHECK(r2.agent.last_failure() == AdminAgent::Failure::kLinkDropped);
}

TEST_CASE("a TLS failure ends the session without a retry") {
  Blob image = make_image(1);
  Rig r(image);
  // The server knows another key for the identity.
  r.server_ctx.~TlsContext();
  new (&r.server_ctx) tls::TlsContext(r.server_region);
  rig::CardStore other(64 * 1024, 8 * 1024);
  const Blob wrong(16, 0x42);
  REQUIRE(tls::put_psk(other.store, rig::bytes_of(kIdentity), Bytes(wrong.data(), wrong.size())).ok());
  REQUIRE(r.server_ctx.init_server(other.store, tls::TlsMode::kPsk, r.server_rng).ok());
  r.session();
  CHECK(r.agent.last_failure() == AdminAgent::Failure::kTls);
  CHECK(r.agent.state() == AdminAgent::State::kIdle);
  CHECK(r.agent.sessions_failed() == 1);
  CHECK(r.queued() == 1);
}

TEST_CASE("triggers: no CAT session yet, a new incident, START SESSION without a link") {
  Blob image = make_image(0);
  Rig r(image);
  CHECK(r.agent.pending_trigger() == AdminAgent::Trigger::kNone);
  AdminAgent::IncidentTap tap(r.queue, r.agent);
  Incident in;
  in.rule = DetectionRule::kSlowClients;
  REQUIRE(r.nvm.begin().ok());
  REQUIRE(tap.append(in).ok());
  REQUIRE(r.nvm.commit().ok());
  CHECK(r.agent.pending_trigger() == AdminAgent::Trigger::kIncident);
  r.channels.ready = false;
  r.agent.poll();
  CHECK(r.agent.state() == AdminAgent::State::kIdle);
  CHECK(r.agent.pending_trigger() == AdminAgent::Trigger::kIncident);
  CHECK_FALSE(r.deadlines.pending(AdminAgent::kSlot));  // no timer while the terminal cannot open
  r.channels.ready = true;
  r.http.answers = {no_content()};
  r.session();
  CHECK(r.agent.sessions_completed() == 1);
  CHECK(static_cast<u8>(body_of(r.http.requests[0])[1]) == 1);

  Blob bare(256 * 1024);
  {
    RamNvmDevice dev(MutableBytes(bare.data(), bare.size()));
    Nvm nvm(dev);
    REQUIRE(nvm.format(16 * 1024).ok());
    ObjectStore store(nvm);
    REQUIRE(nvm.begin().ok());
    REQUIRE(store.format().ok());
    REQUIRE(nvm.commit().ok());
  }
  Rig none(bare);
  CHECK(none.agent.state() == AdminAgent::State::kOff);
  CHECK(none.agent.start_session(none.ctx).error() == CardError::kConditionsNotSatisfied);
}

TEST_CASE("a power cut at every NVM write of a session leaves the queue exact") {
  const Blob pristine = make_image(3);
  const Blob script = definite({ack(2)});
  u64 writes = 0;
  {
    Blob image = pristine;
    Rig r(image);
    r.http.answers = {script_answer(script), no_content()};
    r.session();
    REQUIRE(r.agent.sessions_completed() == 1);
    REQUIRE(r.queued() == 1);
    writes = r.dev.writes();
  }
  REQUIRE(writes > 0);
  MESSAGE("NVM writes in a session with one ACKNOWLEDGE: " << writes);
  for (u64 cut = 0; cut < writes; ++cut) {
    CAPTURE(cut);
    Blob image = pristine;
    {
      Rig r(image, cut);
      r.http.answers = {script_answer(script), no_content()};
      r.agent.poll();
      r.connect();
      (void)r.run();
      CHECK(r.dev.power_cut());
    }
    // Reboot on what reached the device.
    RamNvmDevice dev(MutableBytes(image.data(), image.size()));
    Nvm nvm(dev);
    REQUIRE(nvm.mount().ok());
    ObjectStore store(nvm);
    IncidentQueue queue;
    REQUIRE(queue.power_up(store).ok());
    CHECK_FALSE(queue.damaged_at_power_up());
    auto n = queue.size();
    REQUIRE(n.ok());
    CHECK((*n == 3 || *n == 1));  // the ACK wholly there or wholly absent
    auto first = queue.at(0);
    REQUIRE(first.ok());
    CHECK(first->sequence == (*n == 3 ? 1u : 3u));
  }
}

TEST_CASE("the period starts a session when nothing else does (trigger 02)") {
  Blob image = make_image(0, 3, 3600);
  Rig r(image);
  CHECK(r.agent.pending_trigger() == AdminAgent::Trigger::kNone);
  REQUIRE(r.deadlines.pending(AdminAgent::kSlot));
  r.agent.deadline_passed(AdminAgent::kSlot);
  CHECK(r.agent.state() == AdminAgent::State::kOpening);
  r.http.answers = {no_content()};
  r.connect();
  CHECK(r.run());
  CHECK(r.agent.sessions_completed() == 1);
  REQUIRE(r.http.requests.size() == 1);
  CHECK(static_cast<u8>(body_of(r.http.requests[0])[1]) == 2);
  CHECK(static_cast<u8>(body_of(r.http.requests[0])[3]) == 0);  // an empty report
  CHECK(r.deadlines.pending(AdminAgent::kSlot));                 // the next period
}
