// The SCWS settings a profile gives the card (ports, channels, default page), kept in NVM so that an
// image is self-contained: `scws card --image` and `scws run --image` serve what the profile said,
// with no host-side configuration. Written by provisioning (or remote administration) inside a
// transaction; read by the SCWS applet at power-up. Without the object the defaults below apply.
//
// On-NVM format: object kScwsSettingsObject, kObjectSize bytes, big-endian:
//   +0  magic "SET1"          +4  version u16 (3)
//   +6  http_port u16         +8  http_channels u8 (1..7)   +9  tls_channels u8 (0..7)
//   +10 tls_port u16 (0 = no TLS port)
//   +12 tls_mode u8 (TlsPortMode; 0 without a TLS port)
//   +13 tls_timeout u8: seconds a TLS connection may stall (handshake, then idle) before the card's
//       timer (TS 102 223 6.4.21 TIMER MANAGEMENT) ends it
//   +14 tls_ram u32: bytes of card RAM carved at power-up for the TLS region (tls/tls_allocator.hpp)
//   +18 index length u8       +19 index name bytes (kMaxIndex, zero padded): the file served for
//                                 a path ending in "/" (RFC 9110 does not name one; "index.html")
//   +51 head_timeout u8, +52 body_timeout u8, +53 idle_timeout u8: seconds (1..255) an HTTP
//       connection may take for a request head, for its body, and stay idle between kept-alive
//       requests (card/scws/scws_applet.hpp); version 3
// Version 2 (kObjectSizeV2 bytes, without the HTTP timeouts) is read with the default timeouts.
// Version 1 (no TLS fields beyond port and channels) is not read: such an image is re-provisioned.
#pragma once

#include <cstddef>
#include <string_view>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "card/os/nvm.hpp"

namespace scws::card {

inline constexpr u32 kScwsSettingsObject = 0x10000003;

// Which clients the TLS port admits (values as tls::TlsMode: certificate suites, PSK suites, both).
enum class TlsPortMode : u8 { kNone = 0, kCertificate = 1, kPsk = 2, kBoth = 3 };

const char* to_string(TlsPortMode m) noexcept;

struct ScwsSettings {
  static constexpr std::size_t kMaxIndex = 32;
  static constexpr std::size_t kObjectSizeV2 = 19 + kMaxIndex;
  static constexpr std::size_t kObjectSize = kObjectSizeV2 + 3;
  static constexpr u8 kMaxChannels = 7;  // BIP channel identifiers 1..7 (TS 102 223 8.5 / annex M)
  static constexpr u32 kMinTlsRam = 4096;              // below this not even a PSK session fits
  static constexpr u32 kMaxTlsRam = 16 * 1024 * 1024;  // the largest card RAM scws runs with

  u16 http_port = 3516;   // IANA "smartcard-port"
  u8 http_channels = 4;   // BIP channels listening on the HTTP port
  u16 tls_port = 0;       // 10443 when the profile has TLS credentials
  u8 tls_channels = 0;    // http_channels + tls_channels <= 7: the channels a terminal has at most
  TlsPortMode tls_mode = TlsPortMode::kNone;  // kNone exactly when tls_port == 0
  u8 tls_timeout = 10;    // seconds (1..255)
  u32 tls_ram = 0;        // kMinTlsRam..kMaxTlsRam with a TLS port, 0 without
  // HTTP deadlines, seconds (1..255): a fifth client on a port of four channels held by idle
  // sockets is served within head_timeout (docs/architecture.md, "Threats and answers").
  u8 head_timeout = 10;
  u8 body_timeout = 20;
  u8 idle_timeout = 15;
  char index[kMaxIndex] = {'i', 'n', 'd', 'e', 'x', '.', 'h', 't', 'm', 'l'};
  u8 index_length = 10;

  [[nodiscard]] std::string_view index_name() const noexcept { return {index, index_length}; }
};

enum class SettingsError : u8 {
  kInvalid,  // a port 0, channels out of range, TLS fields inconsistent, an index name empty, too long or with '/' or control bytes
  kCorrupt,  // the object exists but does not parse (wrong magic, version or values)
  kNvm,      // NVM failure (space, journal, device)
};
const char* describe(SettingsError e) noexcept;

// Checks and stores (creates or replaces) the settings, inside the caller's transaction or its own.
Status<SettingsError> scws_settings_put(ObjectStore& store, const ScwsSettings& settings) noexcept;
// The stored settings, `absent` when there is no object, kCorrupt / kNvm otherwise.
Result<ScwsSettings, SettingsError> scws_settings_get(ObjectStore& store, const ScwsSettings& absent = {}) noexcept;
// The checks scws_settings_put applies.
bool scws_settings_valid(const ScwsSettings& settings) noexcept;

}  // namespace scws::card
