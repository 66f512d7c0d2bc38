// The SCWS resource store: static web content in NVM (path -> content type, ETag, body), served by
// the on-card HTTP server and built by provisioning (sim/ calls web_content_put on a RAM NvmDevice
// to compile an image) or, later, by remote administration. Card-resident: no heap, errors as
// values; bodies of any size (1 MiB+) are streamed from NVM in pieces, never held in RAM.
//
// On-NVM format (ObjectStore ids in the SCWS range 0x10xxxxxx, integers big-endian):
//
//   index object kIndexObject, kIndexHeaderSize + kMaxResources * kEntrySize bytes:
//     header  [0, 16)   magic "WEB1", version u16 (1), max resources u16, zero padding
//     entry i [16 + i * kEntrySize, ...):
//       +0   used u8 (0 = free slot, 1 = resource)
//       +1   path length u8 (1..kMaxPath)
//       +2   content-type length u8 (1..kMaxContentType)
//       +3   zero
//       +4   body object id u32 (kBodyObjectBase + i)
//       +8   body length u32
//       +12  ETag value u32: CRC-32 (base/crc32.hpp) of the body, computed when it is stored;
//            served as the strong entity-tag "\"xxxxxxxx\"" (8 lower-case hex digits)
//       +16  path bytes, zero padded to kMaxPath (decoded form: "/a/b.html", no "." segments)
//       +16+kMaxPath  content-type bytes, zero padded to kMaxContentType
//   body object kBodyObjectBase + i: the body bytes of entry i (absent when the body is empty).
//
// Updates happen inside a transaction: the put/remove functions open and commit their own when none
// is open, or work inside the caller's (which then commits or aborts). A body object created in the
// transaction is filled through the NVM's fresh-region path (card/os/nvm.hpp), so a body larger than
// the commit capacity can be stored in one transaction; only the index entry is journalled.
// Replacing a resource removes its old body object first; the new one lands elsewhere when there
// is room (space freed in the same transaction is filled journalled, see ObjectStore).
#pragma once

#include <cstddef>
#include <string_view>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "card/os/nvm.hpp"

namespace scws::card {

enum class ContentError : u8 {
  kInvalidPath,         // empty, not starting with "/", too long, control bytes, "." / ".." segments, "\"
  kInvalidContentType,  // empty, too long, or a byte not allowed in a field value
  kIndexFull,           // kMaxResources resources already
  kNotFound,            // no such resource
  kNoStore,             // no index (web_content_format not run) or a damaged one
  kNoSpace,             // NVM full
  kCommitCapacity,      // the transaction's journal is full (a replaced body freed in the same transaction)
  kNvm,                 // any other NVM failure (I/O, corruption)
};
ContentError to_content_error(NvmError e) noexcept;
const char* describe(ContentError e) noexcept;

inline constexpr u32 kWebIndexObject = 0x10000001;
inline constexpr u32 kWebBodyObjectBase = 0x10010000;

struct WebContentLimits {
  static constexpr std::size_t kMaxResources = 64;
  static constexpr std::size_t kMaxPath = 120;
  static constexpr std::size_t kMaxContentType = 56;
  static constexpr std::size_t kIndexHeaderSize = 16;
  static constexpr std::size_t kEntryHeaderSize = 16;
  static constexpr std::size_t kEntrySize = kEntryHeaderSize + kMaxPath + kMaxContentType;
  static constexpr std::size_t kIndexSize = kIndexHeaderSize + kMaxResources * kEntrySize;
  static_assert(kMaxPath <= 255 && kMaxContentType <= 255, "lengths are stored as u8");
  static_assert(kMaxResources <= 0xFFFF);
};

// A found resource: what the server needs to answer, without its body.
struct WebResource {
  u32 index = 0;       // entry slot
  u32 body_object = 0; // 0 when the body is empty
  u32 length = 0;
  u32 etag = 0;        // CRC-32 of the body
  char content_type[WebContentLimits::kMaxContentType] = {};
  u8 content_type_length = 0;
  [[nodiscard]] std::string_view type() const noexcept { return {content_type, content_type_length}; }
};

// Writes the strong entity-tag of `etag` ("\"0123abcd\"", 10 characters) into out; returns it.
inline constexpr std::size_t kEtagTextSize = 10;
std::string_view format_etag(u32 etag, char (&out)[kEtagTextSize]) noexcept;

// Creates the empty index (inside the caller's transaction, or its own). kExists-like: an existing
// index is left as it is (ok).
Status<ContentError> web_content_format(ObjectStore& store) noexcept;

// Stores (or replaces) the resource at `path` (decoded form, see ContentError::kInvalidPath).
Status<ContentError> web_content_put(ObjectStore& store, std::string_view path, std::string_view content_type,
                                     Bytes body) noexcept;

// Streaming variant for bodies that arrive in pieces (remote administration): begin reserves the
// body object of `length` bytes and the index slot (the entry stays unused, so the resource is not
// served, until finish); append writes the next bytes; finish checks that `length` bytes came,
// records the CRC-32 ETag and publishes the entry. All of it inside ONE transaction the caller
// opened (kNvm when none is open); abort it on any error.
class WebContentUpload {
 public:
  Status<ContentError> begin(ObjectStore& store, std::string_view path, std::string_view content_type,
                             u32 length) noexcept;
  Status<ContentError> append(Bytes data) noexcept;
  Status<ContentError> finish() noexcept;

 private:
  ObjectStore* store_ = nullptr;
  u32 slot_ = 0;
  u32 length_ = 0;
  u32 written_ = 0;
  u32 crc_ = 0;
  u8 path_length_ = 0;
  u8 type_length_ = 0;
  char path_[WebContentLimits::kMaxPath] = {};
  char type_[WebContentLimits::kMaxContentType] = {};
};

Status<ContentError> web_content_remove(ObjectStore& store, std::string_view path) noexcept;

// Looks `path` up (exact match of the decoded path). kNotFound, kNoStore, kNvm.
Result<WebResource, ContentError> web_content_find(ObjectStore& store, std::string_view path) noexcept;

// Copies body bytes [offset, offset + out.size()) of a found resource (clamped to its length);
// returns the count (0 at the end). kNotFound when the resource was replaced or removed since it
// was found (its index entry no longer names this body, length and ETag): a response never mixes
// two bodies.
Result<std::size_t, ContentError> web_content_read(ObjectStore& store, const WebResource& resource, u32 offset,
                                                   MutableBytes out) noexcept;

// Number of resources stored (0 without an index).
std::size_t web_content_count(ObjectStore& store) noexcept;

// Path validation shared with web_users (protection-set prefixes): see ContentError::kInvalidPath.
bool valid_resource_path(std::string_view path, std::size_t max_length) noexcept;
// Content-type validation (see ContentError::kInvalidContentType).
bool valid_content_type(std::string_view content_type) noexcept;

}  // namespace scws::card
