#include "sim/admin/store.hpp"

#include <libpq-fe.h>
#include <sqlite3.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <sstream>
#include <variant>

namespace scws::sim::admin {
namespace {

namespace fs = std::filesystem;

using Value = std::variant<std::monostate, std::int64_t, std::string, Blob>;
using Row = std::vector<Value>;
struct Rows {
  std::vector<Row> rows;
  long affected = 0;
};

// One connection to a SQL database; statements use $1, $2 ... placeholders.
class Db {
 public:
  virtual ~Db() = default;
  virtual Rows exec(const std::string& sql, const std::vector<Value>& params = {}) = 0;
  virtual void begin() = 0;
  virtual void commit() = 0;
  virtual void rollback() noexcept = 0;
  [[nodiscard]] virtual bool postgres() const noexcept = 0;
};

// ---- SQLite -----------------------------------------------------------------------------------------

class SqliteDb final : public Db {
 public:
  explicit SqliteDb(const std::string& path) {
    const fs::path p(path);
    std::error_code ec;
    if (p.has_parent_path()) fs::create_directories(p.parent_path(), ec);
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr) != SQLITE_OK) {
      const std::string what = db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      throw StoreError("cannot open " + path + ": " + what);
    }
    // Several processes on one file: wait for a writer rather than fail at once.
    sqlite3_busy_timeout(db_, 10000);
    exec("PRAGMA journal_mode=WAL", {});
    exec("PRAGMA foreign_keys=ON", {});
  }
  ~SqliteDb() override { sqlite3_close(db_); }

  Rows exec(const std::string& sql_in, const std::vector<Value>& params) override {
    // $N -> ?N (SQLite binds ?NNN by number).
    std::string sql = sql_in;
    for (std::size_t i = 0; i + 1 < sql.size(); ++i)
      if (sql[i] == '$' && sql[i + 1] >= '0' && sql[i + 1] <= '9') sql[i] = '?';
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) fail(sql);
    struct Finalize {
      sqlite3_stmt* s;
      ~Finalize() { sqlite3_finalize(s); }
    } finalize{st};
    for (std::size_t i = 0; i < params.size(); ++i) {
      const int at = static_cast<int>(i + 1);
      int rc = SQLITE_OK;
      if (std::holds_alternative<std::monostate>(params[i])) rc = sqlite3_bind_null(st, at);
      else if (auto* n = std::get_if<std::int64_t>(&params[i])) rc = sqlite3_bind_int64(st, at, *n);
      else if (auto* s = std::get_if<std::string>(&params[i])) rc = sqlite3_bind_text(st, at, s->data(), static_cast<int>(s->size()), SQLITE_TRANSIENT);
      else {
        const Blob& b = std::get<Blob>(params[i]);
        rc = sqlite3_bind_blob(st, at, b.data(), static_cast<int>(b.size()), SQLITE_TRANSIENT);
      }
      if (rc != SQLITE_OK) fail(sql);
    }
    Rows out;
    for (;;) {
      const int rc = sqlite3_step(st);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) fail(sql);
      Row row;
      for (int c = 0; c < sqlite3_column_count(st); ++c) {
        switch (sqlite3_column_type(st, c)) {
          case SQLITE_NULL: row.emplace_back(std::monostate{}); break;
          case SQLITE_INTEGER: row.emplace_back(static_cast<std::int64_t>(sqlite3_column_int64(st, c))); break;
          case SQLITE_BLOB: {
            const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(st, c));
            row.emplace_back(Blob(p, p + sqlite3_column_bytes(st, c)));
            break;
          }
          default: {
            const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, c));
            row.emplace_back(std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(st, c))));
          }
        }
      }
      out.rows.push_back(std::move(row));
    }
    out.affected = sqlite3_changes(db_);
    return out;
  }
  void begin() override { exec("BEGIN IMMEDIATE", {}); }
  void commit() override { exec("COMMIT", {}); }
  void rollback() noexcept override { sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr); }
  [[nodiscard]] bool postgres() const noexcept override { return false; }

 private:
  [[noreturn]] void fail(const std::string& sql) { throw StoreError(std::string("sqlite: ") + sqlite3_errmsg(db_) + " (" + sql.substr(0, 60) + ")"); }
  sqlite3* db_ = nullptr;
};

