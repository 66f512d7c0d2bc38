// Card Application Toolkit (ETSI TS 102 223) vocabulary shared by the card (which builds proactive
// commands and parses terminal responses and envelopes) and the terminal (the reverse): constants,
// small value types, the error enum of this layer and the size limits.
//
// The messages themselves live in proactive_command.hpp, terminal_response.hpp, envelope.hpp and
// terminal_profile.hpp. Every message struct holds views (Bytes) into a caller-owned buffer: the
// parsed input, or, when building, the caller's data. Nothing allocates.
#pragma once

#include <cstddef>

#include "apdu/tlv.hpp"
#include "base/bytes.hpp"
#include "base/result.hpp"

namespace scws::apdu::cat {

// --- BER-TLV tags (TS 101 220 7.2, table 7.17) ---------------------------------------------------
namespace ber_tag {
inline constexpr u8 kProactiveCommand = 0xD0;
inline constexpr u8 kSmsPpDownload = 0xD1;
inline constexpr u8 kEventDownload = 0xD6;
inline constexpr u8 kTimerExpiration = 0xD7;
}  // namespace ber_tag

// --- COMPREHENSION-TLV tag values, CR flag not included (TS 102 223 annex C, TS 101 220 7.2) ------
namespace tag {
inline constexpr u16 kCommandDetails = 0x01;        // TS 102 223 8.6
inline constexpr u16 kDeviceIdentities = 0x02;      // 8.7
inline constexpr u16 kResult = 0x03;                // 8.12
inline constexpr u16 kDuration = 0x04;              // 8.8
inline constexpr u16 kAlphaIdentifier = 0x05;       // 8.2
inline constexpr u16 kAddress = 0x06;               // 8.1
inline constexpr u16 kSmsTpdu = 0x0B;               // 8.13
inline constexpr u16 kTextString = 0x0D;            // 8.15
inline constexpr u16 kEventList = 0x19;             // 8.25
inline constexpr u16 kIconIdentifier = 0x1E;        // 8.31
inline constexpr u16 kTimerIdentifier = 0x24;       // 8.37
inline constexpr u16 kTimerValue = 0x25;            // 8.38
inline constexpr u16 kDateTimeAndTimeZone = 0x26;   // 8.39
inline constexpr u16 kImmediateResponse = 0x2B;     // 8.43
inline constexpr u16 kBearerDescription = 0x35;     // 8.52
inline constexpr u16 kChannelData = 0x36;           // 8.53
inline constexpr u16 kChannelDataLength = 0x37;     // 8.54
inline constexpr u16 kChannelStatus = 0x38;         // 8.56
inline constexpr u16 kBufferSize = 0x39;            // 8.55
inline constexpr u16 kTransportLevel = 0x3C;        // 8.59 UICC/terminal interface transport level
inline constexpr u16 kOtherAddress = 0x3E;          // 8.58
inline constexpr u16 kNetworkAccessName = 0x47;     // 8.61
inline constexpr u16 kTextAttribute = 0x50;         // 8.72
inline constexpr u16 kFrameIdentifier = 0x68;       // 8.80
}  // namespace tag

// --- command types (TS 102 223 9.4; Command details byte 2) --------------------------------------
enum class CommandType : u8 {
  kRefresh = 0x01,
  kMoreTime = 0x02,
  kPollInterval = 0x03,
  kPollingOff = 0x04,
  kSetUpEventList = 0x05,
  kSendShortMessage = 0x13,
  kLaunchBrowser = 0x15,
  kDisplayText = 0x21,
  kSetUpMenu = 0x25,
  kProvideLocalInformation = 0x26,
  kTimerManagement = 0x27,
  kOpenChannel = 0x40,
  kCloseChannel = 0x41,
  kReceiveData = 0x42,
  kSendData = 0x43,
  kGetChannelStatus = 0x44,
};

// Command qualifiers (Command details byte 3), TS 102 223 8.6.
namespace qualifier {
inline constexpr u8 kOpenChannelImmediate = 0x01;        // client modes: establish the link now
inline constexpr u8 kOpenChannelAutoReconnect = 0x02;
inline constexpr u8 kOpenChannelBackground = 0x04;
inline constexpr u8 kCloseChannelToClosed = 0x00;        // server mode: drop the client, stop listening
inline constexpr u8 kCloseChannelToListen = 0x01;        // server mode: drop the client, keep listening
inline constexpr u8 kSendDataStore = 0x00;               // keep in the Tx buffer
inline constexpr u8 kSendDataImmediately = 0x01;         // flush the Tx buffer
inline constexpr u8 kTimerStart = 0x00;                  // b2..b1 of TIMER MANAGEMENT
inline constexpr u8 kTimerDeactivate = 0x01;
inline constexpr u8 kTimerGetValue = 0x02;
inline constexpr u8 kTimerActionMask = 0x03;
inline constexpr u8 kLocalInfoDateTimeAndTimeZone = 0x03;  // PROVIDE LOCAL INFORMATION, TS 102 223 6.4.15
}  // namespace qualifier

// Data coding schemes of a Text string (TS 102 223 8.15, TS 23.038 clause 4): the first value byte.
namespace dcs {
inline constexpr u8 kGsm7BitPacked = 0x00;
inline constexpr u8 k8BitData = 0x04;         // general data coding, no message class
inline constexpr u8 k8BitDataClass0 = 0xF4;   // data coding / message class group, 8-bit, class 0
inline constexpr u8 kUcs2 = 0x08;
}  // namespace dcs

// --- device identities (TS 102 223 8.7) -----------------------------------------------------------
namespace device {
inline constexpr u8 kKeypad = 0x01;
inline constexpr u8 kDisplay = 0x02;
inline constexpr u8 kEarpiece = 0x03;
inline constexpr u8 kChannel1 = 0x21;  // channels 1..7 are 21..27
inline constexpr u8 kChannel7 = 0x27;
inline constexpr u8 kUicc = 0x81;
inline constexpr u8 kTerminal = 0x82;
inline constexpr u8 kNetwork = 0x83;
}  // namespace device

inline constexpr u8 kMaxChannels = 7;  // channel identifiers 1..7 (TS 102 223 8.7, 8.56)

constexpr bool is_channel_device(u8 d) noexcept { return d >= device::kChannel1 && d <= device::kChannel7; }
constexpr u8 channel_device(u8 channel_id) noexcept { return static_cast<u8>(0x20 + channel_id); }
constexpr u8 channel_of_device(u8 d) noexcept { return is_channel_device(d) ? static_cast<u8>(d - 0x20) : 0; }

// An optional data object kept as a view. Present-but-empty is not absent: "05 00" is a null alpha
// identifier, "3E 00" asks for a dynamic address.
struct OptionalBytes {
  bool present = false;
  Bytes value;
};
constexpr OptionalBytes some(Bytes v) noexcept { return OptionalBytes{true, v}; }

struct DeviceIdentities {
  u8 source = 0;
  u8 destination = 0;
};

struct CommandDetails {
  u8 number = 1;  // command number, echoed in the TERMINAL RESPONSE
  CommandType type = CommandType::kRefresh;
  u8 qualifier = 0;
};

// --- general results and BIP causes (TS 102 223 8.12, 8.12.11) -------------------------------------
enum class GeneralResult : u8 {
  kOk = 0x00,
  kPartialComprehension = 0x01,
  kMissingInformation = 0x02,         // e.g. RECEIVE DATA returning fewer bytes than asked
  kRefreshWithAdditionalEfsRead = 0x03,
  kIconNotDisplayed = 0x04,
  kPerformedWithModification = 0x07,  // e.g. OPEN CHANNEL with a smaller buffer
  kTerminatedByUser = 0x10,
  kBackwardMove = 0x11,
  kNoResponseFromUser = 0x12,
  kHelpRequested = 0x13,
  kTerminalUnable = 0x20,             // + additional information
  kNetworkUnable = 0x21,
  kUserDidNotAccept = 0x22,
  kTimerConflict = 0x24,
  kBeyondTerminalCapabilities = 0x30,
  kTypeNotUnderstood = 0x31,
  kDataNotUnderstood = 0x32,
  kNumberNotKnown = 0x33,
  kRequiredValuesMissing = 0x36,
  kBipError = 0x3A,                   // + BipCause
};

enum class BipCause : u8 {
  kNoSpecificCause = 0x00,
  kNoChannelAvailable = 0x01,
  kChannelClosed = 0x02,
  kChannelIdNotValid = 0x03,
  kBufferSizeNotAvailable = 0x04,
  kSecurityError = 0x05,
  kTransportLevelNotAvailable = 0x06,
  kRemoteDeviceNotReachable = 0x07,
  kServiceError = 0x08,
  kServiceIdentifierUnknown = 0x09,
  kPortNotAvailable = 0x10,
  kLaunchParametersMissing = 0x11,
  kApplicationLaunchFailed = 0x12,
};

// Result data object (TS 102 223 8.12): general result + additional information.
inline constexpr std::size_t kMaxAdditionalInfo = 16;
struct ResultValue {
  GeneralResult general = GeneralResult::kOk;
  u8 additional[kMaxAdditionalInfo] = {};
  u8 additional_size = 0;
};
constexpr ResultValue make_result(GeneralResult g) noexcept { return ResultValue{g, {}, 0}; }
constexpr ResultValue make_result(GeneralResult g, u8 info) noexcept {
  ResultValue r{g, {}, 1};
  r.additional[0] = info;
  return r;
}
constexpr ResultValue make_bip_error(BipCause cause) noexcept {
  return make_result(GeneralResult::kBipError, static_cast<u8>(cause));
}

// --- events (TS 102 223 8.25) ----------------------------------------------------------------------
enum class Event : u8 {
  kMtCall = 0x00,
  kCallConnected = 0x01,
  kCallDisconnected = 0x02,
  kLocationStatus = 0x03,
  kUserActivity = 0x04,
  kIdleScreenAvailable = 0x05,
  kCardReaderStatus = 0x06,
  kLanguageSelection = 0x07,
  kBrowserTermination = 0x08,
  kDataAvailable = 0x09,
  kChannelStatus = 0x0A,
  kAccessTechnologyChange = 0x0B,
  kDisplayParametersChanged = 0x0C,
  kLocalConnection = 0x0D,
  kNetworkSearchModeChange = 0x0E,
  kBrowsingStatus = 0x0F,
  kFramesInformationChange = 0x10,
};

// --- BIP data objects ---------------------------------------------------------------------------------

// Transport protocol type of the UICC/terminal interface transport level (TS 102 223 8.59).
enum class TransportProtocol : u8 {
  kUdpClientRemote = 0x01,
  kTcpClientRemote = 0x02,
  kTcpServer = 0x03,        // UICC in server mode (the SCWS)
  kUdpClientLocal = 0x04,
  kTcpClientLocal = 0x05,
  kDirectChannel = 0x06,
};

struct TransportLevel {
  TransportProtocol protocol = TransportProtocol::kTcpServer;
  u16 port = 0;
};

// Bearer types (TS 102 223 8.52, first byte of the bearer description).
namespace bearer {
inline constexpr u8 kCsd = 0x01;
inline constexpr u8 kGprs = 0x02;
inline constexpr u8 kDefault = 0x03;  // default bearer for the requested transport layer
}  // namespace bearer

// Other address (TS 102 223 8.58): type + address. A zero-length value asks for a dynamic address.
namespace address_type {
inline constexpr u8 kIpv4 = 0x21;
inline constexpr u8 kIpv6 = 0x57;
}  // namespace address_type

struct OtherAddress {
  bool present = false;
  u8 type = address_type::kIpv4;  // meaningful when address is not empty
  Bytes address;                  // 4 bytes (IPv4) or 16 (IPv6); empty = dynamic
};

// Channel status (TS 102 223 8.56), two bytes.
// Byte 1: b3..b1 channel identifier (0 = none). Client modes: b8 = link established. UICC server
// mode: b8..b7 = 00 TCP CLOSED, 01 LISTEN, 10 ESTABLISHED. Byte 2: further information.
enum class ServerState : u8 { kClosed = 0, kListen = 1, kEstablished = 2, kReserved = 3 };

namespace channel_info {
inline constexpr u8 kNone = 0x00;
inline constexpr u8 kLinkDropped = 0x05;  // network failure or user cancellation
}  // namespace channel_info

struct ChannelStatus {
  u8 status = 0;  // byte 1
  u8 info = 0;    // byte 2: channel_info::*

