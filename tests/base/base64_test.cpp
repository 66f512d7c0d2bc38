// Base64 decoding (RFC 4648): the RFC's test vectors, and strictness.
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "base/base64.hpp"

using namespace scws;

namespace {

std::string decode(std::string_view in) {
  u8 out[64];
  auto r = base64_decode(in, MutableBytes(out, sizeof out));
  REQUIRE(r.ok());
  return std::string(reinterpret_cast<const char*>(out), *r);
}

}  // namespace

TEST_CASE("base64 decodes the RFC 4648 section 10 test vectors") {
  struct Row {
    const char* encoded;
    const char* decoded;
  };
  const Row rows[] = {{"", ""},         {"Zg==", "f"},         {"Zm8=", "fo"},          {"Zm9v", "foo"},
                      {"Zm9vYg==", "foob"}, {"Zm9vYmE=", "fooba"}, {"Zm9vYmFy", "foobar"}};
  for (const Row& row : rows) {
    CAPTURE(row.encoded);
    CHECK(decode(row.encoded) == row.decoded);
  }
  // RFC 7617 section 2.
  CHECK(decode("QWxhZGRpbjpvcGVuIHNlc2FtZQ==") == "Aladdin:open sesame");
  CHECK(decode("+/+/") == "\xfb\xff\xbf");
}

TEST_CASE("base64 refuses bad lengths, characters, misplaced padding and non-canonical bits") {
  u8 out[16];
  CHECK(base64_decode("Zg=", out).error() == Base64Error::kBadLength);
  CHECK(base64_decode("Zm9", out).error() == Base64Error::kBadLength);
  CHECK(base64_decode("Zm 9", out).error() == Base64Error::kBadCharacter);
  CHECK(base64_decode("Z===", out).error() == Base64Error::kBadCharacter);
  CHECK(base64_decode("Zg==Zg==", out).error() == Base64Error::kBadCharacter);
  CHECK(base64_decode("Zm-v", out).error() == Base64Error::kBadCharacter);
  CHECK(base64_decode("Zh==", out).error() == Base64Error::kNonCanonical);
  CHECK(base64_decode("Zm9=", out).error() == Base64Error::kNonCanonical);
  CHECK(base64_decode("Zm9vYmFy", MutableBytes(out, 5)).error() == Base64Error::kNoSpace);
}
