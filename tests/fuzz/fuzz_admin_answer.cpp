// Fuzzes the card's parser of the administration server's answers (docs/protocol.md 16.4): the HTTP
// response parser (http/response_parser.hpp), the agent's verdict on the head
// (AdminAgent::classify_head), the script template parser (card/admin/script_template.hpp) on the
// decoded body, each C-APDU through the APDU parser, and the response template built from it (with
// response data of data-derived lengths, so the 1024-byte budget and 62 F1 are reached). The input is
// one answer; it is parsed whole and split at a data-derived offset, into a small body buffer, and
// both runs must agree on every C-APDU and the outcome (on the verdicts only for a broken HTTP body).
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "apdu/command_apdu.hpp"
#include "card/admin/admin_agent.hpp"
#include "card/admin/script_template.hpp"
#include "http/response_parser.hpp"

using namespace scws;
using namespace scws::card;

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

struct Outcome {
  std::vector<std::vector<u8>> apdus;
  std::vector<u8> responses;
  int verdict = -1;  // AdminAgent::Failure of the head, -1 before the head
  bool http_failed = false, script_failed = false, done = false;
  bool operator==(const Outcome&) const = default;
};

Outcome run(const u8* data, std::size_t n, std::size_t cut, std::size_t body_room) {
  http::ResponseParser parser;
  ScriptParser script;
  std::vector<u8> buffer(ResponseBuilder::kBufferSize);
  ResponseBuilder builder(MutableBytes(buffer.data(), buffer.size()));
  Outcome o;
  std::vector<u8> body(body_room);
  const std::size_t bounds[3] = {0, cut, n};
  for (int piece = 0; piece < 2 && !o.http_failed && !o.done; ++piece) {
    const std::size_t len = bounds[piece + 1] - bounds[piece];
    std::unique_ptr<u8[]> in(new u8[len == 0 ? 1 : len]);  // exact size, for AddressSanitizer
    if (len != 0) std::memcpy(in.get(), data + bounds[piece], len);
    std::size_t at = 0;
    while (at < len && !o.done) {
      auto r = parser.feed(Bytes(in.get() + at, len - at), MutableBytes(body.data(), body.size()));
      if (!r.ok()) {
        o.http_failed = true;
        break;
      }
      check(r->consumed <= len - at && r->produced <= body.size());
      at += r->consumed;
      if (r->head_done && o.verdict < 0) o.verdict = static_cast<int>(AdminAgent::classify_head(parser));
      Bytes b(body.data(), r->produced);
      while (!b.empty() && !o.script_failed) {
        auto s = script.feed(b);
        if (!s.ok()) {
          o.script_failed = true;
          break;
        }
        check(s->consumed <= b.size() && s->apdu.size() <= ScriptParser::kMaxApdu);
        b = b.subspan(s->consumed);
        if (!s->apdu.empty()) {
          check(s->apdu.size() >= 4);
          o.apdus.emplace_back(s->apdu.begin(), s->apdu.end());
          auto c = apdu::parse_command_apdu(s->apdu);
          // Response data as long as the command's Le (or its data), to reach the budget.
          const std::size_t length = c.ok() ? (c->ne != 0 ? c->ne : c->data.size()) : 0;
          std::vector<u8> answer(length < 256 ? length : 256, 0xA5);
          (void)builder.add(Bytes(answer.data(), answer.size()), c.ok() ? 0x9000 : 0x6700);
        }
        if (s->consumed == 0) break;
      }
      o.done = r->done;
      if (r->consumed == 0 && r->produced == 0 && !r->head_done) break;
    }
  }
  if (o.done && !o.script_failed && parser.status() == 200) o.script_failed = !script.finish().ok();
  const Bytes t = builder.finish();
  check(t.size() <= ResponseBuilder::kBufferSize && t.size() >= 5 && t[0] == ResponseBuilder::kTemplateTag);
  check(builder.count() <= ScriptParser::kMaxApdus);
  o.responses.assign(t.begin(), t.end());
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 40000) return 0;
  const Outcome whole = run(data, size, size, 4096);
  const std::size_t cut = size == 0 ? 0 : data[0] % (size + 1);
  const Outcome split = run(data, size, cut, 1 + (size != 0 ? data[size - 1] % 64 : 0));
  // A chunked-coding error drops the body bytes decoded in the same call (http/chunked.hpp), so how
  // much of a broken body reached the script depends on the split: then only the verdicts agree.
  if (whole.http_failed || split.http_failed) {
    check(whole.http_failed == split.http_failed && whole.verdict == split.verdict);
  } else {
    check(whole == split);
  }
  return 0;
}
