#include "card/os/arena.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <vector>

using namespace scws;
using namespace scws::card;

namespace {

struct alignas(16) Ram {
  u8 bytes[4096];
};

bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

}  // namespace

TEST_CASE("arena hands out 16-byte aligned blocks with an 8-byte header") {
  Ram ram{};
  Arena arena(ram.bytes);
  CHECK(arena.capacity() == sizeof ram.bytes);
  CHECK(arena.in_use() == 0);
  const std::size_t largest = arena.largest_free_block();
  // Blocks tile [8, 4088): payloads 16-aligned, sizes multiples of 16; one block's header is 8 bytes.
  CHECK(largest == sizeof ram.bytes - 24);

  // Block size = round_up(n + 8, 16): 1..8 -> 16, 9..24 -> 32, 25..40 -> 48.
  struct Row {
    std::size_t n, block;
  };
  const Row rows[] = {{1, 16}, {8, 16}, {9, 32}, {24, 32}, {25, 48}, {100, 112}};
  std::size_t total = 0;
  for (const Row& row : rows) {
    void* p = arena.allocate(row.n);
    REQUIRE(p != nullptr);
    CHECK(aligned16(p));
    total += row.block;
    CHECK(arena.in_use() == total);
  }
  CHECK(arena.check_invariants());
  CHECK(arena.allocate(0) == nullptr);
  CHECK(arena.failed_allocations() == 0);
}

TEST_CASE("arena returns nullptr when exhausted and counts the failure") {
  Ram ram{};
  Arena arena(ram.bytes);
  void* all = arena.allocate(arena.largest_free_block());
  REQUIRE(all != nullptr);
  CHECK(arena.in_use() == sizeof ram.bytes - 16);
  CHECK(arena.largest_free_block() == 0);
  CHECK(arena.allocate(1) == nullptr);
  CHECK(arena.allocate(static_cast<std::size_t>(-1)) == nullptr);
  CHECK(arena.allocate_zeroed(static_cast<std::size_t>(-1) / 2, 4) == nullptr);  // overflow
  CHECK(arena.failed_allocations() == 3);
  arena.deallocate(all);
  CHECK(arena.in_use() == 0);
  CHECK(arena.allocate(sizeof ram.bytes) == nullptr);
  CHECK(arena.failed_allocations() == 4);
  CHECK(arena.check_invariants());
}

TEST_CASE("arena merges a freed block with its free neighbours at once") {
  Ram ram{};
  Arena arena(ram.bytes);
  void* a = arena.allocate(40);
  void* b = arena.allocate(40);
  void* c = arena.allocate(40);
  void* d = arena.allocate(40);
  REQUIRE(d != nullptr);
  CHECK(arena.free_blocks() == 1);  // the tail

  arena.deallocate(a);  // alone: a new free block in front
  CHECK(arena.free_blocks() == 2);
  arena.deallocate(c);  // between used b and used d
  CHECK(arena.free_blocks() == 3);
  CHECK(arena.check_invariants());
  arena.deallocate(b);  // joins a and c into one
  CHECK(arena.free_blocks() == 2);
  CHECK(arena.check_invariants());
  arena.deallocate(d);  // joins everything with the tail
  CHECK(arena.free_blocks() == 1);
  arena.deallocate(d);  // freed twice: ignored
  arena.deallocate(nullptr);
  CHECK(arena.free_blocks() == 1);
  CHECK(arena.largest_free_block() == sizeof ram.bytes - 24);
  CHECK(arena.in_use() == 0);
  CHECK(arena.check_invariants());
}

TEST_CASE("arena reuses the lowest fitting free block first") {
  Ram ram{};
  Arena arena(ram.bytes);
  void* a = arena.allocate(100);
  void* keep = arena.allocate(16);
  void* b = arena.allocate(100);
  void* keep2 = arena.allocate(16);
  arena.deallocate(b);
  arena.deallocate(a);
  void* again = arena.allocate(50);  // first fit: a's place, split
  CHECK(again == a);
  void* next = arena.allocate(40);   // the rest of a's block (112 - 64 = 48 bytes) fits 40
  CHECK(static_cast<u8*>(next) == static_cast<u8*>(a) + 64);
  CHECK(arena.check_invariants());
  (void)keep;
  (void)keep2;
}

TEST_CASE("arena high-water mark keeps the peak across frees and reset") {
  Ram ram{};
  Arena arena(ram.bytes);
  void* a = arena.allocate(1000);
  void* b = arena.allocate(1000);
  const std::size_t peak = arena.in_use();
  arena.deallocate(a);
  arena.deallocate(b);
  CHECK(arena.in_use() == 0);
  CHECK(arena.high_water() == peak);
  arena.reset();
  CHECK(arena.high_water() == peak);
  arena.reset_high_water();
  CHECK(arena.high_water() == 0);
}

