// `scws admin`: the administration server the cards report to (docs/protocol.md section 16) and its
// tools: serve, enrol, reports, cards, push, commands. Every subcommand takes --db (a SQLite file,
// default $XDG_STATE_HOME/scws/admin.sqlite, else ~/.local/state/scws/admin.sqlite, the folder
// `scws run` keeps its state in; or a postgresql:// URL).
#include <openssl/rand.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "card/defence/admin_applet.hpp"
#include "card/defence/incident.hpp"
#include "sim/admin/admin_server.hpp"
#include "sim/admin/enrolment.hpp"
#include "sim/admin/store.hpp"
#include "sim/cli/cli.hpp"

namespace scws::sim::cli {
namespace {

namespace fs = std::filesystem;
using namespace scws::sim::admin;

std::string default_db() {
  fs::path dir;
  if (const char* x = std::getenv("XDG_STATE_HOME"); x != nullptr && *x != '\0') dir = fs::path(x) / "scws";
  else if (const char* h = std::getenv("HOME"); h != nullptr && *h != '\0') dir = fs::path(h) / ".local" / "state" / "scws";
  else dir = "scws-state";
  return (dir / "admin.sqlite").string();
}

int usage(const std::string& line) {
  std::cerr << "scws admin: " << line << std::endl;
  return kExitUsage;
}

std::string json_string(const std::string& s) {
  std::ostringstream o;
  o << '"';
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') o << '\\' << c;
    else if (c < 0x20) o << "\\u" << std::hex << std::setw(4) << std::setfill('0') << unsigned{c} << std::dec;
    else o << c;
  }
  o << '"';
  return o.str();
}

std::string rule_name(unsigned rule) { return card::detection_rule_name(static_cast<card::DetectionRule>(rule)); }

struct DbArg {
  std::string db;
  [[nodiscard]] std::string where() const { return db.empty() ? default_db() : db; }
};

void add_db(CLI::App* cmd, DbArg& d) {
  cmd->add_option("--db", d.db, "SQLite file or postgresql:// URL (default " + default_db() + ")");
}

// ---- serve ------------------------------------------------------------------------------------------

struct ServeArgs {
  DbArg db;
  std::string listen = "127.0.0.1:7443";
  std::string uri = "/scws/admin";
  std::vector<std::string> enrol;
  unsigned idle = 30;
  bool dump = false;
};

int enrol_files(Store& store, const std::vector<std::string>& files, const char* who) {
  for (const std::string& f : files) {
    Enrolment e;
    try {
      e = read_enrolment(f);
    } catch (const EnrolmentError& x) {
      std::cerr << "scws admin " << who << ": " << x.what() << std::endl;
      return kExitUsage;
    }
    store.enrol(e.iccid, e.psk_identity, e.psk_key);
    std::cout << "scws admin " << who << ": enrolled card " << e.iccid << " (PSK identity " << e.psk_identity << ")" << std::endl;
  }
  return kExitOk;
}

int run_serve(const ServeArgs& a) {
  const std::size_t colon = a.listen.rfind(':');
  if (colon == std::string::npos) return usage("--listen takes ADDRESS:PORT, not " + a.listen);
  unsigned long port = 0;
  try {
    std::size_t used = 0;
    port = std::stoul(a.listen.substr(colon + 1), &used);
    if (used != a.listen.size() - colon - 1 || port > 65535) throw std::out_of_range("port");
  } catch (const std::exception&) {
    return usage("--listen: bad port in " + a.listen);
  }
  if (a.uri.empty() || a.uri.front() != '/') return usage("--uri must be an absolute path");
  auto store = open_store(a.db.where());
  std::cout << "scws admin: database " << store->location() << std::endl;
  if (const int rc = enrol_files(*store, a.enrol, "serve"); rc != kExitOk) return rc;
  asio::io_context io;
  AdminServerOptions o;
  o.address = a.listen.substr(0, colon);
  o.port = static_cast<std::uint16_t>(port);
  o.uri = a.uri;
  o.idle_timeout = std::chrono::seconds(a.idle);
  o.log = [](const std::string& line) { std::cout << "scws admin: " << line << std::endl; };
  if (a.dump) o.dump = [](const std::string& text) { std::cout << text << std::flush; };
  AdminServer server(io, *store, o);
  server.start();
  std::cout << "scws admin: listening on " << o.address << ":" << server.port() << std::endl;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const std::error_code&, int) {
    server.stop();
    io.stop();
  });
  io.run();
  const AdminServerStats s = server.stats();
  std::cout << "scws admin: stopped: " << s.connections << " connections, " << s.sessions << " sessions, " << s.incidents_stored
            << " incidents stored, " << s.refused_handshakes << " handshakes refused" << std::endl;
  return kExitOk;
}

