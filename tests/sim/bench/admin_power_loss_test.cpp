// Power cuts against the whole admin path in one process: the emulated card (sim/host EmulatedUicc,
// the demo profile with [admin]) on a power-loss NVM device, the handset gateway over DirectTransport
// with its client channel mapped to the real `scws admin` server (TLS-PSK, SQLite, loopback sockets),
// all on one io_context. Two attacks make two incidents; the card reports each, the server
// acknowledges. For k = 0, 1, ... the power is cut at the k-th NVM write counted from the first
// incident's enqueue (so enqueues, report sessions and ACKNOWLEDGEs are all cut somewhere), the card
// reboots on what reached its NVM, and its next session (trigger 05, or START SESSION through the
// admin applet when nothing waits) runs to completion. After every reboot and after that session:
// the queue holds exactly the incidents not acknowledged, in order and intact; the server holds each
// incident at most once and every one the card acknowledged; nothing the card recorded is lost
// (docs/protocol.md 16.3, 16.4: an incident leaves the queue only when the ACKNOWLEDGE runs).
// It lives here because it needs sim/handset and sim/admin together (the layers of sim/bench).
#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <asio.hpp>

#include "card/defence/incident_queue.hpp"
#include "card/os/nvm_device.hpp"
#include "scws_config.hpp"
#include "sim/admin/admin_server.hpp"
#include "sim/admin/store.hpp"
#include "sim/handset/gateway.hpp"
#include "sim/host/card_transport.hpp"
#include "sim/host/emulated_uicc.hpp"
#include "sim/host/profile.hpp"
#include "sim/host/provision.hpp"
#include "sim/testing/scratch_dir.hpp"

using namespace scws;
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kImageBytes = 4 * 1024 * 1024;
constexpr u32 kIncidents = 2;  // one attack on the TLS port, one on the HTTP port

// Passes writes through until armed, then cuts the power at the k-th write after arming: that write
// and every later one fail and change nothing (as card/os PowerLossNvmDevice, counted from a point).
class ArmedPowerLoss final : public card::NvmDevice {
 public:
  explicit ArmedPowerLoss(card::NvmDevice& inner) noexcept : inner_(inner) {}
  [[nodiscard]] u32 size() const noexcept override { return inner_.size(); }
  Status<card::NvmError> read(u32 offset, MutableBytes out) noexcept override { return inner_.read(offset, out); }
  Status<card::NvmError> write(u32 offset, Bytes data) noexcept override {
    if (armed_ && writes_++ >= cut_at_) return fail(card::NvmError::kIo);
    return inner_.write(offset, data);
  }
  Status<card::NvmError> sync() noexcept override {
    if (power_cut()) return fail(card::NvmError::kIo);
    return inner_.sync();
  }
  void arm(u64 cut_at) noexcept {
    armed_ = true;
    cut_at_ = cut_at;
    writes_ = 0;
  }
  [[nodiscard]] bool power_cut() const noexcept { return armed_ && writes_ > cut_at_; }
  [[nodiscard]] u64 writes() const noexcept { return writes_; }

 private:
  card::NvmDevice& inner_;
  bool armed_ = false;
  u64 cut_at_ = std::numeric_limits<u64>::max();
  u64 writes_ = 0;
};

// Runs the io_context in short slices until pred holds or the bound passes; false on the bound.
bool run_until(asio::io_context& io, const std::function<bool()>& pred, std::chrono::milliseconds bound) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    io.restart();
    io.run_for(std::chrono::milliseconds(2));
  }
  return true;
}

struct Provisioned {
  std::vector<u8> image;
  sim::AdminEnrolment enrolment;
};

Provisioned provision_demo() {
  sim::Profile profile = sim::load_profile(fs::path(SCWS_SOURCE_ROOT) / "profiles" / "demo");
  REQUIRE(profile.admin.has_value());
  profile.admin->retry_delay = 1;  // a breakdown mid-session is retried soon
  profile.admin->timeout = 5;
  Provisioned p;
  p.image.assign(kImageBytes, 0);
  card::RamNvmDevice device(MutableBytes(p.image.data(), p.image.size()));
  const sim::ProvisionReport report = sim::provision_device(profile, device);
  REQUIRE(report.admin.has_value());
  p.enrolment = *report.admin;
  return p;
}

