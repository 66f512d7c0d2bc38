// The administration server's side of the admin session (docs/protocol.md section 16): the card's
// HTTP requests, the report body (16.3), the response template (16.5), the script template (16.4)
// and the commands' C-APDUs (16.6). Pure functions over bytes: no sockets, no TLS, no database, so
// that the fuzz target links only this file and card/defence.
//
// Errors are exceptions (host code): ProtocolError carries the HTTP status the server answers and a
// short text naming the problem.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "card/defence/detection_settings.hpp"
#include "card/defence/incident.hpp"

namespace scws::sim::admin {

using Blob = std::vector<std::uint8_t>;

inline constexpr std::string_view kProtocol = "globalplatform-remote-admin/1.0";
inline constexpr std::string_view kReportType = "application/vnd.scws.incident-report;version=1.0";
inline constexpr std::string_view kScriptType = "application/vnd.globalplatform.card-content-mgt;version=1.0";
inline constexpr std::string_view kResponseType = "application/vnd.globalplatform.card-content-mgt-response;version=1.0";
inline constexpr std::string_view kFromPrefix = "//se-id/iccid/";
inline constexpr std::string_view kIdentityPrefix = "scws-admin:";
inline constexpr std::string_view kAdminAppletTarget = "//aid/F053435753/41";

// A problem with what the card sent: the status to answer (400, 403, 404, 405, 413, 431, 505) and why.
class ProtocolError : public std::runtime_error {
 public:
  ProtocolError(int status, const std::string& what) : std::runtime_error(what), status_(status) {}
  [[nodiscard]] int status() const noexcept { return status_; }

 private:
  int status_;
};

// ---- HTTP requests (RFC 9112) -----------------------------------------------------------------------

struct HttpRequest {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased, values trimmed
  std::string body;
  bool keep_alive = true;  // HTTP/1.1 default; false with "Connection: close"

  // The first header of that (lower-case) name, if any.
  [[nodiscard]] std::optional<std::string> header(std::string_view lower_name) const;
};

inline constexpr std::size_t kMaxHead = 8 * 1024;
inline constexpr std::size_t kMaxBody = 1024 * 1024;

// One request at the start of `buffer`: nullopt while incomplete (more bytes needed), else the
// request and the bytes it took (a keep-alive connection's next request follows). Throws
// ProtocolError: a head over kMaxHead (431), a body over kMaxBody (413), a malformed request
// line, header, Content-Length or chunk (400), another version than HTTP/1.1 (505). Stateless:
// call again with the grown buffer.
struct ParsedRequest {
  HttpRequest request;
  std::size_t consumed = 0;
};
std::optional<ParsedRequest> parse_request(std::string_view buffer);

// ---- Identity -----------------------------------------------------------------------------------------

// "scws-admin:<digits>" -> the digits; nullopt for another form.
std::optional<std::string> iccid_of_identity(std::string_view psk_identity);
// True for 19 or 20 decimal digits (TS 102 221 13.2, as provisioning writes them).
bool valid_iccid(std::string_view digits);
// EF.ICCID bytes (swapped nibbles, F filler) -> digits; "" when a byte is not BCD.
std::string iccid_from_bcd(const std::uint8_t* bytes, std::size_t size);

// ---- The report (16.3) ------------------------------------------------------------------------------

inline constexpr std::size_t kSummarySize = 20;
inline constexpr std::size_t kRecordSize = 60;

struct QueueSummary {
  unsigned capacity = 0, count = 0, flags = 0;
  std::uint32_t first = 0, last = 0, next = 0, dropped = 0;
};

struct ReportedIncident {
  card::Incident incident;
  Blob record;  // the 60 bytes as sent
};

struct Report {
  unsigned trigger = 0;  // 1 new incident, 2 period, 3 START SESSION, 4 retry, 5 power-up
  Blob summary_bytes;    // 20
  QueueSummary summary;
  Blob settings;         // 34 (card/defence/detection_settings.hpp), as the card sent them
  Blob port_states;      // READ PORT STATES bytes
  std::vector<ReportedIncident> incidents;
  [[nodiscard]] std::uint32_t highest_sequence() const noexcept;
};

// Throws ProtocolError(400) naming the field: format, trigger, lengths, a record's CRC or rule.
Report parse_report(std::string_view body);
// The report's bytes (tests, the test client): the inverse of parse_report.
std::string build_report(unsigned trigger, const Blob& summary, const Blob& settings, const Blob& port_states,
                         const std::vector<Blob>& records);
const char* trigger_name(unsigned trigger) noexcept;

// ---- Templates (TS 102 226 5.2) -----------------------------------------------------------------------

// AA L { 22 L <C-APDU> } ... (definite; BER lengths).
std::string build_script(const std::vector<Blob>& capdus);
// The C-APDUs of a script (definite AA or indefinite AE); throws ProtocolError(400).
std::vector<Blob> parse_script(std::string_view body);

struct RApdu {
  Blob data;
  std::uint16_t sw = 0;
};
struct ResponseScript {
  unsigned executed = 0;  // n of "80 01 n": C-APDUs the card ran
  std::vector<RApdu> responses;
};
// AB L 80 01 n { 23 L <data SW1 SW2> } ... or AF 80 ... 00 00; throws ProtocolError(400).
ResponseScript parse_response_script(std::string_view body);
std::string build_response_script(unsigned executed, const std::vector<RApdu>& responses);

// TS 102 226 (after ISO/IEC 7816-4 5.6): 90 00, 61 XX, 62 XX, 63 XX let the script go on.
bool sw_success(std::uint16_t sw) noexcept;

// ---- Commands (16.6) ---------------------------------------------------------------------------------

inline constexpr std::size_t kResourceChunk = 240;  // data bytes per PUT RESOURCE data APDU

Blob apdu(std::uint8_t ins, std::uint8_t p1, std::uint8_t p2, const Blob& data = {});
Blob acknowledge_apdu(std::uint32_t sequence);
Blob write_settings_apdu(const Blob& settings);

// A command as `scws admin push` takes it: kind + arguments. parse_command checks the arguments and
// builds the C-APDUs (PUT RESOURCE: begin, data, publish); settings commands (set-rule,
// set-policy) have no APDUs of their own: the server edits the settings of the session's report
// (apply_settings_command) and sends WRITE SETTINGS. Throws std::invalid_argument naming the problem.
struct CommandSpec {
  std::string kind;  // reopen-port, close-port, set-rule, set-policy, put-resource, ...
  std::string text;  // the text form stored and shown (never a key)
  std::vector<Blob> apdus;
  Blob pending_link_key;  // rotate-psk: the key the server made, pending until confirmed
};
// args: the command's words after the kind; file contents for put-resource are read by the
// caller and given in `resource` (nullopt: read args' FILE here).
CommandSpec parse_command(const std::string& kind, const std::vector<std::string>& args,
                          const std::optional<std::string>& resource = std::nullopt);
bool is_settings_command(std::string_view kind) noexcept;
// Edits the 34 settings bytes by a set-rule / set-policy command's text form; throws
// std::invalid_argument when the bytes do not decode or the result is out of range.
Blob apply_settings_command(const Blob& settings, const std::string& text);

// Rule by name (detection_rule_name) or number 1..7; nullopt otherwise.
std::optional<card::DetectionRule> rule_by_name(std::string_view name);

std::string to_hex(const std::uint8_t* data, std::size_t size);
inline std::string to_hex(const Blob& b) { return to_hex(b.data(), b.size()); }
// Hex digits (spaces allowed) -> bytes; throws std::invalid_argument.
Blob from_hex(std::string_view hex);

}  // namespace scws::sim::admin
