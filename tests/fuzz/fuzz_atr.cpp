// Fuzz target: parse_atr (card/os/atr.hpp) on arbitrary bytes. An accepted ATR must be at most 33
// bytes, and its historical bytes must lie inside it.
#include <cstddef>
#include <cstdint>

#include "card/os/atr.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace scws;
  const Bytes atr(data, size);
  auto info = card::parse_atr(atr);
  if (info.ok()) {
    if (size > card::kMaxAtrSize || size < 2) __builtin_trap();
    if (!info->historical.empty() &&
        (info->historical.data() < data || info->historical.data() + info->historical.size() > data + size))
      __builtin_trap();
    if ((info->protocols & ~1u) != 0 && !info->has_tck) __builtin_trap();
  }
  return 0;
}