  [[nodiscard]] constexpr u8 channel_id() const noexcept { return status & 0x07; }
  [[nodiscard]] constexpr ServerState server_state() const noexcept {
    return static_cast<ServerState>(status >> 6);
  }
  [[nodiscard]] constexpr bool link_established() const noexcept { return (status & 0x80) != 0; }
};

constexpr ChannelStatus server_channel_status(u8 channel_id, ServerState s,
                                              u8 info = channel_info::kNone) noexcept {
  return ChannelStatus{static_cast<u8>((static_cast<u8>(s) << 6) | (channel_id & 0x07)), info};
}
constexpr ChannelStatus client_channel_status(u8 channel_id, bool established,
                                              u8 info = channel_info::kNone) noexcept {
  return ChannelStatus{static_cast<u8>((established ? 0x80 : 0x00) | (channel_id & 0x07)), info};
}
static_assert(server_channel_status(1, ServerState::kClosed).status == 0x01);
static_assert(server_channel_status(1, ServerState::kListen).status == 0x41);
static_assert(server_channel_status(1, ServerState::kEstablished).status == 0x81);

// Timer value (TS 102 223 8.38): hours, minutes, seconds, each a byte of two BCD digits with the
// nibbles swapped like the TS 23.040 SC time stamp ("00 00 50" = 5 s, "00 10 03" = 1 min 30 s).
struct TimerValue {
  u8 hours = 0;
  u8 minutes = 0;
  u8 seconds = 0;
};
inline constexpr u8 kMaxTimerId = 8;  // timer identifiers 1..8 (TS 102 223 8.37)
inline constexpr std::size_t kTimerValueSize = 3;

// Duration (TS 102 223 8.8): a time unit and a number of units, 1..255 (00 is reserved). POLL
// INTERVAL asks for one and its TERMINAL RESPONSE states the one the terminal uses.
enum class DurationUnit : u8 { kMinutes = 0x00, kSeconds = 0x01, kTenthsOfSeconds = 0x02 };
struct Duration {
  DurationUnit unit = DurationUnit::kSeconds;
  u8 interval = 1;
};
inline constexpr std::size_t kDurationSize = 2;
constexpr u32 duration_tenths(const Duration& d) noexcept {
  switch (d.unit) {
    case DurationUnit::kMinutes: return u32{d.interval} * 600U;
    case DurationUnit::kSeconds: return u32{d.interval} * 10U;
    case DurationUnit::kTenthsOfSeconds: return d.interval;
  }
  return 0;
}
static_assert(duration_tenths(Duration{DurationUnit::kMinutes, 255}) == 153000);

// Date-time and time zone (TS 102 223 8.39): seven bytes coded like the TS 23.040 9.2.3.11 service
// centre time stamp, each byte two semi-octets with the nibbles swapped ("21" = 12): year (two
// digits), month, day, hour, minute, second, time zone. The time zone counts quarters of an hour
// from GMT; b4 of its byte (the high bit of the first semi-octet) says west of GMT. FF: unknown.
struct DateTimeZone {
  u8 year = 0;  // 00..99
  u8 month = 1;
  u8 day = 1;
  u8 hour = 0;
  u8 minute = 0;
  u8 second = 0;
  bool zone_known = false;
  signed char zone_quarters = 0;  // -79..79 when zone_known
};
inline constexpr std::size_t kDateTimeSize = 7;
inline constexpr u8 kTimeZoneUnknown = 0xFF;
inline constexpr int kMaxZoneQuarters = 79;  // two semi-octets, the sign taking the tens' high bit

// Channel data length value meaning "more than 255 bytes" (TS 102 223 8.54).
inline constexpr u8 kChannelDataLengthMany = 0xFF;

// --- size limits ---------------------------------------------------------------------------------------
// A proactive command travels in one FETCH response announced by 91 XX, so the whole D0 TLV stays
// <= 255 bytes. TERMINAL RESPONSE and ENVELOPE travel as short command APDUs (Lc <= 255).
inline constexpr std::size_t kMaxProactiveCommandSize = 255;
inline constexpr std::size_t kMaxTerminalResponseSize = 255;
inline constexpr std::size_t kMaxEnvelopeSize = 255;

namespace detail {
inline constexpr std::size_t kCommandDetailsTlv = 2 + 3;
inline constexpr std::size_t kDeviceIdentitiesTlv = 2 + 2;
inline constexpr std::size_t kResultOkTlv = 2 + 1;
inline constexpr std::size_t kChannelDataLengthTlv = 2 + 1;
inline constexpr std::size_t kLongLengthTlvHeader = 1 + 2;  // tag, 81, LL
}  // namespace detail

// SEND DATA: D0 81 LL + command details + device identities + B6 81 LL + data <= 255.
inline constexpr std::size_t kMaxSendDataPayload =
    kMaxProactiveCommandSize - detail::kLongLengthTlvHeader - detail::kCommandDetailsTlv -
    detail::kDeviceIdentitiesTlv - detail::kLongLengthTlvHeader;
static_assert(kMaxSendDataPayload == 240, "docs/protocol.md section 6.4: one SEND DATA carries 240 bytes");

// RECEIVE DATA TERMINAL RESPONSE: details + devices + result + B6 81 LL + data + B7 01 XX <= 255.
inline constexpr std::size_t kMaxReceiveDataPayload =
    kMaxTerminalResponseSize - detail::kCommandDetailsTlv - detail::kDeviceIdentitiesTlv -
    detail::kResultOkTlv - detail::kLongLengthTlvHeader - detail::kChannelDataLengthTlv;
static_assert(kMaxReceiveDataPayload == 237, "docs/protocol.md section 6.4: 237 bytes per RECEIVE DATA");

// --- CR flags --------------------------------------------------------------------------------------------
// The sender chooses the CR flag per data object (conformance vectors differ: 38 in an OPEN CHANNEL
// response, B8 in a GET CHANNEL STATUS response). A message struct carries the set of tags to send
// with CR; parsers record what they saw so a message re-encodes byte for byte.
class CrFlags {
 public:
  constexpr CrFlags() noexcept = default;
  template <std::size_t N>
  constexpr explicit CrFlags(const u16 (&tags)[N]) noexcept {
    for (u16 t : tags) set(t, true);
  }
  constexpr void set(u16 tag, bool cr) noexcept {
    if (tag >= 128) return;  // only one-byte tag values are built by this layer
    const u64 bit = u64{1} << (tag % 64);
    if (cr) {
      bits_[tag / 64] |= bit;
    } else {
      bits_[tag / 64] &= ~bit;
    }
  }
  [[nodiscard]] constexpr bool has(u16 tag) const noexcept {
    return tag < 128 && (bits_[tag / 64] >> (tag % 64)) & 1U;
  }
  friend constexpr bool operator==(const CrFlags&, const CrFlags&) noexcept = default;

