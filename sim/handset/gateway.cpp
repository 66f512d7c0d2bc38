#include "sim/handset/gateway.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <deque>
#include <iostream>
#include <set>
#include <stdexcept>

#include <asio.hpp>

#include "apdu/envelope.hpp"
#include "apdu/proactive_command.hpp"
#include "apdu/terminal_response.hpp"
#include "base/hex.hpp"
#include "base/hex_text.hpp"

namespace scws::sim {

namespace cat = apdu::cat;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

cat::TerminalProfile gateway_terminal_profile() noexcept {
  cat::TerminalProfile p = cat::scws_gateway_profile();
  // What this gateway does not implement is not advertised (TS 102 223 5.2).
  p.sms_pp_data_download = false;
  p.tcp_client_remote = false;
  p.channel_count = cat::kMaxChannels;
  return p;
}

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

namespace {

constexpr std::size_t kReadChunk = 4096;
// Tx beyond the granted buffer size: a client that reads slower than the card writes must not make
// SEND DATA fail (the card would drop the connection). Up to this much more is kept in host memory;
// above kTxHighWater the gateway stops FETCHing until the socket drains (backpressure on the card).
constexpr std::size_t kTxOverflowAllowance = 1 << 20;
constexpr std::size_t kTxHighWater = 64 * 1024;
constexpr u8 kMaxReceivePerResponse = static_cast<u8>(cat::kMaxReceiveDataPayload);  // 237
static_assert(cat::kMaxReceiveDataPayload == 237);

u8 length_byte(std::size_t n) {
  return n > 255 ? cat::kChannelDataLengthMany : static_cast<u8>(n);
}

const char* state_name(cat::ServerState s) {
  switch (s) {
    case cat::ServerState::kClosed: return "CLOSED";
    case cat::ServerState::kListen: return "LISTEN";
    case cat::ServerState::kEstablished: return "ESTABLISHED";
    case cat::ServerState::kReserved: return "reserved";
  }
  return "?";
}

const char* command_name(cat::CommandType t) {
  switch (t) {
    case cat::CommandType::kRefresh: return "REFRESH";
    case cat::CommandType::kMoreTime: return "MORE TIME";
    case cat::CommandType::kPollInterval: return "POLL INTERVAL";
    case cat::CommandType::kPollingOff: return "POLLING OFF";
    case cat::CommandType::kSetUpEventList: return "SET UP EVENT LIST";
    case cat::CommandType::kSendShortMessage: return "SEND SHORT MESSAGE";
    case cat::CommandType::kLaunchBrowser: return "LAUNCH BROWSER";
    case cat::CommandType::kDisplayText: return "DISPLAY TEXT";
    case cat::CommandType::kSetUpMenu: return "SET UP MENU";
    case cat::CommandType::kProvideLocalInformation: return "PROVIDE LOCAL INFORMATION";
    case cat::CommandType::kTimerManagement: return "TIMER MANAGEMENT";
    case cat::CommandType::kOpenChannel: return "OPEN CHANNEL";
    case cat::CommandType::kCloseChannel: return "CLOSE CHANNEL";
    case cat::CommandType::kReceiveData: return "RECEIVE DATA";
    case cat::CommandType::kSendData: return "SEND DATA";
    case cat::CommandType::kGetChannelStatus: return "GET CHANNEL STATUS";
  }
  return "proactive command";
}

}  // namespace

// One TCP client of a channel. Owned through shared_ptr so that pending socket operations keep their
// buffers alive after the channel let the client go (a closed client drains in the background).
struct Client : std::enable_shared_from_this<Client> {
  Client(tcp::socket s, asio::io_context& io) : socket(std::move(s)), linger_timer(io) {}
  tcp::socket socket;
  std::array<u8, kReadChunk> read_buf{};
  std::vector<u8> out;  // stored by SEND DATA, not yet written (the Tx buffer)
  bool reading = false;
  bool writing = false;
  bool peer_eof = false;
  bool detached = false;  // the channel let it go: flush `out`, shut down, wait for EOF (bounded)
  u8 channel_id = 0;
  asio::steady_timer linger_timer;
};

struct Listener {
  Listener(asio::io_context& io, u16 card, u16 local) : card_port(card), local_port(local), acceptor(io) {}
  u16 card_port;
  u16 local_port;
  tcp::acceptor acceptor;
  bool accepting = false;
  std::deque<tcp::socket> waiting;  // accepted while no channel was free (a race): served first
};

struct Channel {
  u8 id = 0;
  cat::ServerState state = cat::ServerState::kClosed;
  u16 card_port = 0;
  u16 buffer_size = 0;
  std::shared_ptr<Listener> listener;
  std::shared_ptr<Client> client;
  std::deque<u8> rx;  // the Rx buffer, at most buffer_size bytes
};

enum class PendingKind : u8 { kChannelStatus, kDataAvailable, kTimerExpiration };

struct PendingEnvelope {
  PendingKind kind = PendingKind::kChannelStatus;
  u8 channel_id = 0;
  cat::ChannelStatus status;  // kChannelStatus: the state when the event happened
  u8 timer_id = 0;
  cat::TimerValue timer_value;
  int attempts = 0;
};

struct CardTimer {
  explicit CardTimer(asio::io_context& io) : timer(io) {}
  asio::steady_timer timer;
  bool running = false;
  Clock::time_point started;
  Clock::time_point expiry;
};

struct Rapdu {
  std::vector<u8> data;
  u16 sw = 0;
  [[nodiscard]] u8 sw1() const { return static_cast<u8>(sw >> 8); }
  [[nodiscard]] u8 sw2() const { return static_cast<u8>(sw & 0xFF); }
};

struct Gateway::Impl {
  Impl(asio::io_context& io_, CardTransport& card_, GatewayOptions options_)
      : io(io_), card(card_), options(std::move(options_)), poll_timer(io_), retry_timer(io_), connect_timer(io_) {
    for (u8 i = 0; i < cat::kMaxChannels; ++i) channels[i].id = static_cast<u8>(i + 1);
    for (u8 i = 0; i < cat::kMaxTimerId; ++i) timers[i] = std::make_unique<CardTimer>(io);
    if (!options.log) options.log = [](const std::string& line) { std::cerr << "gateway: " << line << std::endl; };
  }

