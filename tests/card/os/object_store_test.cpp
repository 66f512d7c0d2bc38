#include <doctest/doctest.h>

#include <vector>

#include "card/os/nvm.hpp"

using namespace scws;
using namespace scws::card;

namespace {

constexpr u32 kImage = 128 * 1024;
constexpr u32 kCapacity = 16 * 1024;

std::vector<u8> pattern(std::size_t n, u8 seed) {
  std::vector<u8> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<u8>(seed + i * 3 + 1);
  return v;
}

class CountingDevice final : public NvmDevice {
 public:
  explicit CountingDevice(NvmDevice& inner) : inner_(inner) {}
  u32 size() const noexcept override { return inner_.size(); }
  Status<NvmError> read(u32 offset, MutableBytes out) noexcept override {
    bytes_read += out.size();
    return inner_.read(offset, out);
  }
  Status<NvmError> write(u32 offset, Bytes data) noexcept override { return inner_.write(offset, data); }
  Status<NvmError> sync() noexcept override { return inner_.sync(); }
  u64 bytes_read = 0;

 private:
  NvmDevice& inner_;
};

// A formatted Nvm with a formatted, empty store.
struct Fixture {
  std::vector<u8> bytes;
  RamNvmDevice ram;
  CountingDevice dev;
  Nvm nvm;
  ObjectStore store;
  explicit Fixture(u32 size = kImage, u32 capacity = kCapacity)
      : bytes(size, 0xA5), ram(bytes), dev(ram), nvm(dev), store(nvm) {
    REQUIRE(nvm.format(capacity).ok());
    REQUIRE(nvm.begin().ok());
    REQUIRE(store.format().ok());
    REQUIRE(nvm.commit().ok());
  }
  u32 heap_size() const { return nvm.data_size() - ObjectStore::kHeapOffset; }
  std::vector<u8> read(u32 id) {
    auto info = store.find(id);
    REQUIRE(info.ok());
    std::vector<u8> v(info->size);
    REQUIRE(store.read(id, 0, v).ok());
    return v;
  }
  void write_entry(u32 slot, u32 id, u32 offset, u32 size) {
    const u8 e[12] = {static_cast<u8>(id >> 24),     static_cast<u8>(id >> 16),     static_cast<u8>(id >> 8),
                      static_cast<u8>(id),           static_cast<u8>(offset >> 24), static_cast<u8>(offset >> 16),
                      static_cast<u8>(offset >> 8),  static_cast<u8>(offset),       static_cast<u8>(size >> 24),
                      static_cast<u8>(size >> 16),   static_cast<u8>(size >> 8),    static_cast<u8>(size)};
    REQUIRE(nvm.begin().ok());
    REQUIRE(nvm.write(ObjectStore::kTableOffset + slot * ObjectStore::kEntrySize, e).ok());
    REQUIRE(nvm.commit().ok());
  }
};

}  // namespace

TEST_CASE("object store on an unformatted data area reports kBadMagic, on an unmounted nvm kNotMounted") {
  std::vector<u8> bytes(kImage, 0);
  RamNvmDevice dev(bytes);
  Nvm nvm(dev);
  ObjectStore store(nvm);
  CHECK(store.find(1).error() == NvmError::kNotMounted);
  REQUIRE(nvm.format(kCapacity).ok());
  CHECK(store.find(1).error() == NvmError::kBadMagic);
  CHECK(store.at(0).error() == NvmError::kBadMagic);
  CHECK(store.check().error() == NvmError::kBadMagic);
  CHECK(store.free_bytes() == 0);
  REQUIRE(nvm.begin().ok());
  CHECK(store.create(1, 10).error() == NvmError::kBadMagic);
}

TEST_CASE("object store format needs a transaction and room for the table") {
  std::vector<u8> bytes(kImage, 0);
  RamNvmDevice dev(bytes);
  Nvm nvm(dev);
  REQUIRE(nvm.format(kCapacity).ok());
  ObjectStore store(nvm);
  CHECK(store.format().error() == NvmError::kNotInTransaction);

  std::vector<u8> small(8192, 0);
  RamNvmDevice small_dev(small);
  Nvm small_nvm(small_dev);
  REQUIRE(small_nvm.format(2048).ok());
  REQUIRE(small_nvm.data_size() < ObjectStore::kHeapOffset);
  ObjectStore small_store(small_nvm);
  REQUIRE(small_nvm.begin().ok());
  CHECK(small_store.format().error() == NvmError::kOutOfRange);
}

