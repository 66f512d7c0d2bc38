// The remote administration commands of the admin applet (docs/protocol.md 16.6) on a whole card
// with the SCWS applet and its stores behind card::ScwsContentControl: PUT / DELETE RESOURCE with
// the staging object, PUT / DELETE USER, ROTATE PSK, each one's status words, idempotence (twice
// = once), what the HTTP server serves at once after each, and a power cut at every NVM write of
// each command: after the reboot the old state or the new one, never a mix.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "base/crc32.hpp"
#include "card/defence/admin_applet.hpp"
#include "card/defence/admin_link.hpp"
#include "card/defence/resource_staging.hpp"
#include "card/os/card.hpp"
#include "card/scws/scws_content_control.hpp"
#include "card/scws/web_content.hpp"
#include "card/scws/web_users.hpp"
#include "tls/credentials.hpp"
#include "tests/card/os/card_fixture.hpp"
#include "tests/card/scws/scws_fixture.hpp"

using namespace scws;
using namespace scws::card;
using namespace scws::card::test;

namespace {

constexpr const char* kSelect = "00A4040006F05343575341";
constexpr const char* kVerify = "0020000A083132333435363738";  // the demo key "12345678"
constexpr std::size_t kImageSize = 512 * 1024;

std::string hex_of(std::string_view s) {
  std::string out;
  char b[3];
  for (unsigned char c : s) {
    std::snprintf(b, sizeof b, "%02X", c);
    out += b;
  }
  return out;
}
std::string u8_hex(std::size_t v) { return hex_of(std::string(1, static_cast<char>(v))); }
std::string u32_hex(u32 v) {
  char b[9];
  std::snprintf(b, sizeof b, "%08X", v);
  return b;
}
// An APDU with data: CLA INS P1 P2 Lc data (hex).
std::string cmd(std::string_view head, const std::string& data_hex) { return std::string(head) + u8_hex(data_hex.size() / 2) + data_hex; }
std::string lv(std::string_view s) { return u8_hex(s.size()) + hex_of(s); }

std::string begin_apdu(std::string_view path, std::string_view type, u32 length) {
  return cmd("80720000", u32_hex(length) + lv(path) + lv(type));
}
std::vector<std::string> put_resource_apdus(std::string_view path, std::string_view type, std::string_view body,
                                            std::size_t piece = 240) {
  std::vector<std::string> out{begin_apdu(path, type, static_cast<u32>(body.size()))};
  for (std::size_t at = 0; at < body.size(); at += piece) out.push_back(cmd("80720100", hex_of(body.substr(at, piece))));
  out.push_back("80720200");
  return out;
}
std::string put_user_apdu(std::string_view name, std::string_view password, std::vector<std::string_view> sets) {
  std::string data = lv(name) + lv(password) + u8_hex(sets.size());
  for (auto s : sets) data += lv(s);
  return cmd("80760000", data);
}

// An Authorization field with Basic credentials (RFC 7617 2, base64 of RFC 4648 4).
std::string basic(std::string_view user, std::string_view password) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const std::string in = std::string(user) + ":" + std::string(password);
  std::string out;
  for (std::size_t i = 0; i < in.size(); i += 3) {
    unsigned v = 0;
    const std::size_t n = std::min<std::size_t>(3, in.size() - i);
    for (std::size_t k = 0; k < 3; ++k) v = (v << 8) | (k < n ? static_cast<unsigned char>(in[i + k]) : 0U);
    for (std::size_t k = 0; k < 4; ++k) out.push_back(k <= n ? kAlphabet[(v >> (18 - 6 * k)) & 63] : '=');
  }
  return "Authorization: Basic " + out + "\r\n";
}

std::string body_of(std::size_t n, char seed) {
  std::string b(n, ' ');
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<char>('a' + (i * 7 + static_cast<std::size_t>(seed)) % 26);
  return b;
}

// The card's entropy source, fixed: the salts PUT USER draws differ by DRBG state, not by test run.
int test_entropy(void*, unsigned char* out, std::size_t len) {
  for (std::size_t i = 0; i < len; ++i) out[i] = static_cast<unsigned char>(0x5A ^ (i * 13));
  return 0;
}

