#include "sim/host/profile.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <sstream>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <toml++/toml.h>

#include "card/defence/admin_link.hpp"
#include "tls/tls_session.hpp"

namespace scws::sim {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void refuse(const fs::path& file, const toml::source_region* where, const std::string& what) {
  std::ostringstream m;
  m << file.string();
  if (where != nullptr && where->begin.line != 0) m << ":" << where->begin.line << ":" << where->begin.column;
  m << ": " << what;
  throw ProfileError(m.str());
}

// Every key the file may hold: a misspelt key is an error, not silently ignored.
void check_keys(const fs::path& file, const toml::table& table, const std::set<std::string>& allowed,
                const std::string& where) {
  for (const auto& [key, node] : table) {
    if (allowed.count(std::string(key.str())) == 0) {
      refuse(file, &node.source(), "unknown key '" + std::string(key.str()) + "' in " + where);
    }
  }
}

std::string required_string(const fs::path& file, const toml::table& table, const char* key, const std::string& where) {
  const toml::node* node = table.get(key);
  if (node == nullptr) refuse(file, &table.source(), where + ": '" + key + "' is missing");
  if (!node->is_string()) refuse(file, &node->source(), where + ": '" + key + "' must be a string");
  return **node->as_string();
}

std::vector<std::string> string_list(const fs::path& file, const toml::table& table, const char* key,
                                     const std::string& where) {
  const toml::node* node = table.get(key);
  if (node == nullptr) refuse(file, &table.source(), where + ": '" + key + "' is missing");
  const toml::array* array = node->as_array();
  if (array == nullptr) refuse(file, &node->source(), where + ": '" + key + "' must be a list of strings");
  std::vector<std::string> out;
  for (const toml::node& item : *array) {
    if (!item.is_string()) refuse(file, &item.source(), where + ": '" + key + "' must be a list of strings");
    out.push_back(**item.as_string());
  }
  return out;
}

std::string lower_extension(const fs::path& file) {
  std::string ext = file.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext;
}

bool printable_ascii(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7F; });
}

const std::map<std::string, std::string>& known_types() {
  static const std::map<std::string, std::string> types{
      {".html", "text/html; charset=utf-8"}, {".htm", "text/html; charset=utf-8"},
      {".css", "text/css"},                  {".js", "text/javascript"},
      {".json", "application/json"},         {".txt", "text/plain; charset=utf-8"},
      {".xml", "application/xml"},           {".svg", "image/svg+xml"},
      {".png", "image/png"},                 {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},               {".gif", "image/gif"},
      {".ico", "image/x-icon"},              {".webp", "image/webp"},
      {".bin", "application/octet-stream"},  {".wasm", "application/wasm"},
  };
  return types;
}

}  // namespace

// Context idle level (parsed server certificate and CA, private key, ticket keys: about 3 KB;
// PSK only: the ticket keys, under 1 KB) plus one admission budget per channel (card/scws/tls_port.hpp).
std::uint32_t default_tls_ram(ProfileTls::Mode mode, std::uint8_t channels) {
  constexpr std::uint32_t kCertificateIdle = 5 * 1024, kPskIdle = 1024;
  constexpr auto kCertificateSession = static_cast<std::uint32_t>(tls::kCertificateSessionBudget);
  constexpr auto kPskSession = static_cast<std::uint32_t>(tls::kPskSessionBudget);
  switch (mode) {
    case ProfileTls::Mode::kPsk: return kPskIdle + channels * kPskSession;
    case ProfileTls::Mode::kCertificate:
    case ProfileTls::Mode::kBoth:
      return kCertificateIdle + channels * kCertificateSession;
  }
  return kCertificateIdle + channels * kCertificateSession;
}

const char* to_string(ProfileTls::Mode mode) {
  switch (mode) {
    case ProfileTls::Mode::kCertificate: return "certificate";
    case ProfileTls::Mode::kPsk: return "psk";
    case ProfileTls::Mode::kBoth: return "both";
  }
  return "?";
}

std::string content_type_for(const fs::path& file) {
  auto it = known_types().find(lower_extension(file));
  return it == known_types().end() ? "application/octet-stream" : it->second;
}

