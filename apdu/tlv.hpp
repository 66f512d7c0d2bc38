// BER-TLV and COMPREHENSION-TLV codecs (ETSI TS 101 220 7.1, ISO/IEC 7816-4 5.2, TS 102 223 annex C).
//
// Readers never copy: every TLV they return is a view into the caller's buffer, valid as long as that
// buffer is. They are sticky like ByteReader: after the first malformed TLV, next() keeps returning
// false and error() names the problem. The writer emits into a caller-owned buffer and can open a TLV
// whose length is only known at the end (begin/end), always choosing the shortest length form.
//
// Length field (TS 101 220 7.1.2, ISO 7816-4 5.2.2.2): 00-7F one byte; 81 LL for 0-255; 82 HH LL for
// 0-65535. 80 (indefinite) and 83 and longer are refused. A longer form than needed (81 05) is
// accepted when reading, as ISO 7816-4 allows it; the writer always emits the shortest form.
#pragma once

#include <cstddef>

#include "base/bytes.hpp"
#include "base/result.hpp"

namespace scws::apdu {

enum class TlvError : u8 {
  kTruncated,      // the tag or the length field is cut short
  kBadTag,         // tag 00/FF (BER, COMPREHENSION), 80 (COMPREHENSION), a BER tag over 2 bytes
  kBadLength,      // length form 80 (indefinite) or 83 and longer
  kValuePastEnd,   // the declared length runs past the end of the input
  kTrailingBytes,  // parse_single_*: bytes follow the one TLV expected
  kNotFound,       // find_*: no TLV with that tag
  kNoSpace,        // writer: the output buffer is too small
  kTooLong,        // writer: value longer than 65535 bytes or than the bound given to begin_*()
};

const char* describe(TlvError e) noexcept;

// --- length field -------------------------------------------------------------------------------

inline constexpr std::size_t kMaxTlvLength = 0xFFFF;  // 82 HH LL is the longest form supported

// Bytes the shortest length field for n takes: 1, 2 or 3; 0 when n > kMaxTlvLength.
constexpr std::size_t length_field_size(std::size_t n) noexcept {
  if (n <= 0x7F) return 1;
  if (n <= 0xFF) return 2;
  if (n <= kMaxTlvLength) return 3;
  return 0;
}
static_assert(length_field_size(127) == 1 && length_field_size(128) == 2 &&
              length_field_size(255) == 2 && length_field_size(256) == 3 &&
              length_field_size(65536) == 0);

struct DecodedLength {
  std::size_t length = 0;  // value bytes announced
  std::size_t size = 0;    // bytes the length field itself took (1..3)
};

// Decodes the length field at the start of `at` (only the field, the value is not checked).
Result<DecodedLength, TlvError> decode_length(Bytes at) noexcept;

// --- BER-TLV ----------------------------------------------------------------------------------------

// Tag: one byte, or two when b5..b1 of the first are 11111 (ISO 7816-4 5.2.2.1). A second byte with
// b8 set (a third byte follows) is refused: neither TS 101 220 nor TS 102 223 uses such tags.
struct BerTlv {
  u16 tag = 0;               // 00XX for one-byte tags, XXYY for two-byte tags (e.g. 0x5F20)
  bool constructed = false;  // b6 of the first tag byte
  Bytes value;
  Bytes raw;                 // tag + length + value
};

class BerTlvReader {
 public:
  constexpr explicit BerTlvReader(Bytes data) noexcept : data_(data) {}
  // Reads the next TLV into out. false at the end of the input or on error (then ok() is false).
  bool next(BerTlv& out) noexcept;
  [[nodiscard]] constexpr bool ok() const noexcept { return ok_; }
  // Precondition: !ok().
  [[nodiscard]] constexpr TlvError error() const noexcept { return error_; }
  [[nodiscard]] constexpr std::size_t position() const noexcept { return pos_; }
  [[nodiscard]] constexpr bool at_end() const noexcept { return pos_ == data_.size(); }

