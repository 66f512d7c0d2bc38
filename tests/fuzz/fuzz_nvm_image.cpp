// Arbitrary bytes as an NVM image: mount() must refuse or accept without crashing or reading out of
// bounds; an accepted image must survive an ObjectStore walk and a small transaction, and a
// committed image must mount again.
//
// Input: one mode byte, then the image. Mode bit 0 set: the header CRC is recomputed before
// mounting, so the fuzzer reaches the checks behind it (sizes, journal count and length, entries)
// instead of stopping at the checksum.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/crc32.hpp"
#include "card/os/nvm.hpp"

using namespace scws;
using namespace scws::card;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0 || size > (1U << 20)) return 0;
  const u8 mode = data[0];
  std::vector<u8> image(size - 1);
  for (std::size_t i = 1; i < size; ++i) image[i - 1] = data[i];
  constexpr u32 kCrcAt = Nvm::kHeaderSize - 4;
  if ((mode & 1) != 0 && image.size() >= Nvm::kHeaderSize) {
    const u32 crc = crc32(Bytes(image.data(), kCrcAt));
    for (u32 i = 0; i < 4; ++i) image[kCrcAt + i] = static_cast<u8>(crc >> (24 - 8 * i));
  }
  RamNvmDevice dev(image);
  Nvm nvm(dev);
  if (!nvm.mount()) return 0;

  ObjectStore store(nvm);
  (void)store.check();
  (void)store.free_bytes();
  u8 buf[64];
  for (u32 i = 0; i < 16; ++i) {
    auto info = store.at(i);
    if (!info) break;
    const u32 n = info->size < sizeof buf ? info->size : static_cast<u32>(sizeof buf);
    (void)store.read(info->id, 0, MutableBytes(buf, n));
    (void)store.read(info->id, info->size, MutableBytes(buf, 1));  // just past the end: refused
    (void)store.find(info->id);
  }

  // An aborted transaction, then a committed one.
  if (!nvm.begin()) __builtin_trap();
  if (store.create(0x7F000001, 40)) (void)store.write(0x7F000001, 4, Bytes(buf, 16));
  (void)store.remove(0x7F000001);
  if (!nvm.abort()) __builtin_trap();
  if (!nvm.begin()) __builtin_trap();
  if (auto first = store.at(0)) (void)store.write(first->id, 0, Bytes(buf, first->size < 8 ? first->size : 8));
  (void)store.create(0x7F000002, 24);
  (void)nvm.fill(0, nvm.data_size() < 8 ? nvm.data_size() : 8, 0x5A);
  if (!nvm.commit()) __builtin_trap();

  Nvm again(dev);
  if (!again.mount()) __builtin_trap();  // what was committed must mount
  return 0;
}
