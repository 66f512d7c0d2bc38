#include "http/ascii.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace scws;
using namespace scws::http;

TEST_CASE("tchar is exactly the RFC 9110 5.6.2 set") {
  const std::string specials = "!#$%&'*+-.^_`|~";
  for (int c = 0; c < 256; ++c) {
    const bool expected = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                          specials.find(static_cast<char>(c)) != std::string::npos;
    CAPTURE(c);
    CHECK(is_tchar(static_cast<u8>(c)) == expected);
  }
}

TEST_CASE("field value bytes exclude NUL, CR, LF, other controls and DEL (RFC 9110 5.5)") {
  for (int c = 0; c < 256; ++c) {
    const bool expected = c == '\t' || (c >= 0x20 && c != 0x7F);
    CAPTURE(c);
    CHECK(is_field_value_byte(static_cast<u8>(c)) == expected);
  }
}

TEST_CASE("hex digits decode in either case (RFC 5234 B.1)") {
  CHECK(hex_value('0') == 0);
  CHECK(hex_value('9') == 9);
  CHECK(hex_value('a') == 10);
  CHECK(hex_value('F') == 15);
  CHECK(hex_value('g') == -1);
  CHECK(hex_value(' ') == -1);
}

TEST_CASE("case-insensitive comparison folds ASCII letters only") {
  CHECK(iequals("Content-Length", "content-LENGTH"));
  CHECK_FALSE(iequals("Content-Length", "Content-Lengt"));
  CHECK_FALSE(iequals("\xC3\xA9", "\xC3\x89"));  // no folding outside ASCII
  CHECK(istarts_with("HTTP://a", "http://"));
  CHECK_FALSE(istarts_with("htt", "http://"));
  CHECK(trim_ows(" \t a b \t") == "a b");
  CHECK(trim_ows(" \t ").empty());
}

TEST_CASE("list walker yields trimmed non-empty elements (RFC 9110 5.6.1)") {
  std::vector<std::string> got;
  ListWalker w(" , a ,b,,\tc d ,");
  std::string_view e;
  while (w.next(e)) got.emplace_back(e);
  CHECK(got == std::vector<std::string>{"a", "b", "c d"});
  ListWalker empty("");
  CHECK_FALSE(empty.next(e));
}
