#include "card/os/nvm.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <string>
#include <vector>

using namespace scws;
using namespace scws::card;

namespace {

constexpr u32 kImage = 64 * 1024;
constexpr u32 kCapacity = 4096;
// Header fields (layout in card/os/nvm.hpp).
constexpr u32 kJournalCountAt = 28;
constexpr u32 kJournalUsedAt = 32;

u32 be32(const std::vector<u8>& v, u32 at) {
  return (u32{v[at]} << 24) | (u32{v[at + 1]} << 16) | (u32{v[at + 2]} << 8) | u32{v[at + 3]};
}

// A RAM image filled with garbage first, so format() must really write every byte it relies on.
struct Image {
  std::vector<u8> bytes;
  RamNvmDevice dev;
  explicit Image(u32 size = kImage) : bytes(size, 0xA5), dev(bytes) {}
  explicit Image(std::vector<u8> b) : bytes(std::move(b)), dev(bytes) {}
};

// Counts what the Nvm asks of its device.
class CountingDevice final : public NvmDevice {
 public:
  explicit CountingDevice(NvmDevice& inner) : inner_(inner) {}
  u32 size() const noexcept override { return inner_.size(); }
  Status<NvmError> read(u32 offset, MutableBytes out) noexcept override {
    ++reads;
    bytes_read += out.size();
    return inner_.read(offset, out);
  }
  Status<NvmError> write(u32 offset, Bytes data) noexcept override {
    ++writes;
    bytes_written += data.size();
    return inner_.write(offset, data);
  }
  Status<NvmError> sync() noexcept override {
    ++syncs;
    return inner_.sync();
  }
  void reset() { reads = writes = syncs = bytes_read = bytes_written = 0; }
  u64 reads = 0, writes = 0, syncs = 0, bytes_read = 0, bytes_written = 0;

 private:
  NvmDevice& inner_;
};

std::vector<u8> pattern(std::size_t n, u8 seed) {
  std::vector<u8> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<u8>(seed + i * 7);
  return v;
}

std::vector<u8> read_all(Nvm& nvm) {
  std::vector<u8> v(nvm.data_size());
  REQUIRE(nvm.read(0, v).ok());
  return v;
}

std::vector<u8> read_range(Nvm& nvm, u32 offset, u32 n) {
  std::vector<u8> v(n);
  REQUIRE(nvm.read(offset, v).ok());
  return v;
}

}  // namespace

TEST_CASE("nvm format lays out an image that mounts with a zeroed data area") {
  Image img;
  Nvm nvm(img.dev);
  REQUIRE(nvm.format(kCapacity).ok());
  CHECK(nvm.mounted());
  CHECK(nvm.data_size() == Nvm::data_size_for(kImage, kCapacity));
  CHECK(nvm.max_commit_capacity() == kCapacity);
  CHECK(std::memcmp(img.bytes.data(), "SCWSNVM1", 8) == 0);
  auto data = read_all(nvm);
  CHECK(std::all_of(data.begin(), data.end(), [](u8 b) { return b == 0; }));

  Nvm again(img.dev);
  REQUIRE(again.mount().ok());
  CHECK(again.data_size() == nvm.data_size());
  CHECK(again.max_commit_capacity() == kCapacity);
}

TEST_CASE("nvm format refuses a device too small for the commit capacity") {
  Image img(4096);
  Nvm nvm(img.dev);
  CHECK(nvm.format(4096).error() == NvmError::kOutOfRange);
  CHECK(nvm.format(4096 - Nvm::kHeaderSize).error() == NvmError::kOutOfRange);  // no room for data
  CHECK(nvm.format(Nvm::kMinCommitCapacity - 1).error() == NvmError::kOutOfRange);
  CHECK_FALSE(nvm.mounted());
  CHECK(nvm.format(Nvm::kMinCommitCapacity).ok());
}

