// Transient memory (Java Card JCSystem.makeTransientByteArray, JCRE spec 5): byte arrays in the card
// RAM arena whose contents are never journalled and are cleared on an event. The card rebuilds
// every array at each power-up and warm reset (the arena is reset and applets' on_power_up runs
// again), so CLEAR_ON_RESET needs no bookkeeping beyond zero-filling; CLEAR_ON_DESELECT arrays are
// also cleared whenever their owner stops being selected on every logical channel.
#pragma once

#include <array>
#include <cstddef>

#include "base/bytes.hpp"
#include "card/os/arena.hpp"

namespace scws::card {

enum class ClearEvent : u8 {
  kClearOnReset,     // JCSystem.CLEAR_ON_RESET
  kClearOnDeselect,  // JCSystem.CLEAR_ON_DESELECT (also cleared at reset)
};

class TransientMemory {
 public:
  static constexpr std::size_t kMaxArrays = 32;
  static constexpr u8 kNoOwner = 0xFF;  // the card OS or the toolkit: never deselected

  explicit TransientMemory(Arena& arena) noexcept : arena_(arena) {}
  TransientMemory(const TransientMemory&) = delete;
  TransientMemory& operator=(const TransientMemory&) = delete;

  // A zero-filled array of n bytes from the arena, owned by applet slot `owner`. Empty when the arena
  // or the table is exhausted (or n == 0).
  MutableBytes make(std::size_t n, ClearEvent event, u8 owner) noexcept;
  // Zero-fills the CLEAR_ON_DESELECT arrays of `owner`.
  void clear_on_deselect(u8 owner) noexcept;
  // Drops every array without touching the arena: at power-off / reset the arena itself is reset.
  void forget() noexcept { count_ = 0; }

  [[nodiscard]] std::size_t arrays() const noexcept { return count_; }
  [[nodiscard]] std::size_t bytes() const noexcept;

 private:
  struct Entry {
    u8* data = nullptr;
    std::size_t size = 0;
    ClearEvent event = ClearEvent::kClearOnReset;
    u8 owner = kNoOwner;
  };
  Arena& arena_;
  std::array<Entry, kMaxArrays> entries_{};
  std::size_t count_ = 0;
};

}  // namespace scws::card
