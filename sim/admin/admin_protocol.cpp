#include "sim/admin/admin_protocol.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

#include "apdu/status_word.hpp"
#include "card/defence/admin_applet.hpp"
#include "card/defence/incident_queue.hpp"

namespace scws::sim::admin {

using card::AdminApplet;

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool is_token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

[[noreturn]] void bad(const std::string& what) { throw ProtocolError(400, what); }

std::uint16_t be16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] << 8 | p[1]); }
std::uint32_t be32(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) << 24 | static_cast<std::uint32_t>(p[1]) << 16 |
         static_cast<std::uint32_t>(p[2]) << 8 | p[3];
}
void put16(Blob& b, unsigned v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v));
}
void put32(Blob& b, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(v >> s));
}

// Chunked body (RFC 9112 7.1) from `at`: nullopt while incomplete; the body and the end offset.
std::optional<std::pair<std::string, std::size_t>> dechunk(std::string_view buf, std::size_t at) {
  std::string body;
  for (;;) {
    const std::size_t eol = buf.find("\r\n", at);
    if (eol == std::string_view::npos) {
      if (buf.size() - at > 1024) bad("chunk size line too long");
      return std::nullopt;
    }
    std::string_view line = buf.substr(at, eol - at);
    if (const std::size_t semi = line.find(';'); semi != std::string_view::npos) line = line.substr(0, semi);
    line = trim(line);
    if (line.empty() || line.size() > 8) bad("bad chunk size");
    std::size_t size = 0;
    const auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), size, 16);
    if (ec != std::errc{} || p != line.data() + line.size()) bad("bad chunk size");
    at = eol + 2;
    if (size == 0) {
      // Trailer section: fields until an empty line.
      for (;;) {
        const std::size_t end = buf.find("\r\n", at);
        if (end == std::string_view::npos) {
          if (buf.size() - at > kMaxHead) throw ProtocolError(431, "trailer section too long");
          return std::nullopt;
        }
        const bool empty = end == at;
        at = end + 2;
        if (empty) return std::make_pair(std::move(body), at);
      }
    }
    if (body.size() + size > kMaxBody) throw ProtocolError(413, "body over " + std::to_string(kMaxBody) + " bytes");
    if (buf.size() < at + size + 2) return std::nullopt;
    if (buf.substr(at + size, 2) != "\r\n") bad("chunk not followed by CRLF");
    body.append(buf.substr(at, size));
    at += size + 2;
  }
}

// BER-TLV length (TS 102 226 5.2, ISO/IEC 8825-1): 1-3 length bytes here.
void put_length(std::string& out, std::size_t n) {
  if (n < 0x80) {
    out.push_back(static_cast<char>(n));
  } else if (n < 0x100) {
    out.push_back('\x81');
    out.push_back(static_cast<char>(n));
  } else {
    out.push_back('\x82');
    out.push_back(static_cast<char>(n >> 8));
    out.push_back(static_cast<char>(n & 0xFF));
  }
}

struct TlvReader {
  std::string_view data;
  std::size_t at = 0;

  [[nodiscard]] bool done() const { return at >= data.size(); }
  std::uint8_t byte(const char* what) {
    if (at >= data.size()) bad(std::string("template ends inside ") + what);
    return static_cast<std::uint8_t>(data[at++]);
  }
  // nullopt: the indefinite form (80).
  std::optional<std::size_t> length(const char* what) {
    const std::uint8_t first = byte(what);
    if (first < 0x80) return first;
    if (first == 0x80) return std::nullopt;
    if (first > 0x83) bad(std::string("bad length in ") + what);
    std::size_t n = 0;
    for (int i = 0; i < (first & 0x7F); ++i) n = n << 8 | byte(what);
    return n;
  }
  std::string_view take(std::size_t n, const char* what) {
    if (data.size() - at < n) bad(std::string("length of ") + what + " runs past the body");
    std::string_view v = data.substr(at, n);
    at += n;
    return v;
  }
};

Blob blob_of(std::string_view s) { return Blob(s.begin(), s.end()); }

unsigned parse_unsigned(const std::string& s, unsigned long max, const std::string& what) {
  unsigned long v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || p != s.data() + s.size() || v > max)
    throw std::invalid_argument(what + " must be a number up to " + std::to_string(max) + ", not \"" + s + "\"");
  return static_cast<unsigned>(v);
}