  asio::io_context& io;
  CardTransport& card;
  GatewayOptions options;
  GatewayStats stats;

  bool running = false;
  bool session = false;
  u8 pending_fetch = 0;  // XX of the last 91 XX (0: nothing pending)
  bool has_pending_fetch = false;
  bool pump_posted = false;
  bool in_pump = false;
  bool poll_due = false;
  std::set<u8> events;
  std::array<Channel, cat::kMaxChannels> channels;
  std::map<u16, std::shared_ptr<Listener>> listeners;  // by card port
  std::map<u16, u16> sticky_ports;                      // ephemeral ports chosen at a first bind
  std::deque<PendingEnvelope> envelopes;
  Clock::time_point envelope_retry_at{};
  std::array<std::unique_ptr<CardTimer>, cat::kMaxTimerId> timers;
  std::set<std::shared_ptr<Client>> draining;
  asio::steady_timer poll_timer;
  asio::steady_timer retry_timer;
  asio::steady_timer connect_timer;
  std::chrono::milliseconds connect_delay{0};

  void log(const std::string& line) { options.log(line); }
  void debug(const std::string& line) {
    if (options.verbose) options.log(line);
  }

  // --- card session ------------------------------------------------------------------------------

  void start() {
    running = true;
    schedule_connect(std::chrono::milliseconds(0));
  }

  void stop() {
    running = false;
    teardown();
    poll_timer.cancel();
    retry_timer.cancel();
    connect_timer.cancel();
    for (auto& c : draining) close_now(*c);
    draining.clear();
    card.disconnect();
  }

  void schedule_connect(std::chrono::milliseconds delay) {
    connect_timer.expires_after(delay);
    connect_timer.async_wait([this](const asio::error_code& ec) {
      if (ec || !running) return;
      try_connect();
    });
  }

  void try_connect() {
    bool ok = false;
    try {
      ok = card.connect(options.card_wait);
    } catch (const std::exception& e) {
      log(std::string("cannot reach the card: ") + e.what());
    }
    if (!ok) {
      connect_delay = std::min(options.reconnect_delay_max,
                               std::max(std::chrono::milliseconds(50), connect_delay * 2));
      schedule_connect(connect_delay);
      return;
    }
    connect_delay = std::chrono::milliseconds(0);
    begin_session();
  }

  void begin_session() {
    guarded([&] {
      u8 profile[cat::kTerminalProfileMaxSize];
      auto n = cat::build_terminal_profile(options.profile, MutableBytes(profile));
      if (!n) throw std::logic_error("terminal profile cannot be encoded");
      std::vector<u8> apdu{0x80, 0x10, 0x00, 0x00, static_cast<u8>(*n)};
      apdu.insert(apdu.end(), profile, profile + *n);
      Rapdu r = exchange(apdu);
      if (r.sw != 0x9000 && r.sw1() != 0x91) {
        log("card " + card.describe() + " answered TERMINAL PROFILE with " + sw_text(r.sw) +
            ": it may not run a proactive session");
      }
      session = true;
      ++stats.sessions;
      note_sw(r);
      log("card session " + std::to_string(stats.sessions) + " on " + card.describe() + ": TERMINAL PROFILE " +
          hex_text(Bytes(profile, *n)) + " -> " + sw_text(r.sw));
    });
    schedule_pump();
  }

  static std::string sw_text(u16 sw) {
    u8 b[2] = {static_cast<u8>(sw >> 8), static_cast<u8>(sw)};
    return hex_text(Bytes(b, 2));
  }

  // Runs f; a lost card ends the session and starts waiting for the card again.
  template <class F>
  void guarded(F&& f) {
    try {
      f();
    } catch (const CardLost& e) {
      card_lost(e.what());
    } catch (const std::exception& e) {
      // Anything else from the transport (or a bug) must not take the gateway down: start over.
      card.disconnect();
      card_lost(std::string("card transport failed: ") + e.what());
    }
  }

  void card_lost(const std::string& why) {
    std::size_t open = 0;
    for (auto& ch : channels)
      if (ch.state != cat::ServerState::kClosed) ++open;
    ++stats.cards_lost;
    log("card lost (" + why + "): closing " + std::to_string(open) + " channel(s), waiting for the card");
    teardown();
    if (running) schedule_connect(std::chrono::milliseconds(50));
  }

  // Forgets the card session: sockets, channels, events, timers, queued envelopes.
  void teardown() {
    session = false;
    has_pending_fetch = false;
    pending_fetch = 0;
    poll_due = false;
    events.clear();
    envelopes.clear();
    for (auto& ch : channels) {
      if (ch.client) {
        close_now(*ch.client);
        ch.client.reset();
      }
      ch.rx.clear();
      ch.state = cat::ServerState::kClosed;
      ch.listener.reset();
    }
    for (auto& [port, l] : listeners) close_listener(*l);
    listeners.clear();
    for (auto& t : timers) {
      t->timer.cancel();
      t->running = false;
    }
    poll_timer.cancel();
    retry_timer.cancel();
  }