TEST_CASE("nvm data size accounts for header, journal and one checksum per block") {
  // Rows: image size, capacity, expected data size (64 + C + 4 * ceil(data / 1024) + data == size).
  struct Row {
    u32 image, capacity, data;
  };
  const Row rows[] = {
      {65536, 4096, 61136},      // 61376 left: 60 table entries (240 bytes), 61136 of data (60 blocks)
      {4194304, 65536, 4112636},  // the default image: 4017 entries, 16068 bytes of table
      {2048, 64, 1912},          // 1920 left: 2 entries, 1912 bytes of data
  };
  for (const auto& r : rows) {
    const u32 d = Nvm::data_size_for(r.image, r.capacity);
    CHECK(d == r.data);
    const u32 blocks = (d + Nvm::kCrcBlockSize - 1) / Nvm::kCrcBlockSize;
    CHECK(Nvm::kHeaderSize + r.capacity + 4 * blocks + d <= r.image);
    CHECK(Nvm::kHeaderSize + r.capacity + 4 * (blocks + 1) + d >= r.image);
  }
  CHECK(Nvm::data_size_for(100, 64) == 0);
  CHECK(Nvm::data_size_for(0xFFFFFFFF, 0xFFFFFFF0) == 0);
}

TEST_CASE("nvm calls before format or mount fail with kNotMounted") {
  Image img;
  Nvm nvm(img.dev);
  u8 b[1];
  CHECK(nvm.read(0, b).error() == NvmError::kNotMounted);
  CHECK(nvm.write(0, b).error() == NvmError::kNotMounted);
  CHECK(nvm.begin().error() == NvmError::kNotMounted);
  CHECK(nvm.commit().error() == NvmError::kNotMounted);
  CHECK(nvm.abort().error() == NvmError::kNotMounted);
}

TEST_CASE("nvm refuses changes outside a transaction") {
  Image img;
  Nvm nvm(img.dev);
  REQUIRE(nvm.format(kCapacity).ok());
  const u8 b[2] = {1, 2};
  CHECK(nvm.write(0, b).error() == NvmError::kNotInTransaction);
  CHECK(nvm.fill(0, 10, 0xFF).error() == NvmError::kNotInTransaction);
  CHECK(nvm.commit().error() == NvmError::kNotInTransaction);
  CHECK(nvm.abort().error() == NvmError::kNotInTransaction);
  CHECK(read_range(nvm, 0, 2) == std::vector<u8>{0, 0});
}

TEST_CASE("nvm refuses a nested begin (JCRE 7.6: TransactionException.IN_PROGRESS)") {
  Image img;
  Nvm nvm(img.dev);
  REQUIRE(nvm.format(kCapacity).ok());
  REQUIRE(nvm.begin().ok());
  CHECK(nvm.begin().error() == NvmError::kTransactionInProgress);
  CHECK(nvm.in_transaction());
  REQUIRE(nvm.commit().ok());
  CHECK_FALSE(nvm.in_transaction());
  CHECK(nvm.begin().ok());
}

TEST_CASE("nvm reads inside a transaction see its writes and a commit keeps them across a remount") {
  Image img;
  Nvm nvm(img.dev);
  REQUIRE(nvm.format(kCapacity).ok());
  const auto a = pattern(100, 1);
  REQUIRE(nvm.begin().ok());
  REQUIRE(nvm.write(1000, a).ok());
  REQUIRE(nvm.fill(5000, 30, 0x5A).ok());
  CHECK(read_range(nvm, 1000, 100) == a);
  CHECK(read_range(nvm, 5000, 30) == std::vector<u8>(30, 0x5A));
  REQUIRE(nvm.commit().ok());
  CHECK(nvm.commits() == 1);

  Nvm again(img.dev);
  REQUIRE(again.mount().ok());
  CHECK(read_range(again, 1000, 100) == a);
  CHECK(read_range(again, 5000, 30) == std::vector<u8>(30, 0x5A));
  CHECK(read_range(again, 999, 1) == std::vector<u8>{0});
  CHECK(read_range(again, 1100, 1) == std::vector<u8>{0});
}

