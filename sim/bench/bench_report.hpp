// Text helpers the benchmarks share for their human and JSON reports (sim/bench/bench_*.cpp).
#pragma once

#include <cstdio>
#include <string>

namespace scws::sim::report {

// v with a fixed number of decimals ("12.50").
inline std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// s as the contents of a JSON string (RFC 8259 7): quote, backslash and control bytes escaped.
inline std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

// s as a quoted JSON string.
inline std::string json_string(const std::string& s) { return "\"" + json_escape(s) + "\""; }

}  // namespace scws::sim::report
