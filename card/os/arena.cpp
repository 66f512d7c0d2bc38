#include "card/os/arena.hpp"

#include <cstdint>
#include <cstring>

namespace scws::card {

// Block header, 8 bytes at offset h (payload at h + 8, 16-byte aligned):
//   u32 size_and_flags: block size (multiple of 16, header included) | kUsed
//   u32 prev_size:      size of the physically preceding block, 0 for the first block
// A free block also keeps its free-list links in its payload:
//   u32 next_free at h + 8, u32 prev_free at h + 12 (header offsets, kNil at the ends).
// Offsets are relative to memory_.data(); u32 is enough for any card RAM.
struct Arena::Impl {
  static constexpr u32 kNil = 0xFFFFFFFFU;
  static constexpr u32 kUsed = 1;
  static constexpr u32 kMinBlock = 16;  // header + room for the two free-list links
  static_assert(kMinBlock >= kHeaderSize + 2 * sizeof(u32));
  static_assert(kAlignment == 16 && kMinBlock % kAlignment == 0);

  static u32 load(const Arena& a, std::size_t off) noexcept {
    u32 v;
    std::memcpy(&v, a.memory_.data() + off, sizeof v);
    return v;
  }
  static void store(Arena& a, std::size_t off, u32 v) noexcept {
    std::memcpy(a.memory_.data() + off, &v, sizeof v);
  }

  // First header offset: the one whose payload is 16-byte aligned in absolute terms.
  static u32 first(const Arena& a) noexcept {
    const auto addr = reinterpret_cast<std::uintptr_t>(a.memory_.data());
    return static_cast<u32>((kHeaderSize - addr % kAlignment + kAlignment) % kAlignment);
  }
  // End of the tiled region: blocks cover [first, end).
  static u32 end(const Arena& a) noexcept {
    const u32 f = first(a);
    const std::size_t size = a.memory_.size() > 0xFFFFFFF0U ? 0xFFFFFFF0U : a.memory_.size();
    if (size < f + kMinBlock) return f;
    return static_cast<u32>(f + (size - f) / kAlignment * kAlignment);
  }

  static u32 size(const Arena& a, u32 h) noexcept { return load(a, h) & ~u32{kAlignment - 1}; }
  static bool used(const Arena& a, u32 h) noexcept { return (load(a, h) & kUsed) != 0; }
  static void set_block(Arena& a, u32 h, u32 size, bool used) noexcept { store(a, h, size | (used ? kUsed : 0)); }
  static u32 prev_size(const Arena& a, u32 h) noexcept { return load(a, h + 4); }
  static void set_prev_size(Arena& a, u32 h, u32 v) noexcept { store(a, h + 4, v); }
  static u32 next_free(const Arena& a, u32 h) noexcept { return load(a, h + 8); }
  static u32 prev_free(const Arena& a, u32 h) noexcept { return load(a, h + 12); }
  static void set_next_free(Arena& a, u32 h, u32 v) noexcept { store(a, h + 8, v); }
  static void set_prev_free(Arena& a, u32 h, u32 v) noexcept { store(a, h + 12, v); }

  static u32 head(const Arena& a) noexcept { return static_cast<u32>(a.free_head_); }

  // Tells the block after h (if any) that h now has `size` bytes.
  static void update_follower(Arena& a, u32 h, u32 size) noexcept {
    const u32 next = h + size;
    if (next < end(a)) set_prev_size(a, next, size);
  }

  // Puts `to` in the free list where `from` was (same neighbours, so address order holds when `to`
  // lies between from's neighbours).
  static void replace_in_list(Arena& a, u32 from, u32 to) noexcept {
    const u32 next = next_free(a, from);
    const u32 prev = prev_free(a, from);
    set_next_free(a, to, next);
    set_prev_free(a, to, prev);
    if (prev == kNil) {
      a.free_head_ = to;
    } else {
      set_next_free(a, prev, to);
    }
    if (next != kNil) set_prev_free(a, next, to);
  }

  static void unlink(Arena& a, u32 h) noexcept {
    const u32 next = next_free(a, h);
    const u32 prev = prev_free(a, h);
    if (prev == kNil) {
      a.free_head_ = next;
    } else {
      set_next_free(a, prev, next);
    }
    if (next != kNil) set_prev_free(a, next, prev);
  }