class FakeSession final : public AdminSessionControl {
 public:
  Status<CardError> start_session(CardContext&) noexcept override {
    ++started;
    if (!linked) return fail(CardError::kConditionsNotSatisfied);
    return {};
  }
  int started = 0;
  bool linked = true;
};

// The card as sim/host/emulated_uicc builds it, minus the toolkit, the TLS port and the detection:
// the admin applet with the SCWS stores behind ScwsContentControl, and the SCWS applet serving them.
struct AdminCard {
  struct alignas(16) Ram {
    u8 bytes[SCWS_RAM_SIZE];
  };
  RamNvmDevice plain;
  std::unique_ptr<PowerLossNvmDevice> lossy;
  std::unique_ptr<Ram> ram = std::make_unique<Ram>();
  Card card;
  tls::CardRng rng;
  ScwsContentControl content{rng};
  IncidentQueue queue;
  AdminApplet admin{queue};
  ScwsApplet scws;
  FakeSession session;

  // image: a formatted card image (see pristine_image); cut_at: power cut at that NVM write (none
  // by default). with_content: whether the admin applet gets the ContentControl.
  explicit AdminCard(std::vector<u8>& image, u64 cut_at = ~u64{0}, bool with_content = true)
      : plain(image),
        lossy(std::make_unique<PowerLossNvmDevice>(plain, cut_at)),
        card(*lossy, MutableBytes(ram->bytes, sizeof ram->bytes)) {
    REQUIRE(rng.seed(test_entropy, nullptr, text_bytes("admin commands")).ok());
    if (with_content) admin.set_content_control(&content);
    REQUIRE(card.add_applet(admin));
    REQUIRE(card.add_applet(scws));
  }
  ~AdminCard() {
    if (card.powered()) card.power_off();
  }

  // Powers on, selects the admin applet and verifies ADM1.
  void start() {
    REQUIRE(card.power_on().ok());
    REQUIRE(sw(kSelect) == "9000");
    REQUIRE(sw(kVerify) == "9000");
  }
  std::string send(std::string_view command_hex) {
    const std::vector<u8> c = hex(command_hex);
    std::vector<u8> response(SCWS_APDU_BUFFER_SIZE + 2);
    const std::size_t n = card.process(c, response);
    REQUIRE(n >= 2);
    return hex_text(Bytes(response.data(), n));
  }
  std::string sw(std::string_view command_hex) {
    const std::string r = send(command_hex);
    return r.substr(r.size() - 4);
  }
  void run_all(const std::vector<std::string>& commands) {
    for (const auto& c : commands) {
      CAPTURE(c.substr(0, 16));
      REQUIRE(sw(c) == "9000");
    }
  }
  Response get(std::string_view path, const std::string& extra = "") {
    return get_one(scws, "GET " + std::string(path) + " HTTP/1.1\r\nHost: card\r\n" + extra + "\r\n");
  }
};

// A formatted image with the demo key, the applets installed, and: /page.html ("old page"),
// users alice and bob, the set "Secure Area" on /secure (alice), the admin link PSK and one TLS PSK.
std::vector<u8> pristine_image() {
  std::vector<u8> image(kImageSize);
  {
    RamNvmDevice device(image);
    static const std::vector<u8> key = hex("3132333435363738");
    CardIdentity id;
    id.adm_key = key;
    REQUIRE(Card::format_image(device, id).ok());
  }
  {
    AdminCard first(image);  // installs the applets: the content index and the users object
    REQUIRE(first.card.power_on().ok());
  }
  RamNvmDevice device(image);
  Nvm nvm(device);
  REQUIRE(nvm.mount().ok());
  ObjectStore objects(nvm);
  REQUIRE(web_content_put(objects, "/page.html", "text/html", text_bytes("old page")).ok());
  REQUIRE(web_content_put(objects, "/secure/page.html", "text/html", text_bytes("secret")).ok());
  REQUIRE(web_user_put(objects, "alice", test_hash("wonderland")).ok());
  REQUIRE(web_user_put(objects, "bob", test_hash("builder")).ok());
  const std::string_view users[] = {"alice"};
  REQUIRE(web_protection_put(objects, "/secure", "Secure Area", users).ok());
  REQUIRE(store_admin_psk(objects, text_bytes("scws-admin:89882110000000000"), Bytes(std::vector<u8>(16, 0x11))).ok());
  REQUIRE(tls::put_psk(objects, text_bytes("psk-app-1"), Bytes(std::vector<u8>(16, 0x22))).ok());
  return image;
}

