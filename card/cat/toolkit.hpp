// The card's CAT toolkit (ETSI TS 102 223) with BIP channels in UICC server mode: the implementation
// of the dispatcher's toolkit hook (card/os/toolkit_hook.hpp). It reads the TERMINAL PROFILE, runs the
// proactive session (SET UP EVENT LIST, OPEN/CLOSE CHANNEL, RECEIVE/SEND DATA, GET CHANNEL STATUS,
// TIMER MANAGEMENT), takes event and timer ENVELOPEs, and moves bytes between BIP channels and the
// StreamEndpoint registered for each server port (HTTP, or TLS with HTTP above it).
//
// Wiring: the host builds one CatToolkit and hands it to Card::set_toolkit() and to the applets that
// own ports; such an applet calls add_server_port() in its on_power_up(). Registrations are the
// toolkit's configuration, like applet registration: they survive resets (an applet registering again
// at the next power-up updates its entry). Everything else is session state in RAM, gone at every
// power-up and reset: the terminal profile, the channels, the timers, the event queue and any
// proactive command not yet answered (it is simply forgotten; the terminal starts over with a
// TERMINAL PROFILE, and its channels vanished with the reset too, docs/protocol.md section 10).
//
// The API calls below (add_server_port, close_port, reopen_port, start_timer, stop_timer) only record
// what is wanted; the card acts on it when the terminal next talks to the toolkit (any TERMINAL
// PROFILE, ENVELOPE or TERMINAL RESPONSE), or at once with wake() (then the next status word, e.g.
// of a STATUS poll, announces the command). Endpoint callbacks run inside toolkit commands, so a
// close_port() or start_timer() from an endpoint takes effect in the same APDU. Do not call wake() or
// start timers from on_power_up(): the toolkit's session is reset after the applets power up.
//
// Proactive session (docs/protocol.md sections 6 and 9): after a TERMINAL PROFILE that supports BIP
// in UICC server mode (apdu::cat::supports_bip_server_mode) the card issues SET UP EVENT LIST (Data
// available 09, Channel status 0A), then one OPEN CHANNEL (buffer size, transport level 03 + port)
// per wanted listening channel: max_channels per port, at most the channels the terminal profile
// offers, in total at most 7. A profile without BIP gets a trace line and no OPEN CHANNEL.
// One proactive command is outstanding at a time. Command numbers count 01..FE per session.
//   FETCH: Le absent -> 67 00; Le not the command's length -> 6C XX (XX = its length, nothing
//     consumed); nothing pending -> 69 85. A command fetched but not yet answered may be fetched again.
//   TERMINAL RESPONSE: nothing fetched -> 69 85; Lc 0 or a TLV running past the data -> 67 00;
//     other malformed data, or a response whose command number or type is not the outstanding
//     command's -> 6A 80 (the command stays outstanding, no state changes).
//     General result 00-0F = performed (00, 01, 02, 07 ... TS 102 223 8.12); 20/21 terminal or
//     network unable: OPEN CHANNEL is retried after kRetrySeconds with timer kRetryTimerId when the
//     terminal has TIMER MANAGEMENT (at most kMaxOpenRetries times), otherwise the port gives up
//     with a trace; 3A xx BIP errors: 3A 02/03 on a channel command = the client or channel is gone
//     (endpoint closed, GET CHANNEL STATUS asked to learn the terminal's view), 3A 01/10/06 on OPEN
//     CHANNEL = no more channels for that port (trace). Other failures of RECEIVE/SEND DATA drop the
//     client (CLOSE CHANNEL 01): its byte stream is no longer whole.
//   ENVELOPE: event download D6 (Data available 09, Channel status 0A) and timer expiration D7.
//     With no command outstanding the event is applied at once; while one is outstanding it is queued
//     (at most kEventQueueSize) and applied, in order, after the TERMINAL RESPONSE. A full queue
//     answers 93 00 (the terminal retries later). Lc 0 or broken framing -> 67 00; other malformed
//     data or an envelope this card has no use for (SMS-PP, other tags) -> 6A 80 / 6A 81. Events the
//     card did not subscribe to are ignored (90 00, trace).
//
// Channels (card/cat/bip_channel.hpp): Channel status 8n 00 -> Established, endpoint.open(); Data
// available -> RECEIVE DATA of min(available, 237), repeated while the terminal reports more; each
// chunk to endpoint.receive(); endpoint.send() output -> SEND DATA pieces of at most 240 bytes,
// qualifier 00 (store) except the last of a burst or when the terminal's Tx buffer could not take a
// further whole piece (01, send immediately); endpoint.wants_close() with nothing left -> CLOSE
// CHANNEL 01, then endpoint.close(). Client leaves (4n 00 or 4n 05) -> endpoint.close(), Listen.
// Channel status 0n -> Closed (the slot is freed; the port is not reopened by itself).
// Per GET request of n response bytes over a fresh connection this costs 6 + 2 x ceil(n/240) APDUs.
//
// Client channels (card/cat/client_channel.hpp, docs/protocol.md section 7.10): the toolkit is also
// the card's ClientChannels. open_client() holds a slot at once (a free one, or a listening channel
// of the server port with the most channels, closed with CLOSE CHANNEL 00 for it); its OPEN CHANNEL
// (qualifier 05: immediate link establishment in background mode, bearer 03, buffer size, transport
// level 02 + port, data destination address) goes out before any listening channel is re-opened.
// The link is up when the TERMINAL RESPONSE or a later Channel status event says 8n; a Channel
// status 0n 05 before that, or a refused OPEN CHANNEL, ends in link_failed(). Bytes move as in server
// mode. The card closes a client channel with CLOSE CHANNEL 00; when the terminal reports the link
// dropped the endpoint is closed at once and the channel closed the same way. Once the slot is free
// the borrowed listening channel is opened again by the usual OPEN CHANNEL scheduling. The client
// phase of each slot has its own transition function (set_client_phase).
#pragma once