  // --- APDU exchange ----------------------------------------------------------------------------------

  Rapdu exchange(std::vector<u8> apdu) {
    Rapdu r = raw_exchange(apdu);
    // T=0 cards through a reader without GET RESPONSE handling (protocol-notes 1.1, 5).
    if (r.sw1() == 0x6C && apdu.size() == 5) {
      apdu[4] = r.sw2();
      r = raw_exchange(apdu);
    }
    int guard = 0;
    while (r.sw1() == 0x61 && guard++ < 64) {
      Rapdu more = raw_exchange({0x00, 0xC0, 0x00, 0x00, r.sw2()});
      r.data.insert(r.data.end(), more.data.begin(), more.data.end());
      r.sw = more.sw;
    }
    return r;
  }

  Rapdu raw_exchange(const std::vector<u8>& apdu) {
    std::vector<u8> resp = card.transmit(apdu);
    ++stats.apdus;
    if (resp.size() < 2) throw CardLost("response shorter than a status word");
    Rapdu r;
    r.sw = static_cast<u16>((resp[resp.size() - 2] << 8) | resp[resp.size() - 1]);
    resp.resize(resp.size() - 2);
    r.data = std::move(resp);
    return r;
  }

  void note_sw(const Rapdu& r) {
    if (r.sw1() == 0x91) {
      has_pending_fetch = true;
      pending_fetch = r.sw2();
    } else if (r.sw == 0x9000) {
      has_pending_fetch = false;
    }
  }

  // --- the pump: every card exchange but TERMINAL PROFILE happens here --------------------------

  void schedule_pump() {
    if (pump_posted || !session) return;
    pump_posted = true;
    asio::post(io, [this] {
      pump_posted = false;
      pump();
    });
  }

  void pump() {
    if (!session || in_pump) return;
    in_pump = true;
    guarded([&] {
      // A bounded number of exchanges per turn, so socket completions interleave with a long
      // proactive session (a 1 MiB response is thousands of SEND DATA).
      for (int budget = 64; session && budget > 0; --budget) {
        if (has_pending_fetch && !tx_saturated()) {
          proactive_cycle();
          continue;
        }
        if (!envelopes.empty() && Clock::now() >= envelope_retry_at) {
          send_envelope();
          continue;
        }
        if (poll_due) {
          poll_due = false;
          Rapdu r = exchange({0x80, 0xF2, 0x00, 0x0C});  // STATUS, no data (TS 102 221 11.1.2)
          note_sw(r);
          continue;
        }
        in_pump = false;
        arm_idle_timers();
        return;
      }
      in_pump = false;
      if (session) schedule_pump();
    });
    in_pump = false;
  }

  // A client is far behind with reading what the card sent: hold the next FETCH until it drains.
  bool tx_saturated() const {
    for (const auto& ch : channels)
      if (ch.client && ch.client->out.size() > kTxHighWater) return true;
    return false;
  }

  void arm_idle_timers() {
    if (!session) return;
    if (!envelopes.empty()) {
      retry_timer.expires_at(envelope_retry_at);
      retry_timer.async_wait([this](const asio::error_code& ec) {
        if (!ec) schedule_pump();
      });
    }
    poll_timer.expires_after(options.poll_interval);
    poll_timer.async_wait([this](const asio::error_code& ec) {
      if (ec || !session) return;
      poll_due = true;
      schedule_pump();
    });
  }

  void proactive_cycle() {
    has_pending_fetch = false;
    Rapdu f = exchange({0x80, 0x12, 0x00, 0x00, pending_fetch});
    if (f.sw != 0x9000 && f.sw1() != 0x91) {
      log("FETCH answered " + sw_text(f.sw) + ": no proactive command");
      return;
    }
    ++stats.proactive_commands;
    std::vector<u8> tr = execute(f.data);
    if (tr.empty()) {
      note_sw(f);
      return;
    }
    std::vector<u8> apdu{0x80, 0x14, 0x00, 0x00, static_cast<u8>(tr.size())};
    apdu.insert(apdu.end(), tr.begin(), tr.end());
    Rapdu r = exchange(apdu);
    if (r.sw != 0x9000 && r.sw1() != 0x91) log("TERMINAL RESPONSE answered " + sw_text(r.sw));
    note_sw(r);
  }

  // --- envelopes ----------------------------------------------------------------------------------

  void queue_channel_status(const Channel& ch, u8 info = cat::channel_info::kNone) {
    if (!events.count(static_cast<u8>(cat::Event::kChannelStatus))) return;
    PendingEnvelope e;
    e.kind = PendingKind::kChannelStatus;
    e.channel_id = ch.id;
    e.status = cat::server_channel_status(ch.id, ch.state, info);
    envelopes.push_back(e);
    schedule_pump();
  }

  void queue_data_available(const Channel& ch) {
    if (!events.count(static_cast<u8>(cat::Event::kDataAvailable))) return;
    for (const auto& e : envelopes)
      if (e.kind == PendingKind::kDataAvailable && e.channel_id == ch.id) return;  // one is enough
    PendingEnvelope e;
    e.kind = PendingKind::kDataAvailable;
    e.channel_id = ch.id;
    envelopes.push_back(e);
    schedule_pump();
  }