// What the card holds after a reboot, read through the plain image.
struct Stored {
  std::vector<u8> image;
  RamNvmDevice device{image};
  Nvm nvm{device};
  ObjectStore objects{nvm};
  explicit Stored(const std::vector<u8>& img) : image(img) { REQUIRE(nvm.mount().ok()); }
};

}  // namespace

TEST_CASE("PUT RESOURCE: 5 KB in 240-byte pieces, published and served at once; a replacement too") {
  std::vector<u8> image = pristine_image();
  AdminCard a(image);
  a.start();
  const std::string body = body_of(5 * 1024, 1);
  a.run_all(put_resource_apdus("/big.html", "text/html; charset=utf-8", body));
  Response r = a.get("/big.html");
  CHECK(r.status == 200);
  CHECK(r.body == body);
  CHECK(r.header("content-type") == "text/html; charset=utf-8");
  char etag[kEtagTextSize];
  CHECK(r.header("etag") == std::string(format_etag(crc32(text_bytes(body)), etag)));
  // The staging object went with the publication.
  CHECK(a.sw("80720200") == "6985");
  // Replacing an existing page: the old one until the publishing command, the new one right after.
  const std::string fresh = body_of(700, 2);
  const auto commands = put_resource_apdus("/page.html", "text/plain", fresh);
  for (std::size_t i = 0; i + 1 < commands.size(); ++i) REQUIRE(a.sw(commands[i]) == "9000");
  CHECK(a.get("/page.html").body == "old page");
  REQUIRE(a.sw(commands.back()) == "9000");
  r = a.get("/page.html");
  CHECK(r.body == fresh);
  CHECK(r.header("content-type") == "text/plain");
  // An empty body is a resource too.
  a.run_all(put_resource_apdus("/empty.txt", "text/plain", ""));
  r = a.get("/empty.txt");
  CHECK(r.status == 200);
  CHECK(r.body.empty());
}

TEST_CASE("PUT RESOURCE of a page larger than the commit capacity, then its replacement by another") {
  std::vector<u8> image = pristine_image();
  AdminCard a(image);
  a.start();
  const std::string big = body_of(100 * 1024, 8);
  a.run_all(put_resource_apdus("/big.bin", "application/octet-stream", big));
  CHECK(a.get("/big.bin").body == big);
  const std::string bigger = body_of(110 * 1024, 9);
  a.run_all(put_resource_apdus("/big.bin", "application/octet-stream", bigger));
  CHECK(a.get("/big.bin").body == bigger);
}

TEST_CASE("a page replaced while a response streams it: that response ends short, never mixes the bodies") {
  std::vector<u8> image = pristine_image();
  AdminCard a(image);
  a.start();
  const std::string first = body_of(3000, 6);
  a.run_all(put_resource_apdus("/live.html", "text/html", first));
  REQUIRE(a.scws.open(0));
  const std::string request = "GET /live.html HTTP/1.1\r\nHost: card\r\n\r\n";
  REQUIRE(a.scws.receive(0, text_bytes(request)) == request.size());
  std::string received;
  u8 piece[240];
  for (int i = 0; i < 3; ++i) {
    const std::size_t n = a.scws.send(0, MutableBytes(piece, sizeof piece));
    received.append(reinterpret_cast<const char*>(piece), n);
  }
  // The same length, other bytes: only the entry's ETag tells them apart.
  a.run_all(put_resource_apdus("/live.html", "text/html", body_of(3000, 7)));
  for (int guard = 0; guard < 100; ++guard) {
    const std::size_t n = a.scws.send(0, MutableBytes(piece, sizeof piece));
    if (n == 0) break;
    received.append(reinterpret_cast<const char*>(piece), n);
  }
  CHECK(a.scws.wants_close(0));
  const std::size_t head_end = received.find("\r\n\r\n");
  REQUIRE(head_end != std::string::npos);
  const std::string body = received.substr(head_end + 4);
  CHECK(body.size() < first.size());
  CHECK(first.compare(0, body.size(), body) == 0);  // what came is the first body's start
  a.scws.close(0);
  CHECK(a.get("/live.html").body == body_of(3000, 7));  // the next request gets the new page
}

