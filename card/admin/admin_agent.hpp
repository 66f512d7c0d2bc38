// The card's admin agent: the session with the remote administration server of docs/protocol.md
// section 16 (GlobalPlatform Amendment B style "RAM over HTTP"). It opens a TCP client channel
// (card/cat/client_channel.hpp), runs TLS-PSK as the client over it (tls/tls_session.hpp) and HTTP/1.1
// over that: POST the report (16.3), run each C-APDU of the server's script (16.4) on the admin applet
// as the card's own administrator, POST the responses (16.5), until 204.
//
// Layers inside one connection (each a non-blocking byte transformer, as on the server ports):
//   toolkit --ciphertext--> AdminAgent (ClientEndpoint) --> TlsSession --plaintext--> HttpSide
// HttpSide writes the request heads (http/request_writer.hpp), streams the report from NVM through the
// admin applet's own read commands (nothing of the body is held but its 59 + p bytes of summary,
// settings and port states, and one 60-byte record at a time), parses the answers
// (http/response_parser.hpp) and the script as it arrives (card/admin/script_template.hpp).
//
// Triggers (docs/protocol.md 16.3 byte 1): a new incident (IncidentTap, the sink the detector appends
// to, when the link's on-incident flag is set), the period (the link's period, on the card's deadline
// slot Deadlines::kAdminFirst), START SESSION (AdminSessionControl), power-up with incidents waiting.
// A trigger while a session runs is kept and starts the next session after it.
//
// Retry policy (Amendment B 3.5, docs/protocol.md 16.4): a communication breakdown (link not
// established, dropped, or the server silent for the inactivity timeout) is retried retry_count
// times, retry_delay seconds apart (trigger 04, first POST with X-Admin-Resume: true); a TLS failure
// or a malformed answer ends the session without a retry. Incidents leave the queue only by the
// ACKNOWLEDGE C-APDU the server sends.
//
// State machine (one traced transition function, set_state):
//   kIdle --trigger--> kOpening --open()--> kHandshake --TLS done--> kSending --request out--> kAwaiting
//   kAwaiting --200 script run--> kSending ... kAwaiting --204--> kClosing --close()--> kIdle
//   kOpening/kHandshake/kSending/kAwaiting --breakdown--> kClosing --close()--> kRetryWait --delay--> kOpening
//   any --fatal (TLS, malformed answer, no RAM)--> kClosing --close()--> kIdle
//
// RAM: the members below (about 100 bytes) while idle. A session takes its TLS context and session
// from the TLS region the TLS port carved (the same TlsAllocator as the port's server sessions) and
// its HTTP state (SessionRam, about 4.3 KiB) from the card RAM arena; both go back when it ends.
// tests/card/admin/admin_agent_test.cpp prints the figures.
#pragma once

#include <cstddef>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "card/cat/client_channel.hpp"
#include "card/cat/deadlines.hpp"
#include "card/cat/toolkit.hpp"
#include "card/defence/admin_link.hpp"
#include "card/defence/admin_session_control.hpp"
#include "card/defence/incident.hpp"
#include "card/defence/incident_queue.hpp"
#include "card/os/applet.hpp"
#include "card/os/card_context.hpp"
#include "http/response_parser.hpp"
#include "tls/card_rng.hpp"
#include "tls/tls_allocator.hpp"
#include "tls/tls_context.hpp"
#include "tls/tls_session.hpp"

namespace scws::card {

class AdminAgent final : public ClientEndpoint, public DeadlineListener, public AdminSessionControl {
 public:
  static constexpr u8 kSlot = Deadlines::kAdminFirst;

  enum class Trigger : u8 { kNone = 0, kIncident = 1, kPeriod = 2, kAdmin = 3, kRetry = 4, kPowerUp = 5 };

  enum class State : u8 {
    kOff,        // not powered up, or the image has no enabled link
    kIdle,       // waiting for a trigger (and the period, when set)
    kOpening,    // OPEN CHANNEL asked for
    kHandshake,  // channel up, TLS handshake running
    kSending,    // a request is going out
    kAwaiting,   // reading the answer, running the script as it arrives
    kClosing,    // CLOSE CHANNEL asked for; close() ends it
    kRetryWait,  // after a breakdown, the retry delay
  };
  static const char* state_name(State s) noexcept;

