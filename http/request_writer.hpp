// The head of an HTTP/1.1 request the card sends as a client (RFC 9112 sections 3 and 5), written
// into a caller buffer: the card's admin agent's POSTs to the remote administration server
// (docs/protocol.md section 16.2). Zero allocation; the body is the caller's to stream after it.
//
// Contract: write_request_head() writes
//   <method> SP <target> SP "HTTP/1.1" CRLF
//   "Host: " <host> CRLF
//   { <name> ": " <value> CRLF }          the extra fields, in order
//   ["Content-Type: " <type> CRLF]        when content_type is not empty
//   "Content-Length: " <n> CRLF           always (the card never sends chunked bodies, 16.2)
//   CRLF
// and returns its size, or 0 (nothing usable in out) when out is too small or a value is unsafe: a
// target not starting with "/" or holding a byte outside VCHAR, a host or field value with a control
// byte (CR, LF ...), a field name that is not a token (RFC 9110 5.1, 5.5). Header injection is
// therefore impossible whatever the values came from.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

#include "base/bytes.hpp"
#include "http/request_parser.hpp"

namespace scws::http {

struct FieldLine {
  std::string_view name;
  std::string_view value;
};

struct RequestHeadSpec {
  Method method = Method::kPost;
  std::string_view target;
  std::string_view host;
  std::span<const FieldLine> fields;
  std::string_view content_type;
  u32 content_length = 0;
};

std::size_t write_request_head(const RequestHeadSpec& spec, MutableBytes out) noexcept;

}  // namespace scws::http
