// A worked example of a vendor applet (docs/extending.md): one short text note kept in NVM and
// offered two ways, as APDUs to the applet selected by its AID and as the servlet-style HTTP
// extension /note of the Smart Card Web Server.
//
// APDUs (proprietary class 80 on any logical channel the applet is selected on; P1 P2 = 00 00):
//   PUT NOTE  80 DA 00 00 Lc <note>   replaces the note (0..kMaxNote bytes; Lc 0 clears it) -> 90 00
//   GET NOTE  80 CA 00 00 Le          the note                                            -> note 90 00
// A note longer than kMaxNote is 67 00, other P1 P2 6A 86, another INS 6D 00, another class 6E 00.
//
// HTTP (http/extension.hpp; the host registers the applet with ScwsApplet::add_extension(kPath, ...),
// and a protection set on "/note" in the profile guards it like any static resource):
//   GET /note, HEAD /note   200, text/plain, the note
//   PUT /note               the request body becomes the note: 204; more than kMaxNote bytes 413;
//                           a later writer (another PUT, or PUT NOTE) supersedes an upload still
//                           in progress, which then gets 503
//
// NVM: one object kNoteObject holding two slots. A writer fills the slot that is not current, then
// makes it current by rewriting the small header in one transaction, so the note a reader sees is
// always a whole old note or a whole new one, even when an HTTP body arrives over many APDUs or the
// power fails (each of those APDUs ends its own transactions). Layout, big-endian:
//   +0 magic "NOT1"   +4 current slot u8 (0 or 1)   +5 zero
//   +6 slot 0 length u16   +8 slot 1 length u16   +10 slot 0 bytes (kMaxNote)   +10+kMaxNote slot 1
//
// RAM: the members below only (no arena use); they are rebuilt at every power-up.
#pragma once

#include <cstddef>
#include <string_view>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "card/os/applet.hpp"
#include "card/os/card_context.hpp"
#include "http/extension.hpp"

namespace scws::card::examples {

class NoteApplet final : public Applet, public http::Extension {
 public:
  // F0: an unregistered proprietary RID (ISO/IEC 7816-5 5.2), then "NOTE" and a version byte.
  static constexpr u8 kAid[] = {0xF0, 0x4E, 0x4F, 0x54, 0x45, 0x01};
  static constexpr u8 kLabel[] = {'N', 'O', 'T', 'E'};
  static constexpr u8 kInsPutNote = 0xDA;
  static constexpr u8 kInsGetNote = 0xCA;
  static constexpr std::string_view kPath = "/note";
  static constexpr std::size_t kMaxNote = 200;
  static_assert(kMaxNote <= 255, "PUT NOTE and GET NOTE carry the note in one short APDU");

  // The vendor's own ObjectStore id range (docs/extending.md section 2).
  static constexpr u32 kNoteObject = 0x30000001;
  static constexpr u32 kMagic = 0x4E4F5431;  // "NOT1"
  static constexpr u32 kCurrentOffset = 4;
  static constexpr u32 kLengthOffset = 6;  // slot s: kLengthOffset + 2 * s
  static constexpr u32 kSlotOffset = 10;   // slot s: kSlotOffset + kMaxNote * s
  static constexpr u32 kObjectSize = kSlotOffset + 2 * kMaxNote;

  // Applet
  [[nodiscard]] Bytes aid() const noexcept override { return Bytes(kAid, sizeof kAid); }
  [[nodiscard]] Bytes label() const noexcept override { return Bytes(kLabel, sizeof kLabel); }
  Status<CardError> install(CardContext& ctx) noexcept override;
  Status<CardError> on_power_up(CardContext& ctx) noexcept override;
  bool select(CardContext& ctx, u8 channel) noexcept override;
  void deselect(CardContext& ctx, u8 channel) noexcept override;
  Result<ApduOutcome, CardError> process(CardContext& ctx, const ApduRequest& request) noexcept override;

  // http::Extension
  void do_get(http::HttpRequest& request, http::HttpResponse& response) noexcept override;
  void do_put(http::HttpRequest& request, http::HttpResponse& response) noexcept override;
  void on_body(http::HttpRequest& request, http::HttpResponse& response) noexcept override;
  [[nodiscard]] std::string_view allowed_methods() const noexcept override { return "GET, HEAD, PUT, OPTIONS"; }

  // The current note copied into out (at least kMaxNote bytes); returns its length. For tests and
  // other on-card code. kTechnicalProblem before power-up.
  Result<std::size_t, CardError> read_note(MutableBytes out) noexcept;

 private:
  struct Current {
    u8 slot = 0;
    u16 length = 0;
  };
  Result<Current, CardError> current() noexcept;
  // The other slot starts being rewritten: a new writer ticket, and readers of that slot stop.
  u32 claim_spare(u8 slot) noexcept;
  Status<CardError> write_spare(u8 slot, u32 offset, Bytes piece) noexcept;
  Status<CardError> make_current(u8 slot, u16 length) noexcept;
  void upload_step(http::HttpRequest& request, http::HttpResponse& response) noexcept;
  static Result<std::size_t, http::BodyError> note_content(void* state, u32 offset, MutableBytes out) noexcept;

  CardContext* ctx_ = nullptr;
  u32 writer_ = 0;         // ticket of the one writer allowed to fill the spare slot
  u32 epoch_[2] = {0, 0};  // changes whenever a slot's bytes may change: responses check theirs
};

}  // namespace scws::card::examples
