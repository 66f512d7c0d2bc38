// Reason phrases are those of RFC 9110 section 15 (431: RFC 6585 section 5).
#include "http/status.hpp"

namespace scws::http {

std::string_view reason_phrase(HttpStatus s) noexcept {
  switch (s) {
    case HttpStatus::kContinue:
      return "Continue";
    case HttpStatus::kOk:
      return "OK";
    case HttpStatus::kCreated:
      return "Created";
    case HttpStatus::kNoContent:
      return "No Content";
    case HttpStatus::kMovedPermanently:
      return "Moved Permanently";
    case HttpStatus::kFound:
      return "Found";
    case HttpStatus::kSeeOther:
      return "See Other";
    case HttpStatus::kNotModified:
      return "Not Modified";
    case HttpStatus::kBadRequest:
      return "Bad Request";
    case HttpStatus::kUnauthorized:
      return "Unauthorized";
    case HttpStatus::kForbidden:
      return "Forbidden";
    case HttpStatus::kNotFound:
      return "Not Found";
    case HttpStatus::kMethodNotAllowed:
      return "Method Not Allowed";
    case HttpStatus::kRequestTimeout:
      return "Request Timeout";
    case HttpStatus::kLengthRequired:
      return "Length Required";
    case HttpStatus::kPreconditionFailed:
      return "Precondition Failed";
    case HttpStatus::kContentTooLarge:
      return "Content Too Large";
    case HttpStatus::kUriTooLong:
      return "URI Too Long";
    case HttpStatus::kUnsupportedMediaType:
      return "Unsupported Media Type";
    case HttpStatus::kExpectationFailed:
      return "Expectation Failed";
    case HttpStatus::kRequestHeaderFieldsTooLarge:
      return "Request Header Fields Too Large";
    case HttpStatus::kInternalServerError:
      return "Internal Server Error";
    case HttpStatus::kNotImplemented:
      return "Not Implemented";
    case HttpStatus::kServiceUnavailable:
      return "Service Unavailable";
    case HttpStatus::kHttpVersionNotSupported:
      return "HTTP Version Not Supported";
  }
  return "Unknown";  // a value outside the enum (cast from a number)
}

// Kept short: they travel over BIP in 240-byte pieces. Each names the status so a person reading a
// handset browser knows what went wrong; none echoes anything from the request (no reflection).
std::string_view canned_body(HttpStatus s) noexcept {
  switch (s) {
    case HttpStatus::kBadRequest:
      return "<!DOCTYPE html><title>400 Bad Request</title><h1>400 Bad Request</h1>\n";
    case HttpStatus::kUnauthorized:
      return "<!DOCTYPE html><title>401 Unauthorized</title><h1>401 Unauthorized</h1>\n";
    case HttpStatus::kForbidden:
      return "<!DOCTYPE html><title>403 Forbidden</title><h1>403 Forbidden</h1>\n";
    case HttpStatus::kNotFound:
      return "<!DOCTYPE html><title>404 Not Found</title><h1>404 Not Found</h1>\n";
    case HttpStatus::kMethodNotAllowed:
      return "<!DOCTYPE html><title>405 Method Not Allowed</title><h1>405 Method Not Allowed</h1>\n";
    case HttpStatus::kRequestTimeout:
      return "<!DOCTYPE html><title>408 Request Timeout</title><h1>408 Request Timeout</h1>\n";
    case HttpStatus::kLengthRequired:
      return "<!DOCTYPE html><title>411 Length Required</title><h1>411 Length Required</h1>\n";
    case HttpStatus::kPreconditionFailed:
      return "<!DOCTYPE html><title>412 Precondition Failed</title><h1>412 Precondition Failed</h1>\n";
    case HttpStatus::kContentTooLarge:
      return "<!DOCTYPE html><title>413 Content Too Large</title><h1>413 Content Too Large</h1>\n";
    case HttpStatus::kUriTooLong:
      return "<!DOCTYPE html><title>414 URI Too Long</title><h1>414 URI Too Long</h1>\n";
    case HttpStatus::kUnsupportedMediaType:
      return "<!DOCTYPE html><title>415 Unsupported Media Type</title><h1>415 Unsupported Media Type</h1>\n";
    case HttpStatus::kExpectationFailed:
      return "<!DOCTYPE html><title>417 Expectation Failed</title><h1>417 Expectation Failed</h1>\n";
    case HttpStatus::kRequestHeaderFieldsTooLarge:
      return "<!DOCTYPE html><title>431 Request Header Fields Too Large</title><h1>431 Request Header Fields Too Large</h1>\n";
    case HttpStatus::kInternalServerError:
      return "<!DOCTYPE html><title>500 Internal Server Error</title><h1>500 Internal Server Error</h1>\n";
    case HttpStatus::kNotImplemented:
      return "<!DOCTYPE html><title>501 Not Implemented</title><h1>501 Not Implemented</h1>\n";
    case HttpStatus::kServiceUnavailable:
      return "<!DOCTYPE html><title>503 Service Unavailable</title><h1>503 Service Unavailable</h1>\n";
    case HttpStatus::kHttpVersionNotSupported:
      return "<!DOCTYPE html><title>505 HTTP Version Not Supported</title><h1>505 HTTP Version Not Supported</h1>\n";
    case HttpStatus::kContinue:
    case HttpStatus::kOk:
    case HttpStatus::kCreated:
    case HttpStatus::kNoContent:
    case HttpStatus::kMovedPermanently:
    case HttpStatus::kFound:
    case HttpStatus::kSeeOther:
    case HttpStatus::kNotModified:
      return {};
  }
  return {};
}

}  // namespace scws::http
