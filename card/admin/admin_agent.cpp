#include "card/admin/admin_agent.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <new>
#include <string_view>

#include "apdu/status_word.hpp"
#include "card/admin/script_template.hpp"
#include "card/defence/admin_applet.hpp"
#include "card/defence/detector.hpp"
#include "card/os/dispatcher.hpp"
#include "card/os/uicc_files.hpp"
#include "http/ascii.hpp"
#include "http/request_writer.hpp"
#include "http/response_parser.hpp"
#include "mbedtls/platform_util.h"

namespace scws::card {

namespace {

constexpr std::string_view kProtocol = "globalplatform-remote-admin/1.0";
constexpr std::string_view kReportType = "application/vnd.scws.incident-report;version=1.0";
constexpr std::string_view kScriptType = "application/vnd.globalplatform.card-content-mgt;version=1.0";
constexpr std::string_view kResponseType = "application/vnd.globalplatform.card-content-mgt-response;version=1.0";
constexpr std::string_view kAdminTarget = "//aid/F053435753/41";
constexpr std::string_view kFromPrefix = "//se-id/iccid/";

// docs/protocol.md 16.1: CBC-SHA256 first (the suite Amendment B requires), then CCM, then GCM.
constexpr int kAdminSuites[] = {
    MBEDTLS_TLS_PSK_WITH_AES_128_CBC_SHA256,  // RFC 5487
    MBEDTLS_TLS_PSK_WITH_AES_128_CCM,         // RFC 6655
    MBEDTLS_TLS_PSK_WITH_AES_128_GCM_SHA256,  // RFC 5487
    0,
};

constexpr std::size_t kReportFixed = 59;  // docs/protocol.md 16.3: up to the port states
constexpr std::size_t kMaxPortStates = Detector::kPortStatesMax;
static_assert(kMaxPortStates <= 255, "p is one byte (16.3)");

constexpr u16 kOk = apdu::to_u16(apdu::StatusWord::kOk);

}  // namespace

// The HTTP state of one session, in the card arena while the session runs.
struct AdminAgent::SessionRam {
  static constexpr std::size_t kHead = 512;
  static constexpr std::size_t kFrom = 40;
  http::ResponseParser parser;
  ScriptParser script;
  ResponseBuilder builder{MutableBytes()};
  std::array<u8, kHead> head{};
  std::array<u8, ResponseBuilder::kBufferSize> responses{};
  std::array<u8, 256> apdu_out{};
  std::array<u8, kReportFixed + kMaxPortStates> prefix{};
  std::array<u8, IncidentQueue::kRecordSize> record{};
  std::array<char, http::ResponseParser::kMaxNextUri> next_uri{};
  std::array<char, kFrom> from{};
  Bytes response_body;
  u32 head_length = 0, head_sent = 0;
  u32 body_length = 0, body_sent = 0;
  u16 prefix_length = 0;
  int cached_record = -1;
  u8 next_uri_length = 0;
  u8 from_length = 0;
  bool report = true;      // the request going out is the report (else the responses)
  bool stopped = false;    // the script stopped at an error status or the data budget
  bool head_checked = false;
};

std::size_t AdminAgent::session_ram() noexcept { return sizeof(SessionRam); }

const char* AdminAgent::state_name(State s) noexcept {
  switch (s) {
    case State::kOff: return "off";
    case State::kIdle: return "idle";
    case State::kOpening: return "opening";
    case State::kHandshake: return "handshake";
    case State::kSending: return "sending";
    case State::kAwaiting: return "awaiting";
    case State::kClosing: return "closing";
    case State::kRetryWait: return "retry-wait";
  }
  return "?";
}

const char* AdminAgent::failure_name(Failure f) noexcept {
  switch (f) {
    case Failure::kNone: return "none";
    case Failure::kLinkFailed: return "link-failed";
    case Failure::kLinkDropped: return "link-dropped";
    case Failure::kTimeout: return "timeout";
    case Failure::kBusy: return "no-channel";
    case Failure::kTls: return "tls";
    case Failure::kNoMemory: return "no-memory";
    case Failure::kNoCredentials: return "no-credentials";
    case Failure::kHttp: return "bad-http";
    case Failure::kStatus: return "bad-status";
    case Failure::kProtocol: return "bad-protocol";
    case Failure::kContentType: return "bad-content-type";
    case Failure::kNoNextUri: return "no-next-uri";
    case Failure::kTarget: return "bad-target";
    case Failure::kScript: return "bad-script";
  }
  return "?";
}

Result<u32, NvmError> AdminAgent::IncidentTap::append(Incident& incident) noexcept {
  auto r = queue_.append(incident);
  if (r.ok() && agent_.linked_ && agent_.link_.on_incident) agent_.trigger(Trigger::kIncident);
  return r;
}

// ---- the state machine ---------------------------------------------------------------------------

void AdminAgent::set_state(State next, const char* why) noexcept {
  if (ctx_ != nullptr) ctx_->trace()("admin %s -> %s (%s)", state_name(state_), state_name(next), why);
  state_ = next;
}

void AdminAgent::power_up(CardContext& ctx, tls::TlsAllocator* region, tls::CardRng& rng) noexcept {
  // The RAM of any session went with the power: forget it without running destructors.
  ctx_ = &ctx;
  region_ = region;
  rng_ = &rng;
  tls_ctx_ = nullptr;
  tls_ = nullptr;
  ram_ = nullptr;
  connection_ = 0xFF;
  retries_used_ = 0;
  pending_ = Trigger::kNone;
  purpose_ = Purpose::kNone;
  resume_ = false;
  ending_ = Failure::kNone;
  linked_ = load_admin_link(ctx.objects(), link_).ok() && link_.valid() && link_.enabled;
  state_ = State::kOff;
  if (!linked_) {
    ctx.trace()("admin: no enabled link: no sessions");
    return;
  }
  set_state(State::kIdle, "power-up");
  auto waiting = queue_.size();
  if (waiting.ok() && *waiting > 0) trigger(Trigger::kPowerUp);
  if (link_.period_seconds > 0) arm(Purpose::kPeriod, link_.period_seconds);
  // A pending trigger waits for the CAT session: the hook polls after the TERMINAL PROFILE.
}

void AdminAgent::trigger(Trigger t) noexcept {
  if (!linked_ || t == Trigger::kNone) return;
  if (pending_ == Trigger::kNone) pending_ = t;  // the first reason is the one reported
}

void AdminAgent::poll() noexcept {
  if (state_ != State::kIdle || pending_ == Trigger::kNone) return;
  const Trigger t = pending_;
  pending_ = Trigger::kNone;
  begin(t);
}

Status<CardError> AdminAgent::start_session(CardContext& ctx) noexcept {
  (void)ctx;
  if (!linked_) return fail(CardError::kConditionsNotSatisfied);
  trigger(Trigger::kAdmin);
  poll();
  if (waker_ != nullptr) waker_->wake();
  return {};
}

void AdminAgent::begin(Trigger t) noexcept {
  if (t != Trigger::kRetry) retries_used_ = 0;
  ClientChannelRequest request;
  request.address = link_.address;
  request.port = link_.port;
  request.buffer_size = link_.buffer_size;
  auto opened = channels_.open_client(request, *this);
  if (!opened.ok()) {
    switch (opened.error()) {
      case ClientError::kNotReady:
        // No CAT session (or no client mode) yet: asked again at the next poll, after the next
        // toolkit command (a TERMINAL PROFILE among them). No timer: a terminal without client
        // mode must not cost a timer expiry every few seconds.
        pending_ = t;
        if (state_ == State::kRetryWait) set_state(State::kIdle, "no CAT session for the retry");
        return;
      case ClientError::kBusy:
        current_ = t;
        ending_ = Failure::kBusy;
        finished();
        return;
      case ClientError::kInvalidArgument:
        break;
    }
    last_failure_ = Failure::kLinkFailed;
    ++failed_;
    set_state(State::kIdle, "the link settings were refused");
    return;
  }
  current_ = t;
  connection_ = *opened;
  ending_ = Failure::kNone;
  if (t == Trigger::kRetry) {
    ++retries_total_;
  } else {
    ++started_;
  }
  set_state(State::kOpening, t == Trigger::kRetry ? "retry" : "trigger");
  arm(Purpose::kInactivity, link_.inactivity_seconds);
}

void AdminAgent::end_session(Failure f) noexcept {
  if (state_ == State::kClosing) return;
  ending_ = f;
  if (ctx_ != nullptr) ctx_->trace()("admin: session ends: %s", failure_name(f));
  set_state(State::kClosing, failure_name(f));
}

void AdminAgent::finished() noexcept {
  disarm();
  const Failure f = ending_;
  ending_ = Failure::kNone;
  connection_ = 0xFF;
  if (f == Failure::kNone) {
    ++completed_;
    retries_used_ = 0;
    resume_ = false;
    set_state(State::kIdle, "session completed");
  } else if (is_breakdown(f)) {
    last_failure_ = f;
    if (retries_used_ < link_.retry_count) {
      ++retries_used_;
      resume_ = true;
      set_state(State::kRetryWait, failure_name(f));
      arm(Purpose::kRetry, link_.retry_delay_seconds);
      return;
    }
    ++failed_;
    resume_ = true;  // the next session still follows a breakdown
    set_state(State::kIdle, "retries exhausted");
  } else {
    last_failure_ = f;
    ++failed_;
    resume_ = false;
    set_state(State::kIdle, failure_name(f));
  }
  if (pending_ != Trigger::kNone) {
    poll();
  } else if (link_.period_seconds > 0) {
    arm(Purpose::kPeriod, link_.period_seconds);
  }
}

void AdminAgent::arm(Purpose p, u32 seconds) noexcept {
  purpose_ = p;
  if (!deadlines_.start(kSlot, seconds, *this)) purpose_ = Purpose::kNone;
}

void AdminAgent::disarm() noexcept {
  purpose_ = Purpose::kNone;
  deadlines_.stop(kSlot);
}

void AdminAgent::deadline_passed(u8 slot) noexcept {
  if (slot != kSlot) return;
  const Purpose p = purpose_;
  purpose_ = Purpose::kNone;
  switch (p) {
    case Purpose::kNone:
      return;
    case Purpose::kInactivity:
      if (state_ == State::kOpening || state_ == State::kHandshake || state_ == State::kSending || state_ == State::kAwaiting) {
        end_session(Failure::kTimeout);
        channels_.close_client(connection_);
      }
      return;
    case Purpose::kRetry:
      if (state_ == State::kRetryWait) begin(Trigger::kRetry);
      return;
    case Purpose::kPeriod:
      trigger(Trigger::kPeriod);
      poll();
      if (state_ == State::kIdle && link_.period_seconds > 0) arm(Purpose::kPeriod, link_.period_seconds);
      return;
  }
}

// ---- the channel (ClientEndpoint) -------------------------------------------------------------

bool AdminAgent::setup_tls() noexcept {
  if (region_ == nullptr || rng_ == nullptr || ctx_ == nullptr) {
    ending_ = Failure::kNoMemory;
    return false;
  }
  void* ram = ctx_->arena().allocate(sizeof(SessionRam));
  if (ram == nullptr) {
    ending_ = Failure::kNoMemory;
    return false;
  }
  ram_ = new (ram) SessionRam();
  ram_->builder = ResponseBuilder(MutableBytes(ram_->responses.data(), ram_->responses.size()));
  if (!read_iccid_digits()) {
    ending_ = Failure::kNoCredentials;
    return false;
  }
  AdminPsk psk;
  if (!load_admin_psk(ctx_->objects(), psk).ok() || !psk.valid()) {
    mbedtls_platform_zeroize(psk.key.data(), psk.key.size());
    ending_ = Failure::kNoCredentials;
    return false;
  }
  region_before_ = region_->in_use();
  static_assert(alignof(tls::TlsContext) <= tls::TlsAllocator::kAlignment && alignof(tls::TlsSession) <= tls::TlsAllocator::kAlignment);
  void* c = region_->allocate(sizeof(tls::TlsContext));
  if (c == nullptr) {
    mbedtls_platform_zeroize(psk.key.data(), psk.key.size());
    ending_ = Failure::kNoMemory;
    return false;
  }
  tls_ctx_ = new (c) tls::TlsContext(*region_);
  tls::ClientCredentials credentials;
  credentials.psk_identity = psk.identity_bytes();
  credentials.psk_key = psk.key_bytes();
  credentials.psk_only = true;
  credentials.suites = kAdminSuites;
  const auto init = tls_ctx_->init_client(credentials, *rng_);  // mbedTLS keeps its own copy of the key
  mbedtls_platform_zeroize(psk.key.data(), psk.key.size());
  if (!init.ok()) {
    ending_ = init.error() == tls::TlsError::kNoMemory ? Failure::kNoMemory : Failure::kNoCredentials;
    return false;
  }
  void* s = region_->allocate(sizeof(tls::TlsSession));
  if (s == nullptr) {
    ending_ = Failure::kNoMemory;
    return false;
  }
  tls_ = new (s) tls::TlsSession(*tls_ctx_, http_, connection_, ctx_->trace());
  if (!tls_->start()) {
    ending_ = Failure::kNoMemory;
    return false;
  }
  return true;
}

void AdminAgent::release() noexcept {
  if (tls_ != nullptr) {
    tls_->~TlsSession();
    region_->deallocate(tls_);
    tls_ = nullptr;
  }
  if (tls_ctx_ != nullptr) {
    tls_ctx_->~TlsContext();  // wipes the PSK copy (mbedtls_ssl_config_free)
    region_->deallocate(tls_ctx_);
    tls_ctx_ = nullptr;
  }
  if (ram_ != nullptr) {
    ram_->~SessionRam();
    ctx_->arena().deallocate(ram_);
    ram_ = nullptr;
  }
}

bool AdminAgent::open(std::size_t connection) noexcept {
  if (connection != connection_ || state_ != State::kOpening) return false;
  set_state(State::kHandshake, "channel established");
  if (setup_tls()) {
    arm(Purpose::kInactivity, link_.inactivity_seconds);
    return true;
  }
  // Refused: the toolkit drops the channel; no close() is owed for it.
  release();
  if (ctx_ != nullptr) ctx_->trace()("admin: session refused: %s", failure_name(ending_));
  state_ = State::kClosing;
  finished();
  return false;
}

std::size_t AdminAgent::receive(std::size_t connection, Bytes data) noexcept {
  if (connection != connection_ || tls_ == nullptr) return data.size();
  // A C-APDU the agent runs may call into the toolkit (SET PORT re-opens a port), which may offer
  // this channel's bytes again: the session takes them once the command has returned.
  if (in_command_) return 0;
  if (!data.empty() && state_ != State::kClosing) arm(Purpose::kInactivity, link_.inactivity_seconds);
  return tls_->receive(data);
}

std::size_t AdminAgent::send(std::size_t connection, MutableBytes out) noexcept {
  if (connection != connection_ || tls_ == nullptr || in_command_) return 0;
  return tls_->send(out);
}

bool AdminAgent::wants_close(std::size_t connection) const noexcept {
  if (connection != connection_) return false;
  if (tls_ != nullptr) return tls_->wants_close();
  return state_ == State::kClosing;
}

void AdminAgent::close(std::size_t connection) noexcept {
  if (connection != connection_ || state_ == State::kIdle || state_ == State::kOff || state_ == State::kRetryWait) return;
  if (state_ != State::kClosing) {
    // Not asked for: TLS failed, or the link went away under the session.
    const bool tls_failed = tls_ != nullptr && tls_->state() == tls::TlsSession::State::kFailed;
    ending_ = tls_failed ? Failure::kTls : Failure::kLinkDropped;
    if (ctx_ != nullptr) ctx_->trace()("admin: channel closed in %s: %s", state_name(state_), failure_name(ending_));
  }
  release();
  finished();
}

void AdminAgent::link_failed(std::size_t connection, LinkFailure why) noexcept {
  if (connection != connection_) return;
  if (ctx_ != nullptr) ctx_->trace()("admin: link not established: %s", describe(why));
  release();
  if (state_ != State::kClosing) ending_ = Failure::kLinkFailed;  // a timeout in kOpening stays a timeout
  finished();
}

// ---- HTTP over the TLS plaintext ---------------------------------------------------------------

bool AdminAgent::HttpSide::open(std::size_t) noexcept {
  AdminAgent& a = agent_;
  if (a.region_ != nullptr) a.last_tls_ram_ = a.region_->in_use() - a.region_before_;
  a.set_state(State::kSending, "TLS established");
  if (!a.start_report()) a.end_session(Failure::kNoMemory);
  return true;
}

std::size_t AdminAgent::HttpSide::receive(std::size_t, Bytes data) noexcept { return agent_.consume(data); }
std::size_t AdminAgent::HttpSide::send(std::size_t, MutableBytes out) noexcept { return agent_.produce(out); }
bool AdminAgent::HttpSide::wants_close(std::size_t) const noexcept { return agent_.state_ == State::kClosing; }
void AdminAgent::HttpSide::close(std::size_t) noexcept {}

bool AdminAgent::read_iccid_digits() noexcept {
  std::array<u8, UiccFiles::kIccidSize> iccid{};
  SessionRam& r = *ram_;
  std::memcpy(r.from.data(), kFromPrefix.data(), kFromPrefix.size());
  std::size_t n = kFromPrefix.size();
  if (!ctx_->objects().read(UiccFiles::kObjectEfIccid, 0, MutableBytes(iccid.data(), iccid.size())).ok()) return false;
  // TS 102 221 13.2: BCD with the nibbles of each byte swapped; F pads.
  for (u8 b : iccid) {
    for (u8 nibble : {static_cast<u8>(b & 0x0F), static_cast<u8>(b >> 4)}) {
      if (nibble > 9) {
        r.from_length = static_cast<u8>(n);
        return n > kFromPrefix.size();
      }
      r.from[n++] = static_cast<char>('0' + nibble);
    }
  }
  r.from_length = static_cast<u8>(n);
  return true;
}

u16 AdminAgent::execute(const apdu::CommandApdu& c, MutableBytes out, std::size_t& length) noexcept {
  length = 0;
  ApduRequest request{c, 0, out};
  ctx_->set_admin_session(true);
  in_command_ = true;
  auto r = admin_.process(*ctx_, request);
  in_command_ = false;
  ctx_->set_admin_session(false);
  if (ctx_->nvm().in_transaction()) (void)ctx_->nvm().abort();  // as the card OS does after an applet
  if (!r.ok()) return apdu::to_u16(to_status_word(r.error()));
  switch (r->completion) {
    case Completion::kNormal:
      length = std::min(r->length, out.size());
      if (c.has_le && length > c.ne) length = c.ne;  // ISO/IEC 7816-4 5.1: at most Ne bytes
      return apdu::to_u16(apdu::StatusWord::kOk);
    case Completion::kEndOfFile:
      length = std::min(r->length, out.size());
      return apdu::to_u16(apdu::StatusWord::kWarningEndOfFile);
    case Completion::kWrongLe:
      return apdu::with_length(apdu::StatusWord::kWrongLe, static_cast<u8>(r->length));
    case Completion::kRetriesLeft:
      return apdu::with_retries(apdu::StatusWord::kVerificationFailed, static_cast<u8>(r->length));
  }
  return apdu::to_u16(apdu::StatusWord::kTechnicalProblem);
}

u16 AdminAgent::read_command(u8 ins, u8 p1, MutableBytes out, std::size_t& length) noexcept {
  const u8 raw[] = {0x80, ins, p1, 0x00, 0x00};  // Le 00: up to 256 bytes
  auto c = apdu::parse_command_apdu(Bytes(raw, sizeof raw));
  length = 0;
  if (!c.ok()) return apdu::to_u16(apdu::StatusWord::kTechnicalProblem);
  u8 scratch[256];
  const u16 sw = execute(*c, MutableBytes(scratch, sizeof scratch), length);
  if (length > out.size()) return apdu::to_u16(apdu::StatusWord::kWrongLength);
  std::memcpy(out.data(), scratch, length);
  return sw;
}

bool AdminAgent::start_report() noexcept {
  SessionRam& r = *ram_;
  r.report = true;
  u8* p = r.prefix.data();
  p[0] = 0x01;
  p[1] = static_cast<u8>(current_);
  std::size_t length = 0;
  if (read_command(AdminApplet::kInsQueueSummary, 0, MutableBytes(p + 4, 20), length) != kOk || length != 20) return false;
  const u8 count = p[5];
  p[2] = 0;
  p[3] = count;
  if (read_command(AdminApplet::kInsReadSettings, 0, MutableBytes(p + 24, 34), length) != kOk || length != 34)
    std::memset(p + 24, 0, 34);
  if (read_command(AdminApplet::kInsReadPortStates, 0, MutableBytes(p + kReportFixed, kMaxPortStates), length) != kOk)
    length = 0;
  p[58] = static_cast<u8>(length);
  r.prefix_length = static_cast<u16>(kReportFixed + length);
  r.cached_record = -1;
  r.body_length = static_cast<u32>(r.prefix_length + IncidentQueue::kRecordSize * count);
  return write_head(true, r.body_length);
}

bool AdminAgent::start_responses() noexcept {
  SessionRam& r = *ram_;
  r.report = false;
  r.response_body = r.builder.finish();
  r.body_length = static_cast<u32>(r.response_body.size());
  return write_head(false, r.body_length);
}

bool AdminAgent::write_head(bool report, u32 content_length) noexcept {
  SessionRam& r = *ram_;
  http::FieldLine fields[4];
  std::size_t n = 0;
  fields[n++] = {"X-Admin-Protocol", kProtocol};
  fields[n++] = {"X-Admin-From", std::string_view(r.from.data(), r.from_length)};
  if (report && resume_) fields[n++] = {"X-Admin-Resume", "true"};
  if (!report) fields[n++] = {"X-Admin-Script-Status", "ok"};
  http::RequestHeadSpec spec;
  spec.target = report ? link_.uri_view() : std::string_view(r.next_uri.data(), r.next_uri_length);
  spec.host = link_.host_view();
  spec.fields = std::span<const http::FieldLine>(fields, n);
  spec.content_type = report ? kReportType : kResponseType;
  spec.content_length = content_length;
  r.head_length = static_cast<u32>(http::write_request_head(spec, MutableBytes(r.head.data(), r.head.size())));
  r.head_sent = 0;
  r.body_sent = 0;
  set_state(State::kSending, report ? "report" : "responses");
  return r.head_length != 0;
}

std::size_t AdminAgent::body_bytes(u32 offset, MutableBytes out) noexcept {
  SessionRam& r = *ram_;
  if (!r.report) {
    const std::size_t n = std::min<std::size_t>(out.size(), r.body_length - offset);
    std::memcpy(out.data(), r.response_body.data() + offset, n);
    return n;
  }
  if (offset < r.prefix_length) {
    const std::size_t n = std::min<std::size_t>(out.size(), r.prefix_length - offset);
    std::memcpy(out.data(), r.prefix.data() + offset, n);
    return n;
  }
  // The records, streamed from NVM one at a time through READ INCIDENT (16.3).
  const u32 at = offset - r.prefix_length;
  const int index = static_cast<int>(at / IncidentQueue::kRecordSize);
  const u32 within = at % IncidentQueue::kRecordSize;
  if (r.cached_record != index) {
    std::size_t length = 0;
    if (read_command(AdminApplet::kInsReadIncident, static_cast<u8>(index), MutableBytes(r.record.data(), r.record.size()),
                     length) != kOk ||
        length != IncidentQueue::kRecordSize) {
      // The queue changed under the report (it cannot shrink: only our ACKNOWLEDGE removes
      // incidents); zeros keep the framing and fail the record's CRC at the server.
      r.record.fill(0);
    }
    r.cached_record = index;
  }
  const std::size_t n = std::min<std::size_t>(out.size(), IncidentQueue::kRecordSize - within);
  std::memcpy(out.data(), r.record.data() + within, n);
  return n;
}

std::size_t AdminAgent::produce(MutableBytes out) noexcept {
  if (state_ != State::kSending || ram_ == nullptr) return 0;
  SessionRam& r = *ram_;
  std::size_t n = 0;
  if (r.head_sent < r.head_length) {
    const std::size_t k = std::min<std::size_t>(out.size(), r.head_length - r.head_sent);
    std::memcpy(out.data(), r.head.data() + r.head_sent, k);
    r.head_sent += static_cast<u32>(k);
    n += k;
  }
  while (n < out.size() && r.head_sent == r.head_length && r.body_sent < r.body_length) {
    const std::size_t k = body_bytes(r.body_sent, out.subspan(n));
    r.body_sent += static_cast<u32>(k);
    n += k;
  }
  if (r.head_sent == r.head_length && r.body_sent == r.body_length) {
    // The request is out: wait for the answer.
    r.parser.reset();
    r.script.reset();
    r.builder = ResponseBuilder(MutableBytes(r.responses.data(), r.responses.size()));
    r.stopped = false;
    r.head_checked = false;
    set_state(State::kAwaiting, "request sent");
    arm(Purpose::kInactivity, link_.inactivity_seconds);
  }
  return n;
}

std::size_t AdminAgent::consume(Bytes data) noexcept {
  if (state_ != State::kAwaiting || ram_ == nullptr) return data.size();  // nothing expected: dropped
  SessionRam& r = *ram_;
  std::size_t used = 0;
  u8 body[128];
  while (used < data.size() && state_ == State::kAwaiting) {
    auto p = r.parser.feed(data.subspan(used), MutableBytes(body, sizeof body));
    if (!p.ok()) {
      if (ctx_ != nullptr) ctx_->trace()("admin: answer: %s", http::describe(p.error()));
      end_session(Failure::kHttp);
      break;
    }
    used += p->consumed;
    if (p->head_done && !r.head_checked) {
      r.head_checked = true;
      if (!check_head()) break;
    }
    if (p->produced > 0 && !on_body(Bytes(body, p->produced))) break;
    if (p->done) {
      answer_done();
      break;
    }
    if (p->consumed == 0 && p->produced == 0) break;
  }
  return state_ == State::kAwaiting ? used : data.size();
}

AdminAgent::Failure AdminAgent::classify_head(const http::ResponseParser& p) noexcept {
  const u16 status = p.status();
  if (status != 200 && status != 204) return Failure::kStatus;
  if (!p.admin_protocol().present || !http::iequals(p.admin_protocol().view(), kProtocol)) return Failure::kProtocol;
  if (status == 204) return Failure::kNone;  // the session ends once the answer is read
  if (!p.content_type().present || !http::iequals(p.content_type().view(), kScriptType)) return Failure::kContentType;
  const std::string_view next = p.next_uri().view();
  if (!p.next_uri().present || next.empty() || next.front() != '/') return Failure::kNoNextUri;
  if (p.targeted_application().present && p.targeted_application().view() != kAdminTarget) return Failure::kTarget;
  return Failure::kNone;
}

bool AdminAgent::check_head() noexcept {
  const http::ResponseParser& p = ram_->parser;
  const Failure f = classify_head(p);
  if (f != Failure::kNone) {
    if (ctx_ != nullptr) ctx_->trace()("admin: server answered %u: %s", p.status(), failure_name(f));
    end_session(f);
    return false;
  }
  if (p.status() == 204) return true;
  const std::string_view next = p.next_uri().view();
  std::memcpy(ram_->next_uri.data(), next.data(), next.size());
  ram_->next_uri_length = static_cast<u8>(next.size());
  return true;
}

bool AdminAgent::on_body(Bytes body) noexcept {
  SessionRam& r = *ram_;
  while (!body.empty() && state_ == State::kAwaiting) {
    auto s = r.script.feed(body);
    if (!s.ok()) {
      if (ctx_ != nullptr) ctx_->trace()("admin: script: %s", describe(s.error()));
      end_session(Failure::kScript);
      return false;
    }
    body = body.subspan(s->consumed);
    if (!s->apdu.empty()) run_apdu(s->apdu);
    if (s->consumed == 0) break;
  }
  return state_ == State::kAwaiting;
}

void AdminAgent::run_apdu(Bytes raw) noexcept {
  SessionRam& r = *ram_;
  auto c = apdu::parse_command_apdu(raw);
  if (!c.ok() || c->extended) {  // 16.4: each C-APDU a short APDU
    end_session(Failure::kScript);
    return;
  }
  if (r.stopped) return;  // TS 102 226 5.2.2: the commands after an error are not executed
  std::size_t length = 0;
  const u16 sw = execute(*c, MutableBytes(r.apdu_out.data(), r.apdu_out.size()), length);
  ++commands_;
  if (!r.builder.add(Bytes(r.apdu_out.data(), length), sw) || !apdu::script_goes_on(sw)) r.stopped = true;
}

bool AdminAgent::answer_done() noexcept {
  if (ram_->parser.status() == 204) {
    end_session(Failure::kNone);
    return true;
  }
  auto f = ram_->script.finish();
  if (!f.ok()) {
    end_session(Failure::kScript);
    return false;
  }
  if (!start_responses()) {
    end_session(Failure::kNoMemory);
    return false;
  }
  return true;
}

}  // namespace scws::card
