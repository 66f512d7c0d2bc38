// CRC-32 (IEEE 802.3, reflected, poly 0xEDB88320): integrity of NVM images and journal entries.
#pragma once

#include "base/bytes.hpp"

namespace scws {

u32 crc32(Bytes data, u32 seed = 0) noexcept;

}  // namespace scws
