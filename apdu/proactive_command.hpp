// Proactive commands (TS 102 223 6.6, BER-TLV tag D0): builder for the card, parser for the terminal.
//
// Understood command types: SET UP EVENT LIST (05), OPEN CHANNEL (40) in UICC server mode and client
// modes, CLOSE CHANNEL (41), RECEIVE DATA (42), SEND DATA (43), GET CHANNEL STATUS (44), TIMER
// MANAGEMENT (27), DISPLAY TEXT (21), SEND SHORT MESSAGE (13), MORE TIME (02), POLL INTERVAL (03,
// with a valid Duration), POLLING OFF (04), PROVIDE LOCAL INFORMATION (26, any qualifier: the
// terminal decides which it serves). Any other type parses to kUnknownCommandType, so the terminal
// answers "command type not understood" (31).
//
// Parser rules (TS 102 223 6.10): objects may come in any order; an object the command type does not
// define is skipped when its CR flag is clear (partial_comprehension is set) and refused with
// kUnknownRequiredTlv when set; an object that may appear once and appears twice is refused
// (kDuplicateTlv); errors say which of 31/32/36 applies (kind_of / general_result_for). Objects that
// repeat: in OPEN CHANNEL the first Text string is the login and the second the password, and an Other
// address before the transport level is the local address, after it the data destination address.
//
// The builder emits objects in the order of the command's definition in TS 102 223 and refuses a
// command longer than kMaxProactiveCommandSize.
#pragma once

#include <cstddef>

#include "apdu/cat.hpp"

namespace scws::apdu::cat {

// CR flags of the conformance vectors (docs/protocol.md section 5.2; oFono test-stkutil): 81 82 85 8D 99 9E A4
// A5 B6 B7 D0 E8 84 8B; buffer size, bearer, transport level, other address and NAN without CR.
inline constexpr CrFlags kProactiveCommandCr{
    {tag::kCommandDetails, tag::kDeviceIdentities, tag::kAlphaIdentifier, tag::kTextString,
     tag::kEventList, tag::kIconIdentifier, tag::kTimerIdentifier, tag::kTimerValue,
     tag::kChannelData, tag::kChannelDataLength, tag::kTextAttribute, tag::kFrameIdentifier,
     tag::kDuration, tag::kSmsTpdu, tag::kAddress}};

// OPEN CHANNEL (TS 102 223 6.6.27). UICC server mode = transport level with protocol 03 and no
// bearer description (docs/protocol.md section 7.3); every other form is a client mode.
struct OpenChannelParams {
  OptionalBytes bearer_description;   // 35: bearer type + parameters (client modes, mandatory there)
  u16 buffer_size = 0;                // 39: mandatory
  OptionalBytes network_access_name;  // 47
  OtherAddress local_address;         // 3E before the transport level
  OptionalBytes login;                // first 0D: data coding scheme + text
  OptionalBytes password;             // second 0D
  bool has_transport_level = false;
  TransportLevel transport_level;     // 3C
  OtherAddress destination;           // 3E after the transport level (data destination address)

  [[nodiscard]] constexpr bool server_mode() const noexcept {
    return has_transport_level && transport_level.protocol == TransportProtocol::kTcpServer;
  }
};

// One proactive command. Only the members of `details.type` are meaningful; the others stay
// default. Views point into the parsed input or, when building, into the caller's data.
struct ProactiveCommand {
  CommandDetails details;
  DeviceIdentities devices{device::kUicc, device::kTerminal};
  OptionalBytes alpha_identifier;   // 05 (text, may be empty)
  OptionalBytes icon_identifier;    // 1E: qualifier, record number
  OptionalBytes text_attribute;     // 50
  OptionalBytes frame_identifier;   // 68