TEST_CASE("nvm abort rolls back every write of the transaction, overlapping ones included") {
  Image img;
  Nvm nvm(img.dev);
  REQUIRE(nvm.format(kCapacity).ok());
  REQUIRE(nvm.begin().ok());
  REQUIRE(nvm.write(2000, pattern(300, 9)).ok());  // straddles a checksum block boundary
  REQUIRE(nvm.commit().ok());
  const auto before = read_all(nvm);

  REQUIRE(nvm.begin().ok());
  REQUIRE(nvm.write(2100, pattern(50, 3)).ok());
  REQUIRE(nvm.write(2120, pattern(100, 4)).ok());  // overlaps the previous write
  REQUIRE(nvm.fill(2000, 400, 0xEE).ok());         // covers both
  REQUIRE(nvm.write(10, pattern(5, 1)).ok());
  CHECK(read_range(nvm, 2000, 400) == std::vector<u8>(400, 0xEE));
  const u32 generation = nvm.generation();
  REQUIRE(nvm.abort().ok());
  CHECK(nvm.generation() != generation);
  CHECK_FALSE(nvm.in_transaction());
  CHECK(nvm.aborts() == 1);
  CHECK(read_all(nvm) == before);

  Nvm again(img.dev);
  REQUIRE(again.mount().ok());
  CHECK(read_all(again) == before);
}

TEST_CASE("nvm mount rolls back a transaction left open by a reset") {
  Image img;
  {
    Nvm nvm(img.dev);
    REQUIRE(nvm.format(kCapacity).ok());
    REQUIRE(nvm.begin().ok());
    REQUIRE(nvm.write(0, pattern(64, 1)).ok());
    REQUIRE(nvm.commit().ok());
    REQUIRE(nvm.begin().ok());
    REQUIRE(nvm.write(32, pattern(64, 2)).ok());
    // the card is reset: no commit, no abort
  }
  CHECK(be32(img.bytes, kJournalCountAt) == 1);
  Nvm nvm(img.dev);
  REQUIRE(nvm.mount().ok());
  CHECK(read_range(nvm, 0, 64) == pattern(64, 1));
  CHECK(read_range(nvm, 64, 32) == std::vector<u8>(32, 0));
  CHECK(be32(img.bytes, kJournalCountAt) == 0);
  CHECK(be32(img.bytes, kJournalUsedAt) == 0);

  // The same Nvm object: mount() during an open transaction is a reset too.
  REQUIRE(nvm.begin().ok());
  REQUIRE(nvm.write(0, pattern(10, 7)).ok());
  REQUIRE(nvm.mount().ok());
  CHECK_FALSE(nvm.in_transaction());
  CHECK(read_range(nvm, 0, 64) == pattern(64, 1));
}

TEST_CASE("nvm refuses a write past the commit capacity, changes nothing and keeps the transaction open") {
  Image img;
  Nvm nvm(img.dev);
  REQUIRE(nvm.format(256).ok());
  REQUIRE(nvm.begin().ok());
  REQUIRE(nvm.write(0, pattern(100, 1)).ok());  // 100 + 12 + 16 = 128 of 256
  const u32 left = nvm.unused_commit_capacity();
  CHECK(left == 256 - 128);
  const auto big = pattern(200, 2);
  CHECK(nvm.write(1000, big).error() == NvmError::kCommitCapacityExceeded);
  CHECK(nvm.fill(3000, 200, 1).error() == NvmError::kCommitCapacityExceeded);
  CHECK(nvm.in_transaction());
  CHECK(nvm.unused_commit_capacity() == left);
  CHECK(read_range(nvm, 1000, 200) == std::vector<u8>(200, 0));
  CHECK(read_range(nvm, 3000, 200) == std::vector<u8>(200, 0));

  SUBCASE("the caller aborts: everything is rolled back") {
    REQUIRE(nvm.abort().ok());
    CHECK(read_range(nvm, 0, 100) == std::vector<u8>(100, 0));
  }
  SUBCASE("a commit still keeps what fitted") {
    REQUIRE(nvm.commit().ok());
    Nvm again(img.dev);
    REQUIRE(again.mount().ok());
    CHECK(read_range(again, 0, 100) == pattern(100, 1));
  }
}

