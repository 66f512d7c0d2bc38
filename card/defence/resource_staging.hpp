// The staging object of PUT RESOURCE (docs/protocol.md section 16.6): a resource's body arrives in
// several APDUs, each its own transaction, into this object; the publishing command copies it into
// the resource store (card/defence/content_control.hpp) and removes the object in one transaction.
// Until then the store is untouched, so a power cut anywhere leaves the old resource served, and a
// half-staged body is never published.
//
// Object kStagingObject (card/defence range), big-endian:
//   +0 version u8 (1), +1 path length u8 (1..kMaxPath), +2 content-type length u8 (1..kMaxContentType),
//   +3 00, +4 length u32 (the body's announced size), +8 received u32 (bytes staged so far),
//   +12 path (kMaxPath bytes, zero padded), +132 content type (kMaxContentType, zero padded),
//   +188 the body (length bytes).
#pragma once

#include <cstddef>
#include <string_view>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "card/defence/content_control.hpp"
#include "card/os/nvm.hpp"

namespace scws::card {

inline constexpr u32 kStagingObject = 0x04000020;

struct StagedResource {
  static constexpr u8 kVersion = 1;
  static constexpr std::size_t kMaxPath = ContentControl::kMaxPath;
  static constexpr std::size_t kMaxContentType = ContentControl::kMaxContentType;
  static constexpr std::size_t kHeaderSize = 12 + kMaxPath + kMaxContentType;
  static_assert(kHeaderSize == 188, "docs/protocol.md section 16.6 gives this layout");
  static constexpr u32 kMaxLength = ObjectStore::kMaxObjectSize - kHeaderSize;

  u32 length = 0;
  u32 received = 0;
  char path[kMaxPath] = {};
  u8 path_length = 0;
  char content_type[kMaxContentType] = {};
  u8 content_type_length = 0;

  [[nodiscard]] std::string_view path_view() const noexcept { return {path, path_length}; }
  [[nodiscard]] std::string_view type_view() const noexcept { return {content_type, content_type_length}; }
  [[nodiscard]] bool complete() const noexcept { return received == length; }
};

// Replaces any staged resource by an empty one of `length` bytes at path with content_type. Inside
// the caller's transaction. kOutOfRange for an empty or too long path or type, or a length above
// kMaxLength.
Status<NvmError> staging_begin(ObjectStore& objects, std::string_view path, std::string_view content_type,
                               u32 length) noexcept;
// Appends the next bytes. Inside the caller's transaction. kNotFound with nothing staged,
// kOutOfRange when they would pass the announced length (nothing written then).
Status<NvmError> staging_append(ObjectStore& objects, Bytes data) noexcept;
// The staged resource's head. kNotFound with nothing staged, kCorruptData when the object does not parse.
Status<NvmError> staging_read_head(ObjectStore& objects, StagedResource& head) noexcept;
// Body bytes [offset, offset + out.size()) of the staged resource.
Status<NvmError> staging_read_body(ObjectStore& objects, u32 offset, MutableBytes out) noexcept;

}  // namespace scws::card
