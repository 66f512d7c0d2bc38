// TERMINAL RESPONSE (TS 102 223 6.8): SIMPLE/COMPREHENSION-TLVs with no outer tag, the data field of
// the TERMINAL RESPONSE APDU (80 14 00 00 Lc). Built by the terminal, parsed by the card.
//
// Mandatory: Command details (echo of the command's), Device identities (82 -> 81), Result. The BIP,
// timer, polling and local information objects are optional and carried when present: Duration
// (POLL INTERVAL), Date-time and time zone (PROVIDE LOCAL INFORMATION 03), Channel status (several
// for GET CHANNEL STATUS, one per channel, at most kMaxChannels), Bearer description, Buffer size,
// Other address, Channel data, Channel data length, Timer identifier, Timer value. Other objects are skipped
// whatever their CR flag (the card ignores what it did not ask for; skipped_unknown says so).
#pragma once

#include <cstddef>

#include "apdu/cat.hpp"

namespace scws::apdu::cat {

// CR flags of the conformance vectors: 81 82 83, B6 B7 (RECEIVE/SEND DATA), B8 (GET CHANNEL STATUS),
// A4 A5, 84 (POLL INTERVAL), A6 (PROVIDE LOCAL INFORMATION); 35 39 3E without. OPEN CHANNEL responses
// send 38 without CR (terminal_response_cr()).
inline constexpr CrFlags kTerminalResponseCr{
    {tag::kCommandDetails, tag::kDeviceIdentities, tag::kResult, tag::kChannelStatus,
     tag::kChannelData, tag::kChannelDataLength, tag::kTimerIdentifier, tag::kTimerValue,
     tag::kDuration, tag::kDateTimeAndTimeZone}};

// The CR flags for the response to a command of this type.
CrFlags terminal_response_cr(CommandType type) noexcept;

struct TerminalResponse {
  CommandDetails details;
  DeviceIdentities devices{device::kTerminal, device::kUicc};
  ResultValue result;

  bool has_duration = false;
  Duration duration;                                // 04 (POLL INTERVAL: the interval in use)
  bool has_date_time = false;
  DateTimeZone date_time;                           // 26 (PROVIDE LOCAL INFORMATION 03)
  ChannelStatus channel_status[kMaxChannels] = {};  // 38, in order
  u8 channel_status_count = 0;
  OptionalBytes bearer_description;                 // 35 (OPEN CHANNEL, client modes)
  bool has_buffer_size = false;
  u16 buffer_size = 0;                              // 39 (OPEN CHANNEL)
  OtherAddress local_address;                       // 3E (OPEN CHANNEL, dynamic local address)
  OptionalBytes channel_data;                       // 36 (RECEIVE DATA)
  bool has_channel_data_length = false;
  u8 channel_data_length = 0;                       // 37: Rx bytes left / Tx space free, FF = more
  bool has_timer_id = false;
  u8 timer_id = 0;                                  // 24 (TIMER MANAGEMENT)
  bool has_timer_value = false;
  TimerValue timer_value;                           // 25 (TIMER MANAGEMENT, get value / deactivate)

  CrFlags cr = kTerminalResponseCr;
  bool skipped_unknown = false;  // parser: skipped objects this codec does not read

  void add_channel_status(ChannelStatus s) noexcept {
    if (channel_status_count < kMaxChannels) channel_status[channel_status_count++] = s;
  }
};

Result<TerminalResponse, CatError> parse_terminal_response(Bytes data) noexcept;

// Writes the TLVs into out and returns their size (at most kMaxTerminalResponseSize).
Result<std::size_t, CatError> build_terminal_response(const TerminalResponse& r, MutableBytes out) noexcept;

// A response echoing details, 82 -> 81, with the CR flags for details.type.
TerminalResponse make_terminal_response(const CommandDetails& details, ResultValue result) noexcept;

}  // namespace scws::apdu::cat
