#include "apdu/tlv.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "base/hex.hpp"

using namespace scws;
using namespace scws::apdu;

namespace {

std::vector<u8> hex(const char* text) {
  std::vector<u8> out(std::strlen(text) / 2 + 1);
  auto n = hex_decode(text, std::strlen(text), out);
  REQUIRE(n.has_value());
  out.resize(*n);
  return out;
}

std::vector<u8> filled(std::size_t n, u8 first = 0) {
  std::vector<u8> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<u8>(first + i);
  return v;
}

std::vector<u8> to_vector(Bytes b) { return std::vector<u8>(b.begin(), b.end()); }

}  // namespace

TEST_CASE("length fields decode in the one, two and three byte forms (TS 101 220 7.1.2)") {
  struct Row {
    const char* bytes;
    std::size_t length;
    std::size_t size;
    const char* source;
  };
  const Row rows[] = {
      {"00", 0, 1, "TS 101 220 7.1.2: 00-7F on one byte"},
      {"0C", 12, 1, "oFono receive_data_111: D0 0C"},
      {"7F", 127, 1, "TS 101 220 7.1.2: largest one-byte length"},
      {"8180", 128, 2, "TS 101 220 7.1.2: 81 LL from 128"},
      {"81C8", 200, 2, "docs/protocol.md section 5.1: channel data B6 81 C8 (oFono send_data_121)"},
      {"81D4", 212, 2, "docs/protocol.md section 5.1: D0 81 D4 (oFono send_data_121)"},
      {"81FF", 255, 2, "TS 101 220 7.1.2: largest 81 LL"},
      {"8105", 5, 2, "ISO 7816-4 5.2.2.2: a longer form than needed is allowed when reading"},
      {"820100", 256, 3, "TS 101 220 7.1.2: 82 HH LL from 256"},
      {"82FFFF", 65535, 3, "TS 101 220 7.1.2: largest supported length"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.source);
    const auto bytes = hex(row.bytes);
    auto len = decode_length(bytes);
    REQUIRE(len.ok());
    CHECK(len->length == row.length);
    CHECK(len->size == row.size);
  }
}

TEST_CASE("length fields that are cut short or use unsupported forms are refused") {
  struct Row {
    const char* bytes;
    TlvError error;
    const char* why;
  };
  const Row rows[] = {
      {"", TlvError::kTruncated, "no length byte"},
      {"81", TlvError::kTruncated, "81 without its byte"},
      {"8201", TlvError::kTruncated, "82 with one byte of two"},
      {"80", TlvError::kBadLength, "ISO 7816-4: 80 (indefinite) is not for SIMPLE/COMPREHENSION-TLV"},
      {"83010000", TlvError::kBadLength, "three-byte lengths are beyond the supported forms"},
      {"FF", TlvError::kBadLength, "FF is no length form"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.why);
    const auto bytes = hex(row.bytes);
    auto len = decode_length(bytes);
    REQUIRE_FALSE(len.ok());
    CHECK(len.error() == row.error);
  }
}

TEST_CASE("the shortest length field is 1, 2 or 3 bytes") {
  CHECK(length_field_size(0) == 1);
  CHECK(length_field_size(127) == 1);
  CHECK(length_field_size(128) == 2);
  CHECK(length_field_size(255) == 2);
  CHECK(length_field_size(256) == 3);
  CHECK(length_field_size(65535) == 3);
  CHECK(length_field_size(65536) == 0);
}

TEST_CASE("ber reader iterates one- and two-byte tags with zero-copy value views") {
  // 6F 07 (constructed) then 5F20 02 'A' 'B' then 84 00: ISO 7816-4 5.2.2.1 tag forms.
  const auto data = hex("6F03800101" "5F20024142" "8400");
  BerTlvReader r(data);
  BerTlv t;
  REQUIRE(r.next(t));
  CHECK(t.tag == 0x6F);
  CHECK(t.constructed);
  CHECK(t.value.size() == 3);
  CHECK(t.value.data() == data.data() + 2);  // a view, not a copy
  CHECK(t.raw.size() == 5);
  REQUIRE(r.next(t));
  CHECK(t.tag == 0x5F20);
  CHECK_FALSE(t.constructed);
  CHECK(to_vector(t.value) == std::vector<u8>{'A', 'B'});
  REQUIRE(r.next(t));
  CHECK(t.tag == 0x84);
  CHECK(t.value.empty());
  CHECK_FALSE(r.next(t));
  CHECK(r.ok());
  CHECK(r.at_end());
}