  void send_envelope() {
    PendingEnvelope& e = envelopes.front();
    cat::Envelope env;
    switch (e.kind) {
      case PendingKind::kChannelStatus:
        env = cat::make_channel_status_event(e.status);
        break;
      case PendingKind::kDataAvailable: {
        Channel& ch = channels[e.channel_id - 1];
        if (ch.rx.empty() || ch.state != cat::ServerState::kEstablished) {
          envelopes.pop_front();  // drained or gone meanwhile: nothing to announce
          return;
        }
        env = cat::make_data_available(cat::server_channel_status(ch.id, cat::ServerState::kEstablished),
                                       length_byte(ch.rx.size()));
        break;
      }
      case PendingKind::kTimerExpiration:
        env = cat::make_timer_expiration(e.timer_id, e.timer_value);
        break;
    }
    u8 buf[cat::kMaxEnvelopeSize];
    auto n = cat::build_envelope(env, MutableBytes(buf));
    if (!n) {
      log(std::string("cannot build an envelope: ") + cat::describe(n.error()));
      envelopes.pop_front();
      return;
    }
    std::vector<u8> apdu{0x80, 0xC2, 0x00, 0x00, static_cast<u8>(*n)};
    apdu.insert(apdu.end(), buf, buf + *n);
    debug("ENVELOPE " + hex_text(Bytes(buf, *n)));
    Rapdu r = exchange(apdu);
    if (r.sw == 0x9300) {
      // Toolkit busy (TS 102 221 10.2.1.1): retry later, keeping the order of events.
      ++stats.envelope_busy;
      if (++e.attempts > options.envelope_retry_limit) {
        log("card stayed busy: dropping ENVELOPE " + hex_text(Bytes(buf, *n)));
        envelopes.pop_front();
        return;
      }
      auto delay = options.envelope_retry_first * (1 << std::min(e.attempts - 1, 16));
      envelope_retry_at = Clock::now() + std::min<std::chrono::milliseconds>(delay, options.envelope_retry_max);
      return;
    }
    ++stats.envelopes;
    envelopes.pop_front();
    envelope_retry_at = Clock::time_point{};
    if (r.sw != 0x9000 && r.sw1() != 0x91) log("ENVELOPE " + hex_text(Bytes(buf, *n)) + " answered " + sw_text(r.sw));
    note_sw(r);
  }

  // --- proactive commands ------------------------------------------------------------------------------

  static std::vector<u8> encode(const cat::TerminalResponse& tr) {
    u8 buf[cat::kMaxTerminalResponseSize];
    auto n = cat::build_terminal_response(tr, MutableBytes(buf));
    if (!n) throw std::logic_error(std::string("terminal response cannot be encoded: ") + cat::describe(n.error()));
    return std::vector<u8>(buf, buf + *n);
  }

  static cat::TerminalResponse response(const cat::CommandDetails& d, cat::ResultValue result) {
    return cat::make_terminal_response(d, result);
  }

  // Parses and executes one proactive command; returns the TERMINAL RESPONSE data (empty: none).
  std::vector<u8> execute(Bytes d0) {
    auto parsed = cat::parse_proactive_command(d0);
    if (!parsed) {
      auto details = cat::peek_command_details(d0);
      cat::GeneralResult g = cat::general_result_for(parsed.error());
      log(std::string("proactive command not understood (") + cat::describe(parsed.error()) + "): " + hex_text(d0));
      if (!details) {
        // Not even the command details: answer with what TS 102 223 6.8 allows (details zero).
        // A TR the card may refuse is better than leaving it waiting for one.
        cat::CommandDetails none{0, cat::CommandType::kRefresh, 0};
        return encode(response(none, cat::make_result(cat::GeneralResult::kDataNotUnderstood)));
      }
      return encode(response(*details, cat::make_result(g)));
    }
    cat::ProactiveCommand& c = *parsed;
    debug(std::string(command_name(c.details.type)) + " " + hex_text(d0));
    switch (c.details.type) {
      case cat::CommandType::kSetUpEventList: return set_up_event_list(c);
      case cat::CommandType::kOpenChannel: return open_channel(c);
      case cat::CommandType::kCloseChannel: return close_channel(c);
      case cat::CommandType::kReceiveData: return receive_data(c);
      case cat::CommandType::kSendData: return send_data(c);
      case cat::CommandType::kGetChannelStatus: return get_channel_status(c);
      case cat::CommandType::kTimerManagement: return timer_management(c);
      case cat::CommandType::kDisplayText: return display_text(c);
      case cat::CommandType::kSendShortMessage:
      case cat::CommandType::kRefresh:
      case cat::CommandType::kMoreTime:
      case cat::CommandType::kPollInterval:
      case cat::CommandType::kPollingOff:
      case cat::CommandType::kLaunchBrowser:
      case cat::CommandType::kSetUpMenu:
      case cat::CommandType::kProvideLocalInformation:
        break;
    }
    log(std::string(command_name(c.details.type)) + ": beyond this terminal's capabilities");
    return encode(response(c.details, cat::make_result(cat::GeneralResult::kBeyondTerminalCapabilities)));
  }

  std::vector<u8> set_up_event_list(const cat::ProactiveCommand& c) {
    // TS 102 223 6.4.16: the new list replaces the old one; an event this terminal cannot report
    // makes the whole command fail (30) and the old list stays.
    std::set<u8> wanted;
    for (u8 e : c.events) {
      if (e != static_cast<u8>(cat::Event::kDataAvailable) && e != static_cast<u8>(cat::Event::kChannelStatus)) {
        log("SET UP EVENT LIST: event " + hex_text(Bytes(&e, 1)) + " is not supported");
        return encode(response(c.details, cat::make_result(cat::GeneralResult::kBeyondTerminalCapabilities)));
      }
      wanted.insert(e);
    }
    events = std::move(wanted);
    std::string list;
    for (u8 e : events) list += (list.empty() ? "" : " ") + hex_text(Bytes(&e, 1));
    log("events subscribed: " + (list.empty() ? std::string("none") : list));
    return encode(response(c.details, cat::make_result(cat::GeneralResult::kOk)));
  }

