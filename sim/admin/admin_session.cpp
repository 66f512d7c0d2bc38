#include "sim/admin/admin_session.hpp"

#include <algorithm>
#include <charconv>
#include <random>
#include <sstream>

#include "apdu/status_word.hpp"

namespace scws::sim::admin {
namespace {

const char* reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
  }
}

// One entry of a script as the session remembers it: the ACKNOWLEDGE, or a command and its APDUs.
struct Entry {
  bool ack = false;
  std::int64_t command = 0;
  std::size_t apdus = 0;
};

std::vector<Entry> entries_of(const std::string& script) {
  std::vector<Entry> out;
  std::istringstream in(script);
  for (std::string w; in >> w;) {
    Entry e;
    if (w.rfind("ack:", 0) == 0) {
      e.ack = true;
      e.apdus = 1;
    } else if (w.rfind("cmd:", 0) == 0) {
      const std::size_t colon = w.find(':', 4);
      e.command = std::stoll(w.substr(4, colon - 4));
      e.apdus = std::stoul(w.substr(colon + 1));
    } else {
      continue;
    }
    out.push_back(e);
  }
  return out;
}

// "<uri>/<id>/<round>" -> (id, round); nullopt for another path.
std::optional<std::pair<std::string, unsigned>> session_uri(const std::string& uri, const std::string& target) {
  if (target.size() <= uri.size() + 1 || target.compare(0, uri.size(), uri) != 0 || target[uri.size()] != '/') return std::nullopt;
  const std::string rest = target.substr(uri.size() + 1);
  const std::size_t slash = rest.find('/');
  if (slash == 0 || slash == std::string::npos) return std::nullopt;
  const std::string id = rest.substr(0, slash), n = rest.substr(slash + 1);
  if (id.size() > 64 || n.empty() || n.size() > 4) return std::nullopt;
  unsigned round = 0;
  const auto [p, ec] = std::from_chars(n.data(), n.data() + n.size(), round);
  if (ec != std::errc{} || p != n.data() + n.size()) return std::nullopt;
  return std::make_pair(id, round);
}

}  // namespace

std::string HttpResponse::serialize() const {
  std::string s = "HTTP/1.1 " + std::to_string(status) + " " + reason(status) + "\r\n";
  for (const auto& [n, v] : headers) s += n + ": " + v + "\r\n";
  if (status != 204) s += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  if (close) s += "Connection: close\r\n";
  s += "\r\n";
  return s + body;
}

HttpResponse error_response(int status, const std::string& text) {
  HttpResponse r;
  r.status = status;
  r.headers = {{"X-Admin-Protocol", std::string(kProtocol)}, {"Content-Type", "text/plain"}};
  r.body = text + "\n";
  r.close = true;
  return r;
}

std::string new_session_id() {
  std::random_device rd;
  std::uint8_t b[16];
  for (auto& x : b) x = static_cast<std::uint8_t>(rd());
  return to_hex(b, sizeof b);
}

IncidentRecord incident_row(const std::string& iccid, const card::Incident& in, const Blob& record, std::int64_t received_at,
                            const std::string& session) {
  IncidentRecord r;
  r.iccid = iccid;
  r.sequence = in.sequence;
  r.rule = static_cast<unsigned>(in.rule);
  r.port = in.port;
  r.events = in.events;
  r.threshold = in.threshold;
  r.window = in.window_seconds;
  r.first_time = in.first_time;
  r.last_time = in.last_time;
  r.flags = record.size() > 2 ? record[2] : 0;  // the record's flags byte (docs/protocol.md 15.2)
  r.last_kind = static_cast<unsigned>(in.last_kind);
  r.detail = in.detail;
  r.connection = in.connection;
  r.evidence.assign(in.evidence.begin(), in.evidence.begin() + std::min<std::size_t>(in.evidence_length, in.evidence.size()));
  r.record = record;
  r.received_at = received_at;
  r.session = session;
  return r;
}

AdminSessions::AdminSessions(Store& store, std::string uri, LogFunction log)
    : store_(store), uri_(std::move(uri)), log_(log ? std::move(log) : [](const std::string&) {}) {}

