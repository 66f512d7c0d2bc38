// Internal to apdu/: the data-object readers and the writer the CAT message codecs share
// (proactive_command.cpp, terminal_response.cpp, envelope.cpp). Defined in cat.cpp.
#pragma once

#include "apdu/cat.hpp"
#include "apdu/tlv.hpp"

namespace scws::apdu::cat::detail {

// Tag values (CR stripped, one-byte form) already met in one message, to refuse repeats.
class Seen {
 public:
  constexpr void set(u16 tag) noexcept { flags_.set(tag, true); }
  [[nodiscard]] constexpr bool has(u16 tag) const noexcept { return flags_.has(tag); }

 private:
  CrFlags flags_;
};

// Walks data once: every TLV well formed, nothing dangling.
Status<CatError> check_framing(Bytes data) noexcept;

Result<u8, CatError> read_u8(Bytes v, CatError bad) noexcept;
Result<u16, CatError> read_u16(Bytes v, CatError bad) noexcept;
Result<CommandDetails, CatError> read_command_details(Bytes v) noexcept;
Result<DeviceIdentities, CatError> read_device_identities(Bytes v) noexcept;
Result<ResultValue, CatError> read_result(Bytes v) noexcept;
Result<ChannelStatus, CatError> read_channel_status(Bytes v) noexcept;
Result<TransportLevel, CatError> read_transport_level(Bytes v) noexcept;
Result<OtherAddress, CatError> read_other_address(Bytes v) noexcept;
Result<u8, CatError> read_timer_id(Bytes v) noexcept;

// Writes COMPREHENSION-TLVs with the CR flag the message asks for.
class Emitter {
 public:
  Emitter(TlvWriter& w, const CrFlags& cr) noexcept : w_(w), cr_(cr) {}
  void object(u16 tag, Bytes value) noexcept { w_.comprehension(tag, cr_.has(tag), value); }
  void optional(u16 tag, const OptionalBytes& f) noexcept {
    if (f.present) object(tag, f.value);
  }
  void u8_object(u16 tag, u8 v) noexcept;
  void u16_object(u16 tag, u16 v) noexcept;
  void command_details(const CommandDetails& d) noexcept;
  void device_identities(const DeviceIdentities& d) noexcept;
  void result(const ResultValue& r) noexcept;
  void channel_status(const ChannelStatus& s) noexcept;
  void transport_level(const TransportLevel& t) noexcept;
  void other_address(const OtherAddress& a) noexcept;  // nothing when !a.present
  Status<CatError> timer_value(const TimerValue& t) noexcept;
  Status<CatError> duration(const Duration& d) noexcept;
  Status<CatError> date_time(const DateTimeZone& t) noexcept;

 private:
  TlvWriter& w_;
  const CrFlags& cr_;
};

}  // namespace scws::apdu::cat::detail
