// Fuzz target: command APDU parser (ISO 7816-4 5.1). Whatever parses must re-encode to the same bytes
// (short and extended forms are both canonical), and the data view must lie inside the input.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "apdu/command_apdu.hpp"

using namespace scws;
using namespace scws::apdu;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const Bytes in(data, size);
  auto c = parse_command_apdu(in);
  if (!c.ok()) return 0;
  if (!c->data.empty() && (c->data.data() < data || c->data.data() + c->data.size() > data + size))
    __builtin_trap();
  static u8 out[4 + 3 + 65535 + 2 + 16];
  const std::size_t n = encode_command_apdu(*c, out);
  if (n != size || std::memcmp(out, data, size) != 0) __builtin_trap();
  return 0;
}
