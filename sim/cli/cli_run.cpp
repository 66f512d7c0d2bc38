// `scws run [--profile DIR | --image IMG] [--state DIR] [--http-port N] [--tls-port N] [--trace FILE.pcap]`:
// the embedded default (docs/architecture.md, "The command line"): the card (card OS + CAT toolkit + SCWS applet + TLS
// port) and the handset gateway in one process, linked in memory through DirectTransport; no pcscd.
//
// The card's NVM image: --image IMG is used (and changed) in place; otherwise STATE/card.img, created
// from --profile DIR, or from the bundled demo profile (profiles/demo), when it does not exist yet
// (--reprovision rebuilds it). A profile with [tls] gets its demo credentials in STATE/credentials,
// created on the first start and reused afterwards (a rebuilt image keeps the same CA, so client
// certificates stay valid); with --image they are looked for in IMG.credentials. Prints where it
// keeps its state, the URLs it serves and a curl command that works for the TLS port.
// SIGINT/SIGTERM end it cleanly (exit 0). A port that cannot be listened on (taken by another
// process) ends it at once (exit 1), naming the port, its holder and the option that moves it.
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <unistd.h>

#include <asio.hpp>

#include "card/os/card.hpp"
#include "card/scws/scws_settings.hpp"
#include "scws_config.hpp"
#include "sim/host/card_transport.hpp"
#include "sim/cli/cli.hpp"
#include "sim/host/card_image.hpp"
#include "sim/host/emulated_uicc.hpp"
#include "sim/host/file_nvm_device.hpp"
#include "sim/handset/gateway.hpp"
#include "sim/host/profile.hpp"
#include "sim/host/provision.hpp"
#include "sim/host/apdu_pcap.hpp"
#include "card/scws/tls_port.hpp"

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
  unsigned tls_port = 10443;
  bool tls_port_set = false;
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

void say(const std::string& line) { std::cout << "scws run: " << line << std::endl; }

int refuse(const std::string& line, int code = kExitFailure) {
  std::cerr << "scws run: " << line << std::endl;
  return code;
}

// The image `scws run` serves and the folder of its clients' TLS credentials.
struct RunImage {
  fs::path image;
  fs::path credentials;
};

// --image IMG is used in place (its credentials in IMG.credentials); otherwise STATE/card.img, built
// from --profile DIR or the bundled demo profile (an empty image when there is none) when it is
// missing, or always with --reprovision. Throws CardImageError.
RunImage prepare_run_image(const RunArgs& args) {
  std::error_code ec;
  if (!args.image.empty()) {
    say("state: the image " + args.image + " (changed in place)");
    return RunImage{args.image, fs::path(args.image + ".credentials")};
  }
  const fs::path state = args.state.empty() ? default_state_dir() : fs::path(args.state);
  fs::create_directories(state, ec);
  if (ec) throw CardImageError(CardImageError::Kind::kBuild, "cannot create the state folder " + state.string() + ": " + ec.message());
  RunImage run{state / "card.img", fs::absolute(state, ec) / "credentials"};
  say("state: " + fs::absolute(state, ec).string());

  std::optional<fs::path> profile_dir = args.profile.empty() ? bundled_demo_profile() : fs::path(args.profile);
  if (args.profile.empty() && !fs::exists(*profile_dir / "card.toml", ec)) profile_dir.reset();
  std::optional<Profile> profile;
  if (profile_dir) {
    try {
      profile = load_profile(*profile_dir);
    } catch (const ProfileError& e) {
      throw CardImageError(CardImageError::Kind::kProfile, e.what());
    }
    if (profile->tls && !profile->tls->credentials.empty()) run.credentials = profile->tls->credentials;
  }
  const ImageSource source{profile_dir, profile ? &*profile : nullptr, run.credentials};
  const PreparedImage prepared = prepare_card_image(run.image, source, args.size, args.reprovision);
  if (prepared.origin == ImageOrigin::kExisting) {
    say(prepared.summary + " (--reprovision rebuilds it)");
  } else {
    say(prepared.summary);
  }
  if (profile && profile->tls && prepared.origin != ImageOrigin::kExisting)
    say(std::string("TLS credentials ") + (prepared.provision.credentials_reused ? "reused from " : "created in ") +
        prepared.provision.credentials.string());
  return run;
}

