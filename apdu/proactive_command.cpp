#include "apdu/proactive_command.hpp"

#include "apdu/cat_codec.hpp"

namespace scws::apdu::cat {

bool is_supported_command_type(CommandType t) noexcept {
  switch (t) {
    case CommandType::kSetUpEventList:
    case CommandType::kSendShortMessage:
    case CommandType::kDisplayText:
    case CommandType::kTimerManagement:
    case CommandType::kOpenChannel:
    case CommandType::kCloseChannel:
    case CommandType::kReceiveData:
    case CommandType::kSendData:
    case CommandType::kGetChannelStatus:
    case CommandType::kMoreTime:
    case CommandType::kPollInterval:
    case CommandType::kPollingOff:
    case CommandType::kProvideLocalInformation:
      return true;
    case CommandType::kRefresh:
    case CommandType::kLaunchBrowser:
    case CommandType::kSetUpMenu:
      return false;
  }
  return false;  // a value outside the enumeration
}

namespace {

using detail::Seen;

// Data objects each command type defines besides command details and device identities
// (TS 102 223 6.6.x "structure of ..." tables).
bool defines(CommandType type, u16 t) noexcept {
  switch (type) {
    case CommandType::kSetUpEventList:  // 6.6.16
      return t == tag::kEventList;
    case CommandType::kOpenChannel:  // 6.6.27
      return t == tag::kAlphaIdentifier || t == tag::kIconIdentifier || t == tag::kBearerDescription ||
             t == tag::kBufferSize || t == tag::kNetworkAccessName || t == tag::kOtherAddress ||
             t == tag::kTextString || t == tag::kTransportLevel || t == tag::kTextAttribute ||
             t == tag::kFrameIdentifier;
    case CommandType::kCloseChannel:  // 6.6.28
      return t == tag::kAlphaIdentifier || t == tag::kIconIdentifier || t == tag::kTextAttribute ||
             t == tag::kFrameIdentifier;
    case CommandType::kReceiveData:  // 6.6.29
      return t == tag::kAlphaIdentifier || t == tag::kIconIdentifier ||
             t == tag::kChannelDataLength || t == tag::kTextAttribute || t == tag::kFrameIdentifier;
    case CommandType::kSendData:  // 6.6.30
      return t == tag::kAlphaIdentifier || t == tag::kIconIdentifier || t == tag::kChannelData ||
             t == tag::kTextAttribute || t == tag::kFrameIdentifier;
    case CommandType::kGetChannelStatus:  // 6.6.31
      return false;
    case CommandType::kTimerManagement:  // 6.6.21
      return t == tag::kTimerIdentifier || t == tag::kTimerValue;
    case CommandType::kDisplayText:  // 6.6.1
      return t == tag::kTextString || t == tag::kIconIdentifier || t == tag::kImmediateResponse ||
             t == tag::kDuration || t == tag::kTextAttribute || t == tag::kFrameIdentifier;
    case CommandType::kSendShortMessage:  // 6.6.9
      return t == tag::kAlphaIdentifier || t == tag::kAddress || t == tag::kSmsTpdu ||
             t == tag::kIconIdentifier || t == tag::kTextAttribute || t == tag::kFrameIdentifier;
    case CommandType::kPollInterval:  // 6.6.6
      return t == tag::kDuration;
    case CommandType::kMoreTime:                 // 6.6.4
    case CommandType::kPollingOff:               // 6.6.14
    case CommandType::kProvideLocalInformation:  // 6.6.15
      return false;
    case CommandType::kRefresh:
    case CommandType::kLaunchBrowser:
    case CommandType::kSetUpMenu:
      return false;
  }
  return false;
}

// Source is always the UICC; the destination depends on the command (TS 102 223 6.6.x, 8.7).
bool devices_valid(CommandType type, const DeviceIdentities& d) noexcept {
  if (d.source != device::kUicc) return false;
  switch (type) {
    case CommandType::kSetUpEventList:
    case CommandType::kOpenChannel:
    case CommandType::kGetChannelStatus:
    case CommandType::kTimerManagement:
    case CommandType::kMoreTime:
    case CommandType::kPollInterval:
    case CommandType::kPollingOff:
    case CommandType::kProvideLocalInformation:
      return d.destination == device::kTerminal;
    case CommandType::kCloseChannel:
    case CommandType::kReceiveData:
    case CommandType::kSendData:
      return is_channel_device(d.destination);
    case CommandType::kDisplayText:
      return d.destination == device::kDisplay;
    case CommandType::kSendShortMessage:
      return d.destination == device::kNetwork;
    case CommandType::kRefresh:
    case CommandType::kLaunchBrowser:
    case CommandType::kSetUpMenu:
      return false;
  }
  return false;
}

Result<Bytes, CatError> outer_body(Bytes d0) noexcept {
  auto outer = parse_single_ber_tlv(d0);
  if (!outer) return fail(from_tlv_error(outer.error()));
  if (outer->tag != ber_tag::kProactiveCommand) return fail(CatError::kWrongOuterTag);
  // Framing of the whole body first: a broken TLV anywhere makes every other verdict unreliable.
  SCWS_TRY(detail::check_framing(outer->value));
  return outer->value;
}

// Type-specific checks once every object has been read.
Status<CatError> check_complete(const ProactiveCommand& c, const Seen& seen) noexcept {
  switch (c.details.type) {
    case CommandType::kSetUpEventList:
      if (!seen.has(tag::kEventList)) return fail(CatError::kMissingEventList);
      return {};
    case CommandType::kOpenChannel: {
      const OpenChannelParams& o = c.open_channel;
      if (!seen.has(tag::kBufferSize)) return fail(CatError::kMissingBufferSize);
      if (o.server_mode()) return {};
      if (!o.bearer_description.present) return fail(CatError::kMissingBearerDescription);
      const bool remote = o.has_transport_level &&
                          (o.transport_level.protocol == TransportProtocol::kTcpClientRemote ||
                           o.transport_level.protocol == TransportProtocol::kUdpClientRemote);
      if (remote && !o.destination.present) return fail(CatError::kMissingDestinationAddress);
      return {};
    }
    case CommandType::kCloseChannel:
    case CommandType::kGetChannelStatus:
      return {};
    case CommandType::kReceiveData:
      if (!seen.has(tag::kChannelDataLength)) return fail(CatError::kMissingChannelDataLength);
      return {};
    case CommandType::kSendData:
      if (!seen.has(tag::kChannelData)) return fail(CatError::kMissingChannelData);
      return {};
    case CommandType::kTimerManagement:
      if (c.timer_action() == 0x03) return fail(CatError::kBadQualifier);  // RFU
      if (!seen.has(tag::kTimerIdentifier)) return fail(CatError::kMissingTimerIdentifier);
      if (c.timer_action() == qualifier::kTimerStart && !c.has_timer_value)
        return fail(CatError::kMissingTimerValue);
      return {};
    case CommandType::kDisplayText:
      if (!seen.has(tag::kTextString)) return fail(CatError::kMissingTextString);
      return {};
    case CommandType::kSendShortMessage:
      if (!seen.has(tag::kSmsTpdu)) return fail(CatError::kMissingSmsTpdu);
      return {};
    case CommandType::kPollInterval:
      if (!c.duration.present) return fail(CatError::kMissingDuration);
      if (!decode_duration(c.duration.value).ok()) return fail(CatError::kBadDuration);
      return {};
    case CommandType::kMoreTime:
    case CommandType::kPollingOff:
    case CommandType::kProvideLocalInformation:  // the qualifier says what; the terminal decides
      return {};
    case CommandType::kRefresh:
    case CommandType::kLaunchBrowser:
    case CommandType::kSetUpMenu:
      return fail(CatError::kUnknownCommandType);
  }
  return fail(CatError::kUnknownCommandType);
}

// The BIP objects (TS 102 223 6.6.27-6.6.31): channel set-up and channel data. In OPEN CHANNEL an
// Other address before the transport level is the local address, after it the data destination.
Status<CatError> read_channel_object(ProactiveCommand& c, const ComprehensionTlv& t, bool after_transport) noexcept {
  const Bytes v = t.value;
  switch (t.tag) {
    case tag::kBearerDescription:
      if (v.empty()) return fail(CatError::kBadBearerDescription);
      c.open_channel.bearer_description = some(v);
      return {};
    case tag::kBufferSize: {
      auto size = detail::read_u16(v, CatError::kBadBufferSize);
      if (!size) return fail(size.error());
      c.open_channel.buffer_size = *size;
      return {};
    }
    case tag::kNetworkAccessName:
      c.open_channel.network_access_name = some(v);
      return {};
    case tag::kTransportLevel: {
      auto level = detail::read_transport_level(v);
      if (!level) return fail(level.error());
      c.open_channel.has_transport_level = true;
      c.open_channel.transport_level = *level;
      return {};
    }
    case tag::kOtherAddress: {
      OtherAddress& slot = after_transport ? c.open_channel.destination : c.open_channel.local_address;
      if (slot.present) return fail(CatError::kDuplicateTlv);
      auto a = detail::read_other_address(v);
      if (!a) return fail(a.error());
      slot = *a;
      return {};
    }
    case tag::kChannelDataLength: {
      auto n = detail::read_u8(v, CatError::kBadChannelDataLength);
      if (!n) return fail(n.error());
      c.channel_data_length = *n;
      return {};
    }
    case tag::kChannelData:
      c.channel_data = v;
      return {};
    default:
      return fail(CatError::kUnknownRequiredTlv);  // read_object sends only the BIP tags here
  }
}

// The timer objects of TIMER MANAGEMENT (TS 102 223 6.6.21).
Status<CatError> read_timer_object(ProactiveCommand& c, const ComprehensionTlv& t) noexcept {
  if (t.tag == tag::kTimerIdentifier) {
    auto id = detail::read_timer_id(t.value);
    if (!id) return fail(id.error());
    c.timer_id = *id;
    return {};
  }
  auto tv = decode_timer_value(t.value);
  if (!tv) return fail(tv.error());
  c.has_timer_value = true;
  c.timer_value = *tv;
  return {};
}

// A text string: OPEN CHANNEL's first is the login, its second the password (TS 102 223 6.6.27.2);
// any other command has one.
Status<CatError> read_text_string(ProactiveCommand& c, Bytes v, u8& text_strings) noexcept {
  if (c.details.type != CommandType::kOpenChannel) {
    c.text_string = v;
    return {};
  }
  if (text_strings == 0) {
    c.open_channel.login = some(v);
  } else if (text_strings == 1) {
    c.open_channel.password = some(v);
  } else {
    return fail(CatError::kDuplicateTlv);
  }
  ++text_strings;
  return {};
}

// Reads one object the command type defines into c.
Status<CatError> read_object(ProactiveCommand& c, const ComprehensionTlv& t, bool after_transport,
                             u8& text_strings) noexcept {
  const Bytes v = t.value;
  switch (t.tag) {
    case tag::kBearerDescription:
    case tag::kBufferSize:
    case tag::kNetworkAccessName:
    case tag::kTransportLevel:
    case tag::kOtherAddress:
    case tag::kChannelDataLength:
    case tag::kChannelData:
      return read_channel_object(c, t, after_transport);
    case tag::kTimerIdentifier:
    case tag::kTimerValue:
      return read_timer_object(c, t);
    case tag::kTextString:
      return read_text_string(c, v, text_strings);
    case tag::kAlphaIdentifier:
      c.alpha_identifier = some(v);
      return {};
    case tag::kIconIdentifier:
      if (v.size() != 2) return fail(CatError::kBadIconIdentifier);
      c.icon_identifier = some(v);
      return {};
    case tag::kTextAttribute:
      c.text_attribute = some(v);
      return {};
    case tag::kFrameIdentifier:
      c.frame_identifier = some(v);
      return {};
    case tag::kEventList:
      c.events = v;
      return {};
    case tag::kImmediateResponse:
      if (!v.empty()) return fail(CatError::kBadImmediateResponse);
      c.immediate_response = true;
      return {};
    case tag::kDuration:
      if (v.size() != 2) return fail(CatError::kBadDuration);
      c.duration = some(v);
      return {};
    case tag::kAddress:
      c.address = some(v);
      return {};
    case tag::kSmsTpdu:
      c.sms_tpdu = v;
      return {};
    default:
      return fail(CatError::kUnknownRequiredTlv);  // defines() let through a tag read_object lacks
  }
}

}  // namespace

Result<CommandDetails, CatError> peek_command_details(Bytes d0) noexcept {
  auto body = outer_body(d0);
  if (!body) return fail(body.error());
  auto t = find_comprehension_tlv(*body, tag::kCommandDetails);
  if (!t) return fail(CatError::kMissingCommandDetails);
  return detail::read_command_details(t->value);
}

Result<ProactiveCommand, CatError> parse_proactive_command(Bytes d0) noexcept {
  auto body = outer_body(d0);
  if (!body) return fail(body.error());
  auto details_tlv = find_comprehension_tlv(*body, tag::kCommandDetails);
  if (!details_tlv) return fail(CatError::kMissingCommandDetails);
  auto details = detail::read_command_details(details_tlv->value);
  if (!details) return fail(details.error());
  if (!is_supported_command_type(details->type)) return fail(CatError::kUnknownCommandType);

  ProactiveCommand c;
  c.details = *details;
  c.cr = CrFlags{};
  Seen seen;
  bool after_transport = false;
  u8 text_strings = 0;
  ComprehensionTlvReader r(*body);
  ComprehensionTlv t;
  while (r.next(t)) {
    const bool common = t.tag == tag::kCommandDetails || t.tag == tag::kDeviceIdentities;
    if (!common && !defines(c.details.type, t.tag)) {
      if (t.cr) return fail(CatError::kUnknownRequiredTlv);
      c.partial_comprehension = true;  // TS 102 223 6.10: skip objects without CR
      continue;
    }
    const bool repeats = c.details.type == CommandType::kOpenChannel &&
                         (t.tag == tag::kTextString || t.tag == tag::kOtherAddress);
    if (!repeats && seen.has(t.tag)) return fail(CatError::kDuplicateTlv);
    seen.set(t.tag);
    if (t.cr) c.cr.set(t.tag, true);
    if (t.tag == tag::kCommandDetails) continue;  // read above
    if (t.tag == tag::kDeviceIdentities) {
      auto d = detail::read_device_identities(t.value);
      if (!d) return fail(d.error());
      c.devices = *d;
      continue;
    }
    SCWS_TRY(read_object(c, t, after_transport, text_strings));
    if (t.tag == tag::kTransportLevel) after_transport = true;
  }
  if (!seen.has(tag::kDeviceIdentities)) return fail(CatError::kMissingDeviceIdentities);
  if (!devices_valid(c.details.type, c.devices)) return fail(CatError::kBadDeviceIdentities);
  SCWS_TRY(check_complete(c, seen));
  return c;
}

// --- builder ----------------------------------------------------------------------------------------------

namespace {

void put_trailer(detail::Emitter& e, const ProactiveCommand& c) noexcept {
  e.optional(tag::kTextAttribute, c.text_attribute);
  e.optional(tag::kFrameIdentifier, c.frame_identifier);
}

void put_alpha_icon(detail::Emitter& e, const ProactiveCommand& c) noexcept {
  e.optional(tag::kAlphaIdentifier, c.alpha_identifier);
  e.optional(tag::kIconIdentifier, c.icon_identifier);
}

Status<CatError> put_body(detail::Emitter& e, const ProactiveCommand& c) noexcept {
  switch (c.details.type) {
    case CommandType::kSetUpEventList:
      e.object(tag::kEventList, c.events);
      return {};
    case CommandType::kOpenChannel: {
      const OpenChannelParams& o = c.open_channel;
      put_alpha_icon(e, c);
      e.optional(tag::kBearerDescription, o.bearer_description);
      e.u16_object(tag::kBufferSize, o.buffer_size);
      e.optional(tag::kNetworkAccessName, o.network_access_name);
      e.other_address(o.local_address);
      e.optional(tag::kTextString, o.login);
      e.optional(tag::kTextString, o.password);
      if (o.has_transport_level) e.transport_level(o.transport_level);
      e.other_address(o.destination);
      put_trailer(e, c);
      return {};
    }
    case CommandType::kCloseChannel:
      put_alpha_icon(e, c);
      put_trailer(e, c);
      return {};
    case CommandType::kReceiveData:
      put_alpha_icon(e, c);
      e.u8_object(tag::kChannelDataLength, c.channel_data_length);
      put_trailer(e, c);
      return {};
    case CommandType::kSendData:
      put_alpha_icon(e, c);
      e.object(tag::kChannelData, c.channel_data);
      put_trailer(e, c);
      return {};
    case CommandType::kGetChannelStatus:
      return {};
    case CommandType::kTimerManagement:
      e.u8_object(tag::kTimerIdentifier, c.timer_id);
      if (c.has_timer_value) SCWS_TRY(e.timer_value(c.timer_value));
      return {};
    case CommandType::kDisplayText:
      e.object(tag::kTextString, c.text_string);
      e.optional(tag::kIconIdentifier, c.icon_identifier);
      if (c.immediate_response) e.object(tag::kImmediateResponse, Bytes{});
      e.optional(tag::kDuration, c.duration);
      put_trailer(e, c);
      return {};
    case CommandType::kSendShortMessage:
      e.optional(tag::kAlphaIdentifier, c.alpha_identifier);
      e.optional(tag::kAddress, c.address);
      e.object(tag::kSmsTpdu, c.sms_tpdu);
      e.optional(tag::kIconIdentifier, c.icon_identifier);
      put_trailer(e, c);
      return {};
    case CommandType::kPollInterval:
      e.optional(tag::kDuration, c.duration);
      return {};
    case CommandType::kMoreTime:
    case CommandType::kPollingOff:
    case CommandType::kProvideLocalInformation:
      return {};
    case CommandType::kRefresh:
    case CommandType::kLaunchBrowser:
    case CommandType::kSetUpMenu:
      return fail(CatError::kInvalidArgument);
  }
  return fail(CatError::kInvalidArgument);
}

}  // namespace

Result<std::size_t, CatError> build_proactive_command(const ProactiveCommand& c,
                                                      MutableBytes out) noexcept {
  // D0 + 81 LL + at most 252 value bytes = 255.
  constexpr std::size_t kMaxBody = kMaxProactiveCommandSize - 3;
  TlvWriter w(out);
  const TlvWriter::Mark m = w.begin_ber(ber_tag::kProactiveCommand, kMaxBody);
  detail::Emitter e(w, c.cr);
  e.command_details(c.details);
  e.device_identities(c.devices);
  SCWS_TRY(put_body(e, c));
  w.end(m);
  if (!w.ok()) return fail(from_tlv_error(w.error()));
  return w.size();
}

// --- make_* ---------------------------------------------------------------------------------------------

namespace {
ProactiveCommand command(u8 number, CommandType type, u8 qualifier, u8 destination) noexcept {
  ProactiveCommand c;
  c.details = CommandDetails{number, type, qualifier};
  c.devices = DeviceIdentities{device::kUicc, destination};
  return c;
}
}  // namespace

ProactiveCommand make_set_up_event_list(u8 number, Bytes events) noexcept {
  ProactiveCommand c = command(number, CommandType::kSetUpEventList, 0, device::kTerminal);
  c.events = events;
  return c;
}

ProactiveCommand make_open_channel_server(u8 number, u16 buffer_size, u16 port) noexcept {
  ProactiveCommand c = command(number, CommandType::kOpenChannel, 0, device::kTerminal);
  c.open_channel.buffer_size = buffer_size;
  c.open_channel.has_transport_level = true;
  c.open_channel.transport_level = TransportLevel{TransportProtocol::kTcpServer, port};
  return c;
}

ProactiveCommand make_open_channel_tcp_client(u8 number, Bytes bearer_description, u16 buffer_size,
                                              u16 port, OtherAddress destination) noexcept {
  ProactiveCommand c =
      command(number, CommandType::kOpenChannel, qualifier::kOpenChannelImmediate, device::kTerminal);
  c.open_channel.bearer_description = some(bearer_description);
  c.open_channel.buffer_size = buffer_size;
  c.open_channel.has_transport_level = true;
  c.open_channel.transport_level = TransportLevel{TransportProtocol::kTcpClientRemote, port};
  c.open_channel.destination = destination;
  c.open_channel.destination.present = true;
  c.cr.set(tag::kTextString, false);  // login/password go without CR (oFono open_channel_211)
  c.cr.set(tag::kAlphaIdentifier, false);
  return c;
}

ProactiveCommand make_close_channel(u8 number, u8 channel_id, bool back_to_listen) noexcept {
  return command(number, CommandType::kCloseChannel,
                 back_to_listen ? qualifier::kCloseChannelToListen : qualifier::kCloseChannelToClosed,
                 channel_device(channel_id));
}

ProactiveCommand make_receive_data(u8 number, u8 channel_id, u8 length) noexcept {
  ProactiveCommand c = command(number, CommandType::kReceiveData, 0, channel_device(channel_id));
  c.channel_data_length = length;
  return c;
}

ProactiveCommand make_send_data(u8 number, u8 channel_id, bool immediately, Bytes data) noexcept {
  ProactiveCommand c = command(
      number, CommandType::kSendData,
      immediately ? qualifier::kSendDataImmediately : qualifier::kSendDataStore, channel_device(channel_id));
  c.channel_data = data;
  return c;
}

ProactiveCommand make_get_channel_status(u8 number) noexcept {
  return command(number, CommandType::kGetChannelStatus, 0, device::kTerminal);
}

ProactiveCommand make_timer_start(u8 number, u8 timer_id, TimerValue value) noexcept {
  ProactiveCommand c = command(number, CommandType::kTimerManagement, qualifier::kTimerStart, device::kTerminal);
  c.timer_id = timer_id;
  c.has_timer_value = true;
  c.timer_value = value;
  return c;
}

ProactiveCommand make_timer_deactivate(u8 number, u8 timer_id) noexcept {
  ProactiveCommand c =
      command(number, CommandType::kTimerManagement, qualifier::kTimerDeactivate, device::kTerminal);
  c.timer_id = timer_id;
  return c;
}

ProactiveCommand make_timer_get_value(u8 number, u8 timer_id) noexcept {
  ProactiveCommand c = command(number, CommandType::kTimerManagement, qualifier::kTimerGetValue, device::kTerminal);
  c.timer_id = timer_id;
  return c;
}

ProactiveCommand make_display_text(u8 number, u8 qualifier, Bytes text_string) noexcept {
  ProactiveCommand c = command(number, CommandType::kDisplayText, qualifier, device::kDisplay);
  c.text_string = text_string;
  return c;
}

ProactiveCommand make_more_time(u8 number) noexcept {
  return command(number, CommandType::kMoreTime, 0, device::kTerminal);
}

ProactiveCommand make_poll_interval(u8 number, Bytes duration) noexcept {
  ProactiveCommand c = command(number, CommandType::kPollInterval, 0, device::kTerminal);
  c.duration = some(duration);
  return c;
}

ProactiveCommand make_polling_off(u8 number) noexcept {
  return command(number, CommandType::kPollingOff, 0, device::kTerminal);
}

ProactiveCommand make_provide_local_information(u8 number, u8 qualifier) noexcept {
  return command(number, CommandType::kProvideLocalInformation, qualifier, device::kTerminal);
}

}  // namespace scws::apdu::cat
