// Bounds-checked byte cursors over caller-owned memory. Both are "sticky": after the first
// overrun every further call is a no-op and ok() stays false, so a parser can read a whole
// structure and check once. Nothing here allocates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace scws {

using u8 = std::uint8_t;
using u16 = std::uint16_t;
using u32 = std::uint32_t;
using u64 = std::uint64_t;
using Bytes = std::span<const u8>;
using MutableBytes = std::span<u8>;

class ByteReader {
 public:
  constexpr explicit ByteReader(Bytes data) noexcept : data_(data) {}

  [[nodiscard]] constexpr bool ok() const noexcept { return ok_; }
  [[nodiscard]] constexpr std::size_t remaining() const noexcept { return data_.size() - pos_; }
  [[nodiscard]] constexpr std::size_t position() const noexcept { return pos_; }
  [[nodiscard]] constexpr bool at_end() const noexcept { return pos_ == data_.size(); }

  constexpr u8 u8_() noexcept {
    if (!need(1)) return 0;
    return data_[pos_++];
  }
  constexpr u16 u16_be() noexcept {
    if (!need(2)) return 0;
    u16 v = static_cast<u16>((data_[pos_] << 8) | data_[pos_ + 1]);
    pos_ += 2;
    return v;
  }
  constexpr u32 u32_be() noexcept {
    if (!need(4)) return 0;
    u32 v = (u32{data_[pos_]} << 24) | (u32{data_[pos_ + 1]} << 16) | (u32{data_[pos_ + 2]} << 8) |
            u32{data_[pos_ + 3]};
    pos_ += 4;
    return v;
  }
  // A view of the next n bytes (empty on overrun).
  constexpr Bytes take(std::size_t n) noexcept {
    if (!need(n)) return {};
    Bytes v = data_.subspan(pos_, n);
    pos_ += n;
    return v;
  }
  constexpr Bytes rest() noexcept { return take(remaining()); }
  constexpr u8 peek() const noexcept { return pos_ < data_.size() ? data_[pos_] : 0; }

 private:
  constexpr bool need(std::size_t n) noexcept {
    if (!ok_ || n > data_.size() - pos_) {
      ok_ = false;
      return false;
    }
    return true;
  }
  Bytes data_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

class ByteWriter {
 public:
  constexpr explicit ByteWriter(MutableBytes out) noexcept : out_(out) {}

  [[nodiscard]] constexpr bool ok() const noexcept { return ok_; }
  [[nodiscard]] constexpr std::size_t size() const noexcept { return pos_; }
  [[nodiscard]] constexpr std::size_t remaining() const noexcept { return out_.size() - pos_; }
  [[nodiscard]] constexpr Bytes written() const noexcept { return Bytes(out_.data(), pos_); }

  constexpr void u8_(u8 v) noexcept {
    if (need(1)) out_[pos_++] = v;
  }
  constexpr void u16_be(u16 v) noexcept {
    if (!need(2)) return;
    out_[pos_++] = static_cast<u8>(v >> 8);
    out_[pos_++] = static_cast<u8>(v);
  }
  constexpr void u32_be(u32 v) noexcept {
    if (!need(4)) return;
    for (int shift = 24; shift >= 0; shift -= 8) out_[pos_++] = static_cast<u8>(v >> shift);
  }
  constexpr void bytes(Bytes v) noexcept {
    if (!need(v.size())) return;
    for (u8 b : v) out_[pos_++] = b;
  }
  // Reserves n bytes to be filled later (e.g. a length); returns their offset.
  constexpr std::size_t skip(std::size_t n) noexcept {
    std::size_t at = pos_;
    if (need(n)) pos_ += n;
    return at;
  }
  constexpr void patch(std::size_t at, u8 v) noexcept {
    if (at < pos_) out_[at] = v;
  }
  constexpr MutableBytes buffer() noexcept { return out_; }

 private:
  constexpr bool need(std::size_t n) noexcept {
    if (!ok_ || n > out_.size() - pos_) {
      ok_ = false;
      return false;
    }
    return true;
  }
  MutableBytes out_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

// Big-endian 32-bit load/store at a raw pointer (NVM headers and tables).
constexpr u32 load_be32(const u8* p) noexcept {
  return (u32{p[0]} << 24) | (u32{p[1]} << 16) | (u32{p[2]} << 8) | u32{p[3]};
}
constexpr void store_be32(u8* p, u32 v) noexcept {
  p[0] = static_cast<u8>(v >> 24);
  p[1] = static_cast<u8>(v >> 16);
  p[2] = static_cast<u8>(v >> 8);
  p[3] = static_cast<u8>(v);
}

constexpr bool bytes_equal(Bytes a, Bytes b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i] != b[i]) return false;
  return true;
}

// Secrets are compared in constant time: the loop never exits early on a mismatch.
inline bool bytes_equal_constant_time(Bytes a, Bytes b) noexcept {
  if (a.size() != b.size()) return false;
  volatile u8 acc = 0;
  for (std::size_t i = 0; i < a.size(); ++i) acc = static_cast<u8>(acc | (a[i] ^ b[i]));
  return acc == 0;
}

}  // namespace scws
