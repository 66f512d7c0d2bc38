#include "card/defence/admin_link.hpp"

namespace scws::card {

namespace {

// Runs body inside the caller's open transaction, or inside one of its own.
template <class Body>
Status<NvmError> in_own_or_caller_transaction(ObjectStore& objects, Body&& body) noexcept {
  TransactionScope txn(objects.nvm());
  SCWS_TRY(txn.begin());
  SCWS_TRY(body());
  return txn.commit();
}

template <std::size_t N>
void wipe(std::array<u8, N>& a) noexcept {
  // volatile: the compiler may not drop the stores of a buffer about to die.
  volatile u8* p = a.data();
  for (std::size_t i = 0; i < N; ++i) p[i] = 0;
}

}  // namespace

bool AdminLinkSettings::set_host(std::string_view h) noexcept {
  if (h.empty() || h.size() > kMaxHost) return false;
  for (std::size_t i = 0; i < h.size(); ++i) host[i] = h[i];
  host_length = static_cast<u8>(h.size());
  return true;
}

bool AdminLinkSettings::set_uri(std::string_view u) noexcept {
  if (u.empty() || u.size() > kMaxUri || u[0] != '/') return false;
  for (std::size_t i = 0; i < u.size(); ++i) uri[i] = u[i];
  uri_length = static_cast<u8>(u.size());
  return true;
}

bool AdminLinkSettings::valid() const noexcept {
  // Header field values: visible ASCII only (RFC 9110 5.5), so the card never writes a header
  // line break or a control character into a request.
  const auto printable = [](std::string_view s) noexcept {
    for (char c : s) {
      if (c <= 0x20 || c >= 0x7F) return false;
    }
    return true;
  };
  return port != 0 && buffer_size >= kMinBuffer && retry_count <= kMaxRetryCount && retry_delay_seconds >= 1 &&
         retry_delay_seconds <= kMaxRetryDelay && inactivity_seconds >= 1 && inactivity_seconds <= kMaxInactivity &&
         host_length >= 1 && host_length <= kMaxHost && uri_length >= 1 && uri_length <= kMaxUri && uri[0] == '/' &&
         printable(host_view()) && printable(uri_view());
}

std::size_t encoded_size(const AdminLinkSettings& s) noexcept {
  return AdminLinkSettings::kFixedSize + s.host_length + s.uri_length;
}

std::size_t encode(const AdminLinkSettings& s, MutableBytes out) noexcept {
  const std::size_t n = encoded_size(s);
  if (out.size() < n) return 0;
  ByteWriter w(out);
  w.u8_(AdminLinkSettings::kVersion);
  w.u8_(static_cast<u8>((s.enabled ? AdminLinkSettings::kFlagEnabled : 0) |
                        (s.on_incident ? AdminLinkSettings::kFlagOnIncident : 0)));
  w.bytes(Bytes(s.address.data(), s.address.size()));
  w.u16_be(s.port);
  w.u16_be(s.buffer_size);
  w.u8_(s.retry_count);
  w.u16_be(s.retry_delay_seconds);
  w.u32_be(s.period_seconds);
  w.u16_be(s.inactivity_seconds);
  w.u8_(s.host_length);
  w.bytes(Bytes(reinterpret_cast<const u8*>(s.host.data()), s.host_length));
  w.u8_(s.uri_length);
  w.bytes(Bytes(reinterpret_cast<const u8*>(s.uri.data()), s.uri_length));
  return w.ok() && w.size() == n ? n : 0;
}

bool decode(Bytes in, AdminLinkSettings& s) noexcept {
  ByteReader r(in);
  if (r.u8_() != AdminLinkSettings::kVersion) return false;
  AdminLinkSettings d;
  const u8 flags = r.u8_();
  if ((flags & ~(AdminLinkSettings::kFlagEnabled | AdminLinkSettings::kFlagOnIncident)) != 0) return false;
  d.enabled = (flags & AdminLinkSettings::kFlagEnabled) != 0;
  d.on_incident = (flags & AdminLinkSettings::kFlagOnIncident) != 0;
  const Bytes address = r.take(4);
  for (std::size_t i = 0; i < address.size() && i < d.address.size(); ++i) d.address[i] = address[i];
  d.port = r.u16_be();
  d.buffer_size = r.u16_be();
  d.retry_count = r.u8_();
  d.retry_delay_seconds = r.u16_be();
  d.period_seconds = r.u32_be();
  d.inactivity_seconds = r.u16_be();
  const u8 host_length = r.u8_();
  const Bytes host = r.take(host_length);
  const u8 uri_length = r.u8_();
  const Bytes uri = r.take(uri_length);
  if (!r.ok() || !r.at_end() || address.size() != 4) return false;
  if (!d.set_host(std::string_view(reinterpret_cast<const char*>(host.data()), host.size()))) return false;
  if (!d.set_uri(std::string_view(reinterpret_cast<const char*>(uri.data()), uri.size()))) return false;
  if (!d.valid()) return false;
  s = d;
  return true;
}

Status<NvmError> store_admin_link(ObjectStore& objects, const AdminLinkSettings& s) noexcept {
  if (!s.valid()) return fail(NvmError::kOutOfRange);
  std::array<u8, AdminLinkSettings::kMaxEncodedSize> bytes{};
  const std::size_t n = encode(s, bytes);
  if (n == 0) return fail(NvmError::kOutOfRange);
  return in_own_or_caller_transaction(objects, [&]() noexcept { return objects.put(kAdminLinkObject, Bytes(bytes.data(), n)); });
}

Status<NvmError> load_admin_link(ObjectStore& objects, AdminLinkSettings& s) noexcept {
  auto found = objects.find(kAdminLinkObject);
  if (!found) return fail(found.error());
  std::array<u8, AdminLinkSettings::kMaxEncodedSize> bytes{};
  if (found->size > bytes.size()) return fail(NvmError::kCorruptData);
  SCWS_TRY(objects.read(kAdminLinkObject, 0, MutableBytes(bytes.data(), found->size)));
  if (!decode(Bytes(bytes.data(), found->size), s)) return fail(NvmError::kCorruptData);
  return {};
}

bool AdminPsk::valid() const noexcept {
  return identity_length >= 1 && identity_length <= kMaxIdentity && key_length >= kMinKey && key_length <= kMaxKey;
}

Status<NvmError> store_admin_psk(ObjectStore& objects, Bytes identity, Bytes key) noexcept {
  if (identity.empty() || identity.size() > AdminPsk::kMaxIdentity || key.size() < AdminPsk::kMinKey ||
      key.size() > AdminPsk::kMaxKey) {
    return fail(NvmError::kOutOfRange);
  }
  std::array<u8, AdminPsk::kMaxEncodedSize> bytes{};
  ByteWriter w(bytes);
  w.u8_(static_cast<u8>(identity.size()));
  w.bytes(identity);
  w.u8_(static_cast<u8>(key.size()));
  w.bytes(key);
  const Bytes encoded = w.written();
  Status<NvmError> s = in_own_or_caller_transaction(objects, [&]() noexcept { return objects.put(kAdminPskObject, encoded); });
  wipe(bytes);
  return s;
}

Status<NvmError> rotate_admin_psk(ObjectStore& objects, Bytes key) noexcept {
  AdminPsk psk;
  SCWS_TRY(load_admin_psk(objects, psk));
  Status<NvmError> s = store_admin_psk(objects, psk.identity_bytes(), key);
  wipe(psk.key);
  return s;
}

Status<NvmError> load_admin_psk(ObjectStore& objects, AdminPsk& psk) noexcept {
  auto found = objects.find(kAdminPskObject);
  if (!found) return fail(found.error());
  std::array<u8, AdminPsk::kMaxEncodedSize> bytes{};
  if (found->size > bytes.size() || found->size < 2) return fail(NvmError::kCorruptData);
  Status<NvmError> read = objects.read(kAdminPskObject, 0, MutableBytes(bytes.data(), found->size));
  if (!read) return read;
  ByteReader r(Bytes(bytes.data(), found->size));
  AdminPsk p;
  p.identity_length = r.u8_();
  const Bytes identity = r.take(p.identity_length);
  p.key_length = r.u8_();
  const Bytes key = r.take(p.key_length);
  const bool ok = r.ok() && r.at_end() && identity.size() <= p.identity.size() && key.size() <= p.key.size();
  if (ok) {
    for (std::size_t i = 0; i < identity.size(); ++i) p.identity[i] = identity[i];
    for (std::size_t i = 0; i < key.size(); ++i) p.key[i] = key[i];
  }
  wipe(bytes);
  if (!ok || !p.valid()) {
    wipe(p.key);
    return fail(NvmError::kCorruptData);
  }
  psk = p;
  wipe(p.key);
  return {};
}

}  // namespace scws::card
