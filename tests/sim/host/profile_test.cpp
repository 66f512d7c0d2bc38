// sim/profile: card.toml + content folder -> a validated Profile, or an error naming the problem.
#include "sim/host/profile.hpp"

#include "scws_config.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using scws::sim::load_profile;
using scws::sim::Profile;
using scws::sim::ProfileError;

namespace {

// A private profile folder per test, removed afterwards.
struct TempProfile {
  fs::path dir;
  TempProfile() {
    std::string pattern = (fs::temp_directory_path() / "scws-profile-XXXXXX").string();
    char* made = mkdtemp(pattern.data());
    REQUIRE(made != nullptr);
    dir = made;
  }
  ~TempProfile() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  void write(const std::string& relative, const std::string& text) const {
    fs::create_directories((dir / relative).parent_path());
    std::ofstream(dir / relative, std::ios::binary) << text;
  }
};

constexpr const char* kMinimal = R"(
[card]
iccid = "8988211000000000017"
)";

std::string load_error(const TempProfile& p) {
  try {
    load_profile(p.dir);
  } catch (const ProfileError& e) {
    return e.what();
  }
  return "";
}

// One refused value of a table: the line written under [section] and a part of the error it gets.
struct Refusal {
  const char* text;
  const char* expected;
};

// Each refusal on its own in the minimal profile; returns the error messages (each checked to
// contain its expected part).
std::vector<std::string> check_refusals(const char* section, std::initializer_list<Refusal> rows) {
  TempProfile p;
  p.write("www/index.html", "x");
  std::vector<std::string> errors;
  for (const Refusal& r : rows) {
    CAPTURE(r.text);
    p.write("card.toml", std::string(kMinimal) + "[" + section + "]\n" + r.text + "\n");
    errors.push_back(load_error(p));
    CHECK(errors.back().find(r.expected) != std::string::npos);
  }
  return errors;
}

}  // namespace

TEST_CASE("the bundled demo profile loads with its pages, one protected") {
  const fs::path demo = fs::path(SCWS_SOURCE_ROOT) / "profiles" / "demo";
  Profile p = load_profile(demo);
  CHECK(p.http_port == 3516);
  CHECK(p.index == "index.html");
  CHECK(p.iccid_digits == "8988211000000000017");
  REQUIRE(p.users.size() == 1);
  CHECK(p.users[0].name == "alice");
  REQUIRE(p.protection_sets.size() == 1);
  CHECK(p.protection_sets[0].paths == std::vector<std::string>{"/secure/"});
  bool has_index = false, has_secure = false;
  for (const auto& r : p.resources) {
    if (r.path == "/index.html") {
      has_index = true;
      CHECK(r.content_type == "text/html; charset=utf-8");
    }
    if (r.path == "/secure/index.html") has_secure = true;
  }
  CHECK(has_index);
  CHECK(has_secure);
}

TEST_CASE("an ICCID becomes EF.ICCID bytes with swapped nibbles and an F filler (TS 102 221 13.2)") {
  const auto bcd = scws::sim::iccid_to_bcd("8988211000000000017");
  const std::array<std::uint8_t, 10> expected{0x98, 0x88, 0x12, 0x01, 0x00, 0x00, 0x00, 0x00, 0x10, 0xF7};
  CHECK(bcd == expected);
  CHECK_THROWS_AS(scws::sim::iccid_to_bcd("12345"), ProfileError);
  CHECK_THROWS_AS(scws::sim::iccid_to_bcd("898821100000000001A"), ProfileError);
}

TEST_CASE("a profile without defaults gets port 3516, seven channels and index.html") {
  TempProfile p;
  p.write("card.toml", kMinimal);
  p.write("www/index.html", "<p>hi</p>");
  p.write("www/img/logo.PNG", "png");
  p.write("www/blob.xyz", "?");
  Profile loaded = load_profile(p.dir);
  CHECK(loaded.http_port == 3516);
  CHECK(loaded.http_channels == 7);
  REQUIRE(loaded.resources.size() == 3);
  CHECK(loaded.resources[0].path == "/blob.xyz");
  CHECK(loaded.resources[0].content_type == "application/octet-stream");
  CHECK(loaded.resources[1].path == "/img/logo.PNG");
  CHECK(loaded.resources[1].content_type == "image/png");
  CHECK(loaded.resources[2].size == 9);
}

TEST_CASE("content types can be overridden per extension") {
  TempProfile p;
  p.write("card.toml", std::string(kMinimal) + "[content_types]\n\".xyz\" = \"application/x-demo\"\n");
  p.write("www/index.html", "x");
  p.write("www/a.xyz", "x");
  Profile loaded = load_profile(p.dir);
  CHECK(loaded.resources[0].content_type == "application/x-demo");
}

