#include "sim/bench/bench_attack.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "base/crc32.hpp"
#include "card/defence/detector.hpp"
#include "card/defence/incident_queue.hpp"
#include "scws_config.hpp"
#include "sim/bench/bench_http.hpp"
#include "sim/bench/bench_report.hpp"
#include "sim/host/card_transport.hpp"
#include "sim/host/pcsc_client.hpp"
#include "sim/host/profile.hpp"
#include "sim/host/provision.hpp"
#include "sim/testing/pcscd_harness.hpp"
#include "sim/testing/scratch_dir.hpp"

namespace scws::sim {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using report::fixed;
using report::json_string;

// --- parsing -------------------------------------------------------------------------------------------

namespace {

u32 be32(Bytes b, std::size_t at) {
  return static_cast<u32>(b[at]) << 24 | static_cast<u32>(b[at + 1]) << 16 | static_cast<u32>(b[at + 2]) << 8 | b[at + 3];
}
unsigned be16(Bytes b, std::size_t at) { return static_cast<unsigned>(b[at]) << 8 | b[at + 1]; }

constexpr const char* kRuleNames[] = {"tls-handshake-failures", "tls-unknown-psk", "tls-bad-records", "http-password-guessing",
                                      "http-malformed-flood",   "connection-flood", "slow-clients"};
static_assert(std::size(kRuleNames) == card::kDetectionRules);

}  // namespace

std::optional<QueueSummary> parse_queue_summary(Bytes d) {
  if (d.size() != kQueueSummarySize) return std::nullopt;
  QueueSummary s;
  s.capacity = d[0];
  s.count = d[1];
  s.damaged = (d[2] & 0x01) != 0;
  s.first = be32(d, 4);
  s.last = be32(d, 8);
  s.next = be32(d, 12);
  s.dropped = be32(d, 16);
  return s;
}

std::optional<IncidentRecord> parse_incident_record(Bytes d) {
  // docs/protocol.md section 15.2
  if (d.size() != kIncidentRecordSize || d[0] != 0x01) return std::nullopt;
  if (crc32(d.subspan(0, 56)) != be32(d, 56)) return std::nullopt;
  IncidentRecord r;
  r.rule = d[1];
  r.time_from_terminal = (d[2] & 0x01) != 0;
  r.port_closed = (d[2] & 0x02) != 0;
  r.last_kind = d[3];
  r.sequence = be32(d, 4);
  for (std::size_t i = 8; i < 18; ++i) {  // TS 102 221 13.2: swapped nibbles, F filler
    for (unsigned nibble : {d[i] & 0x0Fu, static_cast<unsigned>(d[i] >> 4)}) {
      if (nibble <= 9) r.iccid += static_cast<char>('0' + nibble);
    }
  }
  r.port = be16(d, 18);
  r.events = be16(d, 20);
  r.threshold = be16(d, 22);
  r.window_seconds = be16(d, 24);
  r.detail = be16(d, 26);
  r.first_time = be32(d, 28);
  r.last_time = be32(d, 32);
  r.connection = d[36];
  const std::size_t evidence = std::min<std::size_t>(d[37], 16);
  r.evidence.assign(d.begin() + 38, d.begin() + 38 + static_cast<std::ptrdiff_t>(evidence));
  return r;
}

std::string rule_name(unsigned rule) {
  if (rule >= 1 && rule <= std::size(kRuleNames)) return kRuleNames[rule - 1];
  return "rule " + std::to_string(rule);
}

std::string describe_incident(const IncidentRecord& r) {
  std::ostringstream o;
  o << "#" << r.sequence << " " << rule_name(r.rule) << " port " << r.port << ": " << r.events << " events (threshold "
    << r.threshold << " / " << r.window_seconds << " s) in " << (r.last_time - std::min(r.first_time, r.last_time))
    << " s, last "
    << card::security_event_name(static_cast<card::SecurityEventKind>(r.last_kind)) << " detail " << r.detail;
  if (r.connection != 0xFF) o << " channel slot " << r.connection;
  o << (r.port_closed ? ", port closed" : ", port NOT closed") << (r.time_from_terminal ? "" : ", card time not from the terminal");
  if (!r.evidence.empty()) {
    o << ", evidence \"";
    for (u8 c : r.evidence) {
      if (c >= 0x20 && c < 0x7F) {
        o << static_cast<char>(c);
      } else {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\x%02X", c);
        o << buf;
      }
    }
    o << "\"";
  }
  o << ", ICCID " << r.iccid;
  return o.str();
}

MemoryFigures memory_figures(unsigned capacity) {
  MemoryFigures m;
  m.detector = sizeof(card::Detector);
  m.windows = card::Detector::windows_bytes();
  m.guarded_ports = card::Detector::kMaxGuardedPorts;
  m.rules = card::kDetectionRules;
  m.buckets = card::Detector::kBuckets;
  m.queue_object = sizeof(card::IncidentQueue);
  m.record = card::IncidentQueue::kRecordSize;
  m.queue_header = card::IncidentQueue::kHeaderSize;
  m.capacity = capacity;
  m.queue_nvm = card::IncidentQueue::object_size(static_cast<u8>(capacity));
  m.port_state_nvm = card::Detector::kPortStateSize;
  return m;
}

// --- the card under attack -------------------------------------------------------------------------------

namespace {

std::size_t card_ram(const Profile& profile) {
  const std::size_t region =
      profile.tls ? (profile.tls->ram != 0 ? profile.tls->ram : default_tls_ram(profile.tls->mode, profile.tls->channels)) : 0;
  return std::max<std::size_t>(SCWS_RAM_SIZE, (16384 + region + 15) / 16 * 16);
}

struct QueueRead {
  std::optional<QueueSummary> summary;
  std::vector<IncidentRecord> incidents;
  std::string error;
};

// A fresh image of `profile`, `scws card` on a private pcscd, and the gateway over PC/SC with the
// attacked card port first. Knows when the gateway stopped listening on a card port.
class AttackCard {
 public:
  AttackCard(const Profile& profile, const fs::path& dir, const fs::path& credentials, const fs::path& scws, bool verbose,
             u16 attacked_port, const std::string& tag)
      : profile_(profile),
        stack_({provision(profile, dir, credentials), "scws attack"}),
        transport_(stack_.pcscd().reader(0)),
        runner_(transport_, verbose, tag, ports(profile, attacked_port)) {
    stack_.start_card(scws, dir / "card.img", {"--quiet", "--ram", std::to_string(card_ram(profile))});
    runner_.set_log_hook([this](const std::string& line) {
      if (line.rfind("stopped listening on ", 0) != 0) return;
      std::lock_guard lock(mutex_);
      const std::string tail = line.substr(line.find("(card port ") + 11);
      stopped_[static_cast<u16>(std::stoul(tail))] = Clock::now();
    });
    const u32 channels = profile.tls && attacked_port == profile.tls->port ? profile.tls->channels : profile.http_channels;
    try {
      runner_.start(channels, 30000ms);
    } catch (const std::runtime_error& e) {
      throw stack_.failure(e.what());
    }
  }
  ~AttackCard() {
    runner_.stop();
    stack_.stop();
  }
  AttackCard(const AttackCard&) = delete;
  AttackCard& operator=(const AttackCard&) = delete;