TEST_CASE("ber reader refuses malformed tags and values past the end") {
  struct Row {
    const char* bytes;
    TlvError error;
    const char* why;
  };
  const Row rows[] = {
      {"D00E8103", TlvError::kValuePastEnd, "declared 14 bytes, 2 present"},
      {"D081", TlvError::kTruncated, "81 length form without its byte"},
      {"D0", TlvError::kTruncated, "tag without length"},
      {"5F", TlvError::kTruncated, "two-byte tag cut after its first byte"},
      {"5F8101" "00", TlvError::kBadTag, "a third tag byte would follow (b8 of byte 2 set)"},
      {"0000", TlvError::kBadTag, "ISO 7816-4: 00 is padding, not a tag"},
      {"FF00", TlvError::kBadTag, "ISO 7816-4: FF is not a tag"},
      {"D080", TlvError::kBadLength, "indefinite length"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.why);
    const auto data = hex(row.bytes);
    BerTlvReader r(data);
    BerTlv t;
    CHECK_FALSE(r.next(t));
    CHECK_FALSE(r.ok());
    CHECK(r.error() == row.error);
    CHECK_FALSE(r.next(t));  // sticky
  }
}

TEST_CASE("a single ber tlv must span the whole input") {
  const auto ok = hex("D00981030141008202812190");  // close_channel_111 + one stray byte
  auto r = parse_single_ber_tlv(Bytes(ok).first(11));
  REQUIRE(r.ok());
  CHECK(r->tag == 0xD0);
  CHECK(parse_single_ber_tlv(ok).error() == TlvError::kTrailingBytes);
  CHECK(parse_single_ber_tlv(Bytes{}).error() == TlvError::kTruncated);
}

TEST_CASE("find_ber_tlv returns the first match or says why there is none") {
  const auto data = hex("8401AA" "8502BBCC" "8501DD");
  auto hit = find_ber_tlv(data, 0x85);
  REQUIRE(hit.ok());
  CHECK(to_vector(hit->value) == std::vector<u8>{0xBB, 0xCC});
  CHECK(find_ber_tlv(data, 0x86).error() == TlvError::kNotFound);
  const auto broken = hex("8401AA" "8505BB");
  CHECK(find_ber_tlv(broken, 0x86).error() == TlvError::kValuePastEnd);
}

TEST_CASE("comprehension tags match on the value whatever the CR flag (38 vs B8)") {
  // docs/protocol.md sections 7.3 and 7.8: 38 02 41 00 in an OPEN CHANNEL response, B8 02 81 00 in GET CHANNEL STATUS.
  const auto data = hex("38024100" "B8028100");
  ComprehensionTlvReader r(data);
  ComprehensionTlv t;
  REQUIRE(r.next(t));
  CHECK(t.tag == 0x38);
  CHECK_FALSE(t.cr);
  CHECK(t.value[0] == 0x41);
  REQUIRE(r.next(t));
  CHECK(t.tag == 0x38);
  CHECK(t.cr);
  CHECK(t.value[0] == 0x81);
  CHECK_FALSE(r.next(t));
  CHECK(r.ok());
  auto found = find_comprehension_tlv(data, 0x38);
  REQUIRE(found.ok());
  CHECK_FALSE(found->cr);  // the first one
}

TEST_CASE("comprehension reader parses the three-byte tag form 7F HH LL (TS 101 220 7.1.1.1)") {
  struct Row {
    const char* bytes;
    u16 tag;
    bool cr;
    std::size_t value_size;
    const char* why;
  };
  const Row rows[] = {
      {"7F0123" "02AABB", 0x0123, false, 2, "tag 0123 without CR"},
      {"7F8123" "00", 0x0123, true, 0, "b16 of the tag bytes is the CR flag"},
      {"7F7FFF" "01CC", 0x7FFF, false, 1, "largest tag value"},
      {"7F0038" "024100", 0x38, false, 2, "a one-byte tag value in the long form is the same object"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.why);
    const auto data = hex(row.bytes);
    ComprehensionTlvReader r(data);
    ComprehensionTlv t;
    REQUIRE(r.next(t));
    CHECK(t.tag == row.tag);
    CHECK(t.cr == row.cr);
    CHECK(t.three_byte_tag);
    CHECK(t.value.size() == row.value_size);
    CHECK(t.raw.size() == data.size());
    CHECK_FALSE(r.next(t));
    CHECK(r.ok());
  }
}

