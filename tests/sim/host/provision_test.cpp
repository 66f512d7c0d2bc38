// sim/provision: a profile compiled into a card image holds exactly the profile's content, users
// and protection sets, readable through the card's own lookups; the card's refusals name the culprit.
#include "sim/host/provision.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "card/defence/admin_link.hpp"
#include "card/defence/incident_queue.hpp"
#include "card/os/adm_key.hpp"
#include "card/os/nvm.hpp"
#include "card/os/nvm_device.hpp"
#include "card/scws/scws_settings.hpp"
#include "card/scws/web_content.hpp"
#include "card/scws/web_users.hpp"
#include "scws_config.hpp"
#include "sim/host/emulated_uicc.hpp"
#include "sim/host/file_nvm_device.hpp"
#include "card/scws/tls_port.hpp"

namespace fs = std::filesystem;
using namespace scws;
using scws::sim::ProvisionError;

namespace {

struct TempDir {
  fs::path dir;
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "scws-provision-XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    dir = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  void write(const std::string& relative, const std::string& text) const {
    fs::create_directories((dir / relative).parent_path());
    std::ofstream(dir / relative, std::ios::binary) << text;
  }
};

std::string file_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string read_resource(card::ObjectStore& store, const std::string& path) {
  auto found = card::web_content_find(store, path);
  REQUIRE(found.ok());
  std::string body(found.value().length, '\0');
  auto n = card::web_content_read(store, found.value(), 0,
                                  MutableBytes(reinterpret_cast<u8*>(body.data()), body.size()));
  REQUIRE(n.ok());
  CHECK(n.value() == body.size());
  return body;
}

}  // namespace

TEST_CASE("the demo profile compiles into an image whose resources and protection the card finds") {
  const fs::path demo = fs::path(SCWS_SOURCE_ROOT) / "profiles" / "demo";
  const sim::Profile profile = sim::load_profile(demo);
  std::vector<u8> image(1024 * 1024);
  card::RamNvmDevice device(MutableBytes(image.data(), image.size()));
  const sim::ProvisionReport report = sim::provision_device(profile, device);
  CHECK(report.resources == profile.resources.size());
  CHECK(report.users == 1);
  CHECK(report.protection_sets == 1);
  CHECK(report.nvm_free > 0);

  card::Nvm nvm(device);
  REQUIRE(nvm.mount().ok());
  card::ObjectStore store(nvm);
  CHECK(card::web_content_count(store) == profile.resources.size());
  auto settings = card::scws_settings_get(store);
  REQUIRE(settings.ok());
  CHECK(settings->http_port == 3516);
  CHECK(settings->http_channels == profile.http_channels);
  CHECK(settings->index_name() == "index.html");
  for (const auto& r : profile.resources) {
    CAPTURE(r.path);
    CHECK(read_resource(store, r.path) == file_text(r.file));
    auto found = card::web_content_find(store, r.path);
    REQUIRE(found.ok());
    CHECK(found.value().type() == r.content_type);
  }
  auto secure = card::web_protection_for(store, "/secure/index.html");
  REQUIRE(secure.ok());
  REQUIRE(secure.value().has_value());
  CHECK(secure.value()->realm_text() == "scws secure area");
  auto open = card::web_protection_for(store, "/index.html");
  REQUIRE(open.ok());
  CHECK_FALSE(open.value().has_value());
}

TEST_CASE("a 1 MiB resource is provisioned in one go despite the smaller commit capacity") {
  TempDir p;
  p.write("card.toml", "[card]\niccid = \"8988211000000000017\"\n");
  p.write("www/index.html", "x");
  std::string big(1024 * 1024, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 131) ^ (i >> 9));
  p.write("www/big.bin", big);
  std::vector<u8> image(4 * 1024 * 1024);
  card::RamNvmDevice device(MutableBytes(image.data(), image.size()));
  sim::provision_device(sim::load_profile(p.dir), device);
  card::Nvm nvm(device);
  REQUIRE(nvm.mount().ok());
  card::ObjectStore store(nvm);
  CHECK(read_resource(store, "/big.bin") == big);
}