// ---- reports, cards, commands -------------------------------------------------------------------------

struct ListArgs {
  DbArg db;
  std::string card;
  bool json = false;
};

int run_reports(const ListArgs& a) {
  if (!a.card.empty() && !valid_iccid(a.card)) return usage("--card takes an ICCID of 19 or 20 digits");
  auto store = open_store(a.db.where());
  const auto list = store->incidents(a.card.empty() ? std::nullopt : std::optional<std::string>(a.card));
  if (a.json) {
    std::cout << "[";
    for (std::size_t i = 0; i < list.size(); ++i) {
      const IncidentRecord& r = list[i];
      std::cout << (i ? ",\n " : "\n ") << "{\"iccid\":" << json_string(r.iccid) << ",\"sequence\":" << r.sequence
                << ",\"rule\":" << json_string(rule_name(r.rule)) << ",\"rule_number\":" << r.rule << ",\"port\":" << r.port
                << ",\"events\":" << r.events << ",\"threshold\":" << r.threshold << ",\"window\":" << r.window
                << ",\"first_time\":" << json_string(iso_time(r.first_time)) << ",\"last_time\":" << json_string(iso_time(r.last_time))
                << ",\"flags\":" << r.flags << ",\"detail\":" << r.detail << ",\"evidence\":" << json_string(to_hex(r.evidence))
                << ",\"received\":" << json_string(iso_time(r.received_at)) << ",\"session\":" << json_string(r.session) << "}";
    }
    std::cout << (list.empty() ? "]" : "\n]") << std::endl;
    return kExitOk;
  }
  std::cout << std::left << std::setw(21) << "ICCID" << std::setw(9) << "SEQUENCE" << std::setw(26) << "RULE" << std::setw(7) << "PORT"
            << std::setw(16) << "EVENTS/THR/WIN" << std::setw(22) << "FIRST (UTC)" << std::setw(22) << "LAST (UTC)" << "RECEIVED (UTC)" << "\n";
  for (const IncidentRecord& r : list) {
    std::cout << std::setw(21) << r.iccid << std::setw(9) << r.sequence << std::setw(26) << rule_name(r.rule) << std::setw(7) << r.port
              << std::setw(16) << (std::to_string(r.events) + "/" + std::to_string(r.threshold) + "/" + std::to_string(r.window) + "s")
              << std::setw(22) << iso_time(r.first_time) << std::setw(22) << iso_time(r.last_time) << iso_time(r.received_at) << "\n";
  }
  std::cout << list.size() << " incidents" << std::endl;
  return kExitOk;
}

int run_cards(const ListArgs& a) {
  auto store = open_store(a.db.where());
  const auto list = store->cards();
  if (a.json) {
    std::cout << "[";
    for (std::size_t i = 0; i < list.size(); ++i) {
      const CardRecord& c = list[i];
      const auto incidents = store->incidents(c.iccid).size();
      std::cout << (i ? ",\n " : "\n ") << "{\"iccid\":" << json_string(c.iccid) << ",\"psk_identity\":" << json_string(c.psk_identity)
                << ",\"key_pending\":" << (c.pending_psk_key.empty() ? "false" : "true") << ",\"enrolled\":" << json_string(iso_time(c.enrolled))
                << ",\"last_seen\":" << json_string(iso_time(c.last_seen)) << ",\"incidents\":" << incidents
                << ",\"settings\":" << json_string(to_hex(c.last_settings)) << ",\"port_states\":" << json_string(to_hex(c.last_port_states))
                << ",\"queue_summary\":" << json_string(to_hex(c.last_summary)) << "}";
    }
    std::cout << (list.empty() ? "]" : "\n]") << std::endl;
    return kExitOk;
  }
  std::cout << std::left << std::setw(21) << "ICCID" << std::setw(36) << "PSK IDENTITY" << std::setw(22) << "ENROLLED (UTC)" << std::setw(22)
            << "LAST SEEN (UTC)" << "INCIDENTS\n";
  for (const CardRecord& c : list)
    std::cout << std::setw(21) << c.iccid << std::setw(36) << c.psk_identity << std::setw(22) << iso_time(c.enrolled) << std::setw(22)
              << (c.last_seen ? iso_time(c.last_seen) : "never") << store->incidents(c.iccid).size() << (c.pending_psk_key.empty() ? "" : " (key rotation pending)")
              << "\n";
  std::cout << list.size() << " cards" << std::endl;
  return kExitOk;
}

