// The admin applet: the card's incident queue (card/defence/incident_queue.hpp) and its attack
// detection's settings and port states (card/defence/defence_control.hpp) as APDUs, for an
// administrator. Bytes and a `scws apdu` session: README.md and docs/protocol.md section 15.
//
// Access (TS 102 221 9.5.1): every command reads or changes security state, so every one needs the
// administrative key ADM1 verified in this card session (VERIFY 00 20 00 0A 08 <key>, answered by
// the card OS whatever is selected), or the card's own admin session (CardContext::administrator()).
// Otherwise 69 82 and nothing is read or changed: a local application with PC/SC access and no key
// can neither read nor erase an incident.
//
// APDUs (proprietary class 80, or its logical-channel forms; INS even and outside 6X and 9X, which
// T=0 would read as procedure bytes (ISO/IEC 7816-3 10.3.3); none the dispatcher keeps for itself):
//   QUEUE SUMMARY     80 50 00 00 [Le]        -> 20 bytes: capacity, count, flags (b1: the queue
//                                               was damaged at power-up), 00, first sequence u32,
//                                               last sequence u32, next sequence u32, dropped u32
//   READ INCIDENT     80 52 <index> 00 [Le]   -> the 60-byte record of incident <index> (0 = oldest)
//   ACKNOWLEDGE       80 54 00 00 04 <seq>    -> incidents with sequence <= seq leave the queue
//   READ SETTINGS     80 56 00 00 [Le]        -> the detection settings (DefenceControl)
//   WRITE SETTINGS    80 58 00 00 Lc <data>   -> new detection settings
//   READ PORT STATES  80 5A 00 00 [Le]        -> each guarded port's state
//   SET PORT          80 5C <00 close | 01 open> 00 02 <port u16>
// The remote administration commands (docs/protocol.md 16.6; each one transaction, each setting an
// absolute state, so running one twice leaves the card as running it once):
//   PUT RESOURCE      80 72 00 00 Lc <length u32, path length u8, path, type length u8, type>  begin
//                     80 72 01 00 Lc <bytes>                                   the next body bytes
//                     80 72 02 00                                              publish
//   DELETE RESOURCE   80 74 00 00 Lc <path>
//   PUT USER          80 76 00 00 Lc <name length u8, name, password length u8, password,
//                                     set count u8, { set name length u8, set name }>
//   DELETE USER       80 78 00 00 Lc <name>
//   PUT REMOTE NODES  80 7A 00 00 Lc <list (card/defence/remote_nodes.hpp)>
//   READ REMOTE NODES 80 7C 00 00 [Le]        -> the list (01 00 when none was put)
//   ROTATE PSK        80 7E 00 00 Lc <key>    the admin link's key (card/defence/admin_link.hpp)
//                     80 7E 01 00 Lc <identity length u8, identity, key length u8, key>  a TLS port PSK
//   START SESSION     80 70 00 00             a session with the administration server now
// PUT RESOURCE stages the body in its own object (card/defence/resource_staging.hpp) and publishes it
// through the ContentControl; users and TLS PSKs go through the ContentControl too.
// Errors: another class 6E 00, another INS 6D 00, P1 P2 not as above 6A 86, data where none belongs
// or of the wrong length 67 00, an index beyond the queue 6A 83, a sequence not yet assigned 6A 80,
// the detection commands without a DefenceControl, the content commands without a ContentControl
// and START SESSION without an AdminSessionControl 6A 81, a damaged queue 65 81; for the remote
// administration commands also 6A 80 a malformed body or a value out of range, 6A 84 no room in
// NVM, 69 85 PUBLISH without a complete staged resource, 6A 82 a protection set the card does not
// have, 6A 88 no such resource, user or link PSK.
//
// RAM: the four pointers below; the commands use the stack only (a 240-byte copy buffer at PUBLISH).
#pragma once

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "card/defence/admin_session_control.hpp"
#include "card/defence/content_control.hpp"
#include "card/defence/defence_control.hpp"
#include "card/defence/incident_queue.hpp"
#include "card/os/applet.hpp"
#include "card/os/card_context.hpp"

namespace scws::card {

class AdminApplet final : public Applet {
 public:
  // F0: an unregistered proprietary RID (ISO/IEC 7816-5 5.2), as the SCWS applet's
  // F0 53 43 57 53 01; then "SCWS" and 'A' for admin.
  static constexpr u8 kAid[] = {0xF0, 0x53, 0x43, 0x57, 0x53, 0x41};
  static constexpr u8 kLabel[] = {'S', 'C', 'W', 'S', ' ', 'A', 'D', 'M', 'I', 'N'};
  static constexpr u8 kInsQueueSummary = 0x50;
  static constexpr u8 kInsReadIncident = 0x52;
  static constexpr u8 kInsAcknowledge = 0x54;
  static constexpr u8 kInsReadSettings = 0x56;
  static constexpr u8 kInsWriteSettings = 0x58;
  static constexpr u8 kInsReadPortStates = 0x5A;
  static constexpr u8 kInsSetPort = 0x5C;
  static constexpr u8 kInsPutResource = 0x72;
  static constexpr u8 kInsDeleteResource = 0x74;
  static constexpr u8 kInsPutUser = 0x76;
  static constexpr u8 kInsDeleteUser = 0x78;
  static constexpr u8 kInsPutRemoteNodes = 0x7A;
  static constexpr u8 kInsReadRemoteNodes = 0x7C;
  static constexpr u8 kInsRotatePsk = 0x7E;
  static constexpr u8 kInsStartSession = 0x70;
  static constexpr u8 kPutResourceBegin = 0x00;
  static constexpr u8 kPutResourceData = 0x01;
  static constexpr u8 kPutResourcePublish = 0x02;
  static constexpr u8 kRotateLinkPsk = 0x00;
  static constexpr u8 kRotateTlsPsk = 0x01;
  static constexpr u8 kSetPortClose = 0x00;
  static constexpr u8 kSetPortOpen = 0x01;
  static constexpr u8 kSummaryFlagDamaged = 0x01;
  static constexpr std::size_t kSummarySize = 20;