std::string guess_type(const std::string& path) {
  static const std::pair<const char*, const char*> kTypes[] = {
      {".html", "text/html"}, {".htm", "text/html"},        {".css", "text/css"},   {".js", "text/javascript"},
      {".json", "application/json"}, {".txt", "text/plain"}, {".png", "image/png"}, {".svg", "image/svg+xml"},
      {".ico", "image/x-icon"}, {".jpg", "image/jpeg"},
  };
  for (const auto& [ext, type] : kTypes) {
    const std::size_t n = std::strlen(ext);
    if (path.size() >= n && path.compare(path.size() - n, n, ext) == 0) return type;
  }
  return "application/octet-stream";
}

void check_short(const Blob& data, const std::string& what) {
  if (data.size() > 255) throw std::invalid_argument(what + " is " + std::to_string(data.size()) + " bytes: over the 255 of one APDU");
}

void put_lv(Blob& b, const std::string& s, const std::string& what, std::size_t max = 255) {
  if (s.size() > max) throw std::invalid_argument(what + " is longer than " + std::to_string(max) + " bytes");
  b.push_back(static_cast<std::uint8_t>(s.size()));
  b.insert(b.end(), s.begin(), s.end());
}

}  // namespace

std::optional<std::string> HttpRequest::header(std::string_view lower_name) const {
  for (const auto& [n, v] : headers)
    if (n == lower_name) return v;
  return std::nullopt;
}

std::optional<ParsedRequest> parse_request(std::string_view buf) {
  const std::size_t head_end = buf.find("\r\n\r\n");
  if (head_end == std::string_view::npos) {
    if (buf.size() > kMaxHead) throw ProtocolError(431, "request head over " + std::to_string(kMaxHead) + " bytes");
    return std::nullopt;
  }
  if (head_end + 4 > kMaxHead) throw ProtocolError(431, "request head over " + std::to_string(kMaxHead) + " bytes");
  ParsedRequest out;
  HttpRequest& r = out.request;
  std::string_view head = buf.substr(0, head_end);
  const std::size_t line_end = head.find("\r\n");
  std::string_view line = head.substr(0, line_end);
  const std::size_t sp1 = line.find(' ');
  const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
    bad("malformed request line");
  r.method = std::string(line.substr(0, sp1));
  r.target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
  const std::string_view version = line.substr(sp2 + 1);
  if (r.method.empty() || !std::all_of(r.method.begin(), r.method.end(), is_token_char)) bad("malformed method");
  if (r.target.empty() || r.target.front() != '/') bad("request target is not an absolute path");
  for (char c : r.target)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7F) bad("control character in the request target");
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/") bad("malformed HTTP version");
  if (version != "HTTP/1.1") throw ProtocolError(505, "only HTTP/1.1");

  std::size_t at = line_end == std::string_view::npos ? head.size() : line_end + 2;
  while (at < head.size()) {
    std::size_t end = head.find("\r\n", at);
    if (end == std::string_view::npos) end = head.size();
    std::string_view field = head.substr(at, end - at);
    at = end + 2;
    const std::size_t colon = field.find(':');
    if (colon == 0 || colon == std::string_view::npos) bad("malformed header field");
    std::string_view name = field.substr(0, colon);
    if (!std::all_of(name.begin(), name.end(), is_token_char)) bad("malformed header name");
    std::string_view value = trim(field.substr(colon + 1));
    for (char c : value)
      if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7F) bad("control character in a header value");
    r.headers.emplace_back(lower(name), std::string(value));
  }

  if (auto c = r.header("connection"); c && lower(*c).find("close") != std::string::npos) r.keep_alive = false;
  const std::size_t body_at = head_end + 4;
  const auto te = r.header("transfer-encoding");
  const auto cl = r.header("content-length");
  int lengths = 0;
  for (const auto& h : r.headers) lengths += h.first == "content-length" ? 1 : 0;
  if (te) {
    if (cl) bad("both Transfer-Encoding and Content-Length");
    if (lower(*te) != "chunked") bad("unsupported Transfer-Encoding");
    auto chunked = dechunk(buf, body_at);
    if (!chunked) return std::nullopt;
    r.body = std::move(chunked->first);
    out.consumed = chunked->second;
    return out;
  }
  std::size_t length = 0;
  if (cl) {
    if (lengths > 1) bad("more than one Content-Length");
    if (cl->empty() || cl->size() > 9 || !std::all_of(cl->begin(), cl->end(), [](char c) { return c >= '0' && c <= '9'; }))
      bad("malformed Content-Length");
    length = std::stoul(*cl);
    if (length > kMaxBody) throw ProtocolError(413, "body over " + std::to_string(kMaxBody) + " bytes");
  }
  if (buf.size() - body_at < length) return std::nullopt;
  r.body = std::string(buf.substr(body_at, length));
  out.consumed = body_at + length;
  return out;
}