int run_commands(const ListArgs& a) {
  if (!a.card.empty() && !valid_iccid(a.card)) return usage("--card takes an ICCID of 19 or 20 digits");
  auto store = open_store(a.db.where());
  const auto list = store->commands(a.card.empty() ? std::nullopt : std::optional<std::string>(a.card));
  auto sw_hex = [](unsigned sw) { return to_hex(Blob{static_cast<std::uint8_t>(sw >> 8), static_cast<std::uint8_t>(sw)}); };
  if (a.json) {
    std::cout << "[";
    for (std::size_t i = 0; i < list.size(); ++i) {
      const CommandRecord& c = list[i];
      std::cout << (i ? ",\n " : "\n ") << "{\"id\":" << c.id << ",\"iccid\":" << json_string(c.iccid) << ",\"kind\":" << json_string(c.kind)
                << ",\"text\":" << json_string(c.text) << ",\"state\":" << json_string(to_string(c.state))
                << ",\"sw\":" << json_string(c.sw ? sw_hex(c.sw) : "") << ",\"response\":" << json_string(to_hex(c.response))
                << ",\"session\":" << json_string(c.session) << ",\"created\":" << json_string(iso_time(c.created))
                << ",\"updated\":" << json_string(iso_time(c.updated)) << "}";
    }
    std::cout << (list.empty() ? "]" : "\n]") << std::endl;
    return kExitOk;
  }
  std::cout << std::left << std::setw(6) << "ID" << std::setw(21) << "ICCID" << std::setw(8) << "STATE" << std::setw(6) << "SW" << std::setw(22)
            << "UPDATED (UTC)" << "COMMAND\n";
  for (const CommandRecord& c : list)
    std::cout << std::setw(6) << c.id << std::setw(21) << c.iccid << std::setw(8) << to_string(c.state) << std::setw(6)
              << (c.sw ? sw_hex(c.sw) : "") << std::setw(22) << iso_time(c.updated) << c.text << "\n";
  std::cout << list.size() << " commands" << std::endl;
  return kExitOk;
}

// ---- push -------------------------------------------------------------------------------------------

struct PushArgs {
  DbArg db;
  std::vector<std::string> words;  // ICCID COMMAND ARGS...
};

int run_push(const PushArgs& a) {
  std::vector<std::string> words;
  std::string db = a.db.db;
  for (std::size_t i = 0; i < a.words.size(); ++i) {
    if (a.words[i] == "--db" && i + 1 < a.words.size()) db = a.words[++i];
    else words.push_back(a.words[i]);
  }
  if (words.size() < 2) return usage("push takes ICCID COMMAND ARGS...");
  const std::string& iccid = words[0];
  if (!valid_iccid(iccid)) return usage("\"" + iccid + "\" is not an ICCID of 19 or 20 digits");
  CommandSpec spec;
  try {
    spec = parse_command(words[1], std::vector<std::string>(words.begin() + 2, words.end()));
  } catch (const std::invalid_argument& e) {
    return usage(e.what());
  }
  auto store = open_store(db.empty() ? default_db() : db);
  if (!store->card(iccid)) {
    std::cerr << "scws admin push: card " << iccid << " is not enrolled (scws admin enrol FILE.admin.toml)" << std::endl;
    return kExitFailure;
  }
  if (spec.kind == "rotate-psk") {
    Blob key(16);
    if (RAND_bytes(key.data(), static_cast<int>(key.size())) != 1) throw std::runtime_error("no random bytes for the new key");
    spec.apdus = {apdu(card::AdminApplet::kInsRotatePsk, card::AdminApplet::kRotateLinkPsk, 0, key)};
    store->set_pending_key(iccid, key);
  }
  const std::int64_t id = store->queue_command(iccid, spec);
  std::cout << "scws admin push: command " << id << " queued for " << iccid << ": " << spec.text << " (" << spec.apdus.size()
            << (is_settings_command(spec.kind) ? " APDUs: WRITE SETTINGS made from the card's next report)" : " APDUs)") << std::endl;
  return kExitOk;
}

}  // namespace

