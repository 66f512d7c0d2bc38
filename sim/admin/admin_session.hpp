// The server's half of the admin session (docs/protocol.md 16.2-16.7), over a Store and without
// sockets: one call per card request, answered with one HTTP response. The transport (TLS-PSK,
// sim/admin/admin_server.hpp) tells which card the connection authenticated as.
//
// A session lives in the Store, not in this object: its URI (<uri>/<session id>/<round>) finds it
// again from another connection or another server process. The first POST (a report) stores the
// incidents (once per (ICCID, sequence)), the settings, the port states and the queue summary, and
// answers a script: ACKNOWLEDGE up to the report's highest sequence when it had records, then the
// card's queued commands (each claimed: queued -> sent), or 204 when there is nothing to send. The
// responses POST marks each command done or failed (TS 102 226: the script stops at the first
// error; the commands after it go back to queued), then the next script or 204. A report posted to
// a session's URI (X-Admin-Resume: true after a breakdown) resumes that session: its unanswered
// commands are sent again (every command is idempotent, 16.6).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "sim/admin/admin_protocol.hpp"
#include "sim/admin/store.hpp"

namespace scws::sim::admin {

struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool close = false;  // Connection: close, then the server closes

  [[nodiscard]] std::string serialize() const;
};
HttpResponse error_response(int status, const std::string& text);

using LogFunction = std::function<void(const std::string&)>;

// The store's row for one reported incident (its parsed fields and its 60-byte record).
IncidentRecord incident_row(const std::string& iccid, const card::Incident& in, const Blob& record, std::int64_t received_at,
                            const std::string& session);

struct SessionStats {
  std::atomic<std::uint64_t> sessions{0};
  std::atomic<std::uint64_t> incidents_stored{0};
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> bad_requests{0};
};

class AdminSessions {
 public:
  static constexpr std::size_t kMaxScriptApdus = 255;    // docs/protocol.md 16.4
  static constexpr std::size_t kMaxScriptBytes = 32768;
  static constexpr unsigned kMaxRounds = 32;             // scripts per session before the server ends it

  // uri: the first POST's path (card.toml [admin] uri); log: one line per event worth keeping.
  AdminSessions(Store& store, std::string uri, LogFunction log);

  // One request of the card `iccid` (from its PSK identity) seen from `peer`. Never throws for what
  // the card sent: a ProtocolError becomes its status with a short text body (and a log line);
  // a StoreError becomes 500.
  HttpResponse handle(const HttpRequest& request, const std::string& iccid, const std::string& peer);

  [[nodiscard]] const SessionStats& stats() const noexcept { return stats_; }

 private:
  HttpResponse on_report(const HttpRequest& request, const std::string& iccid, const std::string& peer,
                         const std::string& session_id);
  HttpResponse on_responses(const HttpRequest& request, const std::string& iccid, const std::string& session_id,
                            unsigned round);
  // The next script of `session` (ack_sequence 0: no ACKNOWLEDGE) or 204; saves the session.
  HttpResponse next_script(SessionRecord& session, std::uint32_t ack_sequence);
  HttpResponse end_session(SessionRecord& session, const std::string& outcome);

  Store& store_;
  std::string uri_;
  LogFunction log_;
  SessionStats stats_;
};

// A fresh session identifier: 32 hex digits from the host's random source.
std::string new_session_id();

}  // namespace scws::sim::admin
