#include "http/response_parser.hpp"

#include <algorithm>
#include <cstring>

#include "http/ascii.hpp"

namespace scws::http {

namespace {

constexpr std::string_view kHttpPrefix = "HTTP/";

constexpr ChunkedLimits chunked_limits(const ResponseLimits& l) noexcept {
  ChunkedLimits c;
  c.max_body = l.max_body;
  return c;
}

}  // namespace

const char* describe(ResponseError e) noexcept {
  switch (e) {
    case ResponseError::kBadStatusLine: return "bad status line";
    case ResponseError::kBadVersion: return "unsupported HTTP version";
    case ResponseError::kBadHeader: return "bad header field";
    case ResponseError::kHeadTooLarge: return "header section too large";
    case ResponseError::kValueTooLong: return "header value too long";
    case ResponseError::kBadFraming: return "bad body framing";
    case ResponseError::kBodyTooLarge: return "body too large";
    case ResponseError::kBadChunk: return "bad chunked coding";
  }
  return "?";
}

ResponseParser::ResponseParser(const ResponseLimits& limits) noexcept
    : limits_(limits), chunked_decoder_(chunked_limits(limits)) {}

void ResponseParser::reset() noexcept { *this = ResponseParser(limits_); }

Status<ResponseError> ResponseParser::failure(ResponseError e) noexcept {
  state_ = State::kFailed;
  error_ = e;
  return fail(e);
}

Result<ResponseParser::Progress, ResponseError> ResponseParser::feed(Bytes in, MutableBytes out) noexcept {
  Progress p;
  if (state_ == State::kFailed) return fail(error_);
  while (p.consumed < in.size() && state_ < State::kBody) {
    if (++head_ > limits_.max_head) return fail(failure(ResponseError::kHeadTooLarge).error());
    auto s = step(in[p.consumed++]);
    if (!s) return fail(s.error());
    if (state_ >= State::kBody) {  // the head just completed: let the caller look at it first
      p.head_done = true;
      p.done = state_ == State::kDone;
      return p;
    }
  }
  p.head_done = state_ >= State::kBody;
  if (state_ == State::kBody && p.consumed < in.size()) return body(in, out, p);
  p.done = state_ == State::kDone;
  return p;
}

Result<ResponseParser::Progress, ResponseError> ResponseParser::body(Bytes in, MutableBytes out, Progress p) noexcept {
  Bytes rest = in.subspan(p.consumed);
  if (chunked_) {
    auto r = chunked_decoder_.decode(rest, out);
    if (!r) {
      const ResponseError e = r.error() == ChunkedError::kBodyTooLarge ? ResponseError::kBodyTooLarge : ResponseError::kBadChunk;
      return fail(failure(e).error());
    }
    p.consumed += r->consumed;
    p.produced = r->produced;
    body_ += static_cast<u32>(r->produced);
    if (r->done) state_ = State::kDone;
  } else {
    const std::size_t n = std::min({rest.size(), out.size(), static_cast<std::size_t>(length_ - body_)});
    std::memcpy(out.data(), rest.data(), n);
    p.consumed += n;
    p.produced = n;
    body_ += static_cast<u32>(n);
    if (body_ == length_) state_ = State::kDone;
  }
  p.done = state_ == State::kDone;
  return p;
}

Status<ResponseError> ResponseParser::step(u8 c) noexcept {
  switch (state_) {
    case State::kVersion:
    case State::kStatusSp:
    case State::kStatusCode:
    case State::kReason:
      return step_status_line(c);
    case State::kLineLf:
      if (c != '\n') return failure(ResponseError::kBadHeader);
      state_ = after_lf_;
      return {};
    case State::kLineStart:
    case State::kName:
    case State::kValue:
    case State::kEndLf:
      return step_field(c);
    case State::kBody:
    case State::kDone:
    case State::kFailed:
      break;
  }
  return failure(ResponseError::kBadHeader);
}

Status<ResponseError> ResponseParser::step_status_line(u8 c) noexcept {
  switch (state_) {
    case State::kVersion: {
      // "HTTP/" DIGIT "." DIGIT (RFC 9112 2.3)
      const std::size_t at = scratch_length_;
      if (at < kHttpPrefix.size()) {
        if (c != static_cast<u8>(kHttpPrefix[at])) return failure(ResponseError::kBadStatusLine);
      } else if (at == 5 || at == 7) {
        if (!is_digit(c)) return failure(ResponseError::kBadStatusLine);
      } else if (at == 6) {
        if (c != '.') return failure(ResponseError::kBadStatusLine);
      }
      scratch_[at] = static_cast<char>(c);
      if (++scratch_length_ == 8) {
        if (scratch_[5] != '1') return failure(ResponseError::kBadVersion);
        scratch_length_ = 0;
        state_ = State::kStatusSp;
      }
      return {};
    }
    case State::kStatusSp:
      if (c != ' ') return failure(ResponseError::kBadStatusLine);
      state_ = State::kStatusCode;
      return {};
    case State::kStatusCode:
      if (scratch_length_ < 3) {
        if (!is_digit(c)) return failure(ResponseError::kBadStatusLine);
        status_ = static_cast<u16>(status_ * 10 + (c - '0'));
        ++scratch_length_;
        if (scratch_length_ == 3 && status_ < 100) return failure(ResponseError::kBadStatusLine);
        return {};
      }
      scratch_length_ = 0;
      if (c == ' ') {
        state_ = State::kReason;
        return {};
      }
      if (c == '\r') {  // no reason phrase and no SP: tolerated
        after_lf_ = State::kLineStart;
        state_ = State::kLineLf;
        return {};
      }
      return failure(ResponseError::kBadStatusLine);
    case State::kReason:
      // reason-phrase = 1*( HTAB / SP / VCHAR / obs-text )
      if (c == '\r') {
        after_lf_ = State::kLineStart;
        state_ = State::kLineLf;
        return {};
      }
      if (!is_field_value_byte(c)) return failure(ResponseError::kBadStatusLine);
      return {};
    default:
      return failure(ResponseError::kBadStatusLine);
  }
}

Status<ResponseError> ResponseParser::step_field(u8 c) noexcept {
  switch (state_) {
    case State::kLineStart:
      if (c == '\r') {
        state_ = State::kEndLf;
        return {};
      }
      if (!is_tchar(c)) return failure(ResponseError::kBadHeader);  // obs-fold or garbage
      name_length_ = 0;
      name_too_long_ = false;
      state_ = State::kName;
      [[fallthrough]];
    case State::kName:
      if (c == ':') return end_name();
      if (!is_tchar(c)) return failure(ResponseError::kBadHeader);
      if (name_length_ < kMaxName) {
        name_[name_length_++] = static_cast<char>(c);
      } else {
        name_too_long_ = true;
      }
      return {};
    case State::kValue:
      if (c == '\r') {
        SCWS_TRY(end_value());
        after_lf_ = State::kLineStart;
        state_ = State::kLineLf;
        return {};
      }
      if (!is_field_value_byte(c)) return failure(ResponseError::kBadHeader);
      return value_byte(c);
    case State::kEndLf:
      if (c != '\n') return failure(ResponseError::kBadHeader);
      return end_head();
    default:
      return failure(ResponseError::kBadHeader);
  }
}

Status<ResponseError> ResponseParser::end_name() noexcept {
  const std::string_view name(name_.data(), name_length_);
  field_ = Field::kOther;
  if (!name_too_long_) {
    if (iequals(name, "content-type")) field_ = Field::kContentType;
    else if (iequals(name, "content-length")) field_ = Field::kContentLength;
    else if (iequals(name, "transfer-encoding")) field_ = Field::kTransferEncoding;
    else if (iequals(name, "x-admin-protocol")) field_ = Field::kProtocol;
    else if (iequals(name, "x-admin-next-uri")) field_ = Field::kNextUri;
    else if (iequals(name, "scws-next-uri")) field_ = Field::kScwsNextUri;
    else if (iequals(name, "x-admin-targeted-application")) field_ = Field::kTarget;
  }
  auto repeated = [&](bool present) { return present ? failure(ResponseError::kBadHeader) : Status<ResponseError>{}; };
  switch (field_) {
    case Field::kContentType: SCWS_TRY(repeated(content_type_.present)); content_type_.present = true; break;
    case Field::kProtocol: SCWS_TRY(repeated(protocol_.present)); protocol_.present = true; break;
    case Field::kNextUri: SCWS_TRY(repeated(next_uri_.present)); next_uri_.present = true; break;
    case Field::kScwsNextUri: SCWS_TRY(repeated(scws_next_uri_.present)); scws_next_uri_.present = true; break;
    case Field::kTarget: SCWS_TRY(repeated(target_.present)); target_.present = true; break;
    case Field::kTransferEncoding: SCWS_TRY(repeated(has_te_)); has_te_ = true; break;
    case Field::kContentLength:
    case Field::kOther: break;
  }
  scratch_length_ = 0;
  pending_ows_ = 0;
  value_started_ = false;
  value_overflow_ = false;
  state_ = State::kValue;
  return {};
}

Status<ResponseError> ResponseParser::value_byte(u8 c) noexcept {
  if (is_ows(c)) {
    if (value_started_) ++pending_ows_;  // leading OWS is dropped, inner OWS kept if more follows
    return {};
  }
  value_started_ = true;
  char* into = nullptr;
  std::size_t cap = 0;
  u8* length = &scratch_length_;
  switch (field_) {
    case Field::kOther: pending_ows_ = 0; return {};
    case Field::kContentType: into = content_type_.bytes.data(); cap = kMaxContentType; length = &content_type_.length; break;
    case Field::kProtocol: into = protocol_.bytes.data(); cap = kMaxProtocol; length = &protocol_.length; break;
    case Field::kNextUri: into = next_uri_.bytes.data(); cap = kMaxNextUri; length = &next_uri_.length; break;
    case Field::kScwsNextUri: into = scws_next_uri_.bytes.data(); cap = kMaxNextUri; length = &scws_next_uri_.length; break;
    case Field::kTarget: into = target_.bytes.data(); cap = kMaxTarget; length = &target_.length; break;
    case Field::kContentLength:
    case Field::kTransferEncoding: into = scratch_.data(); cap = scratch_.size(); break;
  }
  for (; pending_ows_ > 0; --pending_ows_) {
    if (*length >= cap) {
      value_overflow_ = true;
      break;
    }
    into[(*length)++] = ' ';
  }
  pending_ows_ = 0;
  if (*length >= cap) {
    value_overflow_ = true;
    return {};
  }
  into[(*length)++] = static_cast<char>(c);
  return {};
}

Status<ResponseError> ResponseParser::end_value() noexcept {
  const std::string_view v(scratch_.data(), scratch_length_);
  switch (field_) {
    case Field::kOther: return {};
    case Field::kContentLength: {
      // 1*DIGIT (RFC 9110 8.6); repeated lines must agree (RFC 9112 6.3 rule 5)
      if (value_overflow_ || v.empty()) return failure(value_overflow_ ? ResponseError::kBodyTooLarge : ResponseError::kBadFraming);
      u64 n = 0;
      for (char ch : v) {
        if (!is_digit(static_cast<u8>(ch))) return failure(ResponseError::kBadFraming);
        n = n * 10 + static_cast<u64>(ch - '0');
      }
      if (has_length_ && n != length_) return failure(ResponseError::kBadFraming);
      if (n > limits_.max_body) return failure(ResponseError::kBodyTooLarge);
      has_length_ = true;
      length_ = static_cast<u32>(n);
      return {};
    }
    case Field::kTransferEncoding:
      if (value_overflow_ || !iequals(v, "chunked")) return failure(ResponseError::kBadFraming);
      chunked_ = true;
      return {};
    default:
      if (value_overflow_) return failure(ResponseError::kValueTooLong);
      return {};
  }
}

Status<ResponseError> ResponseParser::end_head() noexcept {
  if (!next_uri_.present && scws_next_uri_.present) next_uri_ = scws_next_uri_;
  const bool no_body = status_ < 200 || status_ == 204 || status_ == 304;  // RFC 9112 6.3 rule 1
  if (has_te_ && has_length_) return failure(ResponseError::kBadFraming);
  if (no_body) {
    state_ = State::kDone;
    return {};
  }
  if (!has_te_ && !has_length_) return failure(ResponseError::kBadFraming);
  state_ = (!chunked_ && length_ == 0) ? State::kDone : State::kBody;
  return {};
}

}  // namespace scws::http
