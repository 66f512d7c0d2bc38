#include "card/os/transient.hpp"

#include <doctest/doctest.h>

using namespace scws;
using namespace scws::card;

namespace {
struct alignas(16) Ram {
  u8 bytes[2048];
};
}  // namespace

TEST_CASE("transient arrays are zero-filled and come from the arena") {
  Ram ram{};
  for (u8& b : ram.bytes) b = 0x5A;
  Arena arena(ram.bytes);
  TransientMemory transient(arena);
  MutableBytes a = transient.make(100, ClearEvent::kClearOnReset, 0);
  REQUIRE(a.size() == 100);
  for (u8 b : a) CHECK(b == 0);
  CHECK(arena.in_use() == 112);
  CHECK(transient.arrays() == 1);
  CHECK(transient.bytes() == 100);
  CHECK(transient.make(0, ClearEvent::kClearOnReset, 0).empty());
}

TEST_CASE("clear on deselect zeroes only the owner's CLEAR_ON_DESELECT arrays") {
  Ram ram{};
  Arena arena(ram.bytes);
  TransientMemory transient(arena);
  MutableBytes own_deselect = transient.make(8, ClearEvent::kClearOnDeselect, 1);
  MutableBytes own_reset = transient.make(8, ClearEvent::kClearOnReset, 1);
  MutableBytes other_deselect = transient.make(8, ClearEvent::kClearOnDeselect, 2);
  for (MutableBytes m : {own_deselect, own_reset, other_deselect})
    for (u8& b : m) b = 0xEE;
  transient.clear_on_deselect(1);
  for (u8 b : own_deselect) CHECK(b == 0);
  for (u8 b : own_reset) CHECK(b == 0xEE);
  for (u8 b : other_deselect) CHECK(b == 0xEE);
}

TEST_CASE("transient memory refuses arrays when RAM or its table is exhausted") {
  Ram ram{};
  Arena arena(ram.bytes);
  TransientMemory transient(arena);
  CHECK(transient.make(4096, ClearEvent::kClearOnReset, 0).empty());
  CHECK(transient.arrays() == 0);
  for (std::size_t i = 0; i < TransientMemory::kMaxArrays; ++i)
    REQUIRE_FALSE(transient.make(1, ClearEvent::kClearOnReset, 0).empty());
  CHECK(transient.make(1, ClearEvent::kClearOnReset, 0).empty());
  transient.forget();
  CHECK(transient.arrays() == 0);
}