 private:
  Bytes data_;
  std::size_t pos_ = 0;
  bool ok_ = true;
  TlvError error_ = TlvError::kTruncated;
};

// Exactly one BER-TLV spanning all of data (a FETCH response, an ENVELOPE's data field).
Result<BerTlv, TlvError> parse_single_ber_tlv(Bytes data) noexcept;
// The first BER-TLV with this tag among the TLVs in data (one level, no descent into constructed).
Result<BerTlv, TlvError> find_ber_tlv(Bytes data, u16 tag) noexcept;

// --- COMPREHENSION-TLV --------------------------------------------------------------------------

// Tag (TS 101 220 7.1.1.1): one byte with b8 = CR (comprehension required) and b7..b1 = tag value
// 01..7E (00, 80 and FF are not used); or three bytes 7F HH LL with b16 of HH LL = CR and b15..b1 =
// tag value 0001..7FFF. The same object may arrive with or without CR (38 or B8), so tags are matched
// on the value alone: tag == (byte & 0x7F) for the one-byte form.
struct ComprehensionTlv {
  u16 tag = 0;                  // tag value without CR
  bool cr = false;              // comprehension required
  bool three_byte_tag = false;  // arrived in the 7F HH LL form
  Bytes value;
  Bytes raw;                    // tag + length + value
};

// Walks the SIMPLE/COMPREHENSION-TLVs of a proactive command body, a TERMINAL RESPONSE or an
// ENVELOPE body.
class ComprehensionTlvReader {
 public:
  constexpr explicit ComprehensionTlvReader(Bytes data) noexcept : data_(data) {}
  bool next(ComprehensionTlv& out) noexcept;
  [[nodiscard]] constexpr bool ok() const noexcept { return ok_; }
  [[nodiscard]] constexpr TlvError error() const noexcept { return error_; }
  [[nodiscard]] constexpr std::size_t position() const noexcept { return pos_; }
  [[nodiscard]] constexpr bool at_end() const noexcept { return pos_ == data_.size(); }

 private:
  Bytes data_;
  std::size_t pos_ = 0;
  bool ok_ = true;
  TlvError error_ = TlvError::kTruncated;
};

// The first COMPREHENSION-TLV whose tag value (CR ignored) equals tag. Framing errors met before it
// are reported.
Result<ComprehensionTlv, TlvError> find_comprehension_tlv(Bytes data, u16 tag) noexcept;

// --- writer -------------------------------------------------------------------------------------

// Writes TLVs into a caller-owned buffer. Sticky: after the first failure nothing more is written and
// ok() stays false; error() says why. Open TLVs nest (end them in reverse order of begin).
class TlvWriter {
 public:
  // A TLV opened by begin_*(), closed by end().
  struct Mark {
    std::size_t length_at = 0;  // where the reserved length field starts
    std::size_t value_at = 0;   // where the value starts
    std::size_t reserved = 0;   // bytes reserved for the length field
    std::size_t max_length = 0;
  };

  constexpr explicit TlvWriter(MutableBytes out) noexcept : out_(out) {}

  [[nodiscard]] constexpr bool ok() const noexcept { return ok_; }
  [[nodiscard]] constexpr TlvError error() const noexcept { return error_; }
  [[nodiscard]] constexpr std::size_t size() const noexcept { return pos_; }
  [[nodiscard]] constexpr Bytes written() const noexcept { return Bytes(out_.data(), pos_); }

  void u8_(u8 v) noexcept;
  void u16_be(u16 v) noexcept;
  void bytes(Bytes v) noexcept;
  void length(std::size_t n) noexcept;  // shortest form

  // A BER-TLV with a known value. Tags above 0xFF are written as two bytes.
  void ber(u16 tag, Bytes value) noexcept;
  // A COMPREHENSION-TLV with a known value: one-byte tag form for 01..7E, 7F HH LL above.
  void comprehension(u16 tag, bool cr, Bytes value) noexcept;

  // Opens a TLV whose value will be at most max_length bytes: reserves the length field that
  // max_length needs; end() writes the real length in its shortest form, moving the value down
  // when fewer length bytes are needed than were reserved.
  Mark begin_ber(u16 tag, std::size_t max_length) noexcept;
  Mark begin_comprehension(u16 tag, bool cr, std::size_t max_length) noexcept;
  // Fails with kTooLong when the value written since begin exceeds the bound.
  void end(const Mark& m) noexcept;

 private:
  void ber_tag(u16 tag) noexcept;
  void comprehension_tag(u16 tag, bool cr) noexcept;
  Mark reserve(std::size_t max_length) noexcept;
  bool need(std::size_t n) noexcept;
  void fail(TlvError e) noexcept;

  MutableBytes out_;
  std::size_t pos_ = 0;
  bool ok_ = true;
  TlvError error_ = TlvError::kNoSpace;
};

}  // namespace scws::apdu
