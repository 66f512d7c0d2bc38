// Answer To Reset (ISO/IEC 7816-3 section 8, ETSI TS 102 221 section 6.3): the card's default UICC
// ATR and a checking parser for ATRs given by provisioning (CardIdentity::atr).
#pragma once

#include <array>
#include <cstddef>

#include "apdu/status_word.hpp"
#include "base/bytes.hpp"
#include "base/result.hpp"
#include "scws_config.hpp"

namespace scws::card {

inline constexpr std::size_t kMaxAtrSize = 33;  // ISO 7816-3 8.2.1; pcsc-lite MAX_ATR_SIZE

// Card capabilities, third byte (ISO 7816-4 8.1.1.2.7 table 87): b7 extended Lc/Le when the APDU
// buffer holds more than a short APDU, b5-b4 = 11 logical channels assigned by card and terminal,
// b3-b1 = number of logical channels - 1 (7 = eight or more).
inline constexpr u8 kCardCapabilities3 =
    static_cast<u8>((SCWS_APDU_BUFFER_SIZE > 261 ? 0x40 : 0x00) | 0x18 |
                    (SCWS_LOGICAL_CHANNELS - 1 > 7 ? 7 : SCWS_LOGICAL_CHANNELS - 1));

// The default UICC ATR, decoded byte by byte:
//   3B  TS  direct convention (ISO 7816-3 8.1)
//   9F  T0  Y1 = 1001: TA1 and TD1 follow; K = 15 historical bytes
//   96  TA1 Fi = 512, Di = 32 (TS 102 221 6.3.1; the speed real UICCs offer; vpcd ignores it)
//   80  TD1 Y2 = 1000: TD2 follows; T = 0 offered first (the default protocol)
//   B1  TD2 Y3 = 1011: TA3, TB3, TD3 follow; T = 1 offered
//   FE  TA3 T=1 IFSC = 254 bytes (ISO 7816-3 11.4.2)
//   45  TB3 T=1 BWI = 4, CWI = 5 (ISO 7816-3 11.4.3)
//   1F  TD3 Y4 = 0001: TA4 follows; T = 15 (global interface bytes)
//   C7  TA4 clock stop: no preference (b8-b7 = 11); supply classes A, B and C (TS 102 221 6.3.3)
//   80  historical bytes: category indicator 80 = COMPACT-TLV data objects (ISO 7816-4 8.1.1.1)
//   31 E0     card service data (tag 3, length 1; ISO 7816-4 8.1.1.2.3): selection by full DF
//             name and by partial DF name, BER-TLV data objects in EF.DIR, EF.DIR read by READ
//             RECORD, card with an MF
//   73 F6 21 xx  card capabilities (tag 7, length 3; ISO 7816-4 8.1.1.2.7): F6 = DF selection by
//             full DF name, partial DF name, path and file identifier, short EF identifier, record
//             number; 21 = data coding byte (one-byte data units, proprietary write behaviour);
//             xx = kCardCapabilities3 (extended lengths, logical channels)
//   54 53 43 57 53  card issuer's data (tag 5, length 4): "SCWS"
//   82 90 00  status indicator (tag 8, length 2): SW 90 00
//   xx  TCK: XOR of T0 .. the last historical byte (required when T=1 is offered, ISO 7816-3 8.2.5)
inline constexpr std::array<u8, 25> kDefaultAtr = [] {
  std::array<u8, 25> a{0x3B, 0x9F, 0x96, 0x80, 0xB1, 0xFE, 0x45, 0x1F, 0xC7,
                       0x80, 0x31, 0xE0, 0x73, 0xF6, 0x21, kCardCapabilities3,
                       0x54, 0x53, 0x43, 0x57, 0x53, 0x82, apdu::sw1(apdu::StatusWord::kOk),
                       apdu::sw2(apdu::StatusWord::kOk), 0x00};
  u8 tck = 0;
  for (std::size_t i = 1; i + 1 < a.size(); ++i) tck = static_cast<u8>(tck ^ a[i]);
  a[a.size() - 1] = tck;
  return a;
}();
static_assert(kDefaultAtr.size() <= kMaxAtrSize);

enum class AtrError : u8 {
  kTooShort,       // fewer than TS and T0
  kTooLong,        // more than 33 bytes
  kBadTs,          // TS neither 3B (direct) nor 3F (inverse convention)
  kTruncated,      // interface or historical bytes announced but missing
  kMissingTck,     // a protocol other than T=0 is offered but there is no TCK
  kBadTck,         // TCK does not make the XOR of T0..TCK zero
  kTrailingBytes,  // bytes after the TCK (or after the historical bytes when no TCK is due)
};

struct AtrInfo {
  bool direct_convention = true;
  u32 protocols = 0;   // bit n set when T=n is offered in a TDi (T=0 when no TD1)
  Bytes historical;    // view into the parsed ATR
  bool has_tck = false;
};

// Checks an ATR's structure (ISO 7816-3 8.2): TS, the TDi chain, the historical byte count, TCK.
Result<AtrInfo, AtrError> parse_atr(Bytes atr) noexcept;

}  // namespace scws::card