TEST_CASE("comprehension reader refuses the unused tags and cut-short objects") {
  struct Row {
    const char* bytes;
    TlvError error;
    const char* why;
  };
  const Row rows[] = {
      {"0000", TlvError::kBadTag, "TS 101 220 7.1.1.1: 00 not used"},
      {"8000", TlvError::kBadTag, "80 not used"},
      {"FF00", TlvError::kBadTag, "FF not used"},
      {"7F00", TlvError::kTruncated, "three-byte tag cut short"},
      {"7F000000", TlvError::kBadTag, "tag value 0000 in the long form"},
      {"830200", TlvError::kValuePastEnd, "result claiming 2 bytes with 1 present"},
      {"B681", TlvError::kTruncated, "81 length without its byte"},
      {"B680", TlvError::kBadLength, "indefinite length"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.why);
    const auto data = hex(row.bytes);
    ComprehensionTlvReader r(data);
    ComprehensionTlv t;
    CHECK_FALSE(r.next(t));
    CHECK(r.error() == row.error);
  }
}

TEST_CASE("tlv readers stop cleanly on every prefix of a valid sequence") {
  // docs/protocol.md section 7.3: OPEN CHANNEL response body, then a 2-byte-length channel data object.
  auto data = hex("810301400082028281830100380241003902 0578");
  const auto b6 = filled(200);
  data.push_back(0xB6);
  data.push_back(0x81);
  data.push_back(0xC8);
  data.insert(data.end(), b6.begin(), b6.end());
  // Boundaries of the complete objects.
  std::vector<std::size_t> ends;
  {
    ComprehensionTlvReader r(data);
    ComprehensionTlv t;
    while (r.next(t)) ends.push_back(r.position());
    REQUIRE(r.ok());
    REQUIRE(ends.back() == data.size());
  }
  for (std::size_t cut = 0; cut <= data.size(); ++cut) {
    CAPTURE(cut);
    Bytes prefix = Bytes(data).first(cut);
    ComprehensionTlvReader r(prefix);
    ComprehensionTlv t;
    std::size_t seen = 0;
    while (r.next(t)) {
      CHECK(t.raw.data() + t.raw.size() <= prefix.data() + prefix.size());
      ++seen;
    }
    bool on_boundary = cut == 0;
    for (std::size_t e : ends) on_boundary = on_boundary || e == cut;
    CHECK(r.ok() == on_boundary);
  }
}

TEST_CASE("tlv writer emits the shortest length form for known values") {
  struct Row {
    std::size_t n;
    const char* header;
    const char* source;
  };
  const Row rows[] = {
      {0, "B600", "TS 101 220 7.1.2"},
      {8, "B608", "oFono send_data_111: B6 08"},
      {127, "B67F", "TS 101 220 7.1.2"},
      {128, "B68180", "TS 101 220 7.1.2"},
      {200, "B681C8", "oFono send_data_121 / receive_data_response_111: B6 81 C8"},
      {255, "B681FF", "TS 101 220 7.1.2"},
      {256, "B6820100", "TS 101 220 7.1.2"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.source);
    const auto value = filled(row.n);
    std::vector<u8> out(row.n + 8);
    TlvWriter w(out);
    w.comprehension(0x36, true, value);
    REQUIRE(w.ok());
    const auto header = hex(row.header);
    REQUIRE(w.size() == header.size() + row.n);
    CHECK(std::vector<u8>(out.begin(), out.begin() + static_cast<long>(header.size())) == header);
    ComprehensionTlvReader r(w.written());
    ComprehensionTlv t;
    REQUIRE(r.next(t));
    CHECK(to_vector(t.value) == value);
  }
}