// ---- PostgreSQL (libpq) -------------------------------------------------------------------------------

class PgDb final : public Db {
 public:
  explicit PgDb(const std::string& url) {
    conn_ = PQconnectdb(url.c_str());
    if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK) {
      const std::string what = conn_ != nullptr ? PQerrorMessage(conn_) : "out of memory";
      PQfinish(conn_);
      throw StoreError("cannot connect to PostgreSQL: " + what);
    }
    PQclear(PQexec(conn_, "SET client_min_messages TO warning"));
  }
  ~PgDb() override { PQfinish(conn_); }

  Rows exec(const std::string& sql, const std::vector<Value>& params) override {
    std::vector<std::string> text(params.size());
    std::vector<const char*> values(params.size());
    std::vector<int> lengths(params.size()), formats(params.size());
    for (std::size_t i = 0; i < params.size(); ++i) {
      if (std::holds_alternative<std::monostate>(params[i])) {
        values[i] = nullptr;
      } else if (auto* n = std::get_if<std::int64_t>(&params[i])) {
        text[i] = std::to_string(*n);
        values[i] = text[i].c_str();
      } else if (auto* s = std::get_if<std::string>(&params[i])) {
        values[i] = s->c_str();
      } else {
        const Blob& b = std::get<Blob>(params[i]);  // binary bytea: the raw bytes
        values[i] = reinterpret_cast<const char*>(b.data());
        lengths[i] = static_cast<int>(b.size());
        formats[i] = 1;
      }
    }
    PGresult* r = PQexecParams(conn_, sql.c_str(), static_cast<int>(params.size()), nullptr, values.data(), lengths.data(),
                               formats.data(), 0);
    struct Clear {
      PGresult* r;
      ~Clear() { PQclear(r); }
    } clear{r};
    const ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
      throw StoreError("postgresql: " + std::string(PQresultErrorMessage(r)) + " (" + sql.substr(0, 60) + ")");
    Rows out;
    for (int i = 0; i < PQntuples(r); ++i) {
      Row row;
      for (int c = 0; c < PQnfields(r); ++c) {
        if (PQgetisnull(r, i, c)) {
          row.emplace_back(std::monostate{});
          continue;
        }
        const char* v = PQgetvalue(r, i, c);
        switch (PQftype(r, c)) {
          case 20: case 21: case 23: row.emplace_back(static_cast<std::int64_t>(std::stoll(v))); break;  // int8, int2, int4
          case 17: {  // bytea, text format
            std::size_t n = 0;
            unsigned char* raw = PQunescapeBytea(reinterpret_cast<const unsigned char*>(v), &n);
            row.emplace_back(Blob(raw, raw + n));
            PQfreemem(raw);
            break;
          }
          default: row.emplace_back(std::string(v, static_cast<std::size_t>(PQgetlength(r, i, c))));
        }
      }
      out.rows.push_back(std::move(row));
    }
    const char* tuples = PQcmdTuples(r);
    out.affected = (tuples != nullptr && *tuples != '\0') ? std::stol(tuples) : 0;
    return out;
  }
  void begin() override { exec("BEGIN", {}); }
  void commit() override { exec("COMMIT", {}); }
  void rollback() noexcept override { PQclear(PQexec(conn_, "ROLLBACK")); }
  [[nodiscard]] bool postgres() const noexcept override { return true; }

 private:
  PGconn* conn_ = nullptr;
};

// ---- The store, in SQL both databases take ------------------------------------------------------------

std::int64_t i64(const Value& v) { return std::holds_alternative<std::int64_t>(v) ? std::get<std::int64_t>(v) : 0; }
std::string str(const Value& v) { return std::holds_alternative<std::string>(v) ? std::get<std::string>(v) : std::string(); }
Blob blob(const Value& v) {
  if (const auto* b = std::get_if<Blob>(&v)) return *b;
  if (const auto* s = std::get_if<std::string>(&v)) return Blob(s->begin(), s->end());
  return {};
}
Value opt_text(const std::string& s) { return s.empty() ? Value{} : Value{s}; }

