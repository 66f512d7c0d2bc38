// `scws run [--profile DIR | --image IMG] [--state DIR] [--http-port N] [--trace FILE.pcap]`: the
// embedded default (DESIGN.md section 1): the card (card OS + CAT toolkit + SCWS applet) and the
// handset gateway in one process, linked in memory through DirectTransport; no pcscd.
//
// The card's NVM image: --image IMG is used (and changed) in place; otherwise STATE/card.img, created
// from --profile DIR, or from the bundled demo profile (profiles/demo), when it does not exist yet
// (--reprovision rebuilds it). Prints where it keeps its state and the URL it serves. SIGINT/SIGTERM
// end it cleanly (exit 0).
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <unistd.h>

#include <asio.hpp>

#include "card/card.hpp"
#include "scws_config.hpp"
#include "sim/card_transport.hpp"
#include "sim/cli.hpp"
#include "sim/emulated_uicc.hpp"
#include "sim/file_nvm_device.hpp"
#include "sim/gateway.hpp"
#include "sim/profile.hpp"
#include "sim/provision.hpp"
#include "sim/trace.hpp"

namespace scws::sim::cli {
namespace {

namespace fs = std::filesystem;

struct RunArgs {
  std::string profile;
  std::string image;
  std::string state;
  std::string trace;
  std::string listen_address = "127.0.0.1";
  unsigned http_port = 3516;
  bool http_port_set = false;
  std::size_t ram = SCWS_RAM_SIZE;
  u32 size = SCWS_NVM_SIZE;
  bool reprovision = false;
  bool verbose = false;
};

fs::path default_state_dir() {
  if (const char* x = std::getenv("XDG_STATE_HOME"); x != nullptr && *x != '\0') return fs::path(x) / "scws";
  if (const char* h = std::getenv("HOME"); h != nullptr && *h != '\0') return fs::path(h) / ".local" / "state" / "scws";
  return fs::path("scws-state");
}

int run(const RunArgs& args) {
  auto say = [](const std::string& line) { std::cout << "scws run: " << line << std::endl; };
  auto refuse = [](const std::string& line, int code = kExitFailure) {
    std::cerr << "scws run: " << line << std::endl;
    return code;
  };
  if (!args.profile.empty() && !args.image.empty()) return refuse("--profile and --image exclude each other", kExitUsage);
  if (args.ram % 16 != 0) return refuse("--ram must be a multiple of 16 bytes", kExitUsage);
  {
    asio::error_code ec;
    asio::ip::make_address(args.listen_address, ec);
    if (ec) return refuse("--listen-address: not an IP address: " + args.listen_address, kExitUsage);
  }
  std::signal(SIGPIPE, SIG_IGN);

  // The card's HTTP port: the profile's; with --image the image's settings decide and 3516 is assumed.
  u16 http_card_port = 3516;
  fs::path image_path;
  std::error_code ec;
  if (!args.image.empty()) {
    image_path = args.image;
    if (!fs::exists(image_path, ec)) return refuse("no image " + image_path.string());
    say("state: the image " + image_path.string() + " (changed in place)");
  } else {
    const fs::path state = args.state.empty() ? default_state_dir() : fs::path(args.state);
    fs::create_directories(state, ec);
    if (ec) return refuse("cannot create the state folder " + state.string() + ": " + ec.message());
    image_path = state / "card.img";
    say("state: " + fs::absolute(state, ec).string());
    std::optional<fs::path> profile_dir = args.profile.empty() ? bundled_demo_profile() : fs::path(args.profile);
    if (args.profile.empty() && !fs::exists(*profile_dir / "card.toml", ec)) profile_dir.reset();
    std::optional<Profile> profile;
    if (profile_dir) {
      try {
        profile = load_profile(*profile_dir);
      } catch (const ProfileError& e) {
        return refuse(e.what(), kExitUsage);
      }
      http_card_port = profile->http_port;
    }
    if (args.reprovision || !fs::exists(image_path, ec)) {
      if (profile) {
        try {
          const ProvisionReport r = provision_file(*profile, image_path, args.size, true);
          say("card image " + image_path.string() + " built from " + profile_dir->string() + " (" +
              std::to_string(r.resources) + " resources, " + std::to_string(r.content_bytes) + " bytes)");
        } catch (const ProvisionError& e) {
          return refuse(std::string("cannot build the card image: ") + e.what());
        }
      } else {
        FileNvmDevice fresh = FileNvmDevice::create(image_path, args.size, true);
        if (!card::Card::format_image(fresh, card::CardIdentity{}).ok())
          return refuse("cannot format a new image " + image_path.string());
        say("no demo profile found: created an empty card image " + image_path.string());
      }
    } else {
      say("using the existing card image " + image_path.string() + " (--reprovision rebuilds it)");
    }
  }

  std::optional<FileNvmDevice> nvm;
  try {
    nvm.emplace(FileNvmDevice::open(image_path));
  } catch (const std::runtime_error& e) {
    return refuse(std::string("refusing image: ") + e.what());
  }
  EmulatedUicc host(*nvm, args.ram);
  if (auto s = host.card().power_on(); !s) {
    std::string why = s.error() == card::PowerError::kNvm ? card::describe(host.card().nvm_error())
                                                           : std::string("the card RAM is too small");
    return refuse("the card does not power up: " + why);
  }

  std::unique_ptr<PcapTrace> trace;
  if (!args.trace.empty()) {
    trace = std::make_unique<PcapTrace>(args.trace);
    say("tracing APDUs to " + args.trace);
  }
  DirectTransport transport(host.card());
  transport.set_trace(trace.get());

  GatewayOptions options;
  options.listen_address = args.listen_address;
  options.verbose = args.verbose;
  if (args.http_port_set) options.port_map[http_card_port] = static_cast<u16>(args.http_port);
  options.on_listen = [&](u16 card_port, const std::string& address, u16 local_port) {
    const std::string host_text = address.find(':') != std::string::npos ? "[" + address + "]" : address;
    say(std::string(card_port == http_card_port ? "serving http://" : "listening on ") + host_text + ":" +
        std::to_string(local_port) + "/ (card port " + std::to_string(card_port) + ")");
  };
  asio::io_context io;
  Gateway gateway(io, transport, options);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const asio::error_code& e, int) {
    if (e) return;
    gateway.stop();
  });
  gateway.start();
  io.run();
  const card::RamReport ram = host.card().ram_report();
  say("stopped after " + std::to_string(gateway.stats().apdus) + " APDUs and " +
      std::to_string(gateway.stats().clients_accepted) + " clients; card RAM high-water " +
      std::to_string(ram.high_water) + " of " + std::to_string(ram.capacity) + " bytes");
  host.card().power_off();
  return kExitOk;
}

}  // namespace