TEST_CASE("tlv writer patches an open tlv with the shortest length and moves the value down") {
  struct Row {
    std::size_t bound;
    std::size_t n;
    const char* header;
  };
  const Row rows[] = {
      {252, 11, "D00B"},      // reserved 81 LL, needed one byte: value moves down by one
      {252, 200, "D081C8"},   // reserved and used two bytes
      {1000, 5, "D005"},      // reserved 82 HH LL, needed one
      {1000, 130, "D08182"},  // reserved three, needed two
      {1000, 300, "D082012C"},
      {10, 10, "D00A"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.bound);
    CAPTURE(row.n);
    const auto value = filled(row.n, 1);
    std::vector<u8> out(row.n + 16, 0xEE);
    TlvWriter w(out);
    const auto m = w.begin_ber(0xD0, row.bound);
    w.bytes(value);
    w.end(m);
    REQUIRE(w.ok());
    const auto header = hex(row.header);
    REQUIRE(w.size() == header.size() + row.n);
    auto single = parse_single_ber_tlv(w.written());
    REQUIRE(single.ok());
    CHECK(to_vector(single->value) == value);
    CHECK(std::vector<u8>(out.begin(), out.begin() + static_cast<long>(header.size())) == header);
  }
}

TEST_CASE("tlv writer nests open tlvs and closes them inner first") {
  std::vector<u8> out(64);
  TlvWriter w(out);
  const auto outer = w.begin_ber(0xD0, 252);
  w.comprehension(0x01, true, hex("014300"));
  const auto inner = w.begin_comprehension(0x36, true, 240);
  w.bytes(hex("0001020304050607"));
  w.end(inner);
  w.end(outer);
  REQUIRE(w.ok());
  CHECK(to_vector(w.written()) == hex("D00F" "8103014300" "B6080001020304050607"));
}

TEST_CASE("tlv writer fails when the value exceeds the bound or the buffer") {
  {
    std::vector<u8> out(64);
    TlvWriter w(out);
    const auto m = w.begin_ber(0xD0, 4);
    w.bytes(filled(5));
    w.end(m);
    CHECK_FALSE(w.ok());
    CHECK(w.error() == TlvError::kTooLong);
  }
  {
    std::vector<u8> out(4);
    TlvWriter w(out);
    w.comprehension(0x36, true, filled(8));
    CHECK_FALSE(w.ok());
    CHECK(w.error() == TlvError::kNoSpace);
    w.u8_(1);  // sticky
    CHECK(w.size() <= out.size());
  }
  {
    std::vector<u8> out(8);
    TlvWriter w(out);
    w.begin_ber(0xD0, 70000);
    CHECK(w.error() == TlvError::kTooLong);
  }
}

TEST_CASE("tlv writer uses the three-byte comprehension tag form only above 7E") {
  std::vector<u8> out(16);
  TlvWriter w(out);
  w.comprehension(0x7E, true, Bytes{});
  w.comprehension(0x7F, false, Bytes{});
  w.comprehension(0x1234, true, Bytes{});
  REQUIRE(w.ok());
  CHECK(to_vector(w.written()) == hex("FE00" "7F007F00" "7F923400"));
  TlvWriter bad(out);
  bad.comprehension(0, false, Bytes{});
  CHECK(bad.error() == TlvError::kBadTag);
  TlvWriter bad_ber(out);
  bad_ber.ber(0x1F, Bytes{});  // would announce a second tag byte
  CHECK(bad_ber.error() == TlvError::kBadTag);
}

TEST_CASE("tlv writer re-encodes every canonical tlv it reads, byte for byte") {
  const char* vectors[] = {
      "D00C810301420082028121B701C8",          // oFono receive_data_111
      "5F20024142",                            // two-byte BER tag
      "7F8123020102",                          // three-byte comprehension tag with CR
  };
  for (const char* v : vectors) {
    CAPTURE(v);
    const auto data = hex(v);
    std::vector<u8> out(data.size());
    if (data[0] == 0x7F) {
      auto t = find_comprehension_tlv(data, 0x0123);
      REQUIRE(t.ok());
      TlvWriter w(out);
      w.comprehension(t->tag, t->cr, t->value);
      CHECK(to_vector(w.written()) == data);
    } else {
      auto t = parse_single_ber_tlv(data);
      REQUIRE(t.ok());
      TlvWriter w(out);
      w.ber(t->tag, t->value);
      CHECK(to_vector(w.written()) == data);
    }
  }
}

TEST_CASE("tlv errors have names") {
  for (auto e : {TlvError::kTruncated, TlvError::kBadTag, TlvError::kBadLength, TlvError::kValuePastEnd,
                 TlvError::kTrailingBytes, TlvError::kNotFound, TlvError::kNoSpace, TlvError::kTooLong})
    CHECK(std::string(describe(e)) != "?");
}
