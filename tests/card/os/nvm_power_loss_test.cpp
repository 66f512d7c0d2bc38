// Power loss at every device write of a scenario (docs/architecture.md, "Tests"; littlefs-style): after each
// reboot the image mounts and every transaction is either entirely there or entirely absent.
#include <doctest/doctest.h>

#include <limits>
#include <map>
#include <string>
#include <vector>

#include "card/os/nvm.hpp"

using namespace scws;
using namespace scws::card;

namespace {

constexpr u32 kImage = 128 * 1024;
constexpr u32 kCapacity = 2048;

// What the store should hold: id -> contents.
using Model = std::map<u32, std::vector<u8>>;

constexpr u32 kA = 0x10000001;
constexpr u32 kB = 0x10000002;
constexpr u32 kC = 0x10000003;
constexpr u32 kD = 0x10000004;
constexpr u32 kE = 0x10000005;
constexpr u32 kF = 0x10000006;  // large: spans 48 checksum blocks
constexpr u32 kG = 0x01000001;  // made during setup, before any cut

std::vector<u8> pattern(std::size_t n, u8 seed) {
  std::vector<u8> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<u8>(seed + i * 13 + (i >> 8));
  return v;
}

Model contents(ObjectStore& store) {
  Model m;
  for (u32 i = 0;; ++i) {
    auto info = store.at(i);
    if (!info) {
      REQUIRE(info.error() == NvmError::kNotFound);
      break;
    }
    std::vector<u8> bytes(info->size);
    REQUIRE(store.read(info->id, 0, bytes).ok());
    REQUIRE(m.count(info->id) == 0);
    m[info->id] = bytes;
  }
  return m;
}

// Runs the scenario until it ends or the power goes. states receives the model after every
// transaction (committed or aborted); states[0] is the starting state. Returns false when an
// operation failed with kIo (the power cut); any other unexpected error fails the test.
class Scenario {
 public:
  Scenario(ObjectStore& store, Model start) : store_(store), nvm_(store.nvm()), model_(std::move(start)) {
    states.push_back(model_);
  }

  bool run() {
    // T1: create several objects, fill some of them.
    if (!begin()) return false;
    if (!create(kA, 300) || !create(kB, 50) || !create(kC, 1200) || !create(kF, 48 * 1024)) return false;
    if (!write(kA, 0, pattern(300, 1)) || !write(kB, 0, pattern(50, 2)) || !write(kC, 100, pattern(900, 3)))
      return false;
    if (!commit()) return false;

    // T2: several objects written, one removed, one resized by re-creation.
    if (!begin()) return false;
    if (!write(kA, 10, pattern(50, 4)) || !write(kC, 1000, pattern(200, 5)) || !remove(kB)) return false;
    {
      std::vector<u8> old = model_[kA];
      if (!remove(kA) || !create(kA, 500) || !write(kA, 0, old) || !write(kA, 300, pattern(200, 6))) return false;
    }
    if (!write(kG, 0, pattern(16, 7))) return false;
    if (!commit()) return false;

    // T3: aborted after creating, writing and removing.
    if (!begin()) return false;
    if (!create(kD, 100) || !write(kD, 0, pattern(100, 8)) || !write(kC, 0, pattern(1200, 9)) || !remove(kC))
      return false;
    if (!abort()) return false;

    // T4: overflows the commit capacity; the caller aborts.
    if (!begin()) return false;
    bool overflowed = false;
    for (u32 i = 0; i < 64 && !overflowed; ++i) {
      auto r = store_.write(kF, i * 700, pattern(200, static_cast<u8>(10 + i)));
      if (!r) {
        if (r.error() == NvmError::kIo) return false;
        CHECK(r.error() == NvmError::kCommitCapacityExceeded);
        CHECK(nvm_.in_transaction());
        overflowed = true;
      }
    }
    CHECK(overflowed);
    if (!abort()) return false;

    // T5: space freed by a removal is reused; a new object lands in the gap.
    if (!begin()) return false;
    if (!remove(kC) || !create(kD, 100) || !write(kD, 0, pattern(100, 11)) || !create(kE, 1000) ||
        !write(kE, 500, pattern(500, 12)))
      return false;
    if (!commit()) return false;

    // T6: one byte in each of 40 checksum blocks: more dirty blocks than the Nvm keeps in RAM.
    if (!begin()) return false;
    for (u32 i = 0; i < 40; ++i)
      if (!write(kF, i * 1024 + 5, std::vector<u8>{static_cast<u8>(i + 1)})) return false;
    if (!commit()) return false;
    return true;
  }

