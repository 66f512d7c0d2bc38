// The card's persistent memory with Java Card transaction semantics (JCRE 3.0.5 ch. 7).
//
// Image layout (all integers big-endian):
//
//   [0, 64)            header: magic "SCWSNVM1", layout version, image size, commit capacity,
//                      CRC block size, data checksum, journal entry count, journal bytes used,
//                      zero padding, header CRC-32 over bytes [0, 60) in the last 4 bytes
//   [64, 64+C)         undo journal of C = commit capacity bytes
//   [64+C, D)          block checksum table: one CRC-32 per kCrcBlockSize bytes of the data area
//   [D, image size)    the data area (what read()/write() address, offset 0 = image offset D)
//
// The header's data checksum is the CRC-32 of the block checksum table, so a commit rehashes only
// the blocks its transaction touched plus the table (16 KiB for a 4 MiB image), never the image.
//
// Undo logging: each write inside a transaction first appends the old bytes to the journal as one
// entry [old bytes][image offset u32][length u32][CRC-32 u32] (the trailer lets the journal be walked
// backwards), then records the new entry count and length in the header, then writes the new bytes
// in place (so reads see the transaction's writes). Entries past the recorded count (a torn append)
// are ignored. Rollback (abort, or mount after a power loss) validates every recorded entry first
// (kCorruptJournal, nothing written), then restores them newest first, which is idempotent: a
// power loss during rollback is repaired by the next mount. Commit writes the new CRCs of the dirty
// blocks into the table (journalled like any write; their journal room is reserved by the writes
// that dirty the blocks, so a commit never runs out of capacity), then writes the header with the
// new data checksum and an empty journal: that single device write is the commit point.
//
// Fresh regions (space for objects created in the open transaction): a region of the data area
// whose contents need not survive a rollback (free space when the transaction began) may be
// claimed fresh (claim_fresh). Claiming appends one 12-byte "fresh" entry to the journal
// [image offset u32][0x80000000 | length u32][CRC-32 of those 8 bytes u32] (no old bytes; the
// length's top bit tells it from an undo entry, whose length never exceeds the commit capacity)
// and records it in the header before anything in the region changes. Writes and fills that fall
// entirely inside a claimed region then go straight to the device, unjournalled and without
// dirtying blocks, so a transaction can fill an object far larger than the commit capacity.
// Commit recomputes the checksum of every block a fresh region touches and writes it into the
// table directly (after the journalled table updates). Rollback (abort or mount) restores the undo
// entries, then recomputes the checksums of the blocks of every fresh entry from what they hold
// now, then writes the header with the new table checksum and an empty journal; a power loss
// anywhere in that is repaired by the next mount, which does it again. The price: corruption in a
// block of a fresh region found at a rollback is accepted, not detected.
//
// Durability (NvmDevice::sync): after format(), after every commit point, and after mount() rolled
// back an interrupted transaction. abort() does not sync: the durable image already holds the
// rolled-back state. A device error (kIo) leaves the Nvm unmounted: mount() again to recover.
#pragma once

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "card/os/nvm_device.hpp"

namespace scws::card {

class Nvm {
 public:
  static constexpr u32 kHeaderSize = 64;
  static constexpr u32 kLayoutVersion = 1;
  static constexpr u32 kCrcBlockSize = 1024;
  static constexpr u32 kJournalEntryOverhead = 12;  // trailer: offset, length, CRC
  static constexpr u32 kMinCommitCapacity = 64;
  // Journal room one dirtied block's table update needs at commit (an entry of 4 old bytes).
  static constexpr u32 kTableUpdateCost = kJournalEntryOverhead + 4;
  // Blocks remembered as dirty in RAM; a transaction dirtying more still commits correctly (the
  // rest are found by walking the journal), it just reserves journal room per write.
  static constexpr u32 kDirtyBlockCache = 32;
  static_assert(kMinCommitCapacity >= kJournalEntryOverhead + kTableUpdateCost);
  static_assert(kCrcBlockSize % 4 == 0);

  // The data area an image of image_size bytes with this commit capacity offers; 0 when they do not
  // fit (format() refuses those with kOutOfRange).
  static constexpr u32 data_size_for(u32 image_size, u32 commit_capacity) noexcept {
    const u64 fixed = u64{kHeaderSize} + commit_capacity;
    if (commit_capacity < kMinCommitCapacity || fixed >= image_size) return 0;
    const u64 avail = image_size - fixed;
    const u64 blocks = (avail + kCrcBlockSize + 3) / (kCrcBlockSize + 4);  // ceil(avail / (B+4))
    const u64 table = blocks * 4;
    return table >= avail ? 0 : static_cast<u32>(avail - table);
  }