  [[nodiscard]] u16 local_port(u16 card_port) const {
    const auto p = runner_.local_port(card_port);
    if (!p) throw std::runtime_error("card port " + std::to_string(card_port) + " never listened");
    return *p;
  }
  // When the gateway last stopped listening on the card port.
  [[nodiscard]] std::optional<Clock::time_point> stopped(u16 card_port) const {
    std::lock_guard lock(mutex_);
    const auto it = stopped_.find(card_port);
    if (it == stopped_.end()) return std::nullopt;
    return it->second;
  }
  void forget_stop(u16 card_port) {
    std::lock_guard lock(mutex_);
    stopped_.erase(card_port);
  }

  // The incident queue through PC/SC (docs/protocol.md section 15.3): VERIFY ADM1 on the basic
  // channel, MANAGE CHANNEL (ISO/IEC 7816-4 11.1.2), the admin applet on that logical channel.
  QueueRead read_queue() {
    QueueRead q;
    if (!profile_.security.adm_key) {
      q.error = "the profile has no ADM key";
      return q;
    }
    try {
      PcscContext context;
      PcscCardOptions options;
      options.card_wait = 10000ms;
      PcscCard card(context, stack_.pcscd().reader(0), options);
      auto tx = [&card](std::vector<u8> apdu, const char* what) {
        std::vector<u8> r = card.transmit(apdu);
        // 91 XX: done, and a proactive command waits (TS 102 221 10.2.1.1), e.g. the toolkit's CLOSE
        // CHANNEL; the gateway fetches it at its next poll.
        const bool ok = r.size() >= 2 && ((r[r.size() - 2] == 0x90 && r.back() == 0x00) || r[r.size() - 2] == 0x91);
        if (!ok) {
          char sw[16];
          std::snprintf(sw, sizeof sw, "%02X %02X", r.size() >= 2 ? r[r.size() - 2] : 0, r.size() >= 2 ? r.back() : 0);
          throw std::runtime_error(std::string(what) + " answered " + sw);
        }
        r.resize(r.size() - 2);
        return r;
      };
      std::vector<u8> verify = {0x00, 0x20, 0x00, 0x0A, 0x08};
      verify.insert(verify.end(), profile_.security.adm_key->begin(), profile_.security.adm_key->end());
      tx(verify, "VERIFY ADM1");
      const std::vector<u8> opened = tx({0x00, 0x70, 0x00, 0x00, 0x01}, "MANAGE CHANNEL open");
      if (opened.size() != 1 || opened[0] == 0 || opened[0] > 3) throw std::runtime_error("MANAGE CHANNEL gave no channel 1-3");
      const u8 ch = opened[0];
      tx({ch, 0xA4, 0x04, 0x00, 0x06, 0xF0, 0x53, 0x43, 0x57, 0x53, 0x41}, "SELECT the admin applet");
      const std::vector<u8> summary = tx({static_cast<u8>(0x80 | ch), 0x50, 0x00, 0x00, 0x00}, "QUEUE SUMMARY");
      q.summary = parse_queue_summary(summary);
      if (!q.summary) throw std::runtime_error("QUEUE SUMMARY of " + std::to_string(summary.size()) + " bytes");
      for (unsigned i = 0; i < q.summary->count; ++i) {
        const std::vector<u8> rec =
            tx({static_cast<u8>(0x80 | ch), 0x52, static_cast<u8>(i), 0x00, 0x00}, "READ INCIDENT");
        auto r = parse_incident_record(rec);
        if (!r) throw std::runtime_error("incident " + std::to_string(i) + ": a record that does not parse");
        q.incidents.push_back(*r);
      }
      tx({0x00, 0x70, 0x80, ch, 0x00}, "MANAGE CHANNEL close");
    } catch (const std::exception& e) {
      q.error = e.what();
    }
    return q;
  }

