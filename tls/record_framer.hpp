// Follows TLS record boundaries in a byte stream (RFC 5246 6.2.1: type u8, version u16, length u16,
// then length bytes) without buffering anything: bytes are fed in whatever pieces they arrive in
// (RECEIVE DATA gives at most 237 at a time, docs/protocol.md section 6.4) and the framer only
// counts. The TLS session runs every byte it hands to mbedTLS through one, so it can refuse what
// mbedTLS would mishandle (a record longer than the card's input buffer gets a record_overflow alert
// instead of mbedTLS's reset, docs/protocol.md section 12.2) and see a handshake record after the
// handshake (renegotiation).
#pragma once

#include <cstddef>

#include "base/bytes.hpp"
#include "base/result.hpp"

namespace scws::tls {

enum class RecordError : u8 {
  kBadType,     // content type not 20..23 (RFC 5246 6.2.1; also an SSLv2 ClientHello)
  kBadVersion,  // major version not 3 (RFC 5246 appendix E.1: any 3.x is accepted in the header)
  kTooLong,     // length above the limit (the card's input buffer; RFC 5246 6.2.3: 2^14 + 2048)
};

class RecordFramer {
 public:
  static constexpr std::size_t kHeaderSize = 5;
  static constexpr u8 kChangeCipherSpec = 20;
  static constexpr u8 kAlert = 21;
  static constexpr u8 kHandshake = 22;
  static constexpr u8 kApplicationData = 23;

  // max_length: the longest record body accepted; 0xFFFF or more accepts every length the 16-bit
  // field can carry.
  explicit constexpr RecordFramer(std::size_t max_length) noexcept
      : max_length_(static_cast<u16>(max_length < 0xFFFF ? max_length : 0xFFFF)) {}

  struct Step {
    std::size_t consumed;  // bytes of the input accepted
    bool header_done;      // a record header completed at the end of them: type() and length() are new
  };
  // Accepts bytes up to and including the next completed header (so the caller sees every header),
  // or all of data. After an error nothing more is accepted (sticky) and the same error returns.
  Result<Step, RecordError> feed(Bytes data) noexcept;

  [[nodiscard]] u8 type() const noexcept { return header_[0]; }
  [[nodiscard]] u16 length() const noexcept { return static_cast<u16>((header_[3] << 8) | header_[4]); }
  // Bytes of the current record's body still to come (0 while in a header).
  [[nodiscard]] std::size_t body_remaining() const noexcept { return body_left_; }
  [[nodiscard]] bool at_record_boundary() const noexcept { return header_got_ == 0 && body_left_ == 0; }
  [[nodiscard]] u32 records() const noexcept { return records_; }

 private:
  // Compact: two framers sit in every TLS session, and a session's RAM is the card's.
  u16 max_length_;
  u8 header_[kHeaderSize] = {};
  u8 header_got_ = 0;
  u16 body_left_ = 0;
  bool failed_ = false;
  RecordError error_ = RecordError::kBadType;
  u32 records_ = 0;
};
static_assert(sizeof(RecordFramer) <= 16, "a RecordFramer is part of every TLS session's RAM");

}  // namespace scws::tls
