#include "tls/tls_allocator.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <vector>

using namespace scws;
using namespace scws::tls;

namespace {
struct alignas(8) Region {
  u8 bytes[8192];
};
bool aligned8(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 8 == 0; }
}  // namespace

TEST_CASE("tls allocator hands out 8-byte aligned blocks costing round_up(n + 4, 8), at least 16") {
  Region r{};
  TlsAllocator a(r.bytes);
  // Payloads are 8-aligned, so the first header sits 4 bytes in; the end marker takes 4 more.
  CHECK(a.usable() == sizeof r.bytes - 8);
  struct Row {
    std::size_t n, block;
  };
  const Row rows[] = {{1, 16}, {12, 16}, {13, 24}, {28, 32}, {32, 40}, {72, 80}, {100, 104}, {600, 608}};
  std::size_t total = 0;
  for (const Row& row : rows) {
    CAPTURE(row.n);
    CHECK(TlsAllocator::block_size_for(row.n) == row.block);
    void* p = a.allocate(row.n);
    REQUIRE(p != nullptr);
    CHECK(aligned8(p));
    total += row.block;
    CHECK(a.in_use() == total);
  }
  CHECK(a.blocks_in_use() == std::size(rows));
  CHECK(a.check_invariants());
  CHECK(a.allocate(0) == nullptr);
  CHECK(a.failed_allocations() == 0);
}

TEST_CASE("tls allocator coalesces freed neighbours back into one block") {
  Region r{};
  TlsAllocator a(r.bytes);
  const std::size_t whole = a.largest_free_block();
  void* p[6];
  for (auto& q : p) q = a.allocate(40);
  a.deallocate(p[1]);
  a.deallocate(p[3]);
  CHECK(a.free_blocks() == 3);  // two holes and the tail
  a.deallocate(p[2]);           // joins both holes
  CHECK(a.free_blocks() == 2);
  CHECK(a.check_invariants());
  for (void* q : {p[0], p[4], p[5]}) a.deallocate(q);
  CHECK(a.in_use() == 0);
  CHECK(a.free_blocks() == 1);
  CHECK(a.largest_free_block() == whole);
  a.deallocate(p[0]);  // a repeated free changes nothing
  CHECK(a.check_invariants());
}

TEST_CASE("tls allocator reuses the best-fitting hole") {
  Region r{};
  TlsAllocator a(r.bytes);
  void* big = a.allocate(200);
  void* sep1 = a.allocate(8);
  void* small = a.allocate(40);
  void* sep2 = a.allocate(8);
  a.deallocate(big);
  a.deallocate(small);
  CHECK(a.allocate(40) == small);  // exact class, not the first hole
  CHECK(a.allocate(150) == big);   // the 208-byte hole, not the tail
  (void)sep1;
  (void)sep2;
  CHECK(a.check_invariants());
}

TEST_CASE("tls allocator reports exhaustion and keeps the flag until cleared") {
  Region r{};
  TlsAllocator a(r.bytes);
  void* all = a.allocate(a.largest_free_block());
  REQUIRE(all != nullptr);
  CHECK_FALSE(a.exhausted());
  CHECK(a.allocate(1) == nullptr);
  CHECK(a.exhausted());
  CHECK(a.failed_allocations() == 1);
  CHECK(a.allocate_zeroed(static_cast<std::size_t>(-1) / 2, 4) == nullptr);  // overflow
  CHECK(a.failed_allocations() == 2);
  a.deallocate(all);
  CHECK(a.exhausted());
  a.clear_exhausted();
  CHECK_FALSE(a.exhausted());
  CHECK(a.in_use() == 0);
}

TEST_CASE("tls allocator zero-fills calloc blocks and tracks the high water mark") {
  Region r{};
  TlsAllocator a(r.bytes);
  auto* p = static_cast<u8*>(a.allocate(64));
  for (int i = 0; i < 64; ++i) p[i] = 0xAA;
  a.deallocate(p);
  auto* z = static_cast<u8*>(a.allocate_zeroed(8, 8));
  REQUIRE(z != nullptr);
  for (int i = 0; i < 64; ++i) CHECK(z[i] == 0);
  CHECK(a.high_water() == 72);
  a.deallocate(z);
  CHECK(a.high_water() == 72);
  a.reset_high_water();
  CHECK(a.high_water() == 0);
}

TEST_CASE("tls allocator keeps its invariants under a random mbedTLS-like workload") {
  std::vector<u64> mem(4096);
  // An unaligned start: the allocator aligns its blocks itself.
  TlsAllocator a(MutableBytes(reinterpret_cast<u8*>(mem.data()) + 3, mem.size() * 8 - 3));
  std::mt19937 rng(42);
  std::vector<std::pair<u8*, std::size_t>> live;
  for (int i = 0; i < 20000; ++i) {
    if (live.empty() || rng() % 100 < 55) {
      const std::size_t n = rng() % 10 == 0 ? 1 + rng() % 2000 : 8 * (1 + rng() % 10);
      auto* p = static_cast<u8*>(a.allocate(n));
      if (p == nullptr) continue;
      REQUIRE(aligned8(p));
      for (std::size_t k = 0; k < n; ++k) p[k] = static_cast<u8>(n);
      live.emplace_back(p, n);
    } else {
      const std::size_t k = rng() % live.size();
      for (std::size_t j = 0; j < live[k].second; ++j) REQUIRE(live[k].first[j] == static_cast<u8>(live[k].second));
      a.deallocate(live[k].first);
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(k));
    }
    if (i % 500 == 0) REQUIRE(a.check_invariants());
  }
  for (auto& [p, n] : live) a.deallocate(p);
  CHECK(a.in_use() == 0);
  CHECK(a.free_blocks() == 1);
  CHECK(a.check_invariants());
}

TEST_CASE("tls allocator scope installs the allocator mbedTLS calloc uses and restores the previous") {
  Region r1{}, r2{};
  TlsAllocator a(r1.bytes), b(r2.bytes);
  CHECK(TlsAllocator::current() == nullptr);
  {
    TlsAllocator::Scope sa(a);
    CHECK(TlsAllocator::current() == &a);
    {
      TlsAllocator::Scope sb(b);
      CHECK(TlsAllocator::current() == &b);
    }
    CHECK(TlsAllocator::current() == &a);
  }
  CHECK(TlsAllocator::current() == nullptr);
}

TEST_CASE("tls allocator ignores a pointer that is not its own") {
  Region r1{}, r2{};
  TlsAllocator a(r1.bytes), b(r2.bytes);
  void* p = b.allocate(16);
  a.deallocate(p);
  CHECK(a.check_invariants());
  CHECK(b.in_use() == 24);
}
