// Block devices behind the card's NVM (an EEPROM-like byte image). Backends: RAM, file (sim/),
// and a power-loss-injecting wrapper for tests. A device write is atomic per call (as a page write
// of an EEPROM); sync() makes every write so far durable.
#pragma once

#include "base/bytes.hpp"
#include "base/result.hpp"

namespace scws::card {

enum class NvmError : u8 {
  kIo,                       // the device failed (or power was cut)
  kOutOfRange,               // offset/length outside the image or the object
  kNotInTransaction,         // NVM changes happen only inside transactions
  kTransactionInProgress,    // nested begin (Java Card TransactionException.IN_PROGRESS)
  kCommitCapacityExceeded,   // the undo journal is full (TransactionException.BUFFER_FULL)
  kBadMagic,                 // not an scws image
  kUnsupportedVersion,       // an image layout this build does not read
  kSizeMismatch,             // the header's size disagrees with the device
  kCorruptHeader,            // header checksum wrong
  kCorruptJournal,           // an interrupted transaction cannot be rolled back safely
  kCorruptData,              // data-area checksum wrong
  kNoSpace,                  // no room for a new object
  kTableFull,                // no free slot in the object table
  kNotFound,                 // no object with that id
  kExists,                   // an object with that id exists already
  kNotMounted,               // Nvm used before a successful format()/mount(), or after a device error
};

const char* describe(NvmError e) noexcept;

class NvmDevice {
 public:
  virtual ~NvmDevice() = default;
  [[nodiscard]] virtual u32 size() const noexcept = 0;
  virtual Status<NvmError> read(u32 offset, MutableBytes out) noexcept = 0;
  virtual Status<NvmError> write(u32 offset, Bytes data) noexcept = 0;
  virtual Status<NvmError> sync() noexcept = 0;
};

// Plain RAM backend (tests, provisioning, the embedded `scws run` when asked for no persistence).
class RamNvmDevice final : public NvmDevice {
 public:
  explicit RamNvmDevice(MutableBytes storage) noexcept : storage_(storage) {}
  [[nodiscard]] u32 size() const noexcept override { return static_cast<u32>(storage_.size()); }
  Status<NvmError> read(u32 offset, MutableBytes out) noexcept override;
  Status<NvmError> write(u32 offset, Bytes data) noexcept override;
  Status<NvmError> sync() noexcept override { return {}; }
  [[nodiscard]] Bytes contents() const noexcept { return storage_; }

 private:
  MutableBytes storage_;
};

// Wraps a device and cuts the power at the Nth write (0-based): that write and every later one
// fail with kIo and change nothing, as if the card lost power just before it. Reads still work,
// so a test can "reboot" by mounting the inner device again.
class PowerLossNvmDevice final : public NvmDevice {
 public:
  PowerLossNvmDevice(NvmDevice& inner, u64 cut_at_write) noexcept : inner_(inner), cut_at_(cut_at_write) {}
  [[nodiscard]] u32 size() const noexcept override { return inner_.size(); }
  Status<NvmError> read(u32 offset, MutableBytes out) noexcept override { return inner_.read(offset, out); }
  Status<NvmError> write(u32 offset, Bytes data) noexcept override;
  Status<NvmError> sync() noexcept override;
  [[nodiscard]] u64 writes() const noexcept { return writes_; }  // writes attempted so far
  [[nodiscard]] bool power_cut() const noexcept { return writes_ > cut_at_; }

 private:
  NvmDevice& inner_;
  u64 cut_at_;
  u64 writes_ = 0;
};

}  // namespace scws::card