TEST_CASE("PUT RESOURCE twice leaves the card as once") {
  std::vector<u8> image = pristine_image();
  AdminCard a(image);
  a.start();
  const auto commands = put_resource_apdus("/twice.html", "text/html", body_of(1000, 3));
  a.run_all(commands);
  const std::vector<u8> once = image;
  a.run_all(commands);
  CHECK(a.get("/twice.html").body == body_of(1000, 3));
  Stored s1(once), s2(image);
  CHECK(web_content_count(s1.objects) == web_content_count(s2.objects));
  CHECK_FALSE(s2.objects.find(kStagingObject).ok());
  auto f1 = web_content_find(s1.objects, "/twice.html");
  auto f2 = web_content_find(s2.objects, "/twice.html");
  REQUIRE(f1.ok());
  REQUIRE(f2.ok());
  CHECK(f1->etag == f2->etag);
  CHECK(f1->length == f2->length);
}

TEST_CASE("PUT RESOURCE refuses what it cannot stage or publish, and changes nothing then") {
  std::vector<u8> image = pristine_image();
  AdminCard a(image);
  a.start();
  CHECK(a.sw("80720200") == "6985");                        // publish with nothing staged
  CHECK(a.sw("8072010003414243") == "6985");                // data with nothing staged
  CHECK(a.sw(begin_apdu("page.html", "text/html", 3)) == "6A80");       // not an absolute path
  CHECK(a.sw(begin_apdu("/a/../b", "text/html", 3)) == "6A80");         // a dot segment
  CHECK(a.sw(begin_apdu("/x", "text/html\x01", 3)) == "6A80");          // a control byte in the type
  CHECK(a.sw(begin_apdu("/x", std::string(57, 't'), 3)) == "6A80");     // a type too long
  CHECK(a.sw(cmd("80720000", u32_hex(3) + lv("/x") + lv("text/plain") + "00")) == "6A80");  // a byte too many
  CHECK(a.sw(cmd("80720000", u32_hex(3) + lv("/x"))) == "6A80");      // no type
  CHECK(a.sw(begin_apdu("/x", "text/plain", 0x7FFFFFFF)) == "6A80");   // beyond the largest object
  CHECK(a.sw(begin_apdu("/x", "text/plain", 4 * 1024 * 1024)) == "6A84");  // more than NVM holds
  CHECK(a.sw("8072000000") == "6700");
  CHECK(a.sw("80720300") == "6A86");
  CHECK(a.sw("807202000141") == "6700");  // publish takes no data
  CHECK(a.sw("80720001") == "6A86");
  REQUIRE(a.sw(begin_apdu("/x", "text/plain", 3)) == "9000");
  CHECK(a.sw("8072010002" "4142") == "9000");
  CHECK(a.sw("80720200") == "6985");                 // 2 of 3 bytes: not complete
  CHECK(a.sw("8072010002" "4344") == "6A80");        // past the announced length: nothing written
  CHECK(a.sw("8072010001" "43") == "9000");
  CHECK(a.get("/x").status == 404);                  // staged, not published
  CHECK(a.sw("80720200") == "9000");
  CHECK(a.get("/x").body == "ABC");
  CHECK(a.get("/page.html").body == "old page");
}

