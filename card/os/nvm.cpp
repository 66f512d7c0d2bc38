#include "card/os/nvm.hpp"

#include "base/crc32.hpp"

namespace scws::card {
namespace {

constexpr u8 kMagic[8] = {'S', 'C', 'W', 'S', 'N', 'V', 'M', '1'};
// Header field offsets (see nvm.hpp).
constexpr u32 kVersionAt = 8;
constexpr u32 kImageSizeAt = 12;
constexpr u32 kCapacityAt = 16;
constexpr u32 kBlockSizeAt = 20;
constexpr u32 kDataCrcAt = 24;
constexpr u32 kJournalCountAt = 28;
constexpr u32 kJournalUsedAt = 32;
constexpr u32 kHeaderCrcAt = Nvm::kHeaderSize - 4;
static_assert(kJournalUsedAt + 4 <= kHeaderCrcAt);

// Stack buffer for streaming through the device: the card has no heap, and 256 bytes of stack is
// what a card OS can afford in a leaf routine.
constexpr u32 kChunk = 256;
static_assert(kChunk >= Nvm::kJournalEntryOverhead * 2 && kChunk % 4 == 0);
static_assert(Nvm::kHeaderSize <= kChunk);
static_assert(Nvm::kCrcBlockSize % kChunk == 0);

constexpr u32 min_u32(u32 a, u64 b) noexcept { return b < a ? static_cast<u32>(b) : a; }

}  // namespace

// ---- device access ------------------------------------------------------------------------------

Status<NvmError> Nvm::dev_read(u32 abs_offset, MutableBytes out) noexcept {
  return device_.read(abs_offset, out);
}

// A failed write or sync leaves the image in an unknown intermediate state: only mount() (which
// rolls back from the journal) may continue from there.
Status<NvmError> Nvm::dev_write(u32 abs_offset, Bytes data) noexcept {
  auto r = device_.write(abs_offset, data);
  if (!r) unmount();
  return r;
}

Status<NvmError> Nvm::dev_sync() noexcept {
  auto r = device_.sync();
  if (!r) unmount();
  return r;
}

// ---- layout -------------------------------------------------------------------------------------

void Nvm::set_layout(const Header& h) noexcept {
  header_ = h;
  image_size_ = h.image_size;
  commit_capacity_ = h.commit_capacity;
  journal_offset_ = kHeaderSize;
  table_offset_ = kHeaderSize + h.commit_capacity;
  data_size_ = data_size_for(h.image_size, h.commit_capacity);
  data_offset_ = h.image_size - data_size_;
  block_count_ = (data_size_ + kCrcBlockSize - 1) / kCrcBlockSize;
}

Status<NvmError> Nvm::write_header() noexcept {
  u8 h[kHeaderSize] = {};
  for (u32 i = 0; i < sizeof kMagic; ++i) h[i] = kMagic[i];
  h[kVersionAt] = static_cast<u8>(kLayoutVersion >> 8);
  h[kVersionAt + 1] = static_cast<u8>(kLayoutVersion);
  store_be32(h + kImageSizeAt, header_.image_size);
  store_be32(h + kCapacityAt, header_.commit_capacity);
  store_be32(h + kBlockSizeAt, header_.block_size);
  store_be32(h + kDataCrcAt, header_.data_crc);
  store_be32(h + kJournalCountAt, header_.journal_count);
  store_be32(h + kJournalUsedAt, header_.journal_used);
  store_be32(h + kHeaderCrcAt, crc32(Bytes(h, kHeaderCrcAt)));
  return dev_write(0, Bytes(h, kHeaderSize));
}

void Nvm::end_transaction() noexcept {
  in_transaction_ = false;
  reserved_ = 0;
  fresh_count_ = 0;
  dirty_count_ = 0;
  dirty_overflow_ = false;
}

void Nvm::unmount() noexcept {
  mounted_ = false;
  end_transaction();
  ++generation_;
}

// ---- checksums ----------------------------------------------------------------------------------

Result<u32, NvmError> Nvm::block_crc(u32 block) noexcept {
  const u32 start = block * kCrcBlockSize;
  const u32 length = min_u32(kCrcBlockSize, u64{data_size_} - start);
  u8 buf[kChunk];
  u32 crc = 0;
  for (u32 done = 0; done < length;) {
    const u32 n = min_u32(kChunk, length - done);
    SCWS_TRY(dev_read(data_offset_ + start + done, MutableBytes(buf, n)));
    crc = crc32(Bytes(buf, n), crc);
    done += n;
  }
  return crc;
}

// Covers the whole table region, slack entry included, so no byte of it goes unchecked.
Result<u32, NvmError> Nvm::table_crc() noexcept {
  const u32 length = data_offset_ - table_offset_;
  u8 buf[kChunk];
  u32 crc = 0;
  for (u32 done = 0; done < length;) {
    const u32 n = min_u32(kChunk, length - done);
    SCWS_TRY(dev_read(table_offset_ + done, MutableBytes(buf, n)));
    crc = crc32(Bytes(buf, n), crc);
    done += n;
  }
  return crc;
}

Status<NvmError> Nvm::verify_data() noexcept {
  auto root = table_crc();
  if (!root) return fail(root.error());
  if (*root != header_.data_crc) return fail(NvmError::kCorruptData);
  u8 table[kChunk];
  for (u32 b = 0; b < block_count_;) {
    const u32 n = min_u32(kChunk / 4, u64{block_count_} - b);
    SCWS_TRY(dev_read(table_offset_ + b * 4, MutableBytes(table, n * 4)));
    for (u32 i = 0; i < n; ++i) {
      auto crc = block_crc(b + i);
      if (!crc) return fail(crc.error());
      if (*crc != load_be32(table + i * 4)) return fail(NvmError::kCorruptData);
    }
    b += n;
  }
  return {};
}

// ---- dirty blocks -------------------------------------------------------------------------------

u32 Nvm::dirty_cost(u32 first_block, u32 last_block) const noexcept {
  u64 cost = 0;
  for (u32 b = first_block; b <= last_block; ++b) {
    bool known = false;
    for (u32 i = 0; i < dirty_count_ && !known; ++i) known = dirty_[i] == b;
    if (!known) cost += kTableUpdateCost;
    if (cost > commit_capacity_) break;  // cannot fit anyway; keeps the sum in range
  }
  return static_cast<u32>(cost);
}

void Nvm::mark_dirty(u32 first_block, u32 last_block) noexcept {
  for (u32 b = first_block; b <= last_block; ++b) {
    bool known = false;
    for (u32 i = 0; i < dirty_count_ && !known; ++i) known = dirty_[i] == b;
    if (known) continue;
    if (dirty_count_ < kDirtyBlockCache) {
      dirty_[dirty_count_++] = b;
    } else {
      dirty_overflow_ = true;
    }
  }
}

// ---- journal ------------------------------------------------------------------------------------

// Copies the current bytes at [abs_offset, +length) to the journal's end as one entry. Small
// entries go out in a single device write.
Status<NvmError> Nvm::append_entry(u32 abs_offset, u32 length) noexcept {
  u8 buf[kChunk];
  u32 pos = journal_offset_ + header_.journal_used;
  u32 crc = 0;
  u32 fill = 0;  // bytes pending in buf
  for (u32 done = 0; done < length;) {
    const u32 n = min_u32(kChunk, length - done);
    SCWS_TRY(dev_read(abs_offset + done, MutableBytes(buf, n)));
    crc = crc32(Bytes(buf, n), crc);
    done += n;
    fill = n;
    if (done < length || n + kJournalEntryOverhead > kChunk) {
      SCWS_TRY(dev_write(pos, Bytes(buf, n)));
      pos += n;
      fill = 0;
    }
  }
  u8* trailer = buf + fill;
  store_be32(trailer, abs_offset);
  store_be32(trailer + 4, length);
  store_be32(trailer + 8, crc32(Bytes(trailer, 8), crc));
  return dev_write(pos, Bytes(buf, fill + kJournalEntryOverhead));
}

// Walks `count` entries backwards from `used`. Without apply it validates every entry (bounds and
// CRC); with apply it restores the old bytes, newest entry first.
template <class Visit>
Status<NvmError> Nvm::each_journal_entry(u32 count, u32 used, Visit&& visit) noexcept {
  u32 pos = used;
  for (u32 k = 0; k < count; ++k) {
    if (pos < kJournalEntryOverhead) return fail(NvmError::kCorruptJournal);
    JournalEntry e;
    SCWS_TRY(dev_read(journal_offset_ + pos - kJournalEntryOverhead, MutableBytes(e.trailer, sizeof e.trailer)));
    pos -= kJournalEntryOverhead;
    e.target = load_be32(e.trailer);
    const u32 length = load_be32(e.trailer + 4);
    e.fresh = (length & kFreshFlag) != 0;
    e.length = length & ~kFreshFlag;
    if (!e.fresh) {
      if (e.length == 0 || e.length > pos) return fail(NvmError::kCorruptJournal);
      pos -= e.length;
    }
    e.start = pos;
    SCWS_TRY(visit(static_cast<const JournalEntry&>(e)));
  }
  if (pos != 0) return fail(NvmError::kCorruptJournal);
  return {};
}

Status<NvmError> Nvm::walk_journal(u32 count, u32 used, bool apply) noexcept {
  u8 buf[kChunk];
  return each_journal_entry(count, used, [&](const JournalEntry& e) -> Status<NvmError> {
    if (e.fresh) {
      // A fresh entry: no old bytes to restore (refresh_fresh_blocks deals with its blocks).
      if (e.length == 0 || e.target < data_offset_ || u64{e.target} + e.length > image_size_)
        return fail(NvmError::kCorruptJournal);
      if (crc32(Bytes(e.trailer, 8)) != load_be32(e.trailer + 8)) return fail(NvmError::kCorruptJournal);
      return {};
    }
    if (e.target < table_offset_ || u64{e.target} + e.length > image_size_) return fail(NvmError::kCorruptJournal);
    u32 crc = 0;
    for (u32 done = 0; done < e.length;) {
      const u32 n = min_u32(kChunk, e.length - done);
      SCWS_TRY(dev_read(journal_offset_ + e.start + done, MutableBytes(buf, n)));
      if (apply) {
        SCWS_TRY(dev_write(e.target + done, Bytes(buf, n)));
      } else {
        crc = crc32(Bytes(buf, n), crc);
      }
      done += n;
    }
    if (!apply && crc32(Bytes(e.trailer, 8), crc) != load_be32(e.trailer + 8)) return fail(NvmError::kCorruptJournal);
    return {};
  });
}

// Recomputes the checksum of every block [abs_offset, +length) touches and writes it into the table
// directly (not journalled: a rollback recomputes them again from the journal's fresh entry).
Status<NvmError> Nvm::refresh_region(u32 abs_offset, u32 length) noexcept {
  const u32 first_block = (abs_offset - data_offset_) / kCrcBlockSize;
  const u32 last_block = (abs_offset - data_offset_ + length - 1) / kCrcBlockSize;
  for (u32 b = first_block; b <= last_block && b < block_count_; ++b) {
    auto crc = block_crc(b);
    if (!crc) return fail(crc.error());
    u8 v[4];
    store_be32(v, *crc);
    SCWS_TRY(dev_write(table_offset_ + b * 4, Bytes(v, sizeof v)));
  }
  return {};
}

// After the undo entries were restored: the blocks of every fresh entry get checksums matching what
// they hold now. Entries were validated by walk_journal. Returns whether there was any.
Result<bool, NvmError> Nvm::refresh_fresh_blocks(u32 count, u32 used) noexcept {
  bool any = false;
  auto walked = each_journal_entry(count, used, [&](const JournalEntry& e) -> Status<NvmError> {
    if (!e.fresh) return {};
    any = true;
    return refresh_region(e.target, e.length);
  });
  if (!walked) return fail(walked.error());
  return any;
}

// The end of a rollback whose undo entries are restored: fresh blocks rechecksummed, then the
// header with an empty journal (and the new table checksum when fresh blocks changed it).
Status<NvmError> Nvm::finish_rollback(u32 count, u32 used) noexcept {
  auto any = refresh_fresh_blocks(count, used);
  if (!any) return fail(any.error());
  if (*any) {
    auto root = table_crc();
    if (!root) return fail(root.error());
    header_.data_crc = *root;
  }
  header_.journal_count = 0;
  header_.journal_used = 0;
  return write_header();
}

// Inside a fresh region: straight to the device.
Status<NvmError> Nvm::fresh_change(u32 abs_offset, u32 length, Source src) noexcept {
  if (length == 0) return {};
  if (src.data != nullptr) {
    SCWS_TRY(dev_write(abs_offset, Bytes(src.data, length)));
  } else {
    u8 buf[kChunk];
    for (u32 i = 0; i < kChunk; ++i) buf[i] = src.value;
    for (u32 done = 0; done < length;) {
      const u32 n = min_u32(kChunk, length - done);
      SCWS_TRY(dev_write(abs_offset + done, Bytes(buf, n)));
      done += n;
    }
  }
  ++generation_;
  return {};
}

bool Nvm::is_fresh(u32 offset, u32 length) const noexcept {
  if (!in_transaction_) return false;
  const u64 start = u64{data_offset_} + offset;
  const u64 end = start + length;
  for (u32 i = 0; i < fresh_count_; ++i) {
    const Region& r = fresh_[i];
    if (start >= r.abs_offset && end <= u64{r.abs_offset} + r.length) return true;
  }
  return false;
}

Status<NvmError> Nvm::claim_fresh(u32 offset, u32 length) noexcept {
  if (!mounted_) return fail(NvmError::kNotMounted);
  if (!in_transaction_) return fail(NvmError::kNotInTransaction);
  if (u64{offset} + length > data_size_ || length >= kFreshFlag) return fail(NvmError::kOutOfRange);
  if (length == 0) return {};
  if (fresh_count_ == kMaxFreshRegions ||
      u64{header_.journal_used} + reserved_ + kJournalEntryOverhead > commit_capacity_)
    return fail(NvmError::kCommitCapacityExceeded);
  const u32 at = data_offset_ + offset;
  u8 entry[kJournalEntryOverhead];
  store_be32(entry, at);
  store_be32(entry + 4, length | kFreshFlag);
  store_be32(entry + 8, crc32(Bytes(entry, 8)));
  // Durable in the journal (entry, then the header counting it) before any byte of the region moves.
  SCWS_TRY(dev_write(journal_offset_ + header_.journal_used, Bytes(entry, sizeof entry)));
  header_.journal_count += 1;
  header_.journal_used += kJournalEntryOverhead;
  SCWS_TRY(write_header());
  fresh_[fresh_count_++] = Region{at, length};
  return {};
}

// The one path by which bytes change inside a transaction: narrow to the differing bytes, check
// journal room, journal the old bytes, record the entry in the header, write the new bytes.
// `reserved` marks the commit's own table updates, paid for by earlier reservations.
Status<NvmError> Nvm::change(u32 abs_offset, u32 length, Source src, bool reserved) noexcept {
  u8 buf[kChunk];
  u32 first = length;
  u32 last = 0;  // one past the last differing byte
  for (u32 done = 0; done < length;) {
    const u32 n = min_u32(kChunk, length - done);
    SCWS_TRY(dev_read(abs_offset + done, MutableBytes(buf, n)));
    for (u32 i = 0; i < n; ++i) {
      if (buf[i] != src.at(done + i)) {
        if (first == length) first = done + i;
        last = done + i + 1;
      }
    }
    done += n;
  }
  if (first == length) return {};  // nothing changes: nothing to journal

  const u32 at = abs_offset + first;
  const u32 span = last - first;
  u64 cost = u64{span} + kJournalEntryOverhead;
  u32 first_block = 0;
  u32 last_block = 0;
  u32 newly_dirty = 0;
  if (!reserved) {
    first_block = (at - data_offset_) / kCrcBlockSize;
    last_block = (at - data_offset_ + span - 1) / kCrcBlockSize;
    newly_dirty = dirty_cost(first_block, last_block);
    cost += newly_dirty;
    if (u64{header_.journal_used} + reserved_ + cost > commit_capacity_)
      return fail(NvmError::kCommitCapacityExceeded);
  } else if (u64{header_.journal_used} + cost > commit_capacity_) {
    // Cannot happen when the reservations are right; refuse rather than overrun the journal.
    unmount();
    return fail(NvmError::kCommitCapacityExceeded);
  }

  SCWS_TRY(append_entry(at, span));
  header_.journal_count += 1;
  header_.journal_used += span + kJournalEntryOverhead;
  SCWS_TRY(write_header());
  if (src.data != nullptr) {
    SCWS_TRY(dev_write(at, Bytes(src.data + first, span)));
  } else {
    for (u32 i = 0; i < kChunk; ++i) buf[i] = src.value;
    for (u32 done = 0; done < span;) {
      const u32 n = min_u32(kChunk, span - done);
      SCWS_TRY(dev_write(at + done, Bytes(buf, n)));
      done += n;
    }
  }
  if (!reserved) {
    mark_dirty(first_block, last_block);
    reserved_ += newly_dirty;
  } else {
    reserved_ = reserved_ >= kTableUpdateCost ? reserved_ - kTableUpdateCost : 0;
  }
  ++generation_;
  return {};
}

Status<NvmError> Nvm::update_block_crc(u32 block) noexcept {
  auto crc = block_crc(block);
  if (!crc) return fail(crc.error());
  u8 v[4];
  store_be32(v, *crc);
  return change(table_offset_ + block * 4, 4, Source{v, 0}, true);
}

// ---- public API ---------------------------------------------------------------------------------

Status<NvmError> Nvm::format(u32 commit_capacity) noexcept {
  unmount();
  const u32 size = device_.size();
  if (data_size_for(size, commit_capacity) == 0) return fail(NvmError::kOutOfRange);
  set_layout(Header{size, commit_capacity, kCrcBlockSize, 0, 0, 0});

  u8 buf[kChunk] = {};
  // Invalidate the header first: a format cut short then reads as "not an image".
  SCWS_TRY(dev_write(0, Bytes(buf, kHeaderSize)));
  for (u32 at = kHeaderSize; at < size;) {
    const u32 n = min_u32(kChunk, u64{size} - at);
    SCWS_TRY(dev_write(at, Bytes(buf, n)));
    at += n;
  }
  // Every block is zeros: its CRC depends only on its length (all full but maybe the last).
  u32 full_crc = 0;
  for (u32 done = 0; done < kCrcBlockSize; done += kChunk) full_crc = crc32(Bytes(buf, kChunk), full_crc);
  u8 table[kChunk];
  for (u32 b = 0; b < block_count_;) {
    const u32 n = min_u32(kChunk / 4, u64{block_count_} - b);
    for (u32 i = 0; i < n; ++i) {
      const u32 length = min_u32(kCrcBlockSize, u64{data_size_} - u64{b + i} * kCrcBlockSize);
      u32 crc = full_crc;
      if (length != kCrcBlockSize) {
        crc = 0;
        for (u32 done = 0; done < length;) {
          const u32 m = min_u32(kChunk, length - done);
          crc = crc32(Bytes(buf, m), crc);
          done += m;
        }
      }
      store_be32(table + i * 4, crc);
    }
    SCWS_TRY(dev_write(table_offset_ + b * 4, Bytes(table, n * 4)));
    b += n;
  }
  auto root = table_crc();
  if (!root) return fail(root.error());
  header_.data_crc = *root;
  SCWS_TRY(write_header());
  SCWS_TRY(dev_sync());
  mounted_ = true;
  commits_ = 0;
  aborts_ = 0;
  return {};
}

Status<NvmError> Nvm::mount() noexcept {
  unmount();
  commits_ = 0;
  aborts_ = 0;
  const u32 size = device_.size();
  u8 h[kHeaderSize] = {};
  if (size < sizeof kMagic) return fail(NvmError::kBadMagic);
  SCWS_TRY(dev_read(0, MutableBytes(h, min_u32(kHeaderSize, size))));
  for (u32 i = 0; i < sizeof kMagic; ++i)
    if (h[i] != kMagic[i]) return fail(NvmError::kBadMagic);
  if (size < kHeaderSize) return fail(NvmError::kSizeMismatch);
  if (((u32{h[kVersionAt]} << 8) | h[kVersionAt + 1]) != kLayoutVersion) return fail(NvmError::kUnsupportedVersion);
  if (crc32(Bytes(h, kHeaderCrcAt)) != load_be32(h + kHeaderCrcAt)) return fail(NvmError::kCorruptHeader);

  Header hd;
  hd.image_size = load_be32(h + kImageSizeAt);
  hd.commit_capacity = load_be32(h + kCapacityAt);
  hd.block_size = load_be32(h + kBlockSizeAt);
  hd.data_crc = load_be32(h + kDataCrcAt);
  hd.journal_count = load_be32(h + kJournalCountAt);
  hd.journal_used = load_be32(h + kJournalUsedAt);
  if (hd.image_size != size) return fail(NvmError::kSizeMismatch);
  if (hd.block_size != kCrcBlockSize) return fail(NvmError::kUnsupportedVersion);
  if (data_size_for(hd.image_size, hd.commit_capacity) == 0) return fail(NvmError::kCorruptHeader);
  set_layout(hd);

  if (hd.journal_used > hd.commit_capacity || (hd.journal_count == 0) != (hd.journal_used == 0))
    return fail(NvmError::kCorruptJournal);
  if (hd.journal_count != 0) {
    // An interrupted transaction: check every entry before touching anything, then roll back.
    SCWS_TRY(walk_journal(hd.journal_count, hd.journal_used, false));
    SCWS_TRY(walk_journal(hd.journal_count, hd.journal_used, true));
    SCWS_TRY(finish_rollback(hd.journal_count, hd.journal_used));
    SCWS_TRY(dev_sync());
  }
  SCWS_TRY(verify_data());
  mounted_ = true;
  return {};
}

Status<NvmError> Nvm::read(u32 offset, MutableBytes out) noexcept {
  if (!mounted_) return fail(NvmError::kNotMounted);
  if (u64{offset} + out.size() > data_size_) return fail(NvmError::kOutOfRange);
  return dev_read(data_offset_ + offset, out);
}

Status<NvmError> Nvm::write(u32 offset, Bytes data) noexcept {
  if (!mounted_) return fail(NvmError::kNotMounted);
  if (!in_transaction_) return fail(NvmError::kNotInTransaction);
  if (u64{offset} + data.size() > data_size_) return fail(NvmError::kOutOfRange);
  if (is_fresh(offset, static_cast<u32>(data.size())))
    return fresh_change(data_offset_ + offset, static_cast<u32>(data.size()), Source{data.data(), 0});
  return change(data_offset_ + offset, static_cast<u32>(data.size()), Source{data.data(), 0}, false);
}

Status<NvmError> Nvm::fill(u32 offset, u32 length, u8 value) noexcept {
  if (!mounted_) return fail(NvmError::kNotMounted);
  if (!in_transaction_) return fail(NvmError::kNotInTransaction);
  if (u64{offset} + length > data_size_) return fail(NvmError::kOutOfRange);
  if (is_fresh(offset, length)) return fresh_change(data_offset_ + offset, length, Source{nullptr, value});
  return change(data_offset_ + offset, length, Source{nullptr, value}, false);
}

Status<NvmError> Nvm::begin() noexcept {
  if (!mounted_) return fail(NvmError::kNotMounted);
  if (in_transaction_) return fail(NvmError::kTransactionInProgress);
  end_transaction();
  in_transaction_ = true;
  ++transaction_serial_;
  return {};
}

Status<NvmError> Nvm::commit() noexcept {
  if (!mounted_) return fail(NvmError::kNotMounted);
  if (!in_transaction_) return fail(NvmError::kNotInTransaction);
  const bool changed = header_.journal_count != 0;
  if (changed) {
    auto r = commit_changes();
    if (!r) {
      unmount();  // the next mount() rolls the transaction back
      return r;
    }
  }
  end_transaction();
  ++commits_;
  if (changed) return dev_sync();  // kIo here: committed in the device, maybe not durable
  return {};
}

// Table updates for the dirty blocks (journalled), then the commit point.
Status<NvmError> Nvm::commit_changes() noexcept {
  const u32 count = header_.journal_count;
  const u32 used = header_.journal_used;
  for (u32 i = 0; i < dirty_count_; ++i) SCWS_TRY(update_block_crc(dirty_[i]));
  if (dirty_overflow_) {
    // More dirty blocks than the RAM list holds: find the rest from the transaction's entries
    // (fresh ones are refreshed below).
    SCWS_TRY(each_journal_entry(count, used, [&](const JournalEntry& e) -> Status<NvmError> {
      if (e.fresh) return {};
      if (e.target < data_offset_ || u64{e.target} + e.length > image_size_) return fail(NvmError::kCorruptJournal);
      const u32 first_block = (e.target - data_offset_) / kCrcBlockSize;
      const u32 last_block = (e.target - data_offset_ + e.length - 1) / kCrcBlockSize;
      for (u32 b = first_block; b <= last_block; ++b) {
        bool known = false;
        for (u32 i = 0; i < dirty_count_ && !known; ++i) known = dirty_[i] == b;
        if (!known) SCWS_TRY(update_block_crc(b));
      }
      return {};
    }));
  }
  // Fresh regions last, unjournalled: a rollback from here on recomputes them anyway.
  for (u32 i = 0; i < fresh_count_; ++i) SCWS_TRY(refresh_region(fresh_[i].abs_offset, fresh_[i].length));
  auto root = table_crc();
  if (!root) return fail(root.error());
  header_.data_crc = *root;
  header_.journal_count = 0;
  header_.journal_used = 0;
  return write_header();  // the commit point: one device write
}

Status<NvmError> Nvm::abort() noexcept {
  if (!mounted_) return fail(NvmError::kNotMounted);
  if (!in_transaction_) return fail(NvmError::kNotInTransaction);
  if (header_.journal_count != 0) {
    auto valid = walk_journal(header_.journal_count, header_.journal_used, false);
    if (!valid) {
      unmount();
      return valid;
    }
    auto restored = walk_journal(header_.journal_count, header_.journal_used, true);
    if (!restored) {
      unmount();  // the next mount() finishes the rollback
      return restored;
    }
    auto finished = finish_rollback(header_.journal_count, header_.journal_used);
    if (!finished) {
      unmount();
      return finished;
    }
  }
  end_transaction();
  ++aborts_;
  ++generation_;
  return {};
}

u32 Nvm::unused_commit_capacity() const noexcept {
  if (!in_transaction_) return commit_capacity_;
  const u64 taken = u64{header_.journal_used} + reserved_;
  return taken >= commit_capacity_ ? 0 : static_cast<u32>(commit_capacity_ - taken);
}

}  // namespace scws::card
