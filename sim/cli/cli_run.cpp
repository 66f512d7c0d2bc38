// `scws run [--profile DIR | --image IMG] [--state DIR] [--http-port N] [--tls-port N] [--trace FILE.pcap]
//           [--no-admin | --admin-port N] [--admin-db PATH|URL]`:
// the embedded default (docs/architecture.md, "The command line"): the card (card OS + CAT toolkit + SCWS applet + TLS
// port) and the handset gateway in one process, linked in memory through DirectTransport; no pcscd.
//
// The card's NVM image: --image IMG is used (and changed) in place; otherwise STATE/card.img, created
// from --profile DIR, or from the bundled demo profile (profiles/demo), when it does not exist yet
// (--reprovision rebuilds it). A profile with [tls] gets its demo credentials in STATE/credentials,
// created on the first start and reused afterwards (a rebuilt image keeps the same CA, so client
// certificates stay valid); with --image they are looked for in IMG.credentials. Prints where it
// keeps its state, the URLs it serves and a curl command that works for the TLS port.
// When the image has an admin link (IMG.admin.toml beside it, docs/protocol.md section 16) an
// administration server runs in the same process (SQLite in STATE/admin.sqlite unless --admin-db),
// the card enrolled in it, and the gateway maps the card's link to it: an attack on the card ends as
// an incident in that database, which `scws admin reports` lists with the same defaults.
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
#include "sim/admin/admin_server.hpp"
#include "sim/admin/enrolment.hpp"
#include "sim/admin/store.hpp"

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
  // The embedded administration server (docs/protocol.md section 16).
  bool no_admin = false;
  unsigned admin_port = 0;  // 0: any free port (the gateway sends the card's link there)
  std::string admin_db;     // default STATE/admin.sqlite
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
int serve(const RunArgs& args, EmulatedUicc& host, const fs::path& credentials, bool have_credentials,
          const std::optional<admin::Enrolment>& admin_link, const std::string& admin_db) {
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
  std::unique_ptr<admin::Store> store;
  std::unique_ptr<admin::AdminServer> admin_server;
  if (admin_link) {
    // The card's link goes to the embedded server wherever it listens: the gateway maps the card's
    // destination (its client channel's address and port) to it.
    store = admin::open_store(admin_db);
    store->enrol(admin_link->iccid, admin_link->psk_identity, admin_link->psk_key);
    admin::AdminServerOptions admin_options;
    admin_options.port = static_cast<u16>(args.admin_port);
    admin_options.uri = admin_link->uri.empty() ? admin_options.uri : admin_link->uri;
    if (args.verbose) admin_options.log = [](const std::string& line) { std::cerr << "admin: " << line << std::endl; };
    admin_server = std::make_unique<admin::AdminServer>(io, *store, admin_options);
    try {
      admin_server->start();
    } catch (const std::exception& e) {
      return refuse(std::string("the admin server cannot start: ") + e.what() + "; --admin-port PORT moves it, --no-admin turns it off");
    }
    const std::string destination = admin_link->server + ":" + std::to_string(admin_link->port);
    options.connect_map[destination] = "127.0.0.1:" + std::to_string(admin_server->port());
    say("admin server on 127.0.0.1:" + std::to_string(admin_server->port()) + " for the card's link to " + destination +
        " (TLS-PSK, identity " + admin_link->psk_identity + "); database " + store->location());
    say("incidents: scws admin reports --db " + store->location());
  }
  const ServeOutcome served = serve_until_signal(io, transport, std::move(options), {}, [&] {
    if (admin_server) admin_server->stop();
  });
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
  // The card's link to an administration server: the enrolment file provisioning wrote beside the
  // image (docs/protocol.md section 16.7). Without one the card never reports, and nothing listens.
  std::optional<admin::Enrolment> admin_link;
  std::string admin_db;
  if (!args.no_admin) {
    const fs::path enrolment = fs::path(image.image.string() + ".admin.toml");
    std::error_code ec;
    if (fs::exists(enrolment, ec)) {
      try {
        admin_link = admin::read_enrolment(enrolment.string());
      } catch (const admin::EnrolmentError& e) {
        return refuse(e.what());
      }
      const fs::path state = args.state.empty() ? default_state_dir() : fs::path(args.state);
      fs::create_directories(state, ec);
      admin_db = args.admin_db.empty() ? fs::absolute(state / "admin.sqlite", ec).string() : args.admin_db;
    } else {
      say("the card has no admin link (no " + enrolment.string() + "): no admin server");
    }
  }
  int status = kExitFailure;
  try {
    status = serve(args, host, image.credentials, have_credentials, admin_link, admin_db);
  } catch (const admin::StoreError& e) {
    status = refuse(std::string("the admin database: ") + e.what());
  }
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
  cmd->add_flag("--no-admin", args->no_admin,
                "Run no administration server: the card's link goes where its image says (e.g. a `scws admin serve`)");
  cmd->add_option("--admin-port", args->admin_port, "Local port of the embedded administration server (0: any free port)")
      ->capture_default_str()
      ->check(CLI::Range(0u, 65535u));
  cmd->add_option("--admin-db", args->admin_db,
                  "Database of the embedded administration server: a SQLite file or postgresql://... (default STATE/admin.sqlite)");
  cmd->footer(
      "Prints \"scws run: state: DIR\", \"scws run: serving http://ADDR:PORT/\" and, with TLS, \"scws run: serving\n"
      "https://ADDR:PORT/\" and a curl command; gateway lines go to stderr. With an admin link in the image it also\n"
      "runs an administration server (\"scws run: admin server on ...; database FILE\") and prints the command that\n"
      "lists the incidents the card reported.\n"
      "Exits 0 on SIGINT or SIGTERM, 1 when a port cannot be listened on (it names the process holding it).");
  cmd->callback([args, &exit_code] { exit_code = run(*args); });
}

}  // namespace scws::sim::cli