#include <array>
#include <cstddef>

#include "apdu/cat.hpp"
#include "apdu/proactive_command.hpp"
#include "apdu/terminal_profile.hpp"
#include "apdu/terminal_response.hpp"
#include "base/bytes.hpp"
#include "base/result.hpp"
#include "card/cat/bip_channel.hpp"
#include "card/cat/client_channel.hpp"
#include "card/cat/deadlines.hpp"
#include "card/cat/stream_endpoint.hpp"
#include "card/cat/timers.hpp"
#include "card/os/toolkit_hook.hpp"

namespace scws::card {

enum class ToolkitError : u8 {
  kTableFull,        // no free entry for one more port
  kInvalidArgument,  // port 0, buffer size 0, max_channels not 1..7, timer id not 1..6
  kUnknownPort,      // close_port / reopen_port of a port never registered
  kNotSupported,     // the terminal profile lacks TIMER MANAGEMENT
};

const char* describe(ToolkitError e) noexcept;

// Whole-toolkit session state (beside each channel's own BipState).
enum class SessionState : u8 {
  kNoProfile,    // no TERMINAL PROFILE since power-up: no proactive command may be issued
  kNoBip,        // the profile lacks what BIP server mode needs: channels stay closed
  kEventsSetUp,  // SET UP EVENT LIST issued or to be issued
  kReady,        // events registered: channels open and serve
};

const char* to_string(SessionState s) noexcept;

// Asked before the toolkit opens a listening channel on a port: the card's defences keep a port they
// closed closed across resets and power cycles (card/defence/detector.hpp). Called inside toolkit
// commands; it may start deadlines but must not call back into the toolkit's port API.
class PortGuard {
 public:
  virtual ~PortGuard() = default;
  virtual bool port_may_open(u16 port) noexcept = 0;
};

// Where a client request stands, per slot (the connection number is the slot index).
enum class ClientPhase : u8 {
  kNone,       // the slot is not a client's
  kBorrowing,  // a listening server channel of this slot is being closed for the client
  kWaiting,    // the slot is the client's; OPEN CHANNEL not issued yet
  kOpening,    // OPEN CHANNEL issued, or the link being established in background mode
  kOpen,       // link established: the endpoint's connection is open
  kEnded,      // the endpoint heard its last word (close or link_failed); the channel is closing
};

const char* to_string(ClientPhase p) noexcept;

class CatToolkit final : public Toolkit, public ClientChannels {
 public:
  static constexpr std::size_t kMaxPorts = 4;
  static constexpr std::size_t kMaxSlots = apdu::cat::kMaxChannels;  // 7 channels at most
  static constexpr std::size_t kEventQueueSize = 4;
  static constexpr std::size_t kMaxProfileSize = 32;  // bytes of TERMINAL PROFILE kept
  static constexpr u8 kRetryTimerId = TimerTable::kTimers;  // 8: the toolkit's own; applets use 1..6
  static constexpr u8 kDeadlineTimerId = Deadlines::kTimerId;  // 7: the deadline service's
  static_assert(kDeadlineTimerId != kRetryTimerId && TimerTable::valid(kDeadlineTimerId));
  static constexpr u32 kRetrySeconds = 5;
  static constexpr u8 kMaxOpenRetries = 3;
  static constexpr std::size_t kCommandBufferSize = apdu::cat::kMaxProactiveCommandSize;
  static_assert(kMaxSlots == StreamEndpoint::kMaxConnections, "connection number = slot index");
  static_assert(kMaxPorts < BipChannel::kClientPort, "a client slot's port index is no port");
  static_assert(kCommandBufferSize <= 255, "91 XX announces the whole command (TS 102 221 10.2.1.1)");

