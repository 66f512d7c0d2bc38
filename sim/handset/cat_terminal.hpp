// The handset's Card Application Toolkit terminal (ETSI TS 102 223): everything the terminal (ME)
// does with the card, and nothing that needs a socket, a thread or a clock of its own.
//
// What it does, driven by run_due():
//   - waits for a card (CardTransport::connect, retried with a bounded backoff) and sends TERMINAL
//     PROFILE (cat_terminal_profile(): exactly the facilities below, TS 102 223 5.2);
//   - the proactive loop: on 91 XX, FETCH with Le = XX, parse (apdu/proactive_command.hpp), execute,
//     answer with a TERMINAL RESPONSE, while the card keeps answering 91 XX (TS 102 221 10.2.1.1);
//   - idle polling with STATUS (TS 102 221 11.1.2) at the poll interval: the option until the card
//     asks for another with POLL INTERVAL (TS 102 223 6.4.6) or turns it off with POLLING OFF (6.4.14);
//   - SET UP EVENT LIST (6.4.16) with the events Data available (09) and Channel status (0A) only;
//   - OPEN CHANNEL (6.4.27) through the Connector that serves its parameters (UICC server mode, or
//     TCP client mode in background mode: the TERMINAL RESPONSE at once with the link not yet
//     established, then Channel status 8n 00 when the connect succeeds or 0n 05 when it fails,
//     docs/protocol.md section 7.10), CLOSE CHANNEL, RECEIVE
//     DATA, SEND DATA (store or immediately), GET CHANNEL STATUS (6.4.28-6.4.31); the Rx buffer is
//     bounded by the buffer size granted (the connector reads only rx_room()), Data available is sent
//     when bytes arrive in an empty Rx buffer, Channel status on a peer's arrival and departure;
//   - TIMER MANAGEMENT (6.4.21): eight timers on the injected clock; expiry -> ENVELOPE Timer
//     expiration (7.4);
//   - DISPLAY TEXT (6.4.1) is logged; MORE TIME (6.4.4) is acknowledged; PROVIDE LOCAL INFORMATION
//     (6.4.15) gives date, time and time zone (qualifier 03, TS 102 223 8.39) and refuses other
//     qualifiers with 30; every other command type is answered 31 (type not understood);
//   - an ENVELOPE answered 93 00 (toolkit busy) is retried later with a bounded backoff, in order
//     (envelopes from other sources, such as an SMS-PP download path (TS 102 223 7.1), would join the
//     same queue as another PendingKind);
//   - a lost card (CardLost): every channel closes (Connector::reset), timers and events are
//     forgotten, and the terminal waits for the card and starts over.
//
// Driving it: the terminal never reads a clock but the TerminalClock it is given and owns no timer.
// After every run_due() (and after every connector event) the driver asks next_wakeup() and calls
// run_due() again at that time; the `wake` option is called when an event makes work due sooner.
// Everything happens on the caller's thread; card exchanges are synchronous.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "apdu/cat.hpp"
#include "apdu/envelope.hpp"
#include "apdu/proactive_command.hpp"
#include "apdu/terminal_profile.hpp"
#include "apdu/terminal_response.hpp"
#include "base/bytes.hpp"
#include "sim/handset/connector.hpp"
#include "sim/host/card_transport.hpp"