TEST_CASE("nvm unused commit capacity counts entry overhead and newly dirtied blocks") {
  Image img;
  Nvm nvm(img.dev);
  REQUIRE(nvm.format(kCapacity).ok());
  CHECK(nvm.unused_commit_capacity() == kCapacity);
  REQUIRE(nvm.begin().ok());
  CHECK(nvm.unused_commit_capacity() == kCapacity);
  REQUIRE(nvm.write(10, pattern(20, 1)).ok());
  CHECK(nvm.unused_commit_capacity() == kCapacity - (20 + Nvm::kJournalEntryOverhead + Nvm::kTableUpdateCost));
  // Same checksum block again: no new table update to reserve.
  REQUIRE(nvm.write(100, pattern(4, 1)).ok());
  CHECK(nvm.unused_commit_capacity() ==
        kCapacity - (24 + 2 * Nvm::kJournalEntryOverhead + Nvm::kTableUpdateCost));
  // Two blocks (1023 and 1024 are in different blocks).
  REQUIRE(nvm.write(1023, pattern(2, 1)).ok());
  CHECK(nvm.unused_commit_capacity() ==
        kCapacity - (26 + 3 * Nvm::kJournalEntryOverhead + 2 * Nvm::kTableUpdateCost));
  REQUIRE(nvm.commit().ok());
  CHECK(nvm.unused_commit_capacity() == kCapacity);
}

TEST_CASE("nvm journals only the bytes a write changes") {
  Image img;
  Nvm nvm(img.dev);
  REQUIRE(nvm.format(kCapacity).ok());
  REQUIRE(nvm.begin().ok());
  REQUIRE(nvm.write(0, pattern(100, 1)).ok());
  REQUIRE(nvm.commit().ok());

  REQUIRE(nvm.begin().ok());
  REQUIRE(nvm.write(0, pattern(100, 1)).ok());  // identical
  REQUIRE(nvm.fill(200, 500, 0).ok());          // already zero
  CHECK(nvm.unused_commit_capacity() == kCapacity);
  auto p = pattern(100, 1);
  p[40] ^= 0xFF;
  p[42] ^= 0xFF;
  REQUIRE(nvm.write(0, p).ok());  // bytes 40..42 journalled
  CHECK(nvm.unused_commit_capacity() == kCapacity - (3 + Nvm::kJournalEntryOverhead + Nvm::kTableUpdateCost));
  CHECK(read_range(nvm, 0, 100) == p);
  REQUIRE(nvm.abort().ok());
  CHECK(read_range(nvm, 0, 100) == pattern(100, 1));
}

TEST_CASE("nvm refuses reads and writes outside the data area") {
  Image img;
  Nvm nvm(img.dev);
  REQUIRE(nvm.format(kCapacity).ok());
  const u32 end = nvm.data_size();
  u8 b[2] = {1, 2};
  CHECK(nvm.read(end - 2, b).ok());
  CHECK(nvm.read(end - 1, b).error() == NvmError::kOutOfRange);
  CHECK(nvm.read(0xFFFFFFFF, b).error() == NvmError::kOutOfRange);  // offset + length overflows u32
  REQUIRE(nvm.begin().ok());
  CHECK(nvm.write(end - 1, b).error() == NvmError::kOutOfRange);
  CHECK(nvm.write(0xFFFFFFFF, b).error() == NvmError::kOutOfRange);
  CHECK(nvm.fill(end, 1, 0).error() == NvmError::kOutOfRange);
  CHECK(nvm.fill(1, 0xFFFFFFFF, 0).error() == NvmError::kOutOfRange);
  CHECK(nvm.write(end - 2, b).ok());
  CHECK(nvm.in_transaction());
  REQUIRE(nvm.commit().ok());
}

TEST_CASE("nvm commit of a transaction dirtying more blocks than the RAM list keeps a valid checksum") {
  Image img(256 * 1024);
  Nvm nvm(img.dev);
  REQUIRE(nvm.format(16 * 1024).ok());
  const u32 blocks = 3 * Nvm::kDirtyBlockCache;
  REQUIRE(nvm.data_size() > blocks * Nvm::kCrcBlockSize + 8192);
  REQUIRE(nvm.begin().ok());
  for (u32 b = 0; b < blocks; ++b) {
    const u8 v[3] = {static_cast<u8>(b), 0x55, static_cast<u8>(b + 1)};
    REQUIRE(nvm.write(b * Nvm::kCrcBlockSize + 500, v).ok());
  }
  // One write across many blocks, partly over blocks already dirty.
  REQUIRE(nvm.fill(blocks * Nvm::kCrcBlockSize - 3000, 8000, 0x77).ok());
  const auto expected = read_all(nvm);
  REQUIRE(nvm.commit().ok());

  Nvm again(img.dev);
  REQUIRE(again.mount().ok());  // verifies every block against the table
  CHECK(read_all(again) == expected);
}

