#include "card/scws/status_extension.hpp"

#include <algorithm>
#include <iterator>

#include "base/crc32.hpp"
#include "card/os/card_context.hpp"
#include "card/os/uicc_files.hpp"
#include "http/ascii.hpp"

namespace scws::card {
namespace {

struct StatusSnapshot {
  const StatusExtension* self;  // for the bound StatusPart
  u32 ram_capacity;
  u32 ram_in_use;
  u32 ram_high_water;
  u32 nvm_free;
  u32 incidents_dropped;
  u8 incidents_count;
  u8 incidents;  // kIncidents* flags
  u8 channels;
  u8 connection;
  u8 iccid[UiccFiles::kIccidSize];  // EF.ICCID as read (all FF when unreadable): digits when rendered
};

constexpr u8 kIncidentsShown = 0x01;
constexpr u8 kIncidentsDamaged = 0x02;
static_assert(sizeof(StatusSnapshot) <= http::kExtensionStateSize);

struct UploadState {
  u32 crc;
  u32 length;
};
static_assert(sizeof(UploadState) <= http::kExtensionStateSize);

std::string_view render_status(const StatusSnapshot& s, std::span<char> out) noexcept {
  char digits[2 * UiccFiles::kIccidSize];
  const std::size_t n = iccid_digits(Bytes(s.iccid, sizeof s.iccid), std::span<char>(digits));
  http::TextBuilder b(out);
  b.text("{\"iccid\":\"").json_escaped(std::string_view(digits, n)).text("\",\"channels_in_use\":");
  b.number(s.channels).text(",\"ram\":{\"capacity\":").number(s.ram_capacity).text(",\"in_use\":");
  b.number(s.ram_in_use).text(",\"high_water\":").number(s.ram_high_water).text("},\"nvm_free\":");
  b.number(s.nvm_free);
  if ((s.incidents & kIncidentsShown) != 0) {
    b.text(",\"incidents\":{\"count\":").number(s.incidents_count).text(",\"dropped\":").number(s.incidents_dropped);
    b.text(",\"damaged\":").text((s.incidents & kIncidentsDamaged) != 0 ? "true" : "false").text("}");
  }
  if (s.self != nullptr) s.self->render_card_figures(s.connection, b);
  if (s.self != nullptr && s.self->part() != nullptr) s.self->part()->status_render(s.connection, b);
  b.text("}");
  return b.ok() ? b.view() : std::string_view{};
}

constexpr std::size_t kStatusJsonRoom = StatusExtension::kMaxJson + StatusExtension::kMaxPartJson;

Result<std::size_t, http::BodyError> status_content(void* state, u32 offset, MutableBytes out) noexcept {
  char json[kStatusJsonRoom];
  const std::string_view text = render_status(*static_cast<const StatusSnapshot*>(state), json);
  return http::copy_slice(http::as_bytes(text), offset, out);
}

std::string_view render_upload(const UploadState& s, std::span<char> out) noexcept {
  http::TextBuilder b(out);
  b.text("{\"length\":").number(s.length).text(",\"crc32\":\"").hex32(s.crc).text("\"}");
  return b.view();
}

Result<std::size_t, http::BodyError> upload_content(void* state, u32 offset, MutableBytes out) noexcept {
  char json[48];
  const std::string_view text = render_upload(*static_cast<const UploadState*>(state), json);
  return http::copy_slice(http::as_bytes(text), offset, out);
}

// Reads every body byte available now through the CRC; answers once the body is complete.
void upload_step(http::HttpRequest& request, http::HttpResponse& response) noexcept {
  auto* s = request.state_as<UploadState>();
  u8 piece[64];
  for (std::size_t n = request.read_body(piece); n != 0; n = request.read_body(piece)) {
    s->crc = crc32(Bytes(piece, n), s->crc);
    s->length += static_cast<u32>(n);
  }
  if (!request.body_complete()) return;
  char json[48];
  response.set_content_type("application/json");
  response.send(upload_content, static_cast<u32>(render_upload(*s, json).size()));
}

}  // namespace

std::size_t iccid_digits(Bytes ef, std::span<char> out) noexcept {
  std::size_t n = 0;
  for (u8 b : ef) {
    const u8 nibbles[2] = {static_cast<u8>(b & 0x0F), static_cast<u8>(b >> 4)};
    for (u8 d : nibbles) {
      if (d > 9 || n == out.size()) return n;  // F filler ends the number
      out[n++] = static_cast<char>('0' + d);
    }
  }
  return n;
}

void StatusExtension::do_get(http::HttpRequest& request, http::HttpResponse& response) noexcept {
  auto* s = request.state_as<StatusSnapshot>();
  *s = StatusSnapshot{};
  std::fill(std::begin(s->iccid), std::end(s->iccid), u8{0xFF});  // no digits until EF.ICCID is read
  if (ctx_ != nullptr) {
    Arena& arena = ctx_->arena();
    s->ram_capacity = static_cast<u32>(arena.capacity());
    s->ram_in_use = static_cast<u32>(arena.in_use());
    s->ram_high_water = static_cast<u32>(arena.high_water());
    s->nvm_free = ctx_->objects().free_bytes();
    if (!ctx_->objects().read(UiccFiles::kObjectEfIccid, 0, MutableBytes(s->iccid, sizeof s->iccid)))
      std::fill(std::begin(s->iccid), std::end(s->iccid), u8{0xFF});
  }
  if (incidents_ != nullptr) {
    // A queue that cannot be read now reports as damaged too: an administrator should look.
    auto summary = incidents_->summary();
    s->incidents = static_cast<u8>(kIncidentsShown | (!summary || summary->damaged_at_power_up ? kIncidentsDamaged : 0));
    if (summary) {
      s->incidents_count = summary->count;
      s->incidents_dropped = summary->dropped;
    }
  }
  if (source_ != nullptr) {
    s->channels = static_cast<u8>(source_->channels_in_use());
    s->connection = static_cast<u8>(source_->current_connection());
  }
  s->self = this;
  if (ctx_ != nullptr && s->connection < StreamEndpoint::kMaxConnections) {
    Figures& f = figures_[s->connection];
    const CardTime& t = ctx_->time();
    f.uptime = t.uptime();
    f.now = t.now();
    f.from_terminal = t.from_terminal();
    const SecurityEvents& e = ctx_->events();
    f.slow = e.total(SecurityEventKind::kHttpSlowClient);
    f.idle = e.total(SecurityEventKind::kHttpIdleClient);
    f.auth = e.total(SecurityEventKind::kHttpAuthFailure);
    f.malformed = e.total(SecurityEventKind::kHttpMalformed);
  }
  if (part_ != nullptr) part_->status_snapshot(s->connection);
  char json[kStatusJsonRoom];
  const std::string_view text = render_status(*s, json);
  if (text.empty()) return response.send_error(http::HttpStatus::kInternalServerError);
  response.set_content_type("application/json");
  response.add_header("Cache-Control", "no-store");
  response.send(status_content, static_cast<u32>(text.size()));
}

void StatusExtension::render_card_figures(std::size_t connection, http::TextBuilder& b) const noexcept {
  if (connection >= StreamEndpoint::kMaxConnections) return;
  const Figures& f = figures_[connection];
  b.text(",\"time\":{\"uptime\":").number(f.uptime).text(",\"now\":").number(f.now);
  b.text(",\"from_terminal\":").text(f.from_terminal ? "true" : "false");
  b.text("},\"http\":{\"slow_clients\":").number(f.slow).text(",\"idle_clients\":").number(f.idle);
  b.text(",\"auth_failures\":").number(f.auth).text(",\"malformed\":").number(f.malformed).text("}");
}

void UploadExtension::do_post(http::HttpRequest& request, http::HttpResponse& response) noexcept {
  upload_step(request, response);
}

void UploadExtension::on_body(http::HttpRequest& request, http::HttpResponse& response) noexcept {
  upload_step(request, response);
}

}  // namespace scws::card
