#include "apdu/terminal_profile.hpp"

namespace scws::apdu::cat {

namespace {

// One named bit: 1-based byte index, bit number 1..8 and the member it maps to.
struct Bit {
  u8 byte;
  u8 bit;
  bool TerminalProfile::*member;
};

constexpr Bit kBits[] = {
    {1, 1, &TerminalProfile::profile_download},
    {1, 2, &TerminalProfile::sms_pp_data_download},
    {1, 6, &TerminalProfile::timer_expiration},
    {2, 1, &TerminalProfile::command_result},
    {3, 1, &TerminalProfile::display_text},
    {3, 4, &TerminalProfile::more_time},
    {3, 6, &TerminalProfile::poll_interval},
    {3, 7, &TerminalProfile::polling_off},
    {4, 2, &TerminalProfile::send_short_message},
    {5, 1, &TerminalProfile::set_up_event_list},
    {6, 3, &TerminalProfile::event_data_available},
    {6, 4, &TerminalProfile::event_channel_status},
    {6, 5, &TerminalProfile::event_access_technology_change},
    {6, 7, &TerminalProfile::event_local_connection},
    {8, 1, &TerminalProfile::timer_management_start_stop},
    {8, 2, &TerminalProfile::timer_management_get_value},
    {8, 3, &TerminalProfile::provide_local_information_date_time},
    {12, 1, &TerminalProfile::open_channel},
    {12, 2, &TerminalProfile::close_channel},
    {12, 3, &TerminalProfile::receive_data},
    {12, 4, &TerminalProfile::send_data},
    {12, 5, &TerminalProfile::get_channel_status},
    {13, 1, &TerminalProfile::bearer_csd},
    {13, 2, &TerminalProfile::bearer_gprs},
    {17, 1, &TerminalProfile::tcp_client_remote},
    {17, 2, &TerminalProfile::udp_client_remote},
    {17, 3, &TerminalProfile::tcp_server},
    {17, 4, &TerminalProfile::tcp_client_local},
    {17, 5, &TerminalProfile::udp_client_local},
    {17, 6, &TerminalProfile::direct_channel},
    {17, 7, &TerminalProfile::bearer_eutran},
    {17, 8, &TerminalProfile::bearer_hsdpa},
    {18, 3, &TerminalProfile::bearer_usb},
};

constexpr bool bits_fit() {
  for (const Bit& b : kBits)
    if (b.byte == 0 || b.byte > kTerminalProfileMaxSize || b.bit == 0 || b.bit > 8) return false;
  return true;
}
static_assert(bits_fit(), "every named bit lies inside the profile the builder writes");

constexpr std::size_t kChannelsByte = 13;  // b8..b6
constexpr u8 kChannelsShift = 5;

}  // namespace

TerminalProfile parse_terminal_profile(Bytes data) noexcept {
  TerminalProfile p;
  for (const Bit& b : kBits) {
    if (b.byte > data.size()) continue;
    p.*(b.member) = (data[b.byte - 1] >> (b.bit - 1)) & 1U;
  }
  if (data.size() >= kChannelsByte) p.channel_count = static_cast<u8>(data[kChannelsByte - 1] >> kChannelsShift);
  return p;
}

Result<std::size_t, CatError> build_terminal_profile(const TerminalProfile& p, MutableBytes out) noexcept {
  if (p.channel_count > kMaxChannels) return fail(CatError::kInvalidArgument);
  const std::size_t size = p.bearer_usb ? kTerminalProfileMaxSize : kTerminalProfileSize;
  if (out.size() < size) return fail(CatError::kBufferTooSmall);
  for (std::size_t i = 0; i < size; ++i) out[i] = 0;
  for (const Bit& b : kBits)
    if (p.*(b.member)) out[b.byte - 1] = static_cast<u8>(out[b.byte - 1] | (1U << (b.bit - 1)));
  out[kChannelsByte - 1] = static_cast<u8>(out[kChannelsByte - 1] | (p.channel_count << kChannelsShift));
  return size;
}

bool supports_bip_server_mode(const TerminalProfile& p) noexcept {
  return p.set_up_event_list && p.event_data_available && p.event_channel_status && p.open_channel &&
         p.close_channel && p.receive_data && p.send_data && p.tcp_server && p.channel_count >= 1;
}

bool supports_bip_client_mode(const TerminalProfile& p) noexcept {
  return p.set_up_event_list && p.event_data_available && p.event_channel_status && p.open_channel &&
         p.close_channel && p.receive_data && p.send_data && p.tcp_client_remote && p.channel_count >= 1;
}

TerminalProfile scws_gateway_profile() noexcept {
  TerminalProfile p;
  p.profile_download = true;
  p.sms_pp_data_download = true;
  p.timer_expiration = true;
  p.display_text = true;
  p.set_up_event_list = true;
  p.event_data_available = true;
  p.event_channel_status = true;
  p.timer_management_start_stop = true;
  p.timer_management_get_value = true;
  p.open_channel = true;
  p.close_channel = true;
  p.receive_data = true;
  p.send_data = true;
  p.get_channel_status = true;
  p.channel_count = kMaxChannels;  // G&D's gateway: 7 channels "must match Terminal Profile"
  p.tcp_client_remote = true;
  p.tcp_server = true;
  return p;
}

}  // namespace scws::apdu::cat
