// What `scws admin` keeps (docs/protocol.md 16.7): enrolled cards, sessions, incidents, commands and
// refused handshakes. One abstract Store with one SQL implementation over two databases: SQLite (a
// file) and PostgreSQL (libpq). The schema is made at open, idempotently. Every operation is its own
// transaction and nothing is cached in the process, so several servers can share one PostgreSQL
// database (incidents are keyed by (iccid, sequence) and inserted with ON CONFLICT DO NOTHING;
// commands are claimed with UPDATE ... WHERE state = 'queued').
//
// Errors: StoreError (a database that cannot be opened, a failed statement).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "sim/admin/admin_protocol.hpp"

namespace scws::sim::admin {

class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct CardRecord {
  std::string iccid;
  std::string psk_identity;
  Blob psk_key;
  Blob pending_psk_key;        // a rotated link key not yet confirmed (empty: none)
  bool use_pending = false;    // the next handshake tries the pending key (set after a failed one)
  std::int64_t enrolled = 0;   // seconds since 1970-01-01 UTC
  std::int64_t last_seen = 0;  // 0: never
  Blob last_settings, last_port_states, last_summary;
};

struct SessionRecord {
  std::string id;
  std::string iccid;
  std::string peer;
  std::int64_t started = 0, ended = 0;
  unsigned trigger = 0;
  bool resumed = false;
  std::string outcome;  // "open", "done", "error: ..."
  unsigned round = 0;   // scripts sent so far (the n of the next URI)
  std::string script;   // what the last script held: "ack:1 cmd:<id>:<apdus> ..."
  Blob settings;        // the card's settings as this session knows them (WRITE SETTINGS edits them)
};

struct IncidentRecord {
  std::string iccid;
  std::uint32_t sequence = 0;
  unsigned rule = 0, port = 0, events = 0, threshold = 0, window = 0;
  std::uint32_t first_time = 0, last_time = 0;
  unsigned flags = 0, last_kind = 0, detail = 0, connection = 0;
  Blob evidence, record;
  std::int64_t received_at = 0;
  std::string session;
};

enum class CommandState { kQueued, kSent, kDone, kFailed };
const char* to_string(CommandState s) noexcept;

struct CommandRecord {
  std::int64_t id = 0;
  std::string iccid;
  std::string kind, text;
  std::vector<Blob> apdus;
  CommandState state = CommandState::kQueued;
  unsigned sw = 0;
  Blob response;
  std::string session;
  std::int64_t created = 0, updated = 0;
};

struct AuthFailure {
  std::int64_t time = 0;
  std::string peer, identity, reason;
};

class Store {
 public:
  virtual ~Store() = default;
  // Where the data lives (a path, or the URL without its password).
  [[nodiscard]] virtual std::string location() const = 0;

  // Cards. enrol adds or replaces a card's identity and key (its history stays).
  virtual void enrol(const std::string& iccid, const std::string& psk_identity, const Blob& psk_key) = 0;
  virtual std::optional<CardRecord> card(const std::string& iccid) = 0;
  virtual std::optional<CardRecord> card_by_identity(const std::string& psk_identity) = 0;
  virtual std::vector<CardRecord> cards() = 0;
  virtual void set_pending_key(const std::string& iccid, const Blob& key) = 0;
  // A handshake with a pending key around failed: the next one tries the other key.
  virtual void flip_key_choice(const std::string& iccid) = 0;
  // The card confirmed ROTATE PSK: the pending key becomes the key.
  virtual void confirm_pending_key(const std::string& iccid) = 0;
  virtual void card_seen(const std::string& iccid, const Blob& settings, const Blob& port_states, const Blob& summary) = 0;

  // Sessions.
  virtual void create_session(const SessionRecord& s) = 0;
  virtual std::optional<SessionRecord> session(const std::string& id) = 0;
  virtual void update_session(const SessionRecord& s) = 0;
  virtual std::vector<SessionRecord> sessions(const std::string& iccid) = 0;

  // Incidents: true when stored now, false when (iccid, sequence) was already held.
  virtual bool add_incident(const IncidentRecord& i) = 0;
  virtual std::vector<IncidentRecord> incidents(const std::optional<std::string>& iccid) = 0;

  // Commands.
  virtual std::int64_t queue_command(const std::string& iccid, const CommandSpec& spec) = 0;
  virtual std::vector<CommandRecord> commands(const std::optional<std::string>& iccid) = 0;
  virtual std::optional<CommandRecord> command(std::int64_t id) = 0;
  // The card's queued commands, oldest first.
  virtual std::vector<CommandRecord> queued_commands(const std::string& iccid) = 0;
  // queued -> sent for this session; false when another server claimed it first.
  virtual bool claim_command(std::int64_t id, const std::string& session) = 0;
  // sent -> done / failed with the status word and the response data.
  virtual void finish_command(std::int64_t id, bool done, unsigned sw, const Blob& response) = 0;
  // sent -> queued (not executed); settings commands edited for a session are replayed as they were.
  virtual void requeue_command(std::int64_t id) = 0;
  // Every command of this card left in sent by an earlier session goes back to queued.
  virtual void requeue_sent(const std::string& iccid) = 0;

  virtual void add_auth_failure(const AuthFailure& f) = 0;
  virtual std::vector<AuthFailure> auth_failures() = 0;
};

// "postgresql://..." or "postgres://..." (libpq connection URI), else a SQLite file path (its folder
// is created). Throws StoreError.
std::unique_ptr<Store> open_store(const std::string& where);

// Seconds since 1970-01-01 UTC.
std::int64_t now_seconds();
// "2026-12-03T10:46:14Z"; "" for 0.
std::string iso_time(std::int64_t seconds);

}  // namespace scws::sim::admin
