#include "apdu/cat.hpp"

#include "apdu/cat_codec.hpp"

namespace scws::apdu::cat {

CatErrorKind kind_of(CatError e) noexcept {
  switch (e) {
    case CatError::kUnknownCommandType:
      return CatErrorKind::kTypeNotUnderstood;
    case CatError::kMalformedTlv:
    case CatError::kWrongOuterTag:
    case CatError::kTrailingBytes:
    case CatError::kUnknownRequiredTlv:
    case CatError::kDuplicateTlv:
    case CatError::kBadCommandDetails:
    case CatError::kBadQualifier:
    case CatError::kBadDeviceIdentities:
    case CatError::kBadResult:
    case CatError::kBadEventList:
    case CatError::kBadIconIdentifier:
    case CatError::kBadDuration:
    case CatError::kBadBearerDescription:
    case CatError::kBadBufferSize:
    case CatError::kBadTransportLevel:
    case CatError::kBadOtherAddress:
    case CatError::kBadChannelDataLength:
    case CatError::kBadChannelStatus:
    case CatError::kBadTimerIdentifier:
    case CatError::kBadTimerValue:
    case CatError::kBadImmediateResponse:
    case CatError::kBadDateTime:
      return CatErrorKind::kDataNotUnderstood;
    case CatError::kMissingCommandDetails:
    case CatError::kMissingDeviceIdentities:
    case CatError::kMissingResult:
    case CatError::kMissingEventList:
    case CatError::kMissingTextString:
    case CatError::kMissingBufferSize:
    case CatError::kMissingBearerDescription:
    case CatError::kMissingDestinationAddress:
    case CatError::kMissingChannelData:
    case CatError::kMissingChannelDataLength:
    case CatError::kMissingChannelStatus:
    case CatError::kMissingTimerIdentifier:
    case CatError::kMissingTimerValue:
    case CatError::kMissingSmsTpdu:
    case CatError::kMissingDuration:
      return CatErrorKind::kRequiredValuesMissing;
    case CatError::kBufferTooSmall:
    case CatError::kTooLong:
    case CatError::kInvalidArgument:
      return CatErrorKind::kEncoding;
  }
  return CatErrorKind::kDataNotUnderstood;
}

GeneralResult general_result_for(CatError e) noexcept {
  switch (kind_of(e)) {
    case CatErrorKind::kTypeNotUnderstood:
      return GeneralResult::kTypeNotUnderstood;
    case CatErrorKind::kRequiredValuesMissing:
      return GeneralResult::kRequiredValuesMissing;
    case CatErrorKind::kDataNotUnderstood:
    case CatErrorKind::kEncoding:
      return GeneralResult::kDataNotUnderstood;
  }
  return GeneralResult::kDataNotUnderstood;
}

const char* describe(CatError e) noexcept {
  switch (e) {
    case CatError::kMalformedTlv: return "malformed TLV";
    case CatError::kWrongOuterTag: return "unexpected outer BER-TLV tag";
    case CatError::kTrailingBytes: return "bytes after the outer TLV";
    case CatError::kUnknownCommandType: return "command type not understood";
    case CatError::kUnknownRequiredTlv: return "unknown comprehension-required data object";
    case CatError::kDuplicateTlv: return "data object repeated";
    case CatError::kBadCommandDetails: return "bad command details";
    case CatError::kBadQualifier: return "RFU command qualifier";
    case CatError::kBadDeviceIdentities: return "bad device identities";
    case CatError::kBadResult: return "bad result";
    case CatError::kBadEventList: return "bad event list";
    case CatError::kBadIconIdentifier: return "bad icon identifier";
    case CatError::kBadDuration: return "bad duration";
    case CatError::kBadBearerDescription: return "bad bearer description";
    case CatError::kBadBufferSize: return "bad buffer size";
    case CatError::kBadTransportLevel: return "bad transport level";
    case CatError::kBadOtherAddress: return "bad other address";
    case CatError::kBadChannelDataLength: return "bad channel data length";
    case CatError::kBadChannelStatus: return "bad channel status";
    case CatError::kBadTimerIdentifier: return "bad timer identifier";
    case CatError::kBadTimerValue: return "bad timer value";
    case CatError::kBadImmediateResponse: return "bad immediate response";
    case CatError::kBadDateTime: return "bad date-time and time zone";
    case CatError::kMissingCommandDetails: return "command details missing";
    case CatError::kMissingDeviceIdentities: return "device identities missing";
    case CatError::kMissingResult: return "result missing";
    case CatError::kMissingEventList: return "event list missing";
    case CatError::kMissingTextString: return "text string missing";
    case CatError::kMissingBufferSize: return "buffer size missing";
    case CatError::kMissingBearerDescription: return "bearer description missing";
    case CatError::kMissingDestinationAddress: return "data destination address missing";
    case CatError::kMissingChannelData: return "channel data missing";
    case CatError::kMissingChannelDataLength: return "channel data length missing";
    case CatError::kMissingChannelStatus: return "channel status missing";
    case CatError::kMissingTimerIdentifier: return "timer identifier missing";
    case CatError::kMissingTimerValue: return "timer value missing";
    case CatError::kMissingSmsTpdu: return "SMS TPDU missing";
    case CatError::kMissingDuration: return "duration missing";
    case CatError::kBufferTooSmall: return "output buffer too small";
    case CatError::kTooLong: return "message too long";
    case CatError::kInvalidArgument: return "field cannot be encoded";
  }
  return "?";
}

CatError from_tlv_error(TlvError e) noexcept {
  switch (e) {
    case TlvError::kTruncated:
    case TlvError::kBadTag:
    case TlvError::kBadLength:
    case TlvError::kValuePastEnd:
    case TlvError::kNotFound:
      return CatError::kMalformedTlv;
    case TlvError::kTrailingBytes:
      return CatError::kTrailingBytes;
    case TlvError::kNoSpace:
      return CatError::kBufferTooSmall;
    case TlvError::kTooLong:
      return CatError::kTooLong;
  }
  return CatError::kMalformedTlv;
}

namespace {

// One byte of the timer value: low nibble = tens digit, high nibble = units digit (TS 23.040 9.2.3.11
// semi-octet order, as TS 102 223 8.38 prescribes).
bool decode_swapped_bcd(u8 b, u8& out) noexcept {
  const u8 tens = b & 0x0F;
  const u8 units = static_cast<u8>(b >> 4);
  if (tens > 9 || units > 9) return false;
  out = static_cast<u8>(tens * 10 + units);
  return true;
}

constexpr u8 encode_swapped_bcd(u8 v) noexcept {
  return static_cast<u8>(((v % 10) << 4) | (v / 10));
}
static_assert(encode_swapped_bcd(5) == 0x50 && encode_swapped_bcd(10) == 0x01 &&
              encode_swapped_bcd(59) == 0x95);

// The time zone byte (TS 23.040 9.2.3.11): tens digit in b3..b1, sign in b4, units digit in b8..b5.
constexpr u8 kZoneSignBit = 0x08;

constexpr u8 encode_zone(bool known, int quarters) noexcept {
  if (!known) return kTimeZoneUnknown;
  const bool west = quarters < 0;
  const int q = west ? -quarters : quarters;
  return static_cast<u8>(((q % 10) << 4) | (west ? kZoneSignBit : 0) | (q / 10));
}
static_assert(encode_zone(true, 4) == 0x40 && encode_zone(true, -20) == 0x0A && encode_zone(true, 23) == 0x32 &&
              encode_zone(false, 0) == 0xFF);

bool in_range(u8 v, u8 low, u8 high) noexcept { return v >= low && v <= high; }

}  // namespace

Result<TimerValue, CatError> decode_timer_value(Bytes value) noexcept {
  if (value.size() != kTimerValueSize) return fail(CatError::kBadTimerValue);
  TimerValue t;
  if (!decode_swapped_bcd(value[0], t.hours) || !decode_swapped_bcd(value[1], t.minutes) ||
      !decode_swapped_bcd(value[2], t.seconds) || t.minutes > 59 || t.seconds > 59)
    return fail(CatError::kBadTimerValue);
  return t;
}

Status<CatError> encode_timer_value(const TimerValue& t, u8 (&out)[kTimerValueSize]) noexcept {
  if (t.hours > 99 || t.minutes > 59 || t.seconds > 59) return fail(CatError::kInvalidArgument);
  out[0] = encode_swapped_bcd(t.hours);
  out[1] = encode_swapped_bcd(t.minutes);
  out[2] = encode_swapped_bcd(t.seconds);
  return {};
}

Result<Duration, CatError> decode_duration(Bytes value) noexcept {
  if (value.size() != kDurationSize || value[0] > static_cast<u8>(DurationUnit::kTenthsOfSeconds) || value[1] == 0)
    return fail(CatError::kBadDuration);
  return Duration{static_cast<DurationUnit>(value[0]), value[1]};
}

Status<CatError> encode_duration(const Duration& d, u8 (&out)[kDurationSize]) noexcept {
  if (static_cast<u8>(d.unit) > static_cast<u8>(DurationUnit::kTenthsOfSeconds) || d.interval == 0)
    return fail(CatError::kInvalidArgument);
  out[0] = static_cast<u8>(d.unit);
  out[1] = d.interval;
  return {};
}

Result<DateTimeZone, CatError> decode_date_time(Bytes value) noexcept {
  if (value.size() != kDateTimeSize) return fail(CatError::kBadDateTime);
  DateTimeZone t;
  if (!decode_swapped_bcd(value[0], t.year) || !decode_swapped_bcd(value[1], t.month) ||
      !decode_swapped_bcd(value[2], t.day) || !decode_swapped_bcd(value[3], t.hour) ||
      !decode_swapped_bcd(value[4], t.minute) || !decode_swapped_bcd(value[5], t.second) ||
      !in_range(t.month, 1, 12) || !in_range(t.day, 1, 31) || t.hour > 23 || t.minute > 59 || t.second > 59)
    return fail(CatError::kBadDateTime);
  const u8 zone = value[6];
  if (zone == kTimeZoneUnknown) return t;
  u8 quarters = 0;
  if (!decode_swapped_bcd(static_cast<u8>(zone & ~kZoneSignBit), quarters)) return fail(CatError::kBadDateTime);
  t.zone_known = true;
  t.zone_quarters = static_cast<signed char>((zone & kZoneSignBit) != 0 ? -quarters : quarters);
  return t;
}

Status<CatError> encode_date_time(const DateTimeZone& t, u8 (&out)[kDateTimeSize]) noexcept {
  const int q = t.zone_quarters;
  if (t.year > 99 || !in_range(t.month, 1, 12) || !in_range(t.day, 1, 31) || t.hour > 23 || t.minute > 59 ||
      t.second > 59 || (t.zone_known && (q < -kMaxZoneQuarters || q > kMaxZoneQuarters)))
    return fail(CatError::kInvalidArgument);
  out[0] = encode_swapped_bcd(t.year);
  out[1] = encode_swapped_bcd(t.month);
  out[2] = encode_swapped_bcd(t.day);
  out[3] = encode_swapped_bcd(t.hour);
  out[4] = encode_swapped_bcd(t.minute);
  out[5] = encode_swapped_bcd(t.second);
  out[6] = encode_zone(t.zone_known, q);
  return {};
}

// --- shared data-object codecs (cat_codec.hpp) ----------------------------------------------------------

namespace detail {

Status<CatError> check_framing(Bytes data) noexcept {
  ComprehensionTlvReader r(data);
  ComprehensionTlv t;
  while (r.next(t)) {
  }
  if (!r.ok()) return fail(from_tlv_error(r.error()));
  return {};
}

Result<u8, CatError> read_u8(Bytes v, CatError bad) noexcept {
  if (v.size() != 1) return fail(bad);
  return v[0];
}

Result<u16, CatError> read_u16(Bytes v, CatError bad) noexcept {
  if (v.size() != 2) return fail(bad);
  return static_cast<u16>((v[0] << 8) | v[1]);
}

// TS 102 223 8.6: number, type, qualifier.
Result<CommandDetails, CatError> read_command_details(Bytes v) noexcept {
  if (v.size() != 3) return fail(CatError::kBadCommandDetails);
  return CommandDetails{v[0], static_cast<CommandType>(v[1]), v[2]};
}

// TS 102 223 8.7: source, destination.
Result<DeviceIdentities, CatError> read_device_identities(Bytes v) noexcept {
  if (v.size() != 2) return fail(CatError::kBadDeviceIdentities);
  return DeviceIdentities{v[0], v[1]};
}

// TS 102 223 8.12: general result, then additional information.
Result<ResultValue, CatError> read_result(Bytes v) noexcept {
  if (v.empty() || v.size() - 1 > kMaxAdditionalInfo) return fail(CatError::kBadResult);
  ResultValue r;
  r.general = static_cast<GeneralResult>(v[0]);
  r.additional_size = static_cast<u8>(v.size() - 1);
  for (std::size_t i = 1; i < v.size(); ++i) r.additional[i - 1] = v[i];
  return r;
}

// TS 102 223 8.56.
Result<ChannelStatus, CatError> read_channel_status(Bytes v) noexcept {
  if (v.size() != 2) return fail(CatError::kBadChannelStatus);
  return ChannelStatus{v[0], v[1]};
}

// TS 102 223 8.59: protocol type, port (big-endian).
Result<TransportLevel, CatError> read_transport_level(Bytes v) noexcept {
  if (v.size() != 3) return fail(CatError::kBadTransportLevel);
  return TransportLevel{static_cast<TransportProtocol>(v[0]), static_cast<u16>((v[1] << 8) | v[2])};
}

// TS 102 223 8.58: type (21 IPv4, 57 IPv6) + address; empty = dynamic address requested.
Result<OtherAddress, CatError> read_other_address(Bytes v) noexcept {
  OtherAddress a;
  a.present = true;
  if (v.empty()) return a;
  a.type = v[0];
  a.address = v.subspan(1);
  const std::size_t want = a.type == address_type::kIpv4 ? 4 : a.type == address_type::kIpv6 ? 16 : 0;
  if (want == 0 || a.address.size() != want) return fail(CatError::kBadOtherAddress);
  return a;
}

// TS 102 223 8.37: one byte, 1..8.
Result<u8, CatError> read_timer_id(Bytes v) noexcept {
  if (v.size() != 1 || v[0] == 0 || v[0] > kMaxTimerId) return fail(CatError::kBadTimerIdentifier);
  return v[0];
}

void Emitter::u8_object(u16 tag, u8 v) noexcept {
  const u8 b[1] = {v};
  object(tag, b);
}

void Emitter::u16_object(u16 tag, u16 v) noexcept {
  const u8 b[2] = {static_cast<u8>(v >> 8), static_cast<u8>(v)};
  object(tag, b);
}

void Emitter::command_details(const CommandDetails& d) noexcept {
  const u8 b[3] = {d.number, static_cast<u8>(d.type), d.qualifier};
  object(tag::kCommandDetails, b);
}

void Emitter::device_identities(const DeviceIdentities& d) noexcept {
  const u8 b[2] = {d.source, d.destination};
  object(tag::kDeviceIdentities, b);
}

void Emitter::result(const ResultValue& r) noexcept {
  u8 b[1 + kMaxAdditionalInfo] = {};
  b[0] = static_cast<u8>(r.general);
  const std::size_t n = r.additional_size <= kMaxAdditionalInfo ? r.additional_size : kMaxAdditionalInfo;
  for (std::size_t i = 0; i < n; ++i) b[1 + i] = r.additional[i];
  object(tag::kResult, Bytes(b, 1 + n));
}

void Emitter::channel_status(const ChannelStatus& s) noexcept {
  const u8 b[2] = {s.status, s.info};
  object(tag::kChannelStatus, b);
}

void Emitter::transport_level(const TransportLevel& t) noexcept {
  const u8 b[3] = {static_cast<u8>(t.protocol), static_cast<u8>(t.port >> 8), static_cast<u8>(t.port)};
  object(tag::kTransportLevel, b);
}

void Emitter::other_address(const OtherAddress& a) noexcept {
  if (!a.present) return;
  if (a.address.empty()) {
    object(tag::kOtherAddress, Bytes{});
    return;
  }
  const TlvWriter::Mark m = w_.begin_comprehension(tag::kOtherAddress, cr_.has(tag::kOtherAddress), 0x7F);
  w_.u8_(a.type);
  w_.bytes(a.address);
  w_.end(m);
}

Status<CatError> Emitter::timer_value(const TimerValue& t) noexcept {
  u8 b[kTimerValueSize];
  SCWS_TRY(encode_timer_value(t, b));
  object(tag::kTimerValue, b);
  return {};
}

Status<CatError> Emitter::duration(const Duration& d) noexcept {
  u8 b[kDurationSize];
  SCWS_TRY(encode_duration(d, b));
  object(tag::kDuration, b);
  return {};
}

Status<CatError> Emitter::date_time(const DateTimeZone& t) noexcept {
  u8 b[kDateTimeSize];
  SCWS_TRY(encode_date_time(t, b));
  object(tag::kDateTimeAndTimeZone, b);
  return {};
}

}  // namespace detail

}  // namespace scws::apdu::cat