// The card, powered on behind a gateway on io, its client channel sent to the admin server's port.
struct CardUnderTest {
  CardUnderTest(asio::io_context& io, card::NvmDevice& nvm, const sim::AdminEnrolment& e, u16 server_port)
      : uicc(nvm, SCWS_RAM_SIZE), transport(uicc.card()) {
    sim::GatewayOptions options;
    options.connect_map[e.server + ":" + std::to_string(e.port)] = "127.0.0.1:" + std::to_string(server_port);
    options.port_map[uicc.scws().settings().http_port] = 0;
    if (uicc.scws().settings().tls_port != 0) options.port_map[uicc.scws().settings().tls_port] = 0;
    options.poll_interval = std::chrono::milliseconds(5);
    options.card_wait = std::chrono::milliseconds(50);
    options.connect_timeout = std::chrono::milliseconds(2000);
    options.linger = std::chrono::milliseconds(100);
    options.log = [](const std::string&) {};
    gateway = std::make_unique<sim::Gateway>(io, transport, std::move(options));
    gateway->start();
  }
  ~CardUnderTest() {
    gateway->stop();
    uicc.card().power_off();
  }
  [[nodiscard]] bool idle() const { return uicc.agent().state() == card::AdminAgent::State::kIdle; }

  sim::EmulatedUicc uicc;
  sim::DirectTransport transport;
  std::unique_ptr<sim::Gateway> gateway;
};

// What the card's queue holds: sequence -> the record's bytes.
std::map<u32, std::vector<u8>> card_queue(sim::EmulatedUicc& uicc) {
  std::map<u32, std::vector<u8>> out;
  auto n = uicc.incidents().size();
  REQUIRE(n.ok());
  u32 previous = 0;
  for (u32 i = 0; i < *n; ++i) {
    auto incident = uicc.incidents().at(i);
    REQUIRE(incident.ok());  // the record's CRC holds
    CHECK(incident->sequence > previous);  // in order, none twice
    previous = incident->sequence;
    std::vector<u8> bytes(card::IncidentQueue::kRecordSize);
    REQUIRE(uicc.incidents().record(i, MutableBytes(bytes.data(), bytes.size())).ok());
    out[incident->sequence] = bytes;
  }
  return out;
}

// What the server stored for the card: sequence -> how many rows and the record's bytes.
struct ServerView {
  std::map<u32, unsigned> rows;
  std::map<u32, std::vector<u8>> records;
  std::map<u32, unsigned> rules;
};
ServerView server_view(sim::admin::Store& store, const std::string& iccid) {
  ServerView v;
  for (const auto& i : store.incidents(iccid)) {
    auto parsed = card::IncidentQueue::parse(Bytes(i.record.data(), i.record.size()));  // intact: its CRC holds
    CHECK(parsed.ok());
    if (parsed) CHECK(parsed->sequence == i.sequence);
    ++v.rows[i.sequence];
    v.records[i.sequence] = i.record;
    v.rules[i.sequence] = i.rule;
  }
  return v;
}

// The invariants after a reboot (before_session) and after the session that followed it.
void check_invariants(sim::EmulatedUicc& uicc, sim::admin::Store& store, const std::string& iccid,
                      bool after_session) {
  CHECK_FALSE(uicc.incidents().damaged_at_power_up());
  const auto queue = card_queue(uicc);
  auto next = uicc.incidents().next_sequence();
  REQUIRE(next.ok());
  const u32 recorded = *next - 1;  // sequences 1..recorded were enqueued for good
  CHECK(recorded <= kIncidents);
  const ServerView server = server_view(store, iccid);
  // The queue is the unacknowledged tail of 1..recorded: an ACKNOWLEDGE drops a prefix.
  u32 expect = queue.empty() ? recorded + 1 : queue.begin()->first;
  for (const auto& [sequence, bytes] : queue) {
    CHECK(sequence == expect);
    ++expect;
  }
  CHECK(expect == recorded + 1);
  // The server: each incident at most once, only ones the card recorded, the same bytes.
  for (const auto& [sequence, rows] : server.rows) {
    CAPTURE(sequence);
    CHECK(rows == 1);
    CHECK(sequence >= 1);
    CHECK(sequence <= recorded);
    if (auto in_queue = queue.find(sequence); in_queue != queue.end()) {
      CHECK(in_queue->second == server.records.at(sequence));
    }
  }
  // Nothing lost: what left the queue was acknowledged, so the server holds it.
  for (u32 sequence = 1; sequence <= recorded; ++sequence) {
    CAPTURE(sequence);
    if (queue.count(sequence) == 0) CHECK(server.rows.count(sequence) == 1);
  }
  if (after_session) {
    CHECK(queue.empty());
    CHECK(server.rows.size() == recorded);
  }
}