  explicit Nvm(NvmDevice& device) noexcept : device_(device) {}
  Nvm(const Nvm&) = delete;
  Nvm& operator=(const Nvm&) = delete;

  // Writes a fresh image: header, empty journal, zeroed data area. Destroys what was there. The
  // header is invalidated first and written last, so a format cut short never mounts. Leaves the
  // Nvm mounted. kOutOfRange when the device is too small for the capacity.
  Status<NvmError> format(u32 commit_capacity) noexcept;
  // Checks the header, rolls back an interrupted transaction, checks every block checksum. Also
  // what a card reset does: an open transaction is rolled back. A damaged image is refused with
  // its error (kBadMagic, kUnsupportedVersion, kSizeMismatch, kCorruptHeader, kCorruptJournal,
  // kCorruptData) and left as it is.
  Status<NvmError> mount() noexcept;
  [[nodiscard]] bool mounted() const noexcept { return mounted_; }

  [[nodiscard]] u32 data_size() const noexcept { return data_size_; }
  [[nodiscard]] u32 image_size() const noexcept { return image_size_; }
  // Reads see the writes of the open transaction.
  Status<NvmError> read(u32 offset, MutableBytes out) noexcept;
  // Only inside a transaction (kNotInTransaction otherwise). Only the bytes that differ are
  // journalled and written; a write that changes nothing costs nothing. kCommitCapacityExceeded
  // changes nothing and leaves the transaction open (the caller aborts).
  Status<NvmError> write(u32 offset, Bytes data) noexcept;
  // Convenience: fills with a byte value (journalled like write).
  Status<NvmError> fill(u32 offset, u32 length, u8 value) noexcept;
  // Claims [offset, offset + length) of the data area fresh for the open transaction (see the file
  // comment). The CALLER guarantees that nothing there must survive a rollback: space no live
  // object covered when the transaction began (the ObjectStore claims the place of an object it
  // creates, unless that place was freed earlier in the same transaction). Costs
  // kJournalEntryOverhead bytes of commit capacity; at most kMaxFreshRegions per transaction.
  // kCommitCapacityExceeded (journal or region list full: nothing changed, fall back to
  // journalled writes), kOutOfRange, kNotInTransaction. length 0 is a no-op.
  Status<NvmError> claim_fresh(u32 offset, u32 length) noexcept;
  // True when [offset, offset + length) lies inside one region claimed in the open transaction.
  [[nodiscard]] bool is_fresh(u32 offset, u32 length) const noexcept;

  Status<NvmError> begin() noexcept;   // kTransactionInProgress when nested
  Status<NvmError> commit() noexcept;  // kNotInTransaction when none
  Status<NvmError> abort() noexcept;   // rolls back; kNotInTransaction when none
  [[nodiscard]] bool in_transaction() const noexcept { return in_transaction_; }
  [[nodiscard]] u32 max_commit_capacity() const noexcept { return commit_capacity_; }
  // Journal bytes still free in the open transaction (the whole capacity outside one). A write of
  // n changed bytes needs n + kJournalEntryOverhead, plus kTableUpdateCost per block it newly dirties.
  [[nodiscard]] u32 unused_commit_capacity() const noexcept;

  // Commits and aborts since mount, for traces and tests.
  [[nodiscard]] u32 commits() const noexcept { return commits_; }
  [[nodiscard]] u32 aborts() const noexcept { return aborts_; }
  // Changes whenever the data area may have changed other than by a caller's own write: every
  // write, fill, abort, mount and format. Lets a RAM cache of NVM contents (ObjectStore) know when
  // it is stale, so it stays coherent with rollback.
  [[nodiscard]] u32 generation() const noexcept { return generation_; }
  // Increments at every begin(), never reset: tells one transaction from the next (RAM state an
  // upper layer keeps per transaction, such as the ObjectStore's list of freed space).
  [[nodiscard]] u32 transaction_serial() const noexcept { return transaction_serial_; }

  static constexpr u32 kMaxFreshRegions = 16;
  static constexpr u32 kFreshFlag = 0x80000000U;  // top bit of a journal entry's length field

 private:
  struct Region {
    u32 abs_offset = 0;
    u32 length = 0;
  };
  struct Header {
    u32 image_size = 0;
    u32 commit_capacity = 0;
    u32 block_size = 0;
    u32 data_crc = 0;
    u32 journal_count = 0;
    u32 journal_used = 0;
  };

  // Where new bytes come from: a span, or one repeated byte (fill).
  struct Source {
    const u8* data;
    u8 value;
    [[nodiscard]] u8 at(u32 i) const noexcept { return data != nullptr ? data[i] : value; }
  };

