// Extensions the SCWS applet registers (http/extension.hpp):
// - StatusExtension, `/status`: GET/HEAD answer application/json with the card's identity (ICCID
//   digits from EF.ICCID, TS 102 221 13.2), the client connections (BIP channels) in use, the RAM
//   arena's capacity / in use / high-water mark and the NVM object store's free bytes:
//     {"iccid":"8988299000000000001","channels_in_use":1,
//      "ram":{"capacity":16384,"in_use":3120,"high_water":3400},"nvm_free":4000000}
//   then, when an incident queue is set (card/defence/incident_queue.hpp), how many incidents wait,
//   how many were dropped and whether the queue was found damaged at power-up (never their
//   contents: /status is public), ,"incidents":{"count":0,"dropped":0,"damaged":false}, and, when a
//   StatusPart is bound (the TLS port, card/scws/tls_port.hpp), its member before the closing brace
//   (,"tls":{...}).
//   The figures are a snapshot taken when the request arrives (in the connection's extension
//   state; a part's in its own per-connection table), so Content-Length and the bytes sent agree
//   however the response is split.
// - UploadExtension, `/upload`: POST (or PUT) streams the request body through a CRC-32 without
//   buffering it and answers {"length":N,"crc32":"xxxxxxxx"} (CRC-32 of base/crc32.hpp): how tests
//   and the gateway check that a large POST arrived intact.
#pragma once

#include <cstddef>
#include <string_view>

#include "base/bytes.hpp"
#include "card/cat/stream_endpoint.hpp"
#include "card/defence/incident_queue.hpp"
#include "http/extension.hpp"

namespace scws::card {

class CardContext;

// What /status reports, asked when a request arrives.
class StatusSource {
 public:
  virtual ~StatusSource() = default;
  [[nodiscard]] virtual std::size_t channels_in_use() const noexcept = 0;
  // The connection (0..StreamEndpoint::kMaxConnections-1) whose request is being served now.
  [[nodiscard]] virtual std::size_t current_connection() const noexcept { return 0; }
};

// A further member of the /status JSON, owned by another component. snapshot() freezes its
// figures for one connection's response; render() appends `,"name":{...}` from that snapshot (the
// same text at every call until the next snapshot of that connection).
class StatusPart {
 public:
  virtual ~StatusPart() = default;
  virtual void status_snapshot(std::size_t connection) noexcept = 0;
  virtual void status_render(std::size_t connection, http::TextBuilder& out) const noexcept = 0;
};

class StatusExtension final : public http::Extension {
 public:
  static constexpr std::string_view kPath = "/status";
  static constexpr std::size_t kMaxJson = 440;  // the longest figures: the incidents', the time and HTTP events
  static constexpr std::size_t kMaxPartJson = 600;  // what a StatusPart may add

  // ctx: set when the card powers up (nullptr: figures read as 0). part: nullptr for none.
  void bind(CardContext* ctx, const StatusSource* source, StatusPart* part = nullptr) noexcept {
    ctx_ = ctx;
    source_ = source;
    part_ = part;
  }
  [[nodiscard]] const StatusPart* part() const noexcept { return part_; }
  // The card's time and the HTTP security events (every port), frozen for one connection's response:
  // ,"time":{"uptime":s,"now":s,"from_terminal":b},"http":{"slow_clients":n,"idle_clients":n,
  // "auth_failures":n,"malformed":n}
  void render_card_figures(std::size_t connection, http::TextBuilder& out) const noexcept;
  // The incident queue whose figures /status shows (nullptr: no "incidents" member). Before power-up.
  void set_incidents(IncidentQueue* queue) noexcept { incidents_ = queue; }
  void do_get(http::HttpRequest& request, http::HttpResponse& response) noexcept override;
  [[nodiscard]] std::string_view allowed_methods() const noexcept override { return "GET, HEAD, OPTIONS"; }

 private:
  CardContext* ctx_ = nullptr;
  const StatusSource* source_ = nullptr;
  StatusPart* part_ = nullptr;
  struct Figures {
    u32 uptime = 0, now = 0, slow = 0, idle = 0, auth = 0, malformed = 0;
    bool from_terminal = false;
  };
  Figures figures_[StreamEndpoint::kMaxConnections] = {};
  IncidentQueue* incidents_ = nullptr;
};

class UploadExtension final : public http::Extension {
 public:
  static constexpr std::string_view kPath = "/upload";

  void do_post(http::HttpRequest& request, http::HttpResponse& response) noexcept override;
  void do_put(http::HttpRequest& request, http::HttpResponse& response) noexcept override {
    do_post(request, response);
  }
  void on_body(http::HttpRequest& request, http::HttpResponse& response) noexcept override;
  [[nodiscard]] std::string_view allowed_methods() const noexcept override { return "POST, PUT, OPTIONS"; }
};

// ICCID digits from EF.ICCID bytes (swapped-nibble BCD, F filler, TS 102 221 13.2); returns the count.
std::size_t iccid_digits(Bytes ef_iccid, std::span<char> out) noexcept;

}  // namespace scws::card
