// The authorised remote nodes (docs/protocol.md section 16.8): the IPv4 networks and TCP port ranges
// the handset's filter lets a client channel reach. The admin applet replaces and reads the list
// (PUT / READ REMOTE NODES, docs/protocol.md 16.6); the handset defences read it through their own
// command.
//
// Object kRemoteNodesObject (card/defence range), big-endian: version u8 (1), count u8 (0..kMax),
// then per node: IPv4 address (4), prefix length u8 (0..32), first port u16, last port u16
// (first <= last). Without the object the list is empty.
#pragma once

#include <array>
#include <cstddef>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "card/os/nvm.hpp"

namespace scws::card {

inline constexpr u32 kRemoteNodesObject = 0x04000030;

struct RemoteNode {
  std::array<u8, 4> address{};
  u8 prefix = 32;
  u16 first_port = 0;
  u16 last_port = 0;
};

struct RemoteNodes {
  static constexpr u8 kVersion = 1;
  static constexpr std::size_t kMax = 16;
  static constexpr std::size_t kNodeSize = 9;
  static constexpr std::size_t kHeaderSize = 2;
  static constexpr std::size_t kMaxEncodedSize = kHeaderSize + kMax * kNodeSize;
  static_assert(kMaxEncodedSize == 146, "docs/protocol.md section 16.8 gives this layout");

  std::array<RemoteNode, kMax> nodes{};
  u8 count = 0;
};

// Encoded size of n: kHeaderSize + count * kNodeSize.
[[nodiscard]] std::size_t encoded_size(const RemoteNodes& n) noexcept;
// Writes encoded_size(n) bytes into out and returns the count; 0 when out is smaller.
std::size_t encode(const RemoteNodes& n, MutableBytes out) noexcept;
// false (n unchanged) unless the bytes are exactly one valid version-1 list.
bool decode(Bytes in, RemoteNodes& n) noexcept;

// Inside the caller's transaction, or its own when none is open.
Status<NvmError> store_remote_nodes(ObjectStore& objects, const RemoteNodes& n) noexcept;
// An empty list when the image has none; kCorruptData when the object does not decode.
Status<NvmError> load_remote_nodes(ObjectStore& objects, RemoteNodes& n) noexcept;

}  // namespace scws::card