  Bytes events;                     // SET UP EVENT LIST: 19, one byte per Event (may be empty)
  OpenChannelParams open_channel;   // OPEN CHANNEL
  u8 channel_data_length = 0;       // RECEIVE DATA: 37, bytes asked for
  Bytes channel_data;               // SEND DATA: 36
  u8 timer_id = 0;                  // TIMER MANAGEMENT: 24 (1..8)
  bool has_timer_value = false;
  TimerValue timer_value;           // TIMER MANAGEMENT: 25 (start)
  Bytes text_string;                // DISPLAY TEXT: 0D, data coding scheme + text
  bool immediate_response = false;  // DISPLAY TEXT: 2B
  OptionalBytes duration;           // DISPLAY TEXT, POLL INTERVAL: 04, unit + interval (decode_duration)
  OptionalBytes address;            // SEND SHORT MESSAGE: 06
  Bytes sms_tpdu;                   // SEND SHORT MESSAGE: 0B

  CrFlags cr = kProactiveCommandCr;    // tags sent with CR; the parser records what it saw
  bool partial_comprehension = false;  // parser: skipped an object it does not know (CR clear)

  // CLOSE CHANNEL, RECEIVE DATA, SEND DATA: the channel from the destination device (21..27 -> 1..7).
  [[nodiscard]] constexpr u8 channel_id() const noexcept { return channel_of_device(devices.destination); }
  [[nodiscard]] constexpr u8 timer_action() const noexcept {
    return details.qualifier & qualifier::kTimerActionMask;
  }
};

// Command types this codec understands.
bool is_supported_command_type(CommandType t) noexcept;

// The command details of a D0 blob, for answering a command the full parser refused (echo them in
// the TERMINAL RESPONSE with general_result_for(error)).
Result<CommandDetails, CatError> peek_command_details(Bytes d0) noexcept;

Result<ProactiveCommand, CatError> parse_proactive_command(Bytes d0) noexcept;

// Writes the D0 TLV into out and returns its size.
Result<std::size_t, CatError> build_proactive_command(const ProactiveCommand& c,
                                                      MutableBytes out) noexcept;

// --- builders for the commands the card sends -----------------------------------------------------------
ProactiveCommand make_set_up_event_list(u8 number, Bytes events) noexcept;
// UICC server mode: qualifier 00, buffer size, transport level 03 + port (docs/protocol.md section 7.3).
ProactiveCommand make_open_channel_server(u8 number, u16 buffer_size, u16 port) noexcept;
// TCP client mode, remote connection: bearer (e.g. {03} default bearer), buffer size, transport
// level 02 + port, data destination address. Immediate link establishment.
ProactiveCommand make_open_channel_tcp_client(u8 number, Bytes bearer_description, u16 buffer_size,
                                              u16 port, OtherAddress destination) noexcept;
// back_to_listen: server mode qualifier 01 (drop the client, keep listening) instead of 00.
ProactiveCommand make_close_channel(u8 number, u8 channel_id, bool back_to_listen) noexcept;
ProactiveCommand make_receive_data(u8 number, u8 channel_id, u8 length) noexcept;
// data must stay alive until the command is built; at most kMaxSendDataPayload bytes fit.
ProactiveCommand make_send_data(u8 number, u8 channel_id, bool immediately, Bytes data) noexcept;
ProactiveCommand make_get_channel_status(u8 number) noexcept;
ProactiveCommand make_timer_start(u8 number, u8 timer_id, TimerValue value) noexcept;
ProactiveCommand make_timer_deactivate(u8 number, u8 timer_id) noexcept;
ProactiveCommand make_timer_get_value(u8 number, u8 timer_id) noexcept;
ProactiveCommand make_display_text(u8 number, u8 qualifier, Bytes text_string) noexcept;
ProactiveCommand make_more_time(u8 number) noexcept;                    // TS 102 223 6.6.4
// duration: the two bytes of encode_duration, alive until the command is built (6.6.6).
ProactiveCommand make_poll_interval(u8 number, Bytes duration) noexcept;
ProactiveCommand make_polling_off(u8 number) noexcept;                  // 6.6.14
// qualifier: what to provide (6.6.15), e.g. qualifier::kLocalInfoDateTimeAndTimeZone.
ProactiveCommand make_provide_local_information(u8 number, u8 qualifier) noexcept;

}  // namespace scws::apdu::cat
