// Fuzzes the HTTP request-head parser (http/request_parser.hpp): the input is the bytes received on
// a connection. Each input is parsed whole, split in two at an offset derived from the data, and
// byte by byte; all three must agree (the parser's outcome may not depend on how bytes arrive).
// A complete head is then walked through every accessor and helper.
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>

#include "http/request_parser.hpp"

using namespace scws;
using namespace scws::http;

namespace {

struct Outcome {
  int kind = 0;  // 0 need more, 1 complete, 2 error
  std::size_t head_length = 0;
  HttpStatus status = HttpStatus::kOk;
  bool operator==(const Outcome&) const = default;
};

void check(bool ok) {
  if (!ok) __builtin_trap();
}

// A fresh, exactly sized copy per call: the parser keeps offsets only, and a read past the bytes
// given lands outside the allocation (AddressSanitizer).
Outcome feed(RequestParser& p, const u8* data, std::size_t n) {
  std::unique_ptr<u8[]> copy(new u8[n == 0 ? 1 : n]);
  if (n != 0) std::memcpy(copy.get(), data, n);
  auto r = p.parse(Bytes(copy.get(), n));
  if (!r.ok()) return {2, 0, r.error()};
  if (r->complete) return {1, r->head_length, HttpStatus::kOk};
  return {};
}

void walk_head(const RequestHead& h, Bytes buffer, std::size_t head_length) {
  const char* begin = reinterpret_cast<const char*>(buffer.data());
  const char* end = begin + head_length;
  auto inside = [&](std::string_view v) { check(v.empty() || (v.data() >= begin && v.data() + v.size() <= end)); };
  check(head_length >= 4 && head_length <= buffer.size());
  check(std::memcmp(begin + head_length - 4, "\r\n\r\n", 4) == 0 ||
        (head_length >= 2 && std::memcmp(begin + head_length - 2, "\r\n", 2) == 0));
  inside(h.target());
  inside(h.query());
  inside(h.host());
  if (!h.absolute_form() || h.path() != "/") inside(h.path());
  check(!h.target().empty());
  for (std::size_t i = 0; i < h.header_count(); ++i) {
    HeaderView f = h.header(i);
    inside(f.name);
    inside(f.value);
    check(!f.name.empty());
    check(h.find(f.name) <= i);
    check(h.value(f.name).has_value());
  }
  if (h.framing() == BodyFraming::kChunked) check(h.value("transfer-encoding").has_value());
  if (auto a = h.authorization()) inside(*a);
  std::array<u8, 512> out{};
  auto path = decode_path(h.path(), out);
  if (path) {
    check(path->size() <= h.path().size());
    check(path->find("/../") == std::string_view::npos);
  }
  (void)decode_query_component(h.query(), out);
  (void)find_query_parameter(h.query(), "a");
  (void)if_none_match_matches(h, "\"v1\"");
}

void run(const u8* data, std::size_t size, const RequestLimits& limits) {
  FixedRequestParser<24> whole(limits);
  const Outcome want = feed(whole, data, size);

  // One split at a data-derived offset.
  const std::size_t k = size == 0 ? 0 : (static_cast<std::size_t>(data[0]) * 31 + data[size - 1]) % (size + 1);
  FixedRequestParser<24> split(limits);
  const Outcome first = feed(split, data, k);
  check(first == Outcome{} || first == want);
  check(feed(split, data, size) == want);

  // Byte by byte (heads are bounded, so this stays cheap).
  FixedRequestParser<24> bytewise(limits);
  Outcome last;
  for (std::size_t n = 1; n <= size && last == Outcome{}; ++n) last = feed(bytewise, data, n);
  check(last == want);

  if (want.kind == 1) {
    auto r = whole.parse(Bytes(data, size));  // views into the fuzzer's buffer for the walk
    check(r.ok() && r->complete && r->head_length == want.head_length);
    walk_head(whole.head(), Bytes(data, size), want.head_length);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 4096) return 0;
  run(data, size, RequestLimits{});
  run(data, size, RequestLimits{.max_request_line = 40, .max_method = 6, .max_head = 160, .max_headers = 5, .max_body = 300});
  return 0;
}
