// The handset gateway: the CAT terminal (cat_terminal.hpp) on the host's clock and an Asio
// io_context, with the TCP server connector (tcp_server_connector.hpp) relaying the card's BIP
// channels in UICC server mode to TCP clients on the loopback interface (TS 102 223 6.4.27), and the
// TCP client connector (tcp_client_connector.hpp) connecting the card's client channels to the
// servers it names (docs/protocol.md section 7.10).
//
// This layer only drives: it runs CatTerminal::run_due() when next_wakeup() says (one steady timer,
// or a post when work is due at once) and after every socket event. Everything the card sees is
// decided by the terminal; everything about sockets by the connector.
//
// Threading: everything runs on the one io_context thread given; card transmits are synchronous and
// serialised. Observers below are for that thread too (tests call them between io.run_one()s).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "sim/handset/cat_terminal.hpp"

namespace asio {
class io_context;
}

namespace scws::sim {

// "3516=41234": the card asks for port 3516, the gateway listens on 41234 instead (0: an ephemeral
// port, chosen at the first bind and kept across card sessions). Throws std::invalid_argument.
std::pair<u16, u16> parse_port_map(std::string_view text);

// A listening socket that could not be opened for a card's OPEN CHANNEL.
struct ListenFailure {
  u16 card_port = 0;
  std::string address;  // the listen address
  u16 local_port = 0;   // the port it tried
  std::error_code error;
};

// "cannot listen on 127.0.0.1:3516 (card port 3516): Address already in use; port 3516 is held by
// process 1234 (scws run)": the failure, and who holds the port where the kernel says.
std::string describe(const ListenFailure& failure);

struct GatewayOptions {
  std::string listen_address = "127.0.0.1";
  std::map<u16, u16> port_map;  // card port -> local port; ports not listed are used as asked
  // Client channels: a destination the card asks for ("a.b.c.d:port") -> where the gateway connects
  // instead; destinations not listed are used as asked (parse_connect_map in tcp_client_connector.hpp).
  std::map<std::string, std::string> connect_map;
  std::chrono::milliseconds connect_timeout{10000};  // a client channel's connect attempt, at most
  u16 max_buffer_size = 16384;  // larger OPEN CHANNEL buffer requests are reduced (result 07)
  std::chrono::milliseconds poll_interval{1000};  // STATUS when idle, until the card asks otherwise
  std::chrono::milliseconds card_wait{500};       // one connect attempt waits this long for a card
  std::chrono::milliseconds reconnect_delay_max{1000};
  std::chrono::milliseconds envelope_retry_first{5};  // 93 00: first retry delay, doubled each time
  std::chrono::milliseconds envelope_retry_max{500};
  int envelope_retry_limit = 200;                     // then the envelope is dropped (logged)
  std::chrono::milliseconds linger{2000};  // a closed client: bounded time to flush and see its EOF
  // PROVIDE LOCAL INFORMATION: the time zone east of UTC; unset: the host's local zone.
  std::optional<std::chrono::minutes> time_zone;
  apdu::cat::TerminalProfile profile = cat_terminal_profile();
  // One line per event ("channel 1 listening on 127.0.0.1:41234 (card port 3516)"), without the
  // "gateway: " prefix. Default: "gateway: <line>" on stderr.
  std::function<void(const std::string&)> log;
  bool verbose = false;  // also log every proactive command and envelope
  // Called when a listening socket opens for a card port (once per socket, not per channel).
  std::function<void(u16 card_port, const std::string& address, u16 local_port)> on_listen;
  // Called (from the io_context, after the card got its "port not available") when a listening
  // socket cannot be opened; the terminal does nothing more meanwhile, the handler decides (stop()
  // or start() again). Unset: logged, and the gateway goes on serving the other ports.
  std::function<void(const ListenFailure&)> on_listen_failure;
};

// The host's clocks: steady_clock, system_clock, and the local zone of the C library.
class HostClock final : public TerminalClock {
 public:
  [[nodiscard]] TimePoint now() const override;
  [[nodiscard]] std::chrono::system_clock::time_point utc_now() const override;
  [[nodiscard]] std::optional<std::chrono::minutes> utc_offset(
      std::chrono::system_clock::time_point when) const override;
};

class Gateway {
 public:
  Gateway(asio::io_context& io, CardTransport& card, GatewayOptions options = {});
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Starts waiting for a card (asynchronously: run the io_context).
  void start();
  // Closes every socket, cancels the timer and ends the card session; io.run() then returns.
  void stop();

  [[nodiscard]] bool card_session_active() const;
  [[nodiscard]] std::vector<TerminalChannel> channels() const;  // open channels (LISTEN/ESTABLISHED)
  // Where the listening socket for a card port is bound now.
  [[nodiscard]] std::optional<u16> local_port(u16 card_port) const;
  // Whether the listening socket of a card port has an accept outstanding.
  [[nodiscard]] bool accepting(u16 card_port) const;
  [[nodiscard]] const TerminalStats& stats() const;
  // The events the card subscribed to with SET UP EVENT LIST.
  [[nodiscard]] std::vector<apdu::cat::Event> events() const;

 private:
  struct Driver;
  std::unique_ptr<Driver> driver_;
};

// The command line programs' main loop: a gateway on io until SIGINT or SIGTERM (on_signal is called
// first) or until a port the card opens cannot be listened on; either way the gateway is stopped,
// on_stop is called (stop there whatever else runs on io, such as an embedded admin server) and io
// has run out of work. options.on_listen_failure is replaced.
struct ServeOutcome {
  std::optional<ListenFailure> failure;  // why it stopped, when not a signal
  TerminalStats stats;
};
ServeOutcome serve_until_signal(asio::io_context& io, CardTransport& card, GatewayOptions options,
                                const std::function<void()>& on_signal = {},
                                const std::function<void()>& on_stop = {});

}  // namespace scws::sim
