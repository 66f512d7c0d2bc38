// The worked example of docs/extending.md: the note applet on a whole card (its APDUs through the
// dispatcher, its NVM transactions under power loss) and as the /note extension of the SCWS behind
// a protection set, as a profile's card.toml would set it up.
#include "card/examples/note_applet.hpp"

#include <doctest/doctest.h>

#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/hex.hpp"
#include "base/hex_text.hpp"
#include "card/os/card.hpp"
#include "card/scws/scws_applet.hpp"
#include "card/scws/web_users.hpp"
#include "scws_config.hpp"
#include "tests/apdu/bytes_util.hpp"
#include "tests/card/scws/scws_fixture.hpp"

using namespace scws;
using namespace scws::card;
using scws::card::examples::NoteApplet;
using scws::test::hex;
namespace web = scws::card::test;  // the SCWS client helpers of tests/card/scws/scws_fixture.hpp

namespace {

constexpr std::size_t kImageSize = 256 * 1024;
const std::string kSelect = "00A4040006F04E4F544501";  // SELECT by the note applet's AID

std::string hex_of(std::string_view text) {
  return hex_text(Bytes(reinterpret_cast<const u8*>(text.data()), text.size()));
}
std::string put_note(std::string_view text) {
  std::string lc = hex_text(std::vector<u8>{static_cast<u8>(text.size())});
  return "80DA0000" + (text.empty() ? std::string() : lc + hex_of(text));
}
const std::string kGetNote = "80CA000000";

// A card with the SCWS applet, the note applet registered as its /note extension, and a profile's
// protection set on /note: alice may use it.
struct NoteCard {
  struct alignas(16) Ram {
    u8 bytes[SCWS_RAM_SIZE];
  };
  std::vector<u8> image = std::vector<u8>(kImageSize, 0);
  RamNvmDevice device{image};
  std::unique_ptr<Ram> ram = std::make_unique<Ram>();
  ScwsApplet scws;
  NoteApplet note;
  std::unique_ptr<Card> card;

  explicit NoteCard(bool provision = true) {
    if (provision) {
      REQUIRE(Card::format_image(device, CardIdentity{}).ok());
      // What `scws provision` writes for [[users]] and [[protection_sets]] paths = ["/note"].
      Nvm nvm(device);
      REQUIRE(nvm.mount().ok());
      ObjectStore store(nvm);
      REQUIRE(web_users_format(store).ok());
      REQUIRE(web_user_put(store, "alice", web::test_hash("wonderland")).ok());
      const std::string_view users[] = {"alice"};
      REQUIRE(web_protection_put(store, NoteApplet::kPath, "notes", users).ok());
    }
    boot(device);
  }
  // A new card object over `dev` (what a power cycle of the real card is: RAM starts afresh).
  void boot(NvmDevice& dev) {
    card = std::make_unique<Card>(dev, MutableBytes(ram->bytes, sizeof ram->bytes));
    REQUIRE(scws.add_extension(NoteApplet::kPath, note));
    REQUIRE(card->add_applet(scws));
    REQUIRE(card->add_applet(note));
  }
  // Returns the whole response (data + SW) as hex.
  std::string send(std::string_view command_hex) {
    const std::vector<u8> c = hex(command_hex);
    std::vector<u8> response(SCWS_APDU_BUFFER_SIZE + 2);
    const std::size_t n = card->process(c, response);
    REQUIRE(n >= 2);
    return hex_text(Bytes(response.data(), n));
  }
  // One HTTP exchange on connection 0, as the toolkit drives the SCWS applet.
  web::Response http(std::string_view request, std::size_t chunk = 237) {
    return web::get_one(scws, request, chunk);
  }
};

std::string basic(std::string_view method, std::string_view body = {}, bool credentials = true) {
  std::string r = std::string(method) + " /note HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  if (credentials) r += "Authorization: Basic YWxpY2U6d29uZGVybGFuZA==\r\n";  // alice:wonderland
  if (method == "PUT") r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  return r + "\r\n" + std::string(body);
}

}  // namespace

