#include "card/os/transient.hpp"

#include <cstring>

namespace scws::card {

MutableBytes TransientMemory::make(std::size_t n, ClearEvent event, u8 owner) noexcept {
  if (n == 0 || count_ == kMaxArrays) return {};
  auto* p = static_cast<u8*>(arena_.allocate_zeroed(1, n));
  if (p == nullptr) return {};
  entries_[count_++] = Entry{p, n, event, owner};
  return MutableBytes(p, n);
}

void TransientMemory::clear_on_deselect(u8 owner) noexcept {
  for (std::size_t i = 0; i < count_; ++i) {
    const Entry& e = entries_[i];
    switch (e.event) {
      case ClearEvent::kClearOnDeselect:
        if (e.owner == owner) std::memset(e.data, 0, e.size);
        break;
      case ClearEvent::kClearOnReset:
        break;
    }
  }
}

std::size_t TransientMemory::bytes() const noexcept {
  std::size_t total = 0;
  for (std::size_t i = 0; i < count_; ++i) total += entries_[i].size;
  return total;
}

}  // namespace scws::card
