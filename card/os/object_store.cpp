// ObjectStore (declared in card/os/nvm.hpp): persistent objects in the Nvm data area.
#include "card/os/nvm.hpp"

namespace scws::card {
namespace {

constexpr u8 kMagic[4] = {'O', 'B', 'J', '1'};
constexpr u32 kVersionAt = 4;
constexpr u32 kMaxObjectsAt = 6;
constexpr u32 kTableOffsetAt = 8;
constexpr u32 kHeapOffsetAt = 12;
constexpr u32 kHeapEndAt = 16;
// Table entries read per device read (a 192-byte stack buffer).
constexpr u32 kSlotsPerRead = 16;
static_assert(ObjectStore::kMaxObjects % kSlotsPerRead == 0);

u64 end_of(const ObjectInfo& o) noexcept { return u64{o.offset} + o.size; }

// Zero-sized objects occupy no bytes, so they never collide with anything.
bool overlaps(const ObjectInfo& o, u64 start, u64 end) noexcept {
  return o.size != 0 && start < end && o.offset < end && start < end_of(o);
}

}  // namespace

void ObjectStore::cache_clear() noexcept {
  cache_ok_ = false;
  cache_used_ = 0;
  cache_next_ = 0;
}

void ObjectStore::cache_put(const Slot& s) noexcept {
  cache_[cache_next_] = s;
  cache_next_ = (cache_next_ + 1) % kCacheEntries;
  if (cache_used_ < kCacheEntries) ++cache_used_;
}

// Space freed in the open transaction is restored by a rollback, so it must never be claimed
// fresh: remember it (per transaction, by Nvm::transaction_serial).
void ObjectStore::note_freed(u32 offset, u32 size, bool unknown) noexcept {
  if (freed_serial_ != nvm_.transaction_serial()) {
    freed_serial_ = nvm_.transaction_serial();
    freed_count_ = 0;
    freed_unknown_ = false;
  }
  if (unknown || freed_count_ == kMaxFreed) {
    freed_unknown_ = true;
    return;
  }
  if (size != 0) freed_[freed_count_++] = Freed{offset, size};
}

bool ObjectStore::freed_in_transaction(u32 offset, u32 size) const noexcept {
  if (freed_serial_ != nvm_.transaction_serial()) return false;
  if (freed_unknown_) return true;
  for (u32 i = 0; i < freed_count_; ++i) {
    const ObjectInfo f{0, freed_[i].offset, freed_[i].size};
    if (overlaps(f, offset, u64{offset} + size)) return true;
  }
  return false;
}

Result<ObjectStore::Layout, NvmError> ObjectStore::layout() noexcept {
  if (!nvm_.mounted()) return fail(NvmError::kNotMounted);
  if (cache_valid()) return layout_cache_;
  cache_clear();
  if (nvm_.data_size() < kHeapOffset) return fail(NvmError::kBadMagic);  // no store fits there
  u8 h[kHeaderSize];
  SCWS_TRY(nvm_.read(0, MutableBytes(h, sizeof h)));
  for (u32 i = 0; i < sizeof kMagic; ++i)
    if (h[i] != kMagic[i]) return fail(NvmError::kBadMagic);
  if (((u32{h[kVersionAt]} << 8) | h[kVersionAt + 1]) != kVersion) return fail(NvmError::kUnsupportedVersion);
  const u32 heap_end = load_be32(h + kHeapEndAt);
  if (((u32{h[kMaxObjectsAt]} << 8) | h[kMaxObjectsAt + 1]) != kMaxObjects ||
      load_be32(h + kTableOffsetAt) != kTableOffset || load_be32(h + kHeapOffsetAt) != kHeapOffset ||
      heap_end < kHeapOffset || heap_end > nvm_.data_size())
    return fail(NvmError::kCorruptData);
  layout_cache_.heap_end = heap_end;
  cache_generation_ = nvm_.generation();
  cache_ok_ = true;
  return layout_cache_;
}

// Calls visit(slot) for every table slot in order (free ones have id 0) until it returns false.
// A live entry pointing outside the heap is kCorruptData: nothing past this point trusts an entry
// that was not checked here.
template <class F>
Status<NvmError> ObjectStore::scan(const Layout& layout, F&& visit) noexcept {
  u8 buf[kSlotsPerRead * kEntrySize];
  for (u32 base = 0; base < kMaxObjects; base += kSlotsPerRead) {
    SCWS_TRY(nvm_.read(kTableOffset + base * kEntrySize, MutableBytes(buf, sizeof buf)));
    for (u32 i = 0; i < kSlotsPerRead; ++i) {
      const u8* e = buf + i * kEntrySize;
      Slot s{base + i, ObjectInfo{load_be32(e), load_be32(e + 4), load_be32(e + 8)}};
      if (s.info.id != 0 &&
          (s.info.offset < kHeapOffset || s.info.size > kMaxObjectSize || end_of(s.info) > layout.heap_end))
        return fail(NvmError::kCorruptData);
      if (!visit(s)) return {};
    }
  }
  return {};
}

Status<NvmError> ObjectStore::write_entry(u32 slot, const ObjectInfo& info) noexcept {
  u8 e[kEntrySize];
  store_be32(e, info.id);
  store_be32(e + 4, info.offset);
  store_be32(e + 8, info.size);
  return nvm_.write(kTableOffset + slot * kEntrySize, Bytes(e, sizeof e));
}

Status<NvmError> ObjectStore::format() noexcept {
  if (!nvm_.mounted()) return fail(NvmError::kNotMounted);
  if (!nvm_.in_transaction()) return fail(NvmError::kNotInTransaction);
  if (nvm_.data_size() < kHeapOffset) return fail(NvmError::kOutOfRange);
  cache_clear();
  note_freed(0, 0, true);  // whatever the old table held is free now, but comes back on rollback
  // Nvm::fill journals only the bytes that differ: on a fresh image this costs nothing.
  SCWS_TRY(nvm_.fill(kTableOffset, kMaxObjects * kEntrySize, 0));
  u8 h[kHeaderSize] = {};
  for (u32 i = 0; i < sizeof kMagic; ++i) h[i] = kMagic[i];
  h[kVersionAt + 1] = static_cast<u8>(kVersion);
  h[kMaxObjectsAt] = static_cast<u8>(kMaxObjects >> 8);
  h[kMaxObjectsAt + 1] = static_cast<u8>(kMaxObjects);
  store_be32(h + kTableOffsetAt, kTableOffset);
  store_be32(h + kHeapOffsetAt, kHeapOffset);
  store_be32(h + kHeapEndAt, nvm_.data_size());
  return nvm_.write(0, Bytes(h, sizeof h));
}

Result<ObjectStore::Slot, NvmError> ObjectStore::find_slot(u32 id) noexcept {
  auto l = layout();
  if (!l) return fail(l.error());
  if (id == 0) return fail(NvmError::kNotFound);
  for (u32 i = 0; i < cache_used_; ++i)
    if (cache_[i].info.id == id) return cache_[i];
  Slot found{};
  SCWS_TRY(scan(*l, [&](const Slot& s) {
    if (s.info.id != id) return true;
    found = s;
    return false;
  }));
  if (found.info.id != id) return fail(NvmError::kNotFound);
  cache_put(found);
  return found;
}

Result<ObjectInfo, NvmError> ObjectStore::find(u32 id) noexcept {
  auto s = find_slot(id);
  if (!s) return fail(s.error());
  return s->info;
}

Result<ObjectInfo, NvmError> ObjectStore::create(u32 id, u32 size) noexcept {
  auto l = layout();
  if (!l) return fail(l.error());
  if (!nvm_.in_transaction()) return fail(NvmError::kNotInTransaction);
  if (id == 0 || size > kMaxObjectSize) return fail(NvmError::kOutOfRange);
  const u64 heap_end = l->heap_end;

  bool exists = false;
  u32 free_slot = kMaxObjects;
  u64 top = kHeapOffset;  // end of the highest object
  SCWS_TRY(scan(*l, [&](const Slot& s) {
    if (s.info.id == id) {
      exists = true;
      return false;
    }
    if (s.info.id == 0) {
      if (free_slot == kMaxObjects) free_slot = s.index;
    } else if (s.info.size != 0 && end_of(s.info) > top) {
      top = end_of(s.info);
    }
    return true;
  }));
  if (exists) return fail(NvmError::kExists);
  if (free_slot == kMaxObjects) return fail(NvmError::kTableFull);

  u64 place = heap_end + 1;  // "none"
  if (heap_end - top >= size) {
    place = top;
  } else {
    // Lowest gap that fits: candidates are the heap start and the end of every object.
    auto fits = [&](u64 start) -> Result<bool, NvmError> {
      if (start + size > heap_end) return false;
      bool ok = true;
      SCWS_TRY(scan(*l, [&](const Slot& s) {
        if (s.info.id != 0 && overlaps(s.info, start, start + size)) ok = false;
        return ok;
      }));
      return ok;
    };
    auto at_start = fits(kHeapOffset);
    if (!at_start) return fail(at_start.error());
    if (*at_start) {
      place = kHeapOffset;
    } else {
      Status<NvmError> inner{};
      SCWS_TRY(scan(*l, [&](const Slot& s) {
        if (s.info.id == 0 || s.info.size == 0 || end_of(s.info) >= place) return true;
        auto f = fits(end_of(s.info));
        if (!f) {
          inner = fail(f.error());
          return false;
        }
        if (*f) place = end_of(s.info);
        return true;
      }));
      if (!inner) return fail(inner.error());
    }
  }
  if (place > heap_end) return fail(NvmError::kNoSpace);

  const ObjectInfo info{id, static_cast<u32>(place), size};
  if (size >= kFreshThreshold && !freed_in_transaction(info.offset, size)) {
    // Free when the transaction began: nothing there to restore. A full region list or journal
    // just means the journalled fill below.
    auto claimed = nvm_.claim_fresh(info.offset, size);
    if (!claimed && claimed.error() != NvmError::kCommitCapacityExceeded) return fail(claimed.error());
  }
  SCWS_TRY(nvm_.fill(info.offset, size, 0));
  SCWS_TRY(write_entry(free_slot, info));
  return info;
}

Status<NvmError> ObjectStore::remove(u32 id) noexcept {
  auto s = find_slot(id);
  if (!s) return fail(s.error());
  if (!nvm_.in_transaction()) return fail(NvmError::kNotInTransaction);
  // Only the table entry goes: the bytes become free space (create zero-fills before reuse).
  SCWS_TRY(write_entry(s->index, ObjectInfo{}));
  note_freed(s->info.offset, s->info.size, false);
  return {};
}

Status<NvmError> ObjectStore::read(u32 id, u32 offset, MutableBytes out) noexcept {
  auto s = find_slot(id);
  if (!s) return fail(s.error());
  if (u64{offset} + out.size() > s->info.size) return fail(NvmError::kOutOfRange);
  return nvm_.read(s->info.offset + offset, out);
}

Status<NvmError> ObjectStore::put(u32 id, Bytes data) noexcept {
  const auto size = static_cast<u32>(data.size());
  auto found = find(id);
  if (!found) {
    if (found.error() != NvmError::kNotFound) return fail(found.error());
    SCWS_TRY(create(id, size));
  } else if (found.value().size != size) {
    SCWS_TRY(remove(id));
    SCWS_TRY(create(id, size));
  }
  return write(id, 0, data);
}

Status<NvmError> ObjectStore::write(u32 id, u32 offset, Bytes data) noexcept {
  auto s = find_slot(id);
  if (!s) return fail(s.error());
  if (u64{offset} + data.size() > s->info.size) return fail(NvmError::kOutOfRange);
  const bool was_valid = cache_valid();
  SCWS_TRY(nvm_.write(s->info.offset + offset, data));
  // Our own write touched object bytes only, never the table: the cache is still right.
  if (was_valid) cache_generation_ = nvm_.generation();
  return {};
}

Result<ObjectInfo, NvmError> ObjectStore::at(u32 index) noexcept {
  auto l = layout();
  if (!l) return fail(l.error());
  u32 seen = 0;
  ObjectInfo found{};
  bool hit = false;
  SCWS_TRY(scan(*l, [&](const Slot& s) {
    if (s.info.id == 0) return true;
    if (seen++ == index) {
      found = s.info;
      hit = true;
      return false;
    }
    return true;
  }));
  if (!hit) return fail(NvmError::kNotFound);
  return found;
}

u32 ObjectStore::free_bytes() noexcept {
  auto l = layout();
  if (!l) return 0;
  u64 used = 0;
  if (!scan(*l, [&](const Slot& s) {
        used += s.info.size;  // free slots have size 0
        return true;
      }))
    return 0;
  const u64 heap = u64{l->heap_end} - kHeapOffset;
  return used >= heap ? 0 : static_cast<u32>(heap - used);
}

Status<NvmError> ObjectStore::check() noexcept {
  auto l = layout();
  if (!l) return fail(l.error());
  bool bad = false;
  Status<NvmError> inner{};
  SCWS_TRY(scan(*l, [&](const Slot& a) {
    if (a.info.id == 0) return true;
    inner = scan(*l, [&](const Slot& b) {
      if (b.index <= a.index || b.info.id == 0) return true;
      if (b.info.id == a.info.id || overlaps(b.info, a.info.offset, end_of(a.info))) bad = true;
      return !bad;
    });
    return inner.ok() && !bad;
  }));
  if (!inner) return fail(inner.error());
  if (bad) return fail(NvmError::kCorruptData);
  return {};
}

}  // namespace scws::card