  // queue: the card's incident queue (the applet powers it up); control: the attack detection, or
  // nullptr for none. Both must outlive the card.
  explicit AdminApplet(IncidentQueue& queue, DefenceControl* control = nullptr) noexcept
      : queue_(queue), control_(control) {}

  // Before power-up, both optional (they must outlive the card): the SCWS stores the content and
  // user commands change (without one they answer 6A 81), and the card's admin agent START SESSION
  // asks for a session (without one 6A 81).
  void set_content_control(ContentControl* content) noexcept { content_ = content; }
  void set_session_control(AdminSessionControl* session) noexcept { session_ = session; }

  [[nodiscard]] Bytes aid() const noexcept override { return Bytes(kAid, sizeof kAid); }
  [[nodiscard]] Bytes label() const noexcept override { return Bytes(kLabel, sizeof kLabel); }
  // Nothing to create: the queue object comes with the image (or with the first power-up).
  Status<CardError> install(CardContext& ctx) noexcept override;
  // Powers the incident queue up (its check of a damaged queue, its creation in an older image).
  Status<CardError> on_power_up(CardContext& ctx) noexcept override;
  bool select(CardContext& ctx, u8 channel) noexcept override;
  void deselect(CardContext& ctx, u8 channel) noexcept override;
  Result<ApduOutcome, CardError> process(CardContext& ctx, const ApduRequest& request) noexcept override;

  // The summary's 20 bytes (docs/protocol.md section 15); 0 when out is too small.
  static std::size_t write_summary(const IncidentQueueSummary& s, MutableBytes out) noexcept;

 private:
  Result<ApduOutcome, CardError> queue_command(const apdu::CommandApdu& c, MutableBytes out) noexcept;
  Result<ApduOutcome, CardError> control_command(CardContext& ctx, const apdu::CommandApdu& c, MutableBytes out) noexcept;

  Result<ApduOutcome, CardError> admin_command(CardContext& ctx, const apdu::CommandApdu& c, MutableBytes out) noexcept;
  Status<CardError> put_resource(CardContext& ctx, const apdu::CommandApdu& c) noexcept;
  Status<CardError> publish_resource(CardContext& ctx) noexcept;
  Status<CardError> put_user(CardContext& ctx, Bytes data) noexcept;
  Status<CardError> rotate_psk(CardContext& ctx, const apdu::CommandApdu& c) noexcept;

  IncidentQueue& queue_;
  DefenceControl* control_;
  ContentControl* content_ = nullptr;
  AdminSessionControl* session_ = nullptr;
};

// Every INS above is even and outside 6X and 9X: T=0 would read those as procedure bytes
// (ISO/IEC 7816-3 10.3.3), and a card in a T=0 terminal could not be sent them.
constexpr bool admin_ins_t0_safe(u8 ins) noexcept {
  return (ins & 0x01) == 0 && (ins & 0xF0) != 0x60 && (ins & 0xF0) != 0x90;
}
static_assert(admin_ins_t0_safe(AdminApplet::kInsQueueSummary) && admin_ins_t0_safe(AdminApplet::kInsReadIncident) &&
              admin_ins_t0_safe(AdminApplet::kInsAcknowledge) && admin_ins_t0_safe(AdminApplet::kInsReadSettings) &&
              admin_ins_t0_safe(AdminApplet::kInsWriteSettings) && admin_ins_t0_safe(AdminApplet::kInsReadPortStates) &&
              admin_ins_t0_safe(AdminApplet::kInsSetPort) && admin_ins_t0_safe(AdminApplet::kInsPutResource) &&
              admin_ins_t0_safe(AdminApplet::kInsDeleteResource) && admin_ins_t0_safe(AdminApplet::kInsPutUser) &&
              admin_ins_t0_safe(AdminApplet::kInsDeleteUser) && admin_ins_t0_safe(AdminApplet::kInsPutRemoteNodes) &&
              admin_ins_t0_safe(AdminApplet::kInsReadRemoteNodes) && admin_ins_t0_safe(AdminApplet::kInsRotatePsk) &&
              admin_ins_t0_safe(AdminApplet::kInsStartSession));

}  // namespace scws::card