 private:
  // The image DIR/card.img; returns DIR (the stack's folder).
  static fs::path provision(const Profile& profile, const fs::path& dir, const fs::path& credentials) {
    fs::create_directories(dir);
    provision_file(profile, dir / "card.img", SCWS_NVM_SIZE, true, credentials);
    return dir;
  }
  static std::vector<u16> ports(const Profile& profile, u16 attacked) {
    std::vector<u16> p{attacked};
    if (attacked != profile.http_port) p.push_back(profile.http_port);
    if (profile.tls && attacked != profile.tls->port) p.push_back(profile.tls->port);
    return p;
  }

  const Profile& profile_;
  PcscStack stack_;
  PcscTransport transport_;
  GatewayRunner runner_;
  mutable std::mutex mutex_;
  std::map<u16, Clock::time_point> stopped_;
};

// --- attempts --------------------------------------------------------------------------------------------

enum class Outcome { kRefused, kAnswered, kUnexpected, kDropped };

// How long one hostile attempt may wait for an answer (a legitimate handshake takes tens of ms): an
// attempt the gateway accepted while the card was closing the port can be left without one.
constexpr std::chrono::milliseconds kAttemptBound{5000};
constexpr std::chrono::milliseconds kConnectBound{10000};

// Sends `data` (may be empty), half-closes when asked, and reads to the end of the stream (bounded by
// the socket's timeout). Returns what came back, and whether the end of the stream was seen.
std::string exchange_raw(int fd, const std::string& data, bool half_close, bool& eof) {
  eof = false;
  if (!data.empty()) (void)::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
  if (half_close) ::shutdown(fd, SHUT_WR);
  std::string got;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n == 0) {
      eof = true;
      break;
    }
    if (n < 0) {
      eof = errno == ECONNRESET;
      break;
    }
    got.append(buf, static_cast<std::size_t>(n));
  }
  return got;
}

// openssl s_client: the card's alert is in its error lines ("... alert unknown ca ... SSL alert number 48").
// Its summary "New, TLSv1.2, Cipher is X" alone does not mean success: the client's own flight already
// switched ciphers (RFC 5246 7.1) before the card's alert came.
Outcome judge_s_client(const std::string& out) {
  if (out.find("alert") != std::string::npos) return Outcome::kAnswered;
  if (out.find("New, ") != std::string::npos && out.find("Cipher is (NONE)") == std::string::npos) return Outcome::kUnexpected;
  return Outcome::kDropped;
}

bool refused_text(const std::string& out) {
  return out.find("Connection refused") != std::string::npos || out.find("errno=111") != std::string::npos;
}

struct Credentials {
  fs::path dir;
  std::string psk_identity, psk_hex;
};

using Attempt = std::function<Outcome(u16 local_port, unsigned index)>;

Attempt tls_foreign_certificate(const Credentials& c) {
  return [c](u16 port, unsigned) {
    const auto out = ChildProcess::run({"/usr/bin/openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(port), "-tls1_2",
                                        "-no-CApath", "-no-CAstore", "-CAfile", (c.dir / "ca.pem").string(), "-cert",
                                        (c.dir / "foreign-client.pem").string(), "-key", (c.dir / "foreign-client.key").string()},
                                       std::string(), ChildProcess::Stderr::kWithStdout, kAttemptBound);
    if (refused_text(out.out)) return Outcome::kRefused;
    return judge_s_client(out.out);
  };
}

Attempt tls_unknown_psk() {
  return [](u16 port, unsigned index) {
    const auto out = ChildProcess::run({"/usr/bin/openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(port), "-tls1_2",
                                        "-no-CAfile", "-no-CApath", "-no-CAstore", "-psk_identity",
                                        "intruder-" + std::to_string(index), "-psk", "00112233445566778899aabbccddeeff",
                                        "-cipher", "PSK-AES128-CCM"},
                                       std::string(), ChildProcess::Stderr::kWithStdout, kAttemptBound);
    if (refused_text(out.out)) return Outcome::kRefused;
    return judge_s_client(out.out);
  };
}

Attempt raw_attempt(std::string payload, bool half_close, std::function<Outcome(const std::string&, bool)> judge) {
  return [payload = std::move(payload), half_close, judge = std::move(judge)](u16 port, unsigned) {
    bool refused = false;
    const int fd = connect_loopback(port, kAttemptBound, refused);
    if (refused) return Outcome::kRefused;
    bool eof = false;
    const std::string got = exchange_raw(fd, payload, half_close, eof);
    ::close(fd);
    return judge(got, eof);
  };
}

Attempt tls_garbage() {
  // Not a TLS record (the first byte is no content type, RFC 5246 6.2.1), as a scanner would send.
  return raw_attempt("this is not a TLS record, scws bench attack\r\n\r\n", false,
                     [](const std::string& got, bool eof) {
                       if (!got.empty() && got[0] == 0x15) return Outcome::kAnswered;  // an alert record
                       return eof ? Outcome::kAnswered : Outcome::kDropped;
                     });
}

Attempt http_malformed() {
  // A request line with no HTTP version (RFC 9112 3): the parser must refuse it with an error status.
  return raw_attempt("GET /index.html\r\n\r\n", false, [](const std::string& got, bool) {
    if (got.rfind("HTTP/1.1 4", 0) == 0 || got.rfind("HTTP/1.1 5", 0) == 0) return Outcome::kAnswered;
    return got.rfind("HTTP/1.1 ", 0) == 0 ? Outcome::kUnexpected : Outcome::kDropped;
  });
}

