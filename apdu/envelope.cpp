#include "apdu/envelope.hpp"

#include "apdu/cat_codec.hpp"

namespace scws::apdu::cat {

namespace {

// Tags each envelope type reads; anything else is skipped.
bool reads(EnvelopeType type, u16 t) noexcept {
  switch (type) {
    case EnvelopeType::kEventDownload:
      return t == tag::kEventList || t == tag::kDeviceIdentities || t == tag::kChannelStatus ||
             t == tag::kChannelDataLength;
    case EnvelopeType::kTimerExpiration:
      return t == tag::kDeviceIdentities || t == tag::kTimerIdentifier || t == tag::kTimerValue;
    case EnvelopeType::kSmsPpDownload:
      return t == tag::kDeviceIdentities || t == tag::kAddress || t == tag::kSmsTpdu;
  }
  return false;
}

Status<CatError> read_object(Envelope& e, const ComprehensionTlv& t) noexcept {
  const Bytes v = t.value;
  switch (t.tag) {
    case tag::kEventList:
      if (v.size() != 1) return fail(CatError::kBadEventList);  // TS 102 223 7.5: one event
      e.event = static_cast<Event>(v[0]);
      return {};
    case tag::kDeviceIdentities: {
      auto d = detail::read_device_identities(v);
      if (!d) return fail(d.error());
      e.devices = *d;
      return {};
    }
    case tag::kChannelStatus: {
      auto s = detail::read_channel_status(v);
      if (!s) return fail(s.error());
      e.has_channel_status = true;
      e.channel_status = *s;
      return {};
    }
    case tag::kChannelDataLength: {
      auto n = detail::read_u8(v, CatError::kBadChannelDataLength);
      if (!n) return fail(n.error());
      e.has_channel_data_length = true;
      e.channel_data_length = *n;
      return {};
    }
    case tag::kTimerIdentifier: {
      auto id = detail::read_timer_id(v);
      if (!id) return fail(id.error());
      e.timer_id = *id;
      return {};
    }
    case tag::kTimerValue: {
      auto tv = decode_timer_value(v);
      if (!tv) return fail(tv.error());
      e.timer_value = *tv;
      return {};
    }
    case tag::kAddress:
      e.address = some(v);
      return {};
    case tag::kSmsTpdu:
      e.sms_tpdu = v;
      return {};
    default:
      return fail(CatError::kUnknownRequiredTlv);  // reads() let through a tag read_object lacks
  }
}

Status<CatError> check_complete(const Envelope& e, const detail::Seen& seen) noexcept {
  if (!seen.has(tag::kDeviceIdentities)) return fail(CatError::kMissingDeviceIdentities);
  if (e.devices.destination != device::kUicc) return fail(CatError::kBadDeviceIdentities);
  switch (e.type) {
    case EnvelopeType::kEventDownload:
      if (!seen.has(tag::kEventList)) return fail(CatError::kMissingEventList);
      if (e.event == Event::kDataAvailable && !e.has_channel_data_length)
        return fail(CatError::kMissingChannelDataLength);
      if ((e.event == Event::kDataAvailable || e.event == Event::kChannelStatus) && !e.has_channel_status)
        return fail(CatError::kMissingChannelStatus);
      return {};
    case EnvelopeType::kTimerExpiration:
      if (!seen.has(tag::kTimerIdentifier)) return fail(CatError::kMissingTimerIdentifier);
      if (!seen.has(tag::kTimerValue)) return fail(CatError::kMissingTimerValue);
      return {};
    case EnvelopeType::kSmsPpDownload:
      if (!seen.has(tag::kSmsTpdu)) return fail(CatError::kMissingSmsTpdu);
      return {};
  }
  return {};
}

}  // namespace

Result<Envelope, CatError> parse_envelope(Bytes data) noexcept {
  auto outer = parse_single_ber_tlv(data);
  if (!outer) return fail(from_tlv_error(outer.error()));
  Envelope e;
  switch (outer->tag) {
    case ber_tag::kEventDownload:
    case ber_tag::kTimerExpiration:
    case ber_tag::kSmsPpDownload:
      e.type = static_cast<EnvelopeType>(outer->tag);
      break;
    default:
      return fail(CatError::kWrongOuterTag);
  }
  SCWS_TRY(detail::check_framing(outer->value));
  e.cr = CrFlags{};
  detail::Seen seen;
  ComprehensionTlvReader r(outer->value);
  ComprehensionTlv t;
  while (r.next(t)) {
    if (!reads(e.type, t.tag)) {
      e.skipped_unknown = true;
      continue;
    }
    if (seen.has(t.tag)) return fail(CatError::kDuplicateTlv);
    seen.set(t.tag);
    if (t.cr) e.cr.set(t.tag, true);
    SCWS_TRY(read_object(e, t));
  }
  SCWS_TRY(check_complete(e, seen));
  return e;
}

Result<std::size_t, CatError> build_envelope(const Envelope& env, MutableBytes out) noexcept {
  // tag + 81 LL + at most 252 value bytes = 255.
  constexpr std::size_t kMaxBody = kMaxEnvelopeSize - 3;
  TlvWriter w(out);
  const TlvWriter::Mark m = w.begin_ber(static_cast<u8>(env.type), kMaxBody);
  detail::Emitter e(w, env.cr);
  switch (env.type) {
    case EnvelopeType::kEventDownload:
      e.u8_object(tag::kEventList, static_cast<u8>(env.event));
      e.device_identities(env.devices);
      if (env.has_channel_status) e.channel_status(env.channel_status);
      if (env.has_channel_data_length) e.u8_object(tag::kChannelDataLength, env.channel_data_length);
      break;
    case EnvelopeType::kTimerExpiration:
      e.device_identities(env.devices);
      e.u8_object(tag::kTimerIdentifier, env.timer_id);
      SCWS_TRY(e.timer_value(env.timer_value));
      break;
    case EnvelopeType::kSmsPpDownload:
      e.device_identities(env.devices);
      e.optional(tag::kAddress, env.address);
      e.object(tag::kSmsTpdu, env.sms_tpdu);
      break;
  }
  w.end(m);
  if (!w.ok()) return fail(from_tlv_error(w.error()));
  return w.size();
}

Envelope make_data_available(ChannelStatus status, u8 length) noexcept {
  Envelope e;
  e.type = EnvelopeType::kEventDownload;
  e.event = Event::kDataAvailable;
  e.has_channel_status = true;
  e.channel_status = status;
  e.has_channel_data_length = true;
  e.channel_data_length = length;
  return e;
}

Envelope make_channel_status_event(ChannelStatus status) noexcept {
  Envelope e;
  e.type = EnvelopeType::kEventDownload;
  e.event = Event::kChannelStatus;
  e.has_channel_status = true;
  e.channel_status = status;
  return e;
}

Envelope make_timer_expiration(u8 timer_id, TimerValue value) noexcept {
  Envelope e;
  e.type = EnvelopeType::kTimerExpiration;
  e.timer_id = timer_id;
  e.timer_value = value;
  return e;
}

Envelope make_sms_pp_download(OptionalBytes address, Bytes sms_tpdu) noexcept {
  Envelope e;
  e.type = EnvelopeType::kSmsPpDownload;
  e.devices = DeviceIdentities{device::kNetwork, device::kUicc};
  e.address = address;
  e.sms_tpdu = sms_tpdu;
  return e;
}

}  // namespace scws::apdu::cat
