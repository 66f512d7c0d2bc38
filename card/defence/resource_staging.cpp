#include "card/defence/resource_staging.hpp"

namespace scws::card {
namespace {

constexpr u32 kLengthAt = 4;
constexpr u32 kReceivedAt = 8;
constexpr u32 kPathAt = 12;
constexpr u32 kTypeAt = kPathAt + StagedResource::kMaxPath;
static_assert(kTypeAt + StagedResource::kMaxContentType == StagedResource::kHeaderSize);

}  // namespace

Status<NvmError> staging_begin(ObjectStore& objects, std::string_view path, std::string_view content_type,
                               u32 length) noexcept {
  if (path.empty() || path.size() > StagedResource::kMaxPath || content_type.empty() ||
      content_type.size() > StagedResource::kMaxContentType || length > StagedResource::kMaxLength)
    return fail(NvmError::kOutOfRange);
  if (!objects.nvm().in_transaction()) return fail(NvmError::kNotInTransaction);
  auto existing = objects.find(kStagingObject);
  if (existing) {
    SCWS_TRY(objects.remove(kStagingObject));
  } else if (existing.error() != NvmError::kNotFound) {
    return fail(existing.error());
  }
  auto created = objects.create(kStagingObject, static_cast<u32>(StagedResource::kHeaderSize + length));
  if (!created) return fail(created.error());
  u8 h[StagedResource::kHeaderSize] = {};
  h[0] = StagedResource::kVersion;
  h[1] = static_cast<u8>(path.size());
  h[2] = static_cast<u8>(content_type.size());
  store_be32(h + kLengthAt, length);
  store_be32(h + kReceivedAt, 0);
  for (std::size_t i = 0; i < path.size(); ++i) h[kPathAt + i] = static_cast<u8>(path[i]);
  for (std::size_t i = 0; i < content_type.size(); ++i) h[kTypeAt + i] = static_cast<u8>(content_type[i]);
  return objects.write(kStagingObject, 0, Bytes(h, sizeof h));
}

Status<NvmError> staging_read_head(ObjectStore& objects, StagedResource& head) noexcept {
  auto found = objects.find(kStagingObject);
  if (!found) return fail(found.error());
  if (found->size < StagedResource::kHeaderSize) return fail(NvmError::kCorruptData);
  u8 h[StagedResource::kHeaderSize];
  SCWS_TRY(objects.read(kStagingObject, 0, MutableBytes(h, sizeof h)));
  StagedResource s;
  s.path_length = h[1];
  s.content_type_length = h[2];
  s.length = load_be32(h + kLengthAt);
  s.received = load_be32(h + kReceivedAt);
  if (h[0] != StagedResource::kVersion || s.path_length == 0 || s.path_length > StagedResource::kMaxPath ||
      s.content_type_length == 0 || s.content_type_length > StagedResource::kMaxContentType ||
      s.received > s.length || found->size != StagedResource::kHeaderSize + u64{s.length})
    return fail(NvmError::kCorruptData);
  for (std::size_t i = 0; i < s.path_length; ++i) s.path[i] = static_cast<char>(h[kPathAt + i]);
  for (std::size_t i = 0; i < s.content_type_length; ++i) s.content_type[i] = static_cast<char>(h[kTypeAt + i]);
  head = s;
  return {};
}

Status<NvmError> staging_append(ObjectStore& objects, Bytes data) noexcept {
  if (!objects.nvm().in_transaction()) return fail(NvmError::kNotInTransaction);
  StagedResource head;
  SCWS_TRY(staging_read_head(objects, head));
  if (u64{head.received} + data.size() > head.length) return fail(NvmError::kOutOfRange);
  if (data.empty()) return {};
  SCWS_TRY(objects.write(kStagingObject, static_cast<u32>(StagedResource::kHeaderSize + head.received), data));
  u8 received[4];
  store_be32(received, head.received + static_cast<u32>(data.size()));
  return objects.write(kStagingObject, kReceivedAt, Bytes(received, sizeof received));
}

Status<NvmError> staging_read_body(ObjectStore& objects, u32 offset, MutableBytes out) noexcept {
  return objects.read(kStagingObject, static_cast<u32>(StagedResource::kHeaderSize + offset), out);
}

}  // namespace scws::card