  // Inserts h in address order. O(free blocks): frees next to a free neighbour never get here.
  static void insert_ordered(Arena& a, u32 h) noexcept {
    u32 prev = kNil;
    u32 at = head(a);
    while (at != kNil && at < h) {
      prev = at;
      at = next_free(a, at);
    }
    set_next_free(a, h, at);
    set_prev_free(a, h, prev);
    if (prev == kNil) {
      a.free_head_ = h;
    } else {
      set_next_free(a, prev, h);
    }
    if (at != kNil) set_prev_free(a, at, h);
  }
};

Arena::Arena(MutableBytes memory) noexcept : memory_(memory) {
  reset();
  high_water_ = 0;
}

void Arena::reset() noexcept {
  in_use_ = 0;
  const u32 f = Impl::first(*this);
  const u32 e = Impl::end(*this);
  if (e - f < Impl::kMinBlock) {
    free_head_ = Impl::kNil;
    return;
  }
  Impl::set_block(*this, f, e - f, false);
  Impl::set_prev_size(*this, f, 0);
  Impl::set_next_free(*this, f, Impl::kNil);
  Impl::set_prev_free(*this, f, Impl::kNil);
  free_head_ = f;
}

void* Arena::allocate(std::size_t n) noexcept {
  if (n == 0) return nullptr;
  const u32 span = Impl::end(*this) - Impl::first(*this);
  if (n > span) {
    ++failed_;
    return nullptr;
  }
  const u32 need = static_cast<u32>((n + kHeaderSize + kAlignment - 1) / kAlignment * kAlignment);
  for (u32 h = Impl::head(*this); h != Impl::kNil; h = Impl::next_free(*this, h)) {
    const u32 have = Impl::size(*this, h);
    if (have < need) continue;
    u32 taken = have;
    if (have - need >= Impl::kMinBlock) {
      // Split: the front is handed out, the rest stays free at the same place in the list.
      const u32 rest = h + need;
      Impl::set_block(*this, rest, have - need, false);
      Impl::set_prev_size(*this, rest, need);
      Impl::replace_in_list(*this, h, rest);
      Impl::update_follower(*this, rest, have - need);
      taken = need;
    } else {
      Impl::unlink(*this, h);
    }
    Impl::set_block(*this, h, taken, true);
    in_use_ += taken;
    if (in_use_ > high_water_) high_water_ = in_use_;
    return memory_.data() + h + kHeaderSize;
  }
  ++failed_;
  return nullptr;
}

void* Arena::allocate_zeroed(std::size_t count, std::size_t size) noexcept {
  if (count != 0 && size > static_cast<std::size_t>(-1) / count) {
    ++failed_;
    return nullptr;
  }
  void* p = allocate(count * size);
  if (p != nullptr) std::memset(p, 0, count * size);
  return p;
}

void Arena::deallocate(void* p) noexcept {
  if (p == nullptr) return;
  const u32 h = static_cast<u32>(static_cast<u8*>(p) - memory_.data() - kHeaderSize);
  if (!Impl::used(*this, h)) return;  // a second free of the same block changes nothing
  u32 size = Impl::size(*this, h);
  in_use_ -= size;
  const u32 e = Impl::end(*this);
  const u32 next = h + size;
  const bool next_is_free = next < e && !Impl::used(*this, next);
  const bool prev_is_free = h != Impl::first(*this) && !Impl::used(*this, h - Impl::prev_size(*this, h));
  Impl::set_block(*this, h, size, false);  // also when merged away: a repeated free sees "free"

  if (prev_is_free) {
    // Merge into the previous block, which is already in the list at the right place.
    const u32 prev = h - Impl::prev_size(*this, h);
    u32 merged = Impl::size(*this, prev) + size;
    if (next_is_free) {
      merged += Impl::size(*this, next);
      Impl::unlink(*this, next);
    }
    Impl::set_block(*this, prev, merged, false);
    Impl::update_follower(*this, prev, merged);
    return;
  }
  if (next_is_free) {
    // Take the next block's place in the list: h is just before it, after its list predecessor.
    size += Impl::size(*this, next);
    Impl::replace_in_list(*this, next, h);
    Impl::set_block(*this, h, size, false);
    Impl::update_follower(*this, h, size);
    return;
  }
  Impl::insert_ordered(*this, h);
}

std::size_t Arena::capacity() const noexcept { return memory_.size(); }
std::size_t Arena::in_use() const noexcept { return in_use_; }
std::size_t Arena::high_water() const noexcept { return high_water_; }
std::size_t Arena::failed_allocations() const noexcept { return failed_; }
void Arena::reset_high_water() noexcept { high_water_ = in_use_; }

std::size_t Arena::largest_free_block() const noexcept {
  u32 best = 0;
  for (u32 h = Impl::head(*this); h != Impl::kNil; h = Impl::next_free(*this, h)) {
    const u32 s = Impl::size(*this, h);
    if (s > best) best = s;
  }
  return best == 0 ? 0 : best - kHeaderSize;
}

std::size_t Arena::free_blocks() const noexcept {
  std::size_t count = 0;
  for (u32 h = Impl::head(*this); h != Impl::kNil; h = Impl::next_free(*this, h)) ++count;
  return count;
}

bool Arena::check_invariants() const noexcept {
  const u32 f = Impl::first(*this);
  const u32 e = Impl::end(*this);
  std::size_t used_bytes = 0;
  std::size_t free_count = 0;
  u32 prev_size = 0;
  bool prev_free = false;
  u32 h = f;
  if (e - f >= Impl::kMinBlock) {
    while (h < e) {
      const u32 s = Impl::size(*this, h);
      if (s < Impl::kMinBlock || s > e - h) return false;
      if (Impl::prev_size(*this, h) != prev_size) return false;
      const bool is_free = !Impl::used(*this, h);
      if (is_free && prev_free) return false;  // missed coalescing
      if (is_free) {
        ++free_count;
      } else {
        used_bytes += s;
      }
      prev_free = is_free;
      prev_size = s;
      h += s;
    }
    if (h != e) return false;
  }
  if (used_bytes != in_use_) return false;
  std::size_t listed = 0;
  u32 prev = Impl::kNil;
  for (u32 at = Impl::head(*this); at != Impl::kNil; at = Impl::next_free(*this, at)) {
    if (at < f || at >= e || Impl::used(*this, at)) return false;
    if (Impl::prev_free(*this, at) != prev) return false;
    if (prev != Impl::kNil && at <= prev) return false;  // address order
    prev = at;
    if (++listed > free_count) return false;
  }
  return listed == free_count;
}

}  // namespace scws::card
