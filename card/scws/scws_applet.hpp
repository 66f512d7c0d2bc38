// The Smart Card Web Server applet: owns the SCWS content (card/scws/web_content.hpp), users and
// protection sets (card/scws/web_users.hpp) and the HTTP server (http/server.hpp) that serves them on the
// TCP port the CAT toolkit listens on in UICC server mode (TS 102 223 annex M). It is the
// StreamEndpoint of that port: each BIP client connection gets ServerConfig state from the card RAM
// arena in open() and gives it back in close(), so RAM returns to its idle level after every client.
//
// AID: F0 53 43 57 53 01 ("F0" + "SCWS" + 01). ISO/IEC 7816-5 5.2: an AID whose first nibble is F
// is an unregistered proprietary AID, which is what a project-chosen test AID must be; a product
// would use its vendor's registered RID instead.
//
// Deadlines (card/cat/deadlines.hpp, slot Deadlines::kHttpFirst + connection, on every port the
// server is reached through, TLS included): after each call for a connection the applet asks the
// server what it waits for (http::ClientWait) and, when that changed, restarts the connection's
// deadline: head_timeout for a request head (from connect, or from the first byte of a further
// request), body_timeout for its body, idle_timeout between a complete response on a kept-alive
// connection and the next request. A head or body deadline that passes ends the connection (408
// Request Timeout when part of a request came and nothing of a response went, RFC 9110 15.5.9) and
// is an http-slow-client event; an idle one closes it quietly as an http-idle-client event (a
// kept-alive client that goes quiet is legitimate: detection does not count it as slow).
// Eviction: while no channel of a port listens (every one has a client, so a new client may be
// queued in the terminal's listening socket), the longest-idle kept-alive connection of that port
// goes once it has been idle for kEvictionGrace seconds (at most Deadlines::kTick more) instead of
// its idle_timeout: a port's last channel is never held by an idle client for longer than the idle
// deadline.
//
// Installed (Applet::install, once per image): creates the content index and the users object if
// provisioning has not made them already. Powered up: binds the extensions and registers the port
// with the toolkit (when one was given). Selecting it over APDUs is allowed but does nothing: the
// SCWS is reached through BIP, not through APDUs.
#pragma once

#include <cstddef>

#include "card/os/applet.hpp"
#include "card/cat/deadlines.hpp"
#include "card/os/card_context.hpp"
#include "card/scws/scws_settings.hpp"
#include "card/scws/status_extension.hpp"
#include "card/cat/stream_endpoint.hpp"
#include "http/server.hpp"

