#include "card/os/nvm_device.hpp"

#include <cstring>

namespace scws::card {

const char* describe(NvmError e) noexcept {
  switch (e) {
    case NvmError::kIo: return "NVM device error (or power lost)";
    case NvmError::kOutOfRange: return "NVM offset or length out of range";
    case NvmError::kNotInTransaction: return "NVM change outside a transaction";
    case NvmError::kTransactionInProgress: return "NVM transaction already in progress";
    case NvmError::kCommitCapacityExceeded: return "NVM commit capacity exceeded";
    case NvmError::kBadMagic: return "not an scws NVM image (bad magic)";
    case NvmError::kUnsupportedVersion: return "unsupported NVM image layout version";
    case NvmError::kSizeMismatch: return "NVM image size differs from the size in its header (truncated or extended)";
    case NvmError::kCorruptHeader: return "NVM image header is corrupt (checksum)";
    case NvmError::kCorruptJournal: return "NVM transaction journal is corrupt; cannot roll back";
    case NvmError::kCorruptData: return "NVM data area is corrupt (checksum)";
    case NvmError::kNoSpace: return "no space left for the NVM object";
    case NvmError::kTableFull: return "NVM object table full";
    case NvmError::kNotFound: return "no NVM object with that id";
    case NvmError::kExists: return "an NVM object with that id exists already";
    case NvmError::kNotMounted: return "NVM not mounted";
  }
  return "unknown NVM error";
}

Status<NvmError> RamNvmDevice::read(u32 offset, MutableBytes out) noexcept {
  if (u64{offset} + out.size() > storage_.size()) return fail(NvmError::kOutOfRange);
  if (!out.empty()) std::memcpy(out.data(), storage_.data() + offset, out.size());
  return {};
}

Status<NvmError> RamNvmDevice::write(u32 offset, Bytes data) noexcept {
  if (u64{offset} + data.size() > storage_.size()) return fail(NvmError::kOutOfRange);
  if (!data.empty()) std::memcpy(storage_.data() + offset, data.data(), data.size());
  return {};
}

Status<NvmError> PowerLossNvmDevice::write(u32 offset, Bytes data) noexcept {
  const u64 index = writes_++;
  if (index >= cut_at_) return fail(NvmError::kIo);
  return inner_.write(offset, data);
}

Status<NvmError> PowerLossNvmDevice::sync() noexcept {
  if (power_cut()) return fail(NvmError::kIo);
  return inner_.sync();
}

}  // namespace scws::card