TEST_CASE("a formatted object store is empty and offers the whole heap") {
  Fixture f;
  CHECK(f.store.at(0).error() == NvmError::kNotFound);
  CHECK(f.store.find(0x10000001).error() == NvmError::kNotFound);
  CHECK(f.store.free_bytes() == f.heap_size());
  CHECK(f.store.check().ok());
  // Formatting a fresh image journals almost nothing: the zero table is already zero.
  REQUIRE(f.nvm.begin().ok());
  REQUIRE(f.store.format().ok());
  CHECK(f.nvm.unused_commit_capacity() == kCapacity);
  REQUIRE(f.nvm.commit().ok());
}

TEST_CASE("object store creates zero-filled objects that find, write and read back") {
  Fixture f;
  REQUIRE(f.nvm.begin().ok());
  auto a = f.store.create(0x10000001, 100);
  REQUIRE(a.ok());
  CHECK(a->id == 0x10000001);
  CHECK(a->size == 100);
  CHECK(a->offset >= ObjectStore::kHeapOffset);
  auto found = f.store.find(0x10000001);
  REQUIRE(found.ok());
  CHECK(found->offset == a->offset);
  CHECK(found->size == 100);
  CHECK(f.read(0x10000001) == std::vector<u8>(100, 0));
  REQUIRE(f.store.write(0x10000001, 10, pattern(50, 1)).ok());
  REQUIRE(f.nvm.commit().ok());

  Nvm again(f.ram);
  REQUIRE(again.mount().ok());
  ObjectStore store(again);
  std::vector<u8> out(50);
  REQUIRE(store.read(0x10000001, 10, out).ok());
  CHECK(out == pattern(50, 1));
  CHECK(store.free_bytes() == f.heap_size() - 100);
}

TEST_CASE("object store create refuses an existing id, id 0, an oversized object and a call outside a transaction") {
  Fixture f;
  CHECK(f.store.create(7, 10).error() == NvmError::kNotInTransaction);
  REQUIRE(f.nvm.begin().ok());
  REQUIRE(f.store.create(7, 10).ok());
  CHECK(f.store.create(7, 20).error() == NvmError::kExists);
  CHECK(f.store.create(0, 20).error() == NvmError::kOutOfRange);
  CHECK(f.store.create(8, ObjectStore::kMaxObjectSize + 1).error() == NvmError::kOutOfRange);
  CHECK(f.store.create(8, f.heap_size()).error() == NvmError::kNoSpace);
  CHECK(f.store.find(7)->size == 10);
  REQUIRE(f.nvm.commit().ok());
}

TEST_CASE("object store reads and writes are bounds-checked against the object") {
  Fixture f;
  REQUIRE(f.nvm.begin().ok());
  REQUIRE(f.store.create(1, 16).ok());
  REQUIRE(f.store.create(2, 16).ok());
  std::vector<u8> out(8);
  CHECK(f.store.read(1, 8, out).ok());
  CHECK(f.store.read(1, 9, out).error() == NvmError::kOutOfRange);
  CHECK(f.store.read(1, 0xFFFFFFFC, out).error() == NvmError::kOutOfRange);
  CHECK(f.store.write(1, 9, out).error() == NvmError::kOutOfRange);
  CHECK(f.store.write(1, 0xFFFFFFFF, out).error() == NvmError::kOutOfRange);
  CHECK(f.store.read(3, 0, out).error() == NvmError::kNotFound);
  CHECK(f.store.write(3, 0, out).error() == NvmError::kNotFound);
  CHECK(f.store.remove(3).error() == NvmError::kNotFound);
  // A write stays inside its object: the neighbour is untouched.
  REQUIRE(f.store.write(1, 0, pattern(16, 5)).ok());
  CHECK(f.read(2) == std::vector<u8>(16, 0));
  REQUIRE(f.nvm.commit().ok());
  CHECK(f.store.write(1, 0, out).error() == NvmError::kNotInTransaction);
  CHECK(f.store.remove(1).error() == NvmError::kNotInTransaction);
}

