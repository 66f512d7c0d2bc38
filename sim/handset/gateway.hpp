// The handset gateway: the terminal (ME) side of the Card Application Toolkit (ETSI TS 102 223) for a
// card whose Smart Card Web Server uses BIP in UICC server mode, and the relay between the card's
// BIP channels and TCP clients on the loopback interface (protocol-notes 1.12-1.14, section 8).
//
// What it does, in order:
//   - waits for a card (CardTransport::connect), sends TERMINAL PROFILE (gateway_terminal_profile());
//   - the proactive loop: on 91 XX, FETCH with Le = XX, parse (apdu/proactive_command.hpp), execute,
//     answer with a TERMINAL RESPONSE, and loop while the card answers 91 XX;
//   - when idle, polls with STATUS (80 F2 00 0C) every poll_interval to pick up proactive commands;
//   - SET UP EVENT LIST: only subscribed events are sent (Data available 09, Channel status 0A);
//   - OPEN CHANNEL (UICC server mode): channel ids 1..7, one listening socket per card port shared by
//     every channel on that port; a client is accepted only while a channel on its port is in LISTEN
//     (others wait in the kernel's listen backlog) -> ENVELOPE Channel status ESTABLISHED (8n 00);
//     client bytes go to the channel's Rx buffer (bounded by the buffer size granted: the socket is not
//     read while it is full) -> ENVELOPE Data available when they arrive in an empty Rx buffer;
//     RECEIVE DATA / SEND DATA (store or immediate) / CLOSE CHANNEL (01 back to LISTEN, 00 CLOSED and
//     the listening socket closed with the port's last channel) / GET CHANNEL STATUS; a client that
//     leaves -> ENVELOPE Channel status LISTEN (4n 00);
//   - TIMER MANAGEMENT with steady timers; expiry -> ENVELOPE Timer expiration (D7);
//   - DISPLAY TEXT is logged; MORE TIME, POLL INTERVAL, POLLING OFF are not parsed by apdu/ and are
//     answered 31 (command type not understood) like every unknown type;
//   - an ENVELOPE answered 93 00 (toolkit busy) is retried later with a bounded backoff, in order;
//   - card reset, removal or death (CardLost): every socket closes, channels and timers are
//     forgotten, and the gateway waits for the card and starts over, without being restarted.
//
// Threading: everything runs on the one io_context thread given; card transmits are synchronous
// and serialised. Observers below are for that thread too (tests call them between io.run_one()s).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "apdu/cat.hpp"
#include "apdu/terminal_profile.hpp"
#include "base/bytes.hpp"
#include "sim/host/card_transport.hpp"

namespace asio {
class io_context;
}

namespace scws::sim {

// What this gateway implements (protocol-notes 1.11): profile download, timer expiration, DISPLAY
// TEXT, SET UP EVENT LIST, events Data available and Channel status, TIMER MANAGEMENT (start, stop,
// get value), OPEN/CLOSE CHANNEL, RECEIVE/SEND DATA, GET CHANNEL STATUS, 7 channels, TCP in UICC
// server mode. No client modes, no SMS.
apdu::cat::TerminalProfile gateway_terminal_profile() noexcept;

// "3516=41234": the card asks for port 3516, the gateway listens on 41234 instead (0: an ephemeral
// port, chosen at the first bind and kept across card sessions). Throws std::invalid_argument.
std::pair<u16, u16> parse_port_map(std::string_view text);

struct GatewayOptions {
  std::string listen_address = "127.0.0.1";
  std::map<u16, u16> port_map;  // card port -> local port; ports not listed are used as asked
  u16 max_buffer_size = 16384;  // larger OPEN CHANNEL buffer requests are reduced (result 07)
  std::chrono::milliseconds poll_interval{1000};  // STATUS when idle
  std::chrono::milliseconds card_wait{500};       // one connect attempt waits this long for a card
  std::chrono::milliseconds reconnect_delay_max{1000};
  std::chrono::milliseconds envelope_retry_first{5};  // 93 00: first retry delay, doubled each time
  std::chrono::milliseconds envelope_retry_max{500};
  int envelope_retry_limit = 200;                     // then the envelope is dropped (logged)
  std::chrono::milliseconds linger{2000};  // a closed client: bounded time to flush and see its EOF
  apdu::cat::TerminalProfile profile = gateway_terminal_profile();
  // One line per event ("channel 1 listening on 127.0.0.1:41234 (card port 3516)"), without the
  // "gateway: " prefix. Default: "gateway: <line>" on stderr.
  std::function<void(const std::string&)> log;
  bool verbose = false;  // also log every proactive command and envelope
  // Called when a listening socket opens for a card port (once per socket, not per channel).
  std::function<void(u16 card_port, const std::string& address, u16 local_port)> on_listen;
};

struct GatewayChannel {
  u8 id = 0;
  u16 card_port = 0;
  u16 local_port = 0;
  apdu::cat::ServerState state = apdu::cat::ServerState::kClosed;
  u16 buffer_size = 0;
  std::size_t rx_bytes = 0;  // waiting for RECEIVE DATA
  std::size_t tx_bytes = 0;  // stored or not yet written to the client
};

struct GatewayStats {
  u64 sessions = 0;            // TERMINAL PROFILEs accepted (one per card session)
  u64 apdus = 0;               // every command sent to the card
  u64 proactive_commands = 0;  // FETCHed
  u64 envelopes = 0;           // ENVELOPEs answered other than 93 00
  u64 envelope_busy = 0;       // 93 00 answers
  u64 clients_accepted = 0;
  u64 cards_lost = 0;
};

class Gateway {
 public:
  Gateway(asio::io_context& io, CardTransport& card, GatewayOptions options = {});
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Starts waiting for a card (asynchronously: run the io_context).
  void start();
  // Closes every socket, cancels every timer and ends the card session; io.run() then returns.
  void stop();

  [[nodiscard]] bool card_session_active() const;
  [[nodiscard]] std::vector<GatewayChannel> channels() const;  // open channels (LISTEN/ESTABLISHED)
  // Where the listening socket for a card port is bound now.
  [[nodiscard]] std::optional<u16> local_port(u16 card_port) const;
  [[nodiscard]] const GatewayStats& stats() const;
  // The events the card subscribed to with SET UP EVENT LIST.
  [[nodiscard]] std::vector<apdu::cat::Event> events() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace scws::sim