void add_admin_command(CLI::App& app, int& exit_code) {
  CLI::App* admin = app.add_subcommand("admin", "The administration server the cards report incidents to (docs/protocol.md section 16)");
  admin->require_subcommand(1);

  auto serve = std::make_shared<ServeArgs>();
  CLI::App* s = admin->add_subcommand("serve", "Accept the cards' TLS-PSK admin sessions");
  s->add_option("--listen", serve->listen, "ADDRESS:PORT to listen on (port 0: any free port)")->capture_default_str();
  s->add_option("--uri", serve->uri, "The path of a session's first POST")->capture_default_str();
  s->add_option("--enrol", serve->enrol, "Enrol the card of this IMG.admin.toml first (repeatable)");
  s->add_option("--idle", serve->idle, "Seconds a silent connection stays open")->capture_default_str()->check(CLI::Range(1, 3600));
  s->add_flag("--dump", serve->dump, "Print every request and answer inside TLS (head as text, body in hex)");
  add_db(s, serve->db);
  s->callback([serve, &exit_code] { exit_code = run_serve(*serve); });

  auto enrol = std::make_shared<std::pair<DbArg, std::vector<std::string>>>();
  CLI::App* e = admin->add_subcommand("enrol", "Enrol cards from the IMG.admin.toml files `scws provision` writes");
  e->add_option("files", enrol->second, "IMG.admin.toml files")->required();
  add_db(e, enrol->first);
  e->callback([enrol, &exit_code] {
    auto store = open_store(enrol->first.where());
    std::cout << "scws admin enrol: database " << store->location() << std::endl;
    exit_code = enrol_files(*store, enrol->second, "enrol");
  });

  auto reports = std::make_shared<ListArgs>();
  CLI::App* r = admin->add_subcommand("reports", "List the incidents the cards reported");
  r->add_flag("--json", reports->json, "One JSON array of objects");
  r->add_option("--card", reports->card, "Only this card's (ICCID)");
  add_db(r, reports->db);
  r->callback([reports, &exit_code] { exit_code = run_reports(*reports); });

  auto cards = std::make_shared<ListArgs>();
  CLI::App* c = admin->add_subcommand("cards", "List the enrolled cards");
  c->add_flag("--json", cards->json, "One JSON array of objects");
  add_db(c, cards->db);
  c->callback([cards, &exit_code] { exit_code = run_cards(*cards); });

  auto commands = std::make_shared<ListArgs>();
  CLI::App* k = admin->add_subcommand("commands", "List the commands queued, sent, done and failed");
  k->add_flag("--json", commands->json, "One JSON array of objects");
  k->add_option("--card", commands->card, "Only this card's (ICCID)");
  add_db(k, commands->db);
  k->callback([commands, &exit_code] { exit_code = run_commands(*commands); });

  auto push = std::make_shared<PushArgs>();
  CLI::App* p = admin->add_subcommand("push", "Queue a command for a card's next session: [--db D] ICCID COMMAND ARGS...");
  add_db(p, push->db);
  p->prefix_command();
  p->footer(
      "COMMAND: reopen-port PORT | close-port PORT | set-rule RULE THRESHOLD WINDOW |\n"
      "  set-policy [--reopen cooldown|admin] [--cooldown S] [--other-ports keep|close] |\n"
      "  put-resource PATH FILE [--type T] | delete-resource PATH | put-user NAME PASSWORD [SET...] |\n"
      "  delete-user NAME | put-remote-nodes A.B.C.D/LEN:LO-HI... | rotate-psk | rotate-tls-psk IDENTITY HEXKEY\n"
      "Exit code 2 for arguments the command cannot use (the message names the problem).");
  p->callback([push, p, &exit_code] {
    push->words = p->remaining();
    exit_code = run_push(*push);
  });
}

}  // namespace scws::sim::cli