TEST_CASE("DELETE RESOURCE removes at once; an unknown path is 6A 88") {
  std::vector<u8> image = pristine_image();
  AdminCard a(image);
  a.start();
  CHECK(a.get("/page.html").status == 200);
  CHECK(a.sw(cmd("80740000", hex_of("/page.html"))) == "9000");
  CHECK(a.get("/page.html").status == 404);
  CHECK(a.sw(cmd("80740000", hex_of("/page.html"))) == "6A88");  // twice: the same card, the second says so
  CHECK(a.sw(cmd("80740000", hex_of("page.html"))) == "6A80");
  CHECK(a.sw("8074000000") == "6700");
  CHECK(a.get("/secure/page.html", basic("alice", "wonderland")).status == 200);
}

TEST_CASE("PUT USER: a salted hash, membership in exactly the listed sets, in force at once") {
  std::vector<u8> image = pristine_image();
  AdminCard a(image);
  a.start();
  CHECK(a.get("/secure/page.html", basic("bob", "builder")).status == 401);
  // By the set's realm.
  CHECK(a.sw(put_user_apdu("bob", "builder2", {"Secure Area"})) == "9000");
  CHECK(a.get("/secure/page.html", basic("bob", "builder2")).status == 200);
  CHECK(a.get("/secure/page.html", basic("bob", "builder")).status == 401);  // the old password is gone
  // By the set's prefix; a new user.
  CHECK(a.sw(put_user_apdu("carol", "c4rol", {"/secure"})) == "9000");
  CHECK(a.get("/secure/page.html", basic("carol", "c4rol")).status == 200);
  // Exactly the listed sets: none now.
  CHECK(a.sw(put_user_apdu("bob", "builder2", {})) == "9000");
  CHECK(a.get("/secure/page.html", basic("bob", "builder2")).status == 401);
  CHECK(a.get("/secure/page.html", basic("alice", "wonderland")).status == 200);
  // The stored record: the iteration count of the provisioned users, a salt of the card's own.
  Stored s(image);
  PasswordHash stored_bob;
  {
    // Bob is user slot 1 (provisioned second).
    std::array<u8, 4 + WebUsersLimits::kMaxName + PasswordHash::kSaltSize + 4> e{};
    REQUIRE(s.objects.read(kWebUsersObject, static_cast<u32>(WebUsersLimits::kHeaderSize + WebUsersLimits::kUserEntrySize),
                           MutableBytes(e.data(), e.size())).ok());
    CHECK(load_be32(e.data() + 4 + WebUsersLimits::kMaxName + PasswordHash::kSaltSize) == 2);
    CHECK_FALSE(bytes_equal(Bytes(e.data() + 4 + WebUsersLimits::kMaxName, PasswordHash::kSaltSize),
                            Bytes(test_hash("x").salt.data(), PasswordHash::kSaltSize)));
  }
}

TEST_CASE("PUT USER twice leaves the card as once; its errors change nothing") {
  std::vector<u8> image = pristine_image();
  AdminCard a(image);
  a.start();
  const std::string put = put_user_apdu("dave", "d", {"Secure Area"});
  REQUIRE(a.sw(put) == "9000");
  REQUIRE(a.sw(put) == "9000");
  CHECK(a.get("/secure/page.html", basic("dave", "d")).status == 200);
  const std::vector<u8> before = image;
  CHECK(a.sw(put_user_apdu("dave", "e", {"Secure Area", "No Such Set"})) == "6A82");
  CHECK(a.sw(put_user_apdu("da:ve", "e", {})) == "6A80");
  CHECK(a.sw(put_user_apdu("", "e", {})) == "6A80");
  CHECK(a.sw(put_user_apdu("dave", std::string(33, 'p'), {})) == "6A80");
  CHECK(a.sw(put_user_apdu("dave", "e", {"a", "b", "c", "d", "e", "f", "g", "h", "i"})) == "6A80");
  CHECK(a.sw(cmd("80760000", lv("dave") + lv("e") + "00" "00")) == "6A80");  // a byte beyond the body
  CHECK(a.sw(cmd("80760000", lv("dave") + "05" + hex_of("ab"))) == "6A80");  // a password running past it
  CHECK(a.sw("8076000000") == "6700");
  CHECK(a.sw("8076010001" "00") == "6A86");
  CHECK(image == before);
  CHECK(a.get("/secure/page.html", basic("dave", "d")).status == 200);
  // Sixteen users at most: 2 provisioned + dave + 13 more, then 6A 84.
  for (int i = 0; i < 13; ++i) REQUIRE(a.sw(put_user_apdu("user" + std::to_string(i), "p", {})) == "9000");
  CHECK(a.sw(put_user_apdu("one-too-many", "p", {})) == "6A84");
}