// START SESSION (docs/protocol.md 16.6) on logical channel 1: VERIFY ADM1, SELECT the admin applet.
void start_session_by_apdu(sim::DirectTransport& transport) {
  auto send = [&](std::vector<u8> apdu) {
    const std::vector<u8> r = transport.transmit(Bytes(apdu.data(), apdu.size()));
    REQUIRE(r.size() >= 2);
    return std::vector<u8>(r.end() - 2, r.end());
  };
  const std::vector<u8> open_channel{0x00, 0x70, 0x00, 0x00, 0x01};  // MANAGE CHANNEL open
  const std::vector<u8> opened = transport.transmit(Bytes(open_channel.data(), open_channel.size()));
  REQUIRE(opened.size() == 3);
  const u8 channel = opened[0];
  REQUIRE((channel >= 1 && channel <= 3));
  CHECK(send({channel, 0x20, 0x00, 0x0A, 0x08, '1', '2', '3', '4', '5', '6', '7', '8'}) == std::vector<u8>{0x90, 0x00});
  CHECK(send({channel, 0xA4, 0x04, 0x00, 0x06, 0xF0, 0x53, 0x43, 0x57, 0x53, 0x41}) == std::vector<u8>{0x90, 0x00});
  const std::vector<u8> sw = send({static_cast<u8>(0x80 | channel), 0x70, 0x00, 0x00});
  CHECK((sw[0] == 0x90 || sw[0] == 0x91));
  const std::vector<u8> closed = send({0x00, 0x70, 0x80, channel});
  CHECK((closed[0] == 0x90 || closed[0] == 0x91));
}

}  // namespace