// C-APDUs stored as hex, one per word.
std::string apdus_text(const std::vector<Blob>& apdus) {
  std::string s;
  for (const Blob& a : apdus) s += (s.empty() ? "" : " ") + to_hex(a);
  return s;
}
std::vector<Blob> apdus_of(const std::string& s) {
  std::vector<Blob> out;
  std::istringstream in(s);
  for (std::string w; in >> w;) out.push_back(from_hex(w));
  return out;
}

CommandState state_of(const std::string& s) {
  if (s == "sent") return CommandState::kSent;
  if (s == "done") return CommandState::kDone;
  if (s == "failed") return CommandState::kFailed;
  return CommandState::kQueued;
}

std::string schema(bool pg) {
  const std::string b = pg ? "BYTEA" : "BLOB";
  const std::string serial = pg ? "BIGSERIAL PRIMARY KEY" : "INTEGER PRIMARY KEY AUTOINCREMENT";
  return "CREATE TABLE IF NOT EXISTS cards (iccid TEXT PRIMARY KEY, psk_identity TEXT UNIQUE NOT NULL, psk_key " + b +
         " NOT NULL, pending_psk_key " + b + ", use_pending BIGINT NOT NULL DEFAULT 0, enrolled BIGINT NOT NULL, last_seen BIGINT NOT NULL DEFAULT 0, "
         "last_settings " + b + ", last_port_states " + b + ", last_summary " + b + ");"
         "CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, iccid TEXT NOT NULL, peer TEXT, started BIGINT NOT NULL, "
         "ended BIGINT NOT NULL DEFAULT 0, trigger_kind BIGINT NOT NULL, resumed BIGINT NOT NULL DEFAULT 0, outcome TEXT NOT NULL, "
         "round BIGINT NOT NULL DEFAULT 0, script TEXT NOT NULL DEFAULT '', settings " + b + ");"
         "CREATE TABLE IF NOT EXISTS incidents (iccid TEXT NOT NULL, sequence BIGINT NOT NULL, rule BIGINT NOT NULL, port BIGINT NOT NULL, "
         "events BIGINT NOT NULL, threshold BIGINT NOT NULL, window_seconds BIGINT NOT NULL, first_time BIGINT NOT NULL, "
         "last_time BIGINT NOT NULL, flags BIGINT NOT NULL, last_kind BIGINT NOT NULL, detail BIGINT NOT NULL, "
         "connection BIGINT NOT NULL, evidence " + b + ", record " + b + " NOT NULL, received_at BIGINT NOT NULL, session TEXT, "
         "PRIMARY KEY (iccid, sequence));"
         "CREATE TABLE IF NOT EXISTS commands (id " + serial + ", iccid TEXT NOT NULL, kind TEXT NOT NULL, text TEXT NOT NULL, "
         "apdus TEXT NOT NULL, state TEXT NOT NULL, sw BIGINT NOT NULL DEFAULT 0, response " + b + ", session TEXT, "
         "created BIGINT NOT NULL, updated BIGINT NOT NULL);"
         "CREATE INDEX IF NOT EXISTS commands_by_card ON commands (iccid, state);"
         "CREATE TABLE IF NOT EXISTS auth_failures (time BIGINT NOT NULL, peer TEXT, identity TEXT, reason TEXT)";
}

constexpr const char* kCardColumns =
    "iccid, psk_identity, psk_key, pending_psk_key, use_pending, enrolled, last_seen, last_settings, last_port_states, last_summary";
constexpr const char* kSessionColumns = "id, iccid, peer, started, ended, trigger_kind, resumed, outcome, round, script, settings";
constexpr const char* kIncidentColumns =
    "iccid, sequence, rule, port, events, threshold, window_seconds, first_time, last_time, flags, last_kind, detail, "
    "connection, evidence, record, received_at, session";
constexpr const char* kCommandColumns = "id, iccid, kind, text, apdus, state, sw, response, session, created, updated";