namespace scws::sim {

// The terminal's view of time. Tests implement it with a clock they move by hand.
class TerminalClock {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  using Duration = std::chrono::steady_clock::duration;
  virtual ~TerminalClock() = default;
  // Monotonic time: timers, polling, retries.
  [[nodiscard]] virtual TimePoint now() const = 0;
  // Calendar time (UTC), for PROVIDE LOCAL INFORMATION.
  [[nodiscard]] virtual std::chrono::system_clock::time_point utc_now() const = 0;
  // The local time zone's offset from UTC at `when`; nullopt when unknown.
  [[nodiscard]] virtual std::optional<std::chrono::minutes> utc_offset(
      std::chrono::system_clock::time_point when) const = 0;
};

// The facilities this terminal implements, and only those (TS 102 223 5.2; the byte-by-byte
// account is in tests/sim/handset/cat_terminal_test.cpp).
apdu::cat::TerminalProfile cat_terminal_profile() noexcept;

// Date, time and time zone as PROVIDE LOCAL INFORMATION reports them (TS 102 223 8.39): the local
// time at `utc` in the zone `offset` east of UTC. A zone that is not a whole number of quarters of
// an hour, or beyond 79 of them, is reported unknown (FF) with the time in UTC.
apdu::cat::DateTimeZone date_time_zone(std::chrono::system_clock::time_point utc,
                                       std::optional<std::chrono::minutes> offset) noexcept;

struct TerminalOptions {
  u16 max_buffer_size = 16384;  // larger OPEN CHANNEL buffer requests are reduced (result 07)
  std::chrono::milliseconds poll_interval{1000};  // STATUS when idle, until POLL INTERVAL says otherwise
  std::chrono::milliseconds card_wait{500};       // one connect attempt waits this long for a card
  std::chrono::milliseconds reconnect_delay_max{1000};
  std::chrono::milliseconds envelope_retry_first{5};  // 93 00: first retry delay, doubled each time
  std::chrono::milliseconds envelope_retry_max{500};
  int envelope_retry_limit = 200;                     // then the envelope is dropped (logged)
  // PROVIDE LOCAL INFORMATION: the time zone, east of UTC; unset: the clock's local zone.
  std::optional<std::chrono::minutes> time_zone;
  apdu::cat::TerminalProfile profile = cat_terminal_profile();
  // One line per event, without a prefix. Default: "gateway: <line>" on stderr.
  std::function<void(const std::string&)> log;
  bool verbose = false;  // also log every proactive command and envelope
  // Called when a connector event made work due before the last next_wakeup(); the driver then
  // asks next_wakeup() again. May be empty when the driver asks after every event anyway.
  std::function<void()> wake;
};

struct TerminalChannel {
  u8 id = 0;
  u16 card_port = 0;
  u16 local_port = 0;
  apdu::cat::ServerState state = apdu::cat::ServerState::kClosed;
  u16 buffer_size = 0;
  std::size_t rx_bytes = 0;  // waiting for RECEIVE DATA
  std::size_t tx_bytes = 0;  // stored by SEND DATA or not yet written to the peer
  bool client = false;       // TCP client mode: card_port is the destination's port; LISTEN = no link
};

struct TerminalStats {
  u64 sessions = 0;            // TERMINAL PROFILEs sent (one per card session)
  u64 apdus = 0;               // every command sent to the card
  u64 proactive_commands = 0;  // FETCHed
  u64 envelopes = 0;           // ENVELOPEs answered other than 93 00
  u64 envelope_busy = 0;       // 93 00 answers
  u64 clients_accepted = 0;
  u64 links_established = 0;   // client channels connected
  u64 links_failed = 0;        // client channels whose connect failed
  u64 cards_lost = 0;
};

class CatTerminal final : private ChannelEvents {
 public:
  using TimePoint = TerminalClock::TimePoint;

  CatTerminal(CardTransport& card, const TerminalClock& clock, TerminalOptions options = {});
  ~CatTerminal();
  CatTerminal(const CatTerminal&) = delete;
  CatTerminal& operator=(const CatTerminal&) = delete;

  // Connectors are tried in the order added; they must outlive the terminal.
  void add_connector(Connector& connector);

  // Starts waiting for a card; the first attempt is due at once.
  void start();
  // Ends the card session: every connector resets, the card is disconnected. run_due() then does
  // nothing and next_wakeup() is nullopt until start().
  void stop();
  // Finishes the proactive command in progress (its TERMINAL RESPONSE still goes to the card), then
  // does nothing more until stop() or start(): for a driver that has decided to stop, from inside a
  // connector call.
  void halt();

  // Does what is due now: a connect attempt, TERMINAL PROFILE, FETCH and TERMINAL RESPONSE, ENVELOPEs,
  // timer expirations, a STATUS poll. Returns after a bounded number of card exchanges, so the driver
  // can serve its peers in between (next_wakeup() is then already due).
  void run_due();
  // When run_due() next has something to do; nullopt: only after an event. A time at or before
  // clock.now() means at once.
  [[nodiscard]] std::optional<TimePoint> next_wakeup() const;

  [[nodiscard]] bool card_session_active() const noexcept { return state_ == State::kSession; }
  [[nodiscard]] std::vector<TerminalChannel> channels() const;  // open channels (LISTEN/ESTABLISHED)
  [[nodiscard]] const TerminalStats& stats() const noexcept { return stats_; }
  // The events the card subscribed to with SET UP EVENT LIST.
  [[nodiscard]] std::vector<apdu::cat::Event> events() const;
  // The idle polling interval in use; nullopt after POLLING OFF.
  [[nodiscard]] std::optional<std::chrono::milliseconds> polling() const;

 private:
  enum class State : u8 { kStopped, kNoCard, kSession, kHalted };
  enum class PendingKind : u8 { kChannelStatus, kDataAvailable, kTimerExpiration };

  struct Channel {
    u8 id = 0;
    apdu::cat::ServerState state = apdu::cat::ServerState::kClosed;
    u16 card_port = 0;
    u16 local_port = 0;
    u16 buffer_size = 0;
    Connector* connector = nullptr;
    bool client = false;    // TCP client mode: LISTEN stands for "open, no link"
    bool peer = false;      // a peer is attached (ESTABLISHED)
    bool peer_eof = false;  // ... and has closed its side: gone once the Rx buffer is drained
    std::deque<u8> rx;      // the Rx buffer, at most buffer_size bytes
    std::vector<u8> tx;     // stored by SEND DATA, not yet handed to the connector
  };