  u16 local_port_for(u16 card_port) const {
    if (auto s = sticky_ports.find(card_port); s != sticky_ports.end()) return s->second;
    if (auto m = options.port_map.find(card_port); m != options.port_map.end()) return m->second;
    return card_port;
  }

  // The listening socket for a card port: the existing one, or a new one. nullptr when the bind fails.
  std::shared_ptr<Listener> listener_for(u16 card_port, std::string& error) {
    if (auto it = listeners.find(card_port); it != listeners.end()) return it->second;
    u16 local = local_port_for(card_port);
    auto l = std::make_shared<Listener>(io, card_port, local);
    asio::error_code ec;
    auto address = asio::ip::make_address(options.listen_address, ec);
    if (ec) {
      error = "bad listen address '" + options.listen_address + "'";
      return nullptr;
    }
    tcp::endpoint ep(address, local);
    l->acceptor.open(ep.protocol(), ec);
    if (!ec) l->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) l->acceptor.bind(ep, ec);
    if (!ec) l->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      error = ec.message();
      return nullptr;
    }
    l->local_port = l->acceptor.local_endpoint().port();
    if (local == 0) sticky_ports[card_port] = l->local_port;
    listeners[card_port] = l;
    if (options.on_listen) options.on_listen(card_port, options.listen_address, l->local_port);
    return l;
  }

  std::vector<u8> open_channel(const cat::ProactiveCommand& c) {
    const auto& oc = c.open_channel;
    if (!oc.server_mode()) {
      log("OPEN CHANNEL in a client mode: not supported by this gateway");
      return encode(response(c.details, cat::make_result(cat::GeneralResult::kBeyondTerminalCapabilities)));
    }
    if (c.devices.destination != cat::device::kTerminal)
      return encode(response(c.details, cat::make_result(cat::GeneralResult::kDataNotUnderstood)));
    Channel* free_ch = nullptr;
    for (auto& ch : channels) {
      if (ch.state == cat::ServerState::kClosed) {
        free_ch = &ch;
        break;
      }
    }
    auto refuse = [&](cat::BipCause cause) {
      cat::TerminalResponse tr = response(c.details, cat::make_bip_error(cause));
      tr.add_channel_status(cat::server_channel_status(0, cat::ServerState::kClosed));
      return encode(tr);
    };
    const u16 port = oc.transport_level.port;
    if (free_ch == nullptr) {
      log("OPEN CHANNEL for port " + std::to_string(port) + ": no channel available");
      return refuse(cat::BipCause::kNoChannelAvailable);
    }
    if (oc.buffer_size == 0) return encode(response(c.details, cat::make_result(cat::GeneralResult::kDataNotUnderstood)));
    std::string error;
    auto l = listener_for(port, error);
    if (!l) {
      log("OPEN CHANNEL: cannot listen on " + options.listen_address + ":" + std::to_string(local_port_for(port)) +
          " (card port " + std::to_string(port) + "): " + error);
      return refuse(cat::BipCause::kPortNotAvailable);
    }
    Channel& ch = *free_ch;
    ch.state = cat::ServerState::kListen;
    ch.card_port = port;
    ch.listener = l;
    ch.buffer_size = std::min(oc.buffer_size, options.max_buffer_size);
    ch.rx.clear();
    const bool reduced = ch.buffer_size < oc.buffer_size;
    log("channel " + std::to_string(ch.id) + " listening on " + options.listen_address + ":" +
        std::to_string(l->local_port) + " (card port " + std::to_string(port) + ", buffer " +
        std::to_string(ch.buffer_size) + ")");
    cat::TerminalResponse tr = response(
        c.details, cat::make_result(reduced ? cat::GeneralResult::kPerformedWithModification : cat::GeneralResult::kOk));
    tr.add_channel_status(cat::server_channel_status(ch.id, cat::ServerState::kListen));
    tr.has_buffer_size = true;
    tr.buffer_size = ch.buffer_size;
    asio::post(io, [this, l] { maybe_accept(l); });
    return encode(tr);
  }

  // The channel a CLOSE/RECEIVE/SEND DATA names; nullptr with the TR to send when it cannot be used.
  Channel* addressed_channel(const cat::ProactiveCommand& c, std::vector<u8>& refusal) {
    const u8 id = c.channel_id();
    if (id < 1 || id > cat::kMaxChannels) {
      refusal = encode(response(c.details, cat::make_bip_error(cat::BipCause::kChannelIdNotValid)));
      return nullptr;
    }
    Channel& ch = channels[id - 1];
    if (ch.state == cat::ServerState::kClosed) {
      refusal = encode(response(c.details, cat::make_bip_error(cat::BipCause::kChannelIdNotValid)));
      return nullptr;
    }
    return &ch;
  }

  std::vector<u8> close_channel(const cat::ProactiveCommand& c) {
    std::vector<u8> refusal;
    Channel* chp = addressed_channel(c, refusal);
    if (chp == nullptr) return refusal;
    Channel& ch = *chp;
    const bool keep_listening = (c.details.qualifier & 0x01) != 0;  // TS 102 223 8.6, server mode
    release_client(ch, true);
    if (keep_listening) {
      ch.state = cat::ServerState::kListen;
      debug("channel " + std::to_string(ch.id) + " back to LISTEN");
      auto l = ch.listener;
      asio::post(io, [this, l] { maybe_accept(l); });
    } else {
      ch.state = cat::ServerState::kClosed;
      auto l = ch.listener;
      ch.listener.reset();
      log("channel " + std::to_string(ch.id) + " closed (card port " + std::to_string(ch.card_port) + ")");
      bool still_used = false;
      for (auto& other : channels)
        if (other.state != cat::ServerState::kClosed && other.listener == l) still_used = true;
      if (!still_used && l) {
        log("stopped listening on " + options.listen_address + ":" + std::to_string(l->local_port) + " (card port " +
            std::to_string(l->card_port) + ")");
        close_listener(*l);
        listeners.erase(l->card_port);
      }
    }
    return encode(response(c.details, cat::make_result(cat::GeneralResult::kOk)));
  }

  std::vector<u8> receive_data(const cat::ProactiveCommand& c) {
    std::vector<u8> refusal;
    Channel* chp = addressed_channel(c, refusal);
    if (chp == nullptr) return refusal;
    Channel& ch = *chp;
    if (ch.rx.empty() && (ch.state != cat::ServerState::kEstablished || !ch.client || ch.client->peer_eof)) {
      return encode(response(c.details, cat::make_bip_error(cat::BipCause::kChannelClosed)));
    }
    const std::size_t asked = c.channel_data_length;
    const std::size_t n = std::min({asked, ch.rx.size(), static_cast<std::size_t>(kMaxReceivePerResponse)});
    std::vector<u8> data(ch.rx.begin(), ch.rx.begin() + static_cast<std::ptrdiff_t>(n));
    const bool was_full = ch.rx.size() >= ch.buffer_size;
    ch.rx.erase(ch.rx.begin(), ch.rx.begin() + static_cast<std::ptrdiff_t>(n));
    // Fewer bytes than asked: "performed with missing information" (TS 102 223 6.4.29).
    cat::TerminalResponse tr = response(
        c.details, cat::make_result(n < asked ? cat::GeneralResult::kMissingInformation : cat::GeneralResult::kOk));
    tr.channel_data = cat::some(Bytes(data));
    tr.has_channel_data_length = true;
    tr.channel_data_length = length_byte(ch.rx.size());
    std::vector<u8> out = encode(tr);
    if (ch.client) {
      if (ch.rx.empty() && ch.client->peer_eof) {
        client_left(ch, "closed its connection");
      } else if (was_full || !ch.client->reading) {
        start_read(ch.client);
      }
    }
    return out;
  }

  std::vector<u8> send_data(const cat::ProactiveCommand& c) {
    std::vector<u8> refusal;
    Channel* chp = addressed_channel(c, refusal);
    if (chp == nullptr) return refusal;
    Channel& ch = *chp;
    if (ch.state != cat::ServerState::kEstablished || !ch.client) {
      return encode(response(c.details, cat::make_bip_error(cat::BipCause::kChannelClosed)));
    }
    Client& cl = *ch.client;
    if (cl.out.size() + c.channel_data.size() > ch.buffer_size + kTxOverflowAllowance) {
      // Far more than the free Tx space the card was told: refuse, keep what was stored.
      log("SEND DATA on channel " + std::to_string(ch.id) + ": Tx buffer full");
      cat::TerminalResponse tr = response(c.details, cat::make_bip_error(cat::BipCause::kNoSpecificCause));
      return encode(tr);
    }
    cl.out.insert(cl.out.end(), c.channel_data.begin(), c.channel_data.end());
    if ((c.details.qualifier & cat::qualifier::kSendDataImmediately) != 0) flush(ch.client);
    cat::TerminalResponse tr = response(c.details, cat::make_result(cat::GeneralResult::kOk));
    tr.has_channel_data_length = true;
    tr.channel_data_length = length_byte(ch.buffer_size - std::min<std::size_t>(ch.buffer_size, cl.out.size()));
    return encode(tr);
  }

  std::vector<u8> get_channel_status(const cat::ProactiveCommand& c) {
    cat::TerminalResponse tr = response(c.details, cat::make_result(cat::GeneralResult::kOk));
    for (auto& ch : channels)
      if (ch.state != cat::ServerState::kClosed) tr.add_channel_status(cat::server_channel_status(ch.id, ch.state));
    if (tr.channel_status_count == 0) tr.add_channel_status(cat::ChannelStatus{0, 0});  // no channel
    return encode(tr);
  }

  static cat::TimerValue to_timer_value(std::chrono::steady_clock::duration d) {
    auto s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
    if (s < 0) s = 0;
    if (s > 99 * 3600 + 59 * 60 + 59) s = 99 * 3600 + 59 * 60 + 59;
    return cat::TimerValue{static_cast<u8>(s / 3600), static_cast<u8>((s / 60) % 60), static_cast<u8>(s % 60)};
  }

  std::vector<u8> timer_management(const cat::ProactiveCommand& c) {
    const u8 id = c.timer_id;
    CardTimer& t = *timers[id - 1];  // 1..8, checked by the parser
    cat::TerminalResponse tr = response(c.details, cat::make_result(cat::GeneralResult::kOk));
    tr.has_timer_id = true;
    tr.timer_id = id;
    switch (c.timer_action()) {
      case cat::qualifier::kTimerStart: {
        if (!c.has_timer_value) return encode(response(c.details, cat::make_result(cat::GeneralResult::kRequiredValuesMissing)));
        const auto duration = std::chrono::seconds(cat::timer_seconds(c.timer_value));
        t.timer.cancel();
        t.running = true;
        t.started = Clock::now();
        t.expiry = t.started + duration;
        t.timer.expires_at(t.expiry);
        t.timer.async_wait([this, id, &t](const asio::error_code& ec) {
          if (ec || !t.running) return;
          t.running = false;
          PendingEnvelope e;
          e.kind = PendingKind::kTimerExpiration;
          e.timer_id = id;
          e.timer_value = to_timer_value(Clock::now() - t.started);
          debug("timer " + std::to_string(id) + " expired");
          envelopes.push_back(e);
          schedule_pump();
        });
        debug("timer " + std::to_string(id) + " started for " + std::to_string(duration.count()) + " s");
        return encode(tr);
      }
      case cat::qualifier::kTimerDeactivate:
      case cat::qualifier::kTimerGetValue: {
        if (!t.running) {
          // TS 102 223 6.6.21: "action in contradiction with the current timer state".
          return encode(response(c.details, cat::make_result(cat::GeneralResult::kTimerConflict)));
        }
        tr.has_timer_value = true;
        tr.timer_value = to_timer_value(std::max(Clock::duration::zero(), t.expiry - Clock::now()));
        if (c.timer_action() == cat::qualifier::kTimerDeactivate) {
          t.running = false;
          t.timer.cancel();
        }
        return encode(tr);
      }
      default:
        return encode(response(c.details, cat::make_result(cat::GeneralResult::kDataNotUnderstood)));
    }
  }

  std::vector<u8> display_text(const cat::ProactiveCommand& c) {
    std::string text;
    Bytes s = c.text_string;
    if (!s.empty() && (s[0] == 0x04 || s[0] == 0xF4)) {  // 8-bit data (TS 23.038)
      for (u8 b : s.subspan(1)) text.push_back(b >= 0x20 && b < 0x7F ? static_cast<char>(b) : '.');
    } else {
      text = "(coded) " + hex_text(s);
    }
    log("DISPLAY TEXT: " + text);
    return encode(response(c.details, cat::make_result(cat::GeneralResult::kOk)));
  }

  // --- sockets -------------------------------------------------------------------------------------

  Channel* listening_channel(const std::shared_ptr<Listener>& l) {
    for (auto& ch : channels)
      if (ch.state == cat::ServerState::kListen && ch.listener == l && !ch.client) return &ch;
    return nullptr;
  }

  void maybe_accept(const std::shared_ptr<Listener>& l) {
    if (!session || !l->acceptor.is_open()) return;
    while (!l->waiting.empty()) {
      Channel* ch = listening_channel(l);
      if (ch == nullptr) return;
      tcp::socket s = std::move(l->waiting.front());
      l->waiting.pop_front();
      attach(*ch, std::move(s));
    }
    if (l->accepting || listening_channel(l) == nullptr) return;
    l->accepting = true;
    l->acceptor.async_accept([this, l](const asio::error_code& ec, tcp::socket s) {
      l->accepting = false;
      if (ec == asio::error::operation_aborted || !l->acceptor.is_open()) return;
      if (ec) {
        log("accept on port " + std::to_string(l->local_port) + " failed: " + ec.message());
        asio::post(io, [this, l] { maybe_accept(l); });
        return;
      }
      Channel* ch = listening_channel(l);
      if (ch == nullptr) {
        l->waiting.push_back(std::move(s));
      } else {
        attach(*ch, std::move(s));
      }
      maybe_accept(l);
    });
  }

  void attach(Channel& ch, tcp::socket s) {
    asio::error_code ec;
    s.set_option(tcp::no_delay(true), ec);
    s.non_blocking(true, ec);
    auto cl = std::make_shared<Client>(std::move(s), io);
    cl->channel_id = ch.id;
    ch.client = cl;
    ch.rx.clear();
    ch.state = cat::ServerState::kEstablished;
    ++stats.clients_accepted;
    auto peer = cl->socket.remote_endpoint(ec);
    debug("channel " + std::to_string(ch.id) + " ESTABLISHED with " + (ec ? std::string("?") : peer.address().to_string() + ":" + std::to_string(peer.port())));
    queue_channel_status(ch);
    start_read(cl);
  }

  Channel* channel_of(const std::shared_ptr<Client>& cl) {
    if (cl->detached || cl->channel_id == 0) return nullptr;
    Channel& ch = channels[cl->channel_id - 1];
    return ch.client == cl ? &ch : nullptr;
  }

  void start_read(const std::shared_ptr<Client>& cl) {
    if (cl->reading || cl->peer_eof) return;
    std::size_t room = cl->read_buf.size();
    if (!cl->detached) {
      Channel* ch = channel_of(cl);
      if (ch == nullptr) return;
      const std::size_t free = ch->buffer_size > ch->rx.size() ? ch->buffer_size - ch->rx.size() : 0;
      if (free == 0) return;  // backpressure: the card drains the Rx buffer first
      room = std::min(room, free);
    }
    cl->reading = true;
    cl->socket.async_read_some(asio::buffer(cl->read_buf.data(), room),
                               [this, cl](const asio::error_code& ec, std::size_t n) { on_read(cl, ec, n); });
  }

  void on_read(const std::shared_ptr<Client>& cl, const asio::error_code& ec, std::size_t n) {
    cl->reading = false;
    if (cl->detached) {
      // Lingering close: discard what the client still sends, until its EOF or the linger timer.
      if (ec) {
        finish_drain(cl);
      } else {
        start_read(cl);
      }
      return;
    }
    Channel* ch = channel_of(cl);
    if (ch == nullptr) return;
    if (n > 0) {
      const bool was_empty = ch->rx.empty();
      ch->rx.insert(ch->rx.end(), cl->read_buf.begin(), cl->read_buf.begin() + static_cast<std::ptrdiff_t>(n));
      if (was_empty) queue_data_available(*ch);
    }
    if (ec == asio::error::eof) {
      cl->peer_eof = true;
      if (ch->rx.empty()) client_left(*ch, "closed its connection");
      // else: once the card has drained the Rx buffer (receive_data)
      return;
    }
    if (ec) {
      if (ec != asio::error::operation_aborted) client_left(*ch, ec.message());
      return;
    }
    start_read(cl);
  }

  void client_left(Channel& ch, const std::string& why) {
    debug("channel " + std::to_string(ch.id) + ": client " + why + ", " + state_name(ch.state) + " -> LISTEN");
    if (ch.client) {
      close_now(*ch.client);
      ch.client.reset();
    }
    ch.rx.clear();
    ch.state = cat::ServerState::kListen;
    queue_channel_status(ch, cat::channel_info::kNone);
    auto l = ch.listener;
    if (l) asio::post(io, [this, l] { maybe_accept(l); });
  }

  // Eager write: as much as the socket takes now, the rest asynchronously.
  void flush(const std::shared_ptr<Client>& cl) {
    if (cl->writing || cl->out.empty()) {
      if (cl->detached && !cl->writing && cl->out.empty()) shutdown_and_linger(cl);
      return;
    }
    asio::error_code ec;
    std::size_t n = cl->socket.write_some(asio::buffer(cl->out), ec);
    if (!ec || ec == asio::error::would_block || ec == asio::error::try_again) {
      if (n > 0) cl->out.erase(cl->out.begin(), cl->out.begin() + static_cast<std::ptrdiff_t>(n));
    } else {
      write_failed(cl, ec);
      return;
    }
    if (n > 0) schedule_pump();  // FETCH may have waited for Tx space
    if (cl->out.empty()) {
      if (cl->detached) shutdown_and_linger(cl);
      return;
    }
    cl->writing = true;
    cl->socket.async_wait(tcp::socket::wait_write, [this, cl](const asio::error_code& wec) {
      cl->writing = false;
      if (wec) {
        if (wec != asio::error::operation_aborted) write_failed(cl, wec);
        else if (cl->detached) finish_drain(cl);
        return;
      }
      flush(cl);
    });
  }

  void write_failed(const std::shared_ptr<Client>& cl, const asio::error_code& ec) {
    cl->out.clear();
    if (cl->detached) {
      finish_drain(cl);
      return;
    }
    if (Channel* ch = channel_of(cl)) client_left(*ch, "write failed: " + ec.message());
  }

  // The card let the client go (CLOSE CHANNEL): flush what it sent, then close gracefully.
  void release_client(Channel& ch, bool graceful) {
    ch.rx.clear();
    if (!ch.client) return;
    auto cl = ch.client;
    ch.client.reset();
    if (!graceful || !cl->socket.is_open()) {
      close_now(*cl);
      return;
    }
    cl->detached = true;
    draining.insert(cl);
    cl->linger_timer.expires_after(options.linger);
    cl->linger_timer.async_wait([this, cl](const asio::error_code& ec) {
      if (!ec) finish_drain(cl);
    });
    flush(cl);
  }

  void shutdown_and_linger(const std::shared_ptr<Client>& cl) {
    asio::error_code ec;
    cl->socket.shutdown(tcp::socket::shutdown_send, ec);
    if (ec || cl->peer_eof) {
      finish_drain(cl);
      return;
    }
    start_read(cl);  // until the client's EOF: closing with unread data would send a reset
  }

  void finish_drain(const std::shared_ptr<Client>& cl) {
    close_now(*cl);
    draining.erase(cl);
  }

  static void close_now(Client& cl) {
    asio::error_code ec;
    cl.detached = true;
    cl.linger_timer.cancel();
    cl.out.clear();
    if (cl.socket.is_open()) {
      cl.socket.cancel(ec);
      cl.socket.close(ec);
    }
  }

  static void close_listener(Listener& l) {
    asio::error_code ec;
    if (l.acceptor.is_open()) {
      l.acceptor.cancel(ec);
      l.acceptor.close(ec);
    }
    for (auto& s : l.waiting) s.close(ec);
    l.waiting.clear();
  }
};

