#include "apdu/command_apdu.hpp"

namespace scws::apdu {

Result<CommandApdu, ApduError> parse_command_apdu(Bytes raw) noexcept {
  if (raw.size() < 4) return fail(ApduError::kTooShort);
  CommandApdu c;
  c.cla = raw[0];
  c.ins = raw[1];
  c.p1 = raw[2];
  c.p2 = raw[3];
  if (c.cla == 0xFF) return fail(ApduError::kInvalidCla);
  Bytes body = raw.subspan(4);
  const std::size_t n = body.size();
  if (n == 0) {  // case 1
    c.kind = ApduCase::k1;
    return c;
  }
  if (n == 1) {  // case 2 short: Le
    c.kind = ApduCase::k2;
    c.has_le = true;
    c.ne = body[0] == 0 ? 256 : body[0];
    return c;
  }
  if (body[0] != 0) {  // short Lc
    const std::size_t lc = body[0];
    if (n == 1 + lc) {
      c.kind = ApduCase::k3;
    } else if (n == 2 + lc) {
      c.kind = ApduCase::k4;
      c.has_le = true;
      c.ne = body[1 + lc] == 0 ? 256 : body[1 + lc];
    } else {
      return fail(ApduError::kLengthMismatch);
    }
    c.data = body.subspan(1, lc);
    return c;
  }
  // body[0] == 00 and n >= 2: extended length (ISO 7816-4 5.2).
  if (n == 3) {  // case 2 extended: 00 Le1 Le2
    c.kind = ApduCase::k2;
    c.extended = true;
    c.has_le = true;
    const u32 le = (u32{body[1]} << 8) | body[2];
    c.ne = le == 0 ? 65536 : le;
    return c;
  }
  if (n < 3) return fail(ApduError::kBadExtendedLength);
  const std::size_t lc = (std::size_t{body[1]} << 8) | body[2];
  if (lc == 0) return fail(ApduError::kBadExtendedLength);
  c.extended = true;
  if (n == 3 + lc) {
    c.kind = ApduCase::k3;
  } else if (n == 5 + lc) {
    c.kind = ApduCase::k4;
    c.has_le = true;
    const u32 le = (u32{body[3 + lc]} << 8) | body[4 + lc];
    c.ne = le == 0 ? 65536 : le;
  } else {
    return fail(ApduError::kLengthMismatch);
  }
  c.data = body.subspan(3, lc);
  return c;
}

std::size_t encode_command_apdu(const CommandApdu& c, MutableBytes out) noexcept {
  ByteWriter w(out);
  w.u8_(c.cla);
  w.u8_(c.ins);
  w.u8_(c.p1);
  w.u8_(c.p2);
  const bool has_data = !c.data.empty();
  const bool extended = c.extended || c.data.size() > 255 || c.ne > 256;
  if (!extended) {
    if (has_data) {
      w.u8_(static_cast<u8>(c.data.size()));
      w.bytes(c.data);
    }
    if (c.has_le) w.u8_(static_cast<u8>(c.ne >= 256 ? 0 : c.ne));
  } else {
    w.u8_(0);
    if (has_data) {
      w.u16_be(static_cast<u16>(c.data.size()));
      w.bytes(c.data);
    }
    if (c.has_le) w.u16_be(static_cast<u16>(c.ne >= 65536 ? 0 : c.ne));
  }
  return w.ok() ? w.size() : 0;
}

}  // namespace scws::apdu
