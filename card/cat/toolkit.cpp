#include "card/cat/toolkit.hpp"

#include <cstdio>
#include <cstring>

#include "apdu/envelope.hpp"
#include "apdu/proactive_command.hpp"
#include "apdu/terminal_response.hpp"
#include "card/os/card_context.hpp"

namespace scws::card {

namespace cat = apdu::cat;
using cat::CommandType;
using cat::GeneralResult;

namespace {

const Tracer kSilent{};

// TS 102 223 8.12: general results 0X mean "command performed" (00 ok, 01 partial comprehension,
// 02 missing information, 03 additional EFs read, 04 icon not displayed, 07 with modification ...).
constexpr bool performed(GeneralResult g) noexcept { return static_cast<u8>(g) <= 0x0F; }

constexpr bool terminal_unable(GeneralResult g) noexcept {
  return g == GeneralResult::kTerminalUnable || g == GeneralResult::kNetworkUnable;
}

u8 additional_info(const cat::ResultValue& r) noexcept { return r.additional_size != 0 ? r.additional[0] : 0; }

bool bip_error(const cat::ResultValue& r, cat::BipCause cause) noexcept {
  return r.general == GeneralResult::kBipError && r.additional_size != 0 &&
         r.additional[0] == static_cast<u8>(cause);
}

// Framing problems make the data field's length wrong (67 00); everything else is bad data (6A 80).
CardError card_error_for(cat::CatError e) noexcept {
  if (e == cat::CatError::kMalformedTlv || e == cat::CatError::kTrailingBytes) return CardError::kWrongLength;
  return CardError::kWrongData;
}

}  // namespace

const char* describe(ToolkitError e) noexcept {
  switch (e) {
    case ToolkitError::kTableFull: return "port table full";
    case ToolkitError::kInvalidArgument: return "invalid argument";
    case ToolkitError::kUnknownPort: return "unknown port";
    case ToolkitError::kNotSupported: return "not supported by the terminal";
  }
  return "?";
}

const char* to_string(ClientPhase p) noexcept {
  switch (p) {
    case ClientPhase::kNone: return "None";
    case ClientPhase::kBorrowing: return "Borrowing";
    case ClientPhase::kWaiting: return "Waiting";
    case ClientPhase::kOpening: return "Opening";
    case ClientPhase::kOpen: return "Open";
    case ClientPhase::kEnded: return "Ended";
  }
  return "?";
}

const char* to_string(SessionState s) noexcept {
  switch (s) {
    case SessionState::kNoProfile: return "NoProfile";
    case SessionState::kNoBip: return "NoBip";
    case SessionState::kEventsSetUp: return "EventsSetUp";
    case SessionState::kReady: return "Ready";
  }
  return "?";
}

CatToolkit::CatToolkit() noexcept {
  for (std::size_t i = 0; i < kMaxSlots; ++i) slots_[i].reset(static_cast<u8>(i));
}

const Tracer& CatToolkit::trace() const noexcept { return ctx_ != nullptr ? ctx_->trace() : kSilent; }

Arena* CatToolkit::arena() noexcept { return ctx_ != nullptr ? &ctx_->arena() : nullptr; }

void CatToolkit::set_session(SessionState next, const char* why) noexcept {
  trace()("toolkit: %s -> %s (%s)", to_string(session_), to_string(next), why);
  session_ = next;
}

// ---- configuration and services -------------------------------------------------------------------------

u16 CatToolkit::connection_port(std::size_t connection) const noexcept {
  if (connection >= kMaxSlots) return 0;
  const BipChannel& ch = slots_[connection];
  if (ch.port >= kMaxPorts) return 0;
  return ports_[ch.port].number;
}

Status<ToolkitError> CatToolkit::add_server_port(u16 port, u16 buffer_size, StreamEndpoint& endpoint,
                                                 u8 max_channels) noexcept {
  if (port == 0 || buffer_size == 0 || max_channels == 0 || max_channels > kMaxSlots)
    return fail(ToolkitError::kInvalidArgument);
  Port* p = find_port(port);
  if (p == nullptr) {
    for (Port& candidate : ports_) {
      if (!candidate.used) {
        p = &candidate;
        break;
      }
    }
    if (p == nullptr) return fail(ToolkitError::kTableFull);
    *p = Port{};
    p->used = true;
    p->number = port;
  }
  p->buffer_size = buffer_size;
  p->endpoint = &endpoint;
  p->max_channels = max_channels;
  trace()("toolkit: port %u registered (%u channels, buffer %u)", unsigned{port}, unsigned{max_channels},
          unsigned{buffer_size});
  return {};
}

Status<ToolkitError> CatToolkit::close_port(u16 port) noexcept {
  Port* p = find_port(port);
  if (p == nullptr) return fail(ToolkitError::kUnknownPort);
  if (!p->closed_by_card) trace()("toolkit: port %u closing (CLOSE CHANNEL 00 on its channels)", unsigned{port});
  p->closed_by_card = true;
  return {};
}

Status<ToolkitError> CatToolkit::reopen_port(u16 port) noexcept {
  Port* p = find_port(port);
  if (p == nullptr) return fail(ToolkitError::kUnknownPort);
  trace()("toolkit: port %u reopens", unsigned{port});
  p->closed_by_card = false;
  p->stop_opening = false;
  p->retries = 0;
  return {};
}

Status<ToolkitError> CatToolkit::start_timer(u8 id, u32 seconds, TimerListener& listener) noexcept {
  if (!TimerTable::valid(id) || id == kRetryTimerId || id == kDeadlineTimerId) return fail(ToolkitError::kInvalidArgument);
  if (session_ != SessionState::kNoProfile && !have_timers_) return fail(ToolkitError::kNotSupported);
  (void)timers_.start(id, seconds, &listener);
  return {};
}

Status<ToolkitError> CatToolkit::stop_timer(u8 id) noexcept {
  if (!TimerTable::valid(id) || id == kRetryTimerId || id == kDeadlineTimerId) return fail(ToolkitError::kInvalidArgument);
  (void)timers_.stop(id);
  return {};
}

void CatToolkit::wake() noexcept { schedule(); }

// ---- observation --------------------------------------------------------------------------------------------

BipChannel* CatToolkit::by_channel_id(u8 id) noexcept {
  if (id == 0) return nullptr;
  for (BipChannel& ch : slots_)
    if (ch.port != BipChannel::kNoPort && ch.channel_id == id) return &ch;
  return nullptr;
}

const BipChannel* CatToolkit::by_channel_id(u8 id) const noexcept {
  if (id == 0) return nullptr;
  for (const BipChannel& ch : slots_)
    if (ch.port != BipChannel::kNoPort && ch.channel_id == id) return &ch;
  return nullptr;
}

BipState CatToolkit::channel_state(u8 channel_id) const noexcept {
  const BipChannel* ch = by_channel_id(channel_id);
  return ch == nullptr ? BipState::kClosed : ch->state();
}

CatToolkit::Port* CatToolkit::find_port(u16 number) noexcept {
  for (Port& p : ports_)
    if (p.used && p.number == number) return &p;
  return nullptr;
}

std::size_t CatToolkit::channels(u16 port, BipState state) const noexcept {
  std::size_t n = 0;
  for (const BipChannel& ch : slots_)
    if (ch.port < kMaxPorts && ports_[ch.port].number == port && ch.state() == state) ++n;
  return n;
}

std::size_t CatToolkit::connected_clients() const noexcept {
  std::size_t n = 0;
  for (const BipChannel& ch : slots_)
    if (ch.connected()) ++n;
  return n;
}

TimerState CatToolkit::timer_state(u8 id) const noexcept {
  return TimerTable::valid(id) ? timers_.at(id).state : TimerState::kIdle;
}

std::size_t CatToolkit::slots_in_use() const noexcept {
  std::size_t n = 0;
  for (const BipChannel& ch : slots_)
    if (ch.port != BipChannel::kNoPort) ++n;
  return n;
}

std::size_t CatToolkit::port_channels(u8 port) const noexcept {
  std::size_t n = 0;
  for (const BipChannel& ch : slots_)
    if (ch.port == port) ++n;
  return n;
}

// ---- session ----------------------------------------------------------------------------------------------

void CatToolkit::reset_session(bool close_endpoints) noexcept {
  Arena* a = arena();
  // Client requests whose link never came up hear of the reset once everything is forgotten (an open
  // one is closed by disconnect() below). At power-up the endpoints start afresh themselves.
  std::array<ClientEndpoint*, kMaxSlots> unopened{};
  for (std::size_t i = 0; i < kMaxSlots; ++i) {
    const ClientPhase p = clients_[i].phase;
    if (close_endpoints && (p == ClientPhase::kBorrowing || p == ClientPhase::kWaiting || p == ClientPhase::kOpening))
      unopened[i] = clients_[i].endpoint;
    clients_[i] = Client{};
  }
  for (BipChannel& ch : slots_) {
    if (close_endpoints && a != nullptr) ch.disconnect(*a);
    ch.reset(ch.slot);
  }
  client_mode_ = false;
  for (Port& p : ports_) {
    p.closed_by_card = false;
    p.stop_opening = false;
    p.retry_waiting = false;
    p.retries = 0;
  }
  timers_.reset();
  // A new TERMINAL PROFILE keeps the deadlines (their endpoints closed above); power-up drops them.
  deadlines_.reset(ctx_ != nullptr ? &ctx_->time() : nullptr, false, close_endpoints);
  queue_count_ = 0;
  queue_head_ = 0;
  forget_outstanding();
  profile_ = cat::TerminalProfile{};
  profile_size_ = 0;
  have_timers_ = false;
  have_channel_status_ = false;
  have_date_time_ = false;
  channel_limit_ = 0;
  events_set_up_ = false;
  need_channel_status_ = false;
  next_slot_ = 0;
  next_number_ = 1;
  session_ = SessionState::kNoProfile;
  for (std::size_t i = 0; i < kMaxSlots; ++i)
    if (unopened[i] != nullptr) unopened[i]->link_failed(i, LinkFailure::kSessionReset);
}

Status<CardError> CatToolkit::on_power_up(CardContext& ctx) noexcept {
  // RAM is new: nothing from before is touched (endpoints were powered up afresh as well).
  ctx_ = &ctx;
  command_ = ctx.make_transient(kCommandBufferSize, ClearEvent::kClearOnReset);
  stage_ = ctx.make_transient(BipChannel::kMaxPiece, ClearEvent::kClearOnReset);
  if (command_.empty() || stage_.empty()) return fail(CardError::kNotEnoughMemory);
  reset_session(false);
  trace()("toolkit: powered up, waiting for TERMINAL PROFILE");
  return {};
}

Result<ApduOutcome, CardError> CatToolkit::terminal_profile(CardContext& ctx, const ApduRequest& request) noexcept {
  (void)ctx;
  const Bytes data = request.command.data;
  if (data.empty()) return fail(CardError::kWrongLength);
  if (session_ != SessionState::kNoProfile) {
    // The terminal started over without a reset: its channels and timers are gone.
    trace()("toolkit: new TERMINAL PROFILE, the CAT session starts over");
    reset_session(true);
  }
  profile_size_ = data.size() < kMaxProfileSize ? data.size() : kMaxProfileSize;
  std::memcpy(profile_raw_.data(), data.data(), profile_size_);
  profile_ = cat::parse_terminal_profile(data);
  have_timers_ = profile_.timer_management_start_stop;
  have_channel_status_ = profile_.get_channel_status;
  have_date_time_ = profile_.provide_local_information_date_time;
  deadlines_.reset(ctx_ != nullptr ? &ctx_->time() : nullptr, have_timers_, true);
  if (!have_timers_) trace()("toolkit: no TIMER MANAGEMENT: no deadlines pass and the uptime stays still this session");
  channel_limit_ = profile_.channel_count < kMaxSlots ? profile_.channel_count : kMaxSlots;
  client_mode_ = cat::supports_bip_client_mode(profile_);

  if (cat::supports_bip_server_mode(profile_)) {
    set_session(SessionState::kEventsSetUp, "terminal supports BIP in UICC server mode");
    trace()("toolkit: terminal offers %zu channels%s%s", channel_limit_, have_timers_ ? ", timers" : "",
            have_channel_status_ ? ", GET CHANNEL STATUS" : "");
  } else {
    // Say exactly what is missing (docs/protocol.md section 6.1 lists the bits).
    char missing[120];
    int n = 0;
    auto add = [&](bool ok, const char* what) noexcept {
      if (ok || n < 0 || static_cast<std::size_t>(n) >= sizeof missing) return;
      n += std::snprintf(missing + n, sizeof missing - static_cast<std::size_t>(n), "%s%s", n == 0 ? "" : ",", what);
    };
    missing[0] = '\0';
    add(profile_.set_up_event_list, "SET UP EVENT LIST");
    add(profile_.event_data_available, "event 09");
    add(profile_.event_channel_status, "event 0A");
    add(profile_.open_channel && profile_.close_channel, "OPEN/CLOSE CHANNEL");
    add(profile_.receive_data && profile_.send_data, "RECEIVE/SEND DATA");
    add(profile_.tcp_server, "TCP UICC server mode");
    add(profile_.channel_count != 0, "channels");
    trace()("toolkit: terminal profile lacks %s: no BIP channel will be opened", missing);
    set_session(SessionState::kNoBip, "terminal without BIP server mode");
  }
  schedule();
  return ApduOutcome{};
}

// ---- FETCH and TERMINAL RESPONSE ------------------------------------------------------------------------

u8 CatToolkit::pending_proactive_length() const noexcept {
  return (out_.length != 0 && !out_.fetched) ? out_.length : 0;
}

Result<ApduOutcome, CardError> CatToolkit::fetch(CardContext& ctx, const ApduRequest& request) noexcept {
  (void)ctx;
  const apdu::CommandApdu& c = request.command;
  if (out_.length == 0) return fail(CardError::kConditionsNotSatisfied);
  if (!c.data.empty() || !c.has_le) return fail(CardError::kWrongLength);
  if (c.ne != out_.length) {
    // TS 102 221 / ISO 7816-4: 6C XX tells the terminal the exact length; nothing is consumed.
    trace()("toolkit: FETCH with Le %u for a %u-byte command", unsigned(c.ne), unsigned{out_.length});
    return ApduOutcome{out_.length, Completion::kWrongLe};
  }
  if (request.response.size() < out_.length) return fail(CardError::kTechnicalProblem);
  std::memcpy(request.response.data(), command_.data(), out_.length);
  out_.fetched = true;
  return ApduOutcome{out_.length, Completion::kNormal};
}

Result<ApduOutcome, CardError> CatToolkit::terminal_response(CardContext& ctx, const ApduRequest& request) noexcept {
  (void)ctx;
  if (out_.length == 0 || !out_.fetched) {
    trace()("toolkit: TERMINAL RESPONSE without a fetched proactive command");
    return fail(CardError::kConditionsNotSatisfied);
  }
  const Bytes data = request.command.data;
  if (data.empty()) return fail(CardError::kWrongLength);
  auto parsed = cat::parse_terminal_response(data);
  if (!parsed) {
    trace()("toolkit: TERMINAL RESPONSE refused: %s", cat::describe(parsed.error()));
    return fail(card_error_for(parsed.error()));
  }
  const cat::TerminalResponse& r = *parsed;
  if (r.details.number != out_.details.number || r.details.type != out_.details.type) {
    trace()("toolkit: TERMINAL RESPONSE for command %u type %02X, outstanding is %u type %02X",
            unsigned{r.details.number}, unsigned(r.details.type), unsigned{out_.details.number},
            unsigned(out_.details.type));
    return fail(CardError::kWrongData);
  }
  const Outstanding done = out_;
  forget_outstanding();
  answered(r, done);
  drain_queue();
  schedule();
  return ApduOutcome{};
}

void CatToolkit::answered(const cat::TerminalResponse& r, const Outstanding& done) noexcept {
  if (!performed(r.result.general))
    trace()("toolkit: command %u type %02X: result %02X %02X", unsigned{done.details.number},
            unsigned(done.details.type), unsigned(r.result.general), unsigned{additional_info(r.result)});
  switch (done.details.type) {
    case CommandType::kSetUpEventList:
      if (performed(r.result.general)) {
        events_set_up_ = true;
        set_session(SessionState::kReady, "events 09 and 0A registered");
      } else {
        set_session(SessionState::kNoBip, "terminal refused SET UP EVENT LIST");
      }
      return;
    case CommandType::kOpenChannel:
      if (done.port == BipChannel::kClientPort) {
        answered_open_client(r, done);
      } else {
        answered_open(r, done);
      }
      return;
    case CommandType::kCloseChannel:
    case CommandType::kReceiveData:
    case CommandType::kSendData:
      answered_channel(r, done);
      return;
    case CommandType::kGetChannelStatus:
      answered_channel_status(r);
      return;
    case CommandType::kTimerManagement:
      if (done.timer == kDeadlineTimerId) {
        answered_deadline_timer(r, done);
      } else {
        answered_timer(r, done);
      }
      return;
    case CommandType::kProvideLocalInformation:
      answered_local_information(r);
      return;
    case CommandType::kRefresh:
    case CommandType::kMoreTime:
    case CommandType::kPollInterval:
    case CommandType::kPollingOff:
    case CommandType::kSendShortMessage:
    case CommandType::kLaunchBrowser:
    case CommandType::kDisplayText:
    case CommandType::kSetUpMenu:
      return;  // never issued by this toolkit
  }
}

void CatToolkit::release(BipChannel& ch, const char* why) noexcept {
  ch.set_state(BipState::kClosed, why, trace());
  const u8 index = ch.slot;
  ch.reset(index);  // the slot is free again
  client_freed(index);
}

void CatToolkit::client_gone(BipChannel& ch, BipState next, const char* why) noexcept {
  // Every state from kEstablished on has a client (connected, or refused and being dropped).
  if (ch.state() >= BipState::kEstablished && ctx_ != nullptr && ch.port < kMaxPorts)
    ctx_->events().report(SecurityEventKind::kChannelClosed, ports_[ch.port].number, ch.slot);
  if (Arena* a = arena(); a != nullptr) ch.disconnect(*a);
  ch.closing = CloseMode::kNone;
  if (next == BipState::kClosed) {
    release(ch, why);
  } else {
    ch.set_state(next, why, trace());
  }
}

void CatToolkit::answered_open(const cat::TerminalResponse& r, const Outstanding& done) noexcept {
  if (done.slot >= kMaxSlots || done.port >= kMaxPorts) return;
  BipChannel& ch = slots_[done.slot];
  Port& port = ports_[done.port];
  if (performed(r.result.general)) {
    const u8 id = r.channel_status_count != 0 ? r.channel_status[0].channel_id() : 0;
    const BipChannel* other = by_channel_id(id);
    if (id == 0 || (other != nullptr && other != &ch)) {
      trace()("toolkit: OPEN CHANNEL for port %u answered without a usable channel identifier (%u)",
              unsigned{port.number}, unsigned{id});
      release(ch, "no usable channel identifier");
      port.stop_opening = true;
      need_channel_status_ = true;
      status_reason_ = "after an error";
      return;
    }
    ch.channel_id = id;
    ch.buffer_size = (r.has_buffer_size && r.buffer_size != 0) ? r.buffer_size : port.buffer_size;
    port.retries = 0;
    const cat::ChannelStatus s = r.channel_status[0];
    switch (s.server_state()) {
      case cat::ServerState::kListen:
      case cat::ServerState::kEstablished:
        ch.set_state(BipState::kListen,
                     r.result.general == GeneralResult::kPerformedWithModification ? "listening, buffer reduced"
                                                                                   : "listening",
                     trace());
        if (s.server_state() == cat::ServerState::kEstablished) on_channel_status(s);
        return;
      case cat::ServerState::kClosed:
      case cat::ServerState::kReserved:
        release(ch, "OPEN CHANNEL answered with a channel not listening");
        port.stop_opening = true;
        return;
    }
    return;
  }
  release(ch, "OPEN CHANNEL refused");
  if (terminal_unable(r.result.general) && have_timers_ && port.retries < kMaxOpenRetries) {
    ++port.retries;
    port.retry_waiting = true;
    TimerTable::Timer& t = timers_.at(kRetryTimerId);
    if (t.state == TimerState::kIdle) (void)timers_.start(kRetryTimerId, kRetrySeconds, nullptr);
    trace()("toolkit: port %u: terminal unable, OPEN CHANNEL again in %u s (retry %u of %u)",
            unsigned{port.number}, unsigned{kRetrySeconds}, unsigned{port.retries}, unsigned{kMaxOpenRetries});
    return;
  }
  port.stop_opening = true;
  trace()("toolkit: port %u: no further OPEN CHANNEL this session (result %02X %02X)", unsigned{port.number},
          unsigned(r.result.general), unsigned{additional_info(r.result)});
}

void CatToolkit::answered_channel(const cat::TerminalResponse& r, const Outstanding& done) noexcept {
  if (done.slot >= kMaxSlots) return;
  BipChannel& ch = slots_[done.slot];
  const bool ok = performed(r.result.general);
  const bool gone = bip_error(r.result, cat::BipCause::kChannelClosed);
  const bool unknown = bip_error(r.result, cat::BipCause::kChannelIdNotValid);
  if (!ok && r.result.general == GeneralResult::kBipError) {
    need_channel_status_ = true;
    status_reason_ = "after an error";
  }

  switch (done.details.type) {
    case CommandType::kCloseChannel: {
      BipState next = ch.closing == CloseMode::kToClosed ? BipState::kClosed : BipState::kListen;
      if (unknown) next = BipState::kClosed;
      const u8 port_index = ch.port;
      client_gone(ch, next, ok ? "CLOSE CHANNEL done" : "CLOSE CHANNEL failed");
      // The card closed a whole port: once its last channel is gone, ask the terminal's view of the
      // channels (TS 102 223 6.4.30), which must show none of them any more.
      if (port_index < kMaxPorts && ports_[port_index].closed_by_card && port_channels(port_index) == 0) {
        status_reason_ = "a port closed by the card";
        need_channel_status_ = true;
      }
      return;
    }
    case CommandType::kReceiveData:
    case CommandType::kSendData:
      break;
    case CommandType::kRefresh:
    case CommandType::kMoreTime:
    case CommandType::kPollInterval:
    case CommandType::kPollingOff:
    case CommandType::kSetUpEventList:
    case CommandType::kSendShortMessage:
    case CommandType::kLaunchBrowser:
    case CommandType::kDisplayText:
    case CommandType::kSetUpMenu:
    case CommandType::kProvideLocalInformation:
    case CommandType::kTimerManagement:
    case CommandType::kOpenChannel:
    case CommandType::kGetChannelStatus:
      return;
  }
  if (!ok && ch.client && (gone || unknown)) {
    if (unknown) {
      client_gone(ch, BipState::kClosed, "terminal does not know the client channel");
    } else {
      client_link_down(ch, LinkFailure::kLinkDropped, "terminal reports the client channel closed");
    }
    return;
  }
  if (!ok) {
    if (gone || unknown) {
      client_gone(ch, unknown ? BipState::kClosed : BipState::kListen, "terminal reports the channel closed");
    } else {
      // The byte stream has a hole now: the connection cannot go on.
      ch.set_state(BipState::kEstablished, "channel command failed, dropping the client", trace());
      ch.drop_requested = true;
    }
    return;
  }
  if (done.details.type == CommandType::kReceiveData) {
    const Bytes data = r.channel_data.present ? r.channel_data.value : Bytes{};
    ch.rx_available = r.has_channel_data_length ? r.channel_data_length : 0;
    if (data.size() > done.size) {
      ch.set_state(BipState::kEstablished, "terminal sent more than asked, dropping the client", trace());
      ch.drop_requested = true;
      return;
    }
    ch.set_state(BipState::kEstablished, "RECEIVE DATA done", trace());
    Arena* a = arena();
    if (a == nullptr || !ch.deliver(*a, data)) {
      trace()("toolkit: no RAM to keep input the endpoint did not take on channel %u", unsigned{ch.channel_id});
      ch.drop_requested = true;
    }
    return;
  }
  const bool immediately = done.details.qualifier == cat::qualifier::kSendDataImmediately;
  ch.piece_sent(done.size, immediately);
  if (r.has_channel_data_length) ch.tx_free_reported(r.channel_data_length);
  ch.set_state(BipState::kEstablished, immediately ? "SEND DATA done (sent)" : "SEND DATA done (stored)", trace());
}

void CatToolkit::answered_channel_status(const cat::TerminalResponse& r) noexcept {
  if (!performed(r.result.general)) return;
  for (BipChannel& ch : slots_) {
    if (ch.port == BipChannel::kNoPort || ch.channel_id == 0) continue;
    const cat::ChannelStatus* found = nullptr;
    for (u8 i = 0; i < r.channel_status_count; ++i)
      if (r.channel_status[i].channel_id() == ch.channel_id) found = &r.channel_status[i];
    const bool connected_state = ch.state() == BipState::kEstablished;
    if (ch.client) {
      // Client mode: b8 is the link (TS 102 223 8.56). A link still coming up is not down.
      const ClientPhase p = clients_[ch.slot].phase;
      if (found == nullptr) {
        if (p == ClientPhase::kEnded) {
          client_gone(ch, BipState::kClosed, "client channel not in GET CHANNEL STATUS");
        } else {
          client_link_down(ch, LinkFailure::kLinkDropped, "client channel not in GET CHANNEL STATUS");
        }
      } else if (!found->link_established() && p == ClientPhase::kOpen) {
        client_link_down(ch, LinkFailure::kLinkDropped, "GET CHANNEL STATUS: link down");
      }
      continue;
    }
    if (found == nullptr) {
      client_gone(ch, BipState::kClosed, "not in GET CHANNEL STATUS");
      continue;
    }
    switch (found->server_state()) {
      case cat::ServerState::kListen:
        if (connected_state) client_gone(ch, BipState::kListen, "GET CHANNEL STATUS: listening");
        break;
      case cat::ServerState::kEstablished:
        if (ch.state() == BipState::kListen) on_channel_status(*found);
        break;
      case cat::ServerState::kClosed:
        ports_[ch.port].stop_opening = true;
        client_gone(ch, BipState::kClosed, "GET CHANNEL STATUS: closed");
        break;
      case cat::ServerState::kReserved:
        break;
    }
  }
}

void CatToolkit::answered_timer(const cat::TerminalResponse& r, const Outstanding& done) noexcept {
  if (!TimerTable::valid(done.timer)) return;
  TimerTable::Timer& t = timers_.at(done.timer);
  const bool ok = performed(r.result.general);
  const u8 action = done.details.qualifier & cat::qualifier::kTimerActionMask;
  if (action == cat::qualifier::kTimerStart) {
    if (t.state != TimerState::kStarting) return;  // stopped or restarted meanwhile: that wish stands
    if (ok) {
      t.state = TimerState::kRunning;
      return;
    }
    trace()("toolkit: timer %u could not be started", unsigned{done.timer});
    t = TimerTable::Timer{};
    if (done.timer == kRetryTimerId) {
      for (Port& p : ports_) {
        if (p.retry_waiting) {
          p.retry_waiting = false;
          p.stop_opening = true;
        }
      }
    }
    return;
  }
  if (t.state == TimerState::kStopping) t = TimerTable::Timer{};
}

void CatToolkit::answered_deadline_timer(const cat::TerminalResponse& r, const Outstanding& done) noexcept {
  const bool ok = performed(r.result.general);
  const u8 action = done.details.qualifier & cat::qualifier::kTimerActionMask;
  if (action == cat::qualifier::kTimerStart) {
    if (!ok) trace()("toolkit: the deadline timer could not be started: no deadlines pass this session");
    deadlines_.start_answered(ok);
    return;
  }
  const u32 left = r.has_timer_value ? cat::timer_seconds(r.timer_value) : 0;
  deadlines_.deactivate_answered(ok, ok && r.has_timer_value, left);
  trace()("toolkit: deadline timer deactivated (%s), uptime %u s",
          ok ? "in time" : "it had run out", ctx_ != nullptr ? unsigned{ctx_->time().uptime()} : 0U);
}

// TS 102 223 6.4.15 / 8.39: the terminal's date, time and time zone; card/os/card_time.hpp keeps it.
void CatToolkit::answered_local_information(const cat::TerminalResponse& r) noexcept {
  deadlines_.clock_refreshed();
  if (ctx_ == nullptr) return;
  if (!performed(r.result.general) || !r.has_date_time) {
    trace()("toolkit: no date from the terminal: the card keeps its estimate");
    return;
  }
  CardTime& time = ctx_->time();
  const u32 told = unix_seconds(r.date_time);
  switch (time.told(told)) {
    case CardTime::Told::kAccepted:
      trace()("toolkit: the terminal's date is %u (uptime %u s)", unsigned{told}, unsigned{time.uptime()});
      return;
    case CardTime::Told::kRefusedEarlier:
      trace()("toolkit: the terminal's date %u is before the card's %u: kept the card's (never backwards)",
              unsigned{told}, unsigned{time.now()});
      return;
  }
}

// ---- ENVELOPE and events -----------------------------------------------------------------------------------

Result<ApduOutcome, CardError> CatToolkit::envelope(CardContext& ctx, const ApduRequest& request) noexcept {
  (void)ctx;
  const Bytes data = request.command.data;
  if (data.empty()) return fail(CardError::kWrongLength);
  auto parsed = cat::parse_envelope(data);
  if (!parsed) {
    trace()("toolkit: ENVELOPE refused: %s", cat::describe(parsed.error()));
    return fail(card_error_for(parsed.error()));
  }
  const cat::Envelope& e = *parsed;
  QueuedEvent q;
  switch (e.type) {
    case cat::EnvelopeType::kSmsPpDownload:
      trace()("toolkit: SMS-PP download: no OTA handler on this card");
      return fail(CardError::kFunctionNotSupported);
    case cat::EnvelopeType::kTimerExpiration:
      q.kind = EventKind::kTimerExpired;
      q.a = e.timer_id;
      break;
    case cat::EnvelopeType::kEventDownload:
      if (e.event == cat::Event::kChannelStatus && e.has_channel_status) {
        q.kind = EventKind::kChannelStatus;
      } else if (e.event == cat::Event::kDataAvailable && e.has_channel_status && e.has_channel_data_length) {
        q.kind = EventKind::kDataAvailable;
        q.c = e.channel_data_length;
      } else if (e.event == cat::Event::kChannelStatus || e.event == cat::Event::kDataAvailable) {
        return fail(CardError::kWrongData);  // required objects missing (TS 102 223 7.5.10, 7.5.11)
      } else {
        trace()("toolkit: event %02X not subscribed: ignored", unsigned(e.event));
        schedule();
        return ApduOutcome{};
      }
      q.a = e.channel_status.status;
      q.b = e.channel_status.info;
      break;
  }
  if (out_.length != 0) {
    // A proactive command is outstanding: the event waits for its TERMINAL RESPONSE.
    if (queue_count_ == kEventQueueSize) {
      trace()("toolkit: event queue full: toolkit busy");
      return fail(CardError::kToolkitBusy);
    }
    queue_[(queue_head_ + queue_count_) % kEventQueueSize] = q;
    ++queue_count_;
  } else {
    apply_event(q);
  }
  schedule();
  return ApduOutcome{};
}

void CatToolkit::drain_queue() noexcept {
  while (queue_count_ != 0 && out_.length == 0) {
    const QueuedEvent q = queue_[queue_head_];
    queue_head_ = (queue_head_ + 1) % kEventQueueSize;
    --queue_count_;
    apply_event(q);
  }
}

void CatToolkit::apply_event(const QueuedEvent& e) noexcept {
  switch (e.kind) {
    case EventKind::kChannelStatus:
      on_channel_status(cat::ChannelStatus{e.a, e.b});
      return;
    case EventKind::kDataAvailable:
      on_data_available(cat::ChannelStatus{e.a, e.b}, e.c);
      return;
    case EventKind::kTimerExpired:
      on_timer_expired(e.a);
      return;
  }
}

void CatToolkit::on_channel_status(cat::ChannelStatus s) noexcept {
  BipChannel* ch = by_channel_id(s.channel_id());
  if (ch == nullptr || !events_set_up_) {
    trace()("toolkit: channel status %02X %02X for no channel of ours: ignored", unsigned{s.status}, unsigned{s.info});
    return;
  }
  if (ch->client) {
    on_client_status(*ch, s);
    return;
  }
  switch (s.server_state()) {
    case cat::ServerState::kEstablished: {
      if (ch->state() != BipState::kListen) return;  // already known
      if (ctx_ != nullptr) ctx_->events().report(SecurityEventKind::kChannelEstablished, ports_[ch->port].number, ch->slot);
      Arena* a = arena();
      StreamEndpoint* ep = ports_[ch->port].endpoint;
      if (a != nullptr && ep != nullptr && ch->connect(*a, *ep)) {
        ch->set_state(BipState::kEstablished, "client connected", trace());
      } else {
        ch->set_state(BipState::kEstablished, "client connected, refused (no RAM or endpoint refused)", trace());
        ch->drop_requested = true;
      }
      return;
    }
    case cat::ServerState::kListen:
      if (ch->state() == BipState::kEstablished)
        client_gone(*ch, BipState::kListen,
                    s.info == cat::channel_info::kLinkDropped ? "client left (link dropped)" : "client left");
      return;
    case cat::ServerState::kClosed: {
      // The terminal stopped listening on its own: reopening at once could loop; wait for reopen_port().
      Port& port = ports_[ch->port];
      port.stop_opening = true;
      client_gone(*ch, BipState::kClosed, "terminal closed the channel");
      return;
    }
    case cat::ServerState::kReserved:
      trace()("toolkit: channel status %02X %02X: reserved state ignored", unsigned{s.status}, unsigned{s.info});
      return;
  }
}

void CatToolkit::on_data_available(cat::ChannelStatus s, u8 length) noexcept {
  BipChannel* ch = by_channel_id(s.channel_id());
  if (ch == nullptr || ch->state() != BipState::kEstablished) {
    trace()("toolkit: data available on channel %u, not connected: ignored", unsigned{s.channel_id()});
    return;
  }
  ch->rx_available = length;
}

void CatToolkit::on_timer_expired(u8 id) noexcept {
  if (!TimerTable::valid(id)) return;
  if (id == kDeadlineTimerId) {
    deadlines_.expired();
    return;
  }
  TimerTable::Timer& t = timers_.at(id);
  switch (t.state) {
    case TimerState::kRunning:
    case TimerState::kStarting:
    case TimerState::kStopWanted:
    case TimerState::kStopping:
      break;
    case TimerState::kIdle:
    case TimerState::kStartWanted:
      trace()("toolkit: expiration of timer %u, which is not running: ignored", unsigned{id});
      return;
  }
  TimerListener* listener = t.state == TimerState::kRunning ? t.listener : nullptr;
  t = TimerTable::Timer{};
  trace()("toolkit: timer %u expired", unsigned{id});
  if (id == kRetryTimerId) {
    for (Port& p : ports_) p.retry_waiting = false;
    return;
  }
  if (listener != nullptr) listener->timer_expired(id);
}

// ---- the scheduler ------------------------------------------------------------------------------------------

u8 CatToolkit::take_number() noexcept {
  const u8 n = next_number_;
  next_number_ = next_number_ >= 0xFE ? 1 : static_cast<u8>(next_number_ + 1);  // 01..FE (TS 102 223 8.6)
  return n;
}

bool CatToolkit::issue(const cat::ProactiveCommand& c, u8 slot_index, u8 port, u8 timer, u8 size) noexcept {
  auto built = cat::build_proactive_command(c, command_);
  if (!built || *built == 0 || *built > kCommandBufferSize) {
    trace()("toolkit: cannot build proactive command type %02X", unsigned(c.details.type));
    return false;
  }
  out_ = Outstanding{};
  out_.length = static_cast<u8>(*built);
  out_.details = c.details;
  out_.slot = slot_index;
  out_.port = port;
  out_.timer = timer;
  out_.size = size;
  return true;
}

void CatToolkit::schedule() noexcept {
  if (scheduling_ || out_.length != 0 || command_.empty()) return;
  if (session_ == SessionState::kNoProfile) return;
  scheduling_ = true;
  [&]() noexcept {
    deliver_client_failures();
    if (session_ == SessionState::kEventsSetUp && !events_set_up_) {
      const u8 events[] = {static_cast<u8>(cat::Event::kDataAvailable), static_cast<u8>(cat::Event::kChannelStatus)};
      (void)issue(cat::make_set_up_event_list(take_number(), events), 0xFF, 0xFF, 0, 0);
      return;
    }
    if (schedule_timer()) return;
    if (session_ != SessionState::kReady) return;
    if (need_channel_status_) {
      need_channel_status_ = false;
      if (have_channel_status_) {
        trace()("toolkit: asking GET CHANNEL STATUS (%s)", status_reason_);
        (void)issue(cat::make_get_channel_status(take_number()), 0xFF, 0xFF, 0, 0);
        return;
      }
    }
    // A deadline waits on the timer: before channel work, so that busy channels cannot hold it up.
    if (deadlines_.any_pending() && schedule_deadline_timer()) return;
    for (std::size_t i = 0; i < kMaxSlots; ++i) {
      const std::size_t index = (next_slot_ + i) % kMaxSlots;
      BipChannel& ch = slots_[index];
      if (ch.port == BipChannel::kNoPort) continue;
      if (schedule_channel(ch)) {
        next_slot_ = (index + 1) % kMaxSlots;
        return;
      }
    }
    // A client's OPEN CHANNEL goes before listening channels are opened again (section 7.10).
    if (schedule_client_open()) return;
    if (schedule_open()) return;
    // Last, when nothing else is to do: the terminal's date and the timer's idle period.
    if (schedule_clock()) return;
    (void)schedule_deadline_timer();
  }();
  scheduling_ = false;
}

bool CatToolkit::schedule_timer() noexcept {
  const u8 id = timers_.next_wanted();
  if (id == 0) return false;
  TimerTable::Timer& t = timers_.at(id);
  if (!have_timers_) {
    trace()("toolkit: timer %u dropped: the terminal has no TIMER MANAGEMENT", unsigned{id});
    t = TimerTable::Timer{};
    return schedule_timer();
  }
  if (t.state == TimerState::kStartWanted) {
    if (!issue(cat::make_timer_start(take_number(), id, to_timer_value(t.seconds)), 0xFF, 0xFF, id, 0)) return false;
    t.state = TimerState::kStarting;
    return true;
  }
  if (!issue(cat::make_timer_deactivate(take_number(), id), 0xFF, 0xFF, id, 0)) return false;
  t.state = TimerState::kStopping;
  return true;
}

bool CatToolkit::schedule_deadline_timer() noexcept {
  const Deadlines::Wish w = deadlines_.wanted();
  switch (w.kind) {
    case Deadlines::Wish::Kind::kNone:
      return false;
    case Deadlines::Wish::Kind::kStart:
      if (!issue(cat::make_timer_start(take_number(), kDeadlineTimerId, to_timer_value(w.seconds)), 0xFF, 0xFF,
                 kDeadlineTimerId, 0))
        return false;
      break;
    case Deadlines::Wish::Kind::kDeactivate:
      if (!issue(cat::make_timer_deactivate(take_number(), kDeadlineTimerId), 0xFF, 0xFF, kDeadlineTimerId, 0))
        return false;
      break;
  }
  deadlines_.issued(w);
  return true;
}

bool CatToolkit::schedule_clock() noexcept {
  if (!deadlines_.clock_refresh_due()) return false;
  if (!have_date_time_) {
    deadlines_.clock_refreshed();  // nothing to ask: the idle period just runs on
    return false;
  }
  if (!issue(cat::make_provide_local_information(take_number(), cat::qualifier::kLocalInfoDateTimeAndTimeZone), 0xFF,
             0xFF, 0, 0))
    return false;
  deadlines_.clock_refreshed();  // asked: a missing answer waits for the next period
  return true;
}

bool CatToolkit::schedule_channel(BipChannel& ch) noexcept {
  // A client channel has no port: it never listens, and CLOSE CHANNEL is always qualifier 00.
  const bool port_closed = !ch.client && ports_[ch.port].closed_by_card;
  const bool borrowed = !ch.client && clients_[ch.slot].phase == ClientPhase::kBorrowing;
  const bool client_closes = ch.client && clients_[ch.slot].close_wanted;
  auto close = [&](CloseMode mode, const char* why) noexcept {
    if (ch.client || borrowed) mode = CloseMode::kToClosed;
    if (!issue(cat::make_close_channel(take_number(), ch.channel_id, mode == CloseMode::kToListen), ch.slot, ch.port,
               0, 0))
      return false;
    ch.closing = mode;
    ch.set_state(BipState::kClosing, why, trace());
    return true;
  };
  switch (ch.state()) {
    case BipState::kClosed:
    case BipState::kOpenRequested:
    case BipState::kReceiving:
    case BipState::kSending:
    case BipState::kClosing:
      return false;
    case BipState::kListen:
      if (borrowed) return close(CloseMode::kToClosed, "CLOSE CHANNEL 00: the slot goes to a client channel");
      if (port_closed) return close(CloseMode::kToClosed, "CLOSE CHANNEL 00: port closed by the card");
      return false;
    case BipState::kEstablished:
      break;
  }
  if (port_closed) return close(CloseMode::kToClosed, "CLOSE CHANNEL 00: port closed by the card");
  // A web client that connected while its channel was being taken for a client channel is dropped.
  if (borrowed) return close(CloseMode::kToClosed, "CLOSE CHANNEL 00: the slot goes to a client channel");
  if (ch.drop_requested || !ch.connected())
    return close(CloseMode::kToListen, ch.client ? "CLOSE CHANNEL 00: closing the client channel"
                                                 : "CLOSE CHANNEL 01: dropping the client");
  for (;;) {
    bool more = false;
    const std::size_t n = ch.pull(stage_, more);
    if (n != 0) {
      const bool immediately = !more || ch.must_flush_after(n);
      if (!issue(cat::make_send_data(take_number(), ch.channel_id, immediately, Bytes(stage_.data(), n)), ch.slot,
                 ch.port, 0, static_cast<u8>(n)))
        return false;
      ch.set_state(BipState::kSending, immediately ? "SEND DATA, send immediately" : "SEND DATA, store", trace());
      return true;
    }
    Arena* a = arena();
    if (a == nullptr || !ch.offer_pending(*a)) break;
  }
  if (ch.endpoint != nullptr && ch.endpoint->wants_close(ch.slot))
    return close(CloseMode::kToListen, ch.client ? "CLOSE CHANNEL 00: endpoint closes the client channel"
                                                 : "CLOSE CHANNEL 01: endpoint closes the connection");
  if (client_closes) return close(CloseMode::kToClosed, "CLOSE CHANNEL 00: close_client()");
  if (ch.pending_rx() != 0) {
    // Input it will not take, no output, no wish to close: nothing could ever move again.
    trace()("toolkit: endpoint stalled with %zu bytes of input on channel %u", ch.pending_rx(), unsigned{ch.channel_id});
    return close(CloseMode::kToListen, "CLOSE CHANNEL 01: endpoint stalled");
  }
  if (ch.rx_available != 0) {
    const u8 want = ch.rx_available > BipChannel::kRxAccumulatorSize ? static_cast<u8>(BipChannel::kRxAccumulatorSize)
                                                                      : ch.rx_available;
    if (!issue(cat::make_receive_data(take_number(), ch.channel_id, want), ch.slot, ch.port, 0, want)) return false;
    ch.set_state(BipState::kReceiving, "RECEIVE DATA", trace());
    return true;
  }
  return false;
}

bool CatToolkit::schedule_open() noexcept {
  if (slots_in_use() >= channel_limit_) return false;
  for (std::size_t pi = 0; pi < kMaxPorts; ++pi) {
    Port& p = ports_[pi];
    if (!p.used || p.closed_by_card || p.stop_opening || p.retry_waiting || p.endpoint == nullptr) continue;
    if (guard_ != nullptr && !guard_->port_may_open(p.number)) continue;
    if (port_channels(static_cast<u8>(pi)) >= p.max_channels) continue;
    for (BipChannel& ch : slots_) {
      if (ch.port != BipChannel::kNoPort) continue;
      if (!issue(cat::make_open_channel_server(take_number(), p.buffer_size, p.number), ch.slot, static_cast<u8>(pi), 0,
                 0))
        return false;
      ch.port = static_cast<u8>(pi);
      ch.endpoint = p.endpoint;
      ch.buffer_size = p.buffer_size;
      ch.set_state(BipState::kOpenRequested, "OPEN CHANNEL", trace());
      return true;
    }
    return false;
  }
  return false;
}

// ---- client channels (docs/protocol.md section 7.10) ------------------------------------------------------

void CatToolkit::set_client_phase(u8 slot, ClientPhase next, const char* why) noexcept {
  Client& c = clients_[slot];
  trace()("toolkit: client %u: %s -> %s (%s)", unsigned{slot}, to_string(c.phase), to_string(next), why);
  c.phase = next;
}

bool CatToolkit::client_mode_usable() const noexcept {
  return client_mode_ && (session_ == SessionState::kEventsSetUp || session_ == SessionState::kReady);
}

// A listening channel without a client, of the server port with the most channels.
int CatToolkit::borrowable_slot() const noexcept {
  int best = -1;
  std::size_t best_count = 0;
  for (const BipChannel& ch : slots_) {
    if (ch.port >= kMaxPorts || ch.state() != BipState::kListen || ch.connected()) continue;
    if (clients_[ch.slot].phase != ClientPhase::kNone) continue;
    const std::size_t n = port_channels(ch.port);
    if (best < 0 || n > best_count) {
      best = ch.slot;
      best_count = n;
    }
  }
  return best;
}

void CatToolkit::claim_for_client(BipChannel& ch) noexcept {
  const Client& c = clients_[ch.slot];
  ch.port = BipChannel::kClientPort;
  ch.client = true;
  ch.endpoint = c.endpoint;
  ch.buffer_size = c.request.buffer_size;
  set_client_phase(ch.slot, ClientPhase::kWaiting, "slot held, OPEN CHANNEL to issue");
}

void CatToolkit::client_freed(u8 slot) noexcept {
  Client& c = clients_[slot];
  if (c.phase == ClientPhase::kBorrowing) {
    claim_for_client(slots_[slot]);  // the listening channel is closed: the slot is the client's now
    return;
  }
  if (c.phase != ClientPhase::kNone) set_client_phase(slot, ClientPhase::kNone, "slot free");
  c = Client{};
}

Result<u8, ClientError> CatToolkit::open_client(const ClientChannelRequest& request, ClientEndpoint& endpoint) noexcept {
  if (request.port == 0 || request.buffer_size == 0) return fail(ClientError::kInvalidArgument);
  if (session_ == SessionState::kNoProfile) return fail(ClientError::kNotReady);
  const bool usable = client_mode_usable();
  int index = -1;
  // Without client mode any free slot carries the failure; with it, the terminal's channel count counts.
  if (!usable || slots_in_use() < channel_limit_) {
    for (const BipChannel& ch : slots_) {
      if (ch.port == BipChannel::kNoPort && clients_[ch.slot].phase == ClientPhase::kNone) {
        index = ch.slot;
        break;
      }
    }
  }
  const bool borrow = index < 0 && usable;
  if (borrow) index = borrowable_slot();
  if (index < 0) {
    trace()("toolkit: client channel to port %u refused: every channel is busy", unsigned{request.port});
    return fail(ClientError::kBusy);
  }
  Client& c = clients_[static_cast<std::size_t>(index)];
  c = Client{};
  c.endpoint = &endpoint;
  c.request = request;
  trace()("toolkit: client channel to %u.%u.%u.%u:%u requested (slot %d, buffer %u)", unsigned{request.address[0]},
          unsigned{request.address[1]}, unsigned{request.address[2]}, unsigned{request.address[3]},
          unsigned{request.port}, index, unsigned{request.buffer_size});
  if (borrow) {
    set_client_phase(static_cast<u8>(index), ClientPhase::kBorrowing, "a listening channel is closed for it");
  } else {
    claim_for_client(slots_[static_cast<std::size_t>(index)]);
  }
  if (!usable) {
    trace()("toolkit: the terminal profile lacks TCP client mode or the BIP events");
    c.failure_pending = true;
    c.failure = LinkFailure::kNotSupported;
  }
  return static_cast<u8>(index);
}

void CatToolkit::close_client(u8 connection) noexcept {
  if (connection >= kMaxSlots) return;
  Client& c = clients_[connection];
  switch (c.phase) {
    case ClientPhase::kNone:
    case ClientPhase::kEnded:
      return;
    case ClientPhase::kBorrowing:
    case ClientPhase::kWaiting:
      // No OPEN CHANNEL went out: the request is dropped at the next scheduling, with link_failed.
      c.close_wanted = true;
      if (!c.failure_pending) {
        c.failure_pending = true;
        c.failure = LinkFailure::kLinkDropped;
      }
      return;
    case ClientPhase::kOpening:
    case ClientPhase::kOpen:
      c.close_wanted = true;  // CLOSE CHANNEL 00 once the output is sent (schedule_channel)
      trace()("toolkit: client %u: close asked", unsigned{connection});
      return;
  }
}

// Told here rather than inside the call that found the failure: the endpoint may ask again at once.
void CatToolkit::deliver_client_failures() noexcept {
  for (std::size_t i = 0; i < kMaxSlots; ++i) {
    Client& c = clients_[i];
    BipChannel& ch = slots_[i];
    if (c.phase == ClientPhase::kWaiting && !c.failure_pending && !client_mode_usable()) {
      c.failure_pending = true;
      c.failure = LinkFailure::kNotSupported;
    }
    if (c.phase == ClientPhase::kOpening && c.close_wanted && ch.state() == BipState::kOpenRequested &&
        !(out_.length != 0 && out_.slot == i)) {
      client_link_down(ch, LinkFailure::kLinkDropped, "closed before the link was established");
      continue;
    }
    if (!c.failure_pending || (c.phase != ClientPhase::kWaiting && c.phase != ClientPhase::kBorrowing)) continue;
    ClientEndpoint* ep = c.endpoint;
    const LinkFailure why = c.failure;
    if (c.phase == ClientPhase::kWaiting) {
      release(ch, describe(why));
    } else {
      set_client_phase(static_cast<u8>(i), ClientPhase::kNone, describe(why));  // the listening channel stays
      c = Client{};
    }
    if (ep != nullptr) ep->link_failed(i, why);
  }
}

bool CatToolkit::schedule_client_open() noexcept {
  if (session_ != SessionState::kReady || !client_mode_usable()) return false;
  // TS 102 223 8.52: bearer type 03, the default bearer for the requested transport layer.
  static constexpr u8 kBearer[] = {cat::bearer::kDefault};
  for (BipChannel& ch : slots_) {
    Client& c = clients_[ch.slot];
    if (c.phase != ClientPhase::kWaiting || c.failure_pending || ch.state() != BipState::kClosed) continue;
    const cat::OtherAddress destination{true, cat::address_type::kIpv4, Bytes(c.request.address.data(), 4)};
    cat::ProactiveCommand command = cat::make_open_channel_tcp_client(take_number(), Bytes(kBearer, sizeof kBearer),
                                                                      c.request.buffer_size, c.request.port, destination);
    // TS 102 223 8.6: immediate link establishment in background mode: the TERMINAL RESPONSE comes at
    // once, the link's fate with a Channel status event (section 7.10).
    command.details.qualifier =
        static_cast<u8>(cat::qualifier::kOpenChannelImmediate | cat::qualifier::kOpenChannelBackground);
    if (!issue(command, ch.slot, BipChannel::kClientPort, 0, 0)) {
      c.failure_pending = true;
      c.failure = LinkFailure::kBipError;
      return false;
    }
    ch.set_state(BipState::kOpenRequested, "OPEN CHANNEL, TCP client", trace());
    set_client_phase(ch.slot, ClientPhase::kOpening, "OPEN CHANNEL issued");
    return true;
  }
  return false;
}

void CatToolkit::answered_open_client(const cat::TerminalResponse& r, const Outstanding& done) noexcept {
  if (done.slot >= kMaxSlots) return;
  BipChannel& ch = slots_[done.slot];
  Client& c = clients_[done.slot];
  if (!ch.client || c.phase != ClientPhase::kOpening) return;
  LinkFailure why = LinkFailure::kBipError;
  if (performed(r.result.general)) {
    const u8 id = r.channel_status_count != 0 ? r.channel_status[0].channel_id() : 0;
    const BipChannel* other = by_channel_id(id);
    if (id != 0 && (other == nullptr || other == &ch)) {
      ch.channel_id = id;
      ch.buffer_size = (r.has_buffer_size && r.buffer_size != 0) ? r.buffer_size : c.request.buffer_size;
      if (r.channel_status[0].link_established()) {
        client_link_up(ch);
        return;
      }
      ch.set_state(BipState::kOpenRequested, "link being established (background mode)", trace());
      return;  // a close_client() meanwhile is handled by deliver_client_failures()
    }
    trace()("toolkit: client OPEN CHANNEL answered without a usable channel identifier (%u)", unsigned{id});
    need_channel_status_ = true;
    status_reason_ = "after an error";
  } else if (r.result.general == GeneralResult::kTerminalUnable) {
    why = LinkFailure::kTerminalUnable;
  } else if (r.result.general == GeneralResult::kNetworkUnable) {
    why = LinkFailure::kNetworkUnable;
  } else if (bip_error(r.result, cat::BipCause::kNoChannelAvailable) ||
             bip_error(r.result, cat::BipCause::kPortNotAvailable)) {
    why = LinkFailure::kNoChannel;
  }
  ClientEndpoint* ep = c.endpoint;
  const u8 slot = ch.slot;
  release(ch, "client OPEN CHANNEL refused");
  if (ep != nullptr) ep->link_failed(slot, why);
}

void CatToolkit::client_link_up(BipChannel& ch) noexcept {
  Client& c = clients_[ch.slot];
  Arena* a = arena();
  if (c.endpoint != nullptr && a != nullptr && ch.connect(*a, *c.endpoint)) {
    ch.set_state(BipState::kEstablished, "link established", trace());
    set_client_phase(ch.slot, ClientPhase::kOpen, "endpoint open");
    return;
  }
  // The endpoint refused its connection (no RAM): it knows; the channel goes.
  ch.set_state(BipState::kEstablished, "link established, endpoint refused", trace());
  ch.drop_requested = true;
  set_client_phase(ch.slot, ClientPhase::kEnded, "endpoint refused the connection");
}

void CatToolkit::client_link_down(BipChannel& ch, LinkFailure why, const char* trace_why) noexcept {
  Client& c = clients_[ch.slot];
  if (c.phase == ClientPhase::kEnded || c.phase == ClientPhase::kNone) return;
  const bool was_open = c.phase == ClientPhase::kOpen;
  ClientEndpoint* ep = c.endpoint;
  const u8 slot = ch.slot;
  if (ch.channel_id == 0) {
    release(ch, trace_why);  // the terminal has no channel for it
  } else {
    // The terminal keeps the channel until the card closes it (CLOSE CHANNEL 00).
    if (Arena* a = arena(); a != nullptr) ch.disconnect(*a);  // endpoint.close() when it was open
    ch.set_state(BipState::kEstablished, trace_why, trace());
    ch.drop_requested = true;
    set_client_phase(slot, ClientPhase::kEnded, trace_why);
  }
  if (!was_open && ep != nullptr) ep->link_failed(slot, why);
}

void CatToolkit::on_client_status(BipChannel& ch, cat::ChannelStatus s) noexcept {
  const ClientPhase p = clients_[ch.slot].phase;
  if (s.link_established()) {
    if (p == ClientPhase::kOpening && ch.state() == BipState::kOpenRequested) client_link_up(ch);
    return;
  }
  if (p == ClientPhase::kOpening || p == ClientPhase::kOpen)
    client_link_down(ch, LinkFailure::kLinkDropped,
                     s.info == cat::channel_info::kLinkDropped ? "link dropped" : "link not established");
}

}  // namespace scws::card
