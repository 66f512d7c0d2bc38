#include "tls/tls_allocator.hpp"

#include <cstdint>
#include <cstring>

namespace scws::tls {

// Layout (offsets relative to region_.data(), u32, native byte order: RAM never leaves the card):
//   header at h:          size | kUsed | kPrevUsed   (size = whole block, multiple of 8)
//   payload at h + 4:     8-byte aligned in absolute terms
//   free block only:      next at h + 4, prev at h + 8 (list links), size again at h + size - 4
//   end marker at end_:   a header with size 0 and kUsed, so "the next block" always exists
// Invariants: no two free blocks are adjacent (coalescing is immediate); a block's kPrevUsed bit
// tells whether the block before it is used; every free block is in exactly one list.
struct TlsAllocator::Impl {
  static constexpr u32 kNil = 0xFFFFFFFFU;
  static constexpr u32 kUsed = 1;
  static constexpr u32 kPrevUsed = 2;
  static constexpr u32 kFlags = kUsed | kPrevUsed;

  static u32 load(const TlsAllocator& a, u32 off) noexcept {
    u32 v;
    std::memcpy(&v, a.region_.data() + off, sizeof v);
    return v;
  }
  static void store(TlsAllocator& a, u32 off, u32 v) noexcept { std::memcpy(a.region_.data() + off, &v, sizeof v); }

  static u32 size(const TlsAllocator& a, u32 h) noexcept { return load(a, h) & ~kFlags; }
  static bool used(const TlsAllocator& a, u32 h) noexcept { return (load(a, h) & kUsed) != 0; }
  static bool prev_used(const TlsAllocator& a, u32 h) noexcept { return (load(a, h) & kPrevUsed) != 0; }
  static void set_prev_used(TlsAllocator& a, u32 h, bool v) noexcept {
    const u32 w = load(a, h);
    store(a, h, v ? (w | kPrevUsed) : (w & ~kPrevUsed));
  }
  static u32 next(const TlsAllocator& a, u32 h) noexcept { return load(a, h + 4); }
  static u32 prev(const TlsAllocator& a, u32 h) noexcept { return load(a, h + 8); }
  static void set_next(TlsAllocator& a, u32 h, u32 v) noexcept { store(a, h + 4, v); }
  static void set_prev(TlsAllocator& a, u32 h, u32 v) noexcept { store(a, h + 8, v); }

  static bool is_small(u32 s) noexcept { return s <= kSmallMax; }
  static u32 class_of(u32 s) noexcept { return s / kAlignment - 2; }  // 16 -> 0, 512 -> 62

  static u32& head_for(TlsAllocator& a, u32 s) noexcept {
    return is_small(s) ? a.small_heads_[class_of(s)] : a.large_head_;
  }

  // Marks h free with size s (its predecessor is used: coalescing guarantees it) and lists it.
  static void make_free(TlsAllocator& a, u32 h, u32 s) noexcept {
    store(a, h, s | kPrevUsed);
    store(a, h + s - 4, s);
    u32& head = head_for(a, s);
    set_next(a, h, head);
    set_prev(a, h, kNil);
    if (head != kNil) set_prev(a, head, h);
    head = h;
    if (is_small(s)) a.small_mask_ |= u64{1} << class_of(s);
  }

  static void unlink(TlsAllocator& a, u32 h) noexcept {
    const u32 s = size(a, h);
    const u32 n = next(a, h);
    const u32 p = prev(a, h);
    u32& head = head_for(a, s);
    if (p == kNil) {
      head = n;
    } else {
      set_next(a, p, n);
    }
    if (n != kNil) set_prev(a, n, p);
    if (is_small(s) && head == kNil) a.small_mask_ &= ~(u64{1} << class_of(s));
  }

