// The card's persistent memory with Java Card transaction semantics (JCRE spec ch. 7).
//
// Image layout (all integers big-endian): a header (magic "SCWSNVM1", layout version, image size,
// commit capacity, data-area checksum, header checksum), an undo journal of `commit capacity` bytes,
// then the data area. Every data write inside a transaction first appends the old bytes to the
// journal (each entry checksummed), then writes the new ones. Commit updates the data checksum and
// empties the journal in one device write (the commit point). mount() rolls back a journal left
// by a power loss, then verifies every checksum: a damaged image is refused, never reformatted.
#pragma once

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "card/nvm_device.hpp"

namespace scws::card {

class Nvm {
 public:
  explicit Nvm(NvmDevice& device) noexcept : device_(device) {}
  Nvm(const Nvm&) = delete;
  Nvm& operator=(const Nvm&) = delete;

  // Writes a fresh image: header, empty journal, zeroed data area. Destroys what was there.
  Status<NvmError> format(u32 commit_capacity) noexcept;
  // Checks the header, rolls back an interrupted transaction, checks the data checksum.
  Status<NvmError> mount() noexcept;
  [[nodiscard]] bool mounted() const noexcept { return mounted_; }

  [[nodiscard]] u32 data_size() const noexcept { return data_size_; }
  // Reads see the writes of the open transaction.
  Status<NvmError> read(u32 offset, MutableBytes out) noexcept;
  // Only inside a transaction (kNotInTransaction otherwise).
  Status<NvmError> write(u32 offset, Bytes data) noexcept;
  // Convenience: fills with a byte value (journalled like write).
  Status<NvmError> fill(u32 offset, u32 length, u8 value) noexcept;

  Status<NvmError> begin() noexcept;   // kTransactionInProgress when nested
  Status<NvmError> commit() noexcept;  // kNotInTransaction when none
  Status<NvmError> abort() noexcept;   // rolls back; kNotInTransaction when none
  [[nodiscard]] bool in_transaction() const noexcept { return in_transaction_; }
  [[nodiscard]] u32 max_commit_capacity() const noexcept { return commit_capacity_; }
  [[nodiscard]] u32 unused_commit_capacity() const noexcept;

  // Commits and aborts since mount, for traces and tests.
  [[nodiscard]] u32 commits() const noexcept { return commits_; }

 private:
  NvmDevice& device_;
  u32 commit_capacity_ = 0;
  u32 data_offset_ = 0;
  u32 data_size_ = 0;
  u32 journal_used_ = 0;
  u32 data_crc_ = 0;
  u32 commits_ = 0;
  bool in_transaction_ = false;
  bool mounted_ = false;
};

// Persistent objects by 32-bit id, stored in the Nvm data area: a fixed object table followed by a
// heap. Creating, resizing and removing objects changes NVM and so needs an open transaction; an
// object created in an aborted transaction is gone after the abort (Java Card semantics).
// Id ranges are owned by layers: 0x01xxxxxx card OS, 0x02xxxxxx UICC files, 0x10xxxxxx SCWS, ...
struct ObjectInfo {
  u32 id = 0;
  u32 offset = 0;  // in the Nvm data area
  u32 size = 0;
};

class ObjectStore {
 public:
  static constexpr u32 kMaxObjects = 512;

  explicit ObjectStore(Nvm& nvm) noexcept : nvm_(nvm) {}
  // Lays out an empty table (inside a transaction).
  Status<NvmError> format() noexcept;
  Result<ObjectInfo, NvmError> create(u32 id, u32 size) noexcept;   // zero-filled
  Status<NvmError> remove(u32 id) noexcept;
  Result<ObjectInfo, NvmError> find(u32 id) noexcept;
  Status<NvmError> read(u32 id, u32 offset, MutableBytes out) noexcept;
  Status<NvmError> write(u32 id, u32 offset, Bytes data) noexcept;
  // Walks the live objects in table order: index 0.. until kNotFound.
  Result<ObjectInfo, NvmError> at(u32 index) noexcept;
  [[nodiscard]] u32 free_bytes() noexcept;
  Nvm& nvm() noexcept { return nvm_; }

 private:
  Nvm& nvm_;
};

}  // namespace scws::card
