// Character classes and case-insensitive comparisons of the HTTP grammar (RFC 9110 5.6, RFC 5234
// appendix B.1). Everything works on bytes as ASCII; obs-text (0x80-0xFF) is never a letter.
#pragma once

#include <cstddef>
#include <string_view>

#include "base/bytes.hpp"

namespace scws::http {

constexpr bool is_digit(u8 c) noexcept { return c >= '0' && c <= '9'; }
constexpr bool is_alpha(u8 c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// HEXDIG (RFC 5234 B.1; case-insensitive as RFC 9112 7.1 chunk-size uses it). -1 if not hex.
constexpr int hex_value(u8 c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// tchar (RFC 9110 5.6.2): "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" /
// "`" / "|" / "~" / DIGIT / ALPHA.
constexpr bool is_tchar(u8 c) noexcept {
  if (is_digit(c) || is_alpha(c)) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

// VCHAR (RFC 5234 B.1) and obs-text (RFC 9110 5.6.4).
constexpr bool is_vchar(u8 c) noexcept { return c >= 0x21 && c <= 0x7E; }
constexpr bool is_obs_text(u8 c) noexcept { return c >= 0x80; }
// A byte allowed inside a field value (RFC 9110 5.5 field-vchar, plus SP / HTAB between them).
// Excludes NUL, CR, LF, every other CTL and DEL.
constexpr bool is_field_value_byte(u8 c) noexcept {
  return is_vchar(c) || is_obs_text(c) || c == ' ' || c == '\t';
}
constexpr bool is_ows(u8 c) noexcept { return c == ' ' || c == '\t'; }

constexpr char to_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// Field names, methods' case-insensitive friends (codings, connection options) compare this way
// (RFC 9110 5.1: field names are case-insensitive).
constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (to_lower(a[i]) != to_lower(b[i])) return false;
  return true;
}

constexpr bool istarts_with(std::string_view s, std::string_view prefix) noexcept {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

// Strips optional whitespace (OWS, RFC 9110 5.6.3) from both ends.
constexpr std::string_view trim_ows(std::string_view s) noexcept {
  std::size_t b = 0;
  std::size_t e = s.size();
  while (b < e && is_ows(static_cast<u8>(s[b]))) ++b;
  while (e > b && is_ows(static_cast<u8>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

// Walks a comma-separated list (RFC 9110 5.6.1 #rule): yields each element with OWS trimmed and
// skips empty elements, as recipients must accept them. Quoted commas are not special here: the
// lists walked with it (Connection, Transfer-Encoding, Expect, If-None-Match entity tags) hold tokens
// or entity-tags, which contain no commas.
class ListWalker {
 public:
  constexpr explicit ListWalker(std::string_view list) noexcept : rest_(list) {}
  // Next non-empty element into `out`; false at the end.
  constexpr bool next(std::string_view& out) noexcept {
    while (!done_) {
      std::size_t comma = rest_.find(',');
      std::string_view element;
      if (comma == std::string_view::npos) {
        element = rest_;
        done_ = true;
      } else {
        element = rest_.substr(0, comma);
        rest_ = rest_.substr(comma + 1);
      }
      element = trim_ows(element);
      if (!element.empty()) {
        out = element;
        return true;
      }
    }
    return false;
  }

 private:
  std::string_view rest_;
  bool done_ = false;
};

inline std::string_view as_text(Bytes b) noexcept {
  return std::string_view(reinterpret_cast<const char*>(b.data()), b.size());
}
inline Bytes as_bytes(std::string_view s) noexcept {
  return Bytes(reinterpret_cast<const u8*>(s.data()), s.size());
}

}  // namespace scws::http
