// Status words (ISO/IEC 7816-4 section 5.6, ETSI TS 102 221 section 10.2). Only the card's dispatcher
// turns an error into one of these (docs/architecture.md, "Card-side rules"); the rest names errors.
#pragma once

#include <cstddef>

#include "base/bytes.hpp"

namespace scws::apdu {

enum class StatusWord : u16 {
  kOk = 0x9000,
  // TS 102 221 10.2.1.1: 91 XX = normal end, proactive command of XX bytes pending (XX added).
  kProactivePending = 0x9100,
  // TS 102 221 10.2.1.2: 93 00 = SIM Application Toolkit busy, retry the ENVELOPE later.
  kToolkitBusy = 0x9300,
  kBytesAvailable = 0x6100,         // 61 XX (T=0 GET RESPONSE); not used over vpcd
  kWarningEndOfFile = 0x6282,       // end of file reached before reading Le bytes
  kWarningSelectedFileInvalid = 0x6283,
  // docs/protocol.md 16.5: an R-APDU of a remote script whose data passed the response budget.
  kWarningScriptDataDropped = 0x62F1,
  // TS 102 221 10.2.1.3: 63 CX = verification failed, X retries left (X added).
  kVerificationFailed = 0x63C0,
  kMemoryFailure = 0x6581,
  kWrongLength = 0x6700,
  kLogicalChannelNotSupported = 0x6881,
  kSecureMessagingNotSupported = 0x6882,
  kCommandIncompatibleWithFile = 0x6981,
  kSecurityStatusNotSatisfied = 0x6982,
  kAuthenticationBlocked = 0x6983,  // TS 102 221 10.2.1.5: authentication/PIN method blocked
  kConditionsNotSatisfied = 0x6985,
  kCommandNotAllowedNoEf = 0x6986,
  kAppletSelectFailed = 0x6999,     // Java Card ISO7816.SW_APPLET_SELECT_FAILED
  kWrongData = 0x6A80,
  kFunctionNotSupported = 0x6A81,
  kFileNotFound = 0x6A82,
  kRecordNotFound = 0x6A83,
  kNotEnoughMemory = 0x6A84,
  kIncorrectP1P2 = 0x6A86,
  kReferencedDataNotFound = 0x6A88,
  kWrongP1P2 = 0x6B00,
  kWrongLe = 0x6C00,                // 6C XX: wrong Le, XX = exact length
  kInsNotSupported = 0x6D00,
  kClaNotSupported = 0x6E00,
  kTechnicalProblem = 0x6F00,
};

constexpr u16 to_u16(StatusWord sw) noexcept { return static_cast<u16>(sw); }
constexpr u8 sw1(StatusWord sw) noexcept { return static_cast<u8>(to_u16(sw) >> 8); }
constexpr u8 sw2(StatusWord sw) noexcept { return static_cast<u8>(to_u16(sw)); }
// 91 XX / 61 XX / 6C XX carry a length in SW2.
constexpr u16 with_length(StatusWord sw, u8 xx) noexcept {
  return static_cast<u16>((to_u16(sw) & 0xFF00U) | xx);
}

// 63 CX: verification failed with x (0..15) retries left (TS 102 221 10.2.1.3).
constexpr u16 with_retries(StatusWord sw, u8 x) noexcept {
  return static_cast<u16>((to_u16(sw) & 0xFFF0U) | (x & 0x0FU));
}

// True when sw is `family` with any length in SW2 (61 XX, 6C XX, 91 XX), or `family` itself.
constexpr bool in_family(u16 sw, StatusWord family) noexcept {
  return static_cast<u8>(sw >> 8) == sw1(family);
}
// Normal processing (TS 102 221 10.2.1.1): 90 00, or 91 XX with a proactive command pending.
constexpr bool is_normal_ending(u16 sw) noexcept {
  return sw == to_u16(StatusWord::kOk) || in_family(sw, StatusWord::kProactivePending);
}

// A remote script goes on after this status (TS 102 226 5.2.2 / ISO/IEC 7816-4 5.6: normal
// processing 90 00 and 61 XX, warnings 62 XX and 63 XX); it stops at any other.
constexpr bool script_goes_on(u16 sw) noexcept {
  return sw == to_u16(StatusWord::kOk) || in_family(sw, StatusWord::kBytesAvailable) ||
         in_family(sw, StatusWord::kWarningEndOfFile) || in_family(sw, StatusWord::kVerificationFailed);
}

// The status word that ends a response APDU (data + SW1 SW2); 0 when the response is shorter than 2.
constexpr u16 response_status(Bytes response) noexcept {
  if (response.size() < 2) return 0;
  return static_cast<u16>((response[response.size() - 2] << 8) | response[response.size() - 1]);
}
// Writes sw as SW1 SW2 at out[at], out[at + 1]; returns at + 2 (the response length). out must
// hold at + 2 bytes.
constexpr std::size_t put_status(MutableBytes out, std::size_t at, u16 sw) noexcept {
  out[at] = static_cast<u8>(sw >> 8);
  out[at + 1] = static_cast<u8>(sw);
  return at + 2;
}

// A short human-readable name for traces and the CLI ("9000 ok", "6A82 file not found").
const char* describe(u16 sw) noexcept;

}  // namespace scws::apdu
