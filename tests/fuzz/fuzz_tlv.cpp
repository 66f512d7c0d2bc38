// Fuzz target: BER-TLV and COMPREHENSION-TLV walkers and the writer (TS 101 220 7.1). Every TLV a
// reader returns lies inside the input and re-encodes to its own bytes when its encoding is canonical
// (shortest length, one-byte comprehension tag for values up to 7E); the writer's begin/end patch
// produces what the one-shot writer produces.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "apdu/tlv.hpp"

using namespace scws;
using namespace scws::apdu;

namespace {

void check_inside(Bytes part, const std::uint8_t* data, std::size_t size) {
  if (part.empty()) return;
  if (part.data() < data || part.data() + part.size() > data + size) __builtin_trap();
}

std::size_t ber_tag_size(u16 tag) { return tag > 0xFF ? 2 : 1; }
std::size_t ctag_size(const ComprehensionTlv& t) { return t.three_byte_tag ? 3 : 1; }

void same_or_trap(const TlvWriter& w, Bytes raw) {
  if (!w.ok() || w.size() != raw.size() || std::memcmp(w.written().data(), raw.data(), raw.size()) != 0)
    __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const Bytes in(data, size);
  static u8 out[70000];

  (void)decode_length(in);

  BerTlvReader ber(in);
  BerTlv b;
  std::size_t consumed = 0;
  while (ber.next(b)) {
    check_inside(b.raw, data, size);
    check_inside(b.value, data, size);
    consumed += b.raw.size();
    if (b.raw.size() == ber_tag_size(b.tag) + length_field_size(b.value.size()) + b.value.size()) {
      TlvWriter w(out);
      w.ber(b.tag, b.value);
      same_or_trap(w, b.raw);
      TlvWriter p(out);  // open-ended form with a generous bound gives the same bytes
      const auto m = p.begin_ber(b.tag, kMaxTlvLength);
      p.bytes(b.value);
      p.end(m);
      same_or_trap(p, b.raw);
    }
  }
  if (ber.ok() && consumed != size) __builtin_trap();

  ComprehensionTlvReader ct(in);
  ComprehensionTlv c;
  consumed = 0;
  std::size_t objects = 0;
  while (ct.next(c)) {
    check_inside(c.raw, data, size);
    check_inside(c.value, data, size);
    consumed += c.raw.size();
    if (++objects <= 16) {  // find walks from the start: bound the quadratic cost
      auto found = find_comprehension_tlv(in, c.tag);
      if (!found.ok()) __builtin_trap();  // an earlier or this very object must be found
    }
    const bool canonical_tag = c.three_byte_tag == (c.tag > 0x7E);
    if (canonical_tag && c.raw.size() == ctag_size(c) + length_field_size(c.value.size()) + c.value.size()) {
      TlvWriter w(out);
      w.comprehension(c.tag, c.cr, c.value);
      same_or_trap(w, c.raw);
      TlvWriter p(out);
      const auto m = p.begin_comprehension(c.tag, c.cr, c.value.size());
      p.bytes(c.value);
      p.end(m);
      same_or_trap(p, c.raw);
    }
  }
  if (ct.ok() && consumed != size) __builtin_trap();

  (void)parse_single_ber_tlv(in);
  return 0;
}
