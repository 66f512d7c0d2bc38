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
// APDUs (proprietary class 80, or its logical-channel forms; INS even and outside 6X/9X,
// which T=0 would read as procedure bytes (ISO/IEC 7816-3); none the dispatcher keeps for itself):
//   QUEUE SUMMARY     80 50 00 00 [Le]        -> 20 bytes: capacity, count, flags (b1: the queue
//                                               was damaged at power-up), 00, first sequence u32,
//                                               last sequence u32, next sequence u32, dropped u32
//   READ INCIDENT     80 52 <index> 00 [Le]   -> the 60-byte record of incident <index> (0 = oldest)
//   ACKNOWLEDGE       80 54 00 00 04 <seq>    -> incidents with sequence <= seq leave the queue
//   READ SETTINGS     80 56 00 00 [Le]        -> the detection settings (DefenceControl)
//   WRITE SETTINGS    80 58 00 00 Lc <data>   -> new detection settings
//   READ PORT STATES  80 5A 00 00 [Le]        -> each guarded port's state
//   SET PORT          80 5C <00 close | 01 open> 00 02 <port u16>
// Errors: another class 6E 00, another INS 6D 00, P1 P2 not as above 6A 86, data where none belongs
// or of the wrong length 67 00, an index beyond the queue 6A 83, a sequence not yet assigned 6A 80,
// the last four without a DefenceControl 6A 81, a damaged queue 65 81.
//
// RAM: the two pointers below.
#pragma once

#include "base/bytes.hpp"
#include "base/result.hpp"
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
  static constexpr u8 kSetPortClose = 0x00;
  static constexpr u8 kSetPortOpen = 0x01;
  static constexpr u8 kSummaryFlagDamaged = 0x01;
  static constexpr std::size_t kSummarySize = 20;

  // queue: the card's incident queue (the applet powers it up); control: the attack detection, or
  // nullptr for none. Both must outlive the card.
  explicit AdminApplet(IncidentQueue& queue, DefenceControl* control = nullptr) noexcept
      : queue_(queue), control_(control) {}

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

  IncidentQueue& queue_;
  DefenceControl* control_;
};

}  // namespace scws::card
