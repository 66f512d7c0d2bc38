// `scws bench apdu`: APDUs per second and round trips through the whole real stack
// (client -> libpcsclite -> pcscd -> vpcd -> card process), for our card and, in the same run, for a
// minimal reference card that answers 90 00 at once over the same tuned socket code. The ratio
// ours/reference is the figure that matters: absolute numbers depend on the machine
// (docs/architecture.md, "Figures and targets", gives the figures of one machine).
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "apdu/instruction.hpp"
#include "apdu/status_word.hpp"
#include "base/bytes.hpp"
#include "sim/host/pcsc_client.hpp"
#include "sim/host/vpcd_link.hpp"

namespace scws::sim {

// The reference peer: always powered, answers every APDU with 90 00 and get ATR with its ATR.
class ReferenceCard final : public VpcdCard {
 public:
  bool power_on(std::string&) override { return powered_ = true; }
  void power_off() override { powered_ = false; }
  bool reset(std::string&) override { return powered_ = true; }
  [[nodiscard]] bool powered() const override { return powered_; }
  [[nodiscard]] Bytes atr() const override { return kFallbackAtr; }
  std::size_t process(Bytes, MutableBytes response) override {
    return apdu::put_status(response, 0, apdu::to_u16(apdu::StatusWord::kOk));
  }

 private:
  bool powered_ = false;
};

struct ApduBenchOptions {
  std::chrono::milliseconds duration{3000};  // measuring time (both peers together)
  u64 apdus = 0;                             // > 0: stop after this many APDUs per peer
  std::vector<u8> command = {apdu::cla::kUicc, apdu::to_u8(apdu::Ins::kStatus), 0x00, apdu::status_p2::kNoData};
  u32 round = 10;                            // APDUs per peer per round (fine interleaving spreads a
                                             // burst of load from other processes over both peers)
  u32 warmup = 200;                          // APDUs per peer before measuring
};

struct PeerFigures {
  std::string name;
  std::string reader;
  u64 apdus = 0;
  u64 failures = 0;        // responses whose SW was not 90 00 / 91 XX
  double busy_seconds = 0; // time spent inside transmit
  double apdus_per_second = 0;
  double median_us = 0;
  double p99_us = 0;
  double min_us = 0;
  double max_us = 0;
  u64 recoveries = 0;      // transmits that needed a reconnect
};

struct ApduBenchResult {
  PeerFigures ours;
  PeerFigures reference;
  double ratio = 0;        // ours.apdus_per_second / reference.apdus_per_second
  double median_ratio = 0; // reference.median_us / ours.median_us: the same ratio, robust to a
                           // loaded machine's scheduling tail
  std::string command_hex;
};

// Nearest-rank percentile (p in [0, 100]) of ascending samples; 0 for none.
double percentile(const std::vector<double>& sorted, double p) noexcept;
// Figures from per-APDU round trips in microseconds (any order).
PeerFigures summarize(std::string name, std::string reader, std::vector<double> round_trips_us, u64 failures);

// Interleaved rounds of options.round APDUs to each card until the duration or APDU count is
// reached. Both cards must be connected.
ApduBenchResult measure_apdu_rounds(PcscCard& ours, PcscCard& reference, const ApduBenchOptions& options);

std::string format_human(const ApduBenchResult& result);
std::string format_json(const ApduBenchResult& result);

struct ApduBenchSetup {
  std::filesystem::path scws;      // the scws executable to start `card` and `bench refcard` with
  std::filesystem::path workdir;   // empty: a fresh temporary directory, removed afterwards
  bool keep_workdir = false;
  bool verbose = false;            // progress lines on stderr
  std::chrono::milliseconds card_wait{10000};
};

// The whole benchmark: a private pcscd (in a private mount namespace when root), `scws card` with a
// fresh image on slot 0, `scws bench refcard` on slot 1, the measurement, and teardown by pid.
// Throws std::runtime_error with the relevant logs on failure.
ApduBenchResult run_apdu_bench(const ApduBenchSetup& setup, const ApduBenchOptions& options);

}  // namespace scws::sim