std::optional<std::string> iccid_of_identity(std::string_view identity) {
  if (identity.substr(0, kIdentityPrefix.size()) != kIdentityPrefix) return std::nullopt;
  std::string digits(identity.substr(kIdentityPrefix.size()));
  if (!valid_iccid(digits)) return std::nullopt;
  return digits;
}

bool valid_iccid(std::string_view d) {
  return (d.size() == 19 || d.size() == 20) && std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string iccid_from_bcd(const std::uint8_t* bytes, std::size_t size) {
  std::string out;
  for (std::size_t i = 0; i < size; ++i) {
    for (unsigned nibble : {bytes[i] & 0x0Fu, unsigned{bytes[i]} >> 4}) {
      if (nibble == 0xF) return out;
      if (nibble > 9) return "";
      out.push_back(static_cast<char>('0' + nibble));
    }
  }
  return out;
}

std::uint32_t Report::highest_sequence() const noexcept {
  std::uint32_t h = 0;
  for (const auto& i : incidents) h = std::max(h, i.incident.sequence);
  return h;
}

Report parse_report(std::string_view body) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(body.data());
  constexpr std::size_t kFixed = 4 + kSummarySize + card::DetectionSettings::kEncodedSize + 1;
  if (body.size() < kFixed) bad("report shorter than " + std::to_string(kFixed) + " bytes");
  if (p[0] != 1) bad("report format " + std::to_string(p[0]) + " (expected 1)");
  Report r;
  r.trigger = p[1];
  if (r.trigger < 1 || r.trigger > 5) bad("report trigger " + std::to_string(r.trigger) + " unknown");
  const std::size_t n = be16(p + 2);
  std::size_t at = 4;
  r.summary_bytes.assign(p + at, p + at + kSummarySize);
  const std::uint8_t* s = p + at;
  r.summary = QueueSummary{s[0], s[1], s[2], be32(s + 4), be32(s + 8), be32(s + 12), be32(s + 16)};
  at += kSummarySize;
  r.settings.assign(p + at, p + at + card::DetectionSettings::kEncodedSize);
  at += card::DetectionSettings::kEncodedSize;
  const std::size_t ports = p[at++];
  if (body.size() != at + ports + kRecordSize * n)
    bad("report of " + std::to_string(body.size()) + " bytes does not hold " + std::to_string(ports) +
        " bytes of port states and " + std::to_string(n) + " records");
  r.port_states.assign(p + at, p + at + ports);
  at += ports;
  for (std::size_t i = 0; i < n; ++i, at += kRecordSize) {
    const Bytes record(p + at, kRecordSize);
    auto parsed = card::IncidentQueue::parse(record);
    if (!parsed.ok()) bad("record " + std::to_string(i) + ": bad CRC, format or rule");
    if (parsed.value().sequence == 0) bad("record " + std::to_string(i) + ": sequence 0");
    r.incidents.push_back(ReportedIncident{parsed.value(), Blob(record.begin(), record.end())});
  }
  return r;
}

std::string build_report(unsigned trigger, const Blob& summary, const Blob& settings, const Blob& port_states,
                         const std::vector<Blob>& records) {
  Blob b{1, static_cast<std::uint8_t>(trigger)};
  put16(b, static_cast<unsigned>(records.size()));
  b.insert(b.end(), summary.begin(), summary.end());
  b.insert(b.end(), settings.begin(), settings.end());
  b.push_back(static_cast<std::uint8_t>(port_states.size()));
  b.insert(b.end(), port_states.begin(), port_states.end());
  for (const Blob& r : records) b.insert(b.end(), r.begin(), r.end());
  return std::string(b.begin(), b.end());
}

const char* trigger_name(unsigned trigger) noexcept {
  switch (trigger) {
    case 1: return "incident";
    case 2: return "period";
    case 3: return "start-session";
    case 4: return "retry";
    case 5: return "power-up";
    default: return "?";
  }
}

