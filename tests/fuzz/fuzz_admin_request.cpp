// Fuzzes the administration server's parser of card requests (sim/admin/admin_protocol.hpp): the
// input is the bytes a card sends on its connection. The HTTP request is parsed whole and from
// every prefix at an offset derived from the data (a prefix is incomplete or the same error; it is
// never a different request); a complete request's body then goes through the report parser, the
// response-template parser and the script parser, and the templates are rebuilt and re-parsed
// (the builders and parsers must agree). ProtocolError is the only way out besides success.
#include <cstdint>
#include <string>
#include <string_view>

#include "sim/admin/admin_protocol.hpp"

using namespace scws::sim::admin;

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

// 0 incomplete, 1 complete, 2 refused (status kept).
struct Outcome {
  int kind = 0;
  int status = 0;
  std::size_t consumed = 0;
  std::string body;
};

Outcome parse(std::string_view bytes) {
  Outcome o;
  try {
    auto r = parse_request(bytes);
    if (r) {
      o.kind = 1;
      o.consumed = r->consumed;
      o.body = std::move(r->request.body);
    }
  } catch (const ProtocolError& e) {
    o.kind = 2;
    o.status = e.status();
  }
  return o;
}

void bodies(const std::string& body) {
  try {
    const Report r = parse_report(body);
    check(r.trigger >= 1 && r.trigger <= 5);
    check(build_report(r.trigger, r.summary_bytes, r.settings, r.port_states, [&] {
            std::vector<Blob> records;
            for (const auto& i : r.incidents) records.push_back(i.record);
            return records;
          }()) == body);
  } catch (const ProtocolError&) {
  }
  try {
    const ResponseScript rs = parse_response_script(body);
    check(rs.responses.size() <= rs.executed);
    check(parse_response_script(build_response_script(rs.executed, rs.responses)).responses.size() == rs.responses.size());
  } catch (const ProtocolError&) {
  }
  try {
    const auto apdus = parse_script(body);
    check(parse_script(build_script(apdus)) == apdus);
  } catch (const ProtocolError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  const Outcome whole = parse(bytes);
  if (size > 0) {
    const std::size_t cut = data[0] % size;
    const Outcome part = parse(std::string_view(bytes).substr(0, cut));
    // A prefix is incomplete, or refused, or a complete request that ends within it (the same one).
    if (part.kind == 1) check(whole.kind == 1 && whole.consumed == part.consumed && whole.body == part.body);
    if (whole.kind == 0) check(part.kind == 0);
  }
  if (whole.kind == 1) bodies(whole.body);
  bodies(bytes);  // the parsers on raw bytes too: they take any body
  return 0;
}
