#include "http/chunked.hpp"

#include <doctest/doctest.h>

#include <array>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

using namespace scws;
using namespace scws::http;
using namespace std::string_view_literals;

namespace {

struct Outcome {
  std::string body;
  std::size_t consumed = 0;
  bool done = false;
  bool failed = false;
  ChunkedError error = ChunkedError::kBadChunkSize;
  bool operator==(const Outcome&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Outcome& o) {
  os << "body=\"" << o.body << "\" consumed=" << o.consumed << " done=" << o.done;
  if (o.failed) os << " error=" << static_cast<int>(o.error);
  return os;
}

// Feeds `pieces` in order; each piece is offered again (the rest of it) while the decoder stops
// early because out is full. out_size bounds every output buffer.
Outcome run(const std::vector<std::string_view>& pieces, std::size_t out_size, const ChunkedLimits& limits) {
  ChunkedDecoder d(limits);
  Outcome o;
  std::vector<u8> out(out_size);
  for (std::string_view piece : pieces) {
    std::vector<u8> in(piece.begin(), piece.end());  // exact size: over-reads show under sanitizers
    std::size_t at = 0;
    while (true) {
      auto r = d.decode(Bytes(in).subspan(at), out);
      if (!r.ok()) {
        o.failed = true;
        o.error = r.error();
        o.body.clear();
        o.consumed = 0;
        o.done = false;
        return o;
      }
      o.body.append(reinterpret_cast<const char*>(out.data()), r->produced);
      at += r->consumed;
      o.consumed += r->consumed;
      if (r->done) {
        o.done = true;
        CHECK(d.done());
        return o;
      }
      if (at == in.size()) break;
      REQUIRE(r->produced > 0);  // stopped early only because out was full
    }
  }
  return o;
}

const ChunkedLimits kSmall{.max_chunk_line = 16, .max_trailer = 32, .max_body = 20};

struct Row {
  const char* source;
  std::string_view raw;
  std::string_view body;        // when not failing
  std::size_t consumed;         // when not failing; npos = all of raw
  bool done;
  bool failed;
  ChunkedError error;
  const ChunkedLimits* limits = nullptr;
};
constexpr std::size_t kAll = static_cast<std::size_t>(-1);

Row ok(const char* source, std::string_view raw, std::string_view body, bool done = true,
       std::size_t consumed = kAll, const ChunkedLimits* limits = nullptr) {
  return {source, raw, body, consumed, done, false, {}, limits};
}
Row bad(const char* source, std::string_view raw, ChunkedError e, const ChunkedLimits* limits = nullptr) {
  return {source, raw, {}, 0, false, true, e, limits};
}

// clang-format off
const Row kRows[] = {
  ok("RFC 9112 7.1: one chunk", "5\r\nhello\r\n0\r\n\r\n", "hello"),
  ok("RFC 9112 7.1: several chunks", "3\r\nabc\r\n2\r\nde\r\n1\r\nf\r\n0\r\n\r\n", "abcdef"),
  ok("RFC 9112 7.1: empty body", "0\r\n\r\n", ""),
  ok("RFC 5234 B.1: HEXDIG either case", "a\r\n0123456789\r\nB\r\nabcdefghijk\r\n0\r\n\r\n", "0123456789abcdefghijk"),
  ok("RFC 9112 7.1: leading zeros", "0005\r\nhello\r\n000\r\n\r\n", "hello"),
  ok("RFC 9112 7.1.1: extensions are skipped", "5;name=value;flag\r\nhello\r\n0;last=\"q\"\r\n\r\n", "hello"),
  ok("RFC 9112 7.1.1: BWS before ;", "5 \t;a=b\r\nhello\r\n0\r\n\r\n", "hello"),
  ok("RFC 9112 7.1.2: trailer fields are skipped", "5\r\nhello\r\n0\r\nExpires: never\r\nX-Sum:\r\n\r\n", "hello"),
  ok("RFC 9112 7.1: stops after the final CRLF (pipelined request behind)",
     "2\r\nhi\r\n0\r\n\r\nGET / HTTP/1.1\r\n", "hi", true, 12),
  ok("RFC 9112 7.1: body still arriving", "5\r\nhel", "hel", false),
  ok("RFC 9112 7.1: chunk data may hold CRLF", "4\r\n\r\n\r\n\r\n0\r\n\r\n", "\r\n\r\n"),
  ok("RFC 9112 7.1: binary data", "3\r\n\0\xFF\n\r\n0\r\n\r\n"sv, "\0\xFF\n"sv),

  bad("RFC 9112 7.1: size needs a digit", "\r\n", ChunkedError::kBadChunkSize),
  bad("RFC 9112 7.1: non-hex size", "x\r\n", ChunkedError::kBadChunkSize),
  bad("RFC 9112 7.1: no sign", "-5\r\nhello\r\n", ChunkedError::kBadChunkSize),
  bad("RFC 9112 7.1: 0x prefix", "0x5\r\nhello\r\n", ChunkedError::kBadChunkSize),
  bad("RFC 9112 7.1.1: whitespace only before ;", "5 \r\nhello\r\n", ChunkedError::kBadChunkSize),
  bad("RFC 9112 7.1: extension without ;", "5 x\r\nhello\r\n", ChunkedError::kBadChunkSize),
  bad("RFC 9112 7.1: bare LF after the size", "5\nhello\r\n", ChunkedError::kBadChunkSize),
  bad("RFC 9112 7.1: CR without LF after the size", "5\rhello\r\n", ChunkedError::kBadLineEnding),
  bad("RFC 9112 7.1: data longer than its size", "5\r\nhello!\r\n0\r\n\r\n", ChunkedError::kBadLineEnding),
  bad("RFC 9112 7.1: data shorter than its size", "5\r\nhell\r\n0\r\n\r\n", ChunkedError::kBadLineEnding),
  bad("RFC 9112 7.1: bare LF after data", "5\r\nhello\n0\r\n\r\n", ChunkedError::kBadLineEnding),
  bad("RFC 9110 5.5: control byte in an extension", "5;a=\x01\r\nhello\r\n", ChunkedError::kBadChunkExtension),
  bad("RFC 9110 5.5: NUL in an extension", "5;a=\0\r\nhello\r\n"sv, ChunkedError::kBadChunkExtension),
  bad("RFC 9112 7.1.2: trailer name with a space", "0\r\nBad Name: x\r\n\r\n", ChunkedError::kBadTrailer),
  bad("RFC 9112 5.2: obs-fold in the trailer", "0\r\nA: 1\r\n 2\r\n\r\n", ChunkedError::kBadTrailer),
  bad("RFC 9112 7.1.2: trailer line without colon", "0\r\nNoColon\r\n\r\n", ChunkedError::kBadTrailer),
  bad("RFC 9110 5.5: control byte in a trailer value", "0\r\nA: \x02\r\n\r\n", ChunkedError::kBadTrailer),
  bad("RFC 9112 7.1: final CR without LF", "0\r\n\rX", ChunkedError::kBadLineEnding),
  bad("RFC 9112 7.1: size beyond 64 bits", "FFFFFFFFFFFFFFFFFFFFFFFF\r\n", ChunkedError::kBodyTooLarge),
  bad("RFC 9112 7.1: size beyond the body limit", "10000\r\n", ChunkedError::kBodyTooLarge),

  // kSmall: size line 16, trailer 32, body 20
  ok("limit: body of exactly 20", "a\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n", "01234567890123456789", true, kAll, &kSmall),
  bad("limit: body of 21 over two chunks", "a\r\n0123456789\r\nb\r\n", ChunkedError::kBodyTooLarge, &kSmall),
  ok("limit: size line of exactly 16", "5;aaaaaaaaaaaaaa\r\nhello\r\n0\r\n\r\n", "hello", true, kAll, &kSmall),
  bad("limit: size line of 17", "5;aaaaaaaaaaaaaaa\r\nhello\r\n", ChunkedError::kChunkLineTooLong, &kSmall),
  bad("limit: endless leading zeros", "00000000000000000000000000000005\r\n", ChunkedError::kChunkLineTooLong, &kSmall),
  ok("limit: trailer section of exactly 32", "0\r\nX: 0123456789012345678901234\r\n\r\n", "", true, kAll, &kSmall),
  bad("limit: trailer section of 33", "0\r\nX: 01234567890123456789012345\r\n\r\n", ChunkedError::kTrailerTooLarge, &kSmall),
};
// clang-format on

Outcome expected_of(const Row& row) {
  Outcome o;
  if (row.failed) {
    o.failed = true;
    o.error = row.error;
    return o;
  }
  o.body = std::string(row.body);
  o.consumed = row.consumed == kAll ? row.raw.size() : row.consumed;
  o.done = row.done;
  return o;
}

}  // namespace

TEST_CASE("chunked decoder gives each table row its expected body or error when fed whole") {
  for (const Row& row : kRows) {
    CAPTURE(row.source);
    CHECK(run({row.raw}, 256, row.limits ? *row.limits : ChunkedLimits{}) == expected_of(row));
  }
}

TEST_CASE("chunked decoder gives the same result for every split of every input") {
  for (const Row& row : kRows) {
    CAPTURE(row.source);
    const Outcome want = expected_of(row);
    for (std::size_t k = 0; k <= row.raw.size(); ++k) {
      CAPTURE(k);
      CHECK(run({row.raw.substr(0, k), row.raw.substr(k)}, 256, row.limits ? *row.limits : ChunkedLimits{}) == want);
    }
  }
}

TEST_CASE("chunked decoder gives the same result byte by byte into a one-byte output") {
  for (const Row& row : kRows) {
    CAPTURE(row.source);
    std::vector<std::string_view> bytes;
    for (std::size_t i = 0; i < row.raw.size(); ++i) bytes.push_back(row.raw.substr(i, 1));
    CHECK(run(bytes, 1, row.limits ? *row.limits : ChunkedLimits{}) == expected_of(row));
    // Whole input, tiny output: the decoder stops early and resumes.
    CHECK(run({row.raw}, 1, row.limits ? *row.limits : ChunkedLimits{}) == expected_of(row));
  }
}

TEST_CASE("chunked decoder decodes in place, compacting the body at the start of the buffer") {
  for (const Row& row : kRows) {
    if (row.failed) continue;
    CAPTURE(row.source);
    std::vector<u8> buf(row.raw.begin(), row.raw.end());
    ChunkedDecoder d(row.limits ? *row.limits : ChunkedLimits{});
    auto r = d.decode(buf, buf);
    REQUIRE(r.ok());
    CHECK(std::string_view(reinterpret_cast<const char*>(buf.data()), r->produced) == row.body);
    CHECK(r->done == row.done);
  }
}

TEST_CASE("chunked decoder stays failed and reports nothing more after an error") {
  ChunkedDecoder d;
  std::array<u8, 16> out{};
  const std::string_view bad = "zz\r\n";
  auto r = d.decode(Bytes(reinterpret_cast<const u8*>(bad.data()), bad.size()), out);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error() == ChunkedError::kBadChunkSize);
  const std::string_view good = "0\r\n\r\n";
  auto again = d.decode(Bytes(reinterpret_cast<const u8*>(good.data()), good.size()), out);
  REQUIRE_FALSE(again.ok());
  CHECK(again.error() == ChunkedError::kBadChunkSize);
  d.reset();
  auto fresh = d.decode(Bytes(reinterpret_cast<const u8*>(good.data()), good.size()), out);
  REQUIRE(fresh.ok());
  CHECK(fresh->done);
}

TEST_CASE("chunked decoder consumes nothing once done") {
  ChunkedDecoder d;
  std::array<u8, 16> out{};
  const std::string_view in = "1\r\nx\r\n0\r\n\r\n";
  auto r = d.decode(Bytes(reinterpret_cast<const u8*>(in.data()), in.size()), out);
  REQUIRE(r.ok());
  CHECK(r->done);
  CHECK(d.body_length() == 1);
  auto again = d.decode(Bytes(reinterpret_cast<const u8*>(in.data()), in.size()), out);
  REQUIRE(again.ok());
  CHECK(again->consumed == 0);
  CHECK(again->produced == 0);
  CHECK(again->done);
}

TEST_CASE("chunked errors map to 413 for size and 400 for everything else") {
  CHECK(to_status(ChunkedError::kBodyTooLarge) == HttpStatus::kContentTooLarge);
  for (ChunkedError e : {ChunkedError::kBadChunkSize, ChunkedError::kChunkLineTooLong, ChunkedError::kBadChunkExtension,
                         ChunkedError::kBadLineEnding, ChunkedError::kBadTrailer, ChunkedError::kTrailerTooLarge})
    CHECK(to_status(e) == HttpStatus::kBadRequest);
}