TEST_CASE("object store remove frees the slot and the space, and create zero-fills reused space") {
  Fixture f;
  const u32 third = f.heap_size() / 3;
  REQUIRE(f.nvm.begin().ok());
  const auto a = f.store.create(1, third);
  const auto b = f.store.create(2, third);
  const auto c = f.store.create(3, f.heap_size() - 2 * third);  // the heap is now full
  REQUIRE((a.ok() && b.ok() && c.ok()));
  CHECK(f.store.free_bytes() == 0);
  CHECK(f.store.create(4, 1).error() == NvmError::kNoSpace);
  REQUIRE(f.store.write(2, 0, pattern(200, 9)).ok());
  REQUIRE(f.nvm.commit().ok());

  REQUIRE(f.nvm.begin().ok());
  REQUIRE(f.store.remove(2).ok());
  CHECK(f.store.find(2).error() == NvmError::kNotFound);
  CHECK(f.store.free_bytes() == third);
  auto d = f.store.create(4, 100);
  REQUIRE(d.ok());
  CHECK(d->offset == b->offset);  // the only gap
  CHECK(f.read(4) == std::vector<u8>(100, 0));
  REQUIRE(f.nvm.commit().ok());
  CHECK(f.store.check().ok());
}

TEST_CASE("object store coalesces neighbouring free space") {
  Fixture f;
  const u32 quarter = f.heap_size() / 4;
  REQUIRE(f.nvm.begin().ok());
  std::vector<ObjectInfo> objs;
  for (u32 id = 1; id <= 3; ++id) objs.push_back(*f.store.create(id, quarter));
  objs.push_back(*f.store.create(4, f.heap_size() - 3 * quarter));
  CHECK(f.store.free_bytes() == 0);
  REQUIRE(f.store.remove(2).ok());
  REQUIRE(f.store.remove(3).ok());
  // One object as large as both removed ones fits in the merged gap; a byte more does not.
  CHECK(f.store.create(5, 2 * quarter + 1).error() == NvmError::kNoSpace);
  auto merged = f.store.create(5, 2 * quarter);
  REQUIRE(merged.ok());
  CHECK(merged->offset == objs[1].offset);
  CHECK(f.store.free_bytes() == 0);
  REQUIRE(f.nvm.commit().ok());
  CHECK(f.store.check().ok());
}

TEST_CASE("object store takes the lowest gap that fits when the tail is full") {
  Fixture f;
  REQUIRE(f.nvm.begin().ok());
  const auto a = *f.store.create(1, 1000);
  const auto b = *f.store.create(2, 3000);
  const auto c = *f.store.create(3, 1000);
  const auto d = *f.store.create(4, 500);
  REQUIRE(f.store.create(5, f.store.free_bytes()).ok());  // fills the tail
  REQUIRE(f.store.remove(2).ok());
  REQUIRE(f.store.remove(4).ok());
  CHECK(f.store.create(6, 400)->offset == b.offset);  // lowest fit, though d's gap is tighter
  CHECK(f.store.create(7, 2600)->offset == b.offset + 400);
  CHECK(f.store.create(8, 500)->offset == d.offset);
  CHECK(f.store.create(9, 1).error() == NvmError::kNoSpace);
  CHECK(f.store.create(10, 0).ok());  // zero-sized objects take no space
  (void)a;
  (void)c;
  REQUIRE(f.nvm.commit().ok());
  CHECK(f.store.check().ok());
}

TEST_CASE("object store refuses a new object when the table is full") {
  Fixture f(256 * 1024, 32 * 1024);
  for (u32 batch = 0; batch < ObjectStore::kMaxObjects / 128; ++batch) {
    REQUIRE(f.nvm.begin().ok());
    for (u32 i = 0; i < 128; ++i) REQUIRE(f.store.create(0x02000000 + batch * 128 + i, 8).ok());
    REQUIRE(f.nvm.commit().ok());
  }
  REQUIRE(f.nvm.begin().ok());
  CHECK(f.store.create(0x03000000, 8).error() == NvmError::kTableFull);
  CHECK(f.store.at(ObjectStore::kMaxObjects - 1).ok());
  CHECK(f.store.at(ObjectStore::kMaxObjects).error() == NvmError::kNotFound);
  REQUIRE(f.store.remove(0x02000005).ok());
  CHECK(f.store.create(0x03000000, 8).ok());
  REQUIRE(f.nvm.commit().ok());
  CHECK(f.store.check().ok());
}

