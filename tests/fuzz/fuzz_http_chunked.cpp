// Fuzzes the chunked body decoder (http/chunked.hpp). Each input is decoded whole into a large
// buffer, in place, and split in two at a data-derived offset into a small output buffer (so the
// decoder also stops and resumes on a full output); all must agree on body, consumed and outcome.
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "http/chunked.hpp"

using namespace scws;
using namespace scws::http;

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

struct Outcome {
  std::vector<u8> body;
  std::size_t consumed = 0;
  bool done = false;
  bool failed = false;
  ChunkedError error = ChunkedError::kBadChunkSize;
  bool operator==(const Outcome&) const = default;
};

// Feeds [data, data+n) in the pieces given by `cuts`, re-offering the rest of a piece while the
// decoder stops on a full output.
Outcome run(const u8* data, std::size_t n, std::size_t cut, std::size_t out_size, const ChunkedLimits& limits) {
  ChunkedDecoder d(limits);
  Outcome o;
  std::vector<u8> out(out_size);
  const std::size_t bounds[3] = {0, cut, n};
  for (int piece = 0; piece < 2; ++piece) {
    const std::size_t len = bounds[piece + 1] - bounds[piece];
    std::unique_ptr<u8[]> in(new u8[len == 0 ? 1 : len]);  // exact size, for AddressSanitizer
    if (len != 0) std::memcpy(in.get(), data + bounds[piece], len);
    std::size_t at = 0;
    while (true) {
      auto r = d.decode(Bytes(in.get() + at, len - at), out);
      if (!r.ok()) {
        Outcome f;
        f.failed = true;
        f.error = r.error();
        return f;
      }
      check(r->consumed <= len - at && r->produced <= out.size());
      o.body.insert(o.body.end(), out.begin(), out.begin() + static_cast<std::ptrdiff_t>(r->produced));
      at += r->consumed;
      o.consumed += r->consumed;
      if (r->done) {
        o.done = true;
        check(d.done() && d.body_length() == o.body.size());
        return o;
      }
      if (at == len) break;
      check(r->produced == out.size());  // stopped early only on a full output
    }
  }
  return o;
}

void run_all(const u8* data, std::size_t size, const ChunkedLimits& limits) {
  const Outcome want = run(data, size, size, size + 1, limits);
  if (!want.failed) check(want.body.size() <= want.consumed && want.body.size() <= limits.max_body);
  const std::size_t cut = size == 0 ? 0 : (static_cast<std::size_t>(data[0]) * 17 + data[size / 2]) % (size + 1);
  const std::size_t small = 1 + (size == 0 ? 0 : data[size - 1] % 13);
  check(run(data, size, cut, small, limits) == want);

  // In place: the body lands at the start of the input buffer.
  std::vector<u8> buf(data, data + size);
  ChunkedDecoder d(limits);
  auto r = d.decode(buf, buf);
  check(r.ok() == !want.failed);
  if (r.ok()) {
    check(r->done == want.done && r->consumed == want.consumed && r->produced == want.body.size());
    check(want.body.empty() || std::memcmp(buf.data(), want.body.data(), want.body.size()) == 0);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 8192) return 0;
  run_all(data, size, ChunkedLimits{.max_chunk_line = 64, .max_trailer = 256, .max_body = 1u << 20});
  run_all(data, size, ChunkedLimits{.max_chunk_line = 12, .max_trailer = 24, .max_body = 40});
  return 0;
}