  // Smallest free block of at least `need` bytes (best fit), or kNil.
  static u32 find(const TlsAllocator& a, u32 need) noexcept {
    if (is_small(need)) {
      const u64 candidates = a.small_mask_ & (~u64{0} << class_of(need));
      if (candidates != 0) return a.small_heads_[__builtin_ctzll(candidates)];
    }
    u32 best = kNil;
    u32 best_size = 0;
    for (u32 h = a.large_head_; h != kNil; h = next(a, h)) {
      const u32 s = size(a, h);
      if (s < need) continue;
      if (best == kNil || s < best_size || (s == best_size && h < best)) {
        best = h;
        best_size = s;
      }
    }
    return best;
  }
};

TlsAllocator::TlsAllocator(MutableBytes region) noexcept : region_(region) { reset(); }

void TlsAllocator::reset() noexcept {
  for (u32& h : small_heads_) h = Impl::kNil;
  small_mask_ = 0;
  large_head_ = Impl::kNil;
  in_use_ = 0;
  blocks_ = 0;
  const auto base = reinterpret_cast<std::uintptr_t>(region_.data());
  // First header: the offset whose payload (4 bytes on) is 8-byte aligned.
  first_ = static_cast<u32>((kAlignment - (base + kHeaderSize) % kAlignment) % kAlignment);
  const std::size_t size = region_.size() > 0xFFFFFFF0U ? 0xFFFFFFF0U : region_.size();
  if (size < first_ + kMinBlock + kHeaderSize) {
    first_ = end_ = 0;
    if (size >= kHeaderSize) {
      Impl::store(*this, 0, Impl::kUsed | Impl::kPrevUsed);
    }
    return;
  }
  end_ = static_cast<u32>(first_ + (size - first_ - kHeaderSize) / kAlignment * kAlignment);
  Impl::make_free(*this, first_, end_ - first_);
  Impl::store(*this, end_, Impl::kUsed);  // end marker: used, its predecessor free
}

void* TlsAllocator::allocate(std::size_t n) noexcept {
  if (n == 0) return nullptr;
  if (n > usable()) {
    ++failed_;
    exhausted_ = true;
    return nullptr;
  }
  const u32 need = static_cast<u32>(block_size_for(n));
  const u32 h = Impl::find(*this, need);
  if (h == Impl::kNil) {
    ++failed_;
    exhausted_ = true;
    return nullptr;
  }
  Impl::unlink(*this, h);
  const u32 have = Impl::size(*this, h);
  u32 taken = have;
  if (have - need >= kMinBlock) {
    taken = need;
    Impl::make_free(*this, h + need, have - need);  // the block after it keeps kPrevUsed clear
  } else {
    Impl::set_prev_used(*this, h + have, true);
  }
  Impl::store(*this, h, taken | Impl::kUsed | Impl::kPrevUsed);
  in_use_ += taken;
  ++blocks_;
  ++allocations_;
  if (in_use_ > high_water_) high_water_ = in_use_;
  return region_.data() + h + kHeaderSize;
}

void* TlsAllocator::allocate_zeroed(std::size_t count, std::size_t size) noexcept {
  if (count != 0 && size > static_cast<std::size_t>(-1) / count) {
    ++failed_;
    exhausted_ = true;
    return nullptr;
  }
  void* p = allocate(count * size);
  if (p != nullptr) std::memset(p, 0, count * size);
  return p;
}

void TlsAllocator::deallocate(void* p) noexcept {
  if (p == nullptr) return;
  const auto* bytes = static_cast<const u8*>(p);
  // Not ours (a bug in whoever installed the allocator): leaking beats corrupting the region.
  if (bytes < region_.data() + first_ + kHeaderSize || bytes >= region_.data() + end_) return;
  u32 h = static_cast<u32>(bytes - region_.data() - kHeaderSize);
  if (!Impl::used(*this, h)) return;  // a repeated free of the same block changes nothing
  u32 s = Impl::size(*this, h);
  in_use_ -= s;
  --blocks_;
  const u32 after = h + s;
  if (!Impl::used(*this, after)) {
    Impl::unlink(*this, after);
    s += Impl::size(*this, after);
  }
  if (!Impl::prev_used(*this, h)) {
    const u32 before = h - Impl::load(*this, h - 4);
    Impl::unlink(*this, before);
    s += h - before;
    h = before;
  }
  Impl::make_free(*this, h, s);
  Impl::set_prev_used(*this, h + s, false);
}

std::size_t TlsAllocator::largest_free_block() const noexcept {
  u32 best = 0;
  if (small_mask_ != 0) best = static_cast<u32>((63 - __builtin_clzll(small_mask_) + 2) * kAlignment);
  for (u32 h = large_head_; h != Impl::kNil; h = Impl::next(*this, h)) {
    const u32 s = Impl::size(*this, h);
    if (s > best) best = s;
  }
  return best == 0 ? 0 : best - kHeaderSize;
}

std::size_t TlsAllocator::free_blocks() const noexcept {
  std::size_t count = 0;
  for (u32 head : small_heads_)
    for (u32 h = head; h != Impl::kNil; h = Impl::next(*this, h)) ++count;
  for (u32 h = large_head_; h != Impl::kNil; h = Impl::next(*this, h)) ++count;
  return count;
}

bool TlsAllocator::check_invariants() const noexcept {
  if (end_ == 0) return in_use_ == 0 && free_blocks() == 0;
  std::size_t used_bytes = 0;
  std::size_t used_count = 0;
  std::size_t free_count = 0;
  bool before_used = true;
  u32 h = first_;
  while (h < end_) {
    const u32 s = Impl::size(*this, h);
    if (s < kMinBlock || s % kAlignment != 0 || s > end_ - h) return false;
    if (Impl::prev_used(*this, h) != before_used) return false;
    const bool is_used = Impl::used(*this, h);
    if (!is_used) {
      if (!before_used) return false;  // missed coalescing
      if (Impl::load(*this, h + s - 4) != s) return false;
      ++free_count;
    } else {
      used_bytes += s;
      ++used_count;
    }
    before_used = is_used;
    h += s;
  }
  if (h != end_ || !Impl::used(*this, end_) || Impl::prev_used(*this, end_) != before_used) return false;
  if (used_bytes != in_use_ || used_count != blocks_) return false;
  std::size_t listed = 0;
  auto walk = [&](u32 head, u32 min_size, u32 max_size) {
    u32 p = Impl::kNil;
    for (u32 at = head; at != Impl::kNil; at = Impl::next(*this, at)) {
      if (at < first_ || at >= end_ || Impl::used(*this, at) || Impl::prev(*this, at) != p) return false;
      const u32 s = Impl::size(*this, at);
      if (s < min_size || s > max_size) return false;
      if (++listed > free_count) return false;
      p = at;
    }
    return true;
  };
  for (u32 c = 0; c < kSmallClasses; ++c) {
    const u32 s = (c + 2) * kAlignment;
    if (!walk(small_heads_[c], s, s)) return false;
    if (((small_mask_ >> c) & 1) != (small_heads_[c] != Impl::kNil ? 1U : 0U)) return false;
  }
  if (!walk(large_head_, kSmallMax + kAlignment, 0xFFFFFFFFU)) return false;
  return listed == free_count;
}

namespace {
TlsAllocator* g_current = nullptr;  // constant-initialised: no static constructor
}  // namespace

TlsAllocator* TlsAllocator::current() noexcept { return g_current; }
void TlsAllocator::set_current(TlsAllocator* a) noexcept { g_current = a; }

}  // namespace scws::tls

// mbedTLS's calloc/free (tls/mbedtls_card_config.h).
extern "C" void* scws_tls_calloc(std::size_t count, std::size_t size) {
  scws::tls::TlsAllocator* a = scws::tls::TlsAllocator::current();
  return a == nullptr ? nullptr : a->allocate_zeroed(count, size);
}

extern "C" void scws_tls_free(void* p) {
  scws::tls::TlsAllocator* a = scws::tls::TlsAllocator::current();
  if (a != nullptr) a->deallocate(p);
}