  std::vector<Model> states;

 private:
  bool ok(const Status<NvmError>& r) {
    if (r) return true;
    if (r.error() != NvmError::kIo) FAIL_CHECK("unexpected error: " << std::string(describe(r.error())));
    return false;
  }
  bool begin() { return ok(nvm_.begin()); }
  bool commit() {
    if (!ok(nvm_.commit())) return false;
    states.push_back(model_);
    return true;
  }
  bool abort() {
    if (!ok(nvm_.abort())) return false;
    model_ = states.back();
    states.push_back(model_);
    return true;
  }
  bool create(u32 id, u32 size) {
    auto r = store_.create(id, size);
    if (!r) return ok(fail(r.error()));
    model_[id] = std::vector<u8>(size, 0);
    return true;
  }
  bool remove(u32 id) {
    if (!ok(store_.remove(id))) return false;
    model_.erase(id);
    return true;
  }
  bool write(u32 id, u32 offset, const std::vector<u8>& data) {
    if (!ok(store_.write(id, offset, data))) return false;
    std::copy(data.begin(), data.end(), model_[id].begin() + offset);
    return true;
  }

  ObjectStore& store_;
  Nvm& nvm_;
  Model model_;
};

// A formatted image with a store holding one object: the state every run starts from.
std::vector<u8> starting_image(Model& start) {
  std::vector<u8> bytes(kImage, 0xA5);
  RamNvmDevice dev(bytes);
  Nvm nvm(dev);
  REQUIRE(nvm.format(kCapacity).ok());
  ObjectStore store(nvm);
  REQUIRE(nvm.begin().ok());
  REQUIRE(store.format().ok());
  REQUIRE(store.create(kG, 64).ok());
  REQUIRE(store.write(kG, 0, pattern(64, 99)).ok());
  REQUIRE(nvm.commit().ok());
  start = contents(store);
  return bytes;
}

// Mounts the image after a power loss and returns what the store holds.
Model reboot(std::vector<u8>& bytes) {
  RamNvmDevice dev(bytes);
  Nvm nvm(dev);
  auto m = nvm.mount();
  REQUIRE_MESSAGE(m.ok(), std::string(m.ok() ? "" : describe(m.error())));
  ObjectStore store(nvm);
  REQUIRE(store.check().ok());
  return contents(store);
}

}  // namespace