// What the card's TLS port says after power-up, and whether the clients' credentials are there.
bool report_tls_port(EmulatedUicc& host, const fs::path& credentials) {
  const u16 tls_card_port = host.scws().settings().tls_port;
  const card::TlsPort& tls = host.tls_port();
  if (tls_card_port != 0 && tls.state() != card::TlsPort::State::kServing) {
    say(std::string("the TLS port ") + std::to_string(tls_card_port) + " is off: " + card::TlsPort::state_name(tls.state()) +
        (tls.state() == card::TlsPort::State::kSetUpFailed ? std::string(" (") + tls::error_name(tls.setup_error()) + ")" : ""));
  }
  std::error_code ec;
  const bool have_credentials = fs::exists(credentials / "ca.pem", ec);
  if (tls_card_port != 0 && !have_credentials)
    say("no client credentials in " + credentials.string() + ": rebuild the image with --reprovision to make new ones");
  return have_credentials;
}

// The lines printed when the gateway listens for a card port: the URL, and for TLS commands that work.
void say_listening(EmulatedUicc& host, const fs::path& credentials, bool have_credentials, u16 card_port,
                   const std::string& address, u16 local_port) {
  const std::string host_text = address.find(':') != std::string::npos ? "[" + address + "]" : address;
  const std::string where = host_text + ":" + std::to_string(local_port);
  if (card_port == host.scws().settings().http_port) {
    say("serving http://" + where + "/ (card port " + std::to_string(card_port) + ")");
  } else if (card_port == host.scws().settings().tls_port) {
    const card::TlsPortMode mode = host.scws().settings().tls_mode;
    say("serving https://" + where + "/ (card port " + std::to_string(card_port) + ", TLS, " + card::to_string(mode) +
        (mode == card::TlsPortMode::kPsk ? ")" : ", client certificate required)"));
    if (!have_credentials) return;
    const std::string dir = credentials.string();
    if (mode != card::TlsPortMode::kPsk)
      say("try: curl --cacert " + dir + "/ca.pem --cert " + dir + "/client-1.pem --key " + dir + "/client-1.key https://" +
          where + "/");
    if (mode != card::TlsPortMode::kCertificate)
      say("try: printf 'GET / HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n' | openssl s_client -quiet -tls1_2 "
          "-connect " + where + " -cipher PSK-AES128-CCM -psk_identity IDENTITY -psk HEXKEY (pairs in " + dir + "/psk.txt)");
  } else {
    say("listening on " + where + "/ (card port " + std::to_string(card_port) + ")");
  }
}

// The option that moves a card port elsewhere, for the "cannot listen" message.
std::string port_option_hint(u16 card_port, u16 http_card_port, u16 tls_card_port) {
  if (card_port == http_card_port) return "--http-port PORT serves it elsewhere (0: any free port)";
  if (card_port == tls_card_port) return "--tls-port PORT serves it elsewhere (0: any free port)";
  return "no option of scws run moves card port " + std::to_string(card_port);
}

