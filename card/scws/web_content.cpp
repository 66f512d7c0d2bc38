#include "card/scws/web_content.hpp"

#include <cstring>

#include "base/crc32.hpp"

namespace scws::card {
namespace {

using L = WebContentLimits;
constexpr u8 kMagic[4] = {'W', 'E', 'B', '1'};
constexpr u32 kVersion = 1;
// Entry field offsets (see the header).
constexpr u32 kUsedAt = 0;
constexpr u32 kPathLengthAt = 1;
constexpr u32 kTypeLengthAt = 2;
constexpr u32 kObjectAt = 4;
constexpr u32 kLengthAt = 8;
constexpr u32 kEtagAt = 12;
constexpr u32 kPathAt = L::kEntryHeaderSize;
constexpr u32 kTypeAt = L::kEntryHeaderSize + L::kMaxPath;
// Body bytes copied per NVM write by web_content_put (stack buffer-free: the body is in caller memory,
// written in slices so each device write stays a page-like size).
constexpr std::size_t kPutSlice = 4096;

constexpr u32 entry_offset(u32 slot) noexcept { return static_cast<u32>(L::kIndexHeaderSize + slot * L::kEntrySize); }

struct EntryHead {
  u8 used = 0;
  u8 path_length = 0;
  u8 type_length = 0;
  u32 object = 0;
  u32 length = 0;
  u32 etag = 0;
};

Result<EntryHead, NvmError> read_entry_head(ObjectStore& store, u32 slot) noexcept {
  u8 h[L::kEntryHeaderSize];
  SCWS_TRY(store.read(kWebIndexObject, entry_offset(slot), MutableBytes(h, sizeof h)));
  EntryHead e{h[kUsedAt], h[kPathLengthAt], h[kTypeLengthAt], load_be32(h + kObjectAt), load_be32(h + kLengthAt),
              load_be32(h + kEtagAt)};
  if (e.path_length > L::kMaxPath || e.type_length > L::kMaxContentType) e.used = 0;  // damaged: skip
  return e;
}

Status<ContentError> check_index(ObjectStore& store) noexcept {
  auto info = store.find(kWebIndexObject);
  if (!info) return fail(info.error() == NvmError::kNotFound ? ContentError::kNoStore : to_content_error(info.error()));
  if (info->size != L::kIndexSize) return fail(ContentError::kNoStore);
  u8 h[8];
  auto r = store.read(kWebIndexObject, 0, MutableBytes(h, sizeof h));
  if (!r) return fail(to_content_error(r.error()));
  if (std::memcmp(h, kMagic, 4) != 0 || ((u32{h[4]} << 8) | h[5]) != kVersion ||
      ((u32{h[6]} << 8) | h[7]) != L::kMaxResources)
    return fail(ContentError::kNoStore);
  return {};
}

struct Lookup {
  u32 slot = 0;
  bool found = false;
  u32 free_slot = L::kMaxResources;  // first free slot, kMaxResources = none
  EntryHead head{};
};

Result<Lookup, ContentError> lookup(ObjectStore& store, std::string_view path) noexcept {
  SCWS_TRY(check_index(store));
  Lookup l;
  u8 stored[L::kMaxPath];
  for (u32 slot = 0; slot < L::kMaxResources; ++slot) {
    auto e = read_entry_head(store, slot);
    if (!e) return fail(to_content_error(e.error()));
    if (e->used == 0) {
      if (l.free_slot == L::kMaxResources) l.free_slot = slot;
      continue;
    }
    if (e->path_length != path.size()) continue;
    auto p = store.read(kWebIndexObject, entry_offset(slot) + kPathAt, MutableBytes(stored, path.size()));
    if (!p) return fail(to_content_error(p.error()));
    if (std::memcmp(stored, path.data(), path.size()) == 0) {
      l.slot = slot;
      l.found = true;
      l.head = *e;
      return l;
    }
  }
  return l;
}

// Frees the resource in `slot` (its body object and its entry).
Status<NvmError> drop_slot(ObjectStore& store, u32 slot, const EntryHead& head) noexcept {
  if (head.object != 0) {
    auto r = store.remove(head.object);
    if (!r && r.error() != NvmError::kNotFound) return r;
  }
  u8 zero[L::kEntryHeaderSize] = {};
  return store.write(kWebIndexObject, entry_offset(slot), Bytes(zero, sizeof zero));
}

Status<NvmError> write_entry(ObjectStore& store, u32 slot, std::string_view path, std::string_view type, u32 object,
                             u32 length, u32 etag) noexcept {
  u8 e[L::kEntrySize] = {};
  e[kUsedAt] = 1;
  e[kPathLengthAt] = static_cast<u8>(path.size());
  e[kTypeLengthAt] = static_cast<u8>(type.size());
  store_be32(e + kObjectAt, object);
  store_be32(e + kLengthAt, length);
  store_be32(e + kEtagAt, etag);
  std::memcpy(e + kPathAt, path.data(), path.size());
  std::memcpy(e + kTypeAt, type.data(), type.size());
  return store.write(kWebIndexObject, entry_offset(slot), Bytes(e, sizeof e));
}

// Prepares `slot` for a new body of `length` bytes at `path`: the old resource there (same path)
// goes, a body object is created. Returns the object id (0 for an empty body).
Result<u32, ContentError> prepare(ObjectStore& store, std::string_view path, std::string_view type, u32 length,
                                  u32& slot_out) noexcept {
  if (!valid_resource_path(path, L::kMaxPath)) return fail(ContentError::kInvalidPath);
  if (!valid_content_type(type)) return fail(ContentError::kInvalidContentType);
  auto l = lookup(store, path);
  if (!l) return fail(l.error());
  u32 slot = l->slot;
  if (l->found) {
    auto d = drop_slot(store, slot, l->head);
    if (!d) return fail(to_content_error(d.error()));
  } else {
    if (l->free_slot == L::kMaxResources) return fail(ContentError::kIndexFull);
    slot = l->free_slot;
  }
  slot_out = slot;
  if (length == 0) return u32{0};
  const u32 object = kWebBodyObjectBase + slot;
  auto c = store.create(object, length);
  if (!c) return fail(to_content_error(c.error()));
  return object;
}

}  // namespace

ContentError to_content_error(NvmError e) noexcept {
  switch (e) {
    case NvmError::kNoSpace:
    case NvmError::kTableFull:
      return ContentError::kNoSpace;
    case NvmError::kCommitCapacityExceeded:
      return ContentError::kCommitCapacity;
    case NvmError::kNotFound:
      return ContentError::kNotFound;
    case NvmError::kBadMagic:
      return ContentError::kNoStore;
    case NvmError::kIo:
    case NvmError::kOutOfRange:
    case NvmError::kNotInTransaction:
    case NvmError::kTransactionInProgress:
    case NvmError::kUnsupportedVersion:
    case NvmError::kSizeMismatch:
    case NvmError::kCorruptHeader:
    case NvmError::kCorruptJournal:
    case NvmError::kCorruptData:
    case NvmError::kExists:
    case NvmError::kNotMounted:
      return ContentError::kNvm;
  }
  return ContentError::kNvm;
}

const char* describe(ContentError e) noexcept {
  switch (e) {
    case ContentError::kInvalidPath:
      return "invalid resource path";
    case ContentError::kInvalidContentType:
      return "invalid content type";
    case ContentError::kIndexFull:
      return "resource index full";
    case ContentError::kNotFound:
      return "resource not found";
    case ContentError::kNoStore:
      return "no web content index";
    case ContentError::kNoSpace:
      return "NVM full";
    case ContentError::kCommitCapacity:
      return "commit capacity exceeded";
    case ContentError::kNvm:
      return "NVM failure";
  }
  return "?";
}

bool valid_content_type(std::string_view t) noexcept {
  if (t.empty() || t.size() > L::kMaxContentType) return false;
  for (char ch : t) {
    const u8 c = static_cast<u8>(ch);
    if (!((c >= 0x20 && c <= 0x7E) || c == '\t')) return false;
  }
  return t.front() != ' ' && t.back() != ' ';
}

bool valid_resource_path(std::string_view path, std::size_t max_length) noexcept {
  if (path.empty() || path.size() > max_length || path[0] != '/') return false;
  std::size_t seg_begin = 1;
  for (std::size_t i = 1; i <= path.size(); ++i) {
    if (i < path.size()) {
      const u8 c = static_cast<u8>(path[i]);
      if (c < 0x20 || c == 0x7F || c == '\\' || c == '?' || c == '#') return false;
    }
    if (i == path.size() || path[i] == '/') {
      const std::string_view seg = path.substr(seg_begin, i - seg_begin);
      if (seg == "." || seg == "..") return false;
      seg_begin = i + 1;
    }
  }
  return true;
}

std::string_view format_etag(u32 etag, char (&out)[kEtagTextSize]) noexcept {
  constexpr char kHex[] = "0123456789abcdef";
  out[0] = '"';
  for (int i = 0; i < 8; ++i) out[1 + i] = kHex[(etag >> (28 - 4 * i)) & 0xF];
  out[9] = '"';
  return {out, kEtagTextSize};
}

Status<ContentError> web_content_format(ObjectStore& store) noexcept {
  if (check_index(store)) return {};
  TransactionScope txn(store.nvm());
  if (auto b = txn.begin(); !b) return fail(to_content_error(b.error()));
  auto existing = store.find(kWebIndexObject);
  if (existing) {
    if (auto r = store.remove(kWebIndexObject); !r) return fail(to_content_error(r.error()));
  }
  auto c = store.create(kWebIndexObject, L::kIndexSize);
  if (!c) return fail(to_content_error(c.error()));
  u8 h[L::kIndexHeaderSize] = {};
  std::memcpy(h, kMagic, 4);
  h[5] = static_cast<u8>(kVersion);
  h[6] = static_cast<u8>(L::kMaxResources >> 8);
  h[7] = static_cast<u8>(L::kMaxResources);
  if (auto w = store.write(kWebIndexObject, 0, Bytes(h, sizeof h)); !w) return fail(to_content_error(w.error()));
  if (auto r = txn.commit(); !r) return fail(to_content_error(r.error()));
  return {};
}

Status<ContentError> web_content_put(ObjectStore& store, std::string_view path, std::string_view content_type,
                                     Bytes body) noexcept {
  if (body.size() > ObjectStore::kMaxObjectSize) return fail(ContentError::kNoSpace);
  TransactionScope txn(store.nvm());
  if (auto b = txn.begin(); !b) return fail(to_content_error(b.error()));
  u32 slot = 0;
  auto object = prepare(store, path, content_type, static_cast<u32>(body.size()), slot);
  if (!object) return fail(object.error());
  for (std::size_t at = 0; at < body.size(); at += kPutSlice) {
    const std::size_t n = body.size() - at < kPutSlice ? body.size() - at : kPutSlice;
    auto w = store.write(*object, static_cast<u32>(at), body.subspan(at, n));
    if (!w) return fail(to_content_error(w.error()));
  }
  auto e = write_entry(store, slot, path, content_type, *object, static_cast<u32>(body.size()), crc32(body));
  if (!e) return fail(to_content_error(e.error()));
  if (auto r = txn.commit(); !r) return fail(to_content_error(r.error()));
  return {};
}

Status<ContentError> WebContentUpload::begin(ObjectStore& store, std::string_view path, std::string_view content_type,
                                             u32 length) noexcept {
  store_ = nullptr;
  if (!store.nvm().in_transaction()) return fail(ContentError::kNvm);
  u32 slot = 0;
  auto object = prepare(store, path, content_type, length, slot);
  if (!object) return fail(object.error());
  store_ = &store;
  slot_ = slot;
  length_ = length;
  written_ = 0;
  crc_ = 0;
  path_length_ = static_cast<u8>(path.size());
  type_length_ = static_cast<u8>(content_type.size());
  std::memcpy(path_, path.data(), path.size());
  std::memcpy(type_, content_type.data(), content_type.size());
  return {};
}

Status<ContentError> WebContentUpload::append(Bytes data) noexcept {
  if (store_ == nullptr) return fail(ContentError::kNvm);
  if (u64{written_} + data.size() > length_) return fail(ContentError::kNoSpace);
  if (data.empty()) return {};
  auto w = store_->write(kWebBodyObjectBase + slot_, written_, data);
  if (!w) return fail(to_content_error(w.error()));
  crc_ = crc32(data, crc_);
  written_ += static_cast<u32>(data.size());
  return {};
}

Status<ContentError> WebContentUpload::finish() noexcept {
  if (store_ == nullptr || written_ != length_) return fail(ContentError::kNvm);
  auto e = write_entry(*store_, slot_, std::string_view(path_, path_length_), std::string_view(type_, type_length_),
                       length_ == 0 ? 0 : kWebBodyObjectBase + slot_, length_, crc_);
  store_ = nullptr;
  if (!e) return fail(to_content_error(e.error()));
  return {};
}

Status<ContentError> web_content_remove(ObjectStore& store, std::string_view path) noexcept {
  auto l = lookup(store, path);
  if (!l) return fail(l.error());
  if (!l->found) return fail(ContentError::kNotFound);
  TransactionScope txn(store.nvm());
  if (auto b = txn.begin(); !b) return fail(to_content_error(b.error()));
  if (auto d = drop_slot(store, l->slot, l->head); !d) return fail(to_content_error(d.error()));
  if (auto r = txn.commit(); !r) return fail(to_content_error(r.error()));
  return {};
}

Result<WebResource, ContentError> web_content_find(ObjectStore& store, std::string_view path) noexcept {
  if (path.empty() || path.size() > L::kMaxPath) return fail(ContentError::kNotFound);
  auto l = lookup(store, path);
  if (!l) return fail(l.error());
  if (!l->found) return fail(ContentError::kNotFound);
  WebResource r;
  r.index = l->slot;
  r.body_object = l->head.length == 0 ? 0 : l->head.object;
  r.length = l->head.length;
  r.etag = l->head.etag;
  auto t = store.read(kWebIndexObject, entry_offset(l->slot) + kTypeAt,
                      MutableBytes(reinterpret_cast<u8*>(r.content_type), l->head.type_length));
  if (!t) return fail(to_content_error(t.error()));
  r.content_type_length = l->head.type_length;
  return r;
}

Result<std::size_t, ContentError> web_content_read(ObjectStore& store, const WebResource& resource, u32 offset,
                                                   MutableBytes out) noexcept {
  if (offset >= resource.length || resource.body_object == 0) return std::size_t{0};
  // The entry must still describe this body: a resource replaced (its new body object may take the
  // same id) or removed while a response streams it ends that response rather than mixing bodies.
  if (resource.index >= L::kMaxResources) return fail(ContentError::kNotFound);
  auto e = read_entry_head(store, resource.index);
  if (!e) return fail(to_content_error(e.error()));
  if (e->used == 0 || e->object != resource.body_object || e->length != resource.length || e->etag != resource.etag)
    return fail(ContentError::kNotFound);
  const std::size_t n = out.size() < resource.length - offset ? out.size() : resource.length - offset;
  auto r = store.read(resource.body_object, offset, out.first(n));
  if (!r) return fail(to_content_error(r.error()));
  return n;
}

std::size_t web_content_count(ObjectStore& store) noexcept {
  if (!check_index(store)) return 0;
  std::size_t n = 0;
  for (u32 slot = 0; slot < L::kMaxResources; ++slot) {
    auto e = read_entry_head(store, slot);
    if (!e) return n;
    if (e->used != 0) ++n;
  }
  return n;
}

}  // namespace scws::card