  CatToolkit() noexcept;

  // --- configuration and services for applets -------------------------------------------------------
  // Registers (or, for a port already registered, updates) a TCP server port in UICC server mode:
  // up to max_channels (1..7) channels listen on it, each with a Tx/Rx buffer of buffer_size bytes
  // asked of the terminal; endpoint serves every connection of the port and must outlive the toolkit.
  Status<ToolkitError> add_server_port(u16 port, u16 buffer_size, StreamEndpoint& endpoint, u8 max_channels) noexcept;
  // CLOSE CHANNEL qualifier 00 on each channel of the port (connected clients are dropped and the
  // terminal stops listening); the port stays closed until reopen_port().
  Status<ToolkitError> close_port(u16 port) noexcept;
  // Opens the port's channels again (also after the terminal refused them), unless the guard says no.
  Status<ToolkitError> reopen_port(u16 port) noexcept;
  // Configuration (survives resets): the guard asked before every OPEN CHANNEL; nullptr: none.
  void set_port_guard(PortGuard* guard) noexcept { guard_ = guard; }
  // The card's deadlines (card/cat/deadlines.hpp) on terminal timer 7: what other layers time with.
  Deadlines& deadlines() noexcept { return deadlines_; }
  [[nodiscard]] const Deadlines& deadlines() const noexcept { return deadlines_; }
  // Timers 1..6 (7 runs the deadlines, 8 is the toolkit's own): the listener is told when the timer expires. Starting a
  // running timer restarts it. kNotSupported when the terminal profile lacks TIMER MANAGEMENT (before
  // a profile the wish is kept and dropped with a trace if the profile has no timers).
  Status<ToolkitError> start_timer(u8 id, u32 seconds, TimerListener& listener) noexcept;
  Status<ToolkitError> stop_timer(u8 id) noexcept;
  // Looks for work again (an endpoint that produced output outside a toolkit command): the next
  // status word then announces the proactive command, if any.
  void wake() noexcept;

  // --- client channels (card/cat/client_channel.hpp) --------------------------------------------------
  // kNotReady before the first TERMINAL PROFILE of the session; a profile without TCP client mode
  // (apdu::cat::supports_bip_client_mode) or without BIP events gives link_failed(kNotSupported).
  Result<u8, ClientError> open_client(const ClientChannelRequest& request, ClientEndpoint& endpoint) noexcept override;
  void close_client(u8 connection) noexcept override;
  [[nodiscard]] ClientPhase client_phase(std::size_t connection) const noexcept {
    return connection < kMaxSlots ? clients_[connection].phase : ClientPhase::kNone;
  }

