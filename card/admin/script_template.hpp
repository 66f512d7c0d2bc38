// The scripting templates of a remote administration session (ETSI TS 102 226 5.2, expanded remote
// format; docs/protocol.md sections 16.4 and 16.5): the server's command scripting template, parsed
// as it streams in, and the card's response scripting template, built after the script ran.
//
// ScriptParser (server -> card): definite `AA L { 22 L <C-APDU> } ...` or indefinite
// `AE 80 { 22 L <C-APDU> } ... 00 00`; lengths in BER (1 byte, 81 xx, 82 xx xx; TS 102 226 5.2 / ISO/IEC
// 8825-1). feed() takes the body in any pieces and stops as soon as one C-APDU is complete: the caller
// runs it and feeds the rest, so a C-APDU runs before the bytes after it have arrived. The parser
// keeps one C-APDU (at most kMaxApdu bytes) and a few counters: no more RAM whatever the body's size.
// Faults (sticky): an unknown tag, a length running past the template, a C-APDU shorter than 4 or
// longer than kMaxApdu bytes, more than kMaxApdus C-APDUs, bytes after the template, a body that ends
// inside it (finish()).
//
// ResponseBuilder (card -> server): `AB L 80 01 <n> { 23 L <data SW1 SW2> } ...` in a caller buffer
// of kBufferSize bytes; response data is kept up to kDataBudget bytes in all: an R-APDU whose data
// would go beyond it is replaced by `62 F1` and the script stops (docs/protocol.md section 16.5).
#pragma once

#include <array>
#include <cstddef>

#include "apdu/status_word.hpp"
#include "base/bytes.hpp"
#include "base/result.hpp"

namespace scws::card {

enum class ScriptError : u8 {
  kBadTag,       // not AA / AE at the start, not 22 inside, AE not followed by 80, a bad end of contents
  kBadLength,    // a BER length form other than 1, 81 or 82, or a C-APDU length outside 4..kMaxApdu
  kOverrun,      // an inner TLV running past the definite template
  kTooMany,      // more than kMaxApdus C-APDUs
  kTrailing,     // bytes after the end of the template
  kTruncated,    // the body ended inside the template
};
const char* describe(ScriptError e) noexcept;

class ScriptParser {
 public:
  static constexpr u8 kDefinite = 0xAA;
  static constexpr u8 kIndefinite = 0xAE;
  static constexpr u8 kCommandTag = 0x22;
  static constexpr std::size_t kMaxApdu = 261;  // 4 + 1 + 255 + 1: the longest short APDU (ISO/IEC 7816-4 5.1)
  static constexpr std::size_t kMaxApdus = 255;

  struct Step {
    std::size_t consumed = 0;
    Bytes apdu;        // a complete C-APDU (valid until the next feed()), empty when none
    bool done = false; // the template's end was read
  };

  // Stops after the first complete C-APDU (apdu non-empty), at the template's end, or when in is used up.
  Result<Step, ScriptError> feed(Bytes in) noexcept;
  // The body ended: kTruncated unless the template is complete.
  Status<ScriptError> finish() noexcept;
  [[nodiscard]] bool done() const noexcept { return state_ == State::kDone; }
  [[nodiscard]] std::size_t apdus() const noexcept { return apdus_; }
  void reset() noexcept { *this = ScriptParser(); }

 private:
  enum class State : u8 {
    kTag,          // AA or AE
    kOuterLength,  // BER length of AA, or 80 after AE
    kInnerTag,     // 22, or the first 00 of the end of contents (AE)
    kEoc,          // the second 00
    kInnerLength,
    kApdu,
    kDone,
    kFailed,
  };
  Status<ScriptError> step(u8 c) noexcept;  // the transition function
  Status<ScriptError> failure(ScriptError e) noexcept;
  // BER length byte c; true once the length is complete (in length_).
  Result<bool, ScriptError> length_byte(u8 c) noexcept;
  Status<ScriptError> count(std::size_t n) noexcept;  // n bytes of the definite template's contents

  std::array<u8, kMaxApdu> apdu_{};
  u32 remaining_ = 0;      // contents left in a definite template
  u32 length_ = 0;         // the BER length being read
  u16 apdu_length_ = 0;
  u16 apdu_at_ = 0;
  u16 apdus_ = 0;
  u8 length_bytes_ = 0;    // subsequent bytes of a long-form length still to read
  State state_ = State::kTag;
  ScriptError error_ = ScriptError::kBadTag;
  bool indefinite_ = false;
  bool length_started_ = false;
};

class ResponseBuilder {
 public:
  static constexpr u8 kTemplateTag = 0xAB;
  static constexpr u8 kCountTag = 0x80;
  static constexpr u8 kResponseTag = 0x23;
  static constexpr std::size_t kDataBudget = 1024;  // docs/protocol.md section 16.5
  static constexpr std::size_t kHeader = 4;         // AB 82 xx xx at most
  static constexpr std::size_t kMaxTlvOverhead = 4 + 2;  // 23 82 xx xx + SW1 SW2
  static constexpr std::size_t kBufferSize = kHeader + 3 + kDataBudget + ScriptParser::kMaxApdus * kMaxTlvOverhead;
  static_assert(kBufferSize < 0x10000, "the template's length fits the 82 form");
  static constexpr u16 kOverflowStatus = apdu::to_u16(apdu::StatusWord::kWarningScriptDataDropped);

  // buffer: kBufferSize bytes, caller-owned (the agent's session RAM).
  explicit ResponseBuilder(MutableBytes buffer) noexcept : buffer_(buffer) {}
  // Room for the next R-APDU's data within the budget.
  [[nodiscard]] std::size_t data_room() const noexcept { return kDataBudget - data_; }
  // Appends one R-APDU. false when its data exceeds data_room(): 62 F1 was recorded instead and the
  // script must stop (full() is then true).
  bool add(Bytes data, u16 status_word) noexcept;
  [[nodiscard]] bool full() const noexcept { return overflowed_; }
  [[nodiscard]] std::size_t count() const noexcept { return count_; }
  // The finished template (a view into the buffer; add() after it is not allowed).
  Bytes finish() noexcept;

 private:
  MutableBytes buffer_;
  std::size_t at_ = kHeader + 3;  // after AB L and 80 01 n
  std::size_t data_ = 0;
  std::size_t count_ = 0;
  bool overflowed_ = false;
};

}  // namespace scws::card
