// scws: the one executable (docs/architecture.md, "The command line"). Exit codes are decided
// here: a command's own code, CLI11's for usage errors, 1 for an exception that escaped a command.
#include <exception>
#include <iostream>

#include "scws_config.hpp"
#include "sim/cli/cli.hpp"

int main(int argc, char** argv) {
  CLI::App app{"scws: a Smart Card Web Server on an emulated UICC, plugged into the real PC/SC stack", "scws"};
  app.set_version_flag("--version", std::string("scws ") + SCWS_VERSION);
  app.require_subcommand(1);
  app.fallthrough(false);

  int exit_code = scws::sim::cli::kExitOk;
  // One line per subcommand (sim/cli_<name>.cpp).
  scws::sim::cli::add_card_command(app, exit_code);
  scws::sim::cli::add_apdu_command(app, exit_code);
  scws::sim::cli::add_bench_command(app, exit_code);
  scws::sim::cli::add_gateway_command(app, exit_code);
  scws::sim::cli::add_run_command(app, exit_code);
  scws::sim::cli::add_provision_command(app, exit_code);
  scws::sim::cli::add_admin_command(app, exit_code);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::cerr << "scws: " << e.what() << "\n";
    return scws::sim::cli::kExitFailure;
  }
  return exit_code;
}
