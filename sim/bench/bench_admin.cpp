#include "sim/bench/bench_admin.hpp"

#include <algorithm>
#include <array>
#include <csignal>
#include <functional>
#include <map>
#include <memory>
#include <future>
#include <iostream>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <asio.hpp>

#include "apdu/status_word.hpp"
#include "card/admin/admin_agent.hpp"
#include "card/os/card.hpp"
#include "card/os/nvm_device.hpp"
#include "scws_config.hpp"
#include "card/defence/detection_settings.hpp"
#include "card/defence/incident_queue.hpp"
#include "sim/admin/admin_protocol.hpp"
#include "sim/admin/admin_server.hpp"
#include "sim/admin/admin_session.hpp"
#include "sim/admin/store.hpp"
#include "sim/bench/bench_http.hpp"
#include "sim/bench/bench_report.hpp"
#include "sim/host/card_transport.hpp"
#include "sim/host/emulated_uicc.hpp"
#include "sim/host/profile.hpp"
#include "sim/host/provision.hpp"
#include "sim/testing/child_process.hpp"
#include "sim/testing/pcscd_harness.hpp"
#include "sim/testing/psk_client.hpp"
#include "sim/testing/scratch_dir.hpp"
#include "tls/tls_session.hpp"

namespace scws::sim {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using report::fixed;
using report::json_string;

namespace {

using Progress = std::function<void(const std::string&)>;

double seconds_between(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

std::size_t card_ram(const Profile& profile) {
  const std::size_t region =
      profile.tls ? (profile.tls->ram != 0 ? profile.tls->ram : default_tls_ram(profile.tls->mode, profile.tls->channels)) : 0;
  return std::max<std::size_t>(SCWS_RAM_SIZE, (16384 + region + 15) / 16 * 16);
}

// The demo profile with its link on (docs/protocol.md 16.1): sessions on a new incident, short retries.
Profile admin_profile() {
  Profile p = load_profile(bundled_demo_profile());
  if (!p.tls) throw std::runtime_error("the demo profile has no [tls] port");
  if (!p.admin) p.admin = ProfileAdmin{};
  p.admin->enabled = true;
  p.admin->on_incident = true;
  p.admin->period = 0;
  p.admin->retry_count = 2;
  p.admin->retry_delay = 2;
  return p;
}

// An AdminServer on its own io_context thread with a Store; the store is used from that thread only
// once the server runs.
class ServerHost {
 public:
  ServerHost(const std::string& where, bool verbose) : store_(admin::open_store(where)) {
    admin::AdminServerOptions o;
    o.port = 0;
    if (verbose) o.log = [](const std::string& line) { std::cerr << "bench: admin server: " << line << std::endl; };
    server_ = std::make_unique<admin::AdminServer>(io_, *store_, std::move(o));
  }
  ~ServerHost() { stop(); }
  ServerHost(const ServerHost&) = delete;
  ServerHost& operator=(const ServerHost&) = delete;

  void enrol(const AdminEnrolment& e) { store_->enrol(e.iccid, e.psk_identity, admin::Blob(e.psk_key.begin(), e.psk_key.end())); }
  u16 start() {
    server_->start();
    work_.emplace(asio::make_work_guard(io_));
    thread_ = std::thread([this] { io_.run(); });
    return server_->port();
  }
  // The server's counters, read on its thread.
  admin::AdminServerStats stats() {
    std::promise<admin::AdminServerStats> p;
    auto f = p.get_future();
    asio::post(io_, [&] { p.set_value(server_->stats()); });
    return f.get();
  }
  void stop() {
    if (!thread_.joinable()) return;
    asio::post(io_, [this] {
      server_->stop();
      work_.reset();
    });
    thread_.join();
  }
  admin::Store& store() { return *store_; }

 private:
  std::unique_ptr<admin::Store> store_;
  asio::io_context io_;
  std::unique_ptr<admin::AdminServer> server_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::thread thread_;
};

std::map<std::string, std::string> to_server(const Profile& p, u16 port) {
  return {{p.admin->server + ":" + std::to_string(p.admin->port), "127.0.0.1:" + std::to_string(port)}};
}

// What the gateway's log tells of the card's ports and client channels, with the exchange counter.
struct GatewayWatch {
  std::mutex m;
  std::optional<Clock::time_point> tls_stopped;
  std::optional<Clock::time_point> client_open, client_closed;
  u64 apdus_open = 0, apdus_closed = 0;

  void attach(GatewayRunner& runner, u16 tls_port) {
    CountingTransport& counter = runner.counter();
    runner.set_log_hook([this, &counter, tls_port](const std::string& line) {
      std::lock_guard lock(m);
      if (line.rfind("stopped listening on ", 0) == 0 && line.find("(card port " + std::to_string(tls_port)) != std::string::npos &&
          !tls_stopped)
        tls_stopped = Clock::now();
      if (line.find(" connecting to ") != std::string::npos && line.find("(client") != std::string::npos && !client_open) {
        client_open = Clock::now();
        apdus_open = counter.count();
      }
      if (line.find(" closed (client") != std::string::npos && client_open && !client_closed) {
        client_closed = Clock::now();
        apdus_closed = counter.count();
      }
    });
  }
  template <typename F>
  auto read(F f) {
    std::lock_guard lock(m);
    return f(*this);
  }
};

// One foreign-CA handshake (as `scws bench attack` makes them); true when the connection was refused.
bool foreign_handshake(const fs::path& creds, u16 port) {
  const auto out = ChildProcess::run({"/usr/bin/openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(port), "-tls1_2",
                                      "-no-CApath", "-no-CAstore", "-CAfile", (creds / "ca.pem").string(), "-cert",
                                      (creds / "foreign-client.pem").string(), "-key", (creds / "foreign-client.key").string()},
                                     std::string(), ChildProcess::Stderr::kWithStdout, 5000ms);
  return out.out.find("Connection refused") != std::string::npos || out.out.find("errno=111") != std::string::npos;
}

// A raw socket sends bytes that are no TLS record (RFC 5246 6.2.1) and reads to the end (bounded).
void tls_garbage(u16 port) {
  bool refused = false;
  const int fd = connect_loopback(port, 5000ms, refused);
  if (refused) return;
  const std::string junk = "this is not a TLS record, scws bench admin\r\n\r\n";
  (void)::send(fd, junk.data(), junk.size(), MSG_NOSIGNAL);
  char buf[512];
  while (::recv(fd, buf, sizeof buf, 0) > 0) {
  }
  ::close(fd);
}

// --- 1 and 2: the real stack ---------------------------------------------------------------------------

void measure_stack(const AdminBenchOptions& options, const fs::path& workdir, AdminStackFigures& f, const Progress& progress) {
  Profile profile = admin_profile();
  const u16 tls_port = profile.tls->port;
  const fs::path dir = workdir / "stack";
  const fs::path creds = workdir / "credentials";
  fs::create_directories(dir);
  const ProvisionReport rep = provision_file(profile, dir / "card.img", SCWS_NVM_SIZE, true, creds);
  if (!rep.admin) throw std::runtime_error("provisioning wrote no admin link");

  ServerHost server((dir / "admin.sqlite").string(), options.verbose);
  server.enrol(*rep.admin);
  const u16 server_port = server.start();
  progress("admin server on 127.0.0.1:" + std::to_string(server_port) + " (SQLite)");

  PcscStack stack({dir, "scws bench admin"});
  stack.start_card(options.scws, dir / "card.img", {"--quiet", "--ram", std::to_string(card_ram(profile))});
  PcscTransport transport(stack.pcscd().reader(0));
  GatewayRunner runner(transport, options.verbose, "stack", {tls_port, profile.http_port}, to_server(profile, server_port));
  GatewayWatch watch;
  watch.attach(runner, tls_port);
  try {
    runner.start(profile.tls->channels, 30000ms);
  } catch (const std::runtime_error& e) {
    throw stack.failure(e.what());
  }
  const u16 local = *runner.local_port(tls_port);
  const u16 http_local = *runner.local_port(profile.http_port);
  wait_quiet(runner.counter());

  progress("foreign-CA handshakes on card port " + std::to_string(tls_port));
  const auto t0 = Clock::now();
  // The server's store is watched from the first attempt on: an attempt the gateway accepted while
  // the card was closing its port can wait for its bound while the session already runs.
  std::optional<Clock::time_point> stored;
  std::jthread stored_watch([&] {
    poll_until(
        [&] {
          if (server.stats().incidents_stored == 0) return false;
          stored = Clock::now();
          return true;
        },
        90000ms, 5ms);
  });
  for (unsigned i = 0; i < 4 * kAdminBenchAttempts; ++i) {
    if (watch.read([](GatewayWatch& w) { return w.tls_stopped.has_value(); })) break;
    const bool refused = foreign_handshake(creds, local);
    if (refused) break;
    ++f.attempts;
  }
  poll_until([&] { return watch.read([](GatewayWatch& w) { return w.tls_stopped.has_value(); }); }, 10000ms, 10ms);
  if (const auto closed = watch.read([](GatewayWatch& w) { return w.tls_stopped; })) {
    f.closed = true;
    f.seconds_closed = seconds_between(t0, *closed);
  }
  stored_watch.join();
  if (stored) {
    f.stored = true;
    f.seconds_stored = seconds_between(t0, *stored);
  }
  poll_until([&] { return watch.read([](GatewayWatch& w) { return w.client_closed.has_value(); }); }, 30000ms, 10ms);
  watch.read([&](GatewayWatch& w) {
    if (w.client_open && w.client_closed) {
      f.session_measured = true;
      f.session_apdus = w.apdus_closed - w.apdus_open;
      f.session_seconds = seconds_between(*w.client_open, *w.client_closed);
    }
    return 0;
  });
  const admin::AdminServerStats s = server.stats();
  f.server_sessions = s.sessions;
  f.server_requests = s.requests;
  f.server_incidents = s.incidents_stored;

  // The reference: one plain GET through the same gateway, its connection closed by the card.
  wait_quiet(runner.counter());
  {
    BenchHttpClient client(http_local);
    const u64 before = runner.counter().count();
    const auto g0 = Clock::now();
    const BenchHttpClient::Response r = client.get("/", false);
    f.get_seconds = seconds_between(g0, Clock::now());
    wait_quiet(runner.counter());
    f.get_apdus = runner.counter().count() - before;
    f.get_measured = r.status == 200;
    if (!f.get_measured) f.note = "the reference GET answered " + std::to_string(r.status);
  }
  f.measured = true;
  runner.stop();
  stack.stop();
  server.stop();
}

// --- 3: card RAM, in process ----------------------------------------------------------------------------

void measure_ram(const AdminBenchOptions& options, const fs::path& workdir, AdminRamFigures& f, const Progress& progress) {
  Profile profile = admin_profile();
  const u16 tls_port = profile.tls->port;
  std::vector<u8> storage(SCWS_NVM_SIZE);
  card::RamNvmDevice nvm(MutableBytes(storage.data(), storage.size()));
  const ProvisionReport rep = provision_device(profile, nvm);
  if (!rep.admin) throw std::runtime_error("provisioning wrote no admin link");
  fs::create_directories(workdir / "ram");
  ServerHost server((workdir / "ram" / "admin.sqlite").string(), options.verbose);
  server.enrol(*rep.admin);
  const u16 server_port = server.start();

  EmulatedUicc uicc(nvm, card_ram(profile));
  DirectTransport direct(uicc.card());
  GatewayRunner runner(direct, options.verbose, "in-process", {tls_port, profile.http_port}, to_server(profile, server_port));
  std::mutex m;
  AdminRamFigures seen;  // under m, written on the gateway thread (the card's only thread)
  runner.counter().after_exchange = [&] {
    const card::RamReport ram = uicc.card().ram_report();
    const card::AdminAgent& agent = uicc.agent();
    std::lock_guard lock(m);
    seen.arena_capacity = ram.capacity;
    if (agent.sessions_started() == 0) seen.high_water_before = ram.high_water;
    seen.high_water_after = ram.high_water;
    seen.sessions_completed = agent.sessions_completed();
    seen.tls_peak = agent.last_tls_ram();
  };
  runner.start(profile.tls->channels, 10000ms);
  const u16 local = *runner.local_port(tls_port);
  wait_quiet(runner.counter());
  progress("in-process card: records that are no TLS on card port " + std::to_string(tls_port));
  const unsigned threshold = profile.detection.rule(card::DetectionRule::kTlsBadRecords).threshold;
  for (unsigned i = 0; i < threshold; ++i) tls_garbage(local);
  const bool done = poll_until(
      [&] {
        std::lock_guard lock(m);
        return seen.sessions_completed > 0;
      },
      60000ms, 10ms);
  wait_quiet(runner.counter());
  runner.stop();
  server.stop();
  {
    std::lock_guard lock(m);
    f = seen;
  }
  f.session_arena = card::AdminAgent::session_ram();
  f.psk_session_budget = tls::kPskSessionBudget;
  f.measured = done;
  if (!done) f.note = "no admin session completed within 60 s";
}


// --- 4: incidents stored per second ---------------------------------------------------------------------

constexpr const char* kRateIccid = "8988211000000000017";      // the demo card's (profiles/demo/card.toml)
constexpr const char* kDirectIccid = "8988211000000000025";    // the reference rows' card

std::array<u8, 10> iccid_bcd(const std::string& digits) {  // TS 102 221 13.2: swapped nibbles, F filler
  std::array<u8, 10> b{};
  b.fill(0xFF);
  for (std::size_t i = 0; i < digits.size() && i < 20; ++i) {
    const u8 d = static_cast<u8>(digits[i] - '0');
    u8& byte = b[i / 2];
    byte = (i % 2 == 0) ? static_cast<u8>((byte & 0xF0) | d) : static_cast<u8>((byte & 0x0F) | (d << 4));
  }
  return b;
}

// One 60-byte record as the card's queue holds it (docs/protocol.md 15.2).
admin::Blob incident_record(const std::string& iccid, u32 sequence) {
  card::Incident in;
  in.sequence = sequence;
  in.iccid = iccid_bcd(iccid);
  in.rule = card::DetectionRule::kTlsHandshakeFailures;
  in.port = 10443;
  in.events = 5;
  in.threshold = 5;
  in.window_seconds = 60;
  in.first_time = 1764000000 + sequence;
  in.last_time = 1764000030 + sequence;
  in.time_from_terminal = true;
  admin::Blob out(card::IncidentQueue::kRecordSize);
  card::IncidentQueue::serialize(in, MutableBytes(out.data(), out.size()));
  return out;
}

// The report of incidents first..last (docs/protocol.md 16.3): summary, settings, port states, records.
std::string report_body(const std::string& iccid, u32 first, u32 last) {
  admin::Blob summary(admin::kSummarySize, 0);
  summary[0] = 32;
  summary[1] = static_cast<u8>(last - first + 1);
  auto put = [&](std::size_t at, u32 v) {
    for (int i = 0; i < 4; ++i) summary[at + static_cast<std::size_t>(i)] = static_cast<u8>(v >> (24 - 8 * i));
  };
  put(4, first);
  put(8, last);
  put(12, last + 1);
  admin::Blob settings(card::DetectionSettings::kEncodedSize);
  card::encode(card::default_detection_settings(), MutableBytes(settings.data(), settings.size()));
  const admin::Blob ports{1, 0x28, 0xCB, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};  // 10443 open
  std::vector<admin::Blob> records;
  for (u32 s = first; s <= last; ++s) records.push_back(incident_record(iccid, s));
  return admin::build_report(1, summary, settings, ports, records);
}

std::string post(const std::string& target, std::string_view type, const std::string& body, const std::string& iccid) {
  return "POST " + target + " HTTP/1.1\r\nHost: admin.scws.test\r\nX-Admin-Protocol: " + std::string(admin::kProtocol) +
         "\r\nX-Admin-From: " + std::string(admin::kFromPrefix) + iccid + "\r\nContent-Type: " + std::string(type) +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// `sessions` card sessions of `per_session` new incidents each, as the card runs them: a TLS-PSK
// handshake, the report, every script answered with success, until 204.
void post_sessions(u16 port, const admin::Blob& key, unsigned sessions, unsigned per_session) {
  const std::string iccid = kRateIccid;
  u32 next = 1;
  for (unsigned k = 0; k < sessions; ++k) {
    admin::testing::PskClient client("127.0.0.1", port, std::string(admin::kIdentityPrefix) + iccid, key);
    const u32 first = next, last = next + per_session - 1;
    next = last + 1;
    admin::testing::HttpAnswer a = client.request(post("/scws/admin", admin::kReportType, report_body(iccid, first, last), iccid));
    for (int round = 0; a.status == 200 && round < 64; ++round) {
      const std::vector<admin::Blob> apdus = admin::parse_script(a.body);
      const std::vector<admin::RApdu> ok(apdus.size(), admin::RApdu{{}, apdu::to_u16(apdu::StatusWord::kOk)});
      a = client.request(post(a.header("x-admin-next-uri"), admin::kResponseType,
                              admin::build_response_script(static_cast<unsigned>(apdus.size()), ok), iccid));
    }
    if (a.status != 204) throw std::runtime_error("session " + std::to_string(k) + " ended with HTTP " + std::to_string(a.status));
  }
}

// The reference: the same rows straight into the store (no TLS, no HTTP, no session bookkeeping).
double insert_direct(admin::Store& store, unsigned count) {
  std::vector<admin::IncidentRecord> rows;
  for (u32 s = 1; s <= count; ++s) {
    const admin::Blob rec = incident_record(kDirectIccid, s);
    const card::Incident in = card::IncidentQueue::parse(Bytes(rec.data(), rec.size())).value();
    admin::IncidentRecord r = admin::incident_row(kDirectIccid, in, rec, admin::now_seconds(), "bench-direct");
    rows.push_back(std::move(r));
  }
  const auto t0 = Clock::now();
  for (const admin::IncidentRecord& r : rows) store.add_incident(r);
  return seconds_between(t0, Clock::now());
}

void measure_rate(const std::string& where, StoreRateRow& row, bool verbose) {
  const admin::Blob key(16, 0x5A);
  ServerHost server(where, verbose);
  server.store().enrol(kRateIccid, std::string(admin::kIdentityPrefix) + kRateIccid, key);
  server.store().enrol(kDirectIccid, std::string(admin::kIdentityPrefix) + kDirectIccid, key);
  const unsigned count = row.sessions * row.incidents_per_session;
  row.direct_seconds = insert_direct(server.store(), count);
  row.direct_per_second = row.direct_seconds > 0 ? count / row.direct_seconds : 0;
  const u16 port = server.start();
  const auto t0 = Clock::now();
  post_sessions(port, key, row.sessions, row.incidents_per_session);
  row.server_seconds = seconds_between(t0, Clock::now());
  row.server_stored = server.stats().incidents_stored;
  row.server_per_second = row.server_seconds > 0 ? static_cast<double>(row.server_stored) / row.server_seconds : 0;
  server.stop();
  row.measured = true;
}

std::optional<fs::path> pg_program(const std::string& name) {
  if (auto p = find_program(name)) return p;
  for (const char* version : {"17", "16", "15", "14"}) {
    const fs::path p = fs::path("/usr/lib/postgresql") / version / "bin" / name;
    if (fs::exists(p)) return p;
  }
  return std::nullopt;
}

// A loopback port nobody listens on now (PostgreSQL takes it for its socket's name only).
u16 free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("no free loopback port");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

// A throwaway PostgreSQL cluster (initdb in a temporary folder, trust authentication on a unix socket
// in that folder only); as root its programs run as the postgres user.
class Postgres {
 public:
  Postgres(const fs::path& initdb, const fs::path& postgres) {
    char tmpl[] = "/tmp/scws-bench-pg-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    std::vector<std::string> as;
    if (::geteuid() == 0) {
      as = {"runuser", "-u", "postgres", "--"};
      const auto chown = ChildProcess::run({"chown", "postgres:postgres", dir_.string()}, std::nullopt, ChildProcess::Stderr::kDiscard, 10s);
      if (chown.exit_code != 0) throw std::runtime_error("cannot give " + dir_.string() + " to the postgres user");
    }
    std::vector<std::string> init = as;
    for (const std::string& a : {initdb.string(), std::string("-D"), (dir_ / "data").string(), std::string("-A"), std::string("trust"),
                                 std::string("-U"), std::string("scws"), std::string("--no-sync"), std::string("-E"), std::string("UTF8")})
      init.push_back(a);
    const auto out = ChildProcess::run(init, std::nullopt, ChildProcess::Stderr::kWithStdout, 120s);
    if (out.exit_code != 0) throw std::runtime_error("initdb failed: " + out.out.substr(0, 400));
    port_ = free_port();
    std::vector<std::string> run = as;
    for (const std::string& a : {postgres.string(), std::string("-D"), (dir_ / "data").string(), std::string("-k"), dir_.string(),
                                 std::string("-p"), std::to_string(port_), std::string("-c"), std::string("listen_addresses="),
                                 std::string("-c"), std::string("fsync=off")})
      run.push_back(a);
    process_.emplace(run, fs::temp_directory_path() / (dir_.filename().string() + ".log"));
    if (!poll_until([&] { return process_->log_text().find("ready to accept connections") != std::string::npos || !process_->alive(); },
                    30000ms, 20ms) ||
        !process_->alive())
      throw std::runtime_error("postgres did not start: " + process_->log_text().substr(0, 400));
  }
  ~Postgres() {
    if (process_) {
      process_->stop(20000ms);  // SIGTERM: a smart shutdown
      std::error_code ec;
      fs::remove(process_->log(), ec);
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  Postgres(const Postgres&) = delete;
  Postgres& operator=(const Postgres&) = delete;
  [[nodiscard]] std::string url() const {
    return "postgresql://scws@/postgres?host=" + dir_.string() + "&port=" + std::to_string(port_);
  }

 private:
  fs::path dir_;
  u16 port_ = 0;
  std::optional<ChildProcess> process_;
};

void measure_rates(const AdminBenchOptions& options, const fs::path& workdir, std::vector<StoreRateRow>& rows,
                   const Progress& progress) {
  const unsigned sessions = options.quick ? 20 : 200;
  const unsigned per_session = 10;
  StoreRateRow sqlite;
  sqlite.store = "SQLite";
  sqlite.sessions = sessions;
  sqlite.incidents_per_session = per_session;
  progress("store rate: SQLite, " + std::to_string(sessions) + " sessions x " + std::to_string(per_session));
  fs::create_directories(workdir / "rate");
  measure_rate((workdir / "rate" / "admin.sqlite").string(), sqlite, options.verbose);
  rows.push_back(sqlite);

  StoreRateRow pg;
  pg.store = "PostgreSQL";
  pg.sessions = sessions;
  pg.incidents_per_session = per_session;
  const auto initdb = pg_program("initdb");
  const auto postgres = pg_program("postgres");
  if (!initdb || !postgres) {
    pg.note = "PostgreSQL's initdb and postgres programs are not installed (scripts/install-deps.sh installs postgresql)";
  } else {
    try {
      progress("store rate: PostgreSQL (initdb in a temporary folder)");
      Postgres cluster(*initdb, *postgres);
      measure_rate(cluster.url(), pg, options.verbose);
    } catch (const std::exception& e) {
      pg.note = e.what();
    }
  }
  rows.push_back(pg);
}

}  // namespace

AdminBenchResult run_admin_bench(const AdminBenchOptions& options) {
  auto progress = [&](const std::string& line) {
    if (options.verbose) std::cerr << "bench: " << line << std::endl;
  };
  AdminBenchResult result;
  result.quick = options.quick;
  const bool root = enter_private_pcscd_namespace_for_figures(result.stack.note);
  ::signal(SIGPIPE, SIG_IGN);
  const ScratchDir scratch("scws-bench-admin", options.workdir, options.keep_workdir);
  const fs::path& workdir = scratch.path();
  if (root) measure_stack(options, workdir, result.stack, progress);
  measure_ram(options, workdir, result.ram, progress);
  measure_rates(options, workdir, result.stores, progress);
  return result;
}

// --- reports ----------------------------------------------------------------------------------------------

std::string format_human(const AdminBenchResult& r) {
  std::ostringstream o;
  o << "Admin benchmark: incidents reported by the card's admin agent to an in-process `scws admin` server (TLS-PSK,\n"
       "HTTP, docs/protocol.md section 16), through the card's client channel and the gateway's connect map.\n";
  const AdminStackFigures& s = r.stack;
  o << "Through the real stack (openssl -> gateway -> libpcsclite -> pcscd -> vpcd -> `scws card`; server on SQLite):\n";
  if (!s.measured) {
    o << "  not measured: " << s.note << "\n";
  } else {
    o << "  incident stored at the server: " << (s.stored ? fixed(s.seconds_stored, 3) + " s" : std::string("NOT STORED within 90 s"))
      << " after the first of " << s.attempts << " foreign-CA handshakes; reference: port closed "
      << (s.closed ? fixed(s.seconds_closed, 3) + " s" : std::string("NOT CLOSED")) << " after it\n";
    o << "  admin session with one incident: ";
    if (s.session_measured)
      o << s.session_apdus << " APDUs, " << fixed(s.session_seconds, 3) << " s (client channel open to closed; server: "
        << s.server_sessions << " session(s), " << s.server_requests << " request(s), " << s.server_incidents << " incident(s))";
    else
      o << "not measured: no client channel opened and closed";
    o << "; reference: one plain HTTP GET / ";
    if (s.get_measured)
      o << s.get_apdus << " APDUs, " << fixed(s.get_seconds, 3) << " s\n";
    else
      o << "not measured: " << s.note << "\n";
  }
  const AdminRamFigures& m = r.ram;
  o << "Card RAM of the client session (in process: EmulatedUicc, the same gateway and server):\n";
  if (!m.measured) {
    o << "  not measured: " << m.note << "\n";
  } else {
    o << "  TLS region peak " << m.tls_peak << " bytes + HTTP state " << m.session_arena << " bytes of the arena; arena high-water "
      << m.high_water_before << " bytes before the session, " << m.high_water_after << " after (capacity " << m.arena_capacity
      << "); reference: one PSK server session of the TLS port " << m.psk_session_budget << " bytes (tls::kPskSessionBudget)\n";
  }
  for (const StoreRateRow& row : r.stores) {
    o << "Incidents stored per second, " << row.store << ": ";
    if (!row.measured) {
      o << "not measured: " << row.note << "\n";
      continue;
    }
    o << row.server_stored << " incidents (" << row.sessions << " sessions x " << row.incidents_per_session << ") through the server in "
      << fixed(row.server_seconds, 3) << " s: " << fixed(row.server_per_second, 1) << " incidents/s; reference: straight into the store "
      << fixed(row.direct_seconds, 3) << " s: " << fixed(row.direct_per_second, 1) << " incidents/s\n";
  }
  return o.str();
}

std::string format_json(const AdminBenchResult& r) {
  std::ostringstream o;
  const AdminStackFigures& s = r.stack;
  const AdminRamFigures& m = r.ram;
  auto b = [](bool v) { return v ? "true" : "false"; };
  o << "{\"benchmark\": \"admin\", \"quick\": " << b(r.quick) << ", \"stack\": {\"measured\": " << b(s.measured)
    << ", \"note\": " << json_string(s.note) << ", \"attempts\": " << s.attempts << ", \"stored\": " << b(s.stored)
    << ", \"seconds_to_stored\": " << fixed(s.seconds_stored, 3) << ", \"closed\": " << b(s.closed)
    << ", \"seconds_to_closed\": " << fixed(s.seconds_closed, 3) << ", \"session\": {\"measured\": " << b(s.session_measured)
    << ", \"apdus\": " << s.session_apdus << ", \"seconds\": " << fixed(s.session_seconds, 3) << "}, \"get\": {\"measured\": "
    << b(s.get_measured) << ", \"apdus\": " << s.get_apdus << ", \"seconds\": " << fixed(s.get_seconds, 3) << "}}"
    << ", \"ram\": {\"measured\": " << b(m.measured) << ", \"tls_peak\": " << m.tls_peak << ", \"session_arena\": " << m.session_arena
    << ", \"high_water_before\": " << m.high_water_before << ", \"high_water_after\": " << m.high_water_after
    << ", \"psk_session_budget\": " << m.psk_session_budget << "}, \"stores\": [";
  for (std::size_t k = 0; k < r.stores.size(); ++k) {
    const StoreRateRow& row = r.stores[k];
    o << (k ? ", " : "") << "{\"store\": " << json_string(row.store) << ", \"measured\": " << b(row.measured)
      << ", \"note\": " << json_string(row.note) << ", \"incidents\": " << row.server_stored
      << ", \"server_per_second\": " << fixed(row.server_per_second, 2) << ", \"direct_per_second\": " << fixed(row.direct_per_second, 2)
      << "}";
  }
  o << "]}\n";
  return o.str();
}

}  // namespace scws::sim