TEST_CASE("note applet keeps a note: PUT NOTE stores it, GET NOTE returns it, Lc 0 clears it") {
  NoteCard t;
  REQUIRE(t.card->power_on().ok());
  CHECK(t.send(kSelect).substr(0, 4) == "6F08");  // default FCI: 6F 08 84 06 <AID>
  CHECK(t.send(kGetNote) == "9000");             // installed empty
  CHECK(t.send(put_note("hello, card")) == "9000");
  CHECK(t.send(kGetNote) == hex_of("hello, card") + "9000");
  CHECK(t.send("80CA000005") == hex_of("hello") + "9000");  // at most Le bytes
  CHECK(t.send(put_note("")) == "9000");
  CHECK(t.send(kGetNote) == "9000");
}

TEST_CASE("note applet refuses what it does not define and keeps its note") {
  NoteCard t;
  REQUIRE(t.card->power_on().ok());
  t.send(kSelect);
  REQUIRE(t.send(put_note("keep me")) == "9000");
  CHECK(t.send(put_note(std::string(NoteApplet::kMaxNote + 1, 'x'))) == "6700");
  CHECK(t.send("00CA000000") == "6E00");    // interindustry class
  CHECK(t.send("80CA010000") == "6A86");    // P1 P2 other than 00 00
  CHECK(t.send("80500000") == "6D00");      // an INS it does not define
  CHECK(t.send(kGetNote) == hex_of("keep me") + "9000");
  CHECK(t.send(put_note(std::string(NoteApplet::kMaxNote, 'y'))) == "9000");  // the largest note
  CHECK(t.send(kGetNote) == hex_of(std::string(NoteApplet::kMaxNote, 'y')) + "9000");
}

TEST_CASE("the note survives a power cycle; the applet is installed once") {
  NoteCard t;
  REQUIRE(t.card->power_on().ok());
  t.send(kSelect);
  REQUIRE(t.send(put_note("persistent")) == "9000");
  t.card->power_off();
  REQUIRE(t.card->power_on().ok());
  t.send(kSelect);
  CHECK(t.send(kGetNote) == hex_of("persistent") + "9000");
  CHECK(t.card->ram_report().in_use == t.card->ram_report().idle);
}

TEST_CASE("a power loss at any write of PUT NOTE leaves the old note or the new one, never a mix") {
  // An image whose note is "old note".
  NoteCard base;
  REQUIRE(base.card->power_on().ok());
  base.send(kSelect);
  REQUIRE(base.send(put_note("old note")) == "9000");
  base.card->power_off();
  const std::vector<u8> before = base.image;
  const std::string kNew(NoteApplet::kMaxNote, 'n');

  // Writes that power-up, SELECT and PUT NOTE make when nothing fails.
  u64 total = 0;
  {
    std::vector<u8> copy = before;
    RamNvmDevice inner(copy);
    PowerLossNvmDevice counting(inner, std::numeric_limits<u64>::max());
    NoteCard t(false);
    t.boot(counting);
    REQUIRE(t.card->power_on().ok());
    t.send(kSelect);
    REQUIRE(t.send(put_note(kNew)) == "9000");
    total = counting.writes();
  }
  REQUIRE(total > 2);

  int olds = 0, news = 0;
  for (u64 cut = 0; cut <= total; ++cut) {
    CAPTURE(cut);
    std::vector<u8> copy = before;
    RamNvmDevice inner(copy);
    {
      PowerLossNvmDevice dev(inner, cut);
      NoteCard t(false);
      t.boot(dev);
      if (t.card->power_on().ok()) {
        t.send(kSelect);
        t.send(put_note(kNew));  // fails somewhere unless cut == total
      }
    }
    NoteCard after(false);  // the next power-up mounts the image and rolls back what was cut
    after.boot(inner);
    REQUIRE(after.card->power_on().ok());
    after.send(kSelect);
    const std::string got = after.send(kGetNote);
    const bool old_note = got == hex_of("old note") + "9000";
    const bool new_note = got == hex_of(kNew) + "9000";
    CHECK((old_note || new_note));
    olds += old_note;
    news += new_note;
  }
  CHECK(olds > 0);
  CHECK(news > 0);
}

