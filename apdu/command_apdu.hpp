// Command APDUs (ISO/IEC 7816-4 section 5.1, 5.2): cases 1-4, short and extended length.
// The parser never copies: data is a view into the caller's buffer.
#pragma once

#include "base/bytes.hpp"
#include "base/result.hpp"

namespace scws::apdu {

enum class ApduCase : u8 { k1, k2, k3, k4 };

enum class ApduError : u8 {
  kTooShort,           // fewer than 4 header bytes
  kLengthMismatch,     // Lc disagrees with the bytes present, or trailing bytes after Le
  kBadExtendedLength,  // extended Lc of 0, or an extended form cut short
  kInvalidCla,         // CLA FF is reserved for PPS (ISO 7816-3)
};

struct CommandApdu {
  u8 cla = 0;
  u8 ins = 0;
  u8 p1 = 0;
  u8 p2 = 0;
  Bytes data;           // Nc bytes
  u32 ne = 0;           // expected response length; 256 (short) or 65536 (extended) for Le=00
  ApduCase kind = ApduCase::k1;
  bool extended = false;
  bool has_le = false;  // Le field present (Ne may still be 256/65536 for a 00 Le)
};

Result<CommandApdu, ApduError> parse_command_apdu(Bytes raw) noexcept;

// Encodes a command APDU into out (short form when Nc <= 255 and Ne <= 256, extended otherwise).
// Returns the size, or 0 if out is too small.
std::size_t encode_command_apdu(const CommandApdu& c, MutableBytes out) noexcept;

// Logical channel from CLA (TS 102 221 10.1.1 / ISO 7816-4 5.4.1): first interindustry CLA
// (b8..b7 = 00 or b8 = 1 proprietary 8X/AX) carries channels 0-3 in b2..b1; further interindustry
// CLA (b7 = 1: 4X..7X, CX..FX) carries 4-19 in b4..b1.
constexpr u8 channel_from_cla(u8 cla) noexcept {
  if (cla & 0x40) return static_cast<u8>(4 + (cla & 0x0F));
  return static_cast<u8>(cla & 0x03);
}
// True for the proprietary class TS 102 221 uses for CAT and UICC commands (80, 81..83, C0..).
constexpr bool is_proprietary_cla(u8 cla) noexcept { return (cla & 0x80) != 0; }
constexpr u8 cla_for_channel(u8 base_cla, u8 channel) noexcept {
  if (channel < 4) return static_cast<u8>((base_cla & 0xBC) | channel);
  return static_cast<u8>((base_cla & 0xB0) | 0x40 | (channel - 4));
}

}  // namespace scws::apdu
