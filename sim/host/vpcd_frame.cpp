#include "sim/host/vpcd_frame.hpp"

#include <cstring>

namespace scws::sim {

const char* describe(VpcdFrameError e) noexcept {
  switch (e) {
    case VpcdFrameError::kEmptyFrame: return "empty frame (length 0)";
    case VpcdFrameError::kUnknownControl: return "unknown control byte";
    case VpcdFrameError::kFrameTooLarge: return "frame larger than the receive buffer";
  }
  return "unknown vpcd frame error";
}

Result<VpcdRequest, VpcdFrameError> classify_vpcd_payload(Bytes payload) noexcept {
  if (payload.empty()) return fail(VpcdFrameError::kEmptyFrame);
  if (payload.size() > 1) return VpcdRequest{VpcdRequestKind::kApdu, payload};
  switch (payload[0]) {
    case static_cast<u8>(VpcdControl::kPowerOff): return VpcdRequest{VpcdRequestKind::kPowerOff, {}};
    case static_cast<u8>(VpcdControl::kPowerOn): return VpcdRequest{VpcdRequestKind::kPowerOn, {}};
    case static_cast<u8>(VpcdControl::kReset): return VpcdRequest{VpcdRequestKind::kReset, {}};
    case static_cast<u8>(VpcdControl::kGetAtr): return VpcdRequest{VpcdRequestKind::kGetAtr, {}};
    default: return fail(VpcdFrameError::kUnknownControl);  // a byte value, not an enum: 252 others
  }
}

std::size_t encode_vpcd_frame(Bytes payload, MutableBytes out) noexcept {
  if (payload.size() > kVpcdMaxPayload) return 0;
  ByteWriter w(out);
  w.u16_be(static_cast<u16>(payload.size()));
  w.bytes(payload);
  return w.ok() ? w.size() : 0;
}

void VpcdFrameParser::reset() noexcept {
  set_state(State::kLengthHigh);
  expected_ = 0;
  filled_ = 0;
  request_ = {};
}

VpcdFrameParser::FeedResult VpcdFrameParser::fail_with(VpcdFrameError e, std::size_t consumed) noexcept {
  error_ = e;
  set_state(State::kFailed);
  return {consumed, Event::kError};
}

VpcdFrameParser::FeedResult VpcdFrameParser::complete(std::size_t consumed) noexcept {
  auto classified = classify_vpcd_payload(Bytes(buffer_.data(), filled_));
  if (!classified) return fail_with(classified.error(), consumed);
  request_ = *classified;
  set_state(State::kFrameReady);
  return {consumed, Event::kFrame};
}

VpcdFrameParser::FeedResult VpcdFrameParser::feed(Bytes input) noexcept {
  std::size_t used = 0;
  if (state_ == State::kFrameReady) {
    // The previous frame was handled: start the next one.
    expected_ = 0;
    filled_ = 0;
    request_ = {};
    set_state(State::kLengthHigh);
  }
  while (true) {
    switch (state_) {
      case State::kFailed:
        return {used, Event::kError};
      case State::kFrameReady:
        return {used, Event::kFrame};  // not reached: complete() returns directly
      case State::kLengthHigh:
        if (used == input.size()) return {used, Event::kNeedMore};
        expected_ = std::size_t{input[used++]} << 8;
        set_state(State::kLengthLow);
        break;
      case State::kLengthLow:
        if (used == input.size()) return {used, Event::kNeedMore};
        expected_ |= input[used++];
        if (expected_ == 0) return fail_with(VpcdFrameError::kEmptyFrame, used);
        if (expected_ > buffer_.size()) return fail_with(VpcdFrameError::kFrameTooLarge, used);
        filled_ = 0;
        set_state(State::kPayload);
        break;
      case State::kPayload: {
        std::size_t take = expected_ - filled_;
        if (take > input.size() - used) take = input.size() - used;
        if (take > 0) std::memcpy(buffer_.data() + filled_, input.data() + used, take);
        filled_ += take;
        used += take;
        if (filled_ == expected_) return complete(used);
        return {used, Event::kNeedMore};
      }
    }
  }
}

}  // namespace scws::sim