namespace scws::card {

class CatToolkit;

// A further port through which the applet's HTTP server is reached: the TLS port
// (card/scws/tls_port.hpp), whose TLS sessions carry HTTP to this applet as their inner endpoint. The
// applet powers it up right after registering its HTTP port, with the settings it read from the
// image; kNotEnoughMemory fails the card's power-up (the RAM cannot hold what the image asks for).
// It adds its figures to /status as a StatusPart.
class PortExtension : public StatusPart {
 public:
  virtual Status<CardError> power_up(CardContext& ctx, const ScwsSettings& settings, CatToolkit* toolkit,
                                     StreamEndpoint& inner, u16 buffer_size) noexcept = 0;
};

// Built-in defaults, used when the image holds no settings object (card/scws/scws_settings.hpp), which
// provisioning always writes.
struct ScwsDefaults {
  u16 http_port = 3516;      // IANA "smartcard-port" (docs/protocol.md section 14)
  u16 buffer_size = 1400;    // BIP buffer asked of the terminal (docs/protocol.md section 7.3)
  u8 max_channels = 4;       // clients served at once on the port (1..7)
};

class ScwsApplet final : public Applet, public StreamEndpoint, public http::Site, public StatusSource,
                         public DeadlineListener {
 public:
  static constexpr u8 kFirstSlot = Deadlines::kHttpFirst;  // connection c uses deadline kFirstSlot + c
  static_assert(http::ServerConfig::kMaxConnections <= Deadlines::kHttpSlots, "one deadline per connection");
  static constexpr u32 kEvictionGrace = 2;  // seconds an idle connection keeps a full port's channel
  static constexpr u8 kAid[] = {0xF0, 0x53, 0x43, 0x57, 0x53, 0x01};
  static constexpr u8 kLabel[] = {'S', 'C', 'W', 'S'};

  explicit ScwsApplet(const ScwsDefaults& config = {}) noexcept;

  // Before power-up: the toolkit the port is registered with at every power-up.
  void set_toolkit(CatToolkit& toolkit) noexcept { toolkit_ = &toolkit; }
  // Before power-up: the TLS port (or another port extension) powered up with the applet.
  void set_port_extension(PortExtension* extension) noexcept { port_extension_ = extension; }
  // Before power-up: the incident queue whose figures /status shows (card/scws/status_extension.hpp).
  void set_incident_queue(IncidentQueue* queue) noexcept { status_.set_incidents(queue); }
  // More extensions (before power-up; they must outlive the applet). false when full.
  bool add_extension(std::string_view prefix, http::Extension& extension) noexcept {
    return server_.add_extension(prefix, extension);
  }
  // Basic authentication failures since power-up, on every port: each one is an http-auth-failure
  // event on the card's security-event channel (card/os/security_events.hpp), with the port and
  // connection it came from and the start of the path as evidence.
  [[nodiscard]] u32 auth_failures() const noexcept;
  [[nodiscard]] const http::Server& server() const noexcept { return server_; }
  // What the applet serves with since the last power-up: the image's settings, or the defaults
  // from ScwsDefaults when the image has none.
  [[nodiscard]] const ScwsSettings& settings() const noexcept { return settings_; }

  // Applet
  [[nodiscard]] Bytes aid() const noexcept override { return Bytes(kAid, sizeof kAid); }
  [[nodiscard]] Bytes label() const noexcept override { return Bytes(kLabel, sizeof kLabel); }
  Status<CardError> install(CardContext& ctx) noexcept override;
  Status<CardError> on_power_up(CardContext& ctx) noexcept override;
  bool select(CardContext& ctx, u8 channel) noexcept override;
  void deselect(CardContext& ctx, u8 channel) noexcept override;
  Result<ApduOutcome, CardError> process(CardContext& ctx, const ApduRequest& request) noexcept override;

  // StreamEndpoint
  bool open(std::size_t connection) noexcept override;
  std::size_t receive(std::size_t connection, Bytes data) noexcept override;
  std::size_t send(std::size_t connection, MutableBytes out) noexcept override;
  [[nodiscard]] bool wants_close(std::size_t connection) const noexcept override;
  void close(std::size_t connection) noexcept override;

  // http::Site
  Result<http::StaticResource, http::HttpStatus> find(std::string_view path, std::string_view suffix) noexcept override;
  // The image's default page (card/scws/scws_settings.hpp).
  [[nodiscard]] std::string_view index_name() const noexcept override { return settings_.index_name(); }
  Result<std::size_t, http::BodyError> read(const http::StaticResource& resource, u32 offset,
                                           MutableBytes out) noexcept override;
  http::AccessDecision check_access(std::string_view path, std::optional<std::string_view> authorization,
                                    std::span<char> challenge) noexcept override;
  // An http-malformed security event: detail = the status, evidence = the start of the request.
  void refused(http::HttpStatus status, Bytes request_start) noexcept override;

  // DeadlineListener
  void deadline_passed(u8 slot) noexcept override;
  // What a connection waits for and whether it is the one being evicted (tests, /status).
  [[nodiscard]] http::ClientWait waiting(std::size_t connection) const noexcept {
    return connection < kMaxConnections ? timing_[connection].wait : http::ClientWait::kNone;
  }
  [[nodiscard]] bool evicting(std::size_t connection) const noexcept {
    return connection < kMaxConnections && timing_[connection].evicting;
  }

  // StatusSource
  [[nodiscard]] std::size_t channels_in_use() const noexcept override { return server_.open_connections(); }
  [[nodiscard]] std::size_t current_connection() const noexcept override { return current_connection_; }

 private:
  [[nodiscard]] u16 connection_port() const noexcept;
  [[nodiscard]] u16 port_of(std::size_t connection) const noexcept;
  [[nodiscard]] u32 uptime() const noexcept { return ctx_ != nullptr ? ctx_->time().uptime() : 0; }
  void start_deadline(std::size_t connection, u32 seconds) noexcept;
  // After every call for a connection: its deadline follows what it waits for.
  void review(std::size_t connection, std::size_t opening = kMaxConnections) noexcept;
  // Eviction on full ports (see above); `opening` is a connection being opened (its channel is
  // still counted as listening by the toolkit).
  void review_evictions(std::size_t opening) noexcept;

  struct Timing {
    http::ClientWait wait = http::ClientWait::kNone;
    bool evicting = false;
    u32 idle_since = 0;  // uptime when kIdle began
  };
  Timing timing_[kMaxConnections] = {};

  ScwsDefaults config_;
  ScwsSettings settings_;
  CardContext* ctx_ = nullptr;
  CatToolkit* toolkit_ = nullptr;
  PortExtension* port_extension_ = nullptr;
  std::size_t current_connection_ = 0;  // whose bytes the server handles now (for /status)
  http::Server server_;
  StatusExtension status_;
  UploadExtension upload_;
};

}  // namespace scws::card
