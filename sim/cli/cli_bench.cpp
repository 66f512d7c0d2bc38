// `scws bench apdu` (the APDU round-trip benchmark), `scws bench http` (the SCWS figures),
// `scws bench attack` (the attack detection's figures), `scws bench admin` (incident reporting's figures) and the hidden `scws bench refcard` (the benchmarks' reference card on a vpcd port).
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>

#include "sim/bench/bench_admin.hpp"
#include "sim/bench/bench_apdu.hpp"
#include "sim/bench/bench_attack.hpp"
#include "sim/bench/bench_http.hpp"
#include "sim/cli/cli.hpp"
#include "sim/host/vpcd_link.hpp"

namespace scws::sim::cli {
namespace {

struct BenchApduArgs {
  double seconds = 3;
  u64 apdus = 0;
  bool json = false;
  bool verbose = false;
  std::string workdir;
  bool keep = false;
};

std::filesystem::path self_executable() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) throw std::runtime_error("cannot find the scws executable (/proc/self/exe)");
  return p;
}

int run_bench_apdu(const BenchApduArgs& args) {
  ApduBenchSetup setup;
  setup.scws = self_executable();
  setup.workdir = args.workdir;
  setup.keep_workdir = args.keep || !args.workdir.empty();
  setup.verbose = args.verbose;
  ApduBenchOptions options;
  options.duration = std::chrono::milliseconds(static_cast<long>(args.seconds * 1000));
  options.apdus = args.apdus;
  ApduBenchResult result = run_apdu_bench(setup, options);
  std::cout << (args.json ? format_json(result) : format_human(result)) << std::flush;
  return result.ours.failures == 0 && result.reference.failures == 0 ? kExitOk : kExitFailure;
}

struct BenchHttpArgs {
  double duration = 3;
  std::vector<u32> clients{1, 7};
  std::size_t ram = 0;
  std::string json;
  bool no_stack = false;
  bool verbose = false;
  std::string workdir;
  bool keep = false;
};

int run_bench_http(const BenchHttpArgs& args) {
  HttpBenchOptions options;
  options.duration = std::chrono::milliseconds(static_cast<long>(args.duration * 1000));
  options.clients = args.clients;
  options.stack = !args.no_stack;
  options.ram_bytes = args.ram;
  options.scws = self_executable();
  options.workdir = args.workdir;
  options.keep_workdir = args.keep || !args.workdir.empty();
  options.verbose = args.verbose;
  HttpBenchResult result = run_http_bench(options);
  std::cout << format_human(result) << std::flush;
  if (!args.json.empty()) {
    std::ofstream out(args.json);
    out << format_json(result);
    if (!out) throw std::runtime_error("cannot write " + args.json);
  }
  u64 failures = 0;
  for (const auto& rows : {result.in_process, result.stack})
    for (const ThroughputRow& row : rows) failures += row.failures;
  return failures == 0 ? kExitOk : kExitFailure;
}

struct BenchAttackArgs {
  bool quick = false;
  unsigned requests = 0;
  bool json = false;
  bool verbose = false;
  std::string workdir;
  bool keep = false;
};

int run_bench_attack(const BenchAttackArgs& args) {
  AttackBenchOptions options;
  options.quick = args.quick;
  options.requests = args.requests;
  options.scws = self_executable();
  options.workdir = args.workdir;
  options.keep_workdir = args.keep || !args.workdir.empty();
  options.verbose = args.verbose;
  const AttackBenchResult result = run_attack_bench(options);
  std::cout << (args.json ? format_json(result) : format_human(result)) << std::flush;
  return kExitOk;  // figures, not verdicts
}

struct BenchAdminArgs {
  bool quick = false;
  bool json = false;
  bool verbose = false;
  std::string workdir;
  bool keep = false;
};

int run_bench_admin(const BenchAdminArgs& args) {
  AdminBenchOptions options;
  options.quick = args.quick;
  options.scws = self_executable();
  options.workdir = args.workdir;
  options.keep_workdir = args.keep || !args.workdir.empty();
  options.verbose = args.verbose;
  const AdminBenchResult result = run_admin_bench(options);
  std::cout << (args.json ? format_json(result) : format_human(result)) << std::flush;
  return kExitOk;  // figures, not verdicts
}

int run_refcard(const std::string& vpcd, bool quiet) {
  StopSignal stop;
  stop_on_signals(stop);
  ReferenceCard card;
  VpcdLinkOptions options;
  options.vpcd = parse_host_port(vpcd);
  VpcdLink link(card, options, stop);
  if (!quiet) link.set_logger([](std::string_view line) { std::cerr << "refcard: " << line << std::endl; });
  link.run();
  return kExitOk;
}

}  // namespace

void add_bench_tls_command(CLI::App& bench, int& exit_code);  // sim/cli/cli_bench_tls.cpp

