// `scws bench tls` (sim/bench/bench_tls.hpp): the card's RAM per TLS session beside the reference peers,
// and handshake rates. Registered under `scws bench` by sim/cli/cli_bench.cpp.
#include <fstream>
#include <iostream>
#include <memory>
#include <string>

#include "sim/bench/bench_tls.hpp"
#include "sim/cli/cli.hpp"

namespace scws::sim::cli {

namespace {

struct BenchTlsArgs {
  unsigned runs = 0;  // 0: 100, or 10 with --quick
  bool quick = false;
  std::string json;
  bool no_peers = false;
  bool no_pcscd = false;
  unsigned pcscd_seconds = 0;
  std::string peer_dir;
  bool verbose = false;
};

int run_bench_tls(const BenchTlsArgs& args) {
  TlsBenchOptions options;
  options.quick = args.quick;
  options.runs = args.runs != 0 ? args.runs : (args.quick ? 10 : 100);
  options.peers = !args.no_peers;
  options.pcscd = !args.no_pcscd;
  options.pcscd_seconds = args.pcscd_seconds;
  options.peer_dir = args.peer_dir;
  options.verbose = args.verbose;
  const TlsBenchResult result = run_tls_bench(options);
  std::cout << format_human(result) << std::flush;
  if (!args.json.empty()) {
    std::ofstream out(args.json);
    out << format_json(result);
    if (!out) throw std::runtime_error("cannot write " + args.json);
  }
  for (const RegionFigures& f : result.regions)
    if (f.smallest == 0) return kExitFailure;
  return kExitOk;
}

}  // namespace

void add_bench_tls_command(CLI::App& bench, int& exit_code) {
  auto args = std::make_shared<BenchTlsArgs>();
  CLI::App* tls = bench.add_subcommand(
      "tls", "The card's RAM per TLS session (certificate and PSK) beside stock mbedTLS and mbedTLS's buffer allocator; handshake rates");
  tls->add_option("--runs", args->runs, "Full handshakes + GET per bisection probe (default 100; 10 with --quick)")
      ->check(CLI::Range(1u, 100000u));
  tls->add_flag("--quick", args->quick, "Fewer runs per probe and per rate");
  tls->add_option("--json", args->json, "Also write the figures as one JSON object to this file");
  tls->add_flag("--no-peers", args->no_peers, "Skip the reference peers (scws-bench-stock-tls, scws-bench-bufalloc-tls)");
  tls->add_flag("--no-pcscd", args->no_pcscd, "Skip the handshake rates through a private pcscd (they need root)");
  tls->add_option("--pcscd-seconds", args->pcscd_seconds, "Seconds per handshake-rate row through pcscd (default 10; 3 with --quick)")
      ->check(CLI::Range(1u, 3600u));
  tls->add_option("--peer-dir", args->peer_dir, "Where the reference peers live (default: next to scws)");
  tls->add_flag("--verbose,-v", args->verbose, "Progress lines on stderr");
  tls->footer(
      "RAM for one session: the smallest TLS region with which N full handshakes plus a GET of a 1 KiB page succeed\n"
      "in a row (bisection, 8-byte steps), card mbedTLS client against the card's TLS endpoint over an in-memory\n"
      "pipe; minus the server context's idle level it is the session's RAM (targets on x86-64: 12 KiB with\n"
      "a client certificate, 6.5 KiB PSK). The peers run the same handshakes on Debian's libmbedtls (peak heap) and\n"
      "on the card configuration with mbedTLS's own buffer allocator (smallest buffer).\n"
      "Handshakes per second through the real stack (as root: a private pcscd, `scws card` through vpcd, the gateway\n"
      "over PC/SC; openssl s_time -new / -reuse, and an openssl s_client loop for PSK), beside the in-memory pipe rate.");
  tls->callback([args, &exit_code] { exit_code = run_bench_tls(*args); });
}

}  // namespace scws::sim::cli
