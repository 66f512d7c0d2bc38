// The `scws` command line (docs/architecture.md, "The command line"): one executable, one file per subcommand
// (sim/cli_<name>.cpp), each adding itself to the CLI11 app. A subcommand's callback runs the
// command and stores its exit code; exceptions propagate to main, which prints them and exits 1.
#pragma once

#include <CLI/CLI.hpp>

namespace scws::sim::cli {

// Exit codes every subcommand uses.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // runtime error: PC/SC, I/O, a refused image, a failed benchmark
inline constexpr int kExitUsage = 2;    // arguments CLI11 accepted but the command cannot use (bad hex, ...)

// Each adds one subcommand to app; exit_code receives the command's result when it runs.
void add_card_command(CLI::App& app, int& exit_code);
void add_apdu_command(CLI::App& app, int& exit_code);
void add_bench_command(CLI::App& app, int& exit_code);
void add_gateway_command(CLI::App& app, int& exit_code);
void add_run_command(CLI::App& app, int& exit_code);
void add_provision_command(CLI::App& app, int& exit_code);
void add_admin_command(CLI::App& app, int& exit_code);

}  // namespace scws::sim::cli
