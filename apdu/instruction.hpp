// Instruction bytes and the class bytes the card and the host put in front of them (ISO/IEC 7816-4
// section 5.1 and 5.4.1, ETSI TS 102 221 section 10.1.2 table 10.5): the one place these codes are
// spelt out. The card's dispatcher routes on them; the host's terminal, benchmarks and tests build
// their commands from them.
#pragma once

#include "base/bytes.hpp"

namespace scws::apdu {

enum class Ins : u8 {
  kTerminalProfile = 0x10,   // TS 102 221 11.2.1 (CAT)
  kFetch = 0x12,             // TS 102 221 11.2.3 (CAT)
  kTerminalResponse = 0x14,  // TS 102 221 11.2.4 (CAT)
  kVerify = 0x20,            // ISO 7816-4 7.5.6, TS 102 221 11.1.9
  kManageChannel = 0x70,     // ISO 7816-4 7.1.2
  kSelect = 0xA4,            // ISO 7816-4 7.1.1, TS 102 221 11.1.1
  kReadBinary = 0xB0,        // ISO 7816-4 7.2.3, TS 102 221 11.1.3
  kReadRecord = 0xB2,        // ISO 7816-4 7.3.3, TS 102 221 11.1.5
  kGetResponse = 0xC0,       // ISO 7816-4 7.6.1 (after 61 XX under T=0)
  kEnvelope = 0xC2,          // TS 102 221 11.2.2 (CAT)
  kUpdateBinary = 0xD6,      // ISO 7816-4 7.2.5, TS 102 221 11.1.4
  kStatus = 0xF2,            // TS 102 221 11.1.2
};

constexpr u8 to_u8(Ins ins) noexcept { return static_cast<u8>(ins); }

// Class bytes of the basic channel (channel bits zero; apdu/command_apdu.hpp cla_for_channel adds them).
namespace cla {
inline constexpr u8 kInterindustry = 0x00;  // ISO 7816-4 5.4.1: SELECT, READ BINARY, MANAGE CHANNEL ...
inline constexpr u8 kUicc = 0x80;           // TS 102 221 10.1.1: STATUS and the CAT commands
}  // namespace cla

// P1 of SELECT (ISO 7816-4 7.1.1 table 39, TS 102 221 11.1.1.2).
namespace select_p1 {
inline constexpr u8 kByFileId = 0x00;       // MF, DF or EF by file identifier
inline constexpr u8 kByDfName = 0x04;       // by DF name: an application's AID
inline constexpr u8 kPathFromMf = 0x08;
inline constexpr u8 kPathFromCurrentDf = 0x09;
}  // namespace select_p1

// P1 of MANAGE CHANNEL (ISO 7816-4 7.1.2).
namespace manage_channel_p1 {
inline constexpr u8 kOpen = 0x00;
inline constexpr u8 kClose = 0x80;
}  // namespace manage_channel_p1

// P2 of STATUS (TS 102 221 11.1.2.2): what the response carries.
namespace status_p2 {
inline constexpr u8 kFcp = 0x00;
inline constexpr u8 kDfName = 0x01;
inline constexpr u8 kNoData = 0x0C;
}  // namespace status_p2

}  // namespace scws::apdu