HttpResponse AdminSessions::handle(const HttpRequest& req, const std::string& iccid, const std::string& peer) {
  ++stats_.requests;
  try {
    if (req.method != "POST") throw ProtocolError(405, "only POST");
    if (req.header("x-admin-protocol") != std::string(kProtocol)) throw ProtocolError(400, "X-Admin-Protocol missing or not " + std::string(kProtocol));
    const auto from = req.header("x-admin-from");
    if (!from) throw ProtocolError(400, "X-Admin-From missing");
    if (*from != std::string(kFromPrefix) + iccid) throw ProtocolError(403, "X-Admin-From " + *from + " is not the card of this PSK identity");
    const std::string type = req.header("content-type").value_or("");
    if (type == kReportType) {
      if (req.target == uri_) return on_report(req, iccid, peer, "");
      if (auto s = session_uri(uri_, req.target)) return on_report(req, iccid, peer, s->first);
      throw ProtocolError(404, "no such URI: " + req.target);
    }
    if (type == kResponseType) {
      auto s = session_uri(uri_, req.target);
      if (!s) throw ProtocolError(404, "responses to a URI that names no session: " + req.target);
      return on_responses(req, iccid, s->first, s->second);
    }
    throw ProtocolError(415, "Content-Type \"" + type + "\" is neither a report nor script responses");
  } catch (const ProtocolError& e) {
    ++stats_.bad_requests;
    log_("refused a request of " + iccid + " from " + peer + ": " + std::to_string(e.status()) + " " + e.what());
    return error_response(e.status(), e.what());
  } catch (const StoreError& e) {
    log_("store error on a request of " + iccid + ": " + e.what());
    return error_response(500, "store error");
  }
}

HttpResponse AdminSessions::on_report(const HttpRequest& req, const std::string& iccid, const std::string& peer,
                                      const std::string& session_id) {
  const Report report = parse_report(req.body);
  const bool resume_header = req.header("x-admin-resume") == std::string("true");
  std::optional<SessionRecord> session;
  if (!session_id.empty()) {
    session = store_.session(session_id);
    if (!session || session->iccid != iccid) throw ProtocolError(404, "no session " + session_id + " of this card");
    if (session->ended != 0) session.reset();  // that session ended: the report starts a new one
  }
  // Commands sent in a session whose responses never came may or may not have run: send them again.
  store_.requeue_sent(iccid);
  const std::int64_t now = now_seconds();
  std::size_t stored = 0;
  if (!session) {
    SessionRecord s;
    s.id = new_session_id();
    s.iccid = iccid;
    s.peer = peer;
    s.started = now;
    s.trigger = report.trigger;
    s.resumed = resume_header;
    s.outcome = "open";
    store_.create_session(s);
    session = s;
    ++stats_.sessions;
  } else {
    session->resumed = true;
    session->peer = peer;
    session->trigger = report.trigger;
  }
  for (const ReportedIncident& ri : report.incidents) {
    const IncidentRecord r = incident_row(iccid, ri.incident, ri.record, now, session->id);
    if (store_.add_incident(r)) ++stored;
  }
  stats_.incidents_stored += stored;
  store_.card_seen(iccid, report.settings, report.port_states, report.summary_bytes);
  session->settings = report.settings;
  log_("report from " + iccid + " (" + peer + ", " + trigger_name(report.trigger) + (session->resumed ? ", resumed" : "") +
       "): " + std::to_string(report.incidents.size()) + " incidents, " + std::to_string(stored) + " new; session " + session->id);
  return next_script(*session, report.highest_sequence());
}