  struct PendingEnvelope {
    PendingKind kind = PendingKind::kChannelStatus;
    u8 channel_id = 0;
    apdu::cat::ChannelStatus status;  // kChannelStatus: the state when the event happened
    u8 timer_id = 0;
    apdu::cat::TimerValue timer_value;
    int attempts = 0;
  };

  struct CardTimer {
    bool running = false;
    TimePoint started;
    TimePoint expiry;
  };

  struct Rapdu {
    std::vector<u8> data;
    u16 sw = 0;
  };

  // ChannelEvents
  void peer_connected(u8 channel, const std::string& peer) override;
  [[nodiscard]] std::size_t rx_room(u8 channel) const override;
  void peer_data(u8 channel, Bytes data) override;
  void peer_closed(u8 channel, bool orderly, const std::string& why) override;
  void tx_progress(u8 channel) override;

  // session
  static const char* session_name(State s);
  void set_state(State next);
  void try_connect();
  void begin_session();
  void card_lost(const std::string& why);
  void teardown();
  template <class F>
  void guarded(F&& f);
  bool step(TimePoint now);
  void expire_timers(TimePoint now);
  [[nodiscard]] bool tx_saturated() const;
  [[nodiscard]] bool poll_due(TimePoint now) const;

  // card exchanges
  Rapdu exchange(std::vector<u8> apdu);
  Rapdu raw_exchange(const std::vector<u8>& apdu);
  void note_sw(const Rapdu& r);
  void proactive_cycle();
  void poll_status();
  void send_envelope();
  bool build_pending(PendingEnvelope& e, apdu::cat::Envelope& env);

  // proactive commands: each returns the TERMINAL RESPONSE data
  std::vector<u8> execute(Bytes d0);
  std::vector<u8> dispatch(const apdu::cat::ProactiveCommand& c);
  std::vector<u8> set_up_event_list(const apdu::cat::ProactiveCommand& c);
  std::vector<u8> open_channel(const apdu::cat::ProactiveCommand& c);
  std::vector<u8> open_client_channel(const apdu::cat::ProactiveCommand& c, Channel& ch, Connector& connector);
  std::vector<u8> close_channel(const apdu::cat::ProactiveCommand& c);
  std::vector<u8> receive_data(const apdu::cat::ProactiveCommand& c);
  std::vector<u8> send_data(const apdu::cat::ProactiveCommand& c);
  std::vector<u8> get_channel_status(const apdu::cat::ProactiveCommand& c);
  std::vector<u8> timer_management(const apdu::cat::ProactiveCommand& c);
  std::vector<u8> display_text(const apdu::cat::ProactiveCommand& c);
  std::vector<u8> poll_interval(const apdu::cat::ProactiveCommand& c);
  std::vector<u8> polling_off(const apdu::cat::ProactiveCommand& c);
  std::vector<u8> provide_local_information(const apdu::cat::ProactiveCommand& c);
  Channel* addressed_channel(const apdu::cat::ProactiveCommand& c, std::vector<u8>& refusal);

  // channels
  void set_channel_state(Channel& ch, apdu::cat::ServerState next, const char* why);
  void client_left(Channel& ch, const std::string& why);
  void link_down(Channel& ch, const std::string& why);
  [[nodiscard]] static apdu::cat::ChannelStatus status_of(const Channel& ch);
  void queue_channel_status(const Channel& ch);
  void queue_data_available(const Channel& ch);
  void queue(PendingEnvelope e);
  Channel* channel(u8 id);
  [[nodiscard]] const Channel* channel(u8 id) const;
  [[nodiscard]] std::size_t tx_pending(const Channel& ch) const;
  [[nodiscard]] bool subscribed(apdu::cat::Event e) const;

  void log(const std::string& line) const;
  void debug(const std::string& line) const;
  void wake() const;

  CardTransport& card_;
  const TerminalClock& clock_;
  TerminalOptions options_;
  std::vector<Connector*> connectors_;
  TerminalStats stats_;

  State state_ = State::kStopped;
  TimePoint connect_at_{};
  std::chrono::milliseconds connect_delay_{0};
  bool fetch_pending_ = false;
  u8 fetch_length_ = 0;  // XX of the last 91 XX
  TimePoint last_exchange_{};
  std::optional<std::chrono::milliseconds> polling_;  // nullopt: POLLING OFF
  std::set<u8> events_;
  std::array<Channel, apdu::cat::kMaxChannels> channels_;
  std::deque<PendingEnvelope> envelopes_;
  TimePoint envelope_retry_at_{};
  std::array<CardTimer, apdu::cat::kMaxTimerId> timers_;
};

}  // namespace scws::sim