TEST_CASE("nvm commit rehashes the dirty blocks and the table, not the whole image") {
  Image img(4 * 1024 * 1024);
  CountingDevice counting(img.dev);
  Nvm nvm(counting);
  REQUIRE(nvm.format(65536).ok());
  REQUIRE(nvm.begin().ok());
  REQUIRE(nvm.write(2'000'000, pattern(16, 1)).ok());
  REQUIRE(nvm.write(3'000'000, pattern(16, 2)).ok());
  counting.reset();
  REQUIRE(nvm.commit().ok());
  // Two 1 KiB blocks plus the 16 KiB table plus journal trailers: far below the 4 MiB image.
  CHECK(counting.bytes_read < 24 * 1024);
  CHECK(counting.syncs == 1);

  counting.reset();
  Nvm again(counting);
  REQUIRE(again.mount().ok());
  CHECK(counting.bytes_read >= img.bytes.size() - 65536 - 64);  // mount does verify everything
  CHECK(read_range(again, 2'000'000, 16) == pattern(16, 1));
}

TEST_CASE("nvm syncs at format, at commit and after a mount-time rollback, not at abort or an empty commit") {
  Image img;
  CountingDevice counting(img.dev);
  Nvm nvm(counting);
  REQUIRE(nvm.format(kCapacity).ok());
  CHECK(counting.syncs == 1);
  REQUIRE(nvm.begin().ok());
  REQUIRE(nvm.commit().ok());
  CHECK(counting.syncs == 1);
  REQUIRE(nvm.begin().ok());
  REQUIRE(nvm.write(0, pattern(8, 1)).ok());
  REQUIRE(nvm.abort().ok());
  CHECK(counting.syncs == 1);
  REQUIRE(nvm.begin().ok());
  REQUIRE(nvm.write(0, pattern(8, 1)).ok());
  CHECK(counting.syncs == 1);
  REQUIRE(nvm.commit().ok());
  CHECK(counting.syncs == 2);
  REQUIRE(nvm.mount().ok());
  CHECK(counting.syncs == 2);  // nothing to roll back
  REQUIRE(nvm.begin().ok());
  REQUIRE(nvm.write(0, pattern(8, 2)).ok());
  REQUIRE(nvm.mount().ok());
  CHECK(counting.syncs == 3);
}

TEST_CASE("nvm unmounts on a device failure and mount recovers the last committed state") {
  Image img;
  {
    Nvm nvm(img.dev);
    REQUIRE(nvm.format(kCapacity).ok());
    REQUIRE(nvm.begin().ok());
    REQUIRE(nvm.write(0, pattern(10, 1)).ok());
    REQUIRE(nvm.commit().ok());
  }
  PowerLossNvmDevice failing(img.dev, 3);  // entry, header, data of the first write; then nothing
  Nvm nvm(failing);
  REQUIRE(nvm.mount().ok());
  REQUIRE(nvm.begin().ok());
  REQUIRE(nvm.write(0, pattern(10, 2)).ok());
  CHECK(nvm.write(100, pattern(10, 3)).error() == NvmError::kIo);
  CHECK_FALSE(nvm.mounted());
  CHECK_FALSE(nvm.in_transaction());
  CHECK(nvm.commit().error() == NvmError::kNotMounted);

  Nvm after(img.dev);
  REQUIRE(after.mount().ok());
  CHECK(read_range(after, 0, 10) == pattern(10, 1));
}

TEST_CASE("nvm mount refuses an image that is not an scws image, and leaves it as it is") {
  SUBCASE("blank") {
    Image img(kImage);
    Nvm nvm(img.dev);
    CHECK(nvm.mount().error() == NvmError::kBadMagic);
    CHECK(img.bytes == std::vector<u8>(kImage, 0xA5));
  }
  SUBCASE("smaller than the magic") {
    Image img(4);
    Nvm nvm(img.dev);
    CHECK(nvm.mount().error() == NvmError::kBadMagic);
  }
  SUBCASE("empty") {
    Image img(0);
    Nvm nvm(img.dev);
    CHECK(nvm.mount().error() == NvmError::kBadMagic);
  }
}