CardRecord card_of(const Row& r) {
  CardRecord c;
  c.iccid = str(r[0]);
  c.psk_identity = str(r[1]);
  c.psk_key = blob(r[2]);
  c.pending_psk_key = blob(r[3]);
  c.use_pending = i64(r[4]) != 0;
  c.enrolled = i64(r[5]);
  c.last_seen = i64(r[6]);
  c.last_settings = blob(r[7]);
  c.last_port_states = blob(r[8]);
  c.last_summary = blob(r[9]);
  return c;
}

SessionRecord session_of(const Row& r) {
  SessionRecord s;
  s.id = str(r[0]);
  s.iccid = str(r[1]);
  s.peer = str(r[2]);
  s.started = i64(r[3]);
  s.ended = i64(r[4]);
  s.trigger = static_cast<unsigned>(i64(r[5]));
  s.resumed = i64(r[6]) != 0;
  s.outcome = str(r[7]);
  s.round = static_cast<unsigned>(i64(r[8]));
  s.script = str(r[9]);
  s.settings = blob(r[10]);
  return s;
}

IncidentRecord incident_of(const Row& r) {
  IncidentRecord i;
  auto u = [&](std::size_t c) { return static_cast<unsigned>(i64(r[c])); };
  i.iccid = str(r[0]);
  i.sequence = static_cast<std::uint32_t>(i64(r[1]));
  i.rule = u(2);
  i.port = u(3);
  i.events = u(4);
  i.threshold = u(5);
  i.window = u(6);
  i.first_time = static_cast<std::uint32_t>(i64(r[7]));
  i.last_time = static_cast<std::uint32_t>(i64(r[8]));
  i.flags = u(9);
  i.last_kind = u(10);
  i.detail = u(11);
  i.connection = u(12);
  i.evidence = blob(r[13]);
  i.record = blob(r[14]);
  i.received_at = i64(r[15]);
  i.session = str(r[16]);
  return i;
}

CommandRecord command_of(const Row& r) {
  CommandRecord c;
  c.id = i64(r[0]);
  c.iccid = str(r[1]);
  c.kind = str(r[2]);
  c.text = str(r[3]);
  c.apdus = apdus_of(str(r[4]));
  c.state = state_of(str(r[5]));
  c.sw = static_cast<unsigned>(i64(r[6]));
  c.response = blob(r[7]);
  c.session = str(r[8]);
  c.created = i64(r[9]);
  c.updated = i64(r[10]);
  return c;
}

// A query's first row, or all its rows, as records.
template <class Of>
auto first_of(const Rows& r, Of of) -> std::optional<decltype(of(r.rows[0]))> {
  if (r.rows.empty()) return std::nullopt;
  return of(r.rows[0]);
}

template <class Of>
auto all_of(const Rows& r, Of of) -> std::vector<decltype(of(r.rows[0]))> {
  std::vector<decltype(of(r.rows[0]))> out;
  out.reserve(r.rows.size());
  for (const Row& row : r.rows) out.push_back(of(row));
  return out;
}

class SqlStore final : public Store {
 public:
  SqlStore(std::unique_ptr<Db> db, std::string location) : db_(std::move(db)), location_(std::move(location)) {
    const std::string ddl = schema(db_->postgres());
    db_->begin();
    try {
      // Several servers starting at once on one PostgreSQL: one makes the schema at a time.
      if (db_->postgres()) db_->exec("SELECT pg_advisory_xact_lock(735920011)");
      std::istringstream in(ddl);
      for (std::string stmt; std::getline(in, stmt, ';');) db_->exec(stmt);
      db_->commit();
    } catch (...) {
      db_->rollback();
      throw;
    }
  }

  [[nodiscard]] std::string location() const override { return location_; }