void add_run_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* cmd = app.add_subcommand("run", "Run the card and the handset gateway in one process (no pcscd needed)");
  cmd->add_option("--profile,-p", args->profile, "Profile folder (card.toml + content) to build the card from");
  cmd->add_option("--image,-i", args->image, "Card image to run (used and changed in place)");
  cmd->add_option("--state", args->state, "Folder for the card image built from the profile (default $XDG_STATE_HOME/scws)");
  cmd->add_option("--http-port", args->http_port, "Local port for the card's HTTP port (0: any free port)")
      ->check(CLI::Range(0u, 65535u))
      ->each([args](const std::string&) { args->http_port_set = true; });
  cmd->add_option("--listen-address", args->listen_address, "Address the gateway listens on")->capture_default_str();
  cmd->add_option("--trace", args->trace, "Write every APDU exchange to this pcap file (GSMTAP SIM, for Wireshark)");
  cmd->add_option("--ram", args->ram, "Bytes of card RAM")->capture_default_str()->check(CLI::Range(2048, 16 * 1024 * 1024));
  cmd->add_option("--size", args->size, "Bytes of a newly built image")
      ->capture_default_str()
      ->check(CLI::Range(65536, 64 * 1024 * 1024));
  cmd->add_flag("--reprovision", args->reprovision, "Rebuild the state's card image from the profile");
  cmd->add_flag("--verbose,-v", args->verbose, "Log every proactive command, envelope and client");
  cmd->footer(
      "Prints \"scws run: state: DIR\" and \"scws run: serving http://ADDR:PORT/\"; gateway lines go to stderr.\n"
      "Exits 0 on SIGINT or SIGTERM.");
  cmd->callback([args, &exit_code] { exit_code = run(*args); });
}

}  // namespace scws::sim::cli
