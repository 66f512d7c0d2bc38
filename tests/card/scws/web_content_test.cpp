// The SCWS resource store: the provisioning "put" API, lookups, streaming reads, replacement,
// removal, limits, and bodies larger than the commit capacity stored in one transaction.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "base/crc32.hpp"
#include "card/scws/web_content.hpp"

using namespace scws;
using namespace scws::card;

namespace {

struct Store {
  std::vector<u8> image;
  RamNvmDevice device;
  Nvm nvm;
  ObjectStore objects;
  explicit Store(u32 size = 4 * 1024 * 1024, u32 capacity = 64 * 1024) : image(size, 0), device(image), nvm(device), objects(nvm) {
    REQUIRE(nvm.format(capacity).ok());
    REQUIRE(nvm.begin().ok());
    REQUIRE(objects.format().ok());
    REQUIRE(nvm.commit().ok());
    REQUIRE(web_content_format(objects).ok());
  }
};

Bytes bytes_of(std::string_view s) { return Bytes(reinterpret_cast<const u8*>(s.data()), s.size()); }

std::string read_all(ObjectStore& objects, const WebResource& r, std::size_t piece) {
  std::string out;
  std::vector<u8> buf(piece);
  for (u32 at = 0;;) {
    auto n = web_content_read(objects, r, at, buf);
    REQUIRE(n.ok());
    if (*n == 0) break;
    out.append(reinterpret_cast<const char*>(buf.data()), *n);
    at += static_cast<u32>(*n);
  }
  return out;
}

}  // namespace

TEST_CASE("web content put stores type, length and a CRC-32 etag, found by exact path") {
  Store s;
  REQUIRE(web_content_put(s.objects, "/index.html", "text/html; charset=utf-8", bytes_of("<p>hi</p>")).ok());
  auto r = web_content_find(s.objects, "/index.html");
  REQUIRE(r.ok());
  CHECK(r->type() == "text/html; charset=utf-8");
  CHECK(r->length == 9);
  CHECK(r->etag == crc32(bytes_of("<p>hi</p>")));
  CHECK(read_all(s.objects, *r, 4) == "<p>hi</p>");
  CHECK(web_content_find(s.objects, "/index.htm").error() == ContentError::kNotFound);
  CHECK(web_content_find(s.objects, "/Index.html").error() == ContentError::kNotFound);
  char etag[kEtagTextSize];
  CHECK(format_etag(0x0123abcd, etag) == "\"0123abcd\"");
}

TEST_CASE("web content put replaces a resource and remove deletes it and its body") {
  Store s;
  const u32 free_before = s.objects.free_bytes();
  REQUIRE(web_content_put(s.objects, "/a", "text/plain", bytes_of("one")).ok());
  REQUIRE(web_content_put(s.objects, "/a", "text/css", bytes_of("second")).ok());
  CHECK(web_content_count(s.objects) == 1);
  auto r = web_content_find(s.objects, "/a");
  REQUIRE(r.ok());
  CHECK(r->type() == "text/css");
  CHECK(read_all(s.objects, *r, 100) == "second");
  REQUIRE(web_content_remove(s.objects, "/a").ok());
  CHECK(web_content_find(s.objects, "/a").error() == ContentError::kNotFound);
  CHECK(web_content_remove(s.objects, "/a").error() == ContentError::kNotFound);
  CHECK(s.objects.free_bytes() == free_before);
}

TEST_CASE("web content put refuses invalid paths and content types") {
  Store s;
  const std::string_view bads[] = {"", "a.html", "/../x", "/a/./b", "/a\\b", "/a?b", std::string_view("/a\0b", 4)};
  for (std::string_view bad : bads) {
    CAPTURE(std::string(bad));
    CHECK(web_content_put(s.objects, bad, "text/plain", {}).error() == ContentError::kInvalidPath);
  }
  CHECK(web_content_put(s.objects, "/" + std::string(WebContentLimits::kMaxPath, 'a'), "text/plain", {}).error() ==
        ContentError::kInvalidPath);
  CHECK(web_content_put(s.objects, "/x", "", {}).error() == ContentError::kInvalidContentType);
  CHECK(web_content_put(s.objects, "/x", "text/plain\r\nX: y", {}).error() == ContentError::kInvalidContentType);
  CHECK(web_content_put(s.objects, "/x", std::string(WebContentLimits::kMaxContentType + 1, 'a'), {}).error() ==
        ContentError::kInvalidContentType);
  CHECK(web_content_count(s.objects) == 0);
}