  void enrol(const std::string& iccid, const std::string& identity, const Blob& key) override {
    db_->exec("INSERT INTO cards (iccid, psk_identity, psk_key, enrolled) VALUES ($1, $2, $3, $4) "
              "ON CONFLICT (iccid) DO UPDATE SET psk_identity = excluded.psk_identity, psk_key = excluded.psk_key, "
              "pending_psk_key = NULL, use_pending = 0",
              {iccid, identity, key, now_seconds()});
  }
  std::optional<CardRecord> card(const std::string& iccid) override {
    return first_of(db_->exec(std::string("SELECT ") + kCardColumns + " FROM cards WHERE iccid = $1", {iccid}), card_of);
  }
  std::optional<CardRecord> card_by_identity(const std::string& identity) override {
    return first_of(db_->exec(std::string("SELECT ") + kCardColumns + " FROM cards WHERE psk_identity = $1", {identity}), card_of);
  }
  std::vector<CardRecord> cards() override {
    return all_of(db_->exec(std::string("SELECT ") + kCardColumns + " FROM cards ORDER BY iccid"), card_of);
  }
  void set_pending_key(const std::string& iccid, const Blob& key) override {
    db_->exec("UPDATE cards SET pending_psk_key = $1, use_pending = 0 WHERE iccid = $2", {key, iccid});
  }
  void flip_key_choice(const std::string& iccid) override {
    db_->exec("UPDATE cards SET use_pending = 1 - use_pending WHERE iccid = $1 AND pending_psk_key IS NOT NULL", {iccid});
  }
  void confirm_pending_key(const std::string& iccid) override {
    db_->exec("UPDATE cards SET psk_key = pending_psk_key, pending_psk_key = NULL, use_pending = 0 "
              "WHERE iccid = $1 AND pending_psk_key IS NOT NULL",
              {iccid});
  }
  void card_seen(const std::string& iccid, const Blob& settings, const Blob& ports, const Blob& summary) override {
    db_->exec("UPDATE cards SET last_seen = $1, last_settings = $2, last_port_states = $3, last_summary = $4 WHERE iccid = $5",
              {now_seconds(), settings, ports, summary, iccid});
  }

  void create_session(const SessionRecord& s) override {
    db_->exec(std::string("INSERT INTO sessions (") + kSessionColumns + ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
              {s.id, s.iccid, s.peer, s.started, s.ended, std::int64_t{s.trigger}, std::int64_t{s.resumed}, s.outcome,
               std::int64_t{s.round}, s.script, s.settings});
  }
  std::optional<SessionRecord> session(const std::string& id) override {
    return first_of(db_->exec(std::string("SELECT ") + kSessionColumns + " FROM sessions WHERE id = $1", {id}), session_of);
  }
  void update_session(const SessionRecord& s) override {
    db_->exec("UPDATE sessions SET peer = $1, ended = $2, trigger_kind = $3, resumed = $4, outcome = $5, round = $6, script = $7, "
              "settings = $8 WHERE id = $9",
              {s.peer, s.ended, std::int64_t{s.trigger}, std::int64_t{s.resumed}, s.outcome, std::int64_t{s.round}, s.script,
               s.settings, s.id});
  }
  std::vector<SessionRecord> sessions(const std::string& iccid) override {
    return all_of(db_->exec(std::string("SELECT ") + kSessionColumns + " FROM sessions WHERE iccid = $1 ORDER BY started, id", {iccid}), session_of);
  }

