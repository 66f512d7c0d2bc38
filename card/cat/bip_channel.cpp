#include "card/cat/bip_channel.hpp"

#include <cstring>

namespace scws::card {

const char* to_string(BipState s) noexcept {
  switch (s) {
    case BipState::kClosed: return "Closed";
    case BipState::kOpenRequested: return "OpenRequested";
    case BipState::kListen: return "Listen";
    case BipState::kEstablished: return "Established";
    case BipState::kReceiving: return "Receiving";
    case BipState::kSending: return "Sending";
    case BipState::kClosing: return "Closing";
  }
  return "?";
}

void BipChannel::reset(u8 index) noexcept {
  *this = BipChannel{};
  slot = index;
}

void BipChannel::set_state(BipState next, const char* why, const Tracer& trace) noexcept {
  trace("bip slot %u channel %u: %s -> %s (%s)", unsigned{slot}, unsigned{channel_id}, to_string(state_),
        to_string(next), why);
  state_ = next;
}

bool BipChannel::connect(Arena& arena, StreamEndpoint& ep) noexcept {
  endpoint = &ep;
  release_accumulator(arena);
  tx_used_ = 0;
  has_lookahead_ = false;
  rx_available = 0;
  drop_requested = false;
  if (!ep.open(slot)) return false;
  endpoint_open_ = true;
  return true;
}

void BipChannel::release_accumulator(Arena& arena) noexcept {
  if (rx_ != nullptr) arena.deallocate(rx_);
  rx_ = nullptr;
  rx_len_ = 0;
}

void BipChannel::disconnect(Arena& arena) noexcept {
  if (endpoint_open_ && endpoint != nullptr) endpoint->close(slot);
  endpoint_open_ = false;
  release_accumulator(arena);
  tx_used_ = 0;
  has_lookahead_ = false;
  rx_available = 0;
  drop_requested = false;
}

bool BipChannel::deliver(Arena& arena, Bytes chunk) noexcept {
  if (!endpoint_open_) return true;
  std::size_t consumed = endpoint->receive(slot, chunk);
  if (consumed > chunk.size()) consumed = chunk.size();  // an endpoint bug must not overrun us
  const Bytes rest = chunk.subspan(consumed);
  if (rest.empty()) return true;  // the usual case: no copy, no RAM
  // The toolkit never asks for more than the accumulator holds and only asks when it is empty.
  if (rx_ == nullptr) rx_ = static_cast<u8*>(arena.allocate(kRxAccumulatorSize));
  if (rx_ == nullptr) return false;
  const std::size_t room = kRxAccumulatorSize - rx_len_;
  const std::size_t keep = rest.size() < room ? rest.size() : room;
  std::memcpy(rx_ + rx_len_, rest.data(), keep);
  rx_len_ += keep;
  return true;
}

bool BipChannel::offer_pending(Arena& arena) noexcept {
  if (!endpoint_open_ || rx_len_ == 0) return false;
  std::size_t consumed = endpoint->receive(slot, Bytes(rx_, rx_len_));
  if (consumed > rx_len_) consumed = rx_len_;
  if (consumed == 0) return false;
  std::memmove(rx_, rx_ + consumed, rx_len_ - consumed);
  rx_len_ -= consumed;
  if (rx_len_ == 0) release_accumulator(arena);
  return true;
}

std::size_t BipChannel::piece_capacity() const noexcept {
  const std::size_t free = buffer_size > tx_used_ ? buffer_size - tx_used_ : 0;
  return free < kMaxPiece ? free : kMaxPiece;
}

std::size_t BipChannel::pull(MutableBytes stage, bool& more) noexcept {
  more = false;
  if (!endpoint_open_) return 0;
  std::size_t cap = piece_capacity();
  // A terminal that reports a full Tx buffer after a stored piece contradicts our own accounting;
  // still send something so the burst can end with an immediate piece.
  if (cap == 0) cap = buffer_size < kMaxPiece ? buffer_size : kMaxPiece;
  if (cap > stage.size()) cap = stage.size();
  if (cap == 0) return 0;
  std::size_t n = 0;
  if (has_lookahead_) {
    stage[n++] = lookahead_;
    has_lookahead_ = false;
  }
  while (n < cap) {
    std::size_t got = endpoint->send(slot, stage.subspan(n, cap - n));
    if (got == 0) break;
    if (got > cap - n) got = cap - n;
    n += got;
  }
  if (n == cap) {
    u8 one = 0;
    if (endpoint->send(slot, MutableBytes(&one, 1)) == 1) {
      lookahead_ = one;
      has_lookahead_ = true;
      more = true;
    }
  }
  return n;
}

bool BipChannel::must_flush_after(std::size_t n) const noexcept {
  const std::size_t free = buffer_size > tx_used_ ? buffer_size - tx_used_ : 0;
  const std::size_t after = free > n ? free - n : 0;
  return after < kMaxPiece;
}

void BipChannel::piece_sent(std::size_t n, bool immediately) noexcept {
  if (immediately) {
    tx_used_ = 0;
  } else {
    tx_used_ += n;
  }
}

void BipChannel::tx_free_reported(u8 free) noexcept {
  if (free == apdu::cat::kChannelDataLengthMany) return;  // at least 255 free: our count stands
  const std::size_t used = buffer_size > free ? buffer_size - free : 0;
  if (used > tx_used_) tx_used_ = used;
}

}  // namespace scws::card
