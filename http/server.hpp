// The on-card HTTP/1.1 server: one connection state machine per client connection, fed with the
// bytes of a BIP channel (or TLS plaintext) and pulled for its output in pieces of at most what one
// SEND DATA carries. Zero allocation: the per-connection state (kConnectionSize bytes, the request
// head buffer included) lives in memory the caller hands to open() (the SCWS applet takes it from
// the card RAM arena) and gives back at close().
//
// What it serves comes from a Site (static resources and protection sets; the SCWS applet
// implements it over NVM) and from Extensions registered for URL prefixes (http/extension.hpp).
//
// Per request (RFC 9112, RFC 9110):
// - the head is parsed by RequestParser into the connection buffer; malformed -> 400 and close,
//   oversized parts -> 413 / 414 / 431 and close, unknown method -> 501 and close;
// - the path is percent-decoded in place (dot segments, NUL, "\" -> 400); "/" and any path ending
//   in "/" are served from "<path>" + the Site's index_name() ("index.html" unless it names another);
// - the Site's protection check: 401 with WWW-Authenticate (no or wrong Basic credentials),
//   403 (the Site refuses, e.g. after too many failures);
// - extension (longest registered prefix) or static resource; static resources allow GET, HEAD and
//   OPTIONS (others 405 with Allow), answer 304 to a matching If-None-Match, carry Content-Type,
//   ETag and Content-Length, and stream the body from the Site in the output pieces;
// - POST / PUT without Content-Length or chunked framing -> 411; request bodies of static routes
//   are read and discarded; Expect: 100-continue gets "100 Continue" before an extension's body;
// - persistent connections: HTTP/1.1 unless "Connection: close", HTTP/1.0 with keep-alive;
//   pipelined requests are answered in order (bytes behind a head wait in the buffer); after
//   kMaxRequestsPerConnection requests the response says Connection: close.
// - deadlines: the server keeps no time; waiting_for() says what a connection waits for from its
//   client (the head of a request, its body, or the next request of a kept-alive connection) and its
//   owner times that (card/scws/scws_applet.hpp); timed_out() ends the wait: a request begun and
//   not answered yet gets 408 Request Timeout (RFC 9110 15.5.9) and the connection closes after it;
//   otherwise the connection closes without a response.
// Errors the server generates always close the connection after the response, except 304 / 401 /
// 403 / 404 / 405 / 411-free routing answers, which keep it (the request was read whole).
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string_view>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "http/chunked.hpp"
#include "http/extension.hpp"
#include "http/request_parser.hpp"
#include "http/response_writer.hpp"
#include "http/status.hpp"