TEST_CASE("provisioning names the resource the card has no room for") {
  TempDir p;
  p.write("card.toml", "[card]\niccid = \"8988211000000000017\"\n");
  p.write("www/index.html", "x");
  p.write("www/huge.bin", std::string(200 * 1024, 'h'));
  std::vector<u8> image(160 * 1024);
  card::RamNvmDevice device(MutableBytes(image.data(), image.size()));
  try {
    sim::provision_device(sim::load_profile(p.dir), device);
    FAIL("provisioning should have failed");
  } catch (const ProvisionError& e) {
    const std::string what = e.what();
    CHECK(what.find("/huge.bin") != std::string::npos);
    CHECK(what.find("larger --size") != std::string::npos);
  }
}

TEST_CASE("provisioning names the resource beyond the card's resource count") {
  TempDir p;
  p.write("card.toml", "[card]\niccid = \"8988211000000000017\"\n");
  p.write("www/index.html", "x");
  for (std::size_t i = 0; i < card::WebContentLimits::kMaxResources; ++i) p.write("www/r" + std::to_string(i) + ".txt", "r");
  std::vector<u8> image(1024 * 1024);
  card::RamNvmDevice device(MutableBytes(image.data(), image.size()));
  CHECK_THROWS_WITH_AS(sim::provision_device(sim::load_profile(p.dir), device),
                       doctest::Contains("resources)"), ProvisionError);
}

TEST_CASE("provision_file writes the image atomically and refuses to overwrite without force") {
  TempDir p;
  p.write("card.toml", "[card]\niccid = \"8988211000000000017\"\n");
  p.write("www/index.html", "hello");
  const fs::path out = p.dir / "card.img";
  const sim::Profile profile = sim::load_profile(p.dir);
  sim::provision_file(profile, out, 256 * 1024, false);
  CHECK(fs::file_size(out) == 256 * 1024);
  CHECK_THROWS_AS(sim::provision_file(profile, out, 256 * 1024, false), ProvisionError);
  sim::provision_file(profile, out, 256 * 1024, true);
  for (const auto& entry : fs::directory_iterator(p.dir)) {
    CHECK(entry.path().filename().string().find(".tmp") == std::string::npos);  // no temporary left behind
  }
  sim::FileNvmDevice file = sim::FileNvmDevice::open(out);
  card::Nvm nvm(file);
  REQUIRE(nvm.mount().ok());
  card::ObjectStore store(nvm);
  CHECK(read_resource(store, "/index.html") == "hello");
}

TEST_CASE("a profile with [tls] gets the card's credentials in the image and the clients' part in a folder") {
  TempDir t;
  fs::copy(fs::path(SCWS_SOURCE_ROOT) / "profiles" / "demo", t.dir / "profile", fs::copy_options::recursive);
  const sim::Profile profile = sim::load_profile(t.dir / "profile");
  REQUIRE(profile.tls.has_value());
  const fs::path image = t.dir / "card.img";
  const sim::ProvisionReport first = sim::provision_file(profile, image, 1024 * 1024, false);
  CHECK(first.credentials == fs::path(image.string() + ".credentials"));
  CHECK_FALSE(first.credentials_reused);
  CHECK(first.tls_clients == profile.tls->clients);
  CHECK(first.tls_psks == profile.tls->psk_identities);
  for (const char* f : {"ca.pem", "ca.key", "client-1.pem", "client-1.key", "psk.txt", "foreign-client.pem",
                        "expired-client.pem", "README.txt"})
    CHECK(fs::exists(first.credentials / f));
  const std::string ca = file_text(first.credentials / "ca.pem");

  // Reprovisioning keeps the CA (client certificates stay valid) and the card powers up serving TLS.
  const sim::ProvisionReport again = sim::provision_file(profile, image, 1024 * 1024, true);
  CHECK(again.credentials_reused);
  CHECK(file_text(again.credentials / "ca.pem") == ca);
  sim::FileNvmDevice nvm = sim::FileNvmDevice::open(image);
  sim::EmulatedUicc uicc(nvm, 128 * 1024);
  REQUIRE(uicc.card().power_on().ok());
  CHECK(uicc.scws().settings().tls_port == profile.tls->port);
  CHECK(uicc.scws().settings().tls_ram == profile.tls->ram);
  CHECK(uicc.tls_port().state() == card::TlsPort::State::kServing);
  CHECK(uicc.tls_port().max_sessions() == profile.tls->channels);
  uicc.card().power_off();
}

