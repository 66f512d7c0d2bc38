#include "http/chunked.hpp"

#include <algorithm>
#include <cstring>

#include "http/ascii.hpp"

namespace scws::http {

HttpStatus to_status(ChunkedError e) noexcept {
  switch (e) {
    case ChunkedError::kBodyTooLarge:
      return HttpStatus::kContentTooLarge;
    case ChunkedError::kBadChunkSize:
    case ChunkedError::kChunkLineTooLong:
    case ChunkedError::kBadChunkExtension:
    case ChunkedError::kBadLineEnding:
    case ChunkedError::kBadTrailer:
    case ChunkedError::kTrailerTooLarge:
      return HttpStatus::kBadRequest;
  }
  return HttpStatus::kBadRequest;
}

void ChunkedDecoder::reset() noexcept {
  size_ = 0;
  total_ = 0;
  line_ = 0;
  trailer_ = 0;
  state_ = State::kSize;
  error_ = ChunkedError::kBadChunkSize;
  have_digit_ = false;
}

Status<ChunkedError> ChunkedDecoder::failure(ChunkedError e) noexcept {
  state_ = State::kFailed;
  error_ = e;
  return fail(e);
}

Result<ChunkedProgress, ChunkedError> ChunkedDecoder::decode(Bytes in, MutableBytes out) noexcept {
  if (state_ == State::kFailed) return fail(error_);
  std::size_t at = 0;
  std::size_t produced = 0;
  while (at < in.size() && state_ != State::kDone) {
    if (state_ == State::kData && produced == out.size()) break;  // out is full
    SCWS_TRY(step(in, at, out, produced));
  }
  return ChunkedProgress{at, produced, state_ == State::kDone};
}

Status<ChunkedError> ChunkedDecoder::step(Bytes in, std::size_t& at, MutableBytes out,
                                          std::size_t& produced) noexcept {
  if (state_ == State::kData) {
    copy_data(in, at, out, produced);
    return {};
  }
  const u8 c = in[at++];
  switch (state_) {
    case State::kSize:
    case State::kSizeSpace:
    case State::kExtension:
    case State::kSizeLf:
      return step_size_line(c);

    case State::kDataCr:
      if (c != '\r') return failure(ChunkedError::kBadLineEnding);
      state_ = State::kDataLf;
      return {};

    case State::kDataLf:
      if (c != '\n') return failure(ChunkedError::kBadLineEnding);
      state_ = State::kSize;
      return {};

    case State::kTrailerStart:
    case State::kTrailerName:
    case State::kTrailerValue:
    case State::kTrailerLf:
    case State::kFinalLf:
      return step_trailer(c);

    case State::kData:
    case State::kDone:
    case State::kFailed:
      return {};  // kData is handled above; decode() never steps in kDone / kFailed
  }
  return {};
}

void ChunkedDecoder::copy_data(Bytes in, std::size_t& at, MutableBytes out, std::size_t& produced) noexcept {
  const std::size_t n = static_cast<std::size_t>(
      std::min<u64>(size_, std::min(in.size() - at, out.size() - produced)));
  std::memmove(out.data() + produced, in.data() + at, n);  // may overlap when decoding in place
  at += n;
  produced += n;
  size_ -= n;
  if (size_ == 0) state_ = State::kDataCr;
}

Status<ChunkedError> ChunkedDecoder::step_size_digit(u8 c) noexcept {
  if (++line_ > limits_.max_chunk_line) return failure(ChunkedError::kChunkLineTooLong);
  const int digit = hex_value(c);
  if (digit >= 0) {
    size_ = size_ * 16 + static_cast<u64>(digit);
    have_digit_ = true;
    // Checked at every digit, so size_ stays below 2^36 and never overflows.
    if (size_ > u64{limits_.max_body} - total_) return failure(ChunkedError::kBodyTooLarge);
    return {};
  }
  if (!have_digit_) return failure(ChunkedError::kBadChunkSize);
  if (c == ';') {
    state_ = State::kExtension;
  } else if (is_ows(c)) {
    state_ = State::kSizeSpace;
  } else {
    return failure(ChunkedError::kBadChunkSize);
  }
  return {};
}

Status<ChunkedError> ChunkedDecoder::step_size_line(u8 c) noexcept {
  switch (state_) {
    case State::kSize:
      if (c != '\r') return step_size_digit(c);
      if (!have_digit_) return failure(ChunkedError::kBadChunkSize);
      state_ = State::kSizeLf;
      return {};

    case State::kSizeSpace:
      if (++line_ > limits_.max_chunk_line) return failure(ChunkedError::kChunkLineTooLong);
      if (c == ';') {
        state_ = State::kExtension;
      } else if (!is_ows(c)) {
        return failure(ChunkedError::kBadChunkSize);  // BWS only before ";" (RFC 9112 7.1.1)
      }
      return {};

    case State::kExtension:
      if (c == '\r') {
        state_ = State::kSizeLf;
        return {};
      }
      if (++line_ > limits_.max_chunk_line) return failure(ChunkedError::kChunkLineTooLong);
      if (!is_field_value_byte(c)) return failure(ChunkedError::kBadChunkExtension);
      return {};

    case State::kSizeLf:
      if (c != '\n') return failure(ChunkedError::kBadLineEnding);
      line_ = 0;
      have_digit_ = false;
      if (size_ == 0) {
        state_ = State::kTrailerStart;  // last-chunk
      } else {
        total_ += static_cast<u32>(size_);  // fits: size_ <= max_body - total_
        state_ = State::kData;
      }
      return {};

    case State::kData:
    case State::kDataCr:
    case State::kDataLf:
    case State::kTrailerStart:
    case State::kTrailerName:
    case State::kTrailerValue:
    case State::kTrailerLf:
    case State::kFinalLf:
    case State::kDone:
    case State::kFailed:
      return {};  // step() sends only the size line's states here
  }
  return {};
}

// The trailer section is checked as field lines and skipped (RFC 9112 7.1.2).
Status<ChunkedError> ChunkedDecoder::step_trailer(u8 c) noexcept {
  if (++trailer_ > limits_.max_trailer) return failure(ChunkedError::kTrailerTooLarge);
  switch (state_) {
    case State::kTrailerStart:
      if (c == '\r') {
        state_ = State::kFinalLf;
      } else if (is_tchar(c)) {
        state_ = State::kTrailerName;
      } else {
        return failure(ChunkedError::kBadTrailer);  // includes obs-fold
      }
      return {};

    case State::kTrailerName:
      if (c == ':') {
        state_ = State::kTrailerValue;
      } else if (!is_tchar(c)) {
        return failure(ChunkedError::kBadTrailer);
      }
      return {};

    case State::kTrailerValue:
      if (c == '\r') {
        state_ = State::kTrailerLf;
      } else if (!is_field_value_byte(c)) {
        return failure(ChunkedError::kBadTrailer);
      }
      return {};

    case State::kTrailerLf:
      if (c != '\n') return failure(ChunkedError::kBadLineEnding);
      state_ = State::kTrailerStart;
      return {};

    case State::kFinalLf:
      if (c != '\n') return failure(ChunkedError::kBadLineEnding);
      state_ = State::kDone;
      return {};

    case State::kSize:
    case State::kSizeSpace:
    case State::kExtension:
    case State::kSizeLf:
    case State::kData:
    case State::kDataCr:
    case State::kDataLf:
    case State::kDone:
    case State::kFailed:
      return {};  // step() sends only the trailer's states here
  }
  return {};
}

}  // namespace scws::http
