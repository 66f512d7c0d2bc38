// `scws bench attack`: the figures of the card's attack detection (docs/architecture.md, "Figures
// and targets"), through the real stack: clients -> Gateway (in process, over PcscTransport) ->
// libpcsclite -> a private pcscd -> vpcd -> `scws card` (a child process), as `scws bench http` runs it.
//
//  - Per detection rule (card/defence/incident.hpp), on a fresh card image provisioned from the demo
//    profile (its thresholds and windows): hostile attempts until the attacked port closed (the
//    gateway stopped listening for that card port, or a connect was refused) and the seconds from
//    the first hostile attempt to the closed port; then the incident queue read through PC/SC (VERIFY
//    ADM1, the admin applet on a logical channel, QUEUE SUMMARY 80 50 and READ INCIDENT 80 52,
//    docs/protocol.md section 15): exactly one incident of that rule is expected, and anything else
//    is printed loudly. The slow-clients row runs on the TLS port with the handshake deadline ([tls]
//    timeout) shortened to kSlowClientsTlsTimeout seconds, said in the report.
//  - The reference measured in the same run: the same attack on a card with that rule off (threshold
//    0), for as long as the guarded card took to close its port: the attempts it answered, i.e. what
//    an attacker gets without detection; and one legitimate TLS handshake and HTTP request (curl's
//    own timings).
//  - False positives under legitimate load: kLegitTlsClients curl processes with valid client
//    certificates, each making N keep-alive requests over TLS, and kLegitHttpClients curl processes
//    on the HTTP port (the demo page and the protected page with the right password) at the same
//    time; the incidents found afterwards (target: zero) and the requests per second.
//  - Card RAM the detection costs (sizeof(card::Detector), of which the sliding windows) and NVM per
//    incident (the record, and the queue object for the demo capacity).
//
// Clients are real and independent where that is simple: `openssl s_client` (foreign certificates,
// unknown PSK identities), `curl` (password guessing, the legitimate load); raw sockets for garbage,
// connection floods and idle sockets. A benchmark is a program: no verdicts, the figures beside
// their targets. Host code: throws std::runtime_error when something it started fails.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "base/bytes.hpp"