std::array<std::uint8_t, 10> iccid_to_bcd(const std::string& digits) {
  if (digits.size() != 19 && digits.size() != 20) {
    throw ProfileError("an ICCID has 19 or 20 digits (TS 102 221 13.2), got " + std::to_string(digits.size()));
  }
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    throw ProfileError("an ICCID holds only the digits 0-9: '" + digits + "'");
  }
  std::array<std::uint8_t, 10> out{};
  for (std::size_t i = 0; i < 10; ++i) {
    const unsigned low = static_cast<unsigned>(digits[2 * i] - '0');
    const unsigned high = 2 * i + 1 < digits.size() ? static_cast<unsigned>(digits[2 * i + 1] - '0') : 0xFu;
    out[i] = static_cast<std::uint8_t>((high << 4) | low);  // first digit in the low nibble
  }
  return out;
}

namespace {

toml::table parse_card_toml(const fs::path& dir, const fs::path& file) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw ProfileError(dir.string() + ": not a profile folder (no such directory)");
  if (!fs::is_regular_file(file, ec)) throw ProfileError(file.string() + ": missing (a profile folder holds card.toml)");
  toml::table root;
  try {
    root = toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    refuse(file, &e.source(), std::string("not valid TOML: ") + std::string(e.description()));
  }
  check_keys(file, root, {"card", "scws", "tls", "security", "detection", "incidents", "admin", "users", "protection_sets", "content_types"},
             "the file");
  return root;
}

// [card]: the ICCID.
void read_card(const fs::path& file, const toml::table& root, Profile& p) {
  const toml::table* card = root["card"].as_table();
  if (card == nullptr) refuse(file, &root.source(), "the [card] table is missing");
  check_keys(file, *card, {"iccid"}, "[card]");
  p.iccid_digits = required_string(file, *card, "iccid", "[card]");
  try {
    p.iccid_bcd = iccid_to_bcd(p.iccid_digits);
  } catch (const ProfileError& e) {
    refuse(file, &card->get("iccid")->source(), std::string("[card] iccid: ") + e.what());
  }
}

// [content_types]: ".ext" = "type" overrides, by lower-case extension.
std::map<std::string, std::string> read_content_types(const fs::path& file, const toml::table& root) {
  std::map<std::string, std::string> overrides;
  const toml::node* node = root.get("content_types");
  if (node == nullptr) return overrides;
  const toml::table* types = node->as_table();
  if (types == nullptr) refuse(file, &node->source(), "[content_types] must be a table of \".ext\" = \"type\"");
  for (const auto& [key, value] : *types) {
    std::string ext(key.str());
    if (ext.empty() || ext[0] != '.') refuse(file, &value.source(), "[content_types]: keys are extensions such as \".wasm\"");
    if (!value.is_string()) refuse(file, &value.source(), "[content_types] " + ext + " must be a string");
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    overrides[ext] = **value.as_string();
  }
  return overrides;
}

// What [scws] says beyond the Profile's fields.
struct ScwsSection {
  std::string content_dir = "www";
  bool http_channels_given = false;
};

// [scws]: the HTTP port and channels, the index page, the content folder.
ScwsSection read_scws(const fs::path& file, const toml::table& root, Profile& p) {
  ScwsSection section;
  const toml::node* node = root.get("scws");
  if (node == nullptr) return section;
  const toml::table* scws = node->as_table();
  if (scws == nullptr) refuse(file, &node->source(), "[scws] must be a table");
  check_keys(file, *scws, {"http_port", "http_channels", "index", "content", "head_timeout", "body_timeout", "idle_timeout"},
             "[scws]");
  if (const toml::node* port = scws->get("http_port")) {
    auto v = port->value<std::int64_t>();
    if (!v || *v < 1 || *v > 65535) refuse(file, &port->source(), "[scws] http_port must be a TCP port 1-65535");
    p.http_port = static_cast<std::uint16_t>(*v);
  }
  if (const toml::node* channels = scws->get("http_channels")) {
    auto v = channels->value<std::int64_t>();
    if (!v || *v < 1 || *v > 7) {
      refuse(file, &channels->source(), "[scws] http_channels must be 1-7 (BIP channels, TS 102 223 8.5)");
    }
    p.http_channels = static_cast<std::uint8_t>(*v);
    section.http_channels_given = true;
  }
  // The HTTP deadlines, seconds: a byte each in the card's settings (card/scws/scws_settings.hpp).
  auto timeout = [&](const char* key, std::uint8_t& out) {
    const toml::node* n = scws->get(key);
    if (n == nullptr) return;
    auto v = n->value<std::int64_t>();
    if (!v || *v < 1 || *v > 255) refuse(file, &n->source(), std::string("[scws] ") + key + " must be in the range 1-255 (seconds)");
    out = static_cast<std::uint8_t>(*v);
  };
  timeout("head_timeout", p.head_timeout);
  timeout("body_timeout", p.body_timeout);
  timeout("idle_timeout", p.idle_timeout);
  if (scws->contains("index")) p.index = required_string(file, *scws, "index", "[scws]");
  if (scws->contains("content")) section.content_dir = required_string(file, *scws, "content", "[scws]");
  return section;
}