  enum class Failure : u8 {
    kNone,
    kLinkFailed,      // the channel was never established (breakdown)
    kLinkDropped,     // the channel went away mid-session (breakdown)
    kTimeout,         // the server was silent for the inactivity timeout (breakdown)
    kBusy,            // no channel slot (breakdown)
    kTls,             // the TLS handshake or a record failed
    kNoMemory,        // no RAM for the session
    kNoCredentials,   // the link PSK is missing or unusable
    kHttp,            // the answer is not well-formed HTTP (or over its limits)
    kStatus,          // a status other than 200 and 204
    kProtocol,        // X-Admin-Protocol missing or different
    kContentType,     // a 200 without the script content type
    kNoNextUri,       // a 200 without X-Admin-Next-URI
    kTarget,          // X-Admin-Targeted-Application not the admin applet
    kScript,          // the body is not a well-formed template, or a C-APDU is not a short APDU
  };
  static const char* failure_name(Failure f) noexcept;
  [[nodiscard]] static constexpr bool is_breakdown(Failure f) noexcept {
    return f == Failure::kLinkFailed || f == Failure::kLinkDropped || f == Failure::kTimeout || f == Failure::kBusy;
  }

  // The answer head's verdict (docs/protocol.md 16.4): kNone for a 204 or a well-formed 200 script
  // head, else the fault that ends the session. p.head_done() must hold.
  [[nodiscard]] static Failure classify_head(const http::ResponseParser& p) noexcept;

  // What the detector appends to: forwards to the queue and tells the agent a new incident came.
  class IncidentTap final : public IncidentSink {
   public:
    IncidentTap(IncidentQueue& queue, AdminAgent& agent) noexcept : queue_(queue), agent_(agent) {}
    Result<u32, NvmError> append(Incident& incident) noexcept override;

   private:
    IncidentQueue& queue_;
    AdminAgent& agent_;
  };

  // channels and deadlines: the toolkit's; admin: the admin applet the scripts run on; queue: the
  // incident queue the report is made of (through the applet). waker (optional): woken when a
  // trigger arrives outside a toolkit command, so the OPEN CHANNEL is announced at once.
  AdminAgent(ClientChannels& channels, Deadlines& deadlines, Applet& admin, IncidentQueue& queue,
             CatToolkit* waker = nullptr) noexcept
      : channels_(channels), deadlines_(deadlines), admin_(admin), queue_(queue), waker_(waker), http_(*this) {}
  ~AdminAgent() override = default;
  AdminAgent(const AdminAgent&) = delete;
  AdminAgent& operator=(const AdminAgent&) = delete;

  // At every power-up, after the applets and the toolkit: forgets any session (its RAM went with the
  // power), reads the link settings, and asks for a session (trigger 05) when incidents are waiting.
  // region: the TLS region client sessions take their RAM from (nullptr: sessions fail kNoMemory);
  // rng: the card's DRBG (seeded), for the handshakes.
  void power_up(CardContext& ctx, tls::TlsAllocator* region, tls::CardRng& rng) noexcept;
  // Acts on a pending trigger (asks for the channel). The toolkit hook calls it after each toolkit
  // command; tests call it directly.
  void poll() noexcept;
  // Asks for a session with this trigger (kept while one runs; acted on at the next poll()).
  void trigger(Trigger t) noexcept;

  // AdminSessionControl: START SESSION (trigger 03).
  Status<CardError> start_session(CardContext& ctx) noexcept override;

  // ClientEndpoint (the toolkit drives it)
  bool open(std::size_t connection) noexcept override;
  std::size_t receive(std::size_t connection, Bytes data) noexcept override;
  std::size_t send(std::size_t connection, MutableBytes out) noexcept override;
  [[nodiscard]] bool wants_close(std::size_t connection) const noexcept override;
  void close(std::size_t connection) noexcept override;
  void link_failed(std::size_t connection, LinkFailure why) noexcept override;

  // DeadlineListener
  void deadline_passed(u8 slot) noexcept override;

