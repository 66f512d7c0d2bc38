#include "http/status.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace scws;
using namespace scws::http;

TEST_CASE("status reason phrases are those of RFC 9110 section 15") {
  struct Row {
    HttpStatus status;
    u16 code;
    const char* reason;
  };
  const Row rows[] = {
      {HttpStatus::kContinue, 100, "Continue"},                                      // 15.2.1
      {HttpStatus::kOk, 200, "OK"},                                                  // 15.3.1
      {HttpStatus::kCreated, 201, "Created"},                                        // 15.3.2
      {HttpStatus::kNoContent, 204, "No Content"},                                   // 15.3.5
      {HttpStatus::kMovedPermanently, 301, "Moved Permanently"},                     // 15.4.2
      {HttpStatus::kFound, 302, "Found"},                                            // 15.4.3
      {HttpStatus::kSeeOther, 303, "See Other"},                                     // 15.4.4
      {HttpStatus::kNotModified, 304, "Not Modified"},                               // 15.4.5
      {HttpStatus::kBadRequest, 400, "Bad Request"},                                 // 15.5.1
      {HttpStatus::kUnauthorized, 401, "Unauthorized"},                              // 15.5.2
      {HttpStatus::kForbidden, 403, "Forbidden"},                                    // 15.5.4
      {HttpStatus::kNotFound, 404, "Not Found"},                                     // 15.5.5
      {HttpStatus::kMethodNotAllowed, 405, "Method Not Allowed"},                    // 15.5.6
      {HttpStatus::kLengthRequired, 411, "Length Required"},                         // 15.5.12
      {HttpStatus::kPreconditionFailed, 412, "Precondition Failed"},                 // 15.5.13
      {HttpStatus::kContentTooLarge, 413, "Content Too Large"},                      // 15.5.14
      {HttpStatus::kUriTooLong, 414, "URI Too Long"},                                // 15.5.15
      {HttpStatus::kUnsupportedMediaType, 415, "Unsupported Media Type"},            // 15.5.16
      {HttpStatus::kExpectationFailed, 417, "Expectation Failed"},                   // 15.5.18
      {HttpStatus::kRequestHeaderFieldsTooLarge, 431, "Request Header Fields Too Large"},  // RFC 6585 5
      {HttpStatus::kInternalServerError, 500, "Internal Server Error"},              // 15.6.1
      {HttpStatus::kNotImplemented, 501, "Not Implemented"},                         // 15.6.2
      {HttpStatus::kServiceUnavailable, 503, "Service Unavailable"},                 // 15.6.4
      {HttpStatus::kHttpVersionNotSupported, 505, "HTTP Version Not Supported"},     // 15.6.6
  };
  for (const Row& r : rows) {
    CAPTURE(r.code);
    CHECK(code(r.status) == r.code);
    CHECK(reason_phrase(r.status) == r.reason);
    CHECK(is_error(r.status) == (r.code >= 400));
    if (is_error(r.status)) {
      // Every error has a canned page naming the status; the others have none.
      const std::string title = std::to_string(r.code) + " " + r.reason;
      CHECK(canned_body(r.status).find("<title>" + title + "</title>") != std::string_view::npos);
      CHECK(canned_body(r.status).size() < 120);  // fits one SEND DATA with its head
    } else {
      CHECK(canned_body(r.status).empty());
    }
  }
  CHECK(reason_phrase(static_cast<HttpStatus>(299)) == "Unknown");
}

TEST_CASE("1xx, 204 and 304 responses carry no content (RFC 9110 6.4.1)") {
  CHECK_FALSE(status_allows_content(HttpStatus::kContinue));
  CHECK_FALSE(status_allows_content(HttpStatus::kNoContent));
  CHECK_FALSE(status_allows_content(HttpStatus::kNotModified));
  CHECK(status_allows_content(HttpStatus::kOk));
  CHECK(status_allows_content(HttpStatus::kNotFound));
  CHECK(status_allows_content(HttpStatus::kFound));
}