TEST_CASE("DELETE USER: refused at once, memberships gone with it; an unknown user is 6A 88") {
  std::vector<u8> image = pristine_image();
  AdminCard a(image);
  a.start();
  CHECK(a.get("/secure/page.html", basic("alice", "wonderland")).status == 200);
  CHECK(a.sw(cmd("80780000", hex_of("alice"))) == "9000");
  CHECK(a.get("/secure/page.html", basic("alice", "wonderland")).status == 401);
  CHECK(a.sw(cmd("80780000", hex_of("alice"))) == "6A88");
  // A new user takes the freed slot without inheriting alice's membership.
  CHECK(a.sw(put_user_apdu("eve", "e", {})) == "9000");
  CHECK(a.get("/secure/page.html", basic("eve", "e")).status == 401);
  CHECK(a.sw("8078000000") == "6700");
}

TEST_CASE("ROTATE PSK: the link's key (identity kept) and a TLS port PSK added or replaced") {
  std::vector<u8> image = pristine_image();
  AdminCard a(image);
  a.start();
  const std::string key32(64, 'A');  // 32 bytes of AA
  CHECK(a.sw(cmd("807E0000", key32)) == "9000");
  CHECK(a.sw(cmd("807E0000", key32)) == "9000");  // twice: the same key
  {
    Stored s(image);
    AdminPsk psk;
    REQUIRE(load_admin_psk(s.objects, psk).ok());
    CHECK(std::string(reinterpret_cast<const char*>(psk.identity.data()), psk.identity_length) ==
          "scws-admin:89882110000000000");
    CHECK(bytes_equal(psk.key_bytes(), Bytes(std::vector<u8>(32, 0xAA))));
  }
  CHECK(a.sw(cmd("807E0000", std::string(30, 'B'))) == "6A80");   // 15 bytes
  CHECK(a.sw(cmd("807E0000", std::string(66, 'B'))) == "6A80");   // 33 bytes
  const std::string key16(32, '3');
  CHECK(a.sw(cmd("807E0100", lv("psk-app-1") + "10" + key16)) == "9000");  // replaced
  CHECK(a.sw(cmd("807E0100", lv("psk-app-9") + "10" + key16)) == "9000");  // added
  {
    Stored s(image);
    std::array<u8, tls::kMaxPskKey> key{};
    auto n = tls::find_psk(s.objects, text_bytes("psk-app-1"), key);
    REQUIRE(n.ok());
    CHECK(bytes_equal(Bytes(key.data(), *n), Bytes(std::vector<u8>(16, 0x33))));
    CHECK(tls::find_psk(s.objects, text_bytes("psk-app-9"), key).ok());
  }
  CHECK(a.sw(cmd("807E0100", lv("psk-app-9") + "0F" + std::string(30, '3'))) == "6A80");
  CHECK(a.sw(cmd("807E0100", "00" "10" + key16)) == "6A80");
  CHECK(a.sw(cmd("807E0100", lv("psk-app-9") + "10" + key16 + "00")) == "6A80");
  CHECK(a.sw("807E0200" "0100") == "6A86");
}

TEST_CASE("ROTATE PSK of the link without a provisioned link PSK is 6A 88") {
  std::vector<u8> image(kImageSize);
  {
    RamNvmDevice device(image);
    static const std::vector<u8> key = hex("3132333435363738");
    CardIdentity id;
    id.adm_key = key;
    REQUIRE(Card::format_image(device, id).ok());
  }
  AdminCard a(image);
  a.start();
  CHECK(a.sw(cmd("807E0000", std::string(32, '1'))) == "6A88");
}