  Status<NvmError> change(u32 abs_offset, u32 length, Source src, bool reserved) noexcept;
  Status<NvmError> commit_changes() noexcept;
  Status<NvmError> append_entry(u32 abs_offset, u32 length) noexcept;
  Status<NvmError> write_header() noexcept;
  // One journal entry as its trailer (offset, length, CRC) describes it.
  struct JournalEntry {
    u8 trailer[kJournalEntryOverhead];
    u32 target = 0;  // absolute offset of the bytes it covers
    u32 length = 0;  // bytes covered (kFreshFlag removed)
    bool fresh = false;  // a region created by the transaction: no old bytes stored
    u32 start = 0;   // journal-relative offset of the old bytes (undo entries)
  };
  // Visits the count entries that end at `used`, newest first, after checking that each one's old
  // bytes lie inside the journal and that they tile it exactly; visit(const JournalEntry&) returns
  // a Status. kCorruptJournal when the framing does not hold.
  template <class Visit>
  Status<NvmError> each_journal_entry(u32 count, u32 used, Visit&& visit) noexcept;
  Status<NvmError> walk_journal(u32 count, u32 used, bool apply) noexcept;
  Result<bool, NvmError> refresh_fresh_blocks(u32 count, u32 used) noexcept;
  Status<NvmError> refresh_region(u32 abs_offset, u32 length) noexcept;
  Status<NvmError> finish_rollback(u32 count, u32 used) noexcept;
  Status<NvmError> fresh_change(u32 abs_offset, u32 length, Source src) noexcept;
  Status<NvmError> update_block_crc(u32 block) noexcept;
  Result<u32, NvmError> block_crc(u32 block) noexcept;
  Result<u32, NvmError> table_crc() noexcept;
  Status<NvmError> verify_data() noexcept;
  Status<NvmError> dev_read(u32 abs_offset, MutableBytes out) noexcept;
  Status<NvmError> dev_write(u32 abs_offset, Bytes data) noexcept;
  Status<NvmError> dev_sync() noexcept;
  [[nodiscard]] u32 dirty_cost(u32 first_block, u32 last_block) const noexcept;
  void mark_dirty(u32 first_block, u32 last_block) noexcept;
  void set_layout(const Header& h) noexcept;
  void end_transaction() noexcept;
  void unmount() noexcept;

  NvmDevice& device_;
  Header header_{};
  u32 image_size_ = 0;
  u32 commit_capacity_ = 0;
  u32 journal_offset_ = kHeaderSize;
  u32 table_offset_ = 0;
  u32 block_count_ = 0;
  u32 data_offset_ = 0;
  u32 data_size_ = 0;
  u32 reserved_ = 0;  // journal room promised to the commit's table updates
  u32 dirty_[kDirtyBlockCache] = {};
  u32 dirty_count_ = 0;
  bool dirty_overflow_ = false;
  u32 commits_ = 0;
  u32 aborts_ = 0;
  u32 generation_ = 0;
  u32 transaction_serial_ = 0;
  Region fresh_[kMaxFreshRegions] = {};
  u32 fresh_count_ = 0;
  bool in_transaction_ = false;
  bool mounted_ = false;
};

// Joins the caller's open transaction, or opens one of its own: what every NVM update function that
// may run alone or inside a larger update does. commit()/the destructor commit/abort only a
// transaction this scope opened (an error path just returns: the destructor rolls back).
class TransactionScope {
 public:
  explicit TransactionScope(Nvm& nvm) noexcept : nvm_(nvm) {}
  TransactionScope(const TransactionScope&) = delete;
  TransactionScope& operator=(const TransactionScope&) = delete;
  ~TransactionScope() {
    if (own_) (void)nvm_.abort();
  }
  Status<NvmError> begin() noexcept {
    if (nvm_.in_transaction()) return {};
    SCWS_TRY(nvm_.begin());
    own_ = true;
    return {};
  }
  Status<NvmError> commit() noexcept {
    if (!own_) return {};
    own_ = false;
    return nvm_.commit();
  }