namespace {

// A formatted image with some committed content and, when asked, a transaction left pending (as
// after a power loss): the journal then holds entries that mount must roll back.
std::vector<u8> make_image(bool pending) {
  Image img;
  Nvm nvm(img.dev);
  REQUIRE(nvm.format(kCapacity).ok());
  REQUIRE(nvm.begin().ok());
  REQUIRE(nvm.write(100, pattern(200, 1)).ok());
  REQUIRE(nvm.commit().ok());
  if (pending) {
    REQUIRE(nvm.begin().ok());
    REQUIRE(nvm.write(150, pattern(40, 2)).ok());
    REQUIRE(nvm.write(7000, pattern(40, 3)).ok());
  }
  return img.bytes;
}

NvmError mount_error(std::vector<u8> bytes) {
  Image img(std::move(bytes));
  Nvm nvm(img.dev);
  auto r = nvm.mount();
  return r.ok() ? NvmError::kNotMounted : r.error();  // kNotMounted stands for "it mounted"
}

}  // namespace

TEST_CASE("nvm mount refuses a flipped byte anywhere in the header") {
  const auto good = make_image(false);
  REQUIRE(mount_error(good) == NvmError::kNotMounted);
  for (u32 at = 0; at < Nvm::kHeaderSize; ++at) {
    auto bad = good;
    bad[at] ^= 0x10;
    CAPTURE(at);
    const NvmError e = mount_error(bad);
    if (at < 8) {
      CHECK(e == NvmError::kBadMagic);
    } else if (at < 10) {
      CHECK(e == NvmError::kUnsupportedVersion);
    } else {
      CHECK(e == NvmError::kCorruptHeader);
    }
  }
}

TEST_CASE("nvm mount refuses a device whose size differs from the header's") {
  auto img = make_image(false);
  auto longer = img;
  longer.resize(img.size() + 1024);
  CHECK(mount_error(longer) == NvmError::kSizeMismatch);
  auto truncated = img;
  truncated.resize(img.size() - 1);
  CHECK(mount_error(truncated) == NvmError::kSizeMismatch);
  truncated.resize(40);  // not even a whole header, but the magic is there
  CHECK(mount_error(truncated) == NvmError::kSizeMismatch);
}

TEST_CASE("nvm mount refuses a flipped byte in the data area or the checksum table, and changes nothing") {
  const auto good = make_image(false);
  const u32 data_offset = kImage - Nvm::data_size_for(kImage, kCapacity);
  const u32 table_offset = Nvm::kHeaderSize + kCapacity;
  // Rows: image offsets to damage (content written, untouched zeros, last byte, table entries).
  const u32 offsets[] = {data_offset + 100, data_offset + 150, data_offset + 30000, kImage - 1, table_offset,
                         table_offset + 7, data_offset - 1};
  for (u32 at : offsets) {
    CAPTURE(at);
    auto bad = good;
    bad[at] ^= 0x01;
    Image img(bad);
    Nvm nvm(img.dev);
    CHECK(nvm.mount().error() == NvmError::kCorruptData);
    CHECK(img.bytes == bad);
  }
}

TEST_CASE("nvm mount refuses a flipped byte in a pending journal entry and writes nothing") {
  const auto pending = make_image(true);
  REQUIRE(be32(pending, kJournalCountAt) == 2);
  const u32 used = be32(pending, kJournalUsedAt);
  REQUIRE(used == 2 * (40 + Nvm::kJournalEntryOverhead));
  for (u32 at = Nvm::kHeaderSize; at < Nvm::kHeaderSize + used; at += 5) {
    CAPTURE(at);
    auto bad = pending;
    bad[at] ^= 0x04;
    Image img(bad);
    Nvm nvm(img.dev);
    CHECK(nvm.mount().error() == NvmError::kCorruptJournal);
    CHECK(img.bytes == bad);
  }
  // The undamaged pending image rolls back cleanly.
  Image img(pending);
  Nvm nvm(img.dev);
  REQUIRE(nvm.mount().ok());
  CHECK(read_range(nvm, 100, 200) == pattern(200, 1));
  CHECK(read_range(nvm, 7000, 40) == std::vector<u8>(40, 0));
}