 private:
  u64 bits_[2] = {0, 0};
};

// --- errors --------------------------------------------------------------------------------------------
enum class CatError : u8 {
  // framing
  kMalformedTlv,           // a TLV is cut short, runs past the end or has an invalid tag/length
  kWrongOuterTag,          // not a D0 proactive command / not a D1, D6 or D7 envelope
  kTrailingBytes,          // bytes after the outer BER-TLV
  // type not understood (general result 31)
  kUnknownCommandType,
  // data not understood (general result 32)
  kUnknownRequiredTlv,     // a COMPREHENSION-TLV with CR set that this message does not define
  kDuplicateTlv,           // a data object that may appear once appears again
  kBadCommandDetails,      // not 3 bytes
  kBadQualifier,           // an RFU command qualifier (e.g. TIMER MANAGEMENT action 11)
  kBadDeviceIdentities,    // not 2 bytes, or a source/destination this message does not allow
  kBadResult,              // empty, or additional information over kMaxAdditionalInfo bytes
  kBadEventList,           // an envelope event list with other than exactly one event
  kBadIconIdentifier,      // not 2 bytes
  kBadDuration,            // not 2 bytes; for POLL INTERVAL also a reserved unit or a zero interval
  kBadBearerDescription,   // empty
  kBadBufferSize,          // not 2 bytes
  kBadTransportLevel,      // not 3 bytes
  kBadOtherAddress,        // unknown type, or an address of the wrong size for its type
  kBadChannelDataLength,   // not 1 byte
  kBadChannelStatus,       // not 2 bytes, or more than kMaxChannels in one response
  kBadTimerIdentifier,     // not 1 byte, or not 1..8
  kBadTimerValue,          // not 3 bytes, or not BCD hh mm ss with mm, ss < 60
  kBadImmediateResponse,   // not empty
  kBadDateTime,            // not 7 bytes, or a field that is not a BCD date, time or time zone
  // required values missing (general result 36)
  kMissingCommandDetails,
  kMissingDeviceIdentities,
  kMissingResult,
  kMissingEventList,
  kMissingTextString,
  kMissingBufferSize,
  kMissingBearerDescription,
  kMissingDestinationAddress,
  kMissingChannelData,
  kMissingChannelDataLength,
  kMissingChannelStatus,
  kMissingTimerIdentifier,
  kMissingTimerValue,
  kMissingSmsTpdu,
  kMissingDuration,
  // builders
  kBufferTooSmall,         // the output span is too small
  kTooLong,                // the message would exceed its size limit
  kInvalidArgument,        // a field that cannot be encoded (timer value digits, > 7 channel statuses)
};

// How a terminal classifies a proactive command it cannot use (TS 102 223 6.10).
enum class CatErrorKind : u8 {
  kTypeNotUnderstood,      // answer 31
  kDataNotUnderstood,      // answer 32
  kRequiredValuesMissing,  // answer 36
  kEncoding,               // a builder refused its input; nothing to answer
};

CatErrorKind kind_of(CatError e) noexcept;
// The general result a terminal sends for a parse error (31, 32 or 36).
GeneralResult general_result_for(CatError e) noexcept;
const char* describe(CatError e) noexcept;
CatError from_tlv_error(TlvError e) noexcept;

// --- value codecs shared by the message parsers ---------------------------------------------------------
Result<TimerValue, CatError> decode_timer_value(Bytes value) noexcept;
// Fails with kInvalidArgument unless hours <= 99, minutes and seconds <= 59.
Status<CatError> encode_timer_value(const TimerValue& t, u8 (&out)[kTimerValueSize]) noexcept;
// Fails with kBadDuration for a reserved unit or a zero interval.
Result<Duration, CatError> decode_duration(Bytes value) noexcept;
Status<CatError> encode_duration(const Duration& d, u8 (&out)[kDurationSize]) noexcept;
Result<DateTimeZone, CatError> decode_date_time(Bytes value) noexcept;
// Fails with kInvalidArgument for a field out of its range (month 1..12, day 1..31, ...).
Status<CatError> encode_date_time(const DateTimeZone& t, u8 (&out)[kDateTimeSize]) noexcept;
constexpr u32 timer_seconds(const TimerValue& t) noexcept {
  return u32{t.hours} * 3600U + u32{t.minutes} * 60U + t.seconds;
}

}  // namespace scws::apdu::cat
