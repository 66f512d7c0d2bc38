// `scws card --image IMG [--vpcd HOST:PORT] [--trace FILE.pcap] [--ram BYTES]`: the emulated UICC
// plugged into pcscd through vpcd. Creates the image when it is missing, refuses a damaged one,
// reconnects forever, exits 0 on SIGINT/SIGTERM.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <new>
#include <optional>
#include <string>

#include "card/os/card.hpp"
#include "card/os/tracer.hpp"
#include "scws_config.hpp"
#include "sim/cli/cli.hpp"
#include "sim/host/card_image.hpp"
#include "sim/host/emulated_uicc.hpp"
#include "sim/host/file_nvm_device.hpp"
#include "sim/host/profile.hpp"
#include "sim/host/provision.hpp"
#include "sim/host/apdu_pcap.hpp"
#include "sim/host/vpcd_link.hpp"

namespace scws::sim::cli {
namespace {

struct CardArgs {
  std::string image;
  std::string vpcd = "127.0.0.1:35963";
  std::string trace;
  std::string profile;
  std::size_t ram = SCWS_RAM_SIZE;
  u32 size = SCWS_NVM_SIZE;
  bool quiet = false;
  bool verbose = false;
};

// The card as vpcd sees it.
class CardAdapter final : public VpcdCard {
 public:
  CardAdapter(card::Card& card, const FileNvmDevice& nvm) : card_(card), nvm_(nvm) {}
  bool power_on(std::string& error) override { return check(card_.power_on(), error); }
  void power_off() override { card_.power_off(); }
  bool reset(std::string& error) override { return check(card_.reset(), error); }
  [[nodiscard]] bool powered() const override { return card_.powered(); }
  [[nodiscard]] Bytes atr() const override { return card_.atr(); }
  std::size_t process(Bytes command, MutableBytes response) override { return card_.process(command, response); }

 private:
  bool check(const Status<card::PowerError>& s, std::string& error) {
    if (s.ok()) return true;
    error = power_failure_text(card_, s.error(), &nvm_);
    return false;
  }
  card::Card& card_;
  const FileNvmDevice& nvm_;
};

// The card OS's trace lines (state transitions, refusals) on stderr with --verbose.
class StderrTraceSink final : public card::TraceSink {
 public:
  void line(const char* text) noexcept override { std::fprintf(stderr, "scws card: card: %s\n", text); }
};

int run_card(const CardArgs& args) {
  auto say = [&](const std::string& line) {
    if (!args.quiet) std::cerr << "scws card: " << line << std::endl;
  };
  auto refuse = [&](const std::string& line) {
    std::cerr << "scws card: " << line << std::endl;
    return kExitFailure;
  };
  const std::filesystem::path image = args.image;
  HostPort vpcd;
  try {
    vpcd = parse_host_port(args.vpcd);
  } catch (const std::invalid_argument& e) {
    std::cerr << "scws card: --vpcd: " << e.what() << "\n";
    return kExitUsage;
  }
  if (args.ram % 16 != 0) return refuse("--ram must be a multiple of 16 bytes");

  // A missing image is built from a profile (the bundled demo unless --profile names one); the card
  // (toolkit, SCWS applet, RAM of --ram bytes) is powered on once, so a damaged image is refused now.
  StderrTraceSink trace_sink;
  std::optional<OpenedCard> opened;
  try {
    ImageSource source;
    source.profile_dir = args.profile.empty() ? bundled_demo_profile() : std::filesystem::path(args.profile);
    const PreparedImage prepared = prepare_card_image(image, source, args.size);
    if (prepared.origin != ImageOrigin::kExisting) std::cerr << "scws card: " << prepared.summary << std::endl;
    opened.emplace(image, args.ram, args.verbose ? &trace_sink : nullptr);
  } catch (const CardImageError& e) {
    return refuse(e.what());
  }
  FileNvmDevice& nvm = opened->nvm();
  card::Card& card = opened->card();
  card::RamReport ram_report = card.ram_report();
  card.power_off();  // powered from now on only by vpcd's control bytes
  say("image " + image.string() + " (" + std::to_string(nvm.size()) + " bytes), RAM " +
      std::to_string(ram_report.capacity) + " bytes (" + std::to_string(ram_report.idle) + " in use when idle)");

  std::unique_ptr<PcapTrace> trace;
  if (!args.trace.empty()) {
    trace = std::make_unique<PcapTrace>(args.trace);
    say("tracing APDUs to " + args.trace);
  }

  StopSignal stop;
  stop_on_signals(stop);
  CardAdapter adapter(card, nvm);
  VpcdLinkOptions options;
  options.vpcd = vpcd;
  VpcdLink link(adapter, options, stop);
  link.set_logger([&](std::string_view line) { say(std::string(line)); });
  link.set_trace(trace.get());
  link.run();
  if (card.powered()) card.power_off();
  say("stopped after " + std::to_string(link.apdus()) + " APDUs");
  return kExitOk;
}

}  // namespace

void add_card_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<CardArgs>();
  CLI::App* cmd = app.add_subcommand("card", "Run the emulated UICC, plugged into pcscd through the vpcd reader driver");
  cmd->add_option("--image,-i", args->image, "Card image (NVM) file; created when missing")->required();
  cmd->add_option("--vpcd", args->vpcd, "vpcd address HOST:PORT (slot n of a vpcd reader listens on its base port + n)")
      ->capture_default_str();
  cmd->add_option("--profile", args->profile,
                  "Profile folder a missing image is compiled from (default: the bundled demo profile)");
  cmd->add_option("--trace", args->trace, "Write every APDU exchange to this pcap file (GSMTAP SIM, for Wireshark)");
  cmd->add_option("--ram", args->ram, "Bytes of card RAM")->capture_default_str()->check(CLI::Range(2048, 16 * 1024 * 1024));
  cmd->add_option("--size", args->size, "Bytes of a newly created image")
      ->capture_default_str()
      ->check(CLI::Range(65536, 64 * 1024 * 1024));
  cmd->add_flag("--quiet,-q", args->quiet, "No connection and power lines on stderr");
  cmd->add_flag("--verbose,-v", args->verbose, "Also the card OS's trace lines on stderr");
  cmd->footer(
      "Reconnects with backoff (50 ms to 2 s) while vpcd is away; stops cleanly (exit 0) on SIGINT or SIGTERM.\n"
      "Exit code 1 when the image is damaged or cannot be created.");
  cmd->callback([args, &exit_code] { exit_code = run_card(*args); });
}

}  // namespace scws::sim::cli
