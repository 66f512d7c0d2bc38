#include "card/os/dispatcher.hpp"

#include "apdu/instruction.hpp"

#include <cstring>

namespace scws::card {

using apdu::Ins;
using apdu::StatusWord;

StatusWord to_status_word(CardError e) noexcept {
  switch (e) {
    case CardError::kWrongLength: return StatusWord::kWrongLength;
    case CardError::kLogicalChannelNotSupported: return StatusWord::kLogicalChannelNotSupported;
    case CardError::kCommandIncompatibleWithFile: return StatusWord::kCommandIncompatibleWithFile;
    case CardError::kSecurityStatusNotSatisfied: return StatusWord::kSecurityStatusNotSatisfied;
    case CardError::kAuthenticationBlocked: return StatusWord::kAuthenticationBlocked;
    case CardError::kConditionsNotSatisfied: return StatusWord::kConditionsNotSatisfied;
    case CardError::kCommandNotAllowedNoEf: return StatusWord::kCommandNotAllowedNoEf;
    case CardError::kAppletSelectFailed: return StatusWord::kAppletSelectFailed;
    case CardError::kWrongData: return StatusWord::kWrongData;
    case CardError::kFunctionNotSupported: return StatusWord::kFunctionNotSupported;
    case CardError::kFileNotFound: return StatusWord::kFileNotFound;
    case CardError::kRecordNotFound: return StatusWord::kRecordNotFound;
    case CardError::kNotEnoughMemory: return StatusWord::kNotEnoughMemory;
    case CardError::kIncorrectP1P2: return StatusWord::kIncorrectP1P2;
    case CardError::kReferencedDataNotFound: return StatusWord::kReferencedDataNotFound;
    case CardError::kWrongP1P2: return StatusWord::kWrongP1P2;
    case CardError::kInsNotSupported: return StatusWord::kInsNotSupported;
    case CardError::kClaNotSupported: return StatusWord::kClaNotSupported;
    case CardError::kMemoryFailure: return StatusWord::kMemoryFailure;
    case CardError::kToolkitBusy: return StatusWord::kToolkitBusy;
    case CardError::kTechnicalProblem: return StatusWord::kTechnicalProblem;
  }
  return StatusWord::kTechnicalProblem;
}

namespace {

// Classes the card knows (ISO 7816-4 5.4.1, TS 102 221 10.1.1 table 10.3).
enum class ClaKind : u8 {
  kUnknown,
  kInterindustry,  // 00-03 (no secure messaging, no chaining), 4X and 6X (channels 4-19)
  kProprietary,    // 8X, CX, EX: TS 102 221 UICC and CAT commands; applets' own commands
  kGsm,            // A0-A3: the GSM class (TS 51.011), accepted for both ISO and UICC commands
};

constexpr ClaKind classify(u8 cla) noexcept {
  switch (cla & 0xF0) {
    case 0x00: return (cla & 0x0C) == 0 ? ClaKind::kInterindustry : ClaKind::kUnknown;
    case 0x40:
    case 0x60: return ClaKind::kInterindustry;
    case 0x80:
    case 0xC0:
    case 0xE0: return ClaKind::kProprietary;
    case 0xA0: return (cla & 0x0C) == 0 ? ClaKind::kGsm : ClaKind::kUnknown;
    default: return ClaKind::kUnknown;
  }
}

// What an applet answers when it refuses a command for security reasons (not a malformed one).
constexpr bool refusal(CardError e) noexcept {
  return e == CardError::kSecurityStatusNotSatisfied || e == CardError::kAuthenticationBlocked ||
         e == CardError::kConditionsNotSatisfied;
}

constexpr bool aid_has_prefix(Bytes aid, Bytes prefix) noexcept {
  return prefix.size() <= aid.size() && bytes_equal(aid.first(prefix.size()), prefix);
}

}  // namespace

bool Dispatcher::add_applet(Applet& applet) noexcept {
  const Bytes aid = applet.aid();
  if (count_ == kMaxApplets || aid.empty() || aid.size() > UiccFiles::kMaxAidSize) return false;
  for (std::size_t i = 0; i < count_; ++i)
    if (bytes_equal(slots_[i].applet->aid(), aid)) return false;
  slots_[count_++] = AppletSlot{&applet, false, false};
  return true;
}

void Dispatcher::start(MutableBytes apdu_buffer) noexcept {
  apdu_buffer_ = apdu_buffer;
  channels_.fill(ChannelState{});
  channels_[0].open = true;  // the basic channel is always open (ISO 7816-4 5.4.2)
  started_ = true;
}

void Dispatcher::stop() noexcept {
  started_ = false;
  apdu_buffer_ = {};
  channels_.fill(ChannelState{});
}

std::size_t Dispatcher::error_response(CardError e, MutableBytes response) noexcept {
  if (response.size() < 2) return 0;
  return apdu::put_status(response, 0, apdu::to_u16(to_status_word(e)));
}

std::size_t Dispatcher::process(Bytes command, MutableBytes response) noexcept {
  if (response.size() < 2) return 0;
  if (!started_) return error_response(CardError::kTechnicalProblem, response);
  if (command.size() > apdu_buffer_.size()) return error_response(CardError::kWrongLength, response);
  // The command is received into the card's APDU buffer, as on a real card.
  if (!command.empty()) std::memcpy(apdu_buffer_.data(), command.data(), command.size());
  auto parsed = apdu::parse_command_apdu(Bytes(apdu_buffer_.data(), command.size()));
  if (!parsed) {
    switch (parsed.error()) {
      case apdu::ApduError::kInvalidCla:
        return error_response(CardError::kClaNotSupported, response);
      case apdu::ApduError::kTooShort:
      case apdu::ApduError::kLengthMismatch:
      case apdu::ApduError::kBadExtendedLength:
        return error_response(CardError::kWrongLength, response);
    }
    return error_response(CardError::kWrongLength, response);
  }
  const apdu::CommandApdu& c = *parsed;
  // Response data never exceeds what the APDU buffer could hold.
  MutableBytes room = response.first(response.size() - 2);
  if (room.size() > apdu_buffer_.size()) room = room.first(apdu_buffer_.size());

  auto outcome = route(c, room);
  abort_open_transaction("command");
  ctx_.os_set_channel(0);

  u16 sw = 0;
  std::size_t n = 0;
  if (!outcome) {
    sw = apdu::to_u16(to_status_word(outcome.error()));
  } else {
    n = outcome->length > room.size() ? room.size() : outcome->length;
    if (c.has_le && n > c.ne) n = c.ne;  // ISO 7816-4 5.1: at most Ne bytes
    switch (outcome->completion) {
      case Completion::kNormal: {
        sw = apdu::to_u16(StatusWord::kOk);
        const u8 pending = toolkit_->pending_proactive_length();
        if (pending != 0) sw = apdu::with_length(StatusWord::kProactivePending, pending);
        break;
      }
      case Completion::kEndOfFile:
        sw = apdu::to_u16(StatusWord::kWarningEndOfFile);
        break;
      case Completion::kWrongLe:
        sw = apdu::with_length(StatusWord::kWrongLe, static_cast<u8>(outcome->length));
        n = 0;
        break;
      case Completion::kRetriesLeft:
        sw = apdu::with_retries(StatusWord::kVerificationFailed, static_cast<u8>(outcome->length));
        n = 0;
        break;
    }
  }
  if (ctx_.trace().enabled())
    ctx_.trace()("apdu %02X %02X %02X %02X Lc=%zu -> %zu bytes %04X", c.cla, c.ins, c.p1, c.p2, c.data.size(), n, sw);
  return apdu::put_status(response, n, sw);
}

Result<ApduOutcome, CardError> Dispatcher::route(const apdu::CommandApdu& c, MutableBytes out) noexcept {
  const ClaKind kind = classify(c.cla);
  bool iso = false;          // ISO 7816-4 commands (MANAGE CHANNEL, SELECT, READ/UPDATE)
  bool proprietary = false;  // TS 102 221 STATUS and CAT commands
  switch (kind) {
    case ClaKind::kUnknown: return fail(CardError::kClaNotSupported);
    case ClaKind::kInterindustry: iso = true; break;
    case ClaKind::kProprietary: proprietary = true; break;
    case ClaKind::kGsm: iso = proprietary = true; break;
  }
  const u8 channel = apdu::channel_from_cla(c.cla);
  if (channel >= kChannels || !channels_[channel].open) return fail(CardError::kLogicalChannelNotSupported);
  ctx_.os_set_channel(channel);
  ChannelState& ch = channels_[channel];

  const Ins ins = static_cast<Ins>(c.ins);
  if (kind == ClaKind::kInterindustry && ins == Ins::kManageChannel) return manage_channel(channel, c, out);
  if (iso && ins == Ins::kSelect) {
    switch (c.p1) {
      case apdu::select_p1::kByDfName: return select_applet(channel, c, out);
      case apdu::select_p1::kByFileId:
      case apdu::select_p1::kPathFromMf:
      case apdu::select_p1::kPathFromCurrentDf: return select_file(channel, c, out);
      default:
        if (ch.applet == kNoApplet) return fail(CardError::kIncorrectP1P2);
        break;  // other SELECTs belong to the selected applet (Java Card)
    }
  }
  if (proprietary) {
    switch (ins) {
      case Ins::kStatus: {
        const Bytes adf = ch.applet == kNoApplet ? Bytes{} : slots_[ch.applet].applet->aid();
        return files_.status(adf, c, out);
      }
      case Ins::kTerminalProfile:
      case Ins::kFetch:
      case Ins::kTerminalResponse:
      case Ins::kEnvelope: return to_toolkit(channel, c, out);
      default: break;
    }
  }
  // VERIFY of the card's administrative key belongs to the card OS whatever is selected (TS 102 221
  // 9.5.1: ADM is a card-level key); other key references go to the selected applet.
  if (iso && ins == Ins::kVerify && (c.p2 == AdmKey::kKeyReference || ch.applet == kNoApplet))
    return files_.verify(c);
  if (ch.applet != kNoApplet) {
    const ApduRequest request{c, channel, out, false};
    auto result = slots_[ch.applet].applet->process(ctx_, request);
    if (!result && refusal(result.error())) {
      const u8 header[] = {c.cla, c.ins, c.p1, c.p2};
      ctx_.events().report(SecurityEventKind::kCommandRefused, SecurityEvents::kCardPort, 0xFF,
                           apdu::to_u16(to_status_word(result.error())), Bytes(header));
    }
    return result;
  }
  if (iso) {
    switch (ins) {
      case Ins::kReadBinary: return files_.read_binary(ch.files, c, out);
      case Ins::kReadRecord: return files_.read_record(ch.files, c, out);
      case Ins::kUpdateBinary: return files_.update_binary(ch.files, c);
      default: break;
    }
  }
  return fail(CardError::kInsNotSupported);
}

Result<ApduOutcome, CardError> Dispatcher::manage_channel(u8 channel, const apdu::CommandApdu& c,
                                                          MutableBytes out) noexcept {
  if (!c.data.empty()) return fail(CardError::kWrongLength);
  switch (c.p1) {
    case apdu::manage_channel_p1::kOpen: {  // P2 = 00 the card assigns the channel, else the channel wanted
      u8 target = 0;
      if (c.p2 == 0) {
        for (u8 i = 1; i < kChannels && target == 0; ++i)
          if (!channels_[i].open) target = i;
        if (target == 0) return fail(CardError::kLogicalChannelNotSupported);
      } else {
        if (c.p2 > kMaxChannelNumber) return fail(CardError::kIncorrectP1P2);
        if (c.p2 >= kChannels) return fail(CardError::kLogicalChannelNotSupported);
        if (channels_[c.p2].open) return fail(CardError::kConditionsNotSatisfied);
        target = c.p2;
      }
      // The new channel starts with the MF selected and no applet, whatever the origin channel.
      channels_[target] = ChannelState{};
      channels_[target].open = true;
      ctx_.trace()("channel %u opened (from channel %u)", unsigned{target}, unsigned{channel});
      ApduOutcome outcome;
      if (c.p2 == 0) {
        if (out.empty()) return fail(CardError::kTechnicalProblem);
        out[0] = target;
        outcome.length = 1;
      }
      return outcome;
    }
    case apdu::manage_channel_p1::kClose: {  // P2 = the channel, 00 = the channel of the command
      const u8 target = c.p2 == 0 ? channel : c.p2;
      if (target == 0 || target > kMaxChannelNumber) return fail(CardError::kIncorrectP1P2);
      if (target >= kChannels || !channels_[target].open) return fail(CardError::kLogicalChannelNotSupported);
      deselect(target);
      channels_[target] = ChannelState{};
      ctx_.os_set_channel(channel);
      ctx_.trace()("channel %u closed", unsigned{target});
      return ApduOutcome{};
    }
    default:
      return fail(CardError::kIncorrectP1P2);
  }
}

bool Dispatcher::selected_elsewhere(u8 slot, u8 channel) const noexcept {
  for (std::size_t i = 0; i < kChannels; ++i)
    if (i != channel && channels_[i].open && channels_[i].applet == slot) return true;
  return false;
}

void Dispatcher::deselect(u8 channel) noexcept {
  ChannelState& ch = channels_[channel];
  if (ch.applet == kNoApplet) return;
  const u8 slot = ch.applet;
  ch.applet = kNoApplet;
  ctx_.os_set_channel(channel);
  slots_[slot].applet->deselect(ctx_, channel);
  abort_open_transaction("deselect");
  if (!selected_elsewhere(slot, channel)) transient_.clear_on_deselect(slot);
  ctx_.trace()("channel %u: applet %u deselected", unsigned{channel}, unsigned{slot});
}

Result<ApduOutcome, CardError> Dispatcher::select_applet(u8 channel, const apdu::CommandApdu& c,
                                                         MutableBytes out) noexcept {
  const Bytes wanted = c.data;
  if (wanted.empty() || wanted.size() > UiccFiles::kMaxAidSize) return fail(CardError::kWrongLength);
  // P2 (ISO 7816-4 7.1.1 table 40): b8-b5 = 0; b4-b3 = 00 FCI, 01 FCP, 11 nothing (10 FMD is not
  // supported); b2-b1 = 00 first or only occurrence, 10 next occurrence (last/previous unsupported).
  if ((c.p2 & 0xF0) != 0) return fail(CardError::kIncorrectP1P2);
  const u8 occurrence = c.p2 & 0x03;
  const u8 answer = c.p2 & 0x0C;
  if ((occurrence != 0x00 && occurrence != 0x02) || answer == 0x08) return fail(CardError::kIncorrectP1P2);

  ChannelState& ch = channels_[channel];
  std::size_t from = 0;
  if (occurrence == 0x02 && ch.applet != kNoApplet && aid_has_prefix(slots_[ch.applet].applet->aid(), wanted))
    from = ch.applet + 1u;
  std::size_t found = count_;
  for (std::size_t i = from; i < count_ && found == count_; ++i)
    if (slots_[i].available && aid_has_prefix(slots_[i].applet->aid(), wanted)) found = i;
  if (found == count_) return fail(CardError::kFileNotFound);
  const u8 slot = static_cast<u8>(found);
  Applet& applet = *slots_[slot].applet;
  // Java Card 3 (JCRE 4.2): a non-multiselectable applet is active on one channel at a time.
  if (!applet.multiselectable() && selected_elsewhere(slot, channel)) return fail(CardError::kConditionsNotSatisfied);

  deselect(channel);  // also when re-selecting the same applet on this channel
  ch.files = FileSelection{};
  ctx_.os_set_channel(channel);
  const bool accepted = applet.select(ctx_, channel);
  abort_open_transaction("select");
  if (!accepted) {
    ctx_.trace()("channel %u: applet %u refused selection", unsigned{channel}, unsigned{slot});
    return fail(CardError::kAppletSelectFailed);
  }
  ch.applet = slot;
  ctx_.trace()("channel %u: applet %u selected", unsigned{channel}, unsigned{slot});

  const ApduRequest request{c, channel, out, true};
  auto result = applet.process(ctx_, request);
  if (!result) return result;  // the applet stays selected (Java Card: an exception after select)
  ApduOutcome outcome = *result;
  switch (answer) {
    case 0x0C:
      outcome.length = 0;
      break;
    case 0x00:
      if (outcome.length == 0) outcome.length = UiccFiles::write_fci(applet.aid(), out);
      break;
    case 0x04:
      if (outcome.length == 0) outcome.length = UiccFiles::write_adf_fcp(applet.aid(), out);
      break;
    default:
      break;  // 08 refused above
  }
  return outcome;
}

Result<ApduOutcome, CardError> Dispatcher::select_file(u8 channel, const apdu::CommandApdu& c,
                                                       MutableBytes out) noexcept {
  ChannelState& ch = channels_[channel];
  FileSelection files = ch.applet == kNoApplet ? ch.files : FileSelection{};
  auto result = files_.select(files, c, out);
  if (!result) return result;
  // Selecting a file leaves the application: the channel's applet is deselected.
  deselect(channel);
  ch.files = files;
  return result;
}

Result<ApduOutcome, CardError> Dispatcher::to_toolkit(u8 channel, const apdu::CommandApdu& c,
                                                      MutableBytes out) noexcept {
  const ApduRequest request{c, channel, out, false};
  switch (static_cast<Ins>(c.ins)) {
    case Ins::kTerminalProfile: return toolkit_->terminal_profile(ctx_, request);
    case Ins::kFetch: return toolkit_->fetch(ctx_, request);
    case Ins::kTerminalResponse: return toolkit_->terminal_response(ctx_, request);
    case Ins::kEnvelope: return toolkit_->envelope(ctx_, request);
    default: return fail(CardError::kInsNotSupported);
  }
}

void Dispatcher::abort_open_transaction(const char* after) noexcept {
  Nvm& nvm = ctx_.nvm();
  if (!nvm.in_transaction()) return;
  auto aborted = nvm.abort();
  ctx_.trace()("transaction left open after %s: %s", after, aborted ? "aborted" : "abort failed");
}

}  // namespace scws::card
