#include "apdu/tlv.hpp"

namespace scws::apdu {

const char* describe(TlvError e) noexcept {
  switch (e) {
    case TlvError::kTruncated: return "tag or length field cut short";
    case TlvError::kBadTag: return "invalid tag";
    case TlvError::kBadLength: return "unsupported length form";
    case TlvError::kValuePastEnd: return "value runs past the end";
    case TlvError::kTrailingBytes: return "bytes after the TLV";
    case TlvError::kNotFound: return "tag not found";
    case TlvError::kNoSpace: return "output buffer too small";
    case TlvError::kTooLong: return "value too long";
  }
  return "?";
}

Result<DecodedLength, TlvError> decode_length(Bytes at) noexcept {
  if (at.empty()) return fail(TlvError::kTruncated);
  const u8 first = at[0];
  if (first <= 0x7F) return DecodedLength{first, 1};
  if (first == 0x81) {
    if (at.size() < 2) return fail(TlvError::kTruncated);
    return DecodedLength{at[1], 2};
  }
  if (first == 0x82) {
    if (at.size() < 3) return fail(TlvError::kTruncated);
    return DecodedLength{(std::size_t{at[1]} << 8) | at[2], 3};
  }
  return fail(TlvError::kBadLength);  // 80 indefinite, 83.. longer than supported
}

namespace {

// Reads the length and checks the value fits; returns the value's offset and size through out.
struct Span {
  std::size_t value_at;
  std::size_t length;
};

Result<Span, TlvError> read_length_and_value(Bytes data, std::size_t at) noexcept {
  auto len = decode_length(data.subspan(at));
  if (!len) return fail(len.error());
  const std::size_t value_at = at + len->size;
  if (len->length > data.size() - value_at) return fail(TlvError::kValuePastEnd);
  return Span{value_at, len->length};
}

}  // namespace

bool BerTlvReader::next(BerTlv& out) noexcept {
  if (!ok_ || pos_ == data_.size()) return false;
  const std::size_t start = pos_;
  std::size_t at = pos_;
  const u8 first = data_[at++];
  if (first == 0x00 || first == 0xFF) {  // ISO 7816-4 5.2.2.1: not valid tags (padding)
    ok_ = false;
    error_ = TlvError::kBadTag;
    return false;
  }
  u16 tag = first;
  if ((first & 0x1F) == 0x1F) {
    if (at == data_.size()) {
      ok_ = false;
      error_ = TlvError::kTruncated;
      return false;
    }
    const u8 second = data_[at++];
    if (second & 0x80) {  // a third tag byte would follow
      ok_ = false;
      error_ = TlvError::kBadTag;
      return false;
    }
    tag = static_cast<u16>((first << 8) | second);
  }
  auto span = read_length_and_value(data_, at);
  if (!span) {
    ok_ = false;
    error_ = span.error();
    return false;
  }
  out.tag = tag;
  out.constructed = (first & 0x20) != 0;
  out.value = data_.subspan(span->value_at, span->length);
  pos_ = span->value_at + span->length;
  out.raw = data_.subspan(start, pos_ - start);
  return true;
}

Result<BerTlv, TlvError> parse_single_ber_tlv(Bytes data) noexcept {
  BerTlvReader r(data);
  BerTlv t;
  if (!r.next(t)) return fail(r.ok() ? TlvError::kTruncated : r.error());
  if (!r.at_end()) return fail(TlvError::kTrailingBytes);
  return t;
}

Result<BerTlv, TlvError> find_ber_tlv(Bytes data, u16 tag) noexcept {
  BerTlvReader r(data);
  BerTlv t;
  while (r.next(t))
    if (t.tag == tag) return t;
  return fail(r.ok() ? TlvError::kNotFound : r.error());
}

bool ComprehensionTlvReader::next(ComprehensionTlv& out) noexcept {
  if (!ok_ || pos_ == data_.size()) return false;
  const std::size_t start = pos_;
  std::size_t at = pos_;
  const u8 first = data_[at++];
  u16 tag = 0;
  bool cr = false;
  bool three = false;
  if (first == 0x7F) {  // three-byte form: 7F, then CR + 15-bit tag value
    if (data_.size() - at < 2) {
      ok_ = false;
      error_ = TlvError::kTruncated;
      return false;
    }
    cr = (data_[at] & 0x80) != 0;
    tag = static_cast<u16>(((data_[at] & 0x7F) << 8) | data_[at + 1]);
    at += 2;
    three = true;
  } else {
    cr = (first & 0x80) != 0;
    tag = first & 0x7F;
  }
  // TS 101 220 7.1.1.1: 00, 80 and FF are not used; 0000 is no tag value in the long form either.
  if (tag == 0 || (!three && tag == 0x7F)) {
    ok_ = false;
    error_ = TlvError::kBadTag;
    return false;
  }
  auto span = read_length_and_value(data_, at);
  if (!span) {
    ok_ = false;
    error_ = span.error();
    return false;
  }
  out.tag = tag;
  out.cr = cr;
  out.three_byte_tag = three;
  out.value = data_.subspan(span->value_at, span->length);
  pos_ = span->value_at + span->length;
  out.raw = data_.subspan(start, pos_ - start);
  return true;
}

Result<ComprehensionTlv, TlvError> find_comprehension_tlv(Bytes data, u16 tag) noexcept {
  ComprehensionTlvReader r(data);
  ComprehensionTlv t;
  while (r.next(t))
    if (t.tag == tag) return t;
  return fail(r.ok() ? TlvError::kNotFound : r.error());
}

// --- writer -------------------------------------------------------------------------------------

void TlvWriter::fail(TlvError e) noexcept {
  if (ok_) error_ = e;
  ok_ = false;
}

bool TlvWriter::need(std::size_t n) noexcept {
  if (!ok_) return false;
  if (n > out_.size() - pos_) {
    fail(TlvError::kNoSpace);
    return false;
  }
  return true;
}

void TlvWriter::u8_(u8 v) noexcept {
  if (need(1)) out_[pos_++] = v;
}

void TlvWriter::u16_be(u16 v) noexcept {
  if (!need(2)) return;
  out_[pos_++] = static_cast<u8>(v >> 8);
  out_[pos_++] = static_cast<u8>(v);
}

void TlvWriter::bytes(Bytes v) noexcept {
  if (!need(v.size())) return;
  for (u8 b : v) out_[pos_++] = b;
}

void TlvWriter::length(std::size_t n) noexcept {
  switch (length_field_size(n)) {
    case 1:
      u8_(static_cast<u8>(n));
      return;
    case 2:
      u8_(0x81);
      u8_(static_cast<u8>(n));
      return;
    case 3:
      u8_(0x82);
      u16_be(static_cast<u16>(n));
      return;
    default:
      fail(TlvError::kTooLong);
      return;
  }
}

void TlvWriter::ber_tag(u16 tag) noexcept {
  if (tag > 0xFF) {
    const u8 hi = static_cast<u8>(tag >> 8);
    const u8 lo = static_cast<u8>(tag);
    if ((hi & 0x1F) != 0x1F || (lo & 0x80) != 0) return fail(TlvError::kBadTag);
    u8_(hi);
    u8_(lo);
    return;
  }
  if (tag == 0x00 || tag == 0xFF || (tag & 0x1F) == 0x1F) return fail(TlvError::kBadTag);
  u8_(static_cast<u8>(tag));
}

void TlvWriter::comprehension_tag(u16 tag, bool cr) noexcept {
  if (tag == 0 || tag > 0x7FFF) return fail(TlvError::kBadTag);
  if (tag <= 0x7E) {
    u8_(static_cast<u8>(tag | (cr ? 0x80 : 0x00)));
    return;
  }
  u8_(0x7F);
  u8_(static_cast<u8>((tag >> 8) | (cr ? 0x80 : 0x00)));
  u8_(static_cast<u8>(tag));
}

void TlvWriter::ber(u16 tag, Bytes value) noexcept {
  ber_tag(tag);
  length(value.size());
  bytes(value);
}

void TlvWriter::comprehension(u16 tag, bool cr, Bytes value) noexcept {
  comprehension_tag(tag, cr);
  length(value.size());
  bytes(value);
}

TlvWriter::Mark TlvWriter::reserve(std::size_t max_length) noexcept {
  Mark m;
  m.max_length = max_length;
  m.reserved = length_field_size(max_length);
  if (m.reserved == 0) {
    fail(TlvError::kTooLong);
    return m;
  }
  m.length_at = pos_;
  if (need(m.reserved)) pos_ += m.reserved;
  m.value_at = pos_;
  return m;
}

TlvWriter::Mark TlvWriter::begin_ber(u16 tag, std::size_t max_length) noexcept {
  ber_tag(tag);
  return reserve(max_length);
}

TlvWriter::Mark TlvWriter::begin_comprehension(u16 tag, bool cr, std::size_t max_length) noexcept {
  comprehension_tag(tag, cr);
  return reserve(max_length);
}

void TlvWriter::end(const Mark& m) noexcept {
  if (!ok_) return;
  if (m.value_at > pos_ || m.length_at + m.reserved != m.value_at) return fail(TlvError::kNoSpace);
  const std::size_t n = pos_ - m.value_at;
  if (n > m.max_length) return fail(TlvError::kTooLong);
  const std::size_t used = length_field_size(n);  // <= reserved since n <= max_length
  const std::size_t shift = m.reserved - used;
  if (shift != 0) {
    // Move the value down over the unused length bytes (regions overlap: copy forwards).
    for (std::size_t i = m.value_at; i < pos_; ++i) out_[i - shift] = out_[i];
    pos_ -= shift;
  }
  std::size_t at = m.length_at;
  switch (used) {
    case 1:
      out_[at] = static_cast<u8>(n);
      break;
    case 2:
      out_[at++] = 0x81;
      out_[at] = static_cast<u8>(n);
      break;
    default:
      out_[at++] = 0x82;
      out_[at++] = static_cast<u8>(n >> 8);
      out_[at] = static_cast<u8>(n);
      break;
  }
}

}  // namespace scws::apdu