TEST_CASE("object store iteration walks the live objects in table order") {
  Fixture f;
  REQUIRE(f.nvm.begin().ok());
  REQUIRE(f.store.create(0x10, 1).ok());
  REQUIRE(f.store.create(0x20, 2).ok());
  REQUIRE(f.store.create(0x30, 3).ok());
  REQUIRE(f.store.remove(0x20).ok());
  CHECK(f.store.at(0)->id == 0x10);
  CHECK(f.store.at(1)->id == 0x30);
  CHECK(f.store.at(2).error() == NvmError::kNotFound);
  REQUIRE(f.store.create(0x40, 4).ok());  // takes the freed slot 1
  CHECK(f.store.at(1)->id == 0x40);
  CHECK(f.store.at(2)->id == 0x30);
  CHECK(f.store.at(2)->size == 3);
  REQUIRE(f.nvm.commit().ok());
}

TEST_CASE("object store abort drops objects created in the transaction and restores removed ones") {
  Fixture f;
  REQUIRE(f.nvm.begin().ok());
  REQUIRE(f.store.create(1, 40).ok());
  REQUIRE(f.store.write(1, 0, pattern(40, 1)).ok());
  REQUIRE(f.nvm.commit().ok());
  const u32 free_before = f.store.free_bytes();

  REQUIRE(f.nvm.begin().ok());
  REQUIRE(f.store.create(2, 30).ok());
  CHECK(f.store.find(2).ok());  // now in the RAM cache
  CHECK(f.store.find(1).ok());
  REQUIRE(f.store.write(1, 0, pattern(40, 2)).ok());
  REQUIRE(f.store.remove(1).ok());
  CHECK(f.store.find(1).error() == NvmError::kNotFound);
  REQUIRE(f.nvm.abort().ok());

  CHECK(f.store.find(2).error() == NvmError::kNotFound);
  CHECK(f.read(1) == pattern(40, 1));
  CHECK(f.store.free_bytes() == free_before);
  CHECK(f.store.at(1).error() == NvmError::kNotFound);
}

TEST_CASE("object store resizes by re-creating inside one transaction") {
  Fixture f;
  REQUIRE(f.nvm.begin().ok());
  REQUIRE(f.store.create(1, 64).ok());
  REQUIRE(f.store.write(1, 0, pattern(64, 3)).ok());
  REQUIRE(f.nvm.commit().ok());

  REQUIRE(f.nvm.begin().ok());
  const auto old = f.read(1);
  REQUIRE(f.store.remove(1).ok());
  REQUIRE(f.store.create(1, 128).ok());
  REQUIRE(f.store.write(1, 0, old).ok());
  REQUIRE(f.nvm.commit().ok());
  auto now = f.read(1);
  CHECK(now.size() == 128);
  CHECK(std::vector<u8>(now.begin(), now.begin() + 64) == pattern(64, 3));
  CHECK(std::vector<u8>(now.begin() + 64, now.end()) == std::vector<u8>(64, 0));
}

TEST_CASE("object store cache follows changes made through another store and a remount") {
  Fixture f;
  REQUIRE(f.nvm.begin().ok());
  REQUIRE(f.store.create(1, 10).ok());
  REQUIRE(f.nvm.commit().ok());
  CHECK(f.store.find(1).ok());  // cached

  ObjectStore other(f.nvm);
  REQUIRE(f.nvm.begin().ok());
  REQUIRE(other.remove(1).ok());
  REQUIRE(other.create(2, 10).ok());
  REQUIRE(f.nvm.commit().ok());
  CHECK(f.store.find(1).error() == NvmError::kNotFound);
  CHECK(f.store.find(2).ok());

  // Behind the Nvm's back (another Nvm over the same device), then a remount of ours.
  Nvm second(f.ram);
  REQUIRE(second.mount().ok());
  ObjectStore second_store(second);
  REQUIRE(second.begin().ok());
  REQUIRE(second_store.remove(2).ok());
  REQUIRE(second.commit().ok());
  REQUIRE(f.nvm.mount().ok());
  CHECK(f.store.find(2).error() == NvmError::kNotFound);
}