std::string build_script(const std::vector<Blob>& capdus) {
  std::string inner;
  for (const Blob& c : capdus) {
    inner.push_back('\x22');
    put_length(inner, c.size());
    inner.append(c.begin(), c.end());
  }
  std::string out("\xAA", 1);
  put_length(out, inner.size());
  return out + inner;
}

std::vector<Blob> parse_script(std::string_view body) {
  TlvReader t{body};
  const std::uint8_t tag = t.byte("the script");
  if (tag != 0xAA && tag != 0xAE) bad("script tag not AA or AE");
  const auto len = t.length("the script");
  std::string_view inner;
  if (len) {
    inner = t.take(*len, "the script");
    if (!t.done()) bad("bytes after the script");
  } else {
    if (tag != 0xAE || body.size() < 4 || body.substr(body.size() - 2) != std::string_view("\0\0", 2)) bad("indefinite script without end");
    inner = body.substr(t.at, body.size() - 2 - t.at);
  }
  std::vector<Blob> out;
  TlvReader in{inner};
  while (!in.done()) {
    if (in.byte("a C-APDU") != 0x22) bad("C-APDU tag not 22");
    const auto n = in.length("a C-APDU");
    if (!n || *n < 4 || *n > 261) bad("C-APDU length out of 4..261");
    out.push_back(blob_of(in.take(*n, "a C-APDU")));
  }
  return out;
}

ResponseScript parse_response_script(std::string_view body) {
  TlvReader t{body};
  const std::uint8_t tag = t.byte("the response template");
  if (tag != 0xAB && tag != 0xAF) bad("response template tag not AB or AF");
  const auto len = t.length("the response template");
  std::string_view inner;
  if (len) {
    if (tag != 0xAB) bad("AF response template with a definite length");
    inner = t.take(*len, "the response template");
    if (!t.done()) bad("bytes after the response template");
  } else {
    if (tag != 0xAF || body.size() < 4 || body.substr(body.size() - 2) != std::string_view("\0\0", 2))
      bad("indefinite response template without end-of-contents");
    inner = body.substr(t.at, body.size() - 2 - t.at);
  }
  TlvReader in{inner};
  ResponseScript r;
  if (in.byte("the executed count") != 0x80) bad("response template without the executed count (80)");
  const auto n = in.length("the executed count");
  if (!n || *n != 1) bad("executed count not one byte");
  r.executed = in.byte("the executed count");
  while (!in.done()) {
    if (in.byte("an R-APDU") != 0x23) bad("R-APDU tag not 23");
    const auto m = in.length("an R-APDU");
    if (!m || *m < 2 || *m > 258) bad("R-APDU length out of 2..258");
    std::string_view v = in.take(*m, "an R-APDU");
    RApdu a;
    a.data = blob_of(v.substr(0, v.size() - 2));
    a.sw = be16(reinterpret_cast<const std::uint8_t*>(v.data()) + v.size() - 2);
    r.responses.push_back(std::move(a));
  }
  if (r.responses.size() > r.executed) bad("more R-APDUs than C-APDUs executed");
  return r;
}

std::string build_response_script(unsigned executed, const std::vector<RApdu>& responses) {
  std::string inner{'\x80', '\x01', static_cast<char>(executed)};
  for (const RApdu& r : responses) {
    inner.push_back('\x23');
    put_length(inner, r.data.size() + 2);
    inner.append(r.data.begin(), r.data.end());
    inner.push_back(static_cast<char>(r.sw >> 8));
    inner.push_back(static_cast<char>(r.sw & 0xFF));
  }
  std::string out("\xAB", 1);
  put_length(out, inner.size());
  return out + inner;
}

bool sw_success(std::uint16_t sw) noexcept {
  using apdu::StatusWord;
  return sw == apdu::to_u16(StatusWord::kOk) || apdu::in_family(sw, StatusWord::kBytesAvailable) ||
         apdu::in_family(sw, StatusWord::kWarningEndOfFile) || apdu::in_family(sw, StatusWord::kVerificationFailed);
}

Blob apdu(std::uint8_t ins, std::uint8_t p1, std::uint8_t p2, const Blob& data) {
  Blob b{0x80, ins, p1, p2};
  if (!data.empty()) {
    check_short(data, "the command's data");
    b.push_back(static_cast<std::uint8_t>(data.size()));
    b.insert(b.end(), data.begin(), data.end());
  }
  return b;
}