TEST_CASE("arena reset forgets every allocation") {
  Ram ram{};
  Arena arena(ram.bytes);
  for (int i = 0; i < 10; ++i) REQUIRE(arena.allocate(100) != nullptr);
  arena.reset();
  CHECK(arena.in_use() == 0);
  CHECK(arena.free_blocks() == 1);
  CHECK(arena.largest_free_block() == sizeof ram.bytes - 24);
  CHECK(arena.check_invariants());
}

TEST_CASE("arena zeroes calloc-style allocations") {
  Ram ram{};
  std::memset(ram.bytes, 0xAA, sizeof ram.bytes);
  Arena arena(ram.bytes);
  auto* p = static_cast<u8*>(arena.allocate_zeroed(10, 7));
  REQUIRE(p != nullptr);
  for (int i = 0; i < 70; ++i) CHECK(p[i] == 0);
}

TEST_CASE("arena over misaligned memory still returns 16-byte aligned blocks") {
  Ram ram{};
  for (std::size_t skew = 1; skew < 16; ++skew) {
    Arena arena(MutableBytes(ram.bytes + skew, sizeof ram.bytes - skew));
    void* p = arena.allocate(1);
    void* q = arena.allocate(33);
    REQUIRE(p != nullptr);
    REQUIRE(q != nullptr);
    CHECK(aligned16(p));
    CHECK(aligned16(q));
    CHECK(arena.check_invariants());
  }
}

TEST_CASE("arena over memory too small for one block refuses everything") {
  Ram ram{};
  Arena arena(MutableBytes(ram.bytes, 16));  // 8 bytes lost to alignment: less than one block
  CHECK(arena.largest_free_block() == 0);
  CHECK(arena.allocate(1) == nullptr);
  CHECK(arena.check_invariants());
}

// Random allocate/free against a reference model (a map of live blocks): no block overlaps
// another, contents survive other operations, in_use() matches, and once everything is freed the
// arena is one free block again (full coalescing).
TEST_CASE("arena survives a randomized allocate/free stress against a reference model") {
  alignas(16) static u8 memory[64 * 1024];
  for (unsigned seed = 1; seed <= 4; ++seed) {
    Arena arena(memory);
    std::mt19937 rng(seed);
    struct Live {
      std::size_t size;
      u8 fill;
    };
    std::map<u8*, Live> live;  // start -> requested size and fill byte
    std::size_t failures = 0;
    for (int step = 0; step < 20000; ++step) {
      const bool do_alloc = live.empty() || rng() % 100 < 55;
      if (do_alloc) {
        // Mostly small blocks, as in an ECDHE handshake, sometimes big record buffers.
        const unsigned kind = rng() % 100;
        const std::size_t n = kind < 80 ? 1 + rng() % 64 : kind < 97 ? 65 + rng() % 700 : 1000 + rng() % 5000;
        auto* p = static_cast<u8*>(arena.allocate(n));
        if (p == nullptr) {
          ++failures;
          CHECK(n > arena.largest_free_block());
          continue;
        }
        REQUIRE(aligned16(p));
        REQUIRE(p >= memory);
        REQUIRE(p + n <= memory + sizeof memory);
        auto after = live.lower_bound(p);
        if (after != live.end()) REQUIRE(p + n <= after->first);
        if (after != live.begin()) {
          auto before = std::prev(after);
          REQUIRE(before->first + before->second.size <= p);
        }
        const u8 fill = static_cast<u8>(rng());
        std::memset(p, fill, n);
        live[p] = Live{n, fill};
      } else {
        auto it = live.begin();
        std::advance(it, static_cast<long>(rng() % live.size()));
        bool intact = true;
        for (std::size_t i = 0; i < it->second.size; ++i) intact = intact && it->first[i] == it->second.fill;
        REQUIRE(intact);
        arena.deallocate(it->first);
        live.erase(it);
      }
      if (step % 97 == 0) REQUIRE(arena.check_invariants());
    }
    std::size_t expected = 0;
    for (const auto& [p, l] : live) expected += (l.size + 8 + 15) / 16 * 16;
    CHECK(arena.in_use() == expected);
    CHECK(arena.failed_allocations() == failures);
    for (const auto& [p, l] : live) arena.deallocate(p);
    CHECK(arena.in_use() == 0);
    CHECK(arena.free_blocks() == 1);
    CHECK(arena.largest_free_block() == sizeof memory - 24);
    CHECK(arena.check_invariants());
  }
}