TEST_CASE("profile errors name the file, the line and the problem") {
  TempProfile p;
  p.write("www/index.html", "x");

  SUBCASE("missing card.toml") { CHECK(load_error(p).find("card.toml: missing") != std::string::npos); }
  SUBCASE("invalid TOML") {
    p.write("card.toml", "[card\n");
    CHECK(load_error(p).find("not valid TOML") != std::string::npos);
  }
  SUBCASE("misspelt key") {
    p.write("card.toml", std::string(kMinimal) + "[scws]\nhttp_prot = 80\n");
    const std::string e = load_error(p);
    CHECK(e.find("unknown key 'http_prot' in [scws]") != std::string::npos);
    CHECK(e.find("card.toml:5:") != std::string::npos);
  }
  SUBCASE("bad ICCID") {
    p.write("card.toml", "[card]\niccid = \"42\"\n");
    CHECK(load_error(p).find("19 or 20 digits") != std::string::npos);
  }
  SUBCASE("port out of range") {
    p.write("card.toml", std::string(kMinimal) + "[scws]\nhttp_port = 70000\n");
    CHECK(load_error(p).find("http_port must be a TCP port") != std::string::npos);
  }
  SUBCASE("too many channels") {
    p.write("card.toml", std::string(kMinimal) + "[scws]\nhttp_channels = 8\n");
    CHECK(load_error(p).find("http_channels must be 1-7") != std::string::npos);
  }
  SUBCASE("index not in the content") {
    p.write("card.toml", std::string(kMinimal) + "[scws]\nindex = \"home.html\"\n");
    CHECK(load_error(p).find("index 'home.html' is not a file") != std::string::npos);
  }
  SUBCASE("protection set naming an unknown user") {
    p.write("card.toml", std::string(kMinimal) +
                             "[[users]]\nname = \"alice\"\npassword = \"x\"\n"
                             "[[protection_sets]]\nname = \"s\"\npaths = [\"/s/\"]\nusers = [\"bob\"]\n");
    CHECK(load_error(p).find("user 'bob' is not in [[users]]") != std::string::npos);
  }
  SUBCASE("user name with a colon") {
    p.write("card.toml", std::string(kMinimal) + "[[users]]\nname = \"a:b\"\npassword = \"x\"\n");
    CHECK(load_error(p).find("without ':'") != std::string::npos);
  }
  SUBCASE("duplicate user") {
    p.write("card.toml", std::string(kMinimal) + "[[users]]\nname = \"a\"\npassword = \"x\"\n" +
                             "[[users]]\nname = \"a\"\npassword = \"y\"\n");
    CHECK(load_error(p).find("appears twice") != std::string::npos);
  }
  SUBCASE("protection path without a slash") {
    p.write("card.toml", std::string(kMinimal) + "[[users]]\nname = \"a\"\npassword = \"x\"\n" +
                             "[[protection_sets]]\nname = \"s\"\npaths = [\"s/\"]\nusers = [\"a\"]\n");
    CHECK(load_error(p).find("must start with '/'") != std::string::npos);
  }
}

TEST_CASE("a [tls] table gives the TLS port, its mode, channels, RAM and PKI counts, with defaults") {
  TempProfile p;
  p.write("www/index.html", "hi");
  p.write("card.toml", std::string(kMinimal) + "[tls]\nmode = \"psk\"\nchannels = 2\ntimeout = 3\npsk_identities = 4\n");
  Profile loaded = load_profile(p.dir);
  REQUIRE(loaded.tls.has_value());
  CHECK(loaded.tls->port == 10443);
  CHECK(loaded.tls->mode == scws::sim::ProfileTls::Mode::kPsk);
  CHECK(loaded.tls->channels == 2);
  CHECK(loaded.tls->timeout == 3);
  CHECK(loaded.tls->psk_identities == 4);
  CHECK(loaded.tls->ram == scws::sim::default_tls_ram(scws::sim::ProfileTls::Mode::kPsk, 2));
  CHECK(loaded.http_channels == 5);  // the rest of the 7 channels (TS 102 223 8.5)
  CHECK(loaded.tls->credentials.empty());
}

TEST_CASE("the bundled demo profile has a TLS port within the 7 channels") {
  Profile p = load_profile(fs::path(SCWS_SOURCE_ROOT) / "profiles" / "demo");
  REQUIRE(p.tls.has_value());
  CHECK(p.tls->port == 10443);
  CHECK(p.http_channels + p.tls->channels <= 7);
  CHECK(p.tls->ram >= scws::sim::default_tls_ram(p.tls->mode, p.tls->channels));
}

