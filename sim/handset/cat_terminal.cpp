#include "sim/handset/cat_terminal.hpp"

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <stdexcept>

#include "apdu/instruction.hpp"
#include "apdu/command_apdu.hpp"
#include "apdu/envelope.hpp"
#include "apdu/status_word.hpp"
#include "base/hex_text.hpp"

namespace scws::sim {

namespace cat = apdu::cat;
using apdu::StatusWord;
using std::chrono::milliseconds;

namespace {

// Tx beyond the granted buffer size: a peer that reads slower than the card writes must not make
// SEND DATA fail (the card would drop the connection). Up to this much more is kept in host memory;
// above kTxHighWater the terminal stops FETCHing until the peer drains (backpressure on the card).
constexpr std::size_t kTxOverflowAllowance = 1 << 20;
constexpr std::size_t kTxHighWater = 64 * 1024;
constexpr std::size_t kMaxReceivePerResponse = cat::kMaxReceiveDataPayload;
static_assert(kMaxReceivePerResponse == 237, "TS 102 223 6.8: RECEIVE DATA answers within a 255-byte TR");
// Card exchanges per run_due(), so a driver serves its peers during a long proactive session.
constexpr int kExchangesPerRun = 64;
// T=0 style GET RESPONSE rounds accepted for one command (a card that never stops is a broken card).
constexpr int kMaxGetResponses = 64;
constexpr milliseconds kReconnectFirst{50};
constexpr milliseconds kReconnectAfterLoss{50};
constexpr auto kMaxTimerSeconds = 99 * 3600 + 59 * 60 + 59;  // TS 102 223 8.38: two digits of hours
constexpr auto kQuarterHour = std::chrono::minutes(15);

u8 sw1_of(u16 sw) { return static_cast<u8>(sw >> 8); }
bool is_proactive_pending(u16 sw) { return sw1_of(sw) == apdu::sw1(StatusWord::kProactivePending); }
bool is_ok(u16 sw) { return sw == apdu::to_u16(StatusWord::kOk); }
bool is_normal(u16 sw) { return is_ok(sw) || is_proactive_pending(sw); }

u8 length_byte(std::size_t n) { return n > 255 ? cat::kChannelDataLengthMany : static_cast<u8>(n); }

std::string sw_text(u16 sw) {
  const u8 b[2] = {static_cast<u8>(sw >> 8), static_cast<u8>(sw)};
  return hex_text(Bytes(b, 2));
}

std::string byte_text(u8 b) { return hex_text(Bytes(&b, 1)); }

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

std::vector<u8> encode(const cat::TerminalResponse& tr) {
  u8 buf[cat::kMaxTerminalResponseSize];
  auto n = cat::build_terminal_response(tr, MutableBytes(buf));
  if (!n) throw std::logic_error(std::string("terminal response cannot be encoded: ") + cat::describe(n.error()));
  return std::vector<u8>(buf, buf + *n);
}

cat::TerminalResponse response(const cat::CommandDetails& d, cat::GeneralResult g) {
  return cat::make_terminal_response(d, cat::make_result(g));
}

std::vector<u8> answer(const cat::CommandDetails& d, cat::GeneralResult g) { return encode(response(d, g)); }

std::vector<u8> bip_error(const cat::CommandDetails& d, cat::BipCause cause) {
  return encode(cat::make_terminal_response(d, cat::make_bip_error(cause)));
}

// A case 2/3 command APDU of the proprietary class: CLA INS 00 00 Lc data, or CLA INS 00 00 Le.
std::vector<u8> command(u8 ins, Bytes data) {
  std::vector<u8> apdu{apdu::cla::kUicc, ins, 0x00, 0x00, static_cast<u8>(data.size())};
  apdu.insert(apdu.end(), data.begin(), data.end());
  return apdu;
}

cat::TimerValue to_timer_value(TerminalClock::Duration d) {
  auto s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
  s = std::clamp<decltype(s)>(s, 0, kMaxTimerSeconds);
  return cat::TimerValue{static_cast<u8>(s / 3600), static_cast<u8>((s / 60) % 60), static_cast<u8>(s % 60)};
}

}  // namespace

// --- the profile and the clock's date -----------------------------------------------------------------

cat::TerminalProfile cat_terminal_profile() noexcept {
  cat::TerminalProfile p;
  p.profile_download = true;                     // this TERMINAL PROFILE
  p.timer_expiration = true;                     // ENVELOPE Timer expiration
  p.command_result = true;                       // every proactive command gets a Result
  p.display_text = true;                         // logged
  p.more_time = true;
  p.poll_interval = true;
  p.polling_off = true;
  p.set_up_event_list = true;
  p.event_data_available = true;
  p.event_channel_status = true;
  p.timer_management_start_stop = true;
  p.timer_management_get_value = true;
  p.provide_local_information_date_time = true;  // qualifier 03 only
  p.open_channel = true;
  p.close_channel = true;
  p.receive_data = true;
  p.send_data = true;
  p.get_channel_status = true;
  p.channel_count = cat::kMaxChannels;
  p.tcp_client_remote = true;                    // TCP client mode, remote (background mode only)
  p.tcp_server = true;                           // UICC server mode
  return p;
}

cat::DateTimeZone date_time_zone(std::chrono::system_clock::time_point utc,
                                 std::optional<std::chrono::minutes> offset) noexcept {
  using namespace std::chrono;
  cat::DateTimeZone t;
  if (offset && offset->count() % kQuarterHour.count() == 0 &&
      std::abs(offset->count() / kQuarterHour.count()) <= cat::kMaxZoneQuarters) {
    t.zone_known = true;
    t.zone_quarters = static_cast<signed char>(offset->count() / kQuarterHour.count());
  }
  const auto local = time_point_cast<seconds>(utc) + (t.zone_known ? *offset : minutes(0));
  const auto day = floor<days>(local);
  const year_month_day ymd{day};
  const hh_mm_ss hms{local - day};
  t.year = static_cast<u8>(static_cast<unsigned>(static_cast<int>(ymd.year()) % 100 + 100) % 100);
  t.month = static_cast<u8>(static_cast<unsigned>(ymd.month()));
  t.day = static_cast<u8>(static_cast<unsigned>(ymd.day()));
  t.hour = static_cast<u8>(hms.hours().count());
  t.minute = static_cast<u8>(hms.minutes().count());
  t.second = static_cast<u8>(hms.seconds().count());
  return t;
}

// --- life cycle ---------------------------------------------------------------------------------------

CatTerminal::CatTerminal(CardTransport& card, const TerminalClock& clock, TerminalOptions options)
    : card_(card), clock_(clock), options_(std::move(options)), polling_(options_.poll_interval) {
  for (u8 i = 0; i < cat::kMaxChannels; ++i) channels_[i].id = static_cast<u8>(i + 1);
  if (!options_.log) options_.log = [](const std::string& line) { std::cerr << "gateway: " << line << std::endl; };
}

CatTerminal::~CatTerminal() = default;

void CatTerminal::add_connector(Connector& connector) {
  connector.bind(*this);
  connectors_.push_back(&connector);
}

void CatTerminal::start() {
  connect_delay_ = milliseconds(0);
  connect_at_ = clock_.now();
  set_state(State::kNoCard);
}

void CatTerminal::stop() {
  teardown();
  set_state(State::kStopped);
  card_.disconnect();
}

void CatTerminal::halt() { set_state(State::kHalted); }

const char* CatTerminal::session_name(State s) {
  switch (s) {
    case State::kStopped: return "Stopped";
    case State::kNoCard: return "NoCard";
    case State::kSession: return "Session";
    case State::kHalted: return "Halted";
  }
  return "?";
}

// The terminal's one transition function.
void CatTerminal::set_state(State next) {
  if (next != state_) debug(std::string("terminal ") + session_name(state_) + " -> " + session_name(next));
  state_ = next;
  if (next != State::kSession) fetch_pending_ = false;
}

void CatTerminal::try_connect() {
  bool ok = false;
  try {
    ok = card_.connect(options_.card_wait);
  } catch (const std::exception& e) {
    log(std::string("cannot reach the card: ") + e.what());
  }
  if (!ok) {
    connect_delay_ = std::min(options_.reconnect_delay_max, std::max(kReconnectFirst, connect_delay_ * 2));
    connect_at_ = clock_.now() + connect_delay_;
    return;
  }
  connect_delay_ = milliseconds(0);
  begin_session();
}

void CatTerminal::begin_session() {
  guarded([&] {
    u8 profile[cat::kTerminalProfileMaxSize];
    auto n = cat::build_terminal_profile(options_.profile, MutableBytes(profile));
    if (!n) throw std::logic_error("terminal profile cannot be encoded");
    Rapdu r = exchange(command(apdu::to_u8(apdu::Ins::kTerminalProfile), Bytes(profile, *n)));
    if (!is_normal(r.sw)) {
      log("card " + card_.describe() + " answered TERMINAL PROFILE with " + sw_text(r.sw) +
          ": it may not run a proactive session");
    }
    set_state(State::kSession);
    ++stats_.sessions;
    note_sw(r);
    log("card session " + std::to_string(stats_.sessions) + " on " + card_.describe() + ": TERMINAL PROFILE " +
        hex_text(Bytes(profile, *n)) + " -> " + sw_text(r.sw));
  });
}

// Runs f; a lost card ends the session and the terminal waits for the card again.
template <class F>
void CatTerminal::guarded(F&& f) {
  try {
    f();
  } catch (const CardLost& e) {
    card_lost(e.what());
  } catch (const std::exception& e) {
    // Anything else from the transport (or a bug) must not end the handset: start over.
    card_.disconnect();
    card_lost(std::string("card transport failed: ") + e.what());
  }
}

void CatTerminal::card_lost(const std::string& why) {
  std::size_t open = 0;
  for (const auto& ch : channels_)
    if (ch.state != cat::ServerState::kClosed) ++open;
  ++stats_.cards_lost;
  log("card lost (" + why + "): closing " + std::to_string(open) + " channel(s), waiting for the card");
  teardown();
  if (state_ == State::kStopped || state_ == State::kHalted) return;
  set_state(State::kNoCard);
  connect_at_ = clock_.now() + kReconnectAfterLoss;
}

// Forgets the card session: peers, channels, events, timers, queued envelopes, the poll interval.
void CatTerminal::teardown() {
  fetch_pending_ = false;
  events_.clear();
  envelopes_.clear();
  for (auto& ch : channels_) {
    ch.state = cat::ServerState::kClosed;
    ch.client = false;
    ch.connector = nullptr;
    ch.peer = ch.peer_eof = false;
    ch.rx.clear();
    ch.tx.clear();
  }
  for (Connector* c : connectors_) c->reset();
  for (auto& t : timers_) t.running = false;
  polling_ = options_.poll_interval;
}

// --- scheduling ---------------------------------------------------------------------------------------

void CatTerminal::run_due() {
  if (state_ == State::kNoCard && clock_.now() >= connect_at_) try_connect();
  if (state_ != State::kSession) return;
  guarded([&] {
    for (int budget = kExchangesPerRun; budget > 0 && state_ == State::kSession; --budget) {
      const TimePoint now = clock_.now();
      expire_timers(now);
      if (!step(now)) return;
    }
  });
}

// One card exchange (or the decision that there is none to make now).
bool CatTerminal::step(TimePoint now) {
  if (fetch_pending_ && !tx_saturated()) {
    proactive_cycle();
    return true;
  }
  if (!envelopes_.empty() && now >= envelope_retry_at_) {
    send_envelope();
    return true;
  }
  if (poll_due(now)) {
    poll_status();
    return true;
  }
  return false;
}

std::optional<CatTerminal::TimePoint> CatTerminal::next_wakeup() const {
  switch (state_) {
    case State::kStopped:
    case State::kHalted: return std::nullopt;
    case State::kNoCard: return connect_at_;
    case State::kSession: break;
  }
  if (fetch_pending_ && !tx_saturated()) return TimePoint::min();
  std::optional<TimePoint> at;
  auto consider = [&at](TimePoint t) { at = at ? std::min(*at, t) : t; };
  if (!envelopes_.empty()) consider(envelope_retry_at_);
  for (const auto& t : timers_)
    if (t.running) consider(t.expiry);
  if (polling_) consider(last_exchange_ + *polling_);
  return at;
}

bool CatTerminal::poll_due(TimePoint now) const { return polling_ && now >= last_exchange_ + *polling_; }

// A peer is far behind with reading what the card sent: hold the next FETCH until it drains.
bool CatTerminal::tx_saturated() const {
  for (const auto& ch : channels_)
    if (ch.peer && tx_pending(ch) > kTxHighWater) return true;
  return false;
}

void CatTerminal::expire_timers(TimePoint now) {
  for (std::size_t i = 0; i < timers_.size(); ++i) {
    CardTimer& t = timers_[i];
    if (!t.running || now < t.expiry) continue;
    t.running = false;
    PendingEnvelope e;
    e.kind = PendingKind::kTimerExpiration;
    e.timer_id = static_cast<u8>(i + 1);
    e.timer_value = to_timer_value(now - t.started);
    debug("timer " + std::to_string(e.timer_id) + " expired");
    queue(e);
  }
}

void CatTerminal::wake() const {
  if (options_.wake) options_.wake();
}

// --- card exchanges -----------------------------------------------------------------------------------

CatTerminal::Rapdu CatTerminal::exchange(std::vector<u8> apdu) {
  Rapdu r = raw_exchange(apdu);
  // T=0 cards through a reader that leaves GET RESPONSE to the terminal (TS 102 221 7.3.1.1.4).
  if (sw1_of(r.sw) == apdu::sw1(StatusWord::kWrongLe) && apdu.size() == 5) {
    apdu[4] = static_cast<u8>(r.sw);
    r = raw_exchange(apdu);
  }
  for (int round = 0; sw1_of(r.sw) == apdu::sw1(StatusWord::kBytesAvailable) && round < kMaxGetResponses; ++round) {
    Rapdu more = raw_exchange({apdu::cla::kInterindustry, apdu::to_u8(apdu::Ins::kGetResponse), 0x00, 0x00, static_cast<u8>(r.sw)});
    r.data.insert(r.data.end(), more.data.begin(), more.data.end());
    r.sw = more.sw;
  }
  return r;
}

CatTerminal::Rapdu CatTerminal::raw_exchange(const std::vector<u8>& apdu) {
  std::vector<u8> resp = card_.transmit(apdu);
  ++stats_.apdus;
  last_exchange_ = clock_.now();
  if (resp.size() < 2) throw CardLost("response shorter than a status word");
  Rapdu r;
  r.sw = static_cast<u16>((resp[resp.size() - 2] << 8) | resp[resp.size() - 1]);
  resp.resize(resp.size() - 2);
  r.data = std::move(resp);
  return r;
}

void CatTerminal::note_sw(const Rapdu& r) {
  if (is_proactive_pending(r.sw)) {
    fetch_pending_ = true;
    fetch_length_ = static_cast<u8>(r.sw);
  } else if (is_ok(r.sw)) {
    fetch_pending_ = false;
  }
}

void CatTerminal::poll_status() {
  note_sw(exchange({apdu::cla::kUicc, apdu::to_u8(apdu::Ins::kStatus), 0x00, apdu::status_p2::kNoData}));
}

void CatTerminal::proactive_cycle() {
  fetch_pending_ = false;
  Rapdu f = exchange({apdu::cla::kUicc, apdu::to_u8(apdu::Ins::kFetch), 0x00, 0x00, fetch_length_});
  if (!is_normal(f.sw)) {
    log("FETCH answered " + sw_text(f.sw) + ": no proactive command");
    return;
  }
  ++stats_.proactive_commands;
  std::vector<u8> tr = execute(f.data);
  if (tr.empty()) {
    note_sw(f);
    return;
  }
  Rapdu r = exchange(command(apdu::to_u8(apdu::Ins::kTerminalResponse), tr));
  if (!is_normal(r.sw)) log("TERMINAL RESPONSE answered " + sw_text(r.sw));
  note_sw(r);
}

// --- envelopes ----------------------------------------------------------------------------------------

void CatTerminal::queue(PendingEnvelope e) {
  envelopes_.push_back(e);
  wake();
}

void CatTerminal::queue_channel_status(const Channel& ch) {
  if (!subscribed(cat::Event::kChannelStatus)) return;
  PendingEnvelope e;
  e.kind = PendingKind::kChannelStatus;
  e.channel_id = ch.id;
  e.status = status_of(ch);
  queue(e);
}

void CatTerminal::queue_data_available(const Channel& ch) {
  if (!subscribed(cat::Event::kDataAvailable)) return;
  for (const auto& e : envelopes_)
    if (e.kind == PendingKind::kDataAvailable && e.channel_id == ch.id) return;  // one is enough
  PendingEnvelope e;
  e.kind = PendingKind::kDataAvailable;
  e.channel_id = ch.id;
  queue(e);
}

// The envelope for a queued event, as things are now; false when there is nothing left to say.
bool CatTerminal::build_pending(PendingEnvelope& e, cat::Envelope& env) {
  switch (e.kind) {
    case PendingKind::kChannelStatus:
      env = cat::make_channel_status_event(e.status);
      return true;
    case PendingKind::kDataAvailable: {
      const Channel& ch = *channel(e.channel_id);
      if (ch.rx.empty() || ch.state != cat::ServerState::kEstablished) return false;  // drained or gone
      env = cat::make_data_available(cat::server_channel_status(ch.id, cat::ServerState::kEstablished),
                                     length_byte(ch.rx.size()));
      return true;
    }
    case PendingKind::kTimerExpiration:
      env = cat::make_timer_expiration(e.timer_id, e.timer_value);
      return true;
  }
  return false;
}

void CatTerminal::send_envelope() {
  PendingEnvelope& e = envelopes_.front();
  cat::Envelope env;
  if (!build_pending(e, env)) {
    envelopes_.pop_front();
    return;
  }
  u8 buf[cat::kMaxEnvelopeSize];
  auto n = cat::build_envelope(env, MutableBytes(buf));
  if (!n) {
    log(std::string("cannot build an envelope: ") + cat::describe(n.error()));
    envelopes_.pop_front();
    return;
  }
  const Bytes data(buf, *n);
  debug("ENVELOPE " + hex_text(data));
  Rapdu r = exchange(command(apdu::to_u8(apdu::Ins::kEnvelope), data));
  if (r.sw == apdu::to_u16(StatusWord::kToolkitBusy)) {
    // Toolkit busy (TS 102 221 10.2.1.1): retry later, keeping the order of events.
    ++stats_.envelope_busy;
    if (++e.attempts > options_.envelope_retry_limit) {
      log("card stayed busy: dropping ENVELOPE " + hex_text(data));
      envelopes_.pop_front();
      return;
    }
    const auto delay = options_.envelope_retry_first * (1 << std::min(e.attempts - 1, 16));
    envelope_retry_at_ = clock_.now() + std::min<milliseconds>(delay, options_.envelope_retry_max);
    return;
  }
  ++stats_.envelopes;
  envelopes_.pop_front();
  envelope_retry_at_ = TimePoint{};
  if (!is_normal(r.sw)) log("ENVELOPE " + hex_text(data) + " answered " + sw_text(r.sw));
  note_sw(r);
}

// --- proactive commands -------------------------------------------------------------------------------

// Parses and executes one proactive command; returns the TERMINAL RESPONSE data (empty: none).
std::vector<u8> CatTerminal::execute(Bytes d0) {
  auto parsed = cat::parse_proactive_command(d0);
  if (parsed) {
    debug(std::string(command_name(parsed->details.type)) + " " + hex_text(d0));
    return dispatch(*parsed);
  }
  log(std::string("proactive command not understood (") + cat::describe(parsed.error()) + "): " + hex_text(d0));
  auto details = cat::peek_command_details(d0);
  if (!details) {
    // Not even the command details: answer with details zero (TS 102 223 6.8). A TR the card may
    // refuse is better than leaving it waiting for one.
    return answer(cat::CommandDetails{0, cat::CommandType::kRefresh, 0}, cat::GeneralResult::kDataNotUnderstood);
  }
  return answer(*details, cat::general_result_for(parsed.error()));
}

std::vector<u8> CatTerminal::dispatch(const cat::ProactiveCommand& c) {
  switch (c.details.type) {
    case cat::CommandType::kSetUpEventList: return set_up_event_list(c);
    case cat::CommandType::kOpenChannel: return open_channel(c);
    case cat::CommandType::kCloseChannel: return close_channel(c);
    case cat::CommandType::kReceiveData: return receive_data(c);
    case cat::CommandType::kSendData: return send_data(c);
    case cat::CommandType::kGetChannelStatus: return get_channel_status(c);
    case cat::CommandType::kTimerManagement: return timer_management(c);
    case cat::CommandType::kDisplayText: return display_text(c);
    case cat::CommandType::kMoreTime:  // TS 102 223 6.4.4: nothing to do but answer
      return answer(c.details, cat::GeneralResult::kOk);
    case cat::CommandType::kPollInterval: return poll_interval(c);
    case cat::CommandType::kPollingOff: return polling_off(c);
    case cat::CommandType::kProvideLocalInformation: return provide_local_information(c);
    case cat::CommandType::kSendShortMessage:
    case cat::CommandType::kRefresh:
    case cat::CommandType::kLaunchBrowser:
    case cat::CommandType::kSetUpMenu:
      break;
  }
  log(std::string(command_name(c.details.type)) + ": beyond this terminal's capabilities");
  return answer(c.details, cat::GeneralResult::kBeyondTerminalCapabilities);
}

std::vector<u8> CatTerminal::set_up_event_list(const cat::ProactiveCommand& c) {
  // TS 102 223 6.4.16: the new list replaces the old one; an event this terminal cannot report
  // makes the whole command fail (30) and the old list stays.
  std::set<u8> wanted;
  for (u8 e : c.events) {
    if (e != static_cast<u8>(cat::Event::kDataAvailable) && e != static_cast<u8>(cat::Event::kChannelStatus)) {
      log("SET UP EVENT LIST: event " + byte_text(e) + " is not supported");
      return answer(c.details, cat::GeneralResult::kBeyondTerminalCapabilities);
    }
    wanted.insert(e);
  }
  events_ = std::move(wanted);
  std::string list;
  for (u8 e : events_) list += (list.empty() ? "" : " ") + byte_text(e);
  log("events subscribed: " + (list.empty() ? std::string("none") : list));
  return answer(c.details, cat::GeneralResult::kOk);
}

std::vector<u8> CatTerminal::open_channel(const cat::ProactiveCommand& c) {
  const cat::OpenChannelParams& oc = c.open_channel;
  Connector* connector = nullptr;
  for (Connector* k : connectors_)
    if (k->serves(oc)) connector = k;
  if (connector == nullptr) {
    log(std::string("OPEN CHANNEL in ") + (oc.server_mode() ? "server" : "a client") + " mode: not supported here");
    return answer(c.details, cat::GeneralResult::kBeyondTerminalCapabilities);
  }
  auto refuse = [&](cat::BipCause cause) {
    cat::TerminalResponse tr = cat::make_terminal_response(c.details, cat::make_bip_error(cause));
    tr.add_channel_status(cat::server_channel_status(0, cat::ServerState::kClosed));
    return encode(tr);
  };
  auto free_ch = std::find_if(channels_.begin(), channels_.end(),
                              [](const Channel& ch) { return ch.state == cat::ServerState::kClosed; });
  const u16 port = oc.transport_level.port;
  if (free_ch == channels_.end()) {
    log("OPEN CHANNEL for port " + std::to_string(port) + ": no channel available");
    return refuse(cat::BipCause::kNoChannelAvailable);
  }
  if (oc.buffer_size == 0) return answer(c.details, cat::GeneralResult::kDataNotUnderstood);
  Channel& ch = *free_ch;
  if (!oc.server_mode()) return open_client_channel(c, ch, *connector);
  const OpenOutcome opened = connector->open(ch.id, oc);
  if (!opened.ok) {
    log("OPEN CHANNEL: cannot listen on " + opened.endpoint + " (card port " + std::to_string(port) + "): " + opened.error);
    return refuse(opened.cause);
  }
  ch.connector = connector;
  ch.card_port = port;
  ch.local_port = opened.local_port;
  ch.buffer_size = std::min(oc.buffer_size, options_.max_buffer_size);
  ch.rx.clear();
  ch.tx.clear();
  set_channel_state(ch, cat::ServerState::kListen, "opened");
  log("channel " + std::to_string(ch.id) + " listening on " + opened.endpoint + " (card port " + std::to_string(port) +
      ", buffer " + std::to_string(ch.buffer_size) + ")");
  const bool reduced = ch.buffer_size < oc.buffer_size;
  cat::TerminalResponse tr =
      response(c.details, reduced ? cat::GeneralResult::kPerformedWithModification : cat::GeneralResult::kOk);
  tr.add_channel_status(cat::server_channel_status(ch.id, cat::ServerState::kListen));
  tr.has_buffer_size = true;
  tr.buffer_size = ch.buffer_size;
  connector->accept(ch.id);
  return encode(tr);
}

// TCP client mode (TS 102 223 6.4.27.2), always in background mode: the TERMINAL RESPONSE goes now
// with the link not established; the connect's outcome reaches the card as Channel status 8n 00 or
// 0n 05 (docs/protocol.md section 7.10). A card that did not ask for background mode gets the same.
std::vector<u8> CatTerminal::open_client_channel(const cat::ProactiveCommand& c, Channel& ch, Connector& connector) {
  const cat::OpenChannelParams& oc = c.open_channel;
  if ((c.details.qualifier & cat::qualifier::kOpenChannelBackground) == 0)
    log("OPEN CHANNEL client mode without background mode: answered at once all the same");
  const OpenOutcome opened = connector.open(ch.id, oc);
  if (!opened.ok) {
    log("OPEN CHANNEL: cannot connect to " + opened.endpoint + ": " + opened.error);
    cat::TerminalResponse tr = cat::make_terminal_response(c.details, cat::make_bip_error(opened.cause));
    tr.add_channel_status(cat::client_channel_status(0, false));
    return encode(tr);
  }
  ch.connector = &connector;
  ch.client = true;
  ch.card_port = oc.transport_level.port;
  ch.local_port = 0;
  ch.buffer_size = std::min(oc.buffer_size, options_.max_buffer_size);
  ch.peer = ch.peer_eof = false;
  ch.rx.clear();
  ch.tx.clear();
  set_channel_state(ch, cat::ServerState::kListen, "client channel opened, connecting");
  log("channel " + std::to_string(ch.id) + " connecting to " + opened.endpoint + " (client, buffer " +
      std::to_string(ch.buffer_size) + ")");
  const bool reduced = ch.buffer_size < oc.buffer_size;
  cat::TerminalResponse tr =
      response(c.details, reduced ? cat::GeneralResult::kPerformedWithModification : cat::GeneralResult::kOk);
  tr.add_channel_status(cat::client_channel_status(ch.id, false));
  tr.bearer_description = oc.bearer_description;
  tr.has_buffer_size = true;
  tr.buffer_size = ch.buffer_size;
  return encode(tr);
}

// The channel a CLOSE/RECEIVE/SEND DATA names; nullptr with the TR to send when it cannot be used.
CatTerminal::Channel* CatTerminal::addressed_channel(const cat::ProactiveCommand& c, std::vector<u8>& refusal) {
  Channel* ch = channel(c.channel_id());
  if (ch == nullptr || ch->state == cat::ServerState::kClosed) {
    refusal = bip_error(c.details, cat::BipCause::kChannelIdNotValid);
    return nullptr;
  }
  return ch;
}

std::vector<u8> CatTerminal::close_channel(const cat::ProactiveCommand& c) {
  std::vector<u8> refusal;
  Channel* chp = addressed_channel(c, refusal);
  if (chp == nullptr) return refusal;
  Channel& ch = *chp;
  ch.rx.clear();
  if (ch.peer && !ch.tx.empty()) ch.connector->send(ch.id, ch.tx);  // what the card stored still goes out
  ch.tx.clear();
  ch.peer = ch.peer_eof = false;
  // TS 102 223 8.6, server mode: qualifier b1 = 1 keeps listening, 0 closes. A client channel closes.
  if (!ch.client && (c.details.qualifier & cat::qualifier::kCloseChannelToListen) != 0) {
    ch.connector->release(ch.id, true);
    set_channel_state(ch, cat::ServerState::kListen, "closed by the card, listening again");
    ch.connector->accept(ch.id);
  } else {
    ch.connector->close(ch.id);
    ch.connector = nullptr;
    set_channel_state(ch, cat::ServerState::kClosed, "closed by the card");
    log("channel " + std::to_string(ch.id) + " closed (" + (ch.client ? "client, port " : "card port ") +
        std::to_string(ch.card_port) + ")");
    ch.client = false;
  }
  return answer(c.details, cat::GeneralResult::kOk);
}

std::vector<u8> CatTerminal::receive_data(const cat::ProactiveCommand& c) {
  std::vector<u8> refusal;
  Channel* chp = addressed_channel(c, refusal);
  if (chp == nullptr) return refusal;
  Channel& ch = *chp;
  if (ch.rx.empty() && (!ch.peer || ch.peer_eof)) return bip_error(c.details, cat::BipCause::kChannelClosed);
  const std::size_t asked = c.channel_data_length;
  const std::size_t n = std::min({asked, ch.rx.size(), kMaxReceivePerResponse});
  std::vector<u8> data(ch.rx.begin(), ch.rx.begin() + static_cast<std::ptrdiff_t>(n));
  ch.rx.erase(ch.rx.begin(), ch.rx.begin() + static_cast<std::ptrdiff_t>(n));
  // Fewer bytes than asked: "performed with missing information" (TS 102 223 6.4.29).
  cat::TerminalResponse tr =
      response(c.details, n < asked ? cat::GeneralResult::kMissingInformation : cat::GeneralResult::kOk);
  tr.channel_data = cat::some(Bytes(data));
  tr.has_channel_data_length = true;
  tr.channel_data_length = length_byte(ch.rx.size());
  std::vector<u8> out = encode(tr);
  if (ch.peer && ch.rx.empty() && ch.peer_eof) {
    client_left(ch, "closed its connection");
  } else if (ch.peer) {
    ch.connector->resume(ch.id);
  }
  return out;
}

std::vector<u8> CatTerminal::send_data(const cat::ProactiveCommand& c) {
  std::vector<u8> refusal;
  Channel* chp = addressed_channel(c, refusal);
  if (chp == nullptr) return refusal;
  Channel& ch = *chp;
  if (!ch.peer) return bip_error(c.details, cat::BipCause::kChannelClosed);
  if (tx_pending(ch) + c.channel_data.size() > ch.buffer_size + kTxOverflowAllowance) {
    // Far more than the free Tx space the card was told: refuse, keep what was stored.
    log("SEND DATA on channel " + std::to_string(ch.id) + ": Tx buffer full");
    return bip_error(c.details, cat::BipCause::kNoSpecificCause);
  }
  ch.tx.insert(ch.tx.end(), c.channel_data.begin(), c.channel_data.end());
  if ((c.details.qualifier & cat::qualifier::kSendDataImmediately) != 0) {
    ch.connector->send(ch.id, ch.tx);
    ch.tx.clear();
  }
  cat::TerminalResponse tr = response(c.details, cat::GeneralResult::kOk);
  tr.has_channel_data_length = true;
  tr.channel_data_length = length_byte(ch.buffer_size - std::min<std::size_t>(ch.buffer_size, tx_pending(ch)));
  return encode(tr);
}

std::vector<u8> CatTerminal::get_channel_status(const cat::ProactiveCommand& c) {
  cat::TerminalResponse tr = response(c.details, cat::GeneralResult::kOk);
  for (const auto& ch : channels_)
    if (ch.state != cat::ServerState::kClosed) tr.add_channel_status(status_of(ch));
  if (tr.channel_status_count == 0) tr.add_channel_status(cat::ChannelStatus{0, 0});  // no channel (8.56)
  std::string seen;
  for (const auto& ch : channels_) {
    if (ch.state == cat::ServerState::kClosed) continue;
    seen += " " + std::to_string(ch.id) + ":" + std::to_string(ch.card_port);
  }
  log("GET CHANNEL STATUS: open channels (id:card port):" + (seen.empty() ? std::string(" none") : seen));
  return encode(tr);
}

std::vector<u8> CatTerminal::timer_management(const cat::ProactiveCommand& c) {
  const u8 id = c.timer_id;
  CardTimer& t = timers_[id - 1];  // 1..8, checked by the parser
  const TimePoint now = clock_.now();
  cat::TerminalResponse tr = response(c.details, cat::GeneralResult::kOk);
  tr.has_timer_id = true;
  tr.timer_id = id;
  switch (c.timer_action()) {
    case cat::qualifier::kTimerStart: {
      const auto duration = std::chrono::seconds(cat::timer_seconds(c.timer_value));  // the parser asks for one
      t = CardTimer{true, now, now + duration};
      debug("timer " + std::to_string(id) + " started for " + std::to_string(duration.count()) + " s");
      return encode(tr);
    }
    case cat::qualifier::kTimerDeactivate:
    case cat::qualifier::kTimerGetValue:
      // TS 102 223 6.6.21: a timer that does not run is "action in contradiction with the timer state".
      if (!t.running) return answer(c.details, cat::GeneralResult::kTimerConflict);
      tr.has_timer_value = true;
      tr.timer_value = to_timer_value(std::max(TerminalClock::Duration::zero(), t.expiry - now));
      if (c.timer_action() == cat::qualifier::kTimerDeactivate) t.running = false;
      return encode(tr);
    default:
      return answer(c.details, cat::GeneralResult::kDataNotUnderstood);
  }
}

std::vector<u8> CatTerminal::display_text(const cat::ProactiveCommand& c) {
  std::string text;
  const Bytes s = c.text_string;
  if (!s.empty() && (s[0] == cat::dcs::k8BitData || s[0] == cat::dcs::k8BitDataClass0)) {
    for (u8 b : s.subspan(1)) text.push_back(b >= ' ' && b <= '~' ? static_cast<char>(b) : '.');
  } else {
    text = "(coded) " + hex_text(s);
  }
  log("DISPLAY TEXT: " + text);
  return answer(c.details, cat::GeneralResult::kOk);
}

// TS 102 223 6.4.6: poll at the interval asked (this terminal can use any the Duration can say) and
// tell the card the interval in use.
std::vector<u8> CatTerminal::poll_interval(const cat::ProactiveCommand& c) {
  auto d = cat::decode_duration(c.duration.value);  // checked by the parser
  if (!d) return answer(c.details, cat::GeneralResult::kDataNotUnderstood);
  polling_ = milliseconds(100 * cat::duration_tenths(*d));
  log("polling every " + std::to_string(polling_->count()) + " ms (POLL INTERVAL)");
  cat::TerminalResponse tr = response(c.details, cat::GeneralResult::kOk);
  tr.has_duration = true;
  tr.duration = *d;
  return encode(tr);
}

// TS 102 223 6.4.14: no STATUS polls until the next POLL INTERVAL (or the next card session).
std::vector<u8> CatTerminal::polling_off(const cat::ProactiveCommand& c) {
  polling_.reset();
  log("polling off (POLLING OFF)");
  return answer(c.details, cat::GeneralResult::kOk);
}

std::vector<u8> CatTerminal::provide_local_information(const cat::ProactiveCommand& c) {
  if (c.details.qualifier != cat::qualifier::kLocalInfoDateTimeAndTimeZone) {
    log("PROVIDE LOCAL INFORMATION " + byte_text(c.details.qualifier) + ": beyond this terminal's capabilities");
    return answer(c.details, cat::GeneralResult::kBeyondTerminalCapabilities);
  }
  const auto utc = clock_.utc_now();
  cat::TerminalResponse tr = response(c.details, cat::GeneralResult::kOk);
  tr.has_date_time = true;
  tr.date_time = date_time_zone(utc, options_.time_zone ? options_.time_zone : clock_.utc_offset(utc));
  return encode(tr);
}

// --- channels and their peers -------------------------------------------------------------------------

void CatTerminal::set_channel_state(Channel& ch, cat::ServerState next, const char* why) {
  if (ch.state != next)
    debug("channel " + std::to_string(ch.id) + " " + state_name(ch.state) + " -> " + state_name(next) + " (" + why + ")");
  ch.state = next;
}

// TS 102 223 8.56: server mode reports the TCP state; client mode b8 = link established, and a link
// that is not (any more) says "link dropped" (05).
cat::ChannelStatus CatTerminal::status_of(const Channel& ch) {
  if (ch.client) return cat::client_channel_status(ch.id, ch.peer, ch.peer ? cat::channel_info::kNone : cat::channel_info::kLinkDropped);
  return cat::server_channel_status(ch.id, ch.state, cat::channel_info::kNone);
}

// A client channel's server went, or its connect failed: the channel stays open without a link
// until the card closes it, and the card hears of it (Channel status 0n 05).
void CatTerminal::link_down(Channel& ch, const std::string& why) {
  ch.peer = ch.peer_eof = false;
  ch.rx.clear();
  ch.tx.clear();
  ch.connector->release(ch.id, false);
  set_channel_state(ch, cat::ServerState::kListen, "link dropped");
  queue_channel_status(ch);
  log("channel " + std::to_string(ch.id) + ": link dropped (" + why + ")");
}

// The peer went (or was dropped): back to LISTEN, and the card hears of it (TS 102 223 7.5.11).
void CatTerminal::client_left(Channel& ch, const std::string& why) {
  if (ch.client) {
    link_down(ch, why);
    return;
  }
  debug("channel " + std::to_string(ch.id) + ": client " + why);
  ch.peer = ch.peer_eof = false;
  ch.rx.clear();
  ch.tx.clear();
  ch.connector->release(ch.id, false);
  set_channel_state(ch, cat::ServerState::kListen, "the client left");
  queue_channel_status(ch);
  ch.connector->accept(ch.id);
}

void CatTerminal::peer_connected(u8 id, const std::string& peer) {
  Channel* ch = channel(id);
  if (ch == nullptr || ch->state != cat::ServerState::kListen || ch->peer) return;
  ch->peer = true;
  ch->peer_eof = false;
  ch->rx.clear();
  ch->tx.clear();
  if (ch->client) {
    ++stats_.links_established;
    log("channel " + std::to_string(id) + " connected");
  } else {
    ++stats_.clients_accepted;
  }
  set_channel_state(*ch, cat::ServerState::kEstablished, peer.c_str());
  queue_channel_status(*ch);
}

std::size_t CatTerminal::rx_room(u8 id) const {
  const Channel* ch = channel(id);
  if (ch == nullptr || !ch->peer) return 0;
  return ch->buffer_size > ch->rx.size() ? ch->buffer_size - ch->rx.size() : 0;
}

void CatTerminal::peer_data(u8 id, Bytes data) {
  Channel* ch = channel(id);
  if (ch == nullptr || !ch->peer || data.empty()) return;
  const bool was_empty = ch->rx.empty();
  ch->rx.insert(ch->rx.end(), data.begin(), data.end());
  if (was_empty) queue_data_available(*ch);
}

void CatTerminal::peer_closed(u8 id, bool orderly, const std::string& why) {
  Channel* ch = channel(id);
  if (ch != nullptr && ch->client && !ch->peer && ch->state == cat::ServerState::kListen && ch->connector != nullptr) {
    ++stats_.links_failed;
    log("channel " + std::to_string(id) + ": connect failed: " + why);
    set_channel_state(*ch, cat::ServerState::kListen, "connect failed");
    queue_channel_status(*ch);
    return;
  }
  if (ch == nullptr || !ch->peer) return;
  if (orderly && !ch->rx.empty()) {
    ch->peer_eof = true;  // gone once the card has drained the Rx buffer (receive_data)
    return;
  }
  client_left(*ch, why);
}

void CatTerminal::tx_progress(u8) {
  if (fetch_pending_) wake();
}

CatTerminal::Channel* CatTerminal::channel(u8 id) {
  return id >= 1 && id <= cat::kMaxChannels ? &channels_[id - 1] : nullptr;
}

const CatTerminal::Channel* CatTerminal::channel(u8 id) const {
  return id >= 1 && id <= cat::kMaxChannels ? &channels_[id - 1] : nullptr;
}

std::size_t CatTerminal::tx_pending(const Channel& ch) const {
  return ch.tx.size() + (ch.peer && ch.connector != nullptr ? ch.connector->unsent(ch.id) : 0);
}

bool CatTerminal::subscribed(cat::Event e) const { return events_.count(static_cast<u8>(e)) != 0; }

// --- observers and logging ----------------------------------------------------------------------------

std::vector<TerminalChannel> CatTerminal::channels() const {
  std::vector<TerminalChannel> out;
  for (const auto& ch : channels_) {
    if (ch.state == cat::ServerState::kClosed) continue;
    out.push_back(TerminalChannel{ch.id, ch.card_port, ch.local_port, ch.state, ch.buffer_size, ch.rx.size(),
                                  tx_pending(ch), ch.client});
  }
  return out;
}

std::vector<cat::Event> CatTerminal::events() const {
  std::vector<cat::Event> out;
  for (u8 e : events_) out.push_back(static_cast<cat::Event>(e));
  return out;
}

std::optional<milliseconds> CatTerminal::polling() const { return polling_; }

void CatTerminal::log(const std::string& line) const { options_.log(line); }

void CatTerminal::debug(const std::string& line) const {
  if (options_.verbose) options_.log(line);
}

}  // namespace scws::sim
