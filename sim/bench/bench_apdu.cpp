#include "sim/bench/bench_apdu.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "base/hex_text.hpp"
#include "sim/bench/bench_report.hpp"
#include "sim/testing/pcscd_harness.hpp"
#include "sim/testing/scratch_dir.hpp"

namespace scws::sim {

using report::fixed;
using report::json_string;

using Clock = std::chrono::steady_clock;

double percentile(const std::vector<double>& sorted, double p) noexcept {
  if (sorted.empty()) return 0;
  // Nearest rank: the smallest sample with at least p% of the samples at or below it.
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  if (rank < 1) rank = 1;
  if (rank > sorted.size()) rank = sorted.size();
  return sorted[rank - 1];
}

PeerFigures summarize(std::string name, std::string reader, std::vector<double> round_trips_us, u64 failures) {
  PeerFigures f;
  f.name = std::move(name);
  f.reader = std::move(reader);
  f.failures = failures;
  f.apdus = round_trips_us.size();
  if (round_trips_us.empty()) return f;
  std::sort(round_trips_us.begin(), round_trips_us.end());
  double total = 0;
  for (double v : round_trips_us) total += v;
  f.busy_seconds = total / 1e6;
  f.apdus_per_second = f.busy_seconds > 0 ? static_cast<double>(f.apdus) / f.busy_seconds : 0;
  f.median_us = percentile(round_trips_us, 50);
  f.p99_us = percentile(round_trips_us, 99);
  f.min_us = round_trips_us.front();
  f.max_us = round_trips_us.back();
  return f;
}

namespace {

bool success_sw(Bytes response) { return response.size() >= 2 && apdu::is_normal_ending(apdu::response_status(response)); }

struct Series {
  std::vector<double> round_trips_us;
  u64 failures = 0;
};

void run_round(PcscCard& card, Bytes command, MutableBytes response, u32 count, Series* series) {
  for (u32 i = 0; i < count; ++i) {
    auto start = Clock::now();
    std::size_t n = card.transmit(command, response);
    auto end = Clock::now();
    if (series == nullptr) continue;  // warm-up
    series->round_trips_us.push_back(std::chrono::duration<double, std::micro>(end - start).count());
    if (!success_sw(Bytes(response.data(), n))) ++series->failures;
  }
}

std::string peer_json(const PeerFigures& f) {
  std::ostringstream o;
  o << "{\"name\": " << json_string(f.name) << ", \"reader\": " << json_string(f.reader)
    << ", \"apdus\": " << f.apdus << ", \"failures\": " << f.failures
    << ", \"apdus_per_second\": " << fixed(f.apdus_per_second, 1) << ", \"median_us\": " << fixed(f.median_us, 1)
    << ", \"p99_us\": " << fixed(f.p99_us, 1) << ", \"min_us\": " << fixed(f.min_us, 1)
    << ", \"max_us\": " << fixed(f.max_us, 1) << ", \"busy_seconds\": " << fixed(f.busy_seconds, 3)
    << ", \"recoveries\": " << f.recoveries << "}";
  return o.str();
}

}  // namespace

ApduBenchResult measure_apdu_rounds(PcscCard& ours, PcscCard& reference, const ApduBenchOptions& options) {
  if (options.command.size() < 4) throw std::invalid_argument("bench command must be an APDU (>= 4 bytes)");
  const u32 round = std::max<u32>(options.round, 1);
  std::vector<u8> response(kPcscMaxResponse);
  Bytes command(options.command);
  run_round(ours, command, response, options.warmup, nullptr);
  run_round(reference, command, response, options.warmup, nullptr);

  Series s_ours, s_ref;
  const auto deadline = Clock::now() + options.duration;
  while (true) {
    u32 n = round;
    if (options.apdus > 0) {
      u64 left = options.apdus - s_ours.round_trips_us.size();
      if (left == 0) break;
      n = static_cast<u32>(std::min<u64>(n, left));
    } else if (Clock::now() >= deadline) {
      break;
    }
    // Alternate which peer goes first so neither always follows the other's round.
    bool ours_first = (s_ours.round_trips_us.size() / round) % 2 == 0;
    run_round(ours_first ? ours : reference, command, response, n, ours_first ? &s_ours : &s_ref);
    run_round(ours_first ? reference : ours, command, response, n, ours_first ? &s_ref : &s_ours);
  }
  ApduBenchResult result;
  result.ours = summarize("scws card", ours.reader(), std::move(s_ours.round_trips_us), s_ours.failures);
  result.reference = summarize("reference card (90 00)", reference.reader(), std::move(s_ref.round_trips_us), s_ref.failures);
  result.ours.recoveries = ours.recoveries();
  result.reference.recoveries = reference.recoveries();
  result.ratio = result.reference.apdus_per_second > 0 ? result.ours.apdus_per_second / result.reference.apdus_per_second : 0;
  result.median_ratio = result.ours.median_us > 0 ? result.reference.median_us / result.ours.median_us : 0;
  result.command_hex = hex_spaced(command);
  return result;
}

std::string format_human(const ApduBenchResult& r) {
  std::ostringstream o;
  o << "APDU benchmark: " << r.command_hex << " through libpcsclite -> pcscd -> vpcd -> card\n";
  auto line = [&o](const PeerFigures& f) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "  %-24s %9.0f APDU/s   median %7.1f us   p99 %7.1f us   (%llu APDUs", f.name.c_str(),
                  f.apdus_per_second, f.median_us, f.p99_us, static_cast<unsigned long long>(f.apdus));
    o << buf;
    if (f.failures > 0) o << ", " << f.failures << " not 90 00";
    if (f.recoveries > 0) o << ", " << f.recoveries << " reconnects";
    o << ")\n";
  };
  line(r.ours);
  line(r.reference);
  o << "  ratio ours/reference: " << fixed(r.ratio, 3) << " (APDU/s), " << fixed(r.median_ratio, 3)
    << " (median round trip)\n";
  return o.str();
}