Gateway::Gateway(asio::io_context& io, CardTransport& card, GatewayOptions options)
    : impl_(std::make_unique<Impl>(io, card, std::move(options))) {}

Gateway::~Gateway() {
  if (impl_) impl_->stop();
}

void Gateway::start() { impl_->start(); }
void Gateway::stop() { impl_->stop(); }
bool Gateway::card_session_active() const { return impl_->session; }
const GatewayStats& Gateway::stats() const { return impl_->stats; }

std::vector<GatewayChannel> Gateway::channels() const {
  std::vector<GatewayChannel> out;
  for (const auto& ch : impl_->channels) {
    if (ch.state == cat::ServerState::kClosed) continue;
    GatewayChannel g;
    g.id = ch.id;
    g.card_port = ch.card_port;
    g.local_port = ch.listener ? ch.listener->local_port : 0;
    g.state = ch.state;
    g.buffer_size = ch.buffer_size;
    g.rx_bytes = ch.rx.size();
    g.tx_bytes = ch.client ? ch.client->out.size() : 0;
    out.push_back(g);
  }
  return out;
}

std::optional<u16> Gateway::local_port(u16 card_port) const {
  auto it = impl_->listeners.find(card_port);
  if (it == impl_->listeners.end()) return std::nullopt;
  return it->second->local_port;
}

std::vector<cat::Event> Gateway::events() const {
  std::vector<cat::Event> out;
  for (u8 e : impl_->events) out.push_back(static_cast<cat::Event>(e));
  return out;
}

}  // namespace scws::sim