TEST_CASE("web content stores an empty body and fills the index up to its limit") {
  Store s;
  REQUIRE(web_content_put(s.objects, "/empty", "text/plain", {}).ok());
  auto r = web_content_find(s.objects, "/empty");
  REQUIRE(r.ok());
  CHECK(r->length == 0);
  CHECK(read_all(s.objects, *r, 8).empty());
  for (std::size_t i = 1; i < WebContentLimits::kMaxResources; ++i)
    REQUIRE(web_content_put(s.objects, "/r" + std::to_string(i), "text/plain", bytes_of("x")).ok());
  CHECK(web_content_put(s.objects, "/one-too-many", "text/plain", bytes_of("x")).error() == ContentError::kIndexFull);
  CHECK(web_content_put(s.objects, "/r5", "text/plain", bytes_of("replaced")).ok());  // replacing needs no new slot
}

TEST_CASE("web content stores a 1 MiB body with a 64 KiB commit capacity in one transaction") {
  Store s;
  std::vector<u8> big(1024 * 1024 + 17);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<u8>(i * 131 + (i >> 12));
  REQUIRE(web_content_put(s.objects, "/big.bin", "application/octet-stream", big).ok());
  CHECK(s.nvm.commits() >= 1);
  auto r = web_content_find(s.objects, "/big.bin");
  REQUIRE(r.ok());
  CHECK(r->etag == crc32(big));
  const std::string back = read_all(s.objects, *r, 240);
  CHECK(crc32(bytes_of(back)) == crc32(big));
  // Survives a remount (block checksums of the unjournalled fill were updated at commit).
  REQUIRE(s.nvm.mount().ok());
  CHECK(web_content_find(s.objects, "/big.bin").ok());
}

TEST_CASE("web content put inside the caller's transaction is undone by its abort") {
  Store s;
  std::vector<u8> big(200 * 1024, 0x5A);
  REQUIRE(s.nvm.begin().ok());
  REQUIRE(web_content_put(s.objects, "/big", "application/octet-stream", big).ok());
  REQUIRE(web_content_put(s.objects, "/small", "text/plain", bytes_of("s")).ok());
  CHECK(s.nvm.in_transaction());
  REQUIRE(s.nvm.abort().ok());
  CHECK(web_content_count(s.objects) == 0);
  REQUIRE(s.nvm.mount().ok());  // checksums agree after the rollback of the fresh fill
}

TEST_CASE("web content upload streams a body in pieces inside one transaction") {
  Store s;
  REQUIRE(s.nvm.begin().ok());
  WebContentUpload up;
  REQUIRE(up.begin(s.objects, "/up.txt", "text/plain", 10).ok());
  CHECK(web_content_find(s.objects, "/up.txt").error() == ContentError::kNotFound);  // not yet published
  REQUIRE(up.append(bytes_of("01234")).ok());
  CHECK(up.append(bytes_of("5678901")).error() == ContentError::kNoSpace);
  REQUIRE(up.append(bytes_of("56789")).ok());
  REQUIRE(up.finish().ok());
  REQUIRE(s.nvm.commit().ok());
  auto r = web_content_find(s.objects, "/up.txt");
  REQUIRE(r.ok());
  CHECK(r->etag == crc32(bytes_of("0123456789")));
  WebContentUpload outside;
  CHECK(outside.begin(s.objects, "/x", "text/plain", 1).error() == ContentError::kNvm);
}

TEST_CASE("web content without an index reports kNoStore") {
  std::vector<u8> image(256 * 1024, 0);
  RamNvmDevice device(image);
  Nvm nvm(device);
  REQUIRE(nvm.format(4096).ok());
  ObjectStore objects(nvm);
  REQUIRE(nvm.begin().ok());
  REQUIRE(objects.format().ok());
  REQUIRE(nvm.commit().ok());
  CHECK(web_content_find(objects, "/").error() == ContentError::kNoStore);
  CHECK(web_content_put(objects, "/a", "text/plain", {}).error() == ContentError::kNoStore);
  CHECK(web_content_count(objects) == 0);
}