Blob acknowledge_apdu(std::uint32_t sequence) {
  Blob d;
  put32(d, sequence);
  return apdu(AdminApplet::kInsAcknowledge, 0, 0, d);
}

Blob write_settings_apdu(const Blob& settings) { return apdu(AdminApplet::kInsWriteSettings, 0, 0, settings); }

std::optional<card::DetectionRule> rule_by_name(std::string_view name) {
  for (unsigned r = 1; r <= card::kDetectionRules; ++r) {
    const auto rule = static_cast<card::DetectionRule>(r);
    if (name == card::detection_rule_name(rule) || name == std::to_string(r)) return rule;
  }
  return std::nullopt;
}

bool is_settings_command(std::string_view kind) noexcept { return kind == "set-rule" || kind == "set-policy"; }

CommandSpec parse_command(const std::string& kind, const std::vector<std::string>& args,
                          const std::optional<std::string>& resource) {
  CommandSpec c;
  c.kind = kind;
  auto need = [&](std::size_t lo, std::size_t hi, const char* usage) {
    if (args.size() < lo || args.size() > hi) throw std::invalid_argument(kind + " takes " + usage);
  };
  auto join = [&] {
    std::string t = kind;
    for (const auto& a : args) t += " " + a;
    return t;
  };
  if (kind == "reopen-port" || kind == "close-port") {
    need(1, 1, "PORT");
    const unsigned port = parse_unsigned(args[0], 65535, "PORT");
    c.apdus.push_back(apdu(AdminApplet::kInsSetPort, kind == "reopen-port" ? AdminApplet::kSetPortOpen : AdminApplet::kSetPortClose, 0, Blob{static_cast<std::uint8_t>(port >> 8), static_cast<std::uint8_t>(port)}));
    c.text = kind + " " + std::to_string(port);
  } else if (kind == "set-rule") {
    need(3, 3, "RULE THRESHOLD WINDOW");
    const auto rule = rule_by_name(args[0]);
    if (!rule) throw std::invalid_argument("unknown rule \"" + args[0] + "\" (a name such as tls-handshake-failures, or 1-7)");
    const unsigned threshold = parse_unsigned(args[1], card::DetectionSettings::kMaxThreshold, "THRESHOLD");
    const unsigned window = parse_unsigned(args[2], 65535, "WINDOW");
    if (window == 0) throw std::invalid_argument("WINDOW must be 1-65535 seconds");
    c.text = "set-rule " + std::string(card::detection_rule_name(*rule)) + " " + std::to_string(threshold) + " " + std::to_string(window);
  } else if (kind == "set-policy") {
    std::string text = "set-policy";
    if (args.empty()) throw std::invalid_argument("set-policy takes --reopen cooldown|admin, --cooldown S or --other-ports keep|close");
    for (std::size_t i = 0; i < args.size(); i += 2) {
      if (i + 1 >= args.size()) throw std::invalid_argument(args[i] + " needs a value");
      const std::string& o = args[i];
      const std::string& v = args[i + 1];
      if (o == "--reopen") {
        if (v != "cooldown" && v != "admin") throw std::invalid_argument("--reopen takes cooldown or admin");
      } else if (o == "--cooldown") {
        if (parse_unsigned(v, 65535, "--cooldown") == 0) throw std::invalid_argument("--cooldown must be 1-65535 seconds");
      } else if (o == "--other-ports") {
        if (v != "keep" && v != "close") throw std::invalid_argument("--other-ports takes keep or close");
      } else {
        throw std::invalid_argument("set-policy: unknown option " + o);
      }
      text += " " + o + " " + v;
    }
    c.text = text;
  } else if (kind == "put-resource") {
    std::vector<std::string> pos;
    std::string type;
    for (std::size_t i = 0; i < args.size(); ++i) {
      if (args[i] == "--type") {
        if (i + 1 >= args.size()) throw std::invalid_argument("--type needs a value");
        type = args[++i];
      } else {
        pos.push_back(args[i]);
      }
    }
    if (pos.size() != 2) throw std::invalid_argument("put-resource takes PATH FILE [--type T]");
    const std::string& path = pos[0];
    if (path.empty() || path.front() != '/' || path.size() > 120) throw std::invalid_argument("PATH must start with / and hold at most 120 bytes");
    std::string bytes;
    if (resource) {
      bytes = *resource;
    } else {
      std::ifstream in(pos[1], std::ios::binary);
      if (!in) throw std::invalid_argument("cannot read " + pos[1]);
      std::ostringstream ss;
      ss << in.rdbuf();
      bytes = ss.str();
    }
    if (type.empty()) type = guess_type(path);
    Blob begin;
    put32(begin, static_cast<std::uint32_t>(bytes.size()));
    put_lv(begin, path, "PATH", 120);  // docs/protocol.md 16.6: the card takes 1-120 and 1-56 bytes
    put_lv(begin, type, "the type", 56);
    c.apdus.push_back(apdu(AdminApplet::kInsPutResource, AdminApplet::kPutResourceBegin, 0, begin));
    for (std::size_t at = 0; at < bytes.size(); at += kResourceChunk) {
      const std::string_view part = std::string_view(bytes).substr(at, kResourceChunk);
      c.apdus.push_back(apdu(AdminApplet::kInsPutResource, AdminApplet::kPutResourceData, 0, blob_of(part)));
    }
    c.apdus.push_back(apdu(AdminApplet::kInsPutResource, AdminApplet::kPutResourcePublish, 0));
    c.text = "put-resource " + path + " (" + std::to_string(bytes.size()) + " bytes, " + type + ")";
  } else if (kind == "delete-resource") {
    need(1, 1, "PATH");
    if (args[0].empty() || args[0].front() != '/') throw std::invalid_argument("PATH must start with /");
    c.apdus.push_back(apdu(AdminApplet::kInsDeleteResource, 0, 0, blob_of(args[0])));
    c.text = join();
  } else if (kind == "put-user") {
    if (args.size() < 2) throw std::invalid_argument("put-user takes NAME PASSWORD [SET...]");
    // docs/protocol.md 16.6: a name of 1-32 bytes without ':' (RFC 7617 2), a password of 0-32, at most 8 sets.
    if (args[0].empty() || args[0].find(':') != std::string::npos) throw std::invalid_argument("NAME must be 1-32 bytes without ':'");
    if (args.size() - 2 > 8) throw std::invalid_argument("at most 8 protection sets");
    Blob d;
    put_lv(d, args[0], "NAME", 32);
    put_lv(d, args[1], "PASSWORD", 32);
    d.push_back(static_cast<std::uint8_t>(args.size() - 2));
    for (std::size_t i = 2; i < args.size(); ++i) put_lv(d, args[i], "a protection set name", 64);
    c.apdus.push_back(apdu(AdminApplet::kInsPutUser, 0, 0, d));
    c.text = "put-user " + args[0] + " ********";
    for (std::size_t i = 2; i < args.size(); ++i) c.text += " " + args[i];
  } else if (kind == "delete-user") {
    need(1, 1, "NAME");
    if (args[0].empty()) throw std::invalid_argument("NAME must not be empty");
    c.apdus.push_back(apdu(AdminApplet::kInsDeleteUser, 0, 0, blob_of(args[0])));
    c.text = join();
  } else if (kind == "put-remote-nodes") {
    if (args.size() > 16) throw std::invalid_argument("at most 16 remote nodes");
    // docs/protocol.md 16.8: version, count, then address, prefix, first and last port per node.
    Blob d{1, static_cast<std::uint8_t>(args.size())};
    for (const std::string& node : args) {
      const std::size_t slash = node.find('/'), colon = node.find(':'), dash = node.find('-');
      if (slash == std::string::npos || colon == std::string::npos || dash == std::string::npos || !(slash < colon && colon < dash))
        throw std::invalid_argument("remote node \"" + node + "\" is not A.B.C.D/LEN:LO-HI");
      std::istringstream ip(node.substr(0, slash));
      std::string part;
      int parts = 0;
      while (std::getline(ip, part, '.')) {
        if (++parts > 4) break;
        d.push_back(static_cast<std::uint8_t>(parse_unsigned(part, 255, "an address byte")));
      }
      if (parts != 4) throw std::invalid_argument("remote node \"" + node + "\": not an IPv4 address");
      d.push_back(static_cast<std::uint8_t>(parse_unsigned(node.substr(slash + 1, colon - slash - 1), 32, "LEN")));
      const unsigned lo = parse_unsigned(node.substr(colon + 1, dash - colon - 1), 65535, "LO");
      const unsigned hi = parse_unsigned(node.substr(dash + 1), 65535, "HI");
      if (lo > hi) throw std::invalid_argument("remote node \"" + node + "\": LO above HI");
      put16(d, lo);
      put16(d, hi);
    }
    c.apdus.push_back(apdu(AdminApplet::kInsPutRemoteNodes, 0, 0, d));
    c.text = join();
  } else if (kind == "rotate-psk") {
    need(0, 0, "no arguments (the server makes the key)");
    c.text = "rotate-psk (link)";
    // The key is filled in by the caller (a random source is not this file's business).
  } else if (kind == "rotate-tls-psk") {
    need(2, 2, "IDENTITY HEXKEY");
    const Blob key = from_hex(args[1]);
    if (key.size() < 16 || key.size() > 32) throw std::invalid_argument("HEXKEY must be 16-32 bytes");
    Blob d;
    put_lv(d, args[0], "IDENTITY", 64);
    if (args[0].empty()) throw std::invalid_argument("IDENTITY must not be empty");
    d.push_back(static_cast<std::uint8_t>(key.size()));
    d.insert(d.end(), key.begin(), key.end());
    c.apdus.push_back(apdu(AdminApplet::kInsRotatePsk, AdminApplet::kRotateTlsPsk, 0, d));
    c.text = "rotate-tls-psk " + args[0];
  } else {
    throw std::invalid_argument("unknown command \"" + kind +
                                "\" (reopen-port, close-port, set-rule, set-policy, put-resource, delete-resource, "
                                "put-user, delete-user, put-remote-nodes, rotate-psk, rotate-tls-psk)");
  }
  return c;
}