TEST_CASE("without a ContentControl the content commands answer 6A 81; START SESSION needs its hook") {
  std::vector<u8> image = pristine_image();
  AdminCard a(image, ~u64{0}, false);
  a.start();
  CHECK(a.sw(begin_apdu("/x", "text/plain", 1)) == "6A81");
  CHECK(a.sw(cmd("80740000", hex_of("/page.html"))) == "6A81");
  CHECK(a.sw(put_user_apdu("bob", "b", {})) == "6A81");
  CHECK(a.sw(cmd("80780000", hex_of("bob"))) == "6A81");
  CHECK(a.sw(cmd("807E0100", lv("psk-app-9") + "10" + std::string(32, '3'))) == "6A81");
  CHECK(a.sw(cmd("807E0000", std::string(32, '1'))) == "9000");  // the link PSK is the admin applet's own
  CHECK(a.sw("80700000") == "6A81");
  a.admin.set_session_control(&a.session);
  CHECK(a.sw("80700000") == "9000");
  CHECK(a.session.started == 1);
  a.session.linked = false;
  CHECK(a.sw("80700000") == "6985");
  CHECK(a.sw("8070000001" "00") == "6700");
  CHECK(a.sw("80700100") == "6A86");
  CHECK(a.get("/page.html").body == "old page");
}

namespace {

// Runs `commands` on a card whose NVM loses power at write `cut` (counted from the card's
// construction); returns whether every command completed.
bool run_with_cut(std::vector<u8>& image, u64 cut, const std::vector<std::string>& setup,
                  const std::vector<std::string>& commands, u64* writes_before = nullptr) {
  AdminCard a(image, cut);
  if (!a.card.power_on().ok()) return false;
  for (const char* c : {kSelect, kVerify})
    if (a.sw(c) != "9000") return false;
  for (const auto& c : setup)
    if (a.sw(c) != "9000") return false;
  if (writes_before != nullptr) *writes_before = a.lossy->writes();
  for (const auto& c : commands) {
    const std::string s = a.sw(c);
    if (a.lossy->power_cut()) return false;
    REQUIRE(s == "9000");
  }
  return !a.lossy->power_cut();
}

// Sweeps a power cut over every NVM write of `commands` (after `setup` ran); after each cut the
// card reboots on the plain image and `check(card, completed)` judges what it serves.
template <class Check>
void sweep(const std::vector<std::string>& setup, const std::vector<std::string>& commands, Check&& check) {
  const std::vector<u8> pristine = pristine_image();
  u64 first = 0;
  {
    std::vector<u8> image = pristine;
    REQUIRE(run_with_cut(image, ~u64{0}, setup, commands, &first));
  }
  u64 cut = first;
  for (;; ++cut) {
    std::vector<u8> image = pristine;
    const bool completed = run_with_cut(image, cut, setup, commands);
    AdminCard after(image);
    after.start();
    CAPTURE(cut);
    check(after, completed);
    if (completed) break;
    REQUIRE(cut < first + 100000);
  }
  CHECK(cut > first + 2);  // the sweep cut inside the commands a few times at least
}

}  // namespace

TEST_CASE("power cut at every NVM write of PUT RESOURCE begin, data and publish: the old page or the new") {
  const std::string fresh = body_of(600, 4);
  const auto commands = put_resource_apdus("/page.html", "text/html", fresh);
  sweep({}, commands, [&](AdminCard& a, bool completed) {
    const Response r = a.get("/page.html");
    REQUIRE(r.status == 200);
    CHECK((r.body == "old page" || r.body == fresh));
    if (completed) CHECK(r.body == fresh);
    char etag[kEtagTextSize];
    CHECK(r.header("etag") == std::string(format_etag(crc32(text_bytes(r.body)), etag)));
    // A completed publication leaves no staging object behind.
    if (r.body == fresh) CHECK(a.sw("80720200") == "6985");
  });
}

