#include "sim/handset/gateway.hpp"

#include <charconv>
#include <csignal>
#include <ctime>
#include <iostream>
#include <stdexcept>

#include <asio.hpp>

#include "sim/handset/tcp_client_connector.hpp"
#include "sim/handset/tcp_server_connector.hpp"
#include "sim/host/port_holder.hpp"

namespace scws::sim {

std::pair<u16, u16> parse_port_map(std::string_view text) {
  auto eq = text.find('=');
  if (eq == std::string_view::npos) throw std::invalid_argument("expected CARDPORT=LOCALPORT, got '" + std::string(text) + "'");
  auto number = [&](std::string_view s, bool allow_zero) {
    unsigned v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || v > 65535 || (v == 0 && !allow_zero))
      throw std::invalid_argument("bad port '" + std::string(s) + "' in '" + std::string(text) + "'");
    return static_cast<u16>(v);
  };
  return {number(text.substr(0, eq), false), number(text.substr(eq + 1), true)};
}

std::string describe(const ListenFailure& f) {
  std::string text = "cannot listen on " + f.address + ":" + std::to_string(f.local_port) + " (card port " +
                     std::to_string(f.card_port) + "): " + f.error.message();
  if (f.local_port == 0) return text;
  const std::string holders = describe_port_holders(tcp_port_holders(f.local_port));
  if (!holders.empty()) text += "; port " + std::to_string(f.local_port) + " is held by " + holders;
  return text;
}

// --- the host's clock ---------------------------------------------------------------------------------

TerminalClock::TimePoint HostClock::now() const { return std::chrono::steady_clock::now(); }

std::chrono::system_clock::time_point HostClock::utc_now() const { return std::chrono::system_clock::now(); }

std::optional<std::chrono::minutes> HostClock::utc_offset(std::chrono::system_clock::time_point when) const {
  const std::time_t t = std::chrono::system_clock::to_time_t(when);
  std::tm local{};
  if (localtime_r(&t, &local) == nullptr) return std::nullopt;
  return std::chrono::duration_cast<std::chrono::minutes>(std::chrono::seconds(local.tm_gmtoff));
}

// --- the driver ---------------------------------------------------------------------------------------

namespace {

GatewayOptions with_default_log(GatewayOptions g) {
  if (!g.log) g.log = [](const std::string& line) { std::cerr << "gateway: " << line << std::endl; };
  return g;
}

TerminalOptions terminal_options(const GatewayOptions& g, std::function<void()> wake) {
  TerminalOptions t;
  t.max_buffer_size = g.max_buffer_size;
  t.poll_interval = g.poll_interval;
  t.card_wait = g.card_wait;
  t.reconnect_delay_max = g.reconnect_delay_max;
  t.envelope_retry_first = g.envelope_retry_first;
  t.envelope_retry_max = g.envelope_retry_max;
  t.envelope_retry_limit = g.envelope_retry_limit;
  t.time_zone = g.time_zone;
  t.profile = g.profile;
  t.log = g.log;
  t.verbose = g.verbose;
  t.wake = std::move(wake);
  return t;
}

}  // namespace

struct Gateway::Driver {
  Driver(asio::io_context& io_, CardTransport& card, GatewayOptions options)
      : io(io_),
        connector(io_, connector_options(options)),
        client_connector(io_, client_options(options)),
        terminal(card, clock, terminal_options(options, [this] { schedule(); })),
        timer(io_) {
    terminal.add_connector(connector);
    terminal.add_connector(client_connector);
  }

  static TcpClientOptions client_options(const GatewayOptions& g) {
    TcpClientOptions c;
    c.connect_map = g.connect_map;
    c.connect_timeout = g.connect_timeout;
    c.linger = g.linger;
    c.log = g.log;
    return c;
  }

  TcpServerOptions connector_options(const GatewayOptions& g) {
    TcpServerOptions c;
    c.listen_address = g.listen_address;
    c.port_map = g.port_map;
    c.linger = g.linger;
    c.log = g.log;
    c.on_listen = g.on_listen;
    if (g.on_listen_failure) {
      c.on_listen_failure = [this, report = g.on_listen_failure, address = g.listen_address](
                                u16 card_port, u16 local_port, const std::error_code& ec) {
        // The card is half-way through OPEN CHANNEL: it gets its answer, nothing more, then the report.
        terminal.halt();
        asio::post(io, [report, f = ListenFailure{card_port, address, local_port, ec}] { report(f); });
      };
    }
    return c;
  }

  // Runs the terminal when it is due: at once (a post) or at its next wake-up time (the timer).
  void schedule() {
    if (posted || in_run) return;
    const auto at = terminal.next_wakeup();
    if (!at) {
      if (armed) timer.cancel();
      armed.reset();
      return;
    }
    if (*at <= clock.now()) {
      posted = true;
      asio::post(io, [this, alive = alive] {
        if (!*alive) return;
        posted = false;
        run();
      });
      return;
    }
    if (armed == *at) return;
    armed = *at;
    timer.expires_at(*at);
    timer.async_wait([this, alive = alive](const std::error_code& ec) {
      if (ec || !*alive) return;
      armed.reset();
      run();
    });
  }

  void run() {
    in_run = true;
    terminal.run_due();
    in_run = false;
    schedule();
  }

  asio::io_context& io;
  HostClock clock;
  TcpServerConnector connector;
  TcpClientConnector client_connector;
  CatTerminal terminal;
  asio::steady_timer timer;
  std::optional<TerminalClock::TimePoint> armed;
  bool posted = false;
  bool in_run = false;
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);
};

Gateway::Gateway(asio::io_context& io, CardTransport& card, GatewayOptions options)
    : driver_(std::make_unique<Driver>(io, card, with_default_log(std::move(options)))) {}

Gateway::~Gateway() {
  stop();
  *driver_->alive = false;
}

void Gateway::start() {
  driver_->terminal.start();
  driver_->schedule();
}

void Gateway::stop() {
  driver_->terminal.stop();
  driver_->timer.cancel();
  driver_->armed.reset();
}

bool Gateway::card_session_active() const { return driver_->terminal.card_session_active(); }
std::vector<TerminalChannel> Gateway::channels() const { return driver_->terminal.channels(); }
std::optional<u16> Gateway::local_port(u16 card_port) const { return driver_->connector.local_port(card_port); }
bool Gateway::accepting(u16 card_port) const { return driver_->connector.accepting(card_port); }
const TerminalStats& Gateway::stats() const { return driver_->terminal.stats(); }
std::vector<apdu::cat::Event> Gateway::events() const { return driver_->terminal.events(); }

// --- the command line's main loop ------------------------------------------------------------------

ServeOutcome serve_until_signal(asio::io_context& io, CardTransport& card, GatewayOptions options,
                                const std::function<void()>& on_signal, const std::function<void()>& on_stop) {
  ServeOutcome out;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  Gateway* running = nullptr;
  options.on_listen_failure = [&](const ListenFailure& f) {
    if (out.failure) return;
    out.failure = f;
    signals.cancel();
    running->stop();
    if (on_stop) on_stop();
  };
  Gateway gateway(io, card, std::move(options));
  running = &gateway;
  signals.async_wait([&](const std::error_code& ec, int) {
    if (ec) return;
    if (on_signal) on_signal();
    gateway.stop();
    if (on_stop) on_stop();
  });
  gateway.start();
  io.run();
  out.stats = gateway.stats();
  return out;
}

}  // namespace scws::sim
