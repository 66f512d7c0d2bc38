// Streaming decoder of the chunked transfer coding (RFC 9112 section 7.1):
//
//   chunked-body = *chunk last-chunk trailer-section CRLF
//   chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//   last-chunk   = 1*("0") [ chunk-ext ] CRLF
//
// Feed it the body bytes as they arrive, in pieces of any size; it writes the chunk data to a
// caller buffer, which may be the input buffer itself (decoding in place), and never allocates.
// Bounded: the chunk-size line (hex digits, extensions and BWS) is at most max_chunk_line bytes, the
// trailer section at most max_trailer bytes, the body at most max_body bytes (checked as each size
// digit arrives, so a size never overflows). Extensions and trailer fields are checked and skipped
// (RFC 9112 7.1.1, 7.1.2: a recipient may ignore them). Line endings are strictly CRLF, as in the
// request head (see request_parser.hpp). Whitespace is allowed after the size only before ";".
#pragma once

#include <cstddef>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "http/status.hpp"

namespace scws::http {

enum class ChunkedError : u8 {
  kBadChunkSize,        // no hex digit, or another byte where a size, ";" or CRLF belongs
  kChunkLineTooLong,    // size line (size + extensions) longer than max_chunk_line
  kBadChunkExtension,   // a control byte inside an extension
  kBadLineEnding,       // CR not followed by LF, or chunk data not followed by CRLF
  kBadTrailer,          // a trailer line that is not a field line (name ":" value)
  kTrailerTooLarge,     // trailer section longer than max_trailer
  kBodyTooLarge,        // decoded body would exceed max_body
};
// kBodyTooLarge -> 413 Content Too Large; everything else -> 400 Bad Request.
HttpStatus to_status(ChunkedError e) noexcept;

struct ChunkedLimits {
  std::size_t max_chunk_line = 64;  // bytes between the start of a size line and its CRLF
  std::size_t max_trailer = 256;    // bytes of the trailer section, its CRLFs included
  u32 max_body = 65535;             // decoded bytes of the whole body
};

struct ChunkedProgress {
  std::size_t consumed = 0;  // input bytes used
  std::size_t produced = 0;  // body bytes written to out
  bool done = false;         // the final CRLF was consumed; consumed stops right after it
};

class ChunkedDecoder {
 public:
  explicit ChunkedDecoder(const ChunkedLimits& limits = {}) noexcept : limits_(limits) {}

  // Decodes from in into out. Returns early, with consumed < in.size(), when out is full before
  // the input is used up (drain out, call again with the rest) or when the body ends (done).
  // out may alias in provided out.data() <= in.data(): output never overtakes input, so
  // decode(buf, buf) decodes in place, compacting the body at the start of buf.
  // Errors are sticky; bytes consumed before an error are not reported.
  Result<ChunkedProgress, ChunkedError> decode(Bytes in, MutableBytes out) noexcept;

  [[nodiscard]] bool done() const noexcept { return state_ == State::kDone; }
  [[nodiscard]] u32 body_length() const noexcept { return total_; }  // decoded so far
  void reset() noexcept;

 private:
  enum class State : u8 {
    kSize,          // hex digits of chunk-size
    kSizeSpace,     // BWS after the size, before ";"
    kExtension,     // ";" ext-name [ "=" ext-val ] ..., skipped
    kSizeLf,        // after the CR of the size line
    kData,          // chunk-data
    kDataCr,        // CRLF after chunk-data
    kDataLf,
    kTrailerStart,  // start of a trailer field line, or the CR of the final empty line
    kTrailerName,
    kTrailerValue,
    kTrailerLf,
    kFinalLf,
    kDone,
    kFailed,
  };

  // The transition function: consumes the next input element at in[at] (one framing byte, or a
  // run of chunk data copied to out[produced]) and advances at / produced.
  Status<ChunkedError> step(Bytes in, std::size_t& at, MutableBytes out, std::size_t& produced) noexcept;
  // step()'s parts: a run of chunk data (kData), a byte of the size line (kSize .. kSizeLf; a size
  // digit or what follows the digits), a byte of the trailer section (kTrailerStart .. kFinalLf).
  void copy_data(Bytes in, std::size_t& at, MutableBytes out, std::size_t& produced) noexcept;
  Status<ChunkedError> step_size_line(u8 c) noexcept;
  Status<ChunkedError> step_size_digit(u8 c) noexcept;
  Status<ChunkedError> step_trailer(u8 c) noexcept;
  Status<ChunkedError> failure(ChunkedError e) noexcept;

  ChunkedLimits limits_;
  u64 size_ = 0;          // size of the current chunk (its remaining bytes while in kData)
  u32 total_ = 0;         // body bytes so far, the current chunk's included once known
  std::size_t line_ = 0;  // bytes of the current size line
  std::size_t trailer_ = 0;
  State state_ = State::kSize;
  ChunkedError error_ = ChunkedError::kBadChunkSize;
  bool have_digit_ = false;
};

}  // namespace scws::http
