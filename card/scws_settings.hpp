// The SCWS settings a profile gives the card (ports, channels, default page), kept in NVM so that an
// image is self-contained: `scws card --image` and `scws run --image` serve what the profile said,
// with no host-side configuration. Written by provisioning (or remote administration) inside a
// transaction; read by the SCWS applet at power-up. Without the object the defaults below apply.
//
// On-NVM format: object kScwsSettingsObject, kObjectSize bytes, big-endian:
//   +0  magic "SET1"          +4  version u16 (1)
//   +6  http_port u16         +8  http_channels u8 (1..7)   +9  tls_channels u8 (0..7)
//   +10 tls_port u16 (0 = no TLS port)
//   +12 index length u8       +13 index name bytes (kMaxIndex, zero padded): the file served for
//                                 a path ending in "/" (RFC 9110 does not name one; "index.html")
#pragma once

#include <cstddef>
#include <string_view>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "card/nvm.hpp"

namespace scws::card {

inline constexpr u32 kScwsSettingsObject = 0x10000003;

struct ScwsSettings {
  static constexpr std::size_t kMaxIndex = 32;
  static constexpr std::size_t kObjectSize = 13 + kMaxIndex;
  static constexpr u8 kMaxChannels = 7;  // BIP channel identifiers 1..7 (TS 102 223 8.5 / annex M)

  u16 http_port = 3516;   // IANA "smartcard-port"
  u8 http_channels = 4;   // BIP channels listening on the HTTP port
  u16 tls_port = 0;       // 10443 when the profile has TLS credentials
  u8 tls_channels = 0;
  char index[kMaxIndex] = {'i', 'n', 'd', 'e', 'x', '.', 'h', 't', 'm', 'l'};
  u8 index_length = 10;

  [[nodiscard]] std::string_view index_name() const noexcept { return {index, index_length}; }
};

enum class SettingsError : u8 {
  kInvalid,  // a port 0, channels out of range, an index name empty, too long or with '/' or control bytes
  kCorrupt,  // the object exists but does not parse (wrong magic, version or values)
  kNvm,      // NVM failure (space, journal, device)
};
const char* describe(SettingsError e) noexcept;

// Checks and stores (creates or replaces) the settings, inside the caller's transaction or its own.
Status<SettingsError> scws_settings_put(ObjectStore& store, const ScwsSettings& settings) noexcept;
// The stored settings, the defaults when there is no object, kCorrupt / kNvm otherwise.
Result<ScwsSettings, SettingsError> scws_settings_get(ObjectStore& store) noexcept;
// The checks scws_settings_put applies.
bool scws_settings_valid(const ScwsSettings& settings) noexcept;

}  // namespace scws::card