ProfileTls::Mode read_tls_mode(const fs::path& file, const toml::table& tls) {
  const std::string mode = required_string(file, tls, "mode", "[tls]");
  if (mode == "certificate") return ProfileTls::Mode::kCertificate;
  if (mode == "psk") return ProfileTls::Mode::kPsk;
  if (mode == "both") return ProfileTls::Mode::kBoth;
  refuse(file, &tls.get("mode")->source(), "[tls] mode must be \"certificate\", \"psk\" or \"both\", not '" + mode + "'");
}

// [tls]'s own values, each within its range.
ProfileTls read_tls_values(const fs::path& file, const fs::path& dir, const toml::table& tls) {
  ProfileTls t;
  auto integer = [&](const char* key, std::int64_t lo, std::int64_t hi, const char* what) -> std::optional<std::int64_t> {
    const toml::node* n = tls.get(key);
    if (n == nullptr) return std::nullopt;
    auto v = n->value<std::int64_t>();
    if (!v || *v < lo || *v > hi) refuse(file, &n->source(), std::string("[tls] ") + key + " must be " + what);
    return v;
  };
  if (auto v = integer("port", 1, 65535, "a TCP port 1-65535")) t.port = static_cast<std::uint16_t>(*v);
  if (auto v = integer("channels", 1, 7, "1-7 (BIP channels, TS 102 223 8.5)")) t.channels = static_cast<std::uint8_t>(*v);
  if (auto v = integer("ram", 4096, 16 * 1024 * 1024, "4096-16777216 bytes")) t.ram = static_cast<std::uint32_t>(*v);
  if (auto v = integer("timeout", 1, 255, "1-255 seconds")) t.timeout = static_cast<std::uint8_t>(*v);
  if (auto v = integer("clients", 0, 64, "0-64")) t.clients = static_cast<std::size_t>(*v);
  if (auto v = integer("psk_identities", 0, 16, "0-16 (the card's PSK table holds 16)")) t.psk_identities = static_cast<std::size_t>(*v);
  if (tls.contains("mode")) t.mode = read_tls_mode(file, tls);
  if (tls.contains("credentials")) {
    const fs::path c = required_string(file, tls, "credentials", "[tls]");
    t.credentials = c.is_absolute() ? c : dir / c;
  }
  return t;
}

// [tls], checked against [scws]: the two share the terminal's 7 BIP channels.
void read_tls(const fs::path& file, const fs::path& dir, const toml::table& root, const ScwsSection& scws, Profile& p) {
  const toml::node* node = root.get("tls");
  if (node == nullptr) return;
  const toml::table* tls = node->as_table();
  if (tls == nullptr) refuse(file, &node->source(), "[tls] must be a table");
  check_keys(file, *tls, {"port", "channels", "mode", "ram", "timeout", "clients", "psk_identities", "credentials"}, "[tls]");
  ProfileTls t = read_tls_values(file, dir, *tls);
  if (t.mode != ProfileTls::Mode::kCertificate && t.psk_identities == 0)
    refuse(file, &tls->source(), "[tls] mode '" + std::string(to_string(t.mode)) + "' needs psk_identities >= 1");
  if (t.port == p.http_port) refuse(file, &tls->source(), "[tls] port must differ from [scws] http_port");
  if (!scws.http_channels_given) p.http_channels = static_cast<std::uint8_t>(t.channels >= 7 ? 1 : 7 - t.channels);
  if (p.http_channels + t.channels > 7) {
    refuse(file, &tls->source(), "[scws] http_channels + [tls] channels must be at most 7 (a terminal has 7 BIP "
                                 "channels, TS 102 223 8.5), got " + std::to_string(p.http_channels) + " + " +
                                 std::to_string(t.channels));
  }
  if (t.ram == 0) t.ram = default_tls_ram(t.mode, t.channels);
  p.tls = t;
}

