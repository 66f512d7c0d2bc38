// ENVELOPE data (TS 102 223 7, TS 31.111 7.1): one BER-TLV, the data field of the ENVELOPE APDU
// (80 C2 00 00 Lc). Built by the terminal, parsed by the card.
//
//   D6 Event download (TS 102 223 7.5): Event list with exactly one event, Device identities, then
//      for Data available (7.5.10) Channel status + Channel data length, for Channel status (7.5.11)
//      Channel status. Other events parse with their event code; their objects are skipped.
//   D7 Timer expiration (7.4): Device identities, Timer identifier, Timer value.
//   D1 SMS-PP download (TS 31.111 7.1.1.2): Device identities, Address (optional), SMS TPDU; the
//      address and TPDU are views for the OTA layer.
//
// The destination device must be the UICC (81). Unknown objects are skipped whatever their CR flag.
#pragma once

#include <cstddef>

#include "apdu/cat.hpp"

namespace scws::apdu::cat {

enum class EnvelopeType : u8 {
  kSmsPpDownload = ber_tag::kSmsPpDownload,
  kEventDownload = ber_tag::kEventDownload,
  kTimerExpiration = ber_tag::kTimerExpiration,
};

// CR flags of the conformance vectors (docs/protocol.md section 5.2; oFono timer_expiration_211,
// sms_pp_data_download_161): 99 82 B8 B7 A4 A5 8B; address 06 without CR.
inline constexpr CrFlags kEnvelopeCr{{tag::kEventList, tag::kDeviceIdentities, tag::kChannelStatus,
                                      tag::kChannelDataLength, tag::kTimerIdentifier,
                                      tag::kTimerValue, tag::kSmsTpdu}};

struct Envelope {
  EnvelopeType type = EnvelopeType::kEventDownload;
  DeviceIdentities devices{device::kTerminal, device::kUicc};

  Event event = Event::kDataAvailable;  // D6: the one event of the event list
  bool has_channel_status = false;
  ChannelStatus channel_status;         // D6 09/0A: 38
  bool has_channel_data_length = false;
  u8 channel_data_length = 0;           // D6 09: 37, bytes waiting in the Rx buffer (FF = more)

  u8 timer_id = 0;                      // D7: 24
  TimerValue timer_value;               // D7: 25

  OptionalBytes address;                // D1: 06, TON/NPI + BCD digits of the service centre
  Bytes sms_tpdu;                       // D1: 0B, the SMS-DELIVER TPDU

  CrFlags cr = kEnvelopeCr;
  bool skipped_unknown = false;
};

Result<Envelope, CatError> parse_envelope(Bytes data) noexcept;

// Writes the envelope's BER-TLV into out and returns its size (at most kMaxEnvelopeSize).
Result<std::size_t, CatError> build_envelope(const Envelope& e, MutableBytes out) noexcept;

// D6, event 09, 82 -> 81 (TS 102 223 7.5.10, docs/protocol.md section 8.1).
Envelope make_data_available(ChannelStatus status, u8 length) noexcept;
// D6, event 0A, 82 -> 81.
Envelope make_channel_status_event(ChannelStatus status) noexcept;
// D7, 82 -> 81.
Envelope make_timer_expiration(u8 timer_id, TimerValue value) noexcept;
// D1, 83 (network) -> 81.
Envelope make_sms_pp_download(OptionalBytes address, Bytes sms_tpdu) noexcept;

}  // namespace scws::apdu::cat
