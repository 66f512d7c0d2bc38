// `scws apdu --reader NAME HEX...` and `scws apdu --list`: APDUs through libpcsclite to any card.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "apdu/status_word.hpp"
#include "base/hex.hpp"
#include "base/hex_text.hpp"
#include "sim/cli/cli.hpp"
#include "sim/host/pcsc_client.hpp"
#include "sim/host/apdu_pcap.hpp"

namespace scws::sim::cli {
namespace {

struct ApduArgs {
  std::string reader;
  bool list = false;
  std::string trace;
  int wait_ms = 5000;
  std::vector<std::string> apdus;
};

// The reader to use: the one named, else the only reader, else the only reader holding a card.
std::string pick_reader(const PcscContext& ctx, const std::string& wanted) {
  if (!wanted.empty()) return wanted;
  auto readers = ctx.readers();
  if (readers.empty()) throw std::runtime_error("no PC/SC readers (is pcscd running with a reader?)");
  if (readers.size() == 1) return readers.front();
  std::vector<std::string> with_card;
  for (auto& r : readers)
    if (ctx.card_present(r)) with_card.push_back(r);
  if (with_card.size() == 1) return with_card.front();
  std::string msg = "several readers: choose one with --reader:";
  for (auto& r : readers) msg += "\n  " + r;
  throw std::runtime_error(msg);
}

int run_apdu(const ApduArgs& args) {
  // Decode everything first: a typo should not leave half the APDUs sent.
  std::vector<std::vector<u8>> commands;
  for (const auto& text : args.apdus) {
    std::vector<u8> bytes(text.size() / 2 + 1);
    auto n = hex_decode(text.data(), text.size(), MutableBytes(bytes));
    if (!n || *n == 0) {
      std::cerr << "scws apdu: not an APDU in hex: '" << text << "'\n";
      return kExitUsage;
    }
    bytes.resize(*n);
    commands.push_back(std::move(bytes));
  }
  try {
    PcscContext ctx;
    if (args.list) {
      for (const auto& r : ctx.readers()) std::cout << r << "\n";
      if (commands.empty()) return kExitOk;
    }
    if (commands.empty()) {
      std::cerr << "scws apdu: no APDU given (see --help)\n";
      return kExitUsage;
    }
    std::string reader = pick_reader(ctx, args.reader);
    PcscCardOptions options;
    options.card_wait = std::chrono::milliseconds(args.wait_ms);
    PcscCard card(ctx, reader, options);
    std::unique_ptr<PcapTrace> trace;
    if (!args.trace.empty()) {
      trace = std::make_unique<PcapTrace>(args.trace);
      card.set_trace(trace.get());
    }
    for (const auto& command : commands) {
      std::vector<u8> response = card.transmit(command);
      std::cout << "> " << hex_spaced(command) << "\n";
      if (response.size() < 2) {
        std::cout << "< " << hex_spaced(response) << " (no status word)\n";
        continue;
      }
      const u16 sw = apdu::response_status(response);
      char sw_text[8];
      std::snprintf(sw_text, sizeof sw_text, "%04X", sw);
      std::cout << "< " << hex_spaced(response) << " (" << sw_text << " " << apdu::describe(sw) << ")\n";
    }
    std::cout.flush();
    return kExitOk;
  } catch (const PcscError& e) {
    std::cerr << "scws apdu: " << e.what() << "\n";
    return kExitFailure;
  }
}

}  // namespace

void add_apdu_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<ApduArgs>();
  CLI::App* cmd = app.add_subcommand("apdu", "Send APDUs to a card through PC/SC and print the responses");
  cmd->add_option("--reader,-r", args->reader,
                  "PC/SC reader name (may be omitted when there is one reader, or one reader with a card)");
  cmd->add_flag("--list,-l", args->list, "List the PC/SC readers");
  cmd->add_option("--trace", args->trace, "Write every exchange to this pcap file (GSMTAP SIM)");
  cmd->add_option("--wait", args->wait_ms, "Milliseconds to wait for a card in the reader")
      ->capture_default_str()
      ->check(CLI::Range(0, 600000));
  cmd->add_option("apdu", args->apdus, "APDUs in hex, one per argument (spaces allowed inside: '00 A4 00 04 02 3F 00')");
  cmd->footer(
      "Each response is printed as '< DATA SW1 SW2 (SW description)'. Exit code 1 on PC/SC errors.\n"
      "Example: scws apdu --reader 'Virtual PCD 00 00' '80 F2 00 0C'");
  cmd->callback([args, &exit_code] { exit_code = run_apdu(*args); });
}

}  // namespace scws::sim::cli