// Content: every regular file under the content folder, its relative path as the URL path, sorted;
// the index page must be one of them.
void read_content(const fs::path& file, const fs::path& dir, const std::string& content_dir,
                  const std::map<std::string, std::string>& overrides, Profile& p) {
  const fs::path content = dir / content_dir;
  std::error_code ec;
  if (!fs::is_directory(content, ec)) {
    throw ProfileError(file.string() + ": [scws] content folder '" + content_dir + "' does not exist in " + dir.string());
  }
  for (fs::recursive_directory_iterator it(content, fs::directory_options::none, ec), end; it != end; it.increment(ec)) {
    if (ec) throw ProfileError(content.string() + ": " + ec.message());
    if (!it->is_regular_file()) continue;
    ProfileResource r;
    r.file = it->path();
    r.path = "/" + fs::relative(it->path(), content).generic_string();
    if (!printable_ascii(r.path) || r.path.find("%") != std::string::npos) {
      throw ProfileError(r.file.string() + ": a resource file name must be printable ASCII without spaces or '%'");
    }
    auto o = overrides.find(lower_extension(r.file));
    r.content_type = o != overrides.end() ? o->second : content_type_for(r.file);
    r.size = it->file_size();
    p.resources.push_back(std::move(r));
  }
  std::sort(p.resources.begin(), p.resources.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
  const bool has_index = std::any_of(p.resources.begin(), p.resources.end(),
                                     [&](const ProfileResource& r) { return r.path == "/" + p.index; });
  if (!has_index) {
    throw ProfileError(file.string() + ": [scws] index '" + p.index + "' is not a file of the content folder '" +
                       content_dir + "'");
  }
}

// [security]: the ADM1 key (TS 102 221 9.5.1), its number of tries and the PBKDF2 iterations of
// the users' password hashes.
void read_security(const fs::path& file, const toml::table& root, Profile& p) {
  if (const toml::node* node = root.get("security")) {
    const toml::table* security = node->as_table();
    if (security == nullptr) refuse(file, &node->source(), "[security] must be a table");
    check_keys(file, *security, {"adm_key", "adm_tries", "pbkdf2_iterations"}, "[security]");
    ProfileSecurity& s = p.security;
    if (security->contains("adm_key")) {
      const std::string hex = required_string(file, *security, "adm_key", "[security]");
      const bool ok = hex.size() == 16 && std::all_of(hex.begin(), hex.end(), [](unsigned char c) { return std::isxdigit(c) != 0; });
      // The key itself is never repeated in a message.
      if (!ok) refuse(file, &security->get("adm_key")->source(), "[security] adm_key must be 16 hex digits (8 bytes, TS 102 221 9.5.1)");
      std::array<std::uint8_t, 8> key{};
      for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::uint8_t>(std::stoul(hex.substr(2 * i, 2), nullptr, 16));
      s.adm_key = key;
    }
    auto integer = [&](const char* key, std::int64_t lo, std::int64_t hi) -> std::optional<std::int64_t> {
      const toml::node* n = security->get(key);
      if (n == nullptr) return std::nullopt;
      auto v = n->value<std::int64_t>();
      if (!v || *v < lo || *v > hi) {
        refuse(file, &n->source(), std::string("[security] ") + key + " must be in the range " + std::to_string(lo) + "-" +
                                       std::to_string(hi));
      }
      return v;
    };
    if (auto v = integer("adm_tries", 1, 15)) s.adm_tries = static_cast<std::uint8_t>(*v);
    if (auto v = integer("pbkdf2_iterations", ProfileSecurity::kMinIterations, ProfileSecurity::kMaxIterations))
      s.pbkdf2_iterations = static_cast<std::uint32_t>(*v);
  }
}

// [detection]: the response policy and, per rule (its name with '_' for '-'), an inline table
// { threshold = N, window = S }; every value range-checked with the file and line named.
void read_detection(const fs::path& file, const toml::table& root, Profile& p) {
  const toml::node* node = root.get("detection");
  if (node == nullptr) return;
  const toml::table* detection = node->as_table();
  if (detection == nullptr) refuse(file, &node->source(), "[detection] must be a table");
  std::set<std::string> keys = {"reopen", "cooldown", "other_ports"};
  auto key_of = [](card::DetectionRule rule) {
    std::string key = card::detection_rule_name(rule);
    std::replace(key.begin(), key.end(), '-', '_');
    return key;
  };
  for (std::size_t i = 0; i < card::kDetectionRules; ++i) keys.insert(key_of(static_cast<card::DetectionRule>(i + 1)));
  check_keys(file, *detection, keys, "[detection]");
  auto integer = [&](const toml::table& t, const char* key, const std::string& where, std::int64_t lo,
                     std::int64_t hi) -> std::optional<std::int64_t> {
    const toml::node* n = t.get(key);
    if (n == nullptr) return std::nullopt;
    auto v = n->value<std::int64_t>();
    if (!v || *v < lo || *v > hi) {
      refuse(file, &n->source(), where + " " + key + " must be in the range " + std::to_string(lo) + "-" + std::to_string(hi));
    }
    return v;
  };
  ProfileDetection& d = p.detection;
  if (detection->contains("reopen")) {
    const std::string v = required_string(file, *detection, "reopen", "[detection]");
    if (v == "cooldown") {
      d.reopen = card::ReopenPolicy::kAfterCooldown;
    } else if (v == "admin") {
      d.reopen = card::ReopenPolicy::kAdminOnly;
    } else {
      refuse(file, &detection->get("reopen")->source(), "[detection] reopen must be \"cooldown\" or \"admin\"");
    }
  }
  if (auto v = integer(*detection, "cooldown", "[detection]", 1, 65535)) d.cooldown_seconds = static_cast<std::uint16_t>(*v);
  if (detection->contains("other_ports")) {
    const std::string v = required_string(file, *detection, "other_ports", "[detection]");
    if (v == "keep") {
      d.other_ports = card::OtherPortsPolicy::kKeepServing;
    } else if (v == "close") {
      d.other_ports = card::OtherPortsPolicy::kClose;
    } else {
      refuse(file, &detection->get("other_ports")->source(), "[detection] other_ports must be \"keep\" or \"close\"");
    }
  }
  for (std::size_t i = 0; i < card::kDetectionRules; ++i) {
    const auto rule = static_cast<card::DetectionRule>(i + 1);
    const std::string key = key_of(rule);
    const toml::node* n = detection->get(key);
    if (n == nullptr) continue;
    const toml::table* t = n->as_table();
    const std::string where = "[detection] " + key;
    if (t == nullptr) refuse(file, &n->source(), where + " must be a table { threshold = N, window = SECONDS }");
    check_keys(file, *t, {"threshold", "window"}, where);
    if (auto v = integer(*t, "threshold", where, 0, card::DetectionSettings::kMaxThreshold))
      d.rule(rule).threshold = static_cast<std::uint16_t>(*v);
    if (auto v = integer(*t, "window", where, 1, 65535)) d.rule(rule).window_seconds = static_cast<std::uint16_t>(*v);
  }
}

// [incidents]: the incident queue's capacity.
void read_incidents(const fs::path& file, const toml::table& root, Profile& p) {
  const toml::node* node = root.get("incidents");
  if (node == nullptr) return;
  const toml::table* incidents = node->as_table();
  if (incidents == nullptr) refuse(file, &node->source(), "[incidents] must be a table");
  check_keys(file, *incidents, {"capacity"}, "[incidents]");
  if (const toml::node* n = incidents->get("capacity")) {
    auto v = n->value<std::int64_t>();
    if (!v || *v < ProfileIncidents::kMinCapacity || *v > ProfileIncidents::kMaxCapacity) {
      refuse(file, &n->source(), "[incidents] capacity must be in the range " +
                                     std::to_string(ProfileIncidents::kMinCapacity) + "-" +
                                     std::to_string(ProfileIncidents::kMaxCapacity));
    }
    p.incidents.capacity = static_cast<std::uint8_t>(*v);
  }
}

// [admin]: the link to the remote administration server, each value within its range.
void read_admin(const fs::path& file, const toml::table& root, Profile& p) {
  const toml::node* node = root.get("admin");
  if (node == nullptr) return;
  const toml::table* admin = node->as_table();
  if (admin == nullptr) refuse(file, &node->source(), "[admin] must be a table");
  check_keys(file, *admin, {"server", "port", "host", "uri", "retry_count", "retry_delay", "period", "timeout",
                            "on_incident", "buffer", "enabled"}, "[admin]");
  ProfileAdmin a;
  auto integer = [&](const char* key, std::int64_t lo, std::int64_t hi, const char* what) -> std::optional<std::int64_t> {
    const toml::node* n = admin->get(key);
    if (n == nullptr) return std::nullopt;
    auto v = n->value<std::int64_t>();
    if (!v || *v < lo || *v > hi) refuse(file, &n->source(), std::string("[admin] ") + key + " must be " + what);
    return v;
  };
  auto boolean = [&](const char* key, bool& into) {
    const toml::node* n = admin->get(key);
    if (n == nullptr) return;
    if (!n->is_boolean()) refuse(file, &n->source(), std::string("[admin] ") + key + " must be true or false");
    into = **n->as_boolean();
  };
  if (admin->contains("server")) {
    a.server = required_string(file, *admin, "server", "[admin]");
    in_addr addr{};
    if (inet_pton(AF_INET, a.server.c_str(), &addr) != 1)
      refuse(file, &admin->get("server")->source(), "[admin] server must be an IPv4 address (a.b.c.d), not '" + a.server + "'");
  }
  if (auto v = integer("port", 1, 65535, "a TCP port 1-65535")) a.port = static_cast<std::uint16_t>(*v);
  if (admin->contains("host")) {
    a.host = required_string(file, *admin, "host", "[admin]");
    if (a.host.empty() || a.host.size() > card::AdminLinkSettings::kMaxHost || !printable_ascii(a.host))
      refuse(file, &admin->get("host")->source(), "[admin] host must be 1-64 printable ASCII bytes without spaces");
  }
  if (admin->contains("uri")) {
    a.uri = required_string(file, *admin, "uri", "[admin]");
    if (a.uri.empty() || a.uri.size() > card::AdminLinkSettings::kMaxUri || a.uri[0] != '/' || !printable_ascii(a.uri) ||
        a.uri.find('#') != std::string::npos)
      refuse(file, &admin->get("uri")->source(), "[admin] uri must be an absolute path of 1-96 printable bytes starting with '/'");
  }
  if (auto v = integer("retry_count", 0, card::AdminLinkSettings::kMaxRetryCount, "0-10 (attempts after a breakdown)"))
    a.retry_count = static_cast<std::uint8_t>(*v);
  if (auto v = integer("retry_delay", 1, card::AdminLinkSettings::kMaxRetryDelay, "1-3600 seconds"))
    a.retry_delay = static_cast<std::uint16_t>(*v);
  if (auto v = integer("period", 0, 0xFFFFFFFFLL, "0 (none) to 4294967295 seconds")) a.period = static_cast<std::uint32_t>(*v);
  if (auto v = integer("timeout", 1, card::AdminLinkSettings::kMaxInactivity, "1-600 seconds"))
    a.timeout = static_cast<std::uint16_t>(*v);
  if (auto v = integer("buffer", card::AdminLinkSettings::kMinBuffer, 65535, "256-65535 bytes")) a.buffer = static_cast<std::uint16_t>(*v);
  boolean("on_incident", a.on_incident);
  boolean("enabled", a.enabled);
  p.admin = a;
}

// [[users]]: names unique, printable, without ':' (RFC 7617 2); passwords not empty.
void read_users(const fs::path& file, const toml::table& root, Profile& p) {
  const toml::node* node = root.get("users");
  if (node == nullptr) return;
  const toml::array* users = node->as_array();
  if (users == nullptr || !users->is_array_of_tables()) refuse(file, &node->source(), "users must be [[users]] tables");
  std::set<std::string> names;
  for (const toml::node& item : *users) {
    const toml::table& u = *item.as_table();
    check_keys(file, u, {"name", "password"}, "[[users]]");
    ProfileUser user{required_string(file, u, "name", "[[users]]"), required_string(file, u, "password", "[[users]]")};
    if (user.name.empty() || user.name.find(':') != std::string::npos || !printable_ascii(user.name)) {
      refuse(file, &u.source(), "[[users]] name '" + user.name + "': printable ASCII without ':' (RFC 7617 2)");
    }
    if (user.password.empty()) refuse(file, &u.source(), "[[users]] " + user.name + ": empty password");
    if (!names.insert(user.name).second) refuse(file, &u.source(), "[[users]] " + user.name + " appears twice");
    p.users.push_back(std::move(user));
  }
}

// One [[protection_sets]] table: paths under '/', users that [[users]] names.
ProfileProtectionSet read_protection_set(const fs::path& file, const toml::table& s, const std::vector<ProfileUser>& users) {
  check_keys(file, s, {"name", "realm", "paths", "users"}, "[[protection_sets]]");
  ProfileProtectionSet set;
  set.name = required_string(file, s, "name", "[[protection_sets]]");
  set.realm = s.contains("realm") ? required_string(file, s, "realm", "[[protection_sets]]") : set.name;
  if (set.realm.find('"') != std::string::npos || set.realm.find('\\') != std::string::npos) {
    refuse(file, &s.source(), "[[protection_sets]] " + set.name + ": realm without '\"' or '\\'");
  }
  set.paths = string_list(file, s, "paths", "[[protection_sets]] " + set.name);
  set.users = string_list(file, s, "users", "[[protection_sets]] " + set.name);
  if (set.paths.empty()) refuse(file, &s.source(), "[[protection_sets]] " + set.name + ": no paths");
  if (set.users.empty()) refuse(file, &s.source(), "[[protection_sets]] " + set.name + ": no users (nobody could enter)");
  for (const std::string& path : set.paths) {
    if (path.empty() || path[0] != '/' || !printable_ascii(path)) {
      refuse(file, &s.source(), "[[protection_sets]] " + set.name + ": path '" + path + "' must start with '/'");
    }
  }
  for (const std::string& user : set.users) {
    const bool known = std::any_of(users.begin(), users.end(), [&](const ProfileUser& u) { return u.name == user; });
    if (!known) refuse(file, &s.source(), "[[protection_sets]] " + set.name + ": user '" + user + "' is not in [[users]]");
  }
  return set;
}

void read_protection_sets(const fs::path& file, const toml::table& root, Profile& p) {
  const toml::node* node = root.get("protection_sets");
  if (node == nullptr) return;
  const toml::array* sets = node->as_array();
  if (sets == nullptr || !sets->is_array_of_tables()) {
    refuse(file, &node->source(), "protection sets must be [[protection_sets]] tables");
  }
  for (const toml::node& item : *sets) p.protection_sets.push_back(read_protection_set(file, *item.as_table(), p.users));
}

}  // namespace

Profile load_profile(const fs::path& dir) {
  const fs::path file = dir / "card.toml";
  const toml::table root = parse_card_toml(dir, file);
  Profile p;
  p.dir = dir;
  read_card(file, root, p);
  const std::map<std::string, std::string> overrides = read_content_types(file, root);
  const ScwsSection scws = read_scws(file, root, p);
  read_tls(file, dir, root, scws, p);
  read_security(file, root, p);
  read_detection(file, root, p);
  read_incidents(file, root, p);
  read_admin(file, root, p);
  read_content(file, dir, scws.content_dir, overrides, p);
  read_users(file, root, p);
  read_protection_sets(file, root, p);
  return p;
}

}  // namespace scws::sim