TEST_CASE("/note is served by the note applet behind its protection set") {
  NoteCard t;
  REQUIRE(t.card->power_on().ok());
  t.send(kSelect);
  REQUIRE(t.send(put_note("set over APDUs")) == "9000");

  const auto challenged = t.http(basic("GET", {}, false));
  CHECK(challenged.status == 401);
  CHECK(challenged.header("WWW-Authenticate") == "Basic realm=\"notes\"");

  const auto got = t.http(basic("GET"));
  CHECK(got.status == 200);
  CHECK(got.header("Content-Type") == "text/plain; charset=utf-8");
  CHECK(got.body == "set over APDUs");

  const auto head = t.http(basic("HEAD"));
  CHECK(head.status == 200);
  CHECK(head.header("Content-Length") == "14");

  const auto refused = t.http(basic("DELETE"));
  CHECK(refused.status == 405);
  CHECK(refused.header("Allow") == "GET, HEAD, PUT, OPTIONS");
  CHECK(t.card->ram_report().in_use == t.card->ram_report().idle);
}

TEST_CASE("PUT /note replaces the note, whatever pieces the body arrives in") {
  NoteCard t;
  REQUIRE(t.card->power_on().ok());
  for (std::size_t chunk : {std::size_t{237}, std::size_t{7}, std::size_t{1}}) {
    CAPTURE(chunk);
    const std::string body = "over HTTP in pieces of " + std::to_string(chunk);
    CHECK(t.http(basic("PUT", body), chunk).status == 204);
    t.send(kSelect);
    CHECK(t.send(kGetNote) == hex_of(body) + "9000");
    CHECK(t.http(basic("GET")).body == body);
  }
  CHECK(t.http(basic("PUT", std::string(NoteApplet::kMaxNote + 1, 'z'))).status == 413);
  CHECK(t.http(basic("GET")).body == "over HTTP in pieces of 1");
}

TEST_CASE("an upload superseded by PUT NOTE gets 503 and leaves the APDU's note") {
  NoteCard t;
  REQUIRE(t.card->power_on().ok());
  t.send(kSelect);
  const std::string request = basic("PUT", "twenty bytes of body");
  web::Client client(t.scws, 0);
  client.send_request(request.substr(0, request.size() - 15));  // the head and 5 body bytes
  CHECK(client.received.empty());
  REQUIRE(t.send(put_note("from APDU")) == "9000");
  client.send_request(request.substr(request.size() - 15));
  client.pull();
  std::size_t at = 0;
  CHECK(web::parse_response(client.received, at).status == 503);
  client.close();
  CHECK(t.send(kGetNote) == hex_of("from APDU") + "9000");
}

TEST_CASE("a GET of /note is never finished with bytes of another note") {
  NoteCard t;
  REQUIRE(t.card->power_on().ok());
  t.send(kSelect);
  const std::string first(NoteApplet::kMaxNote, 'a');
  REQUIRE(t.send(put_note(first)) == "9000");

  // The response leaves in small pieces; the note changes between them.
  const auto start_get = [&](web::Client& c) {
    c.piece = 64;
    const std::string request = basic("GET");
    REQUIRE(t.scws.receive(c.id, web::text_bytes(request)) == request.size());
    u8 out[64];
    const std::size_t n = t.scws.send(c.id, MutableBytes(out, sizeof out));
    REQUIRE(n == sizeof out);
    c.received.append(reinterpret_cast<const char*>(out), n);
  };

  SUBCASE("one rewrite fills the other slot: the response finishes with the note it started with") {
    web::Client c(t.scws, 0);
    start_get(c);
    REQUIRE(t.send(put_note("second")) == "9000");
    c.pull();
    std::size_t at = 0;
    const auto r = web::parse_response(c.received, at);
    CHECK(r.body == first);
    c.close();
  }
  SUBCASE("two rewrites reach its slot: the response is cut short") {
    web::Client c(t.scws, 1);
    start_get(c);
    REQUIRE(t.send(put_note("second")) == "9000");
    REQUIRE(t.send(put_note("third")) == "9000");
    c.pull();
    CHECK(t.scws.wants_close(c.id));
    // The piece that met the rewritten slot never left: whatever arrived is the head and the old note.
    const auto body_at = c.received.find("\r\n\r\n");
    const std::string body = body_at == std::string::npos ? std::string() : c.received.substr(body_at + 4);
    CHECK(body.size() < first.size());
    CHECK(body.find_first_not_of('a') == std::string::npos);
    c.close();
  }
  CHECK(t.card->ram_report().in_use == t.card->ram_report().idle);
}