TEST_CASE("object store reads of a found object do not rescan the table") {
  Fixture f;
  REQUIRE(f.nvm.begin().ok());
  REQUIRE(f.store.create(1, 4096).ok());
  REQUIRE(f.store.write(1, 0, pattern(4096, 1)).ok());
  REQUIRE(f.nvm.commit().ok());
  std::vector<u8> chunk(237);  // one RECEIVE DATA worth
  REQUIRE(f.store.read(1, 0, chunk).ok());
  const u64 before = f.dev.bytes_read;
  for (u32 off = 0; off + chunk.size() <= 4096; off += static_cast<u32>(chunk.size()))
    REQUIRE(f.store.read(1, off, chunk).ok());
  const u64 per_read = (f.dev.bytes_read - before) / (4096 / chunk.size());
  CHECK(per_read == chunk.size());
  const auto all = pattern(4096, 1);
  CHECK(chunk == std::vector<u8>(all.begin() + 16 * 237, all.begin() + 17 * 237));
}

TEST_CASE("object store refuses a table entry outside the heap with kCorruptData") {
  // Rows: an entry below the heap, one past its end, one wrapping around u32, one oversized.
  struct Row {
    u32 offset, size;
  };
  const Row rows[] = {{ObjectStore::kHeapOffset - 1, 4}, {0, 0}, {0xFFFFFFF0, 0x20}, {ObjectStore::kHeapOffset, ObjectStore::kMaxObjectSize + 1}};
  for (const auto& r0 : rows) {
    Fixture f;
    Row r = r0;
    if (r.offset == 0) {  // the "past the end" row depends on the image
      r.offset = f.nvm.data_size() - 4;
      r.size = 8;
    }
    CAPTURE(r.offset);
    f.write_entry(3, 0x55, r.offset, r.size);
    CHECK(f.store.find(0x55).error() == NvmError::kCorruptData);
    CHECK(f.store.at(0).error() == NvmError::kCorruptData);
    CHECK(f.store.check().error() == NvmError::kCorruptData);
  }
}

TEST_CASE("object store check finds overlapping objects and duplicate ids") {
  {
    Fixture f;
    f.write_entry(0, 1, ObjectStore::kHeapOffset, 100);
    f.write_entry(5, 2, ObjectStore::kHeapOffset + 99, 10);
    CHECK(f.store.check().error() == NvmError::kCorruptData);
  }
  {
    Fixture f;
    f.write_entry(0, 1, ObjectStore::kHeapOffset, 100);
    f.write_entry(5, 1, ObjectStore::kHeapOffset + 100, 10);
    CHECK(f.store.check().error() == NvmError::kCorruptData);
  }
  {
    Fixture f;
    f.write_entry(0, 1, ObjectStore::kHeapOffset, 100);
    f.write_entry(5, 2, ObjectStore::kHeapOffset + 100, 10);
    f.write_entry(9, 3, ObjectStore::kHeapOffset + 50, 0);  // zero-sized: overlaps nothing
    CHECK(f.store.check().ok());
  }
}

TEST_CASE("object store refuses a damaged store header") {
  // Rows: byte of the store header to change, expected error.
  struct Row {
    u32 at;
    NvmError error;
  };
  const Row rows[] = {{0, NvmError::kBadMagic},     {5, NvmError::kUnsupportedVersion}, {7, NvmError::kCorruptData},
                      {11, NvmError::kCorruptData}, {15, NvmError::kCorruptData},        {16, NvmError::kCorruptData}};
  for (const auto& r : rows) {
    CAPTURE(r.at);
    Fixture f;
    u8 b[1];
    REQUIRE(f.nvm.read(r.at, b).ok());
    b[0] ^= 0x40;
    REQUIRE(f.nvm.begin().ok());
    REQUIRE(f.nvm.write(r.at, b).ok());
    REQUIRE(f.nvm.commit().ok());
    CHECK(f.store.find(1).error() == r.error);
  }
}