  // ---- observation (/status, tests) --------------------------------------------------------------
  [[nodiscard]] State state() const noexcept { return state_; }
  [[nodiscard]] bool linked() const noexcept { return linked_; }
  [[nodiscard]] u32 sessions_started() const noexcept { return started_; }
  [[nodiscard]] u32 sessions_completed() const noexcept { return completed_; }
  [[nodiscard]] u32 sessions_failed() const noexcept { return failed_; }
  [[nodiscard]] u32 retries() const noexcept { return retries_total_; }
  [[nodiscard]] Failure last_failure() const noexcept { return last_failure_; }
  [[nodiscard]] Trigger pending_trigger() const noexcept { return pending_; }
  [[nodiscard]] u32 commands_run() const noexcept { return commands_; }
  // TLS region bytes the last session held at its peak beyond the region's level before it, and the
  // arena bytes of its HTTP state.
  [[nodiscard]] std::size_t last_tls_ram() const noexcept { return last_tls_ram_; }
  [[nodiscard]] static std::size_t session_ram() noexcept;
  [[nodiscard]] const AdminLinkSettings& link() const noexcept { return link_; }

 private:
  struct SessionRam;

  // The plaintext side TlsSession drives.
  class HttpSide final : public StreamEndpoint {
   public:
    explicit HttpSide(AdminAgent& agent) noexcept : agent_(agent) {}
    bool open(std::size_t connection) noexcept override;
    std::size_t receive(std::size_t connection, Bytes data) noexcept override;
    std::size_t send(std::size_t connection, MutableBytes out) noexcept override;
    [[nodiscard]] bool wants_close(std::size_t connection) const noexcept override;
    void close(std::size_t connection) noexcept override;

   private:
    AdminAgent& agent_;
  };

  enum class Purpose : u8 { kNone, kInactivity, kRetry, kPeriod };

  void set_state(State next, const char* why) noexcept;  // the transition function
  void begin(Trigger t) noexcept;                         // kIdle / kRetryWait -> kOpening
  void end_session(Failure f) noexcept;                   // ask for the channel to close
  void finished() noexcept;                               // after close() / link_failed(): next state
  void arm(Purpose p, u32 seconds) noexcept;
  void disarm() noexcept;
  bool setup_tls() noexcept;
  void release() noexcept;

  // HTTP side
  bool start_report() noexcept;
  bool start_responses() noexcept;
  bool write_head(bool report, u32 content_length) noexcept;
  std::size_t produce(MutableBytes out) noexcept;
  std::size_t body_bytes(u32 offset, MutableBytes out) noexcept;
  std::size_t consume(Bytes data) noexcept;
  bool check_head() noexcept;
  bool on_body(Bytes body) noexcept;
  void run_apdu(Bytes raw) noexcept;
  bool answer_done() noexcept;
  // Runs one command on the admin applet as the card's administrator; its data goes to out.
  u16 execute(const apdu::CommandApdu& c, MutableBytes out, std::size_t& length) noexcept;
  // One of the admin applet's read commands (80 ins p1 00, Le 00); its data into out.
  u16 read_command(u8 ins, u8 p1, MutableBytes out, std::size_t& length) noexcept;
  bool read_iccid_digits() noexcept;

  ClientChannels& channels_;
  Deadlines& deadlines_;
  Applet& admin_;
  IncidentQueue& queue_;
  CatToolkit* waker_;
  HttpSide http_;
  CardContext* ctx_ = nullptr;
  tls::TlsAllocator* region_ = nullptr;
  tls::CardRng* rng_ = nullptr;
  tls::TlsContext* tls_ctx_ = nullptr;  // in the TLS region while a session runs
  tls::TlsSession* tls_ = nullptr;
  SessionRam* ram_ = nullptr;           // in the card arena while a session runs
  AdminLinkSettings link_{};
  u32 started_ = 0, completed_ = 0, failed_ = 0, retries_total_ = 0, commands_ = 0;
  bool in_command_ = false;  // a C-APDU is running: the toolkit's calls back into the channel wait
  std::size_t last_tls_ram_ = 0;
  std::size_t region_before_ = 0;
  u8 connection_ = 0xFF;
  u8 retries_used_ = 0;
  State state_ = State::kOff;
  Trigger pending_ = Trigger::kNone;
  Trigger current_ = Trigger::kNone;
  Failure last_failure_ = Failure::kNone;
  Failure ending_ = Failure::kNone;  // why the session in kClosing ends (kNone: it completed)
  Purpose purpose_ = Purpose::kNone;
  bool linked_ = false;
  bool resume_ = false;  // the next session's first POST carries X-Admin-Resume: true
};

}  // namespace scws::card
