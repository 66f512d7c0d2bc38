#include "card/scws/scws_settings.hpp"

#include <cstring>

namespace scws::card {
namespace {

constexpr u8 kMagic[4] = {'S', 'E', 'T', '1'};
constexpr u16 kVersion = 3;
constexpr u16 kVersionV2 = 2;  // without the HTTP timeouts

constexpr u16 load_be16(const u8* p) noexcept { return static_cast<u16>((p[0] << 8) | p[1]); }
constexpr void store_be16(u8* p, u16 v) noexcept {
  p[0] = static_cast<u8>(v >> 8);
  p[1] = static_cast<u8>(v);
}
constexpr u32 load_be32(const u8* p) noexcept {
  return (u32{p[0]} << 24) | (u32{p[1]} << 16) | (u32{p[2]} << 8) | u32{p[3]};
}
constexpr void store_be32(u8* p, u32 v) noexcept {
  store_be16(p, static_cast<u16>(v >> 16));
  store_be16(p + 2, static_cast<u16>(v));
}

bool valid_mode(TlsPortMode m) noexcept {
  switch (m) {
    case TlsPortMode::kNone: return false;
    case TlsPortMode::kCertificate:
    case TlsPortMode::kPsk:
    case TlsPortMode::kBoth:
      return true;
  }
  return false;
}

bool valid_index(std::string_view name) noexcept {
  if (name.empty() || name.size() > ScwsSettings::kMaxIndex) return false;
  if (name == "." || name == "..") return false;
  for (char ch : name) {
    const u8 c = static_cast<u8>(ch);
    if (c <= 0x20 || c >= 0x7F || ch == '/' || ch == '\\' || ch == '%') return false;
  }
  return true;
}

}  // namespace

const char* to_string(TlsPortMode m) noexcept {
  switch (m) {
    case TlsPortMode::kNone: return "none";
    case TlsPortMode::kCertificate: return "certificate";
    case TlsPortMode::kPsk: return "psk";
    case TlsPortMode::kBoth: return "both";
  }
  return "?";
}

const char* describe(SettingsError e) noexcept {
  switch (e) {
    case SettingsError::kInvalid: return "invalid SCWS settings (port 0, channels beyond 7, or a bad index name)";
    case SettingsError::kCorrupt: return "the stored SCWS settings do not parse";
    case SettingsError::kNvm: return "NVM failure while reading or writing the SCWS settings";
  }
  return "unknown settings error";
}

bool scws_settings_valid(const ScwsSettings& s) noexcept {
  if (s.http_port == 0 || s.http_channels == 0 || s.http_channels > ScwsSettings::kMaxChannels) return false;
  if (s.tls_channels > ScwsSettings::kMaxChannels) return false;
  if ((s.tls_port == 0) != (s.tls_channels == 0)) return false;  // a TLS port needs channels, and only then
  if (s.tls_port != 0 && s.tls_port == s.http_port) return false;
  if (s.http_channels + s.tls_channels > ScwsSettings::kMaxChannels) return false;
  if (s.tls_port == 0) {
    if (s.tls_mode != TlsPortMode::kNone || s.tls_ram != 0) return false;
  } else {
    if (!valid_mode(s.tls_mode) || s.tls_timeout == 0) return false;
    if (s.tls_ram < ScwsSettings::kMinTlsRam || s.tls_ram > ScwsSettings::kMaxTlsRam) return false;
  }
  if (s.head_timeout == 0 || s.body_timeout == 0 || s.idle_timeout == 0) return false;
  if (s.index_length > ScwsSettings::kMaxIndex) return false;
  return valid_index(s.index_name());
}

Status<SettingsError> scws_settings_put(ObjectStore& store, const ScwsSettings& s) noexcept {
  if (!scws_settings_valid(s)) return fail(SettingsError::kInvalid);
  u8 image[ScwsSettings::kObjectSize] = {};
  std::memcpy(image, kMagic, sizeof kMagic);
  store_be16(image + 4, kVersion);
  store_be16(image + 6, s.http_port);
  image[8] = s.http_channels;
  image[9] = s.tls_channels;
  store_be16(image + 10, s.tls_port);
  image[12] = static_cast<u8>(s.tls_mode);
  image[13] = s.tls_timeout;
  store_be32(image + 14, s.tls_ram);
  image[18] = s.index_length;
  std::memcpy(image + 19, s.index, s.index_length);
  image[ScwsSettings::kObjectSizeV2] = s.head_timeout;
  image[ScwsSettings::kObjectSizeV2 + 1] = s.body_timeout;
  image[ScwsSettings::kObjectSizeV2 + 2] = s.idle_timeout;

  TransactionScope txn(store.nvm());  // join the caller's transaction, or open one
  if (!txn.begin()) return fail(SettingsError::kNvm);
  if (!store.put(kScwsSettingsObject, Bytes(image, sizeof image))) return fail(SettingsError::kNvm);  // another layout: replaced
  if (!txn.commit()) return fail(SettingsError::kNvm);
  return {};
}

Result<ScwsSettings, SettingsError> scws_settings_get(ObjectStore& store, const ScwsSettings& absent) noexcept {
  auto found = store.find(kScwsSettingsObject);
  if (!found) {
    if (found.error() == NvmError::kNotFound) return absent;
    return fail(SettingsError::kNvm);
  }
  const bool v2 = found->size == ScwsSettings::kObjectSizeV2;
  if (found->size != ScwsSettings::kObjectSize && !v2) return fail(SettingsError::kCorrupt);
  u8 image[ScwsSettings::kObjectSize];
  if (!store.read(kScwsSettingsObject, 0, MutableBytes(image, found->size))) return fail(SettingsError::kNvm);
  if (std::memcmp(image, kMagic, sizeof kMagic) != 0 || load_be16(image + 4) != (v2 ? kVersionV2 : kVersion)) {
    return fail(SettingsError::kCorrupt);
  }
  ScwsSettings s;  // a version 2 object keeps the default timeouts
  if (!v2) {
    s.head_timeout = image[ScwsSettings::kObjectSizeV2];
    s.body_timeout = image[ScwsSettings::kObjectSizeV2 + 1];
    s.idle_timeout = image[ScwsSettings::kObjectSizeV2 + 2];
  }
  s.http_port = load_be16(image + 6);
  s.http_channels = image[8];
  s.tls_channels = image[9];
  s.tls_port = load_be16(image + 10);
  s.tls_mode = static_cast<TlsPortMode>(image[12]);  // checked by scws_settings_valid below
  s.tls_timeout = image[13];
  s.tls_ram = load_be32(image + 14);
  s.index_length = image[18];
  if (s.index_length > ScwsSettings::kMaxIndex) return fail(SettingsError::kCorrupt);
  std::memset(s.index, 0, sizeof s.index);
  std::memcpy(s.index, image + 19, s.index_length);
  if (!scws_settings_valid(s)) return fail(SettingsError::kCorrupt);
  return s;
}

}  // namespace scws::card