TEST_CASE("a card whose RAM cannot hold the image's TLS region does not power up") {
  TempDir t;
  fs::copy(fs::path(SCWS_SOURCE_ROOT) / "profiles" / "demo", t.dir / "profile", fs::copy_options::recursive);
  const sim::Profile profile = sim::load_profile(t.dir / "profile");
  std::vector<u8> image(1024 * 1024);
  card::RamNvmDevice device(MutableBytes(image.data(), image.size()));
  (void)sim::provision_device(profile, device);  // a throwaway PKI: nobody keeps the clients' part
  sim::EmulatedUicc uicc(device, 32 * 1024);
  auto up = uicc.card().power_on();
  REQUIRE_FALSE(up.ok());
  CHECK(up.error() == card::PowerError::kRamTooSmall);
}

TEST_CASE("provisioning stores password hashes, never a password, and the card grants the right one") {
  const fs::path demo = fs::path(SCWS_SOURCE_ROOT) / "profiles" / "demo";
  const sim::Profile profile = sim::load_profile(demo);
  REQUIRE(profile.users.size() == 1);
  const std::string password = profile.users[0].password;
  std::vector<u8> image(1024 * 1024);
  card::RamNvmDevice device(MutableBytes(image.data(), image.size()));
  (void)sim::provision_device(profile, device);
  const std::string raw(image.begin(), image.end());
  CHECK(raw.find(password) == std::string::npos);
  CHECK(raw.find(profile.users[0].name) != std::string::npos);

  card::Nvm nvm(device);
  REQUIRE(nvm.mount().ok());
  card::ObjectStore store(nvm);
  auto secure = card::web_protection_for(store, "/secure/index.html");
  REQUIRE(secure.ok());
  REQUIRE(secure.value().has_value());
  // OpenSSL's PBKDF2 on the host, mbedTLS's SHA-256 on the card: the same hash.
  const std::string right = "Basic " + std::string("YWxpY2U6d29uZGVybGFuZA==");  // alice:wonderland
  const std::string wrong = "Basic " + std::string("YWxpY2U6d29uZGVybGFuZQ==");  // alice:wonderlane
  CHECK(card::web_users_check(store, **secure, right) == card::AuthOutcome::kGranted);
  CHECK(card::web_users_check(store, **secure, wrong) == card::AuthOutcome::kDenied);

  // Two provisionings salt differently: equal passwords do not give equal records.
  std::vector<u8> image2(1024 * 1024);
  card::RamNvmDevice device2(MutableBytes(image2.data(), image2.size()));
  (void)sim::provision_device(profile, device2);
  CHECK(image != image2);
}

TEST_CASE("provisioning writes the profile's ADM key: the card verifies it") {
  const fs::path demo = fs::path(SCWS_SOURCE_ROOT) / "profiles" / "demo";
  const sim::Profile profile = sim::load_profile(demo);
  REQUIRE(profile.security.adm_key.has_value());
  std::vector<u8> image(1024 * 1024);
  card::RamNvmDevice device(MutableBytes(image.data(), image.size()));
  (void)sim::provision_device(profile, device);
  card::Nvm nvm(device);
  REQUIRE(nvm.mount().ok());
  card::ObjectStore store(nvm);
  card::SecurityEvents events;
  card::AdmKey adm(store, events);
  auto counter = adm.counter();
  REQUIRE(counter.ok());
  CHECK(counter->tries == profile.security.adm_tries);
  CHECK(counter->left == profile.security.adm_tries);
}

TEST_CASE("provisioning makes the empty incident queue with the profile's capacity") {
  const fs::path demo = fs::path(SCWS_SOURCE_ROOT) / "profiles" / "demo";
  sim::Profile profile = sim::load_profile(demo);
  profile.incidents.capacity = 7;
  std::vector<u8> image(1024 * 1024);
  card::RamNvmDevice device(MutableBytes(image.data(), image.size()));
  (void)sim::provision_device(profile, device);
  card::Nvm nvm(device);
  REQUIRE(nvm.mount().ok());
  card::ObjectStore store(nvm);
  card::IncidentQueue queue;
  REQUIRE(queue.power_up(store).ok());
  CHECK_FALSE(queue.damaged_at_power_up());
  auto summary = queue.summary();
  REQUIRE(summary.ok());
  CHECK(summary->capacity == 7);
  CHECK(summary->count == 0);
  CHECK(summary->next_sequence == 1);
  CHECK(store.find(card::IncidentQueue::kObject)->size == card::IncidentQueue::object_size(7));
}