  // --- observation (tests, /status) ------------------------------------------------------------------
  [[nodiscard]] SessionState session() const noexcept { return session_; }
  [[nodiscard]] Bytes terminal_profile_bytes() const noexcept { return Bytes(profile_raw_.data(), profile_size_); }
  // State of the channel the terminal numbered channel_id (1..7); Closed when none has that id.
  [[nodiscard]] BipState channel_state(u8 channel_id) const noexcept;
  // The TCP port of the server port a connection (slot) belongs to; 0 when the slot is free.
  [[nodiscard]] u16 connection_port(std::size_t connection) const noexcept;
  // The TCP port of registration i (0..kMaxPorts-1); 0 when that entry is unused.
  [[nodiscard]] u16 registered_port(std::size_t i) const noexcept {
    return i < kMaxPorts && ports_[i].used ? ports_[i].number : 0;
  }
  // Channels of `port` in the given state.
  [[nodiscard]] std::size_t channels(u16 port, BipState state) const noexcept;
  [[nodiscard]] std::size_t connected_clients() const noexcept;
  [[nodiscard]] const BipChannel& slot(std::size_t i) const noexcept { return slots_[i]; }
  [[nodiscard]] TimerState timer_state(u8 id) const noexcept;
  [[nodiscard]] std::size_t queued_events() const noexcept { return queue_count_; }

  // --- the dispatcher's hook ------------------------------------------------------------------------------
  Status<CardError> on_power_up(CardContext& ctx) noexcept override;
  Result<ApduOutcome, CardError> terminal_profile(CardContext& ctx, const ApduRequest& request) noexcept override;
  Result<ApduOutcome, CardError> fetch(CardContext& ctx, const ApduRequest& request) noexcept override;
  Result<ApduOutcome, CardError> terminal_response(CardContext& ctx, const ApduRequest& request) noexcept override;
  Result<ApduOutcome, CardError> envelope(CardContext& ctx, const ApduRequest& request) noexcept override;
  [[nodiscard]] u8 pending_proactive_length() const noexcept override;

 private:
  struct Port {
    bool used = false;
    u16 number = 0;
    u16 buffer_size = 0;
    u8 max_channels = 0;
    StreamEndpoint* endpoint = nullptr;
    // session state
    bool closed_by_card = false;  // close_port(): no channel until reopen_port()
    bool stop_opening = false;    // the terminal refused: no further OPEN CHANNEL this session
    bool retry_waiting = false;   // an OPEN CHANNEL retry timer runs
    u8 retries = 0;
  };

  // What the outstanding proactive command is about.
  struct Outstanding {
    u8 length = 0;  // 0: none
    bool fetched = false;
    apdu::cat::CommandDetails details;
    u8 slot = 0xFF;   // channel commands: the slot
    u8 port = 0xFF;   // OPEN CHANNEL: the port
    u8 timer = 0;     // TIMER MANAGEMENT: the timer
    u8 size = 0;      // RECEIVE DATA: bytes asked for; SEND DATA: bytes in the piece
  };

  struct Client {
    ClientPhase phase = ClientPhase::kNone;
    ClientEndpoint* endpoint = nullptr;
    ClientChannelRequest request{};
    bool close_wanted = false;     // close_client(): CLOSE CHANNEL 00 once the output is sent
    bool failure_pending = false;  // link_failed(failure) is told at the next scheduling
    LinkFailure failure = LinkFailure::kBipError;
  };

  enum class EventKind : u8 { kChannelStatus, kDataAvailable, kTimerExpired };
  struct QueuedEvent {
    EventKind kind = EventKind::kChannelStatus;
    u8 a = 0;  // channel status byte 1 / timer id
    u8 b = 0;  // channel status byte 2
    u8 c = 0;  // data available: channel data length
  };

  void set_session(SessionState next, const char* why) noexcept;
  void reset_session(bool close_endpoints) noexcept;
  void forget_outstanding() noexcept { out_ = Outstanding{}; }

  // The scheduler: when nothing is outstanding, builds the next proactive command, if any.
  void schedule() noexcept;
  u8 take_number() noexcept;
  bool issue(const apdu::cat::ProactiveCommand& c, u8 slot, u8 port, u8 timer, u8 size) noexcept;
  bool schedule_timer() noexcept;
  bool schedule_channel(BipChannel& ch) noexcept;
  bool schedule_open() noexcept;
  bool schedule_client_open() noexcept;

