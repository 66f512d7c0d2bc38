#include "tls/credentials.hpp"

#include "tls/mbedtls_card_config.h"
#include "mbedtls/platform_util.h"

namespace scws::tls {

namespace {

// Runs f inside the caller's transaction, or inside one of its own.
template <class F>
Status<CredentialError> in_transaction(card::ObjectStore& store, F&& f) noexcept {
  card::TransactionScope txn(store.nvm());
  if (!txn.begin().ok() || !f() || !txn.commit().ok()) return fail(CredentialError::kStorage);
  return {};
}

Status<CredentialError> put_object(card::ObjectStore& store, u32 id, Bytes data) noexcept {
  if (data.empty()) return fail(CredentialError::kMalformed);
  if (data.size() > kMaxCredentialObject) return fail(CredentialError::kTooLarge);
  return in_transaction(store, [&]() noexcept {
    if (store.find(id).ok() && !store.remove(id).ok()) return false;
    if (!store.create(id, static_cast<u32>(data.size())).ok()) return false;
    return store.write(id, 0, data).ok();
  });
}

// Every element of a back-to-back DER list is a SEQUENCE (a certificate).
bool is_der_list(Bytes der) noexcept {
  if (der.empty()) return false;
  while (!der.empty()) {
    const std::size_t n = der_element_length(der);
    if (n == 0 || der[0] != 0x30) return false;
    der = der.subspan(n);
  }
  return true;
}

struct PskTable {
  u8 bytes[kPskTableMax];
  std::size_t size = 0;
  ~PskTable() { mbedtls_platform_zeroize(bytes, sizeof bytes); }
};

Result<std::size_t, CredentialError> read_table(card::ObjectStore& store, PskTable& t) noexcept {
  auto info = store.find(kPskTableId);
  if (!info.ok()) {
    if (info.error() == card::NvmError::kNotFound) return fail(CredentialError::kNotFound);
    return fail(CredentialError::kStorage);
  }
  if (info->size > sizeof t.bytes || info->size == 0) return fail(CredentialError::kMalformed);
  if (!store.read(kPskTableId, 0, MutableBytes(t.bytes, info->size)).ok()) return fail(CredentialError::kStorage);
  t.size = info->size;
  // Validate the framing once, so the constant-time walk below never goes out of bounds.
  ByteReader r(Bytes(t.bytes, t.size));
  const u8 count = r.u8_();
  if (count > kMaxPskEntries) return fail(CredentialError::kMalformed);
  for (u8 i = 0; i < count; ++i) {
    const u8 id_len = r.u8_();
    r.take(id_len);
    const u8 key_len = r.u8_();
    r.take(key_len);
    if (id_len == 0 || id_len > kMaxPskIdentity || key_len == 0 || key_len > kMaxPskKey) return fail(CredentialError::kMalformed);
  }
  if (!r.ok() || !r.at_end()) return fail(CredentialError::kMalformed);
  return std::size_t{count};
}

}  // namespace

std::size_t der_element_length(Bytes der) noexcept {
  ByteReader r(der);
  r.u8_();  // tag (single-byte tags only: certificates and keys use none other at the top)
  const u8 first = r.u8_();
  std::size_t len = 0;
  if (first < 0x80) {
    len = first;
  } else {
    const u8 octets = first & 0x7F;
    if (octets == 0 || octets > 3) return 0;  // indefinite, or larger than a card object
    for (u8 i = 0; i < octets; ++i) len = (len << 8) | r.u8_();
  }
  if (!r.ok() || len > r.remaining()) return 0;
  return r.position() + len;
}

Status<CredentialError> put_server_chain(card::ObjectStore& store, Bytes der_chain) noexcept {
  if (!is_der_list(der_chain)) return fail(CredentialError::kMalformed);
  return put_object(store, kServerChainId, der_chain);
}

Status<CredentialError> put_server_key(card::ObjectStore& store, Bytes der_key) noexcept {
  if (der_key.empty() || der_element_length(der_key) != der_key.size() || der_key[0] != 0x30) return fail(CredentialError::kMalformed);
  return put_object(store, kServerKeyId, der_key);
}

Status<CredentialError> put_issuer_ca(card::ObjectStore& store, Bytes der_certs) noexcept {
  if (!is_der_list(der_certs)) return fail(CredentialError::kMalformed);
  return put_object(store, kIssuerCaId, der_certs);
}

Status<CredentialError> put_psk(card::ObjectStore& store, Bytes identity, Bytes key) noexcept {
  if (identity.empty() || key.empty()) return fail(CredentialError::kMalformed);
  if (identity.size() > kMaxPskIdentity || key.size() > kMaxPskKey) return fail(CredentialError::kTooLarge);
  PskTable old;
  std::size_t count = 0;
  auto existing = read_table(store, old);
  if (existing.ok()) {
    count = *existing;
  } else if (existing.error() != CredentialError::kNotFound) {
    return fail(existing.error());
  }
  PskTable fresh;
  ByteWriter w(MutableBytes(fresh.bytes, sizeof fresh.bytes));
  w.u8_(0);
  u8 written = 0;
  bool replaced = false;
  ByteReader r(Bytes(old.bytes, old.size));
  r.u8_();
  for (std::size_t i = 0; i < count; ++i) {
    const Bytes id = r.take(r.u8_());
    const Bytes k = r.take(r.u8_());
    const bool same = bytes_equal(id, identity);
    w.u8_(static_cast<u8>(id.size()));
    w.bytes(id);
    w.u8_(static_cast<u8>(same ? key.size() : k.size()));
    w.bytes(same ? key : k);
    replaced = replaced || same;
    ++written;
  }
  if (!replaced) {
    if (count >= kMaxPskEntries) return fail(CredentialError::kTooLarge);
    w.u8_(static_cast<u8>(identity.size()));
    w.bytes(identity);
    w.u8_(static_cast<u8>(key.size()));
    w.bytes(key);
    ++written;
  }
  if (!w.ok()) return fail(CredentialError::kTooLarge);
  w.patch(0, written);
  return put_object(store, kPskTableId, w.written());
}

Result<std::size_t, CredentialError> find_psk(card::ObjectStore& store, Bytes identity, MutableBytes key_out) noexcept {
  if (key_out.size() < kMaxPskKey) return fail(CredentialError::kTooLarge);
  mbedtls_platform_zeroize(key_out.data(), key_out.size());  // every failure leaves it so
  auto info = store.find(kPskTableId);
  if (!info.ok()) return fail(info.error() == card::NvmError::kNotFound ? CredentialError::kNotFound : CredentialError::kStorage);
  const u32 size = info->size;
  if (size == 0 || size > kPskTableMax) return fail(CredentialError::kMalformed);
  u8 count = 0;
  if (!store.read(kPskTableId, 0, MutableBytes(&count, 1)).ok()) return fail(CredentialError::kStorage);
  if (count > kMaxPskEntries) return fail(CredentialError::kMalformed);
  // One entry at a time from NVM: this runs inside a PSK handshake, so the stack holds one entry
  // (98 bytes), not the table (1.6 KB). Every entry is read and compared, and the matching key is
  // copied with a mask, so neither branches nor memory accesses depend on which entry matches (the
  // entries' lengths are the table's public framing).
  struct Entry {
    u8 bytes[1 + kMaxPskIdentity + 1 + kMaxPskKey];
    ~Entry() { mbedtls_platform_zeroize(bytes, sizeof bytes); }
  } e;
  auto malformed = [&](CredentialError why) {
    mbedtls_platform_zeroize(key_out.data(), key_out.size());
    return fail(why);
  };
  u32 pos = 1;
  u8 found = 0;
  std::size_t key_len = 0;
  for (u8 i = 0; i < count; ++i) {
    // [id_len][identity][key_len] first, then the key, each checked against the object's size.
    if (size - pos < 2) return malformed(CredentialError::kMalformed);
    if (!store.read(kPskTableId, pos, MutableBytes(e.bytes, 1)).ok()) return malformed(CredentialError::kStorage);
    const std::size_t id_len = e.bytes[0];
    if (id_len == 0 || id_len > kMaxPskIdentity || size - pos < 2 + id_len) return malformed(CredentialError::kMalformed);
    if (!store.read(kPskTableId, pos + 1, MutableBytes(e.bytes + 1, id_len + 1)).ok()) return malformed(CredentialError::kStorage);
    const std::size_t k_len = e.bytes[1 + id_len];
    if (k_len == 0 || k_len > kMaxPskKey || size - pos < 2 + id_len + k_len) return malformed(CredentialError::kMalformed);
    u8* const k = e.bytes + 2 + id_len;
    if (!store.read(kPskTableId, static_cast<u32>(pos + 2 + id_len), MutableBytes(k, k_len)).ok())
      return malformed(CredentialError::kStorage);
    pos += static_cast<u32>(2 + id_len + k_len);
    const u8* const id = e.bytes + 1;
    // Compare over the candidate's length; a length mismatch is folded in, not branched on.
    u8 diff = static_cast<u8>(id_len != identity.size());
    for (std::size_t j = 0; j < identity.size(); ++j) diff |= static_cast<u8>(identity[j] ^ (j < id_len ? id[j] : static_cast<u8>(~identity[j])));
    const u8 match = static_cast<u8>(static_cast<u8>((diff | static_cast<u8>(-diff)) >> 7) ^ 1U);  // 1 when diff == 0
    const u8 take = static_cast<u8>(match & ~found & 1U);  // the first match only
    const u8 mask = static_cast<u8>(0U - take);
    const std::size_t size_mask = static_cast<std::size_t>(0) - take;
    for (std::size_t j = 0; j < kMaxPskKey; ++j) key_out[j] = static_cast<u8>((key_out[j] & ~mask) | ((j < k_len ? k[j] : 0) & mask));
    key_len = (key_len & ~size_mask) | (k_len & size_mask);
    found |= match;
  }
  if (pos != size) return malformed(CredentialError::kMalformed);  // bytes after the last entry
  if (found == 0) {
    mbedtls_platform_zeroize(key_out.data(), key_out.size());
    return fail(CredentialError::kNotFound);
  }
  return key_len;
}

}  // namespace scws::tls
