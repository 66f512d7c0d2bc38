#include "card/admin/script_template.hpp"

#include <doctest/doctest.h>

#include <ostream>
#include <vector>

using namespace scws;
using namespace scws::card;

namespace {

using Blob = std::vector<u8>;

struct Outcome {
  std::vector<Blob> apdus;
  bool done = false;
  bool failed = false;
  ScriptError error = ScriptError::kBadTag;
  bool operator==(const Outcome&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Outcome& o) {
  os << o.apdus.size() << " apdus, done=" << o.done;
  if (o.failed) os << " error=" << describe(o.error);
  return os;
}

Outcome run(const Blob& body, const std::vector<std::size_t>& cuts) {
  ScriptParser p;
  Outcome o;
  std::size_t from = 0;
  auto piece = [&](std::size_t to) {
    Bytes in(body.data() + from, to - from);
    from = to;
    while (!in.empty() && !o.failed) {
      auto r = p.feed(in);
      if (!r) {
        o.failed = true;
        o.error = r.error();
        return;
      }
      if (!r->apdu.empty()) o.apdus.emplace_back(r->apdu.begin(), r->apdu.end());
      in = in.subspan(r->consumed);
      if (r->done && !in.empty()) {  // what follows the template is an error
        auto t = p.feed(in);
        o.failed = !t;
        if (!t) o.error = t.error();
        return;
      }
    }
  };
  for (std::size_t c : cuts) piece(c);
  piece(body.size());
  if (!o.failed) {
    auto f = p.finish();
    if (!f) {
      o.failed = true;
      o.error = f.error();
    }
  }
  o.done = p.done();
  return o;
}

Outcome check_splits(const Blob& body) {
  const Outcome whole = run(body, {});
  for (std::size_t i = 0; i <= body.size(); ++i) {
    CAPTURE(i);
    CHECK(run(body, {i}) == whole);
  }
  std::vector<std::size_t> every;
  for (std::size_t i = 1; i < body.size(); ++i) every.push_back(i);
  CHECK(run(body, every) == whole);
  return whole;
}

Blob ack = {0x80, 0x54, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x07};
Blob summary = {0x80, 0x50, 0x00, 0x00, 0x00};

Blob definite(const std::vector<Blob>& apdus) {
  Blob inner;
  for (const Blob& a : apdus) {
    inner.push_back(0x22);
    if (a.size() >= 0x80) inner.push_back(0x81);
    inner.push_back(static_cast<u8>(a.size()));
    inner.insert(inner.end(), a.begin(), a.end());
  }
  Blob b = {0xAA};
  if (inner.size() >= 0x100) {
    b.push_back(0x82);
    b.push_back(static_cast<u8>(inner.size() >> 8));
  } else if (inner.size() >= 0x80) {
    b.push_back(0x81);
  }
  b.push_back(static_cast<u8>(inner.size()));
  b.insert(b.end(), inner.begin(), inner.end());
  return b;
}

}  // namespace

TEST_CASE("definite and indefinite scripts, split at every offset") {
  Outcome o = check_splits(definite({ack, summary}));
  CHECK_FALSE(o.failed);
  CHECK(o.done);
  REQUIRE(o.apdus.size() == 2);
  CHECK(o.apdus[0] == ack);
  CHECK(o.apdus[1] == summary);

  Blob ind = {0xAE, 0x80, 0x22, 0x09};
  ind.insert(ind.end(), ack.begin(), ack.end());
  ind.insert(ind.end(), {0x22, 0x05});
  ind.insert(ind.end(), summary.begin(), summary.end());
  ind.insert(ind.end(), {0x00, 0x00});
  o = check_splits(ind);
  CHECK_FALSE(o.failed);
  CHECK(o.apdus.size() == 2);

  o = check_splits({0xAA, 0x00});
  CHECK(o.done);
  CHECK(o.apdus.empty());
}

TEST_CASE("long forms: a 261-byte C-APDU and an 82 outer length") {
  Blob big = {0x80, 0x60, 0x01, 0x00, 0xFF};
  big.resize(5 + 255, 0x5A);
  big.push_back(0x00);  // Le
  REQUIRE(big.size() == ScriptParser::kMaxApdu);
  Blob body = {0xAA, 0x82, 0x01, 0x10, 0x22, 0x82, 0x01, 0x05};
  body.insert(body.end(), big.begin(), big.end());
  body.insert(body.end(), {0x22, 0x05});
  body.insert(body.end(), summary.begin(), summary.end());
  REQUIRE(body.size() == 4 + 0x110);
  const Outcome o = check_splits(body);
  CHECK_FALSE(o.failed);
  REQUIRE(o.apdus.size() == 2);
  CHECK(o.apdus[0] == big);
}

TEST_CASE("malformed scripts") {
  struct Case {
    Blob body;
    ScriptError error;
  };
  const Case cases[] = {
      {{0xAB, 0x00}, ScriptError::kBadTag},
      {{0xAE, 0x05}, ScriptError::kBadTag},
      {{0xAA, 0x06, 0x23, 0x04, 1, 2, 3, 4}, ScriptError::kBadTag},
      {{0xAA, 0x05, 0x22, 0x03, 1, 2, 3}, ScriptError::kBadLength},
      {{0xAA, 0x06, 0x22, 0x05, 1, 2, 3, 4}, ScriptError::kOverrun},
      {{0xAA, 0x84, 0, 0, 0, 1}, ScriptError::kBadLength},
      {{0xAA, 0x07, 0x22, 0x82, 0x01, 0x06}, ScriptError::kBadLength},
      {{0xAA, 0x06, 0x22, 0x04, 1, 2, 3, 4, 0x00}, ScriptError::kTrailing},
      {{0xAA, 0x06, 0x22, 0x04, 1, 2}, ScriptError::kTruncated},
      {{0xAE, 0x80, 0x22, 0x04, 1, 2, 3, 4, 0x00}, ScriptError::kTruncated},
      {{0xAE, 0x80, 0x00, 0x01}, ScriptError::kBadTag},
      {{0xAA, 0x02, 0x22, 0x81, 0x05}, ScriptError::kOverrun},
      {{0xAA, 0x03, 0x22, 0x81}, ScriptError::kTruncated},
      {{}, ScriptError::kTruncated},
  };
  for (const Case& c : cases) {
    CAPTURE(c.body.size());
    const Outcome o = check_splits(c.body);
    CHECK(o.failed);
    CHECK(o.error == c.error);
  }
}

TEST_CASE("at most 255 C-APDUs; the ones before a fault are yielded") {
  std::vector<Blob> many(ScriptParser::kMaxApdus, Blob{0x80, 0x50, 0x00, 0x00});
  Outcome o = run(definite(many), {});
  CHECK_FALSE(o.failed);
  CHECK(o.apdus.size() == 255);
  Blob ind = {0xAE, 0x80};
  for (int i = 0; i < 256; ++i) ind.insert(ind.end(), {0x22, 0x04, 0x80, 0x50, 0x00, 0x00});
  ind.insert(ind.end(), {0x00, 0x00});
  o = run(ind, {});
  CHECK(o.failed);
  CHECK(o.error == ScriptError::kTooMany);
  CHECK(o.apdus.size() == 255);
}

TEST_CASE("the response template: counts, BER lengths and the 62 F1 overflow") {
  std::vector<u8> buffer(ResponseBuilder::kBufferSize);
  {
    ResponseBuilder b(MutableBytes(buffer.data(), buffer.size()));
    const u8 data[] = {1, 2, 3};
    CHECK(b.add({}, 0x9000));
    CHECK(b.add(Bytes(data, 3), 0x6A80));
    const Bytes t = b.finish();
    const Blob expected = {0xAB, 0x0E, 0x80, 0x01, 0x02, 0x23, 0x02, 0x90, 0x00, 0x23, 0x05, 1, 2, 3, 0x6A, 0x80};
    CHECK(Blob(t.begin(), t.end()) == expected);
  }
  {
    ResponseBuilder b(MutableBytes(buffer.data(), buffer.size()));
    Blob block(600, 0x11);
    CHECK(b.add(Bytes(block.data(), block.size()), 0x9000));
    CHECK(b.data_room() == 424);
    CHECK_FALSE(b.add(Bytes(block.data(), block.size()), 0x9000));
    CHECK(b.full());
    const Bytes t = b.finish();
    // AB 82 02 66 | 80 01 02 | 23 82 02 5A <600> 90 00 | 23 02 62 F1
    REQUIRE(t.size() == 4 + 3 + 4 + 600 + 2 + 4);
    CHECK(t[0] == 0xAB);
    CHECK(t[1] == 0x82);
    CHECK(((t[2] << 8) | t[3]) == static_cast<int>(t.size() - 4));
    CHECK(t[6] == 2);
    CHECK(t[7] == 0x23);
    CHECK(t[8] == 0x82);
    CHECK(t[t.size() - 2] == 0x62);
    CHECK(t[t.size() - 1] == 0xF1);
  }
  {
    // The largest template fits the buffer: 255 R-APDUs carrying the whole budget between them.
    ResponseBuilder b(MutableBytes(buffer.data(), buffer.size()));
    Blob block(1024, 0x22);
    CHECK(b.add(Bytes(block.data(), block.size()), 0x9000));
    for (int i = 1; i < 255; ++i) CHECK(b.add({}, 0x9000));
    CHECK(b.finish().size() <= ResponseBuilder::kBufferSize);
  }
}
