// `scws gateway --reader NAME [--trace FILE.pcap] [--listen-address 127.0.0.1] [--map CARD=LOCAL]...
// [--connect-map A:P=B:Q]... [--connect-timeout S]`: the handset (CAT terminal, BIP server-mode relay
// and client-mode connections, docs/protocol.md section 7.10) against any PC/SC reader: the emulated card
// behind pcscd + vpcd, or a real SCWS card. Runs until SIGINT/SIGTERM (exit 0); a card that is
// reset, removed or restarted is waited for and served again. A port the card opens that cannot be
// listened on (taken by another process) ends it at once (exit 1), naming the port, its holder and
// the --map that moves it.
#include <csignal>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <asio.hpp>

#include "sim/host/card_transport.hpp"
#include "sim/cli/cli.hpp"
#include "sim/handset/gateway.hpp"
#include "sim/handset/tcp_client_connector.hpp"
#include "sim/host/pcsc_client.hpp"
#include "sim/host/apdu_pcap.hpp"

namespace scws::sim::cli {
namespace {

struct GatewayArgs {
  std::string reader;
  std::string trace;
  std::string listen_address = "127.0.0.1";
  std::vector<std::string> maps;
  std::vector<std::string> connect_maps;
  unsigned connect_timeout_s = 10;
  unsigned poll_ms = 1000;
  unsigned max_buffer = 16384;
  bool verbose = false;
};

int run_gateway(const GatewayArgs& args) {
  GatewayOptions options;
  options.listen_address = args.listen_address;
  options.poll_interval = std::chrono::milliseconds(args.poll_ms);
  options.max_buffer_size = static_cast<u16>(args.max_buffer);
  options.verbose = args.verbose;
  for (const auto& m : args.maps) {
    try {
      auto [card_port, local_port] = parse_port_map(m);
      options.port_map[card_port] = local_port;
    } catch (const std::invalid_argument& e) {
      std::cerr << "scws gateway: --map: " << e.what() << "\n";
      return kExitUsage;
    }
  }
  for (const auto& m : args.connect_maps) {
    try {
      auto [asked, instead] = parse_connect_map(m);
      options.connect_map[asked] = instead;
    } catch (const std::invalid_argument& e) {
      std::cerr << "scws gateway: --connect-map: " << e.what() << "\n";
      return kExitUsage;
    }
  }
  options.connect_timeout = std::chrono::seconds(args.connect_timeout_s);
  {
    asio::error_code ec;
    asio::ip::make_address(args.listen_address, ec);
    if (ec) {
      std::cerr << "scws gateway: --listen-address: not an IP address: " << args.listen_address << "\n";
      return kExitUsage;
    }
  }
  std::signal(SIGPIPE, SIG_IGN);

  std::unique_ptr<PcapTrace> trace;
  if (!args.trace.empty()) trace = std::make_unique<PcapTrace>(args.trace);

  PcscTransport transport(args.reader);  // throws PcscError when pcscd is not there
  transport.set_trace(trace.get());
  std::cerr << "gateway: waiting for a card in reader '" << args.reader << "'" << std::endl;
  if (trace) std::cerr << "gateway: tracing APDUs to " << args.trace << std::endl;

  asio::io_context io;
  const ServeOutcome served =
      serve_until_signal(io, transport, std::move(options), [] { std::cerr << "gateway: stopping" << std::endl; });
  if (served.failure) {
    std::cerr << "scws gateway: " << describe(*served.failure) << "; --map " << served.failure->card_port
              << "=PORT listens elsewhere (0: any free port)" << std::endl;
    return kExitFailure;
  }
  const TerminalStats& s = served.stats;
  std::cerr << "gateway: stopped after " << s.apdus << " APDUs, " << s.sessions << " card session(s), "
            << s.clients_accepted << " client(s), " << s.links_established << " client channel(s)" << std::endl;
  return kExitOk;
}

}  // namespace

void add_gateway_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<GatewayArgs>();
  CLI::App* cmd = app.add_subcommand("gateway", "Run the handset: CAT terminal and BIP relay between a card's SCWS and TCP clients");
  cmd->add_option("--reader,-r", args->reader, "PC/SC reader name (e.g. \"Virtual PCD 00 00\")")->required();
  cmd->add_option("--trace", args->trace, "Write every APDU exchange to this pcap file (GSMTAP SIM, for Wireshark)");
  cmd->add_option("--listen-address", args->listen_address, "Address the server-mode channels listen on")
      ->capture_default_str();
  cmd->add_option("--map", args->maps,
                  "CARDPORT=LOCALPORT: when the card opens CARDPORT, listen on LOCALPORT instead (0: an ephemeral "
                  "port, kept across card sessions); repeatable");
  cmd->add_option("--connect-map", args->connect_maps,
                  "A:P=B:Q: when the card opens a client channel to IPv4 A port P, connect to B:Q instead; repeatable");
  cmd->add_option("--connect-timeout", args->connect_timeout_s, "Seconds a client channel's connect may take")
      ->capture_default_str()
      ->check(CLI::Range(1u, 600u));
  cmd->add_option("--poll-interval", args->poll_ms, "Milliseconds between STATUS polls when idle")
      ->capture_default_str()
      ->check(CLI::Range(10u, 600000u));
  cmd->add_option("--max-buffer", args->max_buffer, "Largest channel buffer granted (bytes); larger requests are reduced")
      ->capture_default_str()
      ->check(CLI::Range(256u, 65535u));
  cmd->add_flag("--verbose,-v", args->verbose, "Log every proactive command, envelope and client");
  cmd->footer(
      "Prints one line per listening socket: \"gateway: channel N listening on ADDR:PORT (card port P, ...)\".\n"
      "Waits for the card and starts over after a reset or removal; exits 0 on SIGINT or SIGTERM, 1 when a port the\n"
      "card opens cannot be listened on.");
  cmd->callback([args, &exit_code] { exit_code = run_gateway(*args); });
}

}  // namespace scws::sim::cli