  // Client channels.
  void set_client_phase(u8 slot, ClientPhase next, const char* why) noexcept;
  [[nodiscard]] bool client_mode_usable() const noexcept;
  [[nodiscard]] int borrowable_slot() const noexcept;  // -1: none
  void claim_for_client(BipChannel& ch) noexcept;
  void client_link_up(BipChannel& ch) noexcept;
  // The link is gone or never came: the endpoint is told (close or link_failed) and the terminal's
  // channel, if it has one, is closed with CLOSE CHANNEL 00.
  void client_link_down(BipChannel& ch, LinkFailure why, const char* trace_why) noexcept;
  void client_freed(u8 slot) noexcept;  // after release(): the slot's client data goes
  void deliver_client_failures() noexcept;
  void answered_open_client(const apdu::cat::TerminalResponse& r, const Outstanding& done) noexcept;
  void on_client_status(BipChannel& ch, apdu::cat::ChannelStatus s) noexcept;

  // Events.
  void apply_event(const QueuedEvent& e) noexcept;
  void on_channel_status(apdu::cat::ChannelStatus s) noexcept;
  void on_data_available(apdu::cat::ChannelStatus s, u8 length) noexcept;
  void on_timer_expired(u8 id) noexcept;
  void drain_queue() noexcept;

  // Terminal responses, per command type.
  void answered(const apdu::cat::TerminalResponse& r, const Outstanding& done) noexcept;
  void answered_open(const apdu::cat::TerminalResponse& r, const Outstanding& done) noexcept;
  void answered_channel(const apdu::cat::TerminalResponse& r, const Outstanding& done) noexcept;
  void answered_channel_status(const apdu::cat::TerminalResponse& r) noexcept;
  void answered_timer(const apdu::cat::TerminalResponse& r, const Outstanding& done) noexcept;
  void answered_deadline_timer(const apdu::cat::TerminalResponse& r, const Outstanding& done) noexcept;
  void answered_local_information(const apdu::cat::TerminalResponse& r) noexcept;
  bool schedule_deadline_timer() noexcept;
  bool schedule_clock() noexcept;
  void release(BipChannel& ch, const char* why) noexcept;  // -> Closed, slot freed
  [[nodiscard]] const Tracer& trace() const noexcept;
  [[nodiscard]] Arena* arena() noexcept;
  // The client of a channel is gone (or dropped): endpoint closed, RAM back; Listen or Closed.
  void client_gone(BipChannel& ch, BipState next, const char* why) noexcept;

  BipChannel* by_channel_id(u8 id) noexcept;
  [[nodiscard]] const BipChannel* by_channel_id(u8 id) const noexcept;
  Port* find_port(u16 number) noexcept;
  [[nodiscard]] std::size_t slots_in_use() const noexcept;
  [[nodiscard]] std::size_t port_channels(u8 port) const noexcept;

  // Configuration (survives resets).
  std::array<Port, kMaxPorts> ports_{};
  PortGuard* guard_ = nullptr;
  // Session (RAM).
  CardContext* ctx_ = nullptr;  // the card's context, from on_power_up (stable for the card's life)
  SessionState session_ = SessionState::kNoProfile;
  apdu::cat::TerminalProfile profile_{};
  std::array<u8, kMaxProfileSize> profile_raw_{};
  std::size_t profile_size_ = 0;
  bool have_timers_ = false;
  bool have_channel_status_ = false;
  bool have_date_time_ = false;  // PROVIDE LOCAL INFORMATION 03 (profile byte 8 b3)
  std::size_t channel_limit_ = 0;  // channels the terminal offers (profile byte 13), at most 7
  bool events_set_up_ = false;
  bool need_channel_status_ = false;
  const char* status_reason_ = "after an error";  // why GET CHANNEL STATUS is asked (trace)
  std::array<BipChannel, kMaxSlots> slots_{};
  std::array<Client, kMaxSlots> clients_{};  // by slot
  bool client_mode_ = false;  // the profile offers TCP client mode and the BIP events
  std::size_t next_slot_ = 0;  // round-robin start
  TimerTable timers_;
  Deadlines deadlines_;
  std::array<QueuedEvent, kEventQueueSize> queue_{};
  std::size_t queue_head_ = 0;
  std::size_t queue_count_ = 0;
  Outstanding out_;
  u8 next_number_ = 1;
  bool scheduling_ = false;  // schedule() is running (endpoint callbacks may call wake())
  MutableBytes command_;  // kCommandBufferSize bytes from RAM: the outstanding command, as fetched
  MutableBytes stage_;    // BipChannel::kMaxPiece bytes from RAM: SEND DATA payload being built
};

}  // namespace scws::card
