#include "tls/record_framer.hpp"

#include <doctest/doctest.h>

#include <vector>

using namespace scws;
using namespace scws::tls;

namespace {

struct Summary {
  std::vector<std::pair<u8, u16>> headers;
  bool ok = true;
  RecordError error = RecordError::kBadType;
};

// Feeds `stream` split at the given cut points and collects the headers seen.
Summary run(const std::vector<u8>& stream, const std::vector<std::size_t>& cuts, std::size_t max = 2048 + 256) {
  RecordFramer f(max);
  Summary s;
  std::size_t start = 0;
  std::vector<std::size_t> ends = cuts;
  ends.push_back(stream.size());
  for (std::size_t end : ends) {
    Bytes piece(stream.data() + start, end - start);
    while (!piece.empty()) {
      auto step = f.feed(piece);
      if (!step.ok()) {
        s.ok = false;
        s.error = step.error();
        return s;
      }
      if (step->header_done) s.headers.emplace_back(f.type(), f.length());
      piece = piece.subspan(step->consumed);
    }
    start = end;
  }
  return s;
}

// Two records: a ClientHello-sized handshake record header + body, then an alert (RFC 5246 6.2.1).
std::vector<u8> two_records() {
  std::vector<u8> s = {0x16, 0x03, 0x01, 0x00, 0x06, 1, 2, 3, 4, 5, 6, 0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28};
  return s;
}

}  // namespace

TEST_CASE("record framer finds every header whatever the split, and byte by byte") {
  const auto stream = two_records();
  const std::vector<std::pair<u8, u16>> expected = {{0x16, 6}, {0x15, 2}};
  CHECK(run(stream, {}).headers == expected);
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    CAPTURE(cut);
    CHECK(run(stream, {cut}).headers == expected);
  }
  std::vector<std::size_t> every;
  for (std::size_t i = 1; i < stream.size(); ++i) every.push_back(i);
  CHECK(run(stream, every).headers == expected);
}

TEST_CASE("record framer refuses what is not a TLS record") {
  struct Row {
    std::vector<u8> bytes;
    RecordError error;
    const char* source;
  };
  const Row rows[] = {
      {{'G', 'E', 'T', ' '}, RecordError::kBadType, "plain HTTP on the TLS port"},
      {{0x80, 0x2e, 0x01}, RecordError::kBadType, "SSLv2 ClientHello (RFC 5246 E.2)"},
      {{0x17, 0x02, 0x00}, RecordError::kBadVersion, "major version 2"},
      {{0x16, 0x03, 0x03, 0x40, 0x01}, RecordError::kTooLong, "16385 bytes, above the card's input buffer"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.source);
    for (std::size_t cut = 0; cut <= row.bytes.size(); ++cut) {
      const Summary s = run(row.bytes, {cut});
      CHECK_FALSE(s.ok);
      CHECK(s.error == row.error);
    }
  }
}

TEST_CASE("record framer stays failed after an error") {
  RecordFramer f(100);
  const u8 bad[] = {0x30};
  CHECK_FALSE(f.feed(Bytes(bad, 1)).ok());
  const u8 good[] = {0x16, 0x03, 0x03, 0x00, 0x01};
  auto again = f.feed(Bytes(good, sizeof good));
  REQUIRE_FALSE(again.ok());
  CHECK(again.error() == RecordError::kBadType);
}

TEST_CASE("record framer accepts a record of exactly the limit and reports the body still to come") {
  RecordFramer f(300);
  const u8 header[] = {0x17, 0x03, 0x03, 0x01, 0x2c};  // 300 bytes
  auto step = f.feed(Bytes(header, sizeof header));
  REQUIRE(step.ok());
  CHECK(step->header_done);
  CHECK(f.body_remaining() == 300);
  CHECK_FALSE(f.at_record_boundary());
  std::vector<u8> body(300);
  auto rest = f.feed(Bytes(body.data(), body.size()));
  REQUIRE(rest.ok());
  CHECK(f.at_record_boundary());
  CHECK(f.records() == 1);
}