TEST_CASE("nvm power loss at every write of a multi-object scenario leaves each transaction whole or absent") {
  Model start;
  const std::vector<u8> initial = starting_image(start);

  // Reference run, no cut: counts the device writes and records the state after each transaction.
  std::vector<u8> ref = initial;
  RamNvmDevice ref_dev(ref);
  PowerLossNvmDevice counting(ref_dev, std::numeric_limits<u64>::max());
  std::vector<Model> states;
  u64 total_writes = 0;
  {
    Nvm nvm(counting);
    REQUIRE(nvm.mount().ok());
    ObjectStore store(nvm);
    Scenario s(store, start);
    REQUIRE(s.run());
    states = s.states;
    total_writes = counting.writes();
    CHECK(contents(store) == states.back());
  }
  REQUIRE(states.size() == 7);
  CHECK(states[3] == states[2]);  // T3 aborted
  CHECK(states[4] == states[2]);  // T4 aborted after overflowing
  CHECK(states[2].at(kA).size() == 500);
  CHECK(states[2].count(kB) == 0);
  CHECK(reboot(ref) == states.back());
  MESSAGE("scenario device writes: " << total_writes);
  REQUIRE(total_writes > 100);

  u64 rollbacks_cut = 0;
  for (u64 cut = 0; cut < total_writes; ++cut) {
    CAPTURE(cut);
    std::vector<u8> bytes = initial;
    RamNvmDevice inner(bytes);
    PowerLossNvmDevice dev(inner, cut);
    std::size_t done = 0;
    {
      Nvm nvm(dev);
      REQUIRE(nvm.mount().ok());
      ObjectStore store(nvm);
      Scenario s(store, start);
      CHECK_FALSE(s.run());
      CHECK(dev.power_cut());
      done = s.states.size() - 1;  // transactions finished before the cut
    }
    REQUIRE(done + 1 < states.size());

    // A second power loss during the recovery itself, at each of its writes, must not matter.
    if (cut % 5 == 0) {
      for (u64 recovery_cut = 0;; ++recovery_cut) {
        std::vector<u8> copy = bytes;
        RamNvmDevice copy_inner(copy);
        PowerLossNvmDevice copy_dev(copy_inner, recovery_cut);
        Nvm nvm(copy_dev);
        const bool mounted = nvm.mount().ok();
        CHECK(mounted != copy_dev.power_cut());
        const Model after = reboot(copy);
        CHECK((after == states[done] || after == states[done + 1]));
        if (mounted) break;
        ++rollbacks_cut;
      }
    }

    const Model after = reboot(bytes);
    const bool old_state = after == states[done];
    const bool new_state = after == states[done + 1];
    CHECK_MESSAGE((old_state || new_state), "transaction " << done + 1 << " is half there");

    // The recovered image keeps working.
    RamNvmDevice dev2(bytes);
    Nvm nvm(dev2);
    REQUIRE(nvm.mount().ok());
    ObjectStore store(nvm);
    REQUIRE(nvm.begin().ok());
    REQUIRE(store.write(kG, 0, pattern(8, 1)).ok());
    REQUIRE(nvm.commit().ok());
    REQUIRE(nvm.mount().ok());
  }
  CHECK(rollbacks_cut > 0);
}

TEST_CASE("nvm format cut short never mounts as a valid image") {
  Model start;
  const std::vector<u8> initial = starting_image(start);
  u64 total_writes = 0;
  {
    std::vector<u8> bytes = initial;
    RamNvmDevice inner(bytes);
    PowerLossNvmDevice dev(inner, std::numeric_limits<u64>::max());
    Nvm nvm(dev);
    REQUIRE(nvm.format(kCapacity).ok());
    total_writes = dev.writes();
  }
  for (u64 cut = 0; cut < total_writes; ++cut) {
    CAPTURE(cut);
    std::vector<u8> bytes = initial;
    RamNvmDevice inner(bytes);
    PowerLossNvmDevice dev(inner, cut);
    Nvm nvm(dev);
    CHECK(nvm.format(kCapacity).error() == NvmError::kIo);
    Nvm after(inner);
    auto m = after.mount();
    if (cut == 0) {
      CHECK(m.ok());  // nothing was written: the old image is intact
      ObjectStore store(after);
      CHECK(contents(store) == start);
    } else {
      CHECK(m.error() == NvmError::kBadMagic);
    }
  }
}

namespace {

// Objects far larger than the commit capacity (2 KiB here), created and filled in one transaction
// through the fresh-region path (Nvm::claim_fresh), mixed with journalled changes.
class FreshScenario {
 public:
  FreshScenario(ObjectStore& store, Model start) : store_(store), nvm_(store.nvm()), model_(std::move(start)) {
    states.push_back(model_);
  }

