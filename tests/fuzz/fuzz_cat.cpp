// Fuzz target: the CAT message parsers (TS 102 223): proactive command, TERMINAL RESPONSE, ENVELOPE
// and TERMINAL PROFILE, each fed the whole input. What parses must build; what builds must parse back
// to a message that builds to the same bytes (the builder's output is canonical); an error must
// classify as 31, 32 or 36. The re-parsed message equals the first parse field by field.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "apdu/envelope.hpp"
#include "apdu/proactive_command.hpp"
#include "apdu/terminal_profile.hpp"
#include "apdu/terminal_response.hpp"

using namespace scws;
using namespace scws::apdu;
using namespace scws::apdu::cat;

namespace {

u8 first[70000];  // larger than anything a parsed message re-encodes to
u8 second[70000];

void same_or_trap(std::size_t a, std::size_t b) {
  if (a != b || std::memcmp(first, second, a) != 0) __builtin_trap();
}

void inside_or_trap(Bytes part, const std::uint8_t* data, std::size_t size) {
  if (part.empty()) return;
  if (part.data() < data || part.data() + part.size() > data + size) __builtin_trap();
}

// Field-by-field equality of two parses: a builder that dropped or altered a field would still
// be byte-idempotent, so the first parse is compared with the parse of its re-encoding.
bool same(Bytes a, Bytes b) { return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0); }
bool same(const OptionalBytes& a, const OptionalBytes& b) { return a.present == b.present && same(a.value, b.value); }
bool same(const OtherAddress& a, const OtherAddress& b) {
  return a.present == b.present && (a.address.empty() || a.type == b.type) && same(a.address, b.address);
}
bool same(const TimerValue& a, const TimerValue& b) {
  return a.hours == b.hours && a.minutes == b.minutes && a.seconds == b.seconds;
}
bool same(const DateTimeZone& a, const DateTimeZone& b) {
  return a.year == b.year && a.month == b.month && a.day == b.day && a.hour == b.hour && a.minute == b.minute &&
         a.second == b.second && a.zone_known == b.zone_known && (!a.zone_known || a.zone_quarters == b.zone_quarters);
}
bool same(const CommandDetails& a, const CommandDetails& b) {
  return a.number == b.number && a.type == b.type && a.qualifier == b.qualifier;
}
bool same(const DeviceIdentities& a, const DeviceIdentities& b) {
  return a.source == b.source && a.destination == b.destination;
}

bool same(const ProactiveCommand& a, const ProactiveCommand& b) {
  const OpenChannelParams& x = a.open_channel;
  const OpenChannelParams& y = b.open_channel;
  return same(a.details, b.details) && same(a.devices, b.devices) && same(a.alpha_identifier, b.alpha_identifier) &&
         same(a.icon_identifier, b.icon_identifier) && same(a.text_attribute, b.text_attribute) &&
         same(a.frame_identifier, b.frame_identifier) && same(a.events, b.events) &&
         same(x.bearer_description, y.bearer_description) && x.buffer_size == y.buffer_size &&
         same(x.network_access_name, y.network_access_name) && same(x.local_address, y.local_address) &&
         same(x.login, y.login) && same(x.password, y.password) &&
         x.has_transport_level == y.has_transport_level &&
         x.transport_level.protocol == y.transport_level.protocol && x.transport_level.port == y.transport_level.port &&
         same(x.destination, y.destination) && a.channel_data_length == b.channel_data_length &&
         same(a.channel_data, b.channel_data) && a.timer_id == b.timer_id && a.has_timer_value == b.has_timer_value &&
         same(a.timer_value, b.timer_value) && same(a.text_string, b.text_string) &&
         a.immediate_response == b.immediate_response && same(a.duration, b.duration) && same(a.address, b.address) &&
         same(a.sms_tpdu, b.sms_tpdu) && a.cr == b.cr;
}

bool same(const TerminalResponse& a, const TerminalResponse& b) {
  if (!same(a.details, b.details) || !same(a.devices, b.devices) || a.result.general != b.result.general ||
      !same(Bytes(a.result.additional, a.result.additional_size), Bytes(b.result.additional, b.result.additional_size)) ||
      a.channel_status_count != b.channel_status_count)
    return false;
  for (u8 i = 0; i < a.channel_status_count; ++i)
    if (a.channel_status[i].status != b.channel_status[i].status || a.channel_status[i].info != b.channel_status[i].info)
      return false;
  if (a.has_duration != b.has_duration ||
      (a.has_duration && (a.duration.unit != b.duration.unit || a.duration.interval != b.duration.interval)) ||
      a.has_date_time != b.has_date_time || (a.has_date_time && !same(a.date_time, b.date_time)))
    return false;
  return same(a.bearer_description, b.bearer_description) && a.has_buffer_size == b.has_buffer_size &&
         a.buffer_size == b.buffer_size && same(a.local_address, b.local_address) &&
         same(a.channel_data, b.channel_data) && a.has_channel_data_length == b.has_channel_data_length &&
         a.channel_data_length == b.channel_data_length && a.has_timer_id == b.has_timer_id &&
         a.timer_id == b.timer_id && a.has_timer_value == b.has_timer_value && same(a.timer_value, b.timer_value) &&
         a.cr == b.cr;
}

