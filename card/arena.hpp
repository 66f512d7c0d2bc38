// The card's RAM: one fixed arena over caller-owned memory (DESIGN.md section 4).
// Everything the card uses while running is allocated here: the APDU buffer, transient arrays,
// channel buffers, parser state and, later, TLS sessions. Exhaustion returns nullptr, never aborts.
// The high-water mark (peak bytes in use, headers included) is what the card reports as its RAM use.
#pragma once

#include <cstddef>

#include "base/bytes.hpp"

namespace scws::card {

class Arena {
 public:
  // memory must outlive the arena and be 16-byte aligned; it is the whole card RAM.
  explicit Arena(MutableBytes memory) noexcept;
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  // Returns 16-byte aligned memory of at least n bytes, or nullptr when the arena cannot satisfy it
  // (counted in failed_allocations()). n == 0 returns nullptr.
  void* allocate(std::size_t n) noexcept;
  // p must come from allocate() of this arena, or be nullptr.
  void deallocate(void* p) noexcept;
  // Forgets every allocation: what power-off does to RAM. The high-water mark is kept.
  void reset() noexcept;

  [[nodiscard]] std::size_t capacity() const noexcept;
  [[nodiscard]] std::size_t in_use() const noexcept;      // bytes taken, block headers included
  [[nodiscard]] std::size_t high_water() const noexcept;  // peak of in_use() since construction / reset_high_water()
  [[nodiscard]] std::size_t failed_allocations() const noexcept;
  [[nodiscard]] std::size_t largest_free_block() const noexcept;
  void reset_high_water() noexcept;

 private:
  struct Impl;
  MutableBytes memory_;
  std::size_t in_use_ = 0;
  std::size_t high_water_ = 0;
  std::size_t failed_ = 0;
  std::size_t free_head_ = 0;  // offset of the first free block (implementation defined)
};

}  // namespace scws::card
