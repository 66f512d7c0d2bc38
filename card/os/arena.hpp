// The card's RAM: one fixed arena over caller-owned memory (docs/architecture.md, "Card-side rules").
// Everything the card uses while running is allocated here: the APDU buffer, transient arrays,
// channel buffers, parser state and, later, TLS sessions. Exhaustion returns nullptr, never aborts.
// The high-water mark (peak bytes in use, headers included) is what the card reports as its RAM use.
//
// Allocator: blocks tile the memory; each carries an 8-byte header (its size and the size of the
// block before it, so both neighbours are found in O(1)). Payloads are 16-byte aligned, block sizes
// are multiples of 16 (smallest block 16 bytes: 8 of header, up to 8 of payload). Free blocks sit in
// a doubly linked list kept in address order; allocation is first fit (the low end of the arena is
// reused first, which keeps fragmentation low for the many short-lived blocks of a TLS handshake)
// and free() merges a block with free neighbours at once, so no two free blocks are ever adjacent.
#pragma once

#include <cstddef>

#include "base/bytes.hpp"

namespace scws::card {

class Arena {
 public:
  static constexpr std::size_t kAlignment = 16;
  static constexpr std::size_t kHeaderSize = 8;  // per-block overhead

  // memory must outlive the arena; it is the whole card RAM. Should be 16-byte aligned (otherwise
  // up to 15 bytes at its start are left unused).
  explicit Arena(MutableBytes memory) noexcept;
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  // Returns 16-byte aligned memory of at least n bytes, or nullptr when the arena cannot satisfy it
  // (counted in failed_allocations()). n == 0 returns nullptr (not counted). Contents undefined.
  void* allocate(std::size_t n) noexcept;
  // As allocate(count * size), zero-filled (calloc semantics; overflow counts as a failure).
  void* allocate_zeroed(std::size_t count, std::size_t size) noexcept;
  // p must come from allocate() of this arena, or be nullptr. Freeing a block twice in a row is
  // ignored (not a general guard: a stale pointer into a reused block is still a bug).
  void deallocate(void* p) noexcept;
  // Forgets every allocation: what power-off does to RAM. The high-water mark is kept.
  void reset() noexcept;

  [[nodiscard]] std::size_t capacity() const noexcept;
  [[nodiscard]] std::size_t in_use() const noexcept;      // bytes taken, block headers included
  [[nodiscard]] std::size_t high_water() const noexcept;  // peak of in_use() since construction / reset_high_water()
  [[nodiscard]] std::size_t failed_allocations() const noexcept;
  // Largest n for which allocate(n) succeeds now.
  [[nodiscard]] std::size_t largest_free_block() const noexcept;
  [[nodiscard]] std::size_t free_blocks() const noexcept;  // length of the free list (fragmentation)
  void reset_high_water() noexcept;

  // Walks every block and the free list and checks the allocator's invariants (tiling, neighbour
  // sizes, address-ordered free list, no two adjacent free blocks, in_use() accounting). For tests.
  [[nodiscard]] bool check_invariants() const noexcept;

 private:
  struct Impl;
  MutableBytes memory_;
  std::size_t in_use_ = 0;
  std::size_t high_water_ = 0;
  std::size_t failed_ = 0;
  std::size_t free_head_ = 0;  // offset of the first free block header, or Impl::kNil
};

}  // namespace scws::card