std::string format_json(const ApduBenchResult& r) {
  std::ostringstream o;
  o << "{\"benchmark\": \"apdu\", \"command\": " << json_string(r.command_hex) << ", \"ours\": " << peer_json(r.ours)
    << ", \"reference\": " << peer_json(r.reference) << ", \"ratio\": " << fixed(r.ratio, 4)
    << ", \"median_ratio\": " << fixed(r.median_ratio, 4) << "}\n";
  return o.str();
}

ApduBenchResult run_apdu_bench(const ApduBenchSetup& setup, const ApduBenchOptions& options) {
  auto progress = [&](const std::string& line) {
    if (setup.verbose) std::cerr << "bench: " << line << std::endl;
  };
  // First, while the process has no threads: a private /run/pcscd when we may have one.
  std::string why;
  if (enter_private_pcscd_namespace(why)) {
    progress("private mount namespace with a tmpfs on /run/pcscd");
  } else if (pcscd_socket_answers()) {
    throw std::runtime_error("another pcscd is running and no private mount namespace is possible (" + why +
                             "); stop that pcscd or run as root");
  } else {
    progress("no private namespace (" + why + "); using /run/pcscd as it is");
  }

  const ScratchDir scratch("scws-bench", setup.workdir, setup.keep_workdir);
  const std::filesystem::path& workdir = scratch.path();

  PcscStack stack({workdir, "scws bench"});
  const PcscdHarness& pcscd = stack.pcscd();
  progress("pcscd pid " + std::to_string(pcscd.pid()) + ", vpcd ports " + std::to_string(pcscd.port()) + "/" +
           std::to_string(pcscd.port() + 1));
  ChildProcess& card = stack.start_card(setup.scws, workdir / "card.img");
  ChildProcess& refcard = stack.start_reference_card(setup.scws);
  progress("scws card pid " + std::to_string(card.pid()) + ", reference card pid " + std::to_string(refcard.pid()));

  ApduBenchResult result;
  {
    PcscContext context;
    PcscCardOptions card_options;
    card_options.card_wait = setup.card_wait;
    std::optional<PcscCard> ours;
    std::optional<PcscCard> reference;
    stack.connect(context, card_options, ours, reference);
    progress("both cards present; measuring");
    try {
      result = measure_apdu_rounds(*ours, *reference, options);
    } catch (const PcscError& e) {
      throw stack.failure(std::string("benchmark failed: ") + e.what());
    }
  }
  int card_exit = card.stop();
  int ref_exit = refcard.stop();
  stack.stop();
  if (card_exit != 0 || ref_exit != 0)
    progress("card exit code " + std::to_string(card_exit) + ", reference exit code " + std::to_string(ref_exit));
  return result;
}

}  // namespace scws::sim