TEST_CASE("a [tls] table that the card cannot serve is refused with the reason") {
  struct Row {
    const char* tls;
    const char* why;
  };
  const Row rows[] = {
      {"mode = \"rsa\"\n", "mode must be"},
      {"channels = 8\n", "channels must be 1-7"},
      {"ram = 1000\n", "ram must be"},
      {"port = 3516\n", "must differ"},
      {"mode = \"psk\"\npsk_identities = 0\n", "needs psk_identities"},
      {"timeout = 0\n", "timeout must be"},
      {"colour = 1\n", "unknown key 'colour'"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.tls);
    TempProfile p;
    p.write("www/index.html", "hi");
    p.write("card.toml", std::string(kMinimal) + "[tls]\n" + row.tls);
    CHECK(load_error(p).find(row.why) != std::string::npos);
  }
  TempProfile p;
  p.write("www/index.html", "hi");
  p.write("card.toml", std::string(kMinimal) + "[scws]\nhttp_channels = 5\n[tls]\nchannels = 3\n");
  CHECK(load_error(p).find("at most 7") != std::string::npos);
}

TEST_CASE("[security] gives the ADM key, its tries and the PBKDF2 iterations, with defaults") {
  TempProfile p;
  p.write("www/index.html", "x");
  p.write("card.toml", kMinimal);
  const Profile plain = load_profile(p.dir);
  CHECK_FALSE(plain.security.adm_key.has_value());
  CHECK(plain.security.adm_tries == 3);
  CHECK(plain.security.pbkdf2_iterations == scws::sim::ProfileSecurity::kDefaultIterations);
  p.write("card.toml", std::string(kMinimal) +
                           "[security]\nadm_key = \"0011223344556677\"\nadm_tries = 5\npbkdf2_iterations = 20\n");
  const Profile set = load_profile(p.dir);
  REQUIRE(set.security.adm_key.has_value());
  CHECK((*set.security.adm_key)[1] == 0x11);
  CHECK((*set.security.adm_key)[7] == 0x77);
  CHECK(set.security.adm_tries == 5);
  CHECK(set.security.pbkdf2_iterations == 20);

  const Profile demo = load_profile(fs::path(SCWS_SOURCE_ROOT) / "profiles" / "demo");
  CHECK(demo.security.adm_key.has_value());
  CHECK(demo.security.pbkdf2_iterations == 1000);
}

TEST_CASE("[security] values out of range are refused naming the file, the line and the allowed range") {
  const auto errors = check_refusals(
      "security", {
                      {"pbkdf2_iterations = 0", "card.toml:5:21: [security] pbkdf2_iterations must be in the range 1-100000"},
                      {"pbkdf2_iterations = 100001", "[security] pbkdf2_iterations must be in the range 1-100000"},
                      {"adm_tries = 16", "card.toml:5:13: [security] adm_tries must be in the range 1-15"},
                      {"adm_key = \"0011\"", "[security] adm_key must be 16 hex digits"},
                      {"adm_key = \"00112233445566ZZ\"", "[security] adm_key must be 16 hex digits"},
                      {"adm_pin = 1", "unknown key 'adm_pin' in [security]"},
                  });
  for (const std::string& e : errors) CHECK(e.find("00112233445566ZZ") == std::string::npos);  // a key is never repeated
}

TEST_CASE("[detection] gives the policy and each rule's threshold and window, with defaults") {
  TempProfile p;
  p.write("www/index.html", "x");
  p.write("card.toml", std::string(kMinimal));
  const Profile plain = load_profile(p.dir);
  CHECK(plain.detection.cooldown_seconds == scws::card::default_detection_settings().cooldown_seconds);
  p.write("card.toml", std::string(kMinimal) +
                           "[detection]\nreopen = \"admin\"\ncooldown = 5\nother_ports = \"close\"\n"
                           "tls_unknown_psk = { threshold = 7, window = 30 }\nslow_clients = { threshold = 0 }\n");
  const Profile set = load_profile(p.dir);
  using scws::card::DetectionRule;
  CHECK(set.detection.reopen == scws::card::ReopenPolicy::kAdminOnly);
  CHECK(set.detection.cooldown_seconds == 5);
  CHECK(set.detection.other_ports == scws::card::OtherPortsPolicy::kClose);
  CHECK(set.detection.rule(DetectionRule::kTlsUnknownPsk).threshold == 7);
  CHECK(set.detection.rule(DetectionRule::kTlsUnknownPsk).window_seconds == 30);
  CHECK(set.detection.rule(DetectionRule::kSlowClients).threshold == 0);
  CHECK(set.detection.rule(DetectionRule::kSlowClients).window_seconds ==
        scws::card::default_detection_settings().rule(DetectionRule::kSlowClients).window_seconds);
  CHECK(set.detection.valid());
  const Profile demo = load_profile(fs::path(SCWS_SOURCE_ROOT) / "profiles" / "demo");
  CHECK(demo.detection.valid());
}

