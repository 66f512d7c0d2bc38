// The allocator mbedTLS runs on, over a region of card RAM (carved from the card Arena at power-up,
// or a static buffer in tests). Every mbedtls_calloc / mbedtls_free of the card build lands here
// (tls/mbedtls_card_config.h: MBEDTLS_PLATFORM_CALLOC_MACRO scws_tls_calloc).
//
// Why not card::Arena or mbedTLS's buffer allocator: an ECDHE handshake makes about 34,000
// allocations, mostly bignums of 8..80 bytes, with about 75 blocks alive at the peak
// (docs/architecture.md, "Figures and targets"). mbedTLS's buffer allocator spends 64 bytes of
// header per block on x86-64 and first-fit fragments; card::Arena spends 8 bytes and rounds to 16.
// Here:
//
//  - Blocks are 8-byte aligned and sized in 8-byte granules (mbedTLS needs no more: its widest
//    scalars are 64-bit limbs). A block has a 4-byte header (size | used | previous-used) in front
//    of its payload; a free block also keeps its size in its last 4 bytes (a boundary tag, only
//    while free), so both neighbours are found in O(1) and free blocks coalesce at once.
//    Cost of a block: round_up(n + 4, 8), at least 16: n = 32 -> 40, n = 28 -> 32.
//  - Free blocks of up to kSmallMax bytes sit in exact size-class lists (one per 8-byte granule),
//    found through a 64-bit occupancy mask, so the smallest free block that fits is found in O(1):
//    best fit, which keeps fragmentation low for this workload. Larger free blocks sit in one list
//    searched best-fit (there are only a few). Lists are doubly linked through the payload.
//  - Exhaustion is reported, never fatal: allocate() returns nullptr and counts it; exhausted() stays
//    set until clear_exhausted(), so a session can tell "ran out of RAM" from "bad certificate"
//    (mbedTLS maps an allocation failure inside X.509 verification to a verify failure).
//
// Single-threaded (a card); the region must outlive the allocator.
#pragma once

#include <cstddef>

#include "base/bytes.hpp"

namespace scws::tls {

class TlsAllocator {
 public:
  static constexpr std::size_t kAlignment = 8;
  static constexpr std::size_t kHeaderSize = 4;
  static constexpr std::size_t kMinBlock = 16;   // header + two list links + boundary tag
  static constexpr std::size_t kSmallMax = 512;  // blocks up to this size live in size classes
  static constexpr std::size_t kSmallClasses = kSmallMax / kAlignment - 1;  // 16, 24, ..., 512
  static_assert(kSmallClasses <= 64, "occupancy mask is 64 bits");
  static_assert(kMinBlock >= kHeaderSize + 2 * sizeof(u32) + sizeof(u32));

  // Block bytes one allocation of n costs (header and rounding included).
  static constexpr std::size_t block_size_for(std::size_t n) noexcept {
    const std::size_t s = (n + kHeaderSize + kAlignment - 1) / kAlignment * kAlignment;
    return s < kMinBlock ? kMinBlock : s;
  }

  explicit TlsAllocator(MutableBytes region) noexcept;
  TlsAllocator(const TlsAllocator&) = delete;
  TlsAllocator& operator=(const TlsAllocator&) = delete;

  // 8-byte aligned memory of at least n bytes, or nullptr (counted; exhausted() set). n == 0 gives
  // nullptr without counting (mbedTLS never relies on calloc(0)).
  void* allocate(std::size_t n) noexcept;
  // calloc semantics: count * size bytes, zero-filled; overflow is a failure.
  void* allocate_zeroed(std::size_t count, std::size_t size) noexcept;
  // p from allocate() of this allocator, or nullptr.
  void deallocate(void* p) noexcept;
  // Forgets every block (power-off). Counters other than in_use are kept.
  void reset() noexcept;

  [[nodiscard]] std::size_t capacity() const noexcept { return region_.size(); }
  // Bytes the blocks can tile (capacity minus alignment slack and the end marker).
  [[nodiscard]] std::size_t usable() const noexcept { return end_ - first_; }
  [[nodiscard]] std::size_t in_use() const noexcept { return in_use_; }  // block bytes, headers included
  [[nodiscard]] std::size_t high_water() const noexcept { return high_water_; }
  [[nodiscard]] std::size_t blocks_in_use() const noexcept { return blocks_; }
  [[nodiscard]] u64 allocations() const noexcept { return allocations_; }  // successful, since construction
  [[nodiscard]] u64 failed_allocations() const noexcept { return failed_; }
  [[nodiscard]] bool exhausted() const noexcept { return exhausted_; }
  void clear_exhausted() noexcept { exhausted_ = false; }
  void reset_high_water() noexcept { high_water_ = in_use_; }
  [[nodiscard]] std::size_t largest_free_block() const noexcept;  // largest n allocate(n) can serve now
  [[nodiscard]] std::size_t free_blocks() const noexcept;

  // Walks every block and list: tiling, tags, flags, coalescing, list membership, accounting.
  [[nodiscard]] bool check_invariants() const noexcept;

  // The allocator mbedTLS's calloc/free use right now (one card, one CPU: a plain global).
  // nullptr = mbedTLS allocations fail. Prefer Scope to set it around calls into mbedTLS.
  static TlsAllocator* current() noexcept;
  static void set_current(TlsAllocator* a) noexcept;

  // Installs an allocator for the lifetime of the scope and restores the previous one.
  class Scope {
   public:
    explicit Scope(TlsAllocator& a) noexcept : previous_(current()) { set_current(&a); }
    ~Scope() { set_current(previous_); }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    TlsAllocator* previous_;
  };

 private:
  struct Impl;
  MutableBytes region_;
  u32 first_ = 0;  // offset of the first block header
  u32 end_ = 0;    // offset of the end marker (a used 4-byte header)
  u32 small_heads_[kSmallClasses] = {};
  u64 small_mask_ = 0;
  u32 large_head_ = 0;
  std::size_t in_use_ = 0;
  std::size_t high_water_ = 0;
  std::size_t blocks_ = 0;
  u64 allocations_ = 0;
  u64 failed_ = 0;
  bool exhausted_ = false;
};

}  // namespace scws::tls
