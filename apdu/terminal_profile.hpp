// TERMINAL PROFILE (TS 102 223 5.2): the facilities the terminal supports, sent in the TERMINAL
// PROFILE APDU (80 10 00 00 Lc). Built by the terminal, parsed by the card.
//
// Only the bits this project uses are named (docs/protocol.md section 6.1, pySim term_prof_bits).
// "Byte b, bit n" counts bytes from 1 and bits from b1 = least significant. Bytes the terminal does
// not send read as zero; bits not named here are ignored by the parser and sent as zero by the
// builder.
#pragma once

#include <cstddef>

#include "apdu/cat.hpp"

namespace scws::apdu::cat {

// The builder always writes this many bytes (18 only when the USB bearer bit is set).
inline constexpr std::size_t kTerminalProfileSize = 17;
inline constexpr std::size_t kTerminalProfileMaxSize = 18;

struct TerminalProfile {
  // byte 1
  bool profile_download = false;              // b1
  bool sms_pp_data_download = false;          // b2
  bool timer_expiration = false;              // b6
  // byte 2
  bool command_result = false;                // b1
  // byte 3
  bool display_text = false;                  // b1
  bool more_time = false;                     // b4
  bool poll_interval = false;                 // b6
  bool polling_off = false;                   // b7
  // byte 4
  bool send_short_message = false;            // b2
  // byte 5
  bool set_up_event_list = false;             // b1
  // byte 6
  bool event_data_available = false;          // b3
  bool event_channel_status = false;          // b4
  bool event_access_technology_change = false;  // b5
  bool event_local_connection = false;        // b7
  // byte 8
  bool timer_management_start_stop = false;   // b1
  bool timer_management_get_value = false;    // b2
  bool provide_local_information_date_time = false;  // b3: date, time and time zone
  // byte 12
  bool open_channel = false;                  // b1
  bool close_channel = false;                 // b2
  bool receive_data = false;                  // b3
  bool send_data = false;                     // b4
  bool get_channel_status = false;            // b5
  // byte 13
  bool bearer_csd = false;                    // b1
  bool bearer_gprs = false;                   // b2
  u8 channel_count = 0;                       // b8..b6: channels supported, 0..7
  // byte 17: transport interfaces
  bool tcp_client_remote = false;             // b1
  bool udp_client_remote = false;             // b2
  bool tcp_server = false;                    // b3: TCP, UICC in server mode
  bool tcp_client_local = false;              // b4
  bool udp_client_local = false;              // b5
  bool direct_channel = false;                // b6
  bool bearer_eutran = false;                 // b7
  bool bearer_hsdpa = false;                  // b8
  // byte 18
  bool bearer_usb = false;                    // b3
};

// Any byte string is a profile (missing bytes are zero); only channel counts above 7 are impossible
// and the 3-bit field cannot carry one.
TerminalProfile parse_terminal_profile(Bytes data) noexcept;

// Writes kTerminalProfileSize bytes (kTerminalProfileMaxSize with the USB bearer) and returns the
// size. kInvalidArgument when channel_count > 7, kBufferTooSmall when out is too short.
Result<std::size_t, CatError> build_terminal_profile(const TerminalProfile& p, MutableBytes out) noexcept;

// Everything a terminal needs to serve the SCWS: SET UP EVENT LIST, the Data available and Channel
// status events, OPEN/CLOSE CHANNEL, RECEIVE/SEND DATA, TCP in UICC server mode, at least one channel.
bool supports_bip_server_mode(const TerminalProfile& p) noexcept;
// What a TCP client channel needs (TS 102 223 6.4.27.2, docs/protocol.md section 7.10): SET UP EVENT
// LIST, both BIP events, OPEN/CLOSE CHANNEL, RECEIVE/SEND DATA, TCP in UICC client mode with a
// remote connection (byte 17 b1), at least one channel.
bool supports_bip_client_mode(const TerminalProfile& p) noexcept;
constexpr u8 channels(const TerminalProfile& p) noexcept { return p.channel_count; }

// The profile of this project's gateway (the minimal SCWS profile of docs/protocol.md section 6.1,
// plus timers, GET CHANNEL STATUS, TCP client mode for the admin session and 7 channels).
TerminalProfile scws_gateway_profile() noexcept;

}  // namespace scws::apdu::cat
