// The card's link to the remote administration server, kept in NVM (docs/protocol.md section 16.1):
// where the server is (IPv4 address and TCP port for OPEN CHANNEL in client mode), the HTTP Host and
// first URI of a session, the retry policy of GlobalPlatform Amendment B 3.5 (count and delay), the
// period of unprompted sessions and the inactivity timeout; and, in a second object, the link's
// TLS-PSK identity and key (RFC 4279). Provisioning writes both from card.toml [admin]; the card's
// admin agent (card/admin) reads them at each session; ROTATE PSK (the admin applet) replaces the key.
//
// Objects (card/defence range 0x04xxxxxx, big-endian):
//   kAdminLinkObject: version u8 (1), flags u8 (b1 enabled, b2 a new incident starts a session),
//     IPv4 (4), port u16, buffer size u16, retry count u8, retry delay u16, period u32,
//     inactivity timeout u16, host length u8 + host, URI length u8 + URI.
//   kAdminPskObject: identity length u8 + identity, key length u8 + key.
#pragma once

#include <array>
#include <cstddef>
#include <string_view>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "card/os/nvm.hpp"

namespace scws::card {

inline constexpr u32 kAdminLinkObject = 0x04000040;
inline constexpr u32 kAdminPskObject = 0x04000041;

struct AdminLinkSettings {
  static constexpr u8 kVersion = 1;
  static constexpr u8 kFlagEnabled = 0x01;
  static constexpr u8 kFlagOnIncident = 0x02;
  static constexpr std::size_t kMaxHost = 64;
  static constexpr std::size_t kMaxUri = 96;
  static constexpr u8 kMaxRetryCount = 10;
  static constexpr u16 kMaxRetryDelay = 3600;
  static constexpr u16 kMaxInactivity = 600;
  static constexpr u16 kMinBuffer = 256;
  static constexpr std::size_t kFixedSize = 21;  // every field but the host and URI bytes
  static constexpr std::size_t kMaxEncodedSize = kFixedSize + kMaxHost + kMaxUri;
  static_assert(kMaxEncodedSize == 181, "docs/protocol.md section 16.1 gives this layout");

  bool enabled = false;
  bool on_incident = true;
  std::array<u8, 4> address{127, 0, 0, 1};
  u16 port = 0;
  u16 buffer_size = 1400;
  u8 retry_count = 3;
  u16 retry_delay_seconds = 10;
  u32 period_seconds = 0;  // 0: no periodic session
  u16 inactivity_seconds = 30;
  std::array<char, kMaxHost> host{};
  u8 host_length = 0;
  std::array<char, kMaxUri> uri{};
  u8 uri_length = 0;

  [[nodiscard]] std::string_view host_view() const noexcept { return {host.data(), host_length}; }
  [[nodiscard]] std::string_view uri_view() const noexcept { return {uri.data(), uri_length}; }
  // Copies; false (nothing changed) when too long or empty, or a URI not starting with '/'.
  bool set_host(std::string_view h) noexcept;
  bool set_uri(std::string_view u) noexcept;
  // Every field in its range (port non-zero, buffer >= kMinBuffer, delay 1..kMaxRetryDelay,
  // inactivity 1..kMaxInactivity, retry count <= kMaxRetryCount, host and URI set).
  [[nodiscard]] bool valid() const noexcept;
};

// Encoded size of s (kFixedSize + host + URI).
[[nodiscard]] std::size_t encoded_size(const AdminLinkSettings& s) noexcept;
// Writes encoded_size(s) bytes into out and returns the count; 0 when out is smaller.
std::size_t encode(const AdminLinkSettings& s, MutableBytes out) noexcept;
// false (s unchanged) unless the bytes are exactly one valid version-1 encoding.
bool decode(Bytes in, AdminLinkSettings& s) noexcept;

// Inside a transaction (or its own when none is open). kOutOfRange when !s.valid().
Status<NvmError> store_admin_link(ObjectStore& objects, const AdminLinkSettings& s) noexcept;
// kNotFound when the image has no link (the card then never starts a session); kCorruptData when
// the object does not decode.
Status<NvmError> load_admin_link(ObjectStore& objects, AdminLinkSettings& s) noexcept;

struct AdminPsk {
  static constexpr std::size_t kMaxIdentity = 64;
  static constexpr std::size_t kMinKey = 16;
  static constexpr std::size_t kMaxKey = 32;
  static constexpr std::size_t kMaxEncodedSize = 2 + kMaxIdentity + kMaxKey;
  std::array<u8, kMaxIdentity> identity{};
  u8 identity_length = 0;
  std::array<u8, kMaxKey> key{};
  u8 key_length = 0;
  [[nodiscard]] Bytes identity_bytes() const noexcept { return {identity.data(), identity_length}; }
  [[nodiscard]] Bytes key_bytes() const noexcept { return {key.data(), key_length}; }
  [[nodiscard]] bool valid() const noexcept;
};

// Both within a transaction, or their own when none is open. kOutOfRange for an identity of 0 or
// more than kMaxIdentity bytes or a key outside kMinKey..kMaxKey.
Status<NvmError> store_admin_psk(ObjectStore& objects, Bytes identity, Bytes key) noexcept;
// Replaces only the key, keeping the identity (ROTATE PSK). kNotFound without a stored PSK.
Status<NvmError> rotate_admin_psk(ObjectStore& objects, Bytes key) noexcept;
// The caller wipes psk after use (mbedtls_platform_zeroize or equivalent).
Status<NvmError> load_admin_psk(ObjectStore& objects, AdminPsk& psk) noexcept;

}  // namespace scws::card
