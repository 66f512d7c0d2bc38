#include "tls/record_framer.hpp"

namespace scws::tls {

Result<RecordFramer::Step, RecordError> RecordFramer::feed(Bytes data) noexcept {
  if (failed_) return fail(error_);
  std::size_t pos = 0;
  while (pos < data.size()) {
    if (body_left_ > 0) {
      const std::size_t n = data.size() - pos < body_left_ ? data.size() - pos : body_left_;
      body_left_ = static_cast<u16>(body_left_ - n);
      pos += n;
      continue;
    }
    header_[header_got_++] = data[pos++];
    if (header_got_ == 1 && (header_[0] < kChangeCipherSpec || header_[0] > kApplicationData)) {
      failed_ = true;
      error_ = RecordError::kBadType;
      return fail(error_);
    }
    if (header_got_ == 2 && header_[1] != 3) {
      failed_ = true;
      error_ = RecordError::kBadVersion;
      return fail(error_);
    }
    if (header_got_ == kHeaderSize) {
      header_got_ = 0;
      if (length() > max_length_) {
        failed_ = true;
        error_ = RecordError::kTooLong;
        return fail(error_);
      }
      body_left_ = length();
      ++records_;
      return Step{pos, true};
    }
  }
  return Step{pos, false};
}

}  // namespace scws::tls
