// Users and protection sets: creation API, prefix matching, Basic credential checks.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "card/scws/web_users.hpp"
#include "tests/card/scws/test_users.hpp"

using namespace scws;
using namespace scws::card;
using scws::card::test::test_hash;

namespace {

struct Store {
  std::vector<u8> image = std::vector<u8>(256 * 1024, 0);
  RamNvmDevice device{image};
  Nvm nvm{device};
  ObjectStore objects{nvm};
  Store() {
    REQUIRE(nvm.format(8192).ok());
    REQUIRE(nvm.begin().ok());
    REQUIRE(objects.format().ok());
    REQUIRE(nvm.commit().ok());
    REQUIRE(web_users_format(objects).ok());
    REQUIRE(web_user_put(objects, "Aladdin", test_hash("open sesame")).ok());
    REQUIRE(web_user_put(objects, "bob", test_hash("")).ok());
    const std::string_view both[] = {"Aladdin", "bob"};
    const std::string_view aladdin[] = {"Aladdin"};
    REQUIRE(web_protection_put(objects, "/private", "WallyWorld", aladdin).ok());
    REQUIRE(web_protection_put(objects, "/private/shared/", "Shared", both).ok());
  }
};

}  // namespace

TEST_CASE("web users protection covers its prefix at segment boundaries and the longest prefix wins") {
  Store s;
  struct Row {
    const char* path;
    const char* realm;  // nullptr: not protected
  };
  const Row rows[] = {
      {"/private", "WallyWorld"},       {"/private/a.html", "WallyWorld"}, {"/privateer", nullptr},
      {"/private/shared/x", "Shared"},  {"/private/shared", "WallyWorld"}, {"/", nullptr},
  };
  for (const Row& row : rows) {
    CAPTURE(row.path);
    auto p = web_protection_for(s.objects, row.path);
    REQUIRE(p.ok());
    if (row.realm == nullptr) {
      CHECK_FALSE(p->has_value());
    } else {
      REQUIRE(p->has_value());
      CHECK((*p)->realm_text() == row.realm);
    }
  }
}

TEST_CASE("web users check Basic credentials: RFC 7617 example granted, anything else denied or missing") {
  Store s;
  auto p = web_protection_for(s.objects, "/private/x");
  REQUIRE(p.ok());
  REQUIRE(p->has_value());
  const Protection& prot = **p;
  // RFC 7617 section 2: Aladdin / open sesame.
  CHECK(web_users_check(s.objects, prot, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==") == AuthOutcome::kGranted);
  CHECK(web_users_check(s.objects, prot, "basic  QWxhZGRpbjpvcGVuIHNlc2FtZQ==") == AuthOutcome::kGranted);
  CHECK(web_users_check(s.objects, prot, std::nullopt) == AuthOutcome::kMissing);
  CHECK(web_users_check(s.objects, prot, "Bearer abc") == AuthOutcome::kMissing);
  CHECK(web_users_check(s.objects, prot, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ") == AuthOutcome::kDenied);   // no padding
  CHECK(web_users_check(s.objects, prot, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZg==") == AuthOutcome::kDenied); // "open sesamf"
  CHECK(web_users_check(s.objects, prot, "Basic Ym9iOg==") == AuthOutcome::kDenied);  // bob: not in this set
  CHECK(web_users_check(s.objects, prot, "Basic QWxhZGRpbg==") == AuthOutcome::kDenied);  // no colon
  auto shared = web_protection_for(s.objects, "/private/shared/x");
  REQUIRE(shared.ok());
  CHECK(web_users_check(s.objects, **shared, "Basic Ym9iOg==") == AuthOutcome::kGranted);  // bob, empty password
  char buf[kMaxChallenge];
  CHECK(basic_challenge(prot, buf) == "Basic realm=\"WallyWorld\"");
}

TEST_CASE("web users refuse invalid names, realms, prefixes and unknown users") {
  Store s;
  CHECK(web_user_put(s.objects, "", test_hash("x")).error() == UsersError::kInvalidName);
  CHECK(web_user_put(s.objects, "a:b", test_hash("x")).error() == UsersError::kInvalidName);
  CHECK(web_user_put(s.objects, std::string(33, 'a'), test_hash("x")).error() == UsersError::kInvalidName);
  PasswordHash no_iterations = test_hash("p");
  no_iterations.iterations = 0;
  CHECK(web_user_put(s.objects, "carol", no_iterations).error() == UsersError::kInvalidPassword);
  const std::string_view nobody[] = {"nobody"};
  CHECK(web_protection_put(s.objects, "/x", "R", nobody).error() == UsersError::kUnknownUser);
  CHECK(web_protection_put(s.objects, "x", "R", {}).error() == UsersError::kInvalidPrefix);
  CHECK(web_protection_put(s.objects, "/x", "a\"b", {}).error() == UsersError::kInvalidRealm);
  CHECK(web_protection_put(s.objects, "/x", "", {}).error() == UsersError::kInvalidRealm);
  for (int i = 0; i < 14; ++i) REQUIRE(web_user_put(s.objects, "u" + std::to_string(i), test_hash("p")).ok());
  CHECK(web_user_put(s.objects, "one-more", test_hash("p")).error() == UsersError::kFull);
  CHECK(web_user_put(s.objects, "u3", test_hash("new")).ok());  // replacing needs no new slot
}

TEST_CASE("web users without a users object protect nothing") {
  std::vector<u8> image(256 * 1024, 0);
  RamNvmDevice device(image);
  Nvm nvm(device);
  REQUIRE(nvm.format(4096).ok());
  ObjectStore objects(nvm);
  REQUIRE(nvm.begin().ok());
  REQUIRE(objects.format().ok());
  REQUIRE(nvm.commit().ok());
  auto p = web_protection_for(objects, "/anything");
  REQUIRE(p.ok());
  CHECK_FALSE(p->has_value());
  CHECK(web_user_put(objects, "a", test_hash("b")).error() == UsersError::kNoStore);
}

TEST_CASE("a users object of version 1 (passwords in clear) is refused and protects by failing closed") {
  Store s;
  // Rewrite the header's version to 1, as an image provisioned before password hashes holds.
  const u8 version1[] = {0x00, 0x01};
  REQUIRE(s.nvm.begin().ok());
  REQUIRE(s.objects.write(kWebUsersObject, 4, Bytes(version1, sizeof version1)).ok());
  REQUIRE(s.nvm.commit().ok());
  auto p = web_protection_for(s.objects, "/private/x");
  REQUIRE_FALSE(p.ok());  // not "unprotected": the server answers 500
  CHECK(p.error() == UsersError::kNoStore);
  CHECK(web_user_put(s.objects, "a", test_hash("b")).error() == UsersError::kNoStore);
}

TEST_CASE("web users keep no password in the users object, only its salted hash") {
  Store s;
  std::vector<u8> object(WebUsersLimits::kObjectSize);
  REQUIRE(s.objects.read(kWebUsersObject, 0, object).ok());
  const std::string raw(object.begin(), object.end());
  CHECK(raw.find("open sesame") == std::string::npos);
  CHECK(raw.find("Aladdin") != std::string::npos);
  const std::string right = "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==";  // Aladdin:open sesame (RFC 7617 2)
  auto p = web_protection_for(s.objects, "/private/x");
  REQUIRE(p.ok());
  REQUIRE(p->has_value());
  CHECK(web_users_check(s.objects, **p, right) == AuthOutcome::kGranted);
}