TEST_CASE("[admin]: the link and a fresh PSK in the image, the enrolment file beside it (mode 0600)") {
  TempDir p;
  p.write("card.toml", "[card]\niccid = \"8988211000000000017\"\n[admin]\nserver = \"10.0.0.7\"\nport = 8443\nretry_count = 2\n");
  p.write("www/index.html", "hello");
  const fs::path out = p.dir / "card.img";
  const sim::Profile profile = sim::load_profile(p.dir);
  const sim::ProvisionReport r = sim::provision_file(profile, out, 256 * 1024, false);
  REQUIRE(r.admin.has_value());
  CHECK(r.enrolment == fs::path(out.string() + ".admin.toml"));
  CHECK((fs::status(r.enrolment).permissions() & fs::perms::all) == (fs::perms::owner_read | fs::perms::owner_write));
  const std::string text = file_text(r.enrolment);
  CHECK(text.find("iccid = \"8988211000000000017\"\n") != std::string::npos);
  CHECK(text.find("psk_identity = \"scws-admin:8988211000000000017\"\n") != std::string::npos);
  CHECK(text.find("server = \"10.0.0.7\"\n") != std::string::npos);
  CHECK(text.find("port = 8443\n") != std::string::npos);
  CHECK(text.find("host = \"admin.scws.test\"\n") != std::string::npos);
  CHECK(text.find("uri = \"/scws/admin\"\n") != std::string::npos);
  const std::size_t k = text.find("psk_key = \"");
  REQUIRE(k != std::string::npos);
  CHECK(text.substr(k + 11 + 32, 2) == "\"\n");  // 16 bytes in hex

  sim::FileNvmDevice file = sim::FileNvmDevice::open(out);
  card::Nvm nvm(file);
  REQUIRE(nvm.mount().ok());
  card::ObjectStore store(nvm);
  card::AdminLinkSettings link;
  REQUIRE(card::load_admin_link(store, link).ok());
  CHECK(link.enabled);
  CHECK(link.address == std::array<u8, 4>{10, 0, 0, 7});
  CHECK(link.port == 8443);
  CHECK(link.retry_count == 2);
  CHECK(link.host_view() == "admin.scws.test");
  card::AdminPsk psk;
  REQUIRE(card::load_admin_psk(store, psk).ok());
  CHECK(std::string(psk.identity_bytes().begin(), psk.identity_bytes().end()) == "scws-admin:8988211000000000017");
  CHECK(psk.key_length == 16);
  CHECK(std::vector<u8>(psk.key_bytes().begin(), psk.key_bytes().end()) == r.admin->psk_key);

  // Without [admin]: no link, no enrolment file.
  TempDir q;
  q.write("card.toml", "[card]\niccid = \"8988211000000000017\"\n");
  q.write("www/index.html", "hello");
  const sim::ProvisionReport none = sim::provision_file(sim::load_profile(q.dir), q.dir / "card.img", 256 * 1024, false);
  CHECK_FALSE(none.admin.has_value());
  CHECK_FALSE(fs::exists(q.dir / "card.img.admin.toml"));
}

TEST_CASE("the emulated card with a provisioned link has an idle agent; without one, an agent that is off") {
  const fs::path demo = fs::path(SCWS_SOURCE_ROOT) / "profiles" / "demo";
  const sim::Profile profile = sim::load_profile(demo);
  std::vector<u8> image(4 * 1024 * 1024);
  card::RamNvmDevice device(MutableBytes(image.data(), image.size()));
  (void)sim::provision_device(profile, device);
  {
    sim::EmulatedUicc host(device, SCWS_RAM_SIZE);
    REQUIRE(host.card().power_on().ok());
    CHECK(host.agent().linked());
    CHECK(host.agent().state() == card::AdminAgent::State::kIdle);
    CHECK(host.agent().link().port == 7443);
  }
  sim::Profile plain = profile;
  plain.admin.reset();
  std::vector<u8> image2(4 * 1024 * 1024);
  card::RamNvmDevice device2(MutableBytes(image2.data(), image2.size()));
  (void)sim::provision_device(plain, device2);
  sim::EmulatedUicc host(device2, SCWS_RAM_SIZE);
  REQUIRE(host.card().power_on().ok());
  CHECK_FALSE(host.agent().linked());
  CHECK(host.agent().state() == card::AdminAgent::State::kOff);
}