  bool run() {
    // T1: a 40 KiB object filled in 4 KiB writes, and a journalled write to an old object.
    if (!ok(nvm_.begin()) || !create(kF, 40 * 1024)) return false;
    for (u32 at = 0; at < 40 * 1024; at += 4096)
      if (!write(kF, at, pattern(4096, static_cast<u8>(at >> 12)))) return false;
    if (!write(kG, 0, pattern(16, 3)) || !commit()) return false;
    // T2: another large object, aborted.
    if (!ok(nvm_.begin()) || !create(kE, 20 * 1024) || !write(kE, 0, pattern(20 * 1024, 5))) return false;
    if (!abort()) return false;
    // T3: the large object removed, a small one in its place (journalled: freed in this transaction).
    if (!ok(nvm_.begin()) || !remove(kF) || !create(kD, 300) || !write(kD, 0, pattern(300, 6)) || !commit())
      return false;
    // T4: a large object over space freed by the committed T3.
    if (!ok(nvm_.begin()) || !create(kE, 50 * 1024) || !write(kE, 100, pattern(30 * 1024, 7)) || !commit())
      return false;
    return true;
  }

  std::vector<Model> states;

 private:
  bool ok(const Status<NvmError>& r) {
    if (r) return true;
    if (r.error() != NvmError::kIo) FAIL_CHECK("unexpected error: " << std::string(describe(r.error())));
    return false;
  }
  bool commit() {
    if (!ok(nvm_.commit())) return false;
    states.push_back(model_);
    return true;
  }
  bool abort() {
    if (!ok(nvm_.abort())) return false;
    model_ = states.back();
    states.push_back(model_);
    return true;
  }
  bool create(u32 id, u32 size) {
    auto r = store_.create(id, size);
    if (!r) return ok(fail(r.error()));
    model_[id] = std::vector<u8>(size, 0);
    return true;
  }
  bool remove(u32 id) {
    if (!ok(store_.remove(id))) return false;
    model_.erase(id);
    return true;
  }
  bool write(u32 id, u32 offset, const std::vector<u8>& data) {
    if (!ok(store_.write(id, offset, data))) return false;
    std::copy(data.begin(), data.end(), model_[id].begin() + offset);
    return true;
  }

  ObjectStore& store_;
  Nvm& nvm_;
  Model model_;
};

}  // namespace

TEST_CASE("nvm power loss at every write while filling objects larger than the commit capacity") {
  Model start;
  const std::vector<u8> initial = starting_image(start);
  std::vector<u8> ref = initial;
  RamNvmDevice ref_dev(ref);
  PowerLossNvmDevice counting(ref_dev, std::numeric_limits<u64>::max());
  std::vector<Model> states;
  u64 total_writes = 0;
  {
    Nvm nvm(counting);
    REQUIRE(nvm.mount().ok());
    ObjectStore store(nvm);
    FreshScenario s(store, start);
    REQUIRE(s.run());
    states = s.states;
    total_writes = counting.writes();
  }
  REQUIRE(states.size() == 5);
  CHECK(states[2] == states[1]);  // T2 aborted
  CHECK(states[4].at(kE).size() == 50 * 1024);
  CHECK(reboot(ref) == states.back());

  for (u64 cut = 0; cut < total_writes; ++cut) {
    CAPTURE(cut);
    std::vector<u8> bytes = initial;
    RamNvmDevice inner(bytes);
    PowerLossNvmDevice dev(inner, cut);
    std::size_t done = 0;
    {
      Nvm nvm(dev);
      REQUIRE(nvm.mount().ok());
      ObjectStore store(nvm);
      FreshScenario s(store, start);
      CHECK_FALSE(s.run());
      done = s.states.size() - 1;
    }
    REQUIRE(done + 1 < states.size());
    if (cut % 7 == 0) {  // a second loss during the recovery (the fresh blocks' rechecksumming too)
      for (u64 recovery_cut = 0;; ++recovery_cut) {
        std::vector<u8> copy = bytes;
        RamNvmDevice copy_inner(copy);
        PowerLossNvmDevice copy_dev(copy_inner, recovery_cut);
        Nvm nvm(copy_dev);
        const bool mounted = nvm.mount().ok();
        const Model after = reboot(copy);
        CHECK((after == states[done] || after == states[done + 1]));
        if (mounted) break;
      }
    }
    const Model after = reboot(bytes);
    CHECK_MESSAGE((after == states[done] || after == states[done + 1]), "transaction " << done + 1 << " is half there");
  }
}
