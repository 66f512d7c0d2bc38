// card/scws_settings: the profile's ports, channels and default page, stored in and read from NVM.
#include "card/scws/scws_settings.hpp"

#include <doctest/doctest.h>

#include <array>
#include <cstring>
#include <vector>

#include "card/os/nvm.hpp"
#include "card/os/nvm_device.hpp"

using namespace scws;
using namespace scws::card;

namespace {

struct Store {
  std::vector<u8> image = std::vector<u8>(256 * 1024);
  RamNvmDevice device{MutableBytes(image.data(), image.size())};
  Nvm nvm{device};
  ObjectStore objects{nvm};
  Store() {
    REQUIRE(nvm.format(16 * 1024).ok());
    REQUIRE(nvm.begin().ok());
    REQUIRE(objects.format().ok());
    REQUIRE(nvm.commit().ok());
  }
};

ScwsSettings with_index(const char* name) {
  ScwsSettings s;
  s.index_length = static_cast<u8>(std::strlen(name));
  std::memset(s.index, 0, sizeof s.index);
  std::memcpy(s.index, name, s.index_length);
  return s;
}

}  // namespace

TEST_CASE("an image without settings gets the defaults: HTTP on 3516, index.html, no TLS port") {
  Store st;
  auto s = scws_settings_get(st.objects);
  REQUIRE(s.ok());
  CHECK(s->http_port == 3516);
  CHECK(s->tls_port == 0);
  CHECK(s->index_name() == "index.html");
}

TEST_CASE("settings round-trip through NVM and survive a remount") {
  Store st;
  ScwsSettings s = with_index("home.htm");
  s.http_port = 8080;
  s.http_channels = 7;
  s.http_channels = 5;
  s.tls_port = 10443;
  s.tls_channels = 2;
  s.tls_mode = TlsPortMode::kBoth;
  s.tls_timeout = 7;
  s.tls_ram = 70000;
  REQUIRE(scws_settings_put(st.objects, s).ok());
  CHECK_FALSE(st.nvm.in_transaction());
  Nvm again(st.device);
  REQUIRE(again.mount().ok());
  ObjectStore objects(again);
  auto got = scws_settings_get(objects);
  REQUIRE(got.ok());
  CHECK(got->http_port == 8080);
  CHECK(got->http_channels == 5);
  CHECK(got->tls_port == 10443);
  CHECK(got->tls_channels == 2);
  CHECK(got->tls_mode == TlsPortMode::kBoth);
  CHECK(got->tls_timeout == 7);
  CHECK(got->tls_ram == 70000);
  CHECK(got->index_name() == "home.htm");
}

TEST_CASE("settings written inside the caller's transaction vanish with its abort") {
  Store st;
  REQUIRE(st.nvm.begin().ok());
  ScwsSettings s;
  s.http_port = 9000;
  REQUIRE(scws_settings_put(st.objects, s).ok());
  CHECK(st.nvm.in_transaction());
  REQUIRE(st.nvm.abort().ok());
  CHECK(scws_settings_get(st.objects)->http_port == 3516);
}

TEST_CASE("invalid settings are refused and change nothing") {
  Store st;
  ScwsSettings zero_port;
  zero_port.http_port = 0;
  ScwsSettings eight_channels;
  eight_channels.http_channels = 8;
  ScwsSettings tls_without_channels;
  tls_without_channels.tls_port = 10443;
  ScwsSettings same_ports;
  same_ports.tls_port = 3516;
  same_ports.tls_channels = 1;
  for (const ScwsSettings& s : {zero_port, eight_channels, tls_without_channels, same_ports, with_index(""),
                                with_index("a/b.html"), with_index(".."), with_index("sp ace.html")}) {
    CHECK(scws_settings_put(st.objects, s).error() == SettingsError::kInvalid);
  }
  CHECK(st.objects.find(kScwsSettingsObject).error() == NvmError::kNotFound);
}

TEST_CASE("a damaged settings object is reported as corrupt, not read as defaults") {
  Store st;
  REQUIRE(scws_settings_put(st.objects, ScwsSettings{}).ok());
  REQUIRE(st.nvm.begin().ok());
  const u8 bad[1] = {'X'};
  REQUIRE(st.objects.write(kScwsSettingsObject, 0, Bytes(bad, 1)).ok());
  REQUIRE(st.nvm.commit().ok());
  CHECK(scws_settings_get(st.objects).error() == SettingsError::kCorrupt);
}

namespace {

ScwsSettings tls_settings() {
  ScwsSettings s;
  s.http_channels = 4;
  s.tls_port = 10443;
  s.tls_channels = 3;
  s.tls_mode = TlsPortMode::kCertificate;
  s.tls_ram = 40960;
  return s;
}

}  // namespace

TEST_CASE("settings refuse a TLS port without a mode, RAM or timeout, and TLS fields without a port") {
  CHECK(scws_settings_valid(tls_settings()));
  struct Row {
    const char* what;
    void (*spoil)(ScwsSettings&);
  };
  const Row rows[] = {
      {"no mode", [](ScwsSettings& s) { s.tls_mode = TlsPortMode::kNone; }},
      {"mode out of range", [](ScwsSettings& s) { s.tls_mode = static_cast<TlsPortMode>(4); }},
      {"region below a PSK session", [](ScwsSettings& s) { s.tls_ram = ScwsSettings::kMinTlsRam - 1; }},
      {"region above the largest card RAM", [](ScwsSettings& s) { s.tls_ram = ScwsSettings::kMaxTlsRam + 1; }},
      {"timeout 0", [](ScwsSettings& s) { s.tls_timeout = 0; }},
      {"8 channels in all (TS 102 223 8.5: 7)", [](ScwsSettings& s) { s.http_channels = 5; }},
      {"TLS on the HTTP port", [](ScwsSettings& s) { s.tls_port = s.http_port; }},
      {"mode without a port", [](ScwsSettings& s) { s.tls_port = 0; s.tls_channels = 0; s.tls_ram = 0; }},
      {"RAM without a port", [](ScwsSettings& s) { s.tls_port = 0; s.tls_channels = 0; s.tls_mode = TlsPortMode::kNone; }},
  };
  Store st;
  for (const Row& row : rows) {
    CAPTURE(row.what);
    ScwsSettings s = tls_settings();
    row.spoil(s);
    CHECK_FALSE(scws_settings_valid(s));
    CHECK(scws_settings_put(st.objects, s).error() == SettingsError::kInvalid);
  }
}

TEST_CASE("settings with a spoilt TLS mode byte in NVM read back as corrupt") {
  Store st;
  REQUIRE(scws_settings_put(st.objects, tls_settings()).ok());
  const u8 bad = 9;  // +12 tls_mode
  REQUIRE(st.nvm.begin().ok());
  REQUIRE(st.objects.write(kScwsSettingsObject, 12, Bytes(&bad, 1)).ok());
  REQUIRE(st.nvm.commit().ok());
  auto got = scws_settings_get(st.objects);
  REQUIRE_FALSE(got.ok());
  CHECK(got.error() == SettingsError::kCorrupt);
}