// The gateway in front of the powered card until SIGINT or SIGTERM (kExitOk), or until a port cannot
// be listened on (kExitFailure, said on stderr).
int serve(const RunArgs& args, EmulatedUicc& host, const fs::path& credentials, bool have_credentials) {
  std::unique_ptr<PcapTrace> trace;
  if (!args.trace.empty()) {
    trace = std::make_unique<PcapTrace>(args.trace);
    say("tracing APDUs to " + args.trace);
  }
  DirectTransport transport(host.card());
  transport.set_trace(trace.get());

  const u16 http_card_port = host.scws().settings().http_port;
  const u16 tls_card_port = host.scws().settings().tls_port;
  GatewayOptions options;
  options.listen_address = args.listen_address;
  options.verbose = args.verbose;
  if (args.http_port_set) options.port_map[http_card_port] = static_cast<u16>(args.http_port);
  if (args.tls_port_set && tls_card_port != 0) options.port_map[tls_card_port] = static_cast<u16>(args.tls_port);
  options.on_listen = [&](u16 card_port, const std::string& address, u16 local_port) {
    say_listening(host, credentials, have_credentials, card_port, address, local_port);
  };
  asio::io_context io;
  const ServeOutcome served = serve_until_signal(io, transport, std::move(options));
  if (served.failure) {
    const ListenFailure& f = *served.failure;
    return refuse(describe(f) + "; " + port_option_hint(f.card_port, http_card_port, tls_card_port));
  }
  const card::RamReport ram = host.card().ram_report();
  say("stopped after " + std::to_string(served.stats.apdus) + " APDUs and " +
      std::to_string(served.stats.clients_accepted) + " clients; card RAM high-water " +
      std::to_string(ram.high_water) + " of " + std::to_string(ram.capacity) + " bytes");
  return kExitOk;
}

int run(const RunArgs& args) {
  if (!args.profile.empty() && !args.image.empty()) return refuse("--profile and --image exclude each other", kExitUsage);
  if (args.ram % 16 != 0) return refuse("--ram must be a multiple of 16 bytes", kExitUsage);
  {
    asio::error_code ec;
    asio::ip::make_address(args.listen_address, ec);
    if (ec) return refuse("--listen-address: not an IP address: " + args.listen_address, kExitUsage);
  }
  std::signal(SIGPIPE, SIG_IGN);

  RunImage image;
  std::optional<OpenedCard> opened;
  try {
    image = prepare_run_image(args);
    opened.emplace(image.image, args.ram);
  } catch (const CardImageError& e) {
    return refuse(e.what(), e.kind() == CardImageError::Kind::kProfile ? kExitUsage : kExitFailure);
  }
  EmulatedUicc& host = opened->uicc();
  const bool have_credentials = report_tls_port(host, image.credentials);
  const int status = serve(args, host, image.credentials, have_credentials);
  host.card().power_off();
  return status;
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
  cmd->add_option("--tls-port", args->tls_port, "Local port for the card's TLS port (0: any free port)")
      ->check(CLI::Range(0u, 65535u))
      ->each([args](const std::string&) { args->tls_port_set = true; });
  cmd->add_option("--listen-address", args->listen_address, "Address the gateway listens on")->capture_default_str();
  cmd->add_option("--trace", args->trace, "Write every APDU exchange to this pcap file (GSMTAP SIM, for Wireshark)");
  cmd->add_option("--ram", args->ram, "Bytes of card RAM")->capture_default_str()->check(CLI::Range(2048, 16 * 1024 * 1024));
  cmd->add_option("--size", args->size, "Bytes of a newly built image")
      ->capture_default_str()
      ->check(CLI::Range(65536, 64 * 1024 * 1024));
  cmd->add_flag("--reprovision", args->reprovision, "Rebuild the state's card image from the profile");
  cmd->add_flag("--verbose,-v", args->verbose, "Log every proactive command, envelope and client");
  cmd->footer(
      "Prints \"scws run: state: DIR\", \"scws run: serving http://ADDR:PORT/\" and, with TLS, \"scws run: serving\n"
      "https://ADDR:PORT/\" and a curl command; gateway lines go to stderr.\n"
      "Exits 0 on SIGINT or SIGTERM, 1 when a port cannot be listened on (it names the process holding it).");
  cmd->callback([args, &exit_code] { exit_code = run(*args); });
}

}  // namespace scws::sim::cli