TEST_CASE("power cut at every NVM write of a staged body: staged bytes whole, the store untouched") {
  // Begin and two pieces; each its own transaction: after a cut, 0, 240 or 480 bytes are staged.
  const std::string body = body_of(480, 5);
  const std::vector<std::string> commands{begin_apdu("/new.html", "text/html", 480),
                                          cmd("80720100", hex_of(body.substr(0, 240))),
                                          cmd("80720100", hex_of(body.substr(240)))};
  sweep({}, commands, [&](AdminCard& a, bool completed) {
    CHECK(a.get("/new.html").status == 404);
    // Whatever was staged publishes only when complete; completing it then serves the body intact.
    const std::string publish = a.sw("80720200");
    if (completed) CHECK(publish == "9000");
    if (publish == "9000") CHECK(a.get("/new.html").body == body);
    else CHECK(publish == "6985");
  });
}

TEST_CASE("power cut at every NVM write of DELETE RESOURCE: served or gone") {
  sweep({}, {cmd("80740000", hex_of("/page.html"))}, [&](AdminCard& a, bool completed) {
    const Response r = a.get("/page.html");
    CHECK((r.status == 404 || (r.status == 200 && r.body == "old page")));
    if (completed) CHECK(r.status == 404);
  });
}

TEST_CASE("power cut at every NVM write of PUT USER: the old user and sets or the new, never a mix") {
  sweep({}, {put_user_apdu("bob", "builder2", {"Secure Area"}), put_user_apdu("alice", "wonderland", {})},
        [&](AdminCard& a, bool completed) {
          // Served: what a handset gets.
          const int served_bob = a.get("/secure/page.html", basic("bob", "builder2")).status;
          // Stored: the password record and the membership, each on its own.
          a.card.power_off();
          Nvm nvm(a.plain);
          REQUIRE(nvm.mount().ok());
          ObjectStore objects(nvm);
          auto set = web_protection_for(objects, "/secure/page.html");
          REQUIRE(set.ok());
          REQUIRE(set->has_value());
          Protection anyone = **set;
          anyone.users = ~u32{0};  // every user: the password alone decides
          const auto value = [](const std::string& field) { return field.substr(15, field.size() - 17); };
          const bool old_password = web_users_check(objects, anyone, value(basic("bob", "builder"))) == AuthOutcome::kGranted;
          const bool new_password = web_users_check(objects, anyone, value(basic("bob", "builder2"))) == AuthOutcome::kGranted;
          const bool bob_member = ((*set)->users & 0x2) != 0;    // bob: user slot 1
          const bool alice_member = ((*set)->users & 0x1) != 0;  // alice: user slot 0
          CHECK(old_password != new_password);
          CHECK(bob_member == new_password);       // the new record and its membership together
          CHECK(served_bob == (new_password ? 200 : 401));
          if (!alice_member) CHECK(new_password);  // the second command after the first
          if (completed) CHECK((new_password && !alice_member));
        });
}

TEST_CASE("power cut at every NVM write of ROTATE PSK: the old key or the new, the identity kept") {
  sweep({}, {cmd("807E0000", std::string(64, 'C')), cmd("807E0100", lv("psk-app-1") + "10" + std::string(32, '4'))},
        [&](AdminCard& a, bool completed) {
          a.card.power_off();
          RamNvmDevice& device = a.plain;
          Nvm nvm(device);
          REQUIRE(nvm.mount().ok());
          ObjectStore objects(nvm);
          AdminPsk psk;
          REQUIRE(load_admin_psk(objects, psk).ok());
          CHECK(std::string(reinterpret_cast<const char*>(psk.identity.data()), psk.identity_length) ==
                "scws-admin:89882110000000000");
          const bool new_link = bytes_equal(psk.key_bytes(), Bytes(std::vector<u8>(32, 0xCC)));
          CHECK((new_link || bytes_equal(psk.key_bytes(), Bytes(std::vector<u8>(16, 0x11)))));
          std::array<u8, tls::kMaxPskKey> key{};
          auto n = tls::find_psk(objects, text_bytes("psk-app-1"), key);
          REQUIRE(n.ok());
          const bool new_tls = bytes_equal(Bytes(key.data(), *n), Bytes(std::vector<u8>(16, 0x44)));
          CHECK((new_tls || bytes_equal(Bytes(key.data(), *n), Bytes(std::vector<u8>(16, 0x22)))));
          if (new_tls) CHECK(new_link);
          if (completed) CHECK(new_tls);
        });
}