TEST_CASE("[detection] values out of range are refused naming the file, the line and the allowed range") {
  check_refusals("detection",
                 {
                     {"cooldown = 0", "card.toml:5:12: [detection] cooldown must be in the range 1-65535"},
                     {"reopen = \"never\"", "[detection] reopen must be \"cooldown\" or \"admin\""},
                     {"other_ports = 1", "[detection]: 'other_ports' must be a string"},
                     {"tls_bad_records = { threshold = 10001 }",
                      "card.toml:5:33: [detection] tls_bad_records threshold must be in the range 0-10000"},
                     {"connection_flood = { window = 0 }", "[detection] connection_flood window must be in the range 1-65535"},
                     {"connection_flood = 3", "[detection] connection_flood must be a table"},
                     {"connection_flood = { limit = 3 }", "unknown key 'limit' in [detection] connection_flood"},
                     {"port_scan = { threshold = 3 }", "unknown key 'port_scan' in [detection]"},
                 });
}

TEST_CASE("[incidents] gives the incident queue's capacity; out of range names the file, the line and the range") {
  TempProfile p;
  p.write("www/index.html", "x");
  p.write("card.toml", kMinimal);
  CHECK(load_profile(p.dir).incidents.capacity == 32);
  p.write("card.toml", std::string(kMinimal) + "[incidents]\ncapacity = 4\n");
  CHECK(load_profile(p.dir).incidents.capacity == 4);
  check_refusals("incidents", {
                                  {"capacity = 3", "card.toml:5:12: [incidents] capacity must be in the range 4-255"},
                                  {"capacity = 256", "[incidents] capacity must be in the range 4-255"},
                                  {"capacity = \"many\"", "[incidents] capacity must be in the range 4-255"},
                                  {"size = 8", "unknown key 'size' in [incidents]"},
                              });
}

TEST_CASE("[admin] gives the link to the administration server, with defaults; no table, no link") {
  TempProfile p;
  p.write("www/index.html", "x");
  p.write("card.toml", kMinimal);
  CHECK_FALSE(load_profile(p.dir).admin.has_value());
  p.write("card.toml", std::string(kMinimal) + "[admin]\n");
  const scws::sim::ProfileAdmin d = load_profile(p.dir).admin.value();
  CHECK(d.server == "127.0.0.1");
  CHECK(d.port == 7443);
  CHECK(d.host == "admin.scws.test");
  CHECK(d.uri == "/scws/admin");
  CHECK(d.retry_count == 3);
  CHECK(d.retry_delay == 10);
  CHECK(d.period == 0);
  CHECK(d.timeout == 30);
  CHECK(d.on_incident);
  CHECK(d.buffer == 1400);
  CHECK(d.enabled);
  p.write("card.toml", std::string(kMinimal) +
                           "[admin]\nserver = \"10.1.2.3\"\nport = 8443\nhost = \"a.example\"\nuri = \"/x\"\nretry_count = 0\n"
                           "retry_delay = 3600\nperiod = 86400\ntimeout = 600\non_incident = false\nbuffer = 256\nenabled = false\n");
  const scws::sim::ProfileAdmin a = load_profile(p.dir).admin.value();
  CHECK(a.server == "10.1.2.3");
  CHECK(a.port == 8443);
  CHECK(a.retry_count == 0);
  CHECK(a.period == 86400);
  CHECK_FALSE(a.on_incident);
  CHECK_FALSE(a.enabled);
  CHECK(load_profile(fs::path(SCWS_SOURCE_ROOT) / "profiles" / "demo").admin.has_value());
}

TEST_CASE("[admin] values out of range are refused naming the file, the line and the allowed range") {
  check_refusals("admin", {
                              {"server = \"localhost\"", "card.toml:5:10: [admin] server must be an IPv4 address"},
                              {"server = \"::1\"", "[admin] server must be an IPv4 address"},
                              {"port = 0", "[admin] port must be a TCP port 1-65535"},
                              {"host = \"\"", "[admin] host must be 1-64 printable ASCII bytes"},
                              {"uri = \"scws\"", "[admin] uri must be an absolute path"},
                              {"retry_count = 11", "[admin] retry_count must be 0-10"},
                              {"retry_delay = 0", "[admin] retry_delay must be 1-3600 seconds"},
                              {"period = -1", "[admin] period must be 0 (none)"},
                              {"timeout = 601", "[admin] timeout must be 1-600 seconds"},
                              {"buffer = 255", "[admin] buffer must be 256-65535 bytes"},
                              {"enabled = 1", "[admin] enabled must be true or false"},
                              {"address = \"1.2.3.4\"", "unknown key 'address' in [admin]"},
                          });
}