HttpResponse AdminSessions::on_responses(const HttpRequest& req, const std::string& iccid, const std::string& session_id,
                                         unsigned round) {
  auto session = store_.session(session_id);
  if (!session || session->iccid != iccid) throw ProtocolError(404, "no session " + session_id + " of this card");
  if (session->ended != 0) throw ProtocolError(409, "session " + session_id + " has ended");
  if (round != session->round) throw ProtocolError(409, "responses to round " + std::to_string(round) + ", the session is at " + std::to_string(session->round));
  const ResponseScript rs = parse_response_script(req.body);
  const std::vector<Entry> entries = entries_of(session->script);
  std::size_t at = 0;  // the next R-APDU
  bool stopped = false;
  std::size_t finished = 0;
  for (const Entry& e : entries) {
    if (stopped) {  // TS 102 226: not executed after the script stopped
      if (!e.ack) store_.requeue_command(e.command);
      continue;
    }
    const std::size_t available = std::min(e.apdus, rs.responses.size() - std::min(at, rs.responses.size()));
    std::uint16_t sw = apdu::to_u16(apdu::StatusWord::kOk);
    Blob data;
    bool failed = false;
    for (std::size_t i = 0; i < available; ++i) {
      const RApdu& r = rs.responses[at + i];
      sw = r.sw;
      data = r.data;
      if (!sw_success(r.sw)) {
        failed = true;
        break;
      }
    }
    at += available;
    const std::string sw_hex = to_hex(Blob{static_cast<std::uint8_t>(sw >> 8), static_cast<std::uint8_t>(sw)});
    if (!failed && available < e.apdus) {
      // The script ended before this entry ran whole: it runs again from its start.
      if (!e.ack) store_.requeue_command(e.command);
      stopped = true;
      continue;
    }
    if (failed) stopped = true;
    if (e.ack) {
      if (failed) log_("ACKNOWLEDGE refused by " + iccid + ": SW " + sw_hex);
      continue;
    }
    const auto cmd = store_.command(e.command);
    store_.finish_command(e.command, !failed, sw, data);
    ++finished;
    log_("command " + std::to_string(e.command) + " of " + iccid + (failed ? " failed" : " done") + ": SW " + sw_hex);
    if (!failed && cmd) {
      if (cmd->kind == "rotate-psk") store_.confirm_pending_key(iccid);
      if (is_settings_command(cmd->kind)) {
        try {
          session->settings = apply_settings_command(session->settings, cmd->text);
        } catch (const std::invalid_argument&) {
        }
      }
    }
  }
  if (finished == 0 && !entries.empty() && !(entries.size() == 1 && entries[0].ack)) return end_session(*session, "done: no progress");
  return next_script(*session, 0);
}

HttpResponse AdminSessions::next_script(SessionRecord& session, std::uint32_t ack_sequence) {
  if (session.round >= kMaxRounds) return end_session(session, "done: round limit");
  std::vector<Blob> apdus;
  std::string script;
  std::size_t bytes = 4;
  if (ack_sequence != 0) {
    apdus.push_back(acknowledge_apdu(ack_sequence));
    script = "ack:1";
    bytes += apdus.back().size() + 2;
  }
  Blob settings = session.settings;
  for (const CommandRecord& c : store_.queued_commands(session.iccid)) {
    std::vector<Blob> own = c.apdus;
    Blob edited;
    if (is_settings_command(c.kind)) {
      try {
        edited = apply_settings_command(settings, c.text);
        own = {write_settings_apdu(edited)};
      } catch (const std::invalid_argument& e) {
        if (store_.claim_command(c.id, session.id)) {
          const std::string why = e.what();
          store_.finish_command(c.id, false, 0, Blob(why.begin(), why.end()));
          log_("command " + std::to_string(c.id) + " of " + session.iccid + " failed here: " + why);
        }
        continue;
      }
    }
    std::size_t more = 0;
    for (const Blob& a : own) more += a.size() + 4;
    if (apdus.size() + own.size() > kMaxScriptApdus || bytes + more > kMaxScriptBytes) break;  // the next script takes it
    if (!store_.claim_command(c.id, session.id)) continue;  // another server sent it
    if (!edited.empty()) settings = edited;
    apdus.insert(apdus.end(), own.begin(), own.end());
    bytes += more;
    script += (script.empty() ? "" : " ") + std::string("cmd:") + std::to_string(c.id) + ":" + std::to_string(own.size());
  }
  if (apdus.empty()) return end_session(session, "done");
  ++session.round;
  session.script = script;
  store_.update_session(session);
  HttpResponse r;
  r.headers = {{"X-Admin-Protocol", std::string(kProtocol)},
               {"Content-Type", std::string(kScriptType)},
               {"X-Admin-Next-URI", uri_ + "/" + session.id + "/" + std::to_string(session.round)},
               {"X-Admin-Targeted-Application", std::string(kAdminAppletTarget)}};
  r.body = build_script(apdus);
  log_("script " + std::to_string(session.round) + " of session " + session.id + " to " + session.iccid + ": " +
       std::to_string(apdus.size()) + " C-APDUs (" + script + ")");
  return r;
}

HttpResponse AdminSessions::end_session(SessionRecord& session, const std::string& outcome) {
  session.ended = now_seconds();
  session.outcome = outcome;
  session.script.clear();
  store_.update_session(session);
  log_("session " + session.id + " of " + session.iccid + " ends (" + outcome + ")");
  HttpResponse r;
  r.status = 204;
  r.headers = {{"X-Admin-Protocol", std::string(kProtocol)}};
  return r;
}

}  // namespace scws::sim::admin
