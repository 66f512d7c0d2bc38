#include "apdu/terminal_response.hpp"

#include "apdu/cat_codec.hpp"

namespace scws::apdu::cat {

CrFlags terminal_response_cr(CommandType type) noexcept {
  CrFlags cr = kTerminalResponseCr;
  // 1.13 and oFono open_channel_response_211 send 38 without CR after OPEN CHANNEL.
  if (type == CommandType::kOpenChannel) cr.set(tag::kChannelStatus, false);
  return cr;
}

TerminalResponse make_terminal_response(const CommandDetails& details, ResultValue result) noexcept {
  TerminalResponse r;
  r.details = details;
  r.result = result;
  r.cr = terminal_response_cr(details.type);
  return r;
}

namespace {

// The BIP and timer objects a terminal response may carry (TS 102 223 6.8); false for any other tag.
Result<bool, CatError> read_optional_object(TerminalResponse& r, const ComprehensionTlv& t) noexcept {
  const Bytes v = t.value;
  switch (t.tag) {
    case tag::kBearerDescription:
      if (v.empty()) return fail(CatError::kBadBearerDescription);
      r.bearer_description = some(v);
      return true;
    case tag::kBufferSize: {
      auto n = detail::read_u16(v, CatError::kBadBufferSize);
      if (!n) return fail(n.error());
      r.has_buffer_size = true;
      r.buffer_size = *n;
      return true;
    }
    case tag::kOtherAddress: {
      auto a = detail::read_other_address(v);
      if (!a) return fail(a.error());
      r.local_address = *a;
      return true;
    }
    case tag::kChannelData:
      r.channel_data = some(v);
      return true;
    case tag::kChannelDataLength: {
      auto n = detail::read_u8(v, CatError::kBadChannelDataLength);
      if (!n) return fail(n.error());
      r.has_channel_data_length = true;
      r.channel_data_length = *n;
      return true;
    }
    case tag::kTimerIdentifier: {
      auto id = detail::read_timer_id(v);
      if (!id) return fail(id.error());
      r.has_timer_id = true;
      r.timer_id = *id;
      return true;
    }
    case tag::kTimerValue: {
      auto tv = decode_timer_value(v);
      if (!tv) return fail(tv.error());
      r.has_timer_value = true;
      r.timer_value = *tv;
      return true;
    }
    case tag::kDuration: {
      auto d = decode_duration(v);
      if (!d) return fail(d.error());
      r.has_duration = true;
      r.duration = *d;
      return true;
    }
    case tag::kDateTimeAndTimeZone: {
      auto dt = decode_date_time(v);
      if (!dt) return fail(dt.error());
      r.has_date_time = true;
      r.date_time = *dt;
      return true;
    }
    default:
      return false;
  }
}

// Reads one object into r; false when the tag is not one a terminal response carries.
Result<bool, CatError> read_object(TerminalResponse& r, const ComprehensionTlv& t) noexcept {
  const Bytes v = t.value;
  switch (t.tag) {
    case tag::kCommandDetails: {
      auto d = detail::read_command_details(v);
      if (!d) return fail(d.error());
      r.details = *d;
      return true;
    }
    case tag::kDeviceIdentities: {
      auto d = detail::read_device_identities(v);
      if (!d) return fail(d.error());
      r.devices = *d;
      return true;
    }
    case tag::kResult: {
      auto res = detail::read_result(v);
      if (!res) return fail(res.error());
      r.result = *res;
      return true;
    }
    case tag::kChannelStatus: {
      auto s = detail::read_channel_status(v);
      if (!s) return fail(s.error());
      if (r.channel_status_count == kMaxChannels) return fail(CatError::kBadChannelStatus);
      r.channel_status[r.channel_status_count++] = *s;
      return true;
    }
    default:
      return read_optional_object(r, t);
  }
}

}  // namespace

Result<TerminalResponse, CatError> parse_terminal_response(Bytes data) noexcept {
  SCWS_TRY(detail::check_framing(data));
  TerminalResponse r;
  r.cr = CrFlags{};
  detail::Seen seen;
  ComprehensionTlvReader reader(data);
  ComprehensionTlv t;
  while (reader.next(t)) {
    auto known = read_object(r, t);
    if (!known) return fail(known.error());
    if (!*known) {
      r.skipped_unknown = true;
      continue;
    }
    const bool repeats = t.tag == tag::kChannelStatus;
    if (!repeats && seen.has(t.tag)) return fail(CatError::kDuplicateTlv);
    seen.set(t.tag);
    if (t.cr) r.cr.set(t.tag, true);
  }
  if (!seen.has(tag::kCommandDetails)) return fail(CatError::kMissingCommandDetails);
  if (!seen.has(tag::kDeviceIdentities)) return fail(CatError::kMissingDeviceIdentities);
  if (!seen.has(tag::kResult)) return fail(CatError::kMissingResult);
  // TS 102 223 6.8: a terminal response goes from the terminal to the UICC.
  if (r.devices.source != device::kTerminal || r.devices.destination != device::kUicc)
    return fail(CatError::kBadDeviceIdentities);
  return r;
}

Result<std::size_t, CatError> build_terminal_response(const TerminalResponse& r, MutableBytes out) noexcept {
  if (r.channel_status_count > kMaxChannels || r.result.additional_size > kMaxAdditionalInfo)
    return fail(CatError::kInvalidArgument);
  TlvWriter w(out);
  detail::Emitter e(w, r.cr);
  e.command_details(r.details);
  e.device_identities(r.devices);
  e.result(r.result);
  if (r.has_duration) SCWS_TRY(e.duration(r.duration));
  if (r.has_date_time) SCWS_TRY(e.date_time(r.date_time));
  for (u8 i = 0; i < r.channel_status_count; ++i) e.channel_status(r.channel_status[i]);
  e.optional(tag::kBearerDescription, r.bearer_description);
  if (r.has_buffer_size) e.u16_object(tag::kBufferSize, r.buffer_size);
  e.other_address(r.local_address);
  e.optional(tag::kChannelData, r.channel_data);
  if (r.has_channel_data_length) e.u8_object(tag::kChannelDataLength, r.channel_data_length);
  if (r.has_timer_id) e.u8_object(tag::kTimerIdentifier, r.timer_id);
  if (r.has_timer_value) SCWS_TRY(e.timer_value(r.timer_value));
  if (!w.ok()) return fail(from_tlv_error(w.error()));
  if (w.size() > kMaxTerminalResponseSize) return fail(CatError::kTooLong);
  return w.size();
}

}  // namespace scws::apdu::cat
