#include "card/os/atr.hpp"

namespace scws::card {

Result<AtrInfo, AtrError> parse_atr(Bytes atr) noexcept {
  if (atr.size() < 2) return fail(AtrError::kTooShort);
  if (atr.size() > kMaxAtrSize) return fail(AtrError::kTooLong);
  AtrInfo info;
  const u8 ts = atr[0];
  if (ts != 0x3B && ts != 0x3F) return fail(AtrError::kBadTs);
  info.direct_convention = ts == 0x3B;

  ByteReader r(atr.subspan(1));
  const u8 t0 = r.u8_();
  const std::size_t historical = t0 & 0x0F;
  u8 y = static_cast<u8>(t0 >> 4);  // presence of TAi, TBi, TCi, TDi (b5..b8)
  bool any_td = false;
  while (true) {
    if (y & 0x1) r.u8_();  // TAi
    if (y & 0x2) r.u8_();  // TBi
    if (y & 0x4) r.u8_();  // TCi
    if ((y & 0x8) == 0) break;
    const u8 td = r.u8_();
    if (!r.ok()) return fail(AtrError::kTruncated);
    any_td = true;
    info.protocols |= u32{1} << (td & 0x0F);
    y = static_cast<u8>(td >> 4);
  }
  if (!any_td) info.protocols = 1;  // T=0 implied (ISO 7816-3 8.2.3)
  info.historical = r.take(historical);
  if (!r.ok()) return fail(AtrError::kTruncated);
  // TCK is due when anything but T=0 is offered (ISO 7816-3 8.2.5).
  const bool tck_due = (info.protocols & ~u32{1}) != 0;
  if (tck_due) {
    if (r.at_end()) return fail(AtrError::kMissingTck);
    r.u8_();
    u8 x = 0;
    for (std::size_t i = 1; i < 1 + r.position(); ++i) x = static_cast<u8>(x ^ atr[i]);
    if (x != 0) return fail(AtrError::kBadTck);
    info.has_tck = true;
  }
  if (!r.at_end()) return fail(AtrError::kTrailingBytes);
  return info;
}

}  // namespace scws::card
