#include "card/defence/detection_settings.hpp"

namespace scws::card {

bool DetectionSettings::valid() const noexcept {
  if (reopen != ReopenPolicy::kAfterCooldown && reopen != ReopenPolicy::kAdminOnly) return false;
  if (other_ports != OtherPortsPolicy::kKeepServing && other_ports != OtherPortsPolicy::kClose) return false;
  if (cooldown_seconds == 0) return false;
  for (const RuleSettings& r : rules) {
    if (r.threshold > kMaxThreshold || r.window_seconds == 0) return false;
  }
  return true;
}

DetectionSettings default_detection_settings() noexcept {
  DetectionSettings s;
  // A client without the issuer's certificate retries a few times at most; five in a minute is an attack.
  s.rule(DetectionRule::kTlsHandshakeFailures) = {5, 60};
  // A handset application knows its identity; three unknown ones in a minute are guesses.
  s.rule(DetectionRule::kTlsUnknownPsk) = {3, 60};
  // Well-formed TLS stacks never send a bad record; a few in a minute is fuzzing or tampering.
  s.rule(DetectionRule::kTlsBadRecords) = {5, 60};
  // A person mistyping a password a few times, a browser re-asking after each 401: ten in five minutes
  // is guessing.
  s.rule(DetectionRule::kHttpPasswordGuessing) = {10, 300};
  // Browsers do not send malformed requests; twenty refused in a minute is a flood.
  s.rule(DetectionRule::kHttpMalformedFlood) = {20, 60};
  // Keep-alive clients connect once; a browser opens at most six connections per host at once.
  s.rule(DetectionRule::kConnectionFlood) = {120, 10};
  // A slow or idle client is evicted at its deadline; a dozen in two minutes is a slowloris.
  s.rule(DetectionRule::kSlowClients) = {12, 120};
  return s;
}

bool encode(const DetectionSettings& s, MutableBytes out) noexcept {
  if (out.size() < DetectionSettings::kEncodedSize) return false;
  ByteWriter w(out);
  w.u8_(DetectionSettings::kVersion);
  w.u8_(static_cast<u8>(s.reopen));
  w.u16_be(s.cooldown_seconds);
  w.u8_(static_cast<u8>(s.other_ports));
  w.u8_(0);
  for (const RuleSettings& r : s.rules) {
    w.u16_be(r.threshold);
    w.u16_be(r.window_seconds);
  }
  return w.ok();
}

bool decode(Bytes in, DetectionSettings& s) noexcept {
  if (in.size() != DetectionSettings::kEncodedSize) return false;
  ByteReader r(in);
  if (r.u8_() != DetectionSettings::kVersion) return false;
  DetectionSettings d;
  d.reopen = static_cast<ReopenPolicy>(r.u8_());
  d.cooldown_seconds = r.u16_be();
  d.other_ports = static_cast<OtherPortsPolicy>(r.u8_());
  if (r.u8_() != 0) return false;
  for (RuleSettings& rule : d.rules) {
    rule.threshold = r.u16_be();
    rule.window_seconds = r.u16_be();
  }
  if (!r.ok() || !d.valid()) return false;
  s = d;
  return true;
}

Status<NvmError> store_detection_settings(ObjectStore& objects, const DetectionSettings& s) noexcept {
  if (!s.valid()) return fail(NvmError::kOutOfRange);
  std::array<u8, DetectionSettings::kEncodedSize> bytes{};
  encode(s, bytes);
  return objects.put(kDetectionSettingsObject, bytes);
}

SettingsSource load_detection_settings(ObjectStore& objects, DetectionSettings& s) noexcept {
  s = default_detection_settings();
  auto found = objects.find(kDetectionSettingsObject);
  if (!found) return found.error() == NvmError::kNotFound ? SettingsSource::kDefaults : SettingsSource::kDamaged;
  std::array<u8, DetectionSettings::kEncodedSize> bytes{};
  if (found.value().size != bytes.size() || !objects.read(kDetectionSettingsObject, 0, bytes)) return SettingsSource::kDamaged;
  if (!decode(bytes, s)) return SettingsSource::kDamaged;
  return SettingsSource::kImage;
}

}  // namespace scws::card
