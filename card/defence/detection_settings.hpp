// The detection rules' thresholds and windows and the response policy, kept in NVM so that an image
// carries them and the remote administration server can change them (card/defence/defence_control.hpp).
// Provisioning writes them from card.toml [detection]; an image without the object uses kDefaults.
//
// On-NVM format (object kDetectionSettingsObject, kEncodedSize bytes, big-endian), also what the admin
// applet reads and writes (docs/protocol.md):
//   +0  version u8 (1)
//   +1  reopen u8: 1 = after the cool-down, 2 = only on an administrator's order
//   +2  cooldown u16: seconds (1..65535) a closed port stays closed under reopen = 1
//   +4  other ports u8: 1 = keep serving, 2 = close them too
//   +5  reserved u8 (0)
//   +6  per rule, in DetectionRule order (1..kDetectionRules): threshold u16 (0 = the rule is off,
//       else 1..kMaxThreshold events), window u16 (1..65535 seconds)
#pragma once

#include <array>
#include <cstddef>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "card/defence/incident.hpp"
#include "card/os/nvm.hpp"

namespace scws::card {

inline constexpr u32 kDetectionSettingsObject = 0x04000010;

enum class ReopenPolicy : u8 { kAfterCooldown = 1, kAdminOnly = 2 };
enum class OtherPortsPolicy : u8 { kKeepServing = 1, kClose = 2 };

struct RuleSettings {
  u16 threshold = 0;  // events within the window that fire the rule; 0: the rule is off
  u16 window_seconds = 60;
};

struct DetectionSettings {
  static constexpr u8 kVersion = 1;
  static constexpr u16 kMaxThreshold = 10000;
  static constexpr std::size_t kHeaderSize = 6;
  static constexpr std::size_t kEncodedSize = kHeaderSize + kDetectionRules * 4;
  static_assert(kEncodedSize == 34, "docs/protocol.md gives this layout");

  ReopenPolicy reopen = ReopenPolicy::kAfterCooldown;
  u16 cooldown_seconds = 300;
  OtherPortsPolicy other_ports = OtherPortsPolicy::kKeepServing;
  std::array<RuleSettings, kDetectionRules> rules{};

  [[nodiscard]] const RuleSettings& rule(DetectionRule r) const noexcept { return rules[rule_index(r)]; }
  RuleSettings& rule(DetectionRule r) noexcept { return rules[rule_index(r)]; }
  [[nodiscard]] bool valid() const noexcept;
};

// What a card without settings in its image detects. Chosen so that legitimate load never fires a
// rule (docs/architecture.md, "Threats and answers", gives the reasoning per rule).
DetectionSettings default_detection_settings() noexcept;

// kEncodedSize bytes into out (false when out is smaller).
bool encode(const DetectionSettings& s, MutableBytes out) noexcept;
// kWrongData-style refusal: false when the bytes are not exactly kEncodedSize bytes of version 1
// with every value in its range (s is left unchanged then).
bool decode(Bytes in, DetectionSettings& s) noexcept;

// Writes (creating or replacing) the settings object: inside a transaction. kOutOfRange when the
// settings are not valid().
Status<NvmError> store_detection_settings(ObjectStore& objects, const DetectionSettings& s) noexcept;

enum class SettingsSource : u8 { kImage, kDefaults, kDamaged };
// The stored settings; kDefaults when the image has none, kDamaged (and the defaults) when the
// object does not decode.
SettingsSource load_detection_settings(ObjectStore& objects, DetectionSettings& s) noexcept;

}  // namespace scws::card