namespace scws::http {

// A static resource found by the Site (its body is read through Site::read).
struct StaticResource {
  u32 handle = 0;  // the Site's own reference (e.g. an NVM object id)
  u32 length = 0;
  u32 etag = 0;    // served as "\"%08x\""
  char content_type[kMaxContentTypeSize] = {};
  u8 content_type_length = 0;
};

enum class Access : u8 { kAllow, kChallenge, kForbidden, kError };
struct AccessDecision {
  Access access = Access::kAllow;
  std::string_view challenge;  // kChallenge: the WWW-Authenticate value, in the challenge buffer
};

// The default page of a directory unless the Site names another.
inline constexpr std::string_view kDefaultIndexName = "index.html";

class Site {
 public:
  virtual ~Site() = default;
  // Looks up the decoded path `path` followed by `suffix` (empty, or index_name() for a path
  // ending in "/"). Errors: kNotFound (404), kServiceUnavailable (503: no content store),
  // kInternalServerError (500: NVM failure).
  virtual Result<StaticResource, HttpStatus> find(std::string_view path, std::string_view suffix) noexcept = 0;
  // The default page of a directory (a path ending in "/").
  [[nodiscard]] virtual std::string_view index_name() const noexcept { return kDefaultIndexName; }
  // Body bytes [offset, ...) of a found resource; 0 at its end.
  virtual Result<std::size_t, BodyError> read(const StaticResource& resource, u32 offset, MutableBytes out) noexcept = 0;
  // Protection check for a decoded path with the request's Authorization value. kChallenge writes
  // the WWW-Authenticate value into `challenge` (kMaxChallengeSize bytes) and points the decision at it.
  virtual AccessDecision check_access(std::string_view path, std::optional<std::string_view> authorization,
                                      std::span<char> challenge) noexcept = 0;
  // Told about each request the server refuses as malformed or oversized (400, 411, 413, 414, 431,
  // 501, 505: is_malformed_request_status), with the first bytes the connection received for it
  // (the start of the request line), before the error response starts. For the card's security
  // events; the default ignores it.
  virtual void refused(HttpStatus status, Bytes request_start) noexcept {
    (void)status;
    (void)request_start;
  }
};

// The statuses that say the client sent something no well-behaved client sends.
constexpr bool is_malformed_request_status(HttpStatus s) noexcept {
  switch (s) {
    case HttpStatus::kBadRequest:
    case HttpStatus::kLengthRequired:
    case HttpStatus::kContentTooLarge:
    case HttpStatus::kUriTooLong:
    case HttpStatus::kRequestHeaderFieldsTooLarge:
    case HttpStatus::kNotImplemented:
    case HttpStatus::kHttpVersionNotSupported:
      return true;
    default:
      return false;
  }
}

// What a connection waits for from its client (nothing while the server answers).
enum class ClientWait : u8 {
  kNone,  // not open, or the server is answering / closing: no client deadline
  kHead,  // a request head: from connect, or from the first byte of a further request
  kBody,  // the body of a request whose head arrived
  kIdle,  // a kept-alive connection between a complete response and the next request's first byte
};
const char* to_string(ClientWait w) noexcept;

// What timed_out() did.
enum class TimeoutOutcome : u8 {
  kNothing,       // no wait to end
  kRequestTimeout,  // 408 is being sent, then close
  kClosed,        // closing without a response (nothing of a request, a kept-alive connection, or a response begun)
};

struct ServerConfig {
  // Request head + body pieces, per connection: under 1 KiB so that the whole connection state
  // fits kConnectionBudget (a request head larger than this is 431).
  static constexpr std::size_t kHeadBuffer = 976;
  static constexpr std::size_t kMaxHeaders = 20;      // field lines of a request head
  // Bytes of state per connection at most: 2 KiB of card RAM less the arena's 8-byte block header.
  static constexpr std::size_t kConnectionBudget = 2048 - 8;
  static constexpr std::size_t kMaxChallengeSize = 64;
  static constexpr std::size_t kMaxExtensions = 8;
  static constexpr std::size_t kMaxConnections = 7;  // BIP channel identifiers 1..7 (TS 102 223)
  static constexpr std::size_t kMaxRequestsPerConnection = 100;
  static constexpr u32 kMaxBody = 16U * 1024 * 1024;  // largest request body (Content-Length or decoded chunked)
  static constexpr std::string_view kStaticAllow = "GET, HEAD, OPTIONS";
  static constexpr RequestLimits kLimits{256, 16, kHeadBuffer, kMaxHeaders, kMaxBody};
  static_assert(kLimits.max_head <= kHeadBuffer);
  static_assert(kHeadBuffer <= kMaxHeadLimit);
};

class Server {
 public:
  struct Connection;  // defined in server.cpp
  // Bytes of memory open() needs per connection (alignment 16).
  static const std::size_t kConnectionSize;

  explicit Server(Site& site) noexcept : site_(site) {}
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Registers an extension for a decoded-path prefix ("/status" covers "/status" and "/status/...";
  // a prefix ending in "/" covers what starts with it). false when full or the prefix is not "/...".
  bool add_extension(std::string_view prefix, Extension& extension) noexcept;

  // A client connected: memory (>= kConnectionSize bytes, 16-byte aligned) holds its state until
  // close(). false for a bad id, a connection already open or too little memory.
  bool open(std::size_t connection, MutableBytes memory) noexcept;
  // The StreamEndpoint calls (card/cat/stream_endpoint.hpp).
  std::size_t receive(std::size_t connection, Bytes data) noexcept;
  std::size_t send(std::size_t connection, MutableBytes out) noexcept;
  [[nodiscard]] bool wants_close(std::size_t connection) const noexcept;
  [[nodiscard]] ClientWait waiting_for(std::size_t connection) const noexcept;
  // Whether the connection received any byte of the request it waits for (kHead / kBody).
  [[nodiscard]] bool request_started(std::size_t connection) const noexcept;
  // The owner's deadline for the current wait passed.
  TimeoutOutcome timed_out(std::size_t connection) noexcept;
  // Releases the connection; returns the memory given to open() (empty when it was not open).
  MutableBytes close(std::size_t connection) noexcept;

  [[nodiscard]] std::size_t open_connections() const noexcept;
  [[nodiscard]] u32 requests_served() const noexcept { return requests_; }
  Site& site() noexcept { return site_; }

 private:
  struct Route {
    std::string_view prefix;
    Extension* extension = nullptr;
  };

  void process(Connection& c) noexcept;
  void dispatch(Connection& c) noexcept;
  void start_response(Connection& c) noexcept;
  void start_error(Connection& c, HttpStatus status, bool close) noexcept;
  void start_static(Connection& c) noexcept;
  void call_extension(Connection& c, bool first) noexcept;
  bool pump_body(Connection& c) noexcept;
  void finish_request(Connection& c) noexcept;
  Extension* find_extension(std::string_view path) const noexcept;

  Site& site_;
  Route routes_[ServerConfig::kMaxExtensions] = {};
  std::size_t route_count_ = 0;
  Connection* connections_[ServerConfig::kMaxConnections] = {};
  MutableBytes memory_[ServerConfig::kMaxConnections] = {};
  u32 requests_ = 0;
};

}  // namespace scws::http
