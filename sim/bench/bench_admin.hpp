// `scws bench admin`: the figures of incident reporting to the administration server
// (docs/protocol.md section 16), each beside a reference measured in the same run:
//
//  1. Through the real stack (openssl s_client -> Gateway in process over PC/SC -> libpcsclite -> a
//     private pcscd -> vpcd -> `scws card` child, as `scws bench attack` runs it; the card's client
//     channel to 127.0.0.1:7443 redirected by GatewayOptions::connect_map to an in-process
//     AdminServer on SQLite): seconds from the first hostile attempt (foreign-CA handshakes on the TLS
//     port) to the incident stored at the server. Reference: seconds from the first attempt to the
//     closed port, in the same run.
//  2. The admin session that carried that incident: APDUs (the gateway's exchange counter between the
//     client channel's "connecting to" and "closed" log lines) and seconds. Reference: one plain
//     HTTP GET (Connection: close) through the same gateway.
//  3. Card RAM of the client session, in process (EmulatedUicc over a DirectTransport, the same
//     gateway and server; the incident made with records that are no TLS): the TLS region peak the
//     session held (AdminAgent::last_tls_ram), the arena bytes of its HTTP state
//     (AdminAgent::session_ram), and the card's arena high-water before and after it. Reference: the
//     TLS region one PSK server session of the TLS port needs (tls::kPskSessionBudget).
//  4. Incidents per second the server stores (SQLite; PostgreSQL when its programs are installed),
//     reports posted by an in-process TLS-PSK client. Reference: the same rows inserted straight into
//     the Store.
//
// A benchmark is a program: figures, no verdicts. Host code: throws std::runtime_error when something
// it started fails.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace scws::sim {

inline constexpr unsigned kAdminBenchAttempts = 5;  // the demo's tls_handshake_failures threshold

struct AdminStackFigures {
  bool measured = false;
  std::string note;                 // why not, or what went wrong
  unsigned attempts = 0;            // hostile handshakes until the port closed
  bool closed = false;
  double seconds_closed = 0;        // first attempt -> the gateway stopped listening on the TLS port
  bool stored = false;
  double seconds_stored = 0;        // first attempt -> the server's store holds the incident
  // The session that carried it
  bool session_measured = false;
  std::uint64_t session_apdus = 0;
  double session_seconds = 0;
  std::uint64_t server_sessions = 0, server_requests = 0, server_incidents = 0;
  // Reference: one plain HTTP GET / with Connection: close through the same gateway
  bool get_measured = false;
  std::uint64_t get_apdus = 0;
  double get_seconds = 0;
};

struct AdminRamFigures {
  bool measured = false;
  std::string note;
  std::size_t tls_peak = 0;          // AdminAgent::last_tls_ram(): TLS region bytes at the session's peak
  std::size_t session_arena = 0;     // AdminAgent::session_ram(): arena bytes of its HTTP state
  std::size_t high_water_before = 0;  // card arena high-water before the first session
  std::size_t high_water_after = 0;   // ... after it
  std::size_t arena_capacity = 0;
  std::size_t psk_session_budget = 0;  // reference: tls::kPskSessionBudget (one PSK server session)
  unsigned sessions_completed = 0;
};

struct StoreRateRow {
  std::string store;                 // "SQLite", "PostgreSQL"
  bool measured = false;
  std::string note;                  // "not measured": why
  unsigned sessions = 0, incidents_per_session = 0;
  double server_seconds = 0, server_per_second = 0;  // through the TLS-PSK server
  std::uint64_t server_stored = 0;
  double direct_seconds = 0, direct_per_second = 0;  // reference: Store::add_incident straight
};

struct AdminBenchResult {
  bool quick = false;
  AdminStackFigures stack;
  AdminRamFigures ram;
  std::vector<StoreRateRow> stores;
};

struct AdminBenchOptions {
  bool quick = false;
  std::filesystem::path scws;      // the scws executable (`scws card`)
  std::filesystem::path workdir;   // empty: a fresh temporary directory, removed afterwards
  bool keep_workdir = false;
  bool verbose = false;            // progress lines on stderr
};

// Call it before the process starts any thread: as root it first enters a private mount namespace
// for its pcscd (sim/testing/pcscd_harness.hpp). Without root figures 1-2 say why they are missing.
AdminBenchResult run_admin_bench(const AdminBenchOptions& options);
std::string format_human(const AdminBenchResult& result);
std::string format_json(const AdminBenchResult& result);

}  // namespace scws::sim