bool same(const Envelope& a, const Envelope& b) {
  return a.type == b.type && same(a.devices, b.devices) && a.event == b.event &&
         a.has_channel_status == b.has_channel_status && a.channel_status.status == b.channel_status.status &&
         a.channel_status.info == b.channel_status.info && a.has_channel_data_length == b.has_channel_data_length &&
         a.channel_data_length == b.channel_data_length && a.timer_id == b.timer_id &&
         same(a.timer_value, b.timer_value) && same(a.address, b.address) && same(a.sms_tpdu, b.sms_tpdu) &&
         a.cr == b.cr;
}

void check_error(CatError e) {
  const GeneralResult g = general_result_for(e);
  if (g != GeneralResult::kTypeNotUnderstood && g != GeneralResult::kDataNotUnderstood &&
      g != GeneralResult::kRequiredValuesMissing)
    __builtin_trap();
  if (kind_of(e) == CatErrorKind::kEncoding) __builtin_trap();  // parsers never report builder errors
  (void)describe(e);
}

void proactive(Bytes in, const std::uint8_t* data, std::size_t size) {
  auto c = parse_proactive_command(in);
  if (!c.ok()) {
    check_error(c.error());
    return;
  }
  if (!peek_command_details(in).ok()) __builtin_trap();
  inside_or_trap(c->channel_data, data, size);
  inside_or_trap(c->events, data, size);
  inside_or_trap(c->open_channel.destination.address, data, size);
  auto n = build_proactive_command(*c, first);
  if (!n.ok()) {
    if (n.error() != CatError::kTooLong) __builtin_trap();  // only a long input may not fit 255 bytes
    return;
  }
  auto again = parse_proactive_command(Bytes(first, *n));
  if (!again.ok() || !same(*c, *again)) __builtin_trap();
  auto m = build_proactive_command(*again, second);
  if (!m.ok()) __builtin_trap();
  same_or_trap(*n, *m);
}

void terminal_response(Bytes in, const std::uint8_t* data, std::size_t size) {
  auto r = parse_terminal_response(in);
  if (!r.ok()) {
    check_error(r.error());
    return;
  }
  inside_or_trap(r->channel_data.value, data, size);
  auto n = build_terminal_response(*r, first);
  if (!n.ok()) {
    if (n.error() != CatError::kTooLong) __builtin_trap();
    return;
  }
  auto again = parse_terminal_response(Bytes(first, *n));
  if (!again.ok() || !same(*r, *again)) __builtin_trap();
  auto m = build_terminal_response(*again, second);
  if (!m.ok()) __builtin_trap();
  same_or_trap(*n, *m);
}

void envelope(Bytes in, const std::uint8_t* data, std::size_t size) {
  auto e = parse_envelope(in);
  if (!e.ok()) {
    check_error(e.error());
    return;
  }
  inside_or_trap(e->sms_tpdu, data, size);
  inside_or_trap(e->address.value, data, size);
  auto n = build_envelope(*e, first);
  if (!n.ok()) {
    if (n.error() != CatError::kTooLong) __builtin_trap();
    return;
  }
  auto again = parse_envelope(Bytes(first, *n));
  if (!again.ok() || !same(*e, *again)) __builtin_trap();
  auto m = build_envelope(*again, second);
  if (!m.ok()) __builtin_trap();
  same_or_trap(*n, *m);
}

void profile(Bytes in) {
  const TerminalProfile p = parse_terminal_profile(in);
  auto n = build_terminal_profile(p, first);
  if (!n.ok()) __builtin_trap();
  auto m = build_terminal_profile(parse_terminal_profile(Bytes(first, *n)), second);
  if (!m.ok()) __builtin_trap();
  same_or_trap(*n, *m);
  (void)supports_bip_server_mode(p);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const Bytes in(data, size);
  proactive(in, data, size);
  terminal_response(in, data, size);
  envelope(in, data, size);
  profile(in);
  return 0;
}