  bool add_incident(const IncidentRecord& i) override {
    auto r = db_->exec(std::string("INSERT INTO incidents (") + kIncidentColumns +
                           ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) "
                           "ON CONFLICT (iccid, sequence) DO NOTHING",
                       {i.iccid, std::int64_t{i.sequence}, std::int64_t{i.rule}, std::int64_t{i.port}, std::int64_t{i.events},
                        std::int64_t{i.threshold}, std::int64_t{i.window}, std::int64_t{i.first_time}, std::int64_t{i.last_time},
                        std::int64_t{i.flags}, std::int64_t{i.last_kind}, std::int64_t{i.detail}, std::int64_t{i.connection},
                        i.evidence, i.record, i.received_at, opt_text(i.session)});
    return r.affected > 0;
  }
  std::vector<IncidentRecord> incidents(const std::optional<std::string>& iccid) override {
    const std::string sql = std::string("SELECT ") + kIncidentColumns + " FROM incidents" + (iccid ? " WHERE iccid = $1" : "") +
                            " ORDER BY iccid, sequence";
    return all_of(db_->exec(sql, iccid ? std::vector<Value>{*iccid} : std::vector<Value>{}), incident_of);
  }

  std::int64_t queue_command(const std::string& iccid, const CommandSpec& spec) override {
    const std::int64_t now = now_seconds();
    auto r = db_->exec("INSERT INTO commands (iccid, kind, text, apdus, state, created, updated) VALUES ($1, $2, $3, $4, 'queued', $5, $5) "
                       "RETURNING id",
                       {iccid, spec.kind, spec.text, apdus_text(spec.apdus), now});
    return r.rows.empty() ? 0 : i64(r.rows[0][0]);
  }
  std::vector<CommandRecord> commands(const std::optional<std::string>& iccid) override {
    const std::string sql = std::string("SELECT ") + kCommandColumns + " FROM commands" + (iccid ? " WHERE iccid = $1" : "") + " ORDER BY id";
    return all_of(db_->exec(sql, iccid ? std::vector<Value>{*iccid} : std::vector<Value>{}), command_of);
  }
  std::optional<CommandRecord> command(std::int64_t id) override {
    return first_of(db_->exec(std::string("SELECT ") + kCommandColumns + " FROM commands WHERE id = $1", {id}), command_of);
  }
  std::vector<CommandRecord> queued_commands(const std::string& iccid) override {
    return all_of(db_->exec(std::string("SELECT ") + kCommandColumns + " FROM commands WHERE iccid = $1 AND state = 'queued' ORDER BY id", {iccid}), command_of);
  }
  bool claim_command(std::int64_t id, const std::string& session) override {
    return db_->exec("UPDATE commands SET state = 'sent', session = $1, updated = $2 WHERE id = $3 AND state = 'queued'",
                     {session, now_seconds(), id})
               .affected > 0;
  }
  void finish_command(std::int64_t id, bool done, unsigned sw, const Blob& response) override {
    db_->exec("UPDATE commands SET state = $1, sw = $2, response = $3, updated = $4 WHERE id = $5 AND state = 'sent'",
              {std::string(done ? "done" : "failed"), std::int64_t{sw}, response, now_seconds(), id});
  }
  void requeue_command(std::int64_t id) override {
    db_->exec("UPDATE commands SET state = 'queued', session = NULL, updated = $1 WHERE id = $2 AND state = 'sent'", {now_seconds(), id});
  }
  void requeue_sent(const std::string& iccid) override {
    db_->exec("UPDATE commands SET state = 'queued', session = NULL, updated = $1 WHERE iccid = $2 AND state = 'sent'", {now_seconds(), iccid});
  }

  void add_auth_failure(const AuthFailure& f) override {
    db_->exec("INSERT INTO auth_failures (time, peer, identity, reason) VALUES ($1, $2, $3, $4)", {f.time, f.peer, f.identity, f.reason});
  }
  std::vector<AuthFailure> auth_failures() override {
    return all_of(db_->exec("SELECT time, peer, identity, reason FROM auth_failures ORDER BY time"),
                  [](const Row& r) { return AuthFailure{i64(r[0]), str(r[1]), str(r[2]), str(r[3])}; });
  }

 private:
  std::unique_ptr<Db> db_;
  std::string location_;
};

// The URL without a password ("postgresql://user:secret@host/db" -> "postgresql://user@host/db").
std::string redact(const std::string& url) {
  const std::size_t scheme = url.find("://");
  const std::size_t at = url.find('@');
  if (scheme == std::string::npos || at == std::string::npos) return url;
  const std::size_t colon = url.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon) + url.substr(at);
}

}  // namespace

const char* to_string(CommandState s) noexcept {
  switch (s) {
    case CommandState::kQueued: return "queued";
    case CommandState::kSent: return "sent";
    case CommandState::kDone: return "done";
    case CommandState::kFailed: return "failed";
  }
  return "?";
}

std::unique_ptr<Store> open_store(const std::string& where) {
  if (where.rfind("postgresql://", 0) == 0 || where.rfind("postgres://", 0) == 0)
    return std::make_unique<SqlStore>(std::make_unique<PgDb>(where), redact(where));
  if (where.empty()) throw StoreError("no database given");
  return std::make_unique<SqlStore>(std::make_unique<SqliteDb>(where), fs::absolute(where).lexically_normal().string());
}

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string iso_time(std::int64_t seconds) {
  if (seconds == 0) return "";
  const std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace scws::sim::admin
