#include "sim/admin/enrolment.hpp"

#include <toml++/toml.h>

namespace scws::sim::admin {

Enrolment read_enrolment(const std::string& path) {
  toml::table t;
  try {
    t = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    throw EnrolmentError(path + ": " + std::string(e.description()));
  }
  auto text = [&](const char* key, bool required) {
    const auto v = t[key].value<std::string>();
    if (!v && required) throw EnrolmentError(path + ": \"" + key + "\" missing (a string)");
    return v.value_or("");
  };
  Enrolment e;
  e.iccid = text("iccid", true);
  if (!valid_iccid(e.iccid)) throw EnrolmentError(path + ": iccid \"" + e.iccid + "\" is not 19 or 20 digits");
  e.psk_identity = text("psk_identity", true);
  if (iccid_of_identity(e.psk_identity) != e.iccid)
    throw EnrolmentError(path + ": psk_identity \"" + e.psk_identity + "\" is not " + std::string(kIdentityPrefix) + e.iccid);
  try {
    e.psk_key = from_hex(text("psk_key", true));
  } catch (const std::invalid_argument& x) {
    throw EnrolmentError(path + ": psk_key: " + x.what());
  }
  if (e.psk_key.size() < 16 || e.psk_key.size() > 32) throw EnrolmentError(path + ": psk_key must be 16-32 bytes");
  e.server = text("server", false);
  e.host = text("host", false);
  e.uri = text("uri", false);
  if (const auto port = t["port"].value<std::int64_t>()) {
    if (*port < 0 || *port > 65535) throw EnrolmentError(path + ": port out of 0-65535");
    e.port = static_cast<std::uint16_t>(*port);
  }
  return e;
}

}  // namespace scws::sim::admin
