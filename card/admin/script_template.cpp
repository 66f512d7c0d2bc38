#include "card/admin/script_template.hpp"

#include <cstring>

namespace scws::card {

const char* describe(ScriptError e) noexcept {
  switch (e) {
    case ScriptError::kBadTag: return "unknown tag in the script";
    case ScriptError::kBadLength: return "bad length in the script";
    case ScriptError::kOverrun: return "a TLV runs past the script";
    case ScriptError::kTooMany: return "too many C-APDUs";
    case ScriptError::kTrailing: return "bytes after the script";
    case ScriptError::kTruncated: return "the script ends early";
  }
  return "?";
}

Status<ScriptError> ScriptParser::failure(ScriptError e) noexcept {
  state_ = State::kFailed;
  error_ = e;
  return fail(e);
}

Result<ScriptParser::Step, ScriptError> ScriptParser::feed(Bytes in) noexcept {
  Step s;
  if (state_ == State::kFailed) return fail(error_);
  while (s.consumed < in.size()) {
    const State before = state_;
    auto r = step(in[s.consumed++]);
    if (!r) return fail(r.error());
    const bool apdu_done = before == State::kApdu && state_ != State::kApdu;
    if (apdu_done) {
      s.apdu = Bytes(apdu_.data(), apdu_length_);
      s.done = state_ == State::kDone;
      return s;
    }
    if (state_ == State::kDone) break;
  }
  s.done = state_ == State::kDone;
  return s;
}

Status<ScriptError> ScriptParser::finish() noexcept {
  if (state_ == State::kFailed) return fail(error_);
  if (state_ != State::kDone) return failure(ScriptError::kTruncated);
  return {};
}

Result<bool, ScriptError> ScriptParser::length_byte(u8 c) noexcept {
  if (!length_started_) {
    length_started_ = true;
    length_ = 0;
    if (c < 0x80) {
      length_ = c;
      length_started_ = false;
      return true;
    }
    if (c != 0x81 && c != 0x82) return fail(failure(ScriptError::kBadLength).error());
    length_bytes_ = static_cast<u8>(c - 0x80);
    return false;
  }
  length_ = (length_ << 8) | c;
  if (--length_bytes_ == 0) {
    length_started_ = false;
    return true;
  }
  return false;
}

Status<ScriptError> ScriptParser::count(std::size_t n) noexcept {
  if (indefinite_) return {};
  if (n > remaining_) return failure(ScriptError::kOverrun);
  remaining_ -= static_cast<u32>(n);
  return {};
}

Status<ScriptError> ScriptParser::step(u8 c) noexcept {
  switch (state_) {
    case State::kTag:
      if (c != kDefinite && c != kIndefinite) return failure(ScriptError::kBadTag);
      indefinite_ = c == kIndefinite;
      state_ = State::kOuterLength;
      return {};
    case State::kOuterLength: {
      if (indefinite_) {
        if (c != 0x80) return failure(ScriptError::kBadTag);  // AE is always indefinite here (16.4)
        state_ = State::kInnerTag;
        return {};
      }
      auto done = length_byte(c);
      if (!done) return fail(done.error());
      if (*done) {
        remaining_ = length_;
        state_ = remaining_ == 0 ? State::kDone : State::kInnerTag;
      }
      return {};
    }
    case State::kInnerTag:
      if (indefinite_ && c == 0x00) {
        state_ = State::kEoc;
        return {};
      }
      if (c != kCommandTag) return failure(ScriptError::kBadTag);
      if (apdus_ == kMaxApdus) return failure(ScriptError::kTooMany);
      SCWS_TRY(count(1));
      state_ = State::kInnerLength;
      return {};
    case State::kEoc:
      if (c != 0x00) return failure(ScriptError::kBadTag);
      state_ = State::kDone;
      return {};
    case State::kInnerLength: {
      SCWS_TRY(count(1));
      auto done = length_byte(c);
      if (!done) return fail(done.error());
      if (*done) {
        if (length_ < 4 || length_ > kMaxApdu) return failure(ScriptError::kBadLength);
        if (!indefinite_ && length_ > remaining_) return failure(ScriptError::kOverrun);
        apdu_length_ = static_cast<u16>(length_);
        apdu_at_ = 0;
        state_ = State::kApdu;
      } else if (!indefinite_ && remaining_ == 0) {
        return failure(ScriptError::kOverrun);
      }
      return {};
    }
    case State::kApdu:
      SCWS_TRY(count(1));
      apdu_[apdu_at_++] = c;
      if (apdu_at_ == apdu_length_) {
        ++apdus_;
        state_ = (!indefinite_ && remaining_ == 0) ? State::kDone : State::kInnerTag;
      }
      return {};
    case State::kDone:
      return failure(ScriptError::kTrailing);
    case State::kFailed:
      return fail(error_);
  }
  return failure(ScriptError::kBadTag);
}

// ---- ResponseBuilder ------------------------------------------------------------------------------

namespace {

// BER length of n into out (1 to 3 bytes); returns the count.
std::size_t put_length(std::size_t n, u8* out) noexcept {
  if (n < 0x80) {
    out[0] = static_cast<u8>(n);
    return 1;
  }
  if (n <= 0xFF) {
    out[0] = 0x81;
    out[1] = static_cast<u8>(n);
    return 2;
  }
  out[0] = 0x82;
  out[1] = static_cast<u8>(n >> 8);
  out[2] = static_cast<u8>(n);
  return 3;
}

}  // namespace

bool ResponseBuilder::add(Bytes data, u16 status_word) noexcept {
  if (overflowed_ || count_ == ScriptParser::kMaxApdus) return false;
  bool ok = true;
  if (data.size() > data_room()) {
    data = {};
    status_word = kOverflowStatus;
    overflowed_ = true;
    ok = false;
  }
  u8* p = buffer_.data() + at_;
  p[0] = kResponseTag;
  std::size_t n = 1 + put_length(data.size() + 2, p + 1);
  if (!data.empty()) std::memmove(p + n, data.data(), data.size());  // data may already sit here
  n += data.size();
  p[n++] = static_cast<u8>(status_word >> 8);
  p[n++] = static_cast<u8>(status_word);
  at_ += n;
  data_ += data.size();
  ++count_;
  return ok;
}

Bytes ResponseBuilder::finish() noexcept {
  u8* content = buffer_.data() + kHeader;
  content[0] = kCountTag;
  content[1] = 0x01;
  content[2] = static_cast<u8>(count_);
  const std::size_t length = at_ - kHeader;
  u8 head[kHeader];
  head[0] = kTemplateTag;
  const std::size_t h = 1 + put_length(length, head + 1);
  std::memcpy(content - h, head, h);
  return Bytes(content - h, length + h);
}

}  // namespace scws::card
