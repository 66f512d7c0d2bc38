// HTTP status codes the card produces (RFC 9110 section 15), their reason phrases and the small
// canned bodies of error responses. Parsers report failures as the status to answer with, so the
// error enum of the HTTP layer is HttpStatus itself.
#pragma once

#include <string_view>

#include "base/bytes.hpp"

namespace scws::http {

enum class HttpStatus : u16 {
  kContinue = 100,                     // RFC 9110 15.2.1
  kOk = 200,                           // 15.3.1
  kCreated = 201,                      // 15.3.2
  kNoContent = 204,                    // 15.3.5
  kMovedPermanently = 301,             // 15.4.2
  kFound = 302,                        // 15.4.3
  kSeeOther = 303,                     // 15.4.4
  kNotModified = 304,                  // 15.4.5
  kBadRequest = 400,                   // 15.5.1
  kUnauthorized = 401,                 // 15.5.2 (needs WWW-Authenticate)
  kForbidden = 403,                    // 15.5.4
  kNotFound = 404,                     // 15.5.5
  kMethodNotAllowed = 405,             // 15.5.6 (needs Allow)
  kRequestTimeout = 408,               // 15.5.9
  kLengthRequired = 411,               // 15.5.12
  kPreconditionFailed = 412,           // 15.5.13
  kContentTooLarge = 413,              // 15.5.14
  kUriTooLong = 414,                   // 15.5.15
  kUnsupportedMediaType = 415,         // 15.5.16
  kExpectationFailed = 417,            // 15.5.18
  kRequestHeaderFieldsTooLarge = 431,  // RFC 6585 section 5
  kInternalServerError = 500,          // 15.6.1
  kNotImplemented = 501,               // 15.6.2
  kServiceUnavailable = 503,           // 15.6.4
  kHttpVersionNotSupported = 505,      // 15.6.6
};

constexpr u16 code(HttpStatus s) noexcept { return static_cast<u16>(s); }

// The reason phrase of RFC 9110 section 15 ("Not Found"); never empty.
std::string_view reason_phrase(HttpStatus s) noexcept;

// 1xx, 204 and 304 responses never carry content (RFC 9110 6.4.1).
constexpr bool status_allows_content(HttpStatus s) noexcept {
  return code(s) >= 200 && s != HttpStatus::kNoContent && s != HttpStatus::kNotModified;
}

constexpr bool is_error(HttpStatus s) noexcept { return code(s) >= 400; }

// A small HTML page for an error status ("<!DOCTYPE html>...404 Not Found..."), served with
// kCannedBodyType. Defined for every status above that is_error(); empty for the others.
std::string_view canned_body(HttpStatus s) noexcept;
inline constexpr std::string_view kCannedBodyType = "text/html; charset=utf-8";

}  // namespace scws::http