 private:
  Nvm& nvm_;
  bool own_ = false;
};

// Persistent objects by 32-bit id, stored in the Nvm data area: a fixed object table followed by a
// heap. Creating, resizing and removing objects changes NVM and so needs an open transaction; an
// object created in an aborted transaction is gone after the abort (Java Card semantics).
// Id ranges are owned by layers: 0x01xxxxxx card OS, 0x02xxxxxx UICC files, 0x04xxxxxx the card's
// defences (card/defence: the incident queue), 0x10xxxxxx SCWS, ...
// Id 0 is reserved (it marks a free table slot).
struct ObjectInfo {
  u32 id = 0;
  u32 offset = 0;  // in the Nvm data area
  u32 size = 0;
};

// Layout in the data area (big-endian):
//   [0, 32)        store header: magic "OBJ1", version u16, max objects u16, table offset u32,
//                  heap offset u32, heap end u32, zero padding
//   [32, 32+12*N)  object table: N slots {id u32, offset u32, size u32}; id 0 = free slot
//   [heap offset, heap end)  object bytes. Free space is whatever no live object covers, so
//                  removing an object coalesces with neighbouring free space by construction.
// Placement: after the highest object when the tail has room, else the lowest gap that fits.
// Every change goes through Nvm::write, so abort and power loss never leave half-made objects.
// An object of at least kFreshThreshold bytes placed where no object freed in the same transaction
// lay is claimed fresh (Nvm::claim_fresh): its zero-fill and every later write to it in that
// transaction are not journalled, so one transaction can create and fill an object larger than
// the commit capacity (a 1 MiB web resource). Rollback just frees it (the table entry is
// journalled). The store remembers up to kMaxFreed regions removed in the open transaction; past
// that (or after format()) it stops claiming for the rest of the transaction.
// A small RAM cache of recently found entries is checked against Nvm::generation() before use.
class ObjectStore {
 public:
  static constexpr u32 kMaxObjects = 512;
  static constexpr u32 kMaxObjectSize = 16U * 1024 * 1024;
  static constexpr u32 kHeaderSize = 32;
  static constexpr u32 kEntrySize = 12;
  static constexpr u32 kTableOffset = kHeaderSize;
  static constexpr u32 kHeapOffset = kTableOffset + kMaxObjects * kEntrySize;
  static constexpr u32 kVersion = 1;
  static constexpr u32 kCacheEntries = 4;
  static constexpr u32 kFreshThreshold = 256;
  static constexpr u32 kMaxFreed = 8;
  static_assert(kMaxObjects <= 0xFFFF, "max objects is stored as u16");
  static_assert(kHeapOffset % 4 == 0);

  explicit ObjectStore(Nvm& nvm) noexcept : nvm_(nvm) {}
  // Lays out an empty table (inside a transaction). The heap spans the rest of the data area.
  // kOutOfRange when the data area cannot hold the table.
  Status<NvmError> format() noexcept;
  // Zero-filled. kExists, kTableFull, kNoSpace; kOutOfRange for id 0 or size > kMaxObjectSize.
  Result<ObjectInfo, NvmError> create(u32 id, u32 size) noexcept;
  Status<NvmError> remove(u32 id) noexcept;  // kNotFound
  Result<ObjectInfo, NvmError> find(u32 id) noexcept;
  // Bounds-checked against the object (kOutOfRange); write needs a transaction.
  Status<NvmError> read(u32 id, u32 offset, MutableBytes out) noexcept;
  Status<NvmError> write(u32 id, u32 offset, Bytes data) noexcept;
  // Makes object id exactly `data` (needs a transaction): created when missing, re-created when its
  // size differs (another layout of a settings-like object), then written. Errors as create/write.
  Status<NvmError> put(u32 id, Bytes data) noexcept;
  // Walks the live objects in table order: index 0.. until kNotFound.
  Result<ObjectInfo, NvmError> at(u32 index) noexcept;
  // Heap bytes not covered by live objects (0 when the store cannot be read). Fragmentation may
  // keep a single object of this size from fitting.
  [[nodiscard]] u32 free_bytes() noexcept;
  // Full consistency check (header, every entry in bounds, no duplicate ids, no overlaps): for
  // mount time and tools; the other calls only check what they read.
  Status<NvmError> check() noexcept;
  Nvm& nvm() noexcept { return nvm_; }

 private:
  struct Layout {
    u32 heap_end = 0;
  };
  struct Slot {
    u32 index = 0;
    ObjectInfo info{};
  };
  Result<Layout, NvmError> layout() noexcept;
  Result<Slot, NvmError> find_slot(u32 id) noexcept;
  Status<NvmError> write_entry(u32 slot, const ObjectInfo& info) noexcept;
  template <class F>
  Status<NvmError> scan(const Layout& layout, F&& visit) noexcept;
  bool cache_valid() const noexcept { return cache_generation_ == nvm_.generation() && cache_ok_; }
  void cache_put(const Slot& s) noexcept;
  void cache_clear() noexcept;
  void note_freed(u32 offset, u32 size, bool unknown) noexcept;
  [[nodiscard]] bool freed_in_transaction(u32 offset, u32 size) const noexcept;

  struct Freed {
    u32 offset = 0;
    u32 size = 0;
  };

  Nvm& nvm_;
  Freed freed_[kMaxFreed] = {};
  u32 freed_count_ = 0;
  u32 freed_serial_ = 0;
  bool freed_unknown_ = false;
  Layout layout_cache_{};
  Slot cache_[kCacheEntries] = {};
  u32 cache_used_ = 0;
  u32 cache_next_ = 0;
  u32 cache_generation_ = 0;
  bool cache_ok_ = false;
};

}  // namespace scws::card