Attempt connect_and_close() {
  return raw_attempt(std::string(), true, [](const std::string&, bool eof) { return eof ? Outcome::kAnswered : Outcome::kDropped; });
}

Attempt password_guess() {
  return [](u16 port, unsigned index) {
    const auto out = ChildProcess::run({"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", std::to_string(kAttemptBound.count() / 1000), "-u",
                                        "alice:guess-" + std::to_string(index),
                                        "http://127.0.0.1:" + std::to_string(port) + "/secure/"},
                                       std::nullopt, ChildProcess::Stderr::kDiscard, 60s);
    if (out.exit_code == 7) return Outcome::kRefused;  // curl: failed to connect
    if (out.out == "401") return Outcome::kAnswered;
    if (out.out == "200") return Outcome::kUnexpected;
    return Outcome::kDropped;
  };
}

struct Run {
  bool closed = false;
  std::string closed_by;
  unsigned attempts = 0, answered = 0, unexpected = 0;
  double seconds = 0;
};

void count(Run& run, Outcome o) {
  ++run.attempts;
  if (o == Outcome::kAnswered) ++run.answered;
  if (o == Outcome::kUnexpected) ++run.unexpected;
}

// Whether the card port is closed now: the gateway said it stopped listening and a connect is
// refused (a listener can also close for a moment between channels).
bool confirmed_closed(AttackCard& card, u16 card_port, u16 local) {
  if (!card.stopped(card_port)) return false;
  bool refused = false;
  const int fd = connect_loopback(local, kConnectBound, refused);
  if (refused) return true;
  ::close(fd);
  card.forget_stop(card_port);
  return false;
}

// Attempts one after the other: until the port closed (guarded: bound = the row's limit), or for
// `duration` (reference: nothing closes).
Run run_sequential(AttackCard& card, u16 card_port, const Attempt& attempt, bool guarded, std::chrono::milliseconds limit) {
  const u16 local = card.local_port(card_port);
  Run run;
  const auto t0 = Clock::now();
  std::optional<Clock::time_point> closed_at;
  for (unsigned i = 0;; ++i) {
    if (guarded && confirmed_closed(card, card_port, local)) {
      closed_at = card.stopped(card_port);
      run.closed_by = "the gateway stopped listening";
      break;
    }
    if (Clock::now() - t0 >= limit) break;
    const Outcome o = attempt(local, i);
    if (o == Outcome::kRefused) {
      closed_at = card.stopped(card_port).value_or(Clock::now());
      run.closed_by = "connect refused";
      break;
    }
    count(run, o);
  }
  run.closed = closed_at.has_value();
  run.seconds = std::chrono::duration<double>((closed_at ? *closed_at : Clock::now()) - t0).count();
  return run;
}

