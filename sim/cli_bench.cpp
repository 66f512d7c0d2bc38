// `scws bench apdu` (the APDU round-trip benchmark) and the hidden `scws bench refcard` (the
// benchmark's reference card on a vpcd port).
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "sim/bench_apdu.hpp"
#include "sim/cli.hpp"
#include "sim/vpcd_link.hpp"

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

  auto vpcd = std::make_shared<std::string>("127.0.0.1:35963");
  auto quiet = std::make_shared<bool>(false);
  CLI::App* refcard = bench->add_subcommand("refcard", "The benchmark's reference card: answers 90 00 to every APDU");
  refcard->add_option("--vpcd", *vpcd, "vpcd address HOST:PORT")->capture_default_str();
  refcard->add_flag("--quiet,-q", *quiet, "No connection or power lines on stderr");
  refcard->group("");  // hidden: started by `scws bench apdu`
  refcard->callback([vpcd, quiet, &exit_code] { exit_code = run_refcard(*vpcd, *quiet); });
}

}  // namespace scws::sim::cli