TEST_CASE("nvm mount ignores journal bytes past the recorded entries") {
  auto committed = make_image(false);  // the journal area holds the stale entry of the commit
  for (u32 at = Nvm::kHeaderSize; at < Nvm::kHeaderSize + kCapacity; at += 97) committed[at] ^= 0xFF;
  CHECK(mount_error(committed) == NvmError::kNotMounted);

  auto pending = make_image(true);
  const u32 used = be32(pending, kJournalUsedAt);
  for (u32 at = Nvm::kHeaderSize + used; at < Nvm::kHeaderSize + kCapacity; at += 13) pending[at] ^= 0xFF;
  Image img(pending);
  Nvm nvm(img.dev);
  REQUIRE(nvm.mount().ok());
  CHECK(read_range(nvm, 100, 200) == pattern(200, 1));
}

TEST_CASE("nvm mount ignores an entry torn before the header recorded it") {
  Image img;
  {
    Nvm nvm(img.dev);
    REQUIRE(nvm.format(kCapacity).ok());
  }
  // A write costs: journal entry (1 device write for a small one), header, data. Cut at the header.
  PowerLossNvmDevice cut(img.dev, 1);
  Nvm nvm(cut);
  REQUIRE(nvm.mount().ok());
  REQUIRE(nvm.begin().ok());
  CHECK(nvm.write(0, pattern(10, 1)).error() == NvmError::kIo);
  REQUIRE(cut.power_cut());
  CHECK(be32(img.bytes, Nvm::kHeaderSize + 10 + 4) == 10);  // the entry's trailer is there...
  CHECK(be32(img.bytes, kJournalCountAt) == 0);   // ...but not counted
  Nvm after(img.dev);
  REQUIRE(after.mount().ok());
  CHECK(read_range(after, 0, 10) == std::vector<u8>(10, 0));
}

TEST_CASE("describe names every nvm error distinctly") {
  std::set<std::string> seen;
  for (u32 e = 0; e <= static_cast<u32>(NvmError::kNotMounted); ++e) {
    const char* text = describe(static_cast<NvmError>(e));
    REQUIRE(text != nullptr);
    CHECK(std::strlen(text) > 5);
    seen.insert(text);
  }
  CHECK(seen.size() == static_cast<u32>(NvmError::kNotMounted) + 1);
}

TEST_CASE("power loss device fails the Nth write and every later one, changing nothing, reads still work") {
  std::vector<u8> bytes(16, 0);
  RamNvmDevice ram(bytes);
  PowerLossNvmDevice dev(ram, 2);
  const u8 one[1] = {1};
  CHECK(dev.write(0, one).ok());
  CHECK(dev.write(1, one).ok());
  CHECK_FALSE(dev.power_cut());
  CHECK(dev.sync().ok());
  CHECK(dev.write(2, one).error() == NvmError::kIo);
  CHECK(dev.power_cut());
  CHECK(dev.write(3, one).error() == NvmError::kIo);
  CHECK(dev.sync().error() == NvmError::kIo);
  CHECK(dev.writes() == 4);
  CHECK(bytes == std::vector<u8>{1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  u8 out[4];
  CHECK(dev.read(0, out).ok());
  CHECK(out[1] == 1);
  CHECK(dev.size() == 16);
}

TEST_CASE("ram device refuses access outside its storage") {
  std::vector<u8> bytes(16, 0);
  RamNvmDevice ram(bytes);
  u8 out[4];
  CHECK(ram.read(12, out).ok());
  CHECK(ram.read(13, out).error() == NvmError::kOutOfRange);
  CHECK(ram.read(0xFFFFFFFE, out).error() == NvmError::kOutOfRange);
  CHECK(ram.write(13, out).error() == NvmError::kOutOfRange);
  CHECK(ram.write(16, Bytes{}).ok());
  CHECK(ram.contents().size() == 16);
}