void add_bench_command(CLI::App& app, int& exit_code) {
  CLI::App* bench = app.add_subcommand("bench", "Benchmarks, with figures as ratios against reference peers measured in the same run");
  bench->require_subcommand(1);

  auto args = std::make_shared<BenchApduArgs>();
  CLI::App* apdu = bench->add_subcommand(
      "apdu", "APDU round trips through libpcsclite, a private pcscd and vpcd: our card against a reference card");
  apdu->add_option("--seconds", args->seconds, "Measuring time")->capture_default_str()->check(CLI::Range(0.1, 3600.0));
  apdu->add_option("--apdus", args->apdus, "Stop after this many APDUs per card instead (0 = use --seconds)");
  apdu->add_flag("--json", args->json, "Print the figures as one JSON object");
  apdu->add_flag("--verbose,-v", args->verbose, "Progress lines on stderr");
  apdu->add_option("--workdir", args->workdir, "Keep the card image, logs and pcscd configuration here");
  apdu->add_flag("--keep", args->keep, "Keep the temporary working directory");
  apdu->footer(
      "Starts its own pcscd (inside a private mount namespace when run as root), `scws card` with a fresh image on\n"
      "vpcd slot 0 and a reference card answering 90 00 on slot 1, sends STATUS (80 F2 00 0C) to both in\n"
      "interleaved rounds, and stops everything it started.");
  apdu->callback([args, &exit_code] { exit_code = run_bench_apdu(*args); });

  auto http_args = std::make_shared<BenchHttpArgs>();
  CLI::App* http = bench->add_subcommand(
      "http", "The SCWS over BIP: APDUs per GET, card RAM, and requests per second through a private pcscd");
  http->add_option("--duration", http_args->duration, "Seconds per throughput row (and for the APDU floor)")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
  http->add_option("--clients", http_args->clients, "Concurrent clients per row (1..7)")
      ->delimiter(',')
      ->capture_default_str()
      ->check(CLI::Range(1, 7));
  http->add_option("--ram", http_args->ram, "Bytes of card RAM (default: the build's card_ram_size)")
      ->check(CLI::Range(2048, 16 * 1024 * 1024));
  http->add_option("--json", http_args->json, "Also write the figures as one JSON object to this file");
  http->add_flag("--no-stack", http_args->no_stack, "Only the in-process figures (no pcscd)");
  http->add_flag("--verbose,-v", http_args->verbose, "Progress lines on stderr");
  http->add_option("--workdir", http_args->workdir, "Keep the profile, card image, logs and pcscd configuration here");
  http->add_flag("--keep", http_args->keep, "Keep the temporary working directory");
  http->footer(
      "APDUs per GET (pages of 100 B, 1 KiB, 16 KiB) and the card's RAM high-water mark are measured in process.\n"
      "Requests per second for the 1 KiB page go through libpcsclite, a private pcscd (needs root: a private mount\n"
      "namespace), vpcd and `scws card`, beside the APDU floor of `scws bench apdu` measured in the same run.");
  http->callback([http_args, &exit_code] { exit_code = run_bench_http(*http_args); });

  add_bench_tls_command(*bench, exit_code);

  auto attack_args = std::make_shared<BenchAttackArgs>();
  CLI::App* attack = bench->add_subcommand(
      "attack", "The attack detection: attempts and seconds until each rule closes its port, false positives, RAM and NVM");
  attack->add_flag("--quick", attack_args->quick, "Fewer legitimate requests (50 per client instead of 1000)");
  attack->add_option("--requests", attack_args->requests, "Keep-alive requests per legitimate client (overrides --quick)")
      ->check(CLI::Range(1, 100000));
  attack->add_flag("--json", attack_args->json, "Print the figures as one JSON object");
  attack->add_flag("--verbose,-v", attack_args->verbose, "Progress lines on stderr");
  attack->add_option("--workdir", attack_args->workdir, "Keep the card images, credentials and logs here");
  attack->add_flag("--keep", attack_args->keep, "Keep the temporary working directory");
  attack->footer(
      "Each rule of the demo profile's [detection] is attacked on a fresh card through a private pcscd (needs root: a\n"
      "private mount namespace), vpcd, `scws card` and the gateway, with openssl s_client, curl or raw sockets, until\n"
      "the port closes; the incident queue is then read through PC/SC (VERIFY ADM1, admin applet 80 50 / 80 52).\n"
      "Beside each row: the same attack on a card with the rule off. Then 7 TLS + 2 HTTP keep-alive clients (curl)\n"
      "at once on a guarded card: the incidents found afterwards (target: none).");
  attack->callback([attack_args, &exit_code] { exit_code = run_bench_attack(*attack_args); });

  auto admin_args = std::make_shared<BenchAdminArgs>();
  CLI::App* admin = bench->add_subcommand(
      "admin", "Incident reporting to the admin server: seconds to the stored incident, APDUs per session, card RAM, store rate");
  admin->add_flag("--quick", admin_args->quick, "A shorter run (fewer reports for the store rate)");
  admin->add_flag("--json", admin_args->json, "Print the figures as one JSON object");
  admin->add_flag("--verbose,-v", admin_args->verbose, "Progress lines on stderr");
  admin->add_option("--workdir", admin_args->workdir, "Keep the card image, credentials, databases and logs here");
  admin->add_flag("--keep", admin_args->keep, "Keep the temporary working directory");
  admin->footer(
      "A card with its [admin] link on is attacked (foreign-CA handshakes) through a private pcscd (needs root: a private\n"
      "mount namespace), vpcd, `scws card` and the gateway, whose connect map sends the card's client channel to an\n"
      "in-process admin server (SQLite): seconds to the stored incident beside seconds to the closed port, APDUs and\n"
      "seconds of the session beside one plain GET. Card RAM of the session in process, beside one PSK server session.\n"
      "Incidents stored per second through the server (SQLite, PostgreSQL when installed) beside the store alone.");
  admin->callback([admin_args, &exit_code] { exit_code = run_bench_admin(*admin_args); });

  auto vpcd = std::make_shared<std::string>("127.0.0.1:35963");
  auto quiet = std::make_shared<bool>(false);
  CLI::App* refcard = bench->add_subcommand("refcard", "The benchmark's reference card: answers 90 00 to every APDU");
  refcard->add_option("--vpcd", *vpcd, "vpcd address HOST:PORT")->capture_default_str();
  refcard->add_flag("--quiet,-q", *quiet, "No connection or power lines on stderr");
  refcard->group("");  // hidden: started by `scws bench apdu`
  refcard->callback([vpcd, quiet, &exit_code] { exit_code = run_refcard(*vpcd, *quiet); });
}

}  // namespace scws::sim::cli