TEST_CASE("a power cut at every NVM write of enqueue, report and ACKNOWLEDGE: card queue and server database agree") {
  const auto began = std::chrono::steady_clock::now();
  const Provisioned provisioned = provision_demo();
  const sim::AdminEnrolment& enrolment = provisioned.enrolment;
  const sim::ScratchDir scratch("scws-admin-power-loss");
  constexpr auto kBound = std::chrono::seconds(15);

  u64 cuts = 0;
  u64 k = 0;
  // Where the cuts fell, as the reboot saw it: incidents recorded (0, 1, 2); the server already
  // holding an incident the queue still keeps (the ACKNOWLEDGE was cut); nothing waiting (START SESSION).
  std::map<u32, u64> by_recorded;
  u64 ack_cut = 0, by_apdu = 0;
  for (;; ++k) {
    CAPTURE(k);
    std::vector<u8> image = provisioned.image;
    card::RamNvmDevice inner(MutableBytes(image.data(), image.size()));
    asio::io_context io;
    auto store = sim::admin::open_store((scratch.path() / ("admin-" + std::to_string(k) + ".sqlite")).string());
    store->enrol(enrolment.iccid, enrolment.psk_identity, enrolment.psk_key);
    sim::admin::AdminServerOptions server_options;
    server_options.port = 0;
    server_options.uri = enrolment.uri;
    server_options.idle_timeout = std::chrono::seconds(5);
    server_options.handshake_timeout = std::chrono::seconds(5);
    sim::admin::AdminServer server(io, *store, server_options);
    server.start();

    bool cut = false;
    {
      ArmedPowerLoss lossy(inner);
      CardUnderTest card(io, lossy, enrolment, server.port());
      REQUIRE(run_until(io, [&] { return card.gateway->card_session_active() && card.idle(); }, kBound));
      REQUIRE(card.uicc.agent().linked());
      const u16 tls_port = card.uicc.scws().settings().tls_port;
      const u16 http_port = card.uicc.scws().settings().http_port;
      REQUIRE(tls_port != 0);
      lossy.arm(k);
      auto attack_and_report = [&](card::SecurityEventKind kind, u16 port, unsigned times, u32 sessions) {
        for (unsigned i = 0; i < times && !lossy.power_cut(); ++i) card.uicc.card().security_events().report(kind, port);
        if (lossy.power_cut()) return;
        const bool done = run_until(
            io, [&] { return lossy.power_cut() || (card.uicc.agent().sessions_completed() >= sessions && card.idle()); },
            kBound);
        REQUIRE_MESSAGE(done, "the session after incident ", sessions, " did not end");
      };
      attack_and_report(card::SecurityEventKind::kTlsBadCertificate, tls_port, 5, 1);
      attack_and_report(card::SecurityEventKind::kHttpAuthFailure, http_port, 10, 2);
      cut = lossy.power_cut();
      if (!cut) {
        // The uncut run: both incidents reached the server, the queue is empty.
        CHECK(card.uicc.agent().sessions_completed() == 2);
        check_invariants(card.uicc, *store, enrolment.iccid, true);
        const ServerView server = server_view(*store, enrolment.iccid);
        REQUIRE(server.rows.size() == kIncidents);
        CHECK(server.rules.at(1) == static_cast<unsigned>(card::DetectionRule::kTlsHandshakeFailures));
        CHECK(server.rules.at(2) == static_cast<unsigned>(card::DetectionRule::kHttpPasswordGuessing));
        MESSAGE("NVM writes from the first enqueue to the last ACKNOWLEDGE: " << lossy.writes());
      }
    }
    // Let the gateway's sockets close before the card comes back.
    (void)run_until(io, [] { return false; }, std::chrono::milliseconds(20));
    if (!cut) break;
    ++cuts;

    // Reboot on what reached the NVM; the next session runs to completion.
    {
      CardUnderTest card(io, inner, enrolment, server.port());
      REQUIRE(run_until(io, [&] { return card.gateway->card_session_active(); }, kBound));
      check_invariants(card.uicc, *store, enrolment.iccid, false);
      auto next = card.uicc.incidents().next_sequence();
      REQUIRE(next.ok());
      ++by_recorded[*next - 1];
      const auto queue = card_queue(card.uicc);
      const ServerView before = server_view(*store, enrolment.iccid);
      for (const auto& [sequence, bytes] : queue) {
        if (before.rows.count(sequence) != 0) {
          ++ack_cut;
          break;
        }
      }
      const unsigned trigger = queue.empty() ? 3 : 5;  // START SESSION, or power-up with incidents waiting
      if (queue.empty()) {
        ++by_apdu;
        REQUIRE(run_until(io, [&] { return card.idle(); }, kBound));
        start_session_by_apdu(card.transport);
      }
      const bool done = run_until(
          io, [&] { return card.uicc.agent().sessions_completed() >= 1 && card.idle(); }, kBound);
      REQUIRE_MESSAGE(done, "the session after the reboot did not end (state ",
                      card::AdminAgent::state_name(card.uicc.agent().state()), ", last failure ",
                      card::AdminAgent::failure_name(card.uicc.agent().last_failure()), ")");
      check_invariants(card.uicc, *store, enrolment.iccid, true);
      bool reached = false;  // the server saw that session through to its 204
      for (const auto& session : store->sessions(enrolment.iccid)) {
        reached = reached || (session.trigger == trigger && session.outcome == "done");
      }
      CHECK_MESSAGE(reached, "no completed session with trigger ", trigger, " at the server");
    }
    (void)run_until(io, [] { return false; }, std::chrono::milliseconds(20));
    server.stop();
  }
  const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  auto n = [](u64 v) { return static_cast<unsigned long long>(v); };
  std::printf("admin power-loss sweep: %llu cut points covered in %.1f s; at the reboot %llu/%llu/%llu with 0/1/2 "
              "incidents recorded, %llu with an incident the server held but the card had not yet let go of, "
              "%llu with nothing waiting (START SESSION)\n",
              n(cuts), seconds, n(by_recorded[0]), n(by_recorded[1]), n(by_recorded[2]), n(ack_cut), n(by_apdu));
  CHECK(cuts > 10);
  CHECK(by_recorded[0] > 0);
  CHECK(by_recorded[1] > 0);
  CHECK(by_recorded[2] > 0);
  CHECK(ack_cut > 0);
}