namespace scws::sim {

inline constexpr unsigned kLegitTlsClients = 7;    // the "seven clients with valid certificates"
inline constexpr unsigned kLegitHttpClients = 2;   // plain HTTP beside them: the page and the protected page
inline constexpr unsigned kSlowClientsTlsTimeout = 2;  // seconds, [tls] timeout of the slow-clients row

// --- parsing the admin applet's answers (docs/protocol.md section 15.3) ------------------------------

inline constexpr std::size_t kQueueSummarySize = 20;
inline constexpr std::size_t kIncidentRecordSize = 60;

struct QueueSummary {
  unsigned capacity = 0, count = 0;
  bool damaged = false;                 // flags b1: damaged at power-up
  u32 first = 0, last = 0, next = 0, dropped = 0;
};
// The 20 bytes of QUEUE SUMMARY (status word excluded); nullopt when the length is wrong.
std::optional<QueueSummary> parse_queue_summary(Bytes data);

struct IncidentRecord {
  unsigned rule = 0;            // 1..7 (card/defence/incident.hpp DetectionRule)
  bool time_from_terminal = false, port_closed = false;
  unsigned last_kind = 0;       // SecurityEventKind number
  u32 sequence = 0;
  std::string iccid;            // EF.ICCID's digits (swapped nibbles, F filler dropped)
  unsigned port = 0, events = 0, threshold = 0, window_seconds = 0, detail = 0;
  u32 first_time = 0, last_time = 0;
  unsigned connection = 0xFF;
  std::vector<u8> evidence;
};
// The 60-byte record of READ INCIDENT (status word excluded); nullopt when its length, format or
// CRC-32 is wrong.
std::optional<IncidentRecord> parse_incident_record(Bytes data);
// The rule's stable name ("tls-handshake-failures"), "rule N" when unknown.
std::string rule_name(unsigned rule);
// One line: "#3 tls-unknown-psk port 10443: 3 events (threshold 3 / 60 s), last tls-unknown-psk-identity ...".
std::string describe_incident(const IncidentRecord& record);

// --- figures ------------------------------------------------------------------------------------------

struct AttackRow {
  unsigned rule = 0;               // DetectionRule number
  std::string attack;              // what the attacker does, one line
  unsigned port = 0;               // the attacked card port
  unsigned threshold = 0, window_seconds = 0;
  // The guarded card (the demo's thresholds):
  bool closed = false;             // the port closed within the row's bound
  std::string closed_by;           // "the gateway stopped listening", "connect refused"
  unsigned attempts = 0;           // hostile attempts the gateway accepted before the port closed
  unsigned answered = 0;           // of which the card answered (alert, 401, 400, EOF, eviction)
  unsigned unexpected = 0;         // of which an answer an attack should not get (handshake done, 200)
  double seconds = 0;              // first hostile attempt -> the port closed
  std::optional<QueueSummary> queue;
  std::vector<IncidentRecord> incidents;  // every incident in the queue afterwards
  unsigned matching = 0;           // of which this row's rule
  std::string queue_error;         // why the queue could not be read
  // The reference: the same attack for `seconds` on a card with this rule off.
  bool reference_measured = false;
  unsigned reference_attempts = 0, reference_answered = 0;
  double reference_seconds = 0;
  unsigned reference_incidents = 0;  // incidents on the reference card afterwards (expected 0)
  std::string note;
};

struct LegitFigures {
  unsigned tls_clients = 0, http_clients = 0, requests_per_client = 0;
  u64 tls_ok = 0, http_ok = 0, failures = 0;
  double seconds = 0, tls_per_second = 0, http_per_second = 0;
  std::string first_failure;
  std::optional<QueueSummary> queue;
  std::vector<IncidentRecord> incidents;
  std::string queue_error;
};

struct MemoryFigures {
  std::size_t detector = 0;        // sizeof(card::Detector): RAM
  std::size_t windows = 0;         // of which the sliding windows
  std::size_t guarded_ports = 0, rules = 0, buckets = 0;
  std::size_t queue_object = 0;    // sizeof(card::IncidentQueue): RAM
  std::size_t record = 0;          // NVM per incident
  std::size_t queue_header = 0;
  unsigned capacity = 0;           // the demo's [incidents] capacity
  std::size_t queue_nvm = 0;       // header + capacity x record
  std::size_t port_state_nvm = 0;  // the port-state object
};
MemoryFigures memory_figures(unsigned capacity);

struct LegitTimes {
  bool measured = false;
  double tls_connect = 0, tls_handshake = 0, tls_request = 0;  // curl: TCP connect, TLS done, total (s)
  double http_request = 0;                                     // curl: one GET of the demo page (s)
  std::string note;
};

struct AttackBenchResult {
  std::vector<AttackRow> rows;
  LegitFigures legit;
  LegitTimes times;
  MemoryFigures memory;
  bool stack_measured = false;
  std::string stack_note;          // why the rows are missing
  bool quick = false;
};

struct AttackBenchOptions {
  bool quick = false;
  unsigned requests = 0;           // keep-alive requests per legitimate client; 0: 1000, 50 with quick
  std::filesystem::path scws;      // the scws executable (`scws card`)
  std::filesystem::path workdir;   // empty: a fresh temporary directory, removed afterwards
  bool keep_workdir = false;
  bool verbose = false;            // progress lines on stderr
};

// Call it before the process starts any thread: as root it first enters a private mount namespace
// for its pcscd (sim/testing/pcscd_harness.hpp). Without root only the memory figures are given.
AttackBenchResult run_attack_bench(const AttackBenchOptions& options);
std::string format_human(const AttackBenchResult& result);
std::string format_json(const AttackBenchResult& result);

}  // namespace scws::sim