Blob apply_settings_command(const Blob& settings, const std::string& text) {
  card::DetectionSettings s;
  if (!card::decode(Bytes(settings.data(), settings.size()), s)) throw std::invalid_argument("the card's reported settings do not decode");
  std::istringstream in(text);
  std::vector<std::string> w;
  for (std::string x; in >> x;) w.push_back(x);
  if (w.empty()) throw std::invalid_argument("empty settings command");
  if (w[0] == "set-rule" && w.size() == 4) {
    const auto rule = rule_by_name(w[1]);
    if (!rule) throw std::invalid_argument("unknown rule " + w[1]);
    s.rule(*rule).threshold = static_cast<u16>(parse_unsigned(w[2], card::DetectionSettings::kMaxThreshold, "THRESHOLD"));
    s.rule(*rule).window_seconds = static_cast<u16>(parse_unsigned(w[3], 65535, "WINDOW"));
  } else if (w[0] == "set-policy") {
    for (std::size_t i = 1; i + 1 < w.size(); i += 2) {
      if (w[i] == "--reopen") s.reopen = w[i + 1] == "admin" ? card::ReopenPolicy::kAdminOnly : card::ReopenPolicy::kAfterCooldown;
      else if (w[i] == "--cooldown") s.cooldown_seconds = static_cast<u16>(parse_unsigned(w[i + 1], 65535, "--cooldown"));
      else if (w[i] == "--other-ports") s.other_ports = w[i + 1] == "close" ? card::OtherPortsPolicy::kClose : card::OtherPortsPolicy::kKeepServing;
    }
  } else {
    throw std::invalid_argument("not a settings command: " + text);
  }
  if (!s.valid()) throw std::invalid_argument("the edited settings are out of range");
  Blob out(card::DetectionSettings::kEncodedSize);
  card::encode(s, MutableBytes(out.data(), out.size()));
  return out;
}

std::string to_hex(const std::uint8_t* data, std::size_t size) {
  static const char* kDigits = "0123456789abcdef";
  std::string s;
  s.reserve(size * 2);
  for (std::size_t i = 0; i < size; ++i) {
    s.push_back(kDigits[data[i] >> 4]);
    s.push_back(kDigits[data[i] & 0xF]);
  }
  return s;
}

Blob from_hex(std::string_view hex) {
  Blob out;
  int high = -1;
  for (char c : hex) {
    if (c == ' ' || c == ':') continue;
    int v;
    if (c >= '0' && c <= '9') v = c - '0';
    else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
    else throw std::invalid_argument(std::string("not a hex digit: '") + c + "'");
    if (high < 0) {
      high = v;
    } else {
      out.push_back(static_cast<std::uint8_t>(high << 4 | v));
      high = -1;
    }
  }
  if (high >= 0) throw std::invalid_argument("odd number of hex digits");
  return out;
}

}  // namespace scws::sim::admin