// Idle sockets, `concurrency` at a time, each held until the card drops it (answered), replaced at once.
Run run_idle_sockets(AttackCard& card, u16 card_port, unsigned concurrency, bool guarded, std::chrono::milliseconds limit) {
  const u16 local = card.local_port(card_port);
  Run run;
  std::vector<int> fds;
  const auto t0 = Clock::now();
  std::optional<Clock::time_point> closed_at;
  while (!closed_at && Clock::now() - t0 < limit) {
    if (guarded && card.stopped(card_port)) {
      bool refused = false;
      const int fd = connect_loopback(local, kConnectBound, refused);
      if (refused) {
        closed_at = card.stopped(card_port);
        run.closed_by = "the gateway stopped listening";
        break;
      }
      fds.push_back(fd);  // the listener came back: this one is an attempt as the others
      ++run.attempts;
      card.forget_stop(card_port);
    }
    while (fds.size() < concurrency) {
      bool refused = false;
      const int fd = connect_loopback(local, kConnectBound, refused);
      if (refused) {
        closed_at = card.stopped(card_port).value_or(Clock::now());
        run.closed_by = "connect refused";
        break;
      }
      fds.push_back(fd);
      ++run.attempts;
    }
    if (closed_at) break;
    std::vector<pollfd> p;
    for (int fd : fds) p.push_back({fd, POLLIN, 0});
    ::poll(p.data(), p.size(), 20);
    for (const pollfd& q : p) {
      if ((q.revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      char buf[512];
      const ssize_t n = ::recv(q.fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) continue;  // an alert before the end: the end follows
      ::close(q.fd);
      fds.erase(std::find(fds.begin(), fds.end(), q.fd));
      ++run.answered;  // dropped by the card at its deadline
    }
  }
  for (int fd : fds) ::close(fd);
  run.closed = closed_at.has_value();
  run.seconds = std::chrono::duration<double>((closed_at ? *closed_at : Clock::now()) - t0).count();
  return run;
}

// --- the rows ----------------------------------------------------------------------------------------------

struct RowPlan {
  card::DetectionRule rule;
  std::string attack;
  bool tls_port;
  Attempt attempt;   // empty: idle sockets
};

std::vector<RowPlan> plans(const Credentials& c) {
  using R = card::DetectionRule;
  return {
      {R::kTlsHandshakeFailures, "openssl s_client with a client certificate from a foreign CA", true, tls_foreign_certificate(c)},
      {R::kTlsUnknownPsk, "openssl s_client with an unknown PSK identity", true, tls_unknown_psk()},
      {R::kTlsBadRecords, "a raw socket sends 48 bytes that are no TLS record", true, tls_garbage()},
      {R::kHttpPasswordGuessing, "curl GET /secure/ with a wrong Basic password", false, password_guess()},
      {R::kHttpMalformedFlood, "a raw socket sends a request line without HTTP version", false, http_malformed()},
      {R::kConnectionFlood, "a raw socket connects and closes (waits for the end of the stream)", false, connect_and_close()},
      {R::kSlowClients, "raw sockets connect and send nothing, 3 at a time, held until the card drops them", true, {}},
  };
}

unsigned matching(const std::vector<IncidentRecord>& incidents, unsigned rule) {
  return static_cast<unsigned>(std::count_if(incidents.begin(), incidents.end(), [rule](const IncidentRecord& r) { return r.rule == rule; }));
}

AttackRow measure_row(const RowPlan& plan, const Profile& demo, const fs::path& workdir, const Credentials& creds,
                      const AttackBenchOptions& options, const std::function<void(const std::string&)>& progress) {
  AttackRow row;
  row.rule = static_cast<unsigned>(plan.rule);
  row.attack = plan.attack;
  Profile profile = demo;
  // No admin link: the incident stays in the queue for the row to read, and no client channel takes
  // a slot while the attack runs (`scws bench admin` measures the delivery).
  profile.admin.reset();
  const bool slow = plan.rule == card::DetectionRule::kSlowClients;
  if (slow) profile.tls->timeout = kSlowClientsTlsTimeout;
  const u16 port = plan.tls_port ? profile.tls->port : profile.http_port;
  row.port = port;
  row.threshold = profile.detection.rule(plan.rule).threshold;
  row.window_seconds = profile.detection.rule(plan.rule).window_seconds;
  const std::string name = rule_name(row.rule);
  if (row.threshold == 0) {
    row.note = "the demo profile has this rule off";
    return row;
  }
  // Bound per row: the threshold's attempts should take far less (slow clients: a deadline per attempt).
  const auto limit = slow ? std::chrono::milliseconds(1000 * kSlowClientsTlsTimeout * (row.threshold + 6)) + 30s : 120000ms;
  {
    progress(name + ": guarded card");
    AttackCard card(profile, workdir / (name + "-guarded"), creds.dir, options.scws, options.verbose, port, name);
    const Run run = slow ? run_idle_sockets(card, port, profile.tls->channels, true, limit)
                         : run_sequential(card, port, plan.attempt, true, limit);
    row.closed = run.closed;
    row.closed_by = run.closed_by;
    row.attempts = run.attempts;
    row.answered = run.answered;
    row.unexpected = run.unexpected;
    row.seconds = run.seconds;
    QueueRead q = card.read_queue();
    row.queue = q.summary;
    row.incidents = std::move(q.incidents);
    row.queue_error = q.error;
    row.matching = matching(row.incidents, row.rule);
  }
  {
    progress(name + ": reference card (rule off) for " + fixed(row.seconds, 2) + " s");
    Profile off = profile;
    off.detection.rule(plan.rule).threshold = 0;
    AttackCard card(off, workdir / (name + "-reference"), creds.dir, options.scws, options.verbose, port, name + "-ref");
    const auto duration = std::chrono::milliseconds(static_cast<long>(row.seconds * 1000));
    const Run run = slow ? run_idle_sockets(card, port, profile.tls->channels, false, duration)
                         : run_sequential(card, port, plan.attempt, false, duration);
    row.reference_measured = true;
    row.reference_attempts = run.attempts;
    row.reference_answered = run.answered;
    row.reference_seconds = run.seconds;
    QueueRead q = card.read_queue();
    row.reference_incidents = static_cast<unsigned>(q.incidents.size());
    if (!q.error.empty()) row.note = "reference queue: " + q.error;
  }
  return row;
}

// --- the legitimate load ---------------------------------------------------------------------------------

// A curl config of n transfers of url (curl reuses one connection for them: keep-alive).
fs::path write_curl_config(const fs::path& file, const std::string& url, unsigned n) {
  std::ofstream out(file);
  for (unsigned i = 0; i < n; ++i) out << "url = \"" << url << "\"\noutput = \"/dev/null\"\n";
  if (!out) throw std::runtime_error("cannot write " + file.string());
  return file;
}

LegitTimes measure_times(AttackCard& card, const Profile& profile, const Credentials& c) {
  LegitTimes t;
  const std::string tls_url = "https://127.0.0.1:" + std::to_string(card.local_port(profile.tls->port)) + "/";
  const std::string http_url = "http://127.0.0.1:" + std::to_string(card.local_port(profile.http_port)) + "/";
  const auto tls = ChildProcess::run({"curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{time_connect} %{time_appconnect} %{time_total}",
                                      "--cacert", (c.dir / "ca.pem").string(), "--cert", (c.dir / "client-1.pem").string(),
                                      "--key", (c.dir / "client-1.key").string(), tls_url},
                                     std::nullopt, ChildProcess::Stderr::kDiscard, 60s);
  const auto http = ChildProcess::run({"curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", http_url}, std::nullopt,
                                      ChildProcess::Stderr::kDiscard, 60s);
  int code = 0, code2 = 0;
  if (std::sscanf(tls.out.c_str(), "%d %lf %lf %lf", &code, &t.tls_connect, &t.tls_handshake, &t.tls_request) != 4 || code != 200 ||
      std::sscanf(http.out.c_str(), "%d %lf", &code2, &t.http_request) != 2 || code2 != 200) {
    t.note = "curl printed \"" + tls.out + "\" and \"" + http.out + "\"";
    return t;
  }
  t.measured = true;
  return t;
}

LegitFigures measure_legit(const Profile& profile, const fs::path& workdir, const Credentials& c, const AttackBenchOptions& options,
                           unsigned requests, LegitTimes& times, const std::function<void(const std::string&)>& progress) {
  LegitFigures f;
  f.tls_clients = kLegitTlsClients;
  f.http_clients = kLegitHttpClients;
  f.requests_per_client = requests;
  const fs::path dir = workdir / "legitimate";
  AttackCard card(profile, dir, c.dir, options.scws, options.verbose, profile.tls->port, "legitimate");
  times = measure_times(card, profile, c);
  const std::string tls_url = "https://127.0.0.1:" + std::to_string(card.local_port(profile.tls->port)) + "/";
  const std::string http_base = "http://127.0.0.1:" + std::to_string(card.local_port(profile.http_port));
  const unsigned certificates = std::max<unsigned>(1, profile.tls->clients);
  progress("legitimate load: " + std::to_string(kLegitTlsClients) + " TLS + " + std::to_string(kLegitHttpClients) +
           " HTTP clients x " + std::to_string(requests) + " keep-alive requests");

  std::mutex m;
  std::vector<std::thread> threads;
  std::atomic<u64> tls_ok{0}, http_ok{0}, failures{0};
  double tls_end = 0, http_end = 0;  // under m
  const auto t0 = Clock::now();
  auto client = [&](std::vector<std::string> argv, bool tls) {
    const auto out = ChildProcess::run(std::move(argv), std::nullopt, ChildProcess::Stderr::kDiscard, 1h);
    u64 ok = 0, bad = 0;
    std::istringstream lines(out.out);
    for (std::string line; std::getline(lines, line);) (line == "200" ? ok : bad) += 1;
    bad += requests > ok + bad ? requests - ok - bad : 0;
    (tls ? tls_ok : http_ok) += ok;
    failures += bad;
    const double end = std::chrono::duration<double>(Clock::now() - t0).count();
    std::lock_guard lock(m);
    (tls ? tls_end : http_end) = std::max(tls ? tls_end : http_end, end);
    if (bad > 0 && f.first_failure.empty())
      f.first_failure = std::string(tls ? "TLS" : "HTTP") + " client: " + std::to_string(bad) + " of " + std::to_string(requests) +
                        " not 200 (curl exit " + std::to_string(out.exit_code) + ")";
  };
  for (unsigned i = 0; i < kLegitTlsClients; ++i) {
    const std::string n = std::to_string(1 + i % certificates);
    const fs::path config = write_curl_config(dir / ("tls-" + std::to_string(i) + ".curl"), tls_url, requests);
    threads.emplace_back(client,
                         std::vector<std::string>{"curl", "-s", "-w", "%{http_code}\\n", "--cacert", (c.dir / "ca.pem").string(),
                                                  "--cert", (c.dir / ("client-" + n + ".pem")).string(), "--key",
                                                  (c.dir / ("client-" + n + ".key")).string(), "-K", config.string()},
                         true);
  }
  for (unsigned i = 0; i < kLegitHttpClients; ++i) {
    const bool secure = i % 2 == 1;
    const fs::path config = write_curl_config(dir / ("http-" + std::to_string(i) + ".curl"), http_base + (secure ? "/secure/" : "/"), requests);
    std::vector<std::string> argv{"curl", "-s", "-w", "%{http_code}\\n", "-K", config.string()};
    if (secure) argv.insert(argv.begin() + 1, {"-u", profile.users.at(0).name + ":" + profile.users.at(0).password});
    threads.emplace_back(client, argv, false);
  }
  for (auto& t : threads) t.join();
  f.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  f.tls_ok = tls_ok;
  f.http_ok = http_ok;
  f.failures = failures;
  f.tls_per_second = tls_end > 0 ? static_cast<double>(f.tls_ok) / tls_end : 0;
  f.http_per_second = http_end > 0 ? static_cast<double>(f.http_ok) / http_end : 0;
  QueueRead q = card.read_queue();
  f.queue = q.summary;
  f.incidents = std::move(q.incidents);
  f.queue_error = q.error;
  return f;
}

Credentials make_credentials(const Profile& profile, const fs::path& workdir) {
  Credentials c;
  c.dir = workdir / "credentials";
  // A throwaway image creates the folder (the test PKI of sim/host/pki.hpp); every card of the run reuses it.
  provision_file(profile, workdir / "credentials.img", SCWS_NVM_SIZE, true, c.dir);
  fs::remove(workdir / "credentials.img");
  std::ifstream in(c.dir / "psk.txt");
  in >> c.psk_identity >> c.psk_hex;
  return c;
}

}  // namespace

AttackBenchResult run_attack_bench(const AttackBenchOptions& options) {
  auto progress = [&](const std::string& line) {
    if (options.verbose) std::cerr << "bench: " << line << std::endl;
  };
  AttackBenchResult result;
  result.quick = options.quick;
  if (!enter_private_pcscd_namespace_for_figures(result.stack_note)) {
    const Profile demo = load_profile(bundled_demo_profile());
    result.memory = memory_figures(demo.incidents.capacity);
    return result;
  }
  ::signal(SIGPIPE, SIG_IGN);
  const Profile demo = load_profile(bundled_demo_profile());
  result.memory = memory_figures(demo.incidents.capacity);
  if (!demo.tls) throw std::runtime_error("the demo profile has no [tls] port");
  const ScratchDir scratch("scws-bench-attack", options.workdir, options.keep_workdir);
  const fs::path& workdir = scratch.path();
  const Credentials creds = make_credentials(demo, workdir);
  for (const RowPlan& plan : plans(creds)) result.rows.push_back(measure_row(plan, demo, workdir, creds, options, progress));
  const unsigned requests = options.requests != 0 ? options.requests : (options.quick ? 50 : 1000);
  result.legit = measure_legit(demo, workdir, creds, options, requests, result.times, progress);
  result.stack_measured = true;
  return result;
}

// --- reports -------------------------------------------------------------------------------------------------

namespace {

std::string incidents_verdict(const AttackRow& r) {
  if (!r.queue_error.empty()) return "QUEUE NOT READ: " + r.queue_error;
  if (r.matching == 1 && r.incidents.size() == 1) return "1 incident";
  return "!!! " + std::to_string(r.matching) + " incidents of this rule, " + std::to_string(r.incidents.size()) +
         " in all (expected exactly 1) !!!";
}

}  // namespace

std::string format_human(const AttackBenchResult& r) {
  std::ostringstream o;
  char buf[512];
  const MemoryFigures& m = r.memory;
  o << "Attack benchmark: the card's attack detection (card/defence), through curl / openssl / raw sockets -> gateway ->\n"
       "libpcsclite -> pcscd -> vpcd -> `scws card`; each row on a fresh card provisioned from the demo profile.\n";
  o << "Card RAM the detection costs: sizeof(card::Detector) = " << m.detector << " bytes, of which " << m.windows
    << " the sliding windows (" << m.guarded_ports << " ports x " << m.rules << " rules x " << m.buckets
    << " buckets); the incident queue object " << m.queue_object << " bytes.\n";
  o << "NVM per incident: " << m.record << " bytes; the queue for the demo capacity " << m.capacity << ": " << m.queue_nvm
    << " bytes (" << m.queue_header << " header + " << m.capacity << " x " << m.record << "); the port state " << m.port_state_nvm
    << " bytes.\n";
  if (!r.stack_measured) {
    o << "Through the real stack: not measured: " << r.stack_note << "\n";
    return o.str();
  }
  o << "Per rule: hostile attempts the gateway accepted until the port closed (answered: the card's refusal reached the\n"
       "attacker: alert, 401, 4xx/5xx, end of stream, eviction), seconds from the first attempt to the closed port; beside\n"
       "it the same attack on a card with the rule off for as long (what an attacker gets without detection):\n";
  std::snprintf(buf, sizeof buf, "  %-23s %6s %9s %8s %8s %9s | %-20s | %s\n", "rule", "port", "threshold", "attempts",
                "answered", "seconds", "rule off: answered", "incidents");
  o << buf;
  for (const AttackRow& a : r.rows) {
    char threshold[32];
    std::snprintf(threshold, sizeof threshold, "%u/%us", a.threshold, a.window_seconds);
    char ref[48];
    std::snprintf(ref, sizeof ref, "%u of %u", a.reference_answered, a.reference_attempts);
    std::snprintf(buf, sizeof buf, "  %-23s %6u %9s %8u %8u %9s | %-20s | %s\n", rule_name(a.rule).c_str(), a.port, threshold,
                  a.attempts, a.answered, a.closed ? fixed(a.seconds, 2).c_str() : "NOT CLOSED", ref,
                  incidents_verdict(a).c_str());
    o << buf;
  }
  o << "Attacks, and what closed the port:\n";
  for (const AttackRow& a : r.rows) {
    o << "  " << rule_name(a.rule) << ": " << a.attack;
    if (a.rule == static_cast<unsigned>(card::DetectionRule::kSlowClients))
      o << " (TLS handshake deadline shortened to " << kSlowClientsTlsTimeout << " s for this row)";
    o << "; " << (a.closed ? "closed: " + a.closed_by : std::string("NOT CLOSED within the row's bound"));
    if (a.unexpected > 0) o << "; !!! " << a.unexpected << " attempts got a success answer !!!";
    if (a.attempts > a.answered + a.unexpected)
      o << "; " << (a.attempts - a.answered - a.unexpected) << " accepted attempt(s) got no answer (within "
        << kAttemptBound.count() / 1000 << " s, or the end of the stream only)";
    if (a.reference_incidents > 0) o << "; !!! the rule-off card recorded " << a.reference_incidents << " incidents !!!";
    if (!a.note.empty()) o << "; " << a.note;
    o << "\n";
    for (const IncidentRecord& i : a.incidents) o << "    " << describe_incident(i) << "\n";
  }
  const LegitFigures& l = r.legit;
  o << "False positives under legitimate load (target: 0 incidents): " << l.tls_clients << " TLS clients with valid certificates and "
    << l.http_clients << " HTTP clients (/ and /secure/ with the right password), " << l.requests_per_client
    << " keep-alive requests each (curl), at the same time:\n";
  o << "  " << l.tls_ok << " TLS and " << l.http_ok << " HTTP requests answered 200, " << l.failures << " failed, in "
    << fixed(l.seconds, 1) << " s: " << fixed(l.tls_per_second, 1) << " TLS requests/s, " << fixed(l.http_per_second, 1)
    << " HTTP requests/s\n";
  if (!l.first_failure.empty()) o << "  first failure: " << l.first_failure << "\n";
  if (!l.queue_error.empty()) {
    o << "  incidents: QUEUE NOT READ: " << l.queue_error << "\n";
  } else {
    o << "  incidents: " << l.incidents.size() << (l.incidents.empty() ? " (target met)" : "   !!! above the target of 0 !!!") << "\n";
    for (const IncidentRecord& i : l.incidents) o << "    " << describe_incident(i) << "\n";
  }
  const LegitTimes& t = r.times;
  if (t.measured) {
    o << "One legitimate client on the same stack (curl): TLS connect " << fixed(t.tls_connect * 1000, 1) << " ms, handshake done at "
      << fixed(t.tls_handshake * 1000, 1) << " ms, GET / done at " << fixed(t.tls_request * 1000, 1) << " ms; plain HTTP GET / "
      << fixed(t.http_request * 1000, 1) << " ms\n";
  } else {
    o << "One legitimate client: not measured: " << t.note << "\n";
  }
  return o.str();
}

namespace {

std::string incident_json(const IncidentRecord& i) {
  std::ostringstream o;
  o << "{\"sequence\": " << i.sequence << ", \"rule\": " << json_string(rule_name(i.rule)) << ", \"port\": " << i.port
    << ", \"events\": " << i.events << ", \"threshold\": " << i.threshold << ", \"window_seconds\": " << i.window_seconds
    << ", \"last_kind\": " << json_string(card::security_event_name(static_cast<card::SecurityEventKind>(i.last_kind)))
    << ", \"detail\": " << i.detail << ", \"first_time\": " << i.first_time << ", \"last_time\": " << i.last_time
    << ", \"port_closed\": " << (i.port_closed ? "true" : "false") << ", \"iccid\": " << json_string(i.iccid) << "}";
  return o.str();
}

std::string incidents_json(const std::vector<IncidentRecord>& v) {
  std::string s = "[";
  for (std::size_t k = 0; k < v.size(); ++k) s += (k ? ", " : "") + incident_json(v[k]);
  return s + "]";
}

}  // namespace

std::string format_json(const AttackBenchResult& r) {
  std::ostringstream o;
  const MemoryFigures& m = r.memory;
  o << "{\"benchmark\": \"attack\", \"quick\": " << (r.quick ? "true" : "false")
    << ", \"targets\": {\"false_positive_incidents\": 0, \"incidents_per_attack\": 1}"
    << ", \"memory\": {\"detector_ram\": " << m.detector << ", \"windows_ram\": " << m.windows
    << ", \"incident_queue_ram\": " << m.queue_object << ", \"nvm_per_incident\": " << m.record
    << ", \"queue_capacity\": " << m.capacity << ", \"queue_nvm\": " << m.queue_nvm << ", \"port_state_nvm\": " << m.port_state_nvm
    << "}, \"stack\": {\"measured\": " << (r.stack_measured ? "true" : "false");
  if (!r.stack_measured) {
    o << ", \"note\": " << json_string(r.stack_note) << "}}\n";
    return o.str();
  }
  o << "}, \"rules\": [";
  for (std::size_t k = 0; k < r.rows.size(); ++k) {
    const AttackRow& a = r.rows[k];
    o << (k ? ", " : "") << "{\"rule\": " << json_string(rule_name(a.rule)) << ", \"port\": " << a.port
      << ", \"threshold\": " << a.threshold << ", \"window_seconds\": " << a.window_seconds
      << ", \"closed\": " << (a.closed ? "true" : "false") << ", \"closed_by\": " << json_string(a.closed_by)
      << ", \"attempts\": " << a.attempts << ", \"answered\": " << a.answered << ", \"unexpected\": " << a.unexpected
      << ", \"seconds\": " << fixed(a.seconds, 3) << ", \"matching_incidents\": " << a.matching
      << ", \"incidents\": " << incidents_json(a.incidents) << ", \"queue_error\": " << json_string(a.queue_error)
      << ", \"reference\": {\"measured\": " << (a.reference_measured ? "true" : "false")
      << ", \"attempts\": " << a.reference_attempts << ", \"answered\": " << a.reference_answered
      << ", \"seconds\": " << fixed(a.reference_seconds, 3) << ", \"incidents\": " << a.reference_incidents << "}"
      << ", \"note\": " << json_string(a.note) << "}";
  }
  const LegitFigures& l = r.legit;
  o << "], \"legitimate\": {\"tls_clients\": " << l.tls_clients << ", \"http_clients\": " << l.http_clients
    << ", \"requests_per_client\": " << l.requests_per_client << ", \"tls_ok\": " << l.tls_ok << ", \"http_ok\": " << l.http_ok
    << ", \"failures\": " << l.failures << ", \"seconds\": " << fixed(l.seconds, 3)
    << ", \"tls_requests_per_second\": " << fixed(l.tls_per_second, 2) << ", \"http_requests_per_second\": " << fixed(l.http_per_second, 2)
    << ", \"incidents\": " << incidents_json(l.incidents) << ", \"queue_read\": " << (l.queue_error.empty() ? "true" : "false")
    << ", \"queue_error\": " << json_string(l.queue_error) << "}";
  const LegitTimes& t = r.times;
  o << ", \"legitimate_client\": {\"measured\": " << (t.measured ? "true" : "false") << ", \"tls_connect\": " << fixed(t.tls_connect, 4)
    << ", \"tls_handshake\": " << fixed(t.tls_handshake, 4) << ", \"tls_request\": " << fixed(t.tls_request, 4)
    << ", \"http_request\": " << fixed(t.http_request, 4) << "}}\n";
  return o.str();
}

}  // namespace scws::sim
