// The card's one command dispatcher: parses each C-APDU (apdu/command_apdu.hpp), routes it to the
// card OS (logical channels, selection, UICC files, STATUS), to the toolkit hook (CAT commands) or
// to the applet selected on the command's channel, and alone turns results into status words.
//
// Routing (first match wins):
//   CLA not a class the card knows                  -> 6E00 (to_status_word(kClaNotSupported))
//   channel (from CLA) beyond SCWS_LOGICAL_CHANNELS or not open -> 6881
//   00/4X/6X 70        MANAGE CHANNEL  (ISO 7816-4 11.1.2)
//   00/4X/6X/A0 A4 04  SELECT by DF name = applet selection (ISO 7816-4 11.2.2, 7.1.1)
//   00/4X/6X/A0 A4 00/08/09  SELECT file (TS 102 221 11.1.1): deselects the channel's applet
//   80/CX/EX/A0 F2     STATUS (TS 102 221 11.1.2): of the ADF when an applet is selected, else the MF
//   80/CX/EX/A0 10 12 14 C2  TERMINAL PROFILE, FETCH, TERMINAL RESPONSE, ENVELOPE -> Toolkit
//   00/4X/6X/A0 20 P1 0A  VERIFY of ADM1 (TS 102 221 11.1.9) -> the card OS (card/os/adm_key.hpp),
//                      also when an applet is selected; VERIFY of another key with no applet -> 6A88
//   anything else, when an applet is selected on the channel -> Applet::process (Java Card style);
//                      a security refusal (69 82, 69 83, 69 85) is a command-refused security event
//   00/4X/6X/A0 B0 B2 D6 READ BINARY, READ RECORD, UPDATE BINARY -> UICC files
//   otherwise -> 6D00
//
// Lengths: a command longer than the APDU buffer -> 6700. Response data is limited by the APDU
// buffer and truncated to Ne (no 6C XX: a shorter Le simply gets fewer bytes). A command without
// an Le field gets the whole response as if Le were 00: over vpcd nothing sends GET RESPONSE, and
// PC/SC tools send case 3 SELECTs expecting the FCP (e.g. opensc-tool -s '00 A4 00 04 02 3F 00').
// After every command: a transaction left open is aborted; a 90 00 becomes 91 XX when the toolkit
// has a proactive command pending.
#pragma once

#include <array>
#include <cstddef>
#include <span>

#include "apdu/command_apdu.hpp"
#include "apdu/status_word.hpp"
#include "base/bytes.hpp"
#include "card/os/applet.hpp"
#include "card/os/card_context.hpp"
#include "card/os/card_error.hpp"
#include "card/os/toolkit_hook.hpp"
#include "card/os/transient.hpp"
#include "card/os/uicc_files.hpp"
#include "scws_config.hpp"

namespace scws::card {

// The one mapping from card errors to status words (ISO 7816-4 5.6, TS 102 221 10.2).
apdu::StatusWord to_status_word(CardError e) noexcept;

inline constexpr u8 kNoApplet = 0xFF;

struct AppletSlot {
  Applet* applet = nullptr;
  bool installed = false;  // recorded in the image's list of installed applets
  bool available = false;  // installed and powered up in this session: selectable
};

struct ChannelState {
  bool open = false;
  u8 applet = kNoApplet;  // slot of the applet selected on the channel
  FileSelection files;    // current EF when no applet is selected
};

class Dispatcher {
 public:
  static constexpr std::size_t kChannels = SCWS_LOGICAL_CHANNELS;
  static constexpr std::size_t kMaxChannelNumber = 19;  // ISO 7816-4 5.4.2: channels 0..19
  static constexpr std::size_t kMaxApplets = 8;
  static_assert(kChannels >= 1 && kChannels <= kMaxChannelNumber + 1);
  static_assert(kMaxApplets <= UiccFiles::kDirRecords, "one EF.DIR record per applet");
  static_assert(kMaxApplets < kNoApplet && kMaxApplets < TransientMemory::kNoOwner);

  Dispatcher(CardContext& ctx, UiccFiles& files, TransientMemory& transient, Toolkit& toolkit) noexcept
      : ctx_(ctx), files_(files), transient_(transient), toolkit_(&toolkit) {}
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // Registry (before power-up): false when full, the AID is not 1..16 bytes, or already registered.
  bool add_applet(Applet& applet) noexcept;
  std::span<AppletSlot> applets() noexcept { return std::span<AppletSlot>(slots_.data(), count_); }
  void set_toolkit(Toolkit& toolkit) noexcept { toolkit_ = &toolkit; }
  Toolkit& toolkit() noexcept { return *toolkit_; }

  // Power-up: the basic channel open with the MF selected, every other channel closed; commands
  // are received into apdu_buffer. stop(): power lost, nothing is called (RAM is gone).
  void start(MutableBytes apdu_buffer) noexcept;
  void stop() noexcept;
  [[nodiscard]] bool started() const noexcept { return started_; }

  // One C-APDU in, response data + SW1 SW2 out; returns the response size (>= 2), or 0 when
  // response has fewer than 2 bytes.
  std::size_t process(Bytes command, MutableBytes response) noexcept;
  // Writes just the status word of `e` (for a card that cannot process commands).
  static std::size_t error_response(CardError e, MutableBytes response) noexcept;

  [[nodiscard]] bool channel_open(u8 channel) const noexcept {
    return channel < kChannels && channels_[channel].open;
  }
  [[nodiscard]] u8 selected_applet(u8 channel) const noexcept {
    return channel < kChannels ? channels_[channel].applet : kNoApplet;
  }

 private:
  Result<ApduOutcome, CardError> route(const apdu::CommandApdu& c, MutableBytes out) noexcept;
  Result<ApduOutcome, CardError> manage_channel(u8 channel, const apdu::CommandApdu& c, MutableBytes out) noexcept;
  Result<ApduOutcome, CardError> select_applet(u8 channel, const apdu::CommandApdu& c, MutableBytes out) noexcept;
  Result<ApduOutcome, CardError> select_file(u8 channel, const apdu::CommandApdu& c, MutableBytes out) noexcept;
  Result<ApduOutcome, CardError> to_toolkit(u8 channel, const apdu::CommandApdu& c, MutableBytes out) noexcept;
  // Deselects the applet selected on `channel`, if any; clears its CLEAR_ON_DESELECT memory once
  // it is selected nowhere.
  void deselect(u8 channel) noexcept;
  [[nodiscard]] bool selected_elsewhere(u8 slot, u8 channel) const noexcept;
  void abort_open_transaction(const char* after) noexcept;

  CardContext& ctx_;
  UiccFiles& files_;
  TransientMemory& transient_;
  Toolkit* toolkit_;
  std::array<AppletSlot, kMaxApplets> slots_{};
  std::size_t count_ = 0;
  std::array<ChannelState, kChannels> channels_{};
  MutableBytes apdu_buffer_;
  bool started_ = false;
};

}  // namespace scws::card
