#include "apdu/terminal_profile.hpp"

#include <doctest/doctest.h>

#include <vector>

#include "tests/apdu/bytes_util.hpp"

using namespace scws;
using namespace scws::apdu;
using namespace scws::apdu::cat;
using scws::test::hex;

namespace {
std::vector<u8> build(const TerminalProfile& p) {
  std::vector<u8> out(32);
  auto n = build_terminal_profile(p, out);
  REQUIRE(n.ok());
  out.resize(*n);
  return out;
}
}  // namespace

TEST_CASE("the minimal scws gateway profile sets the bits of docs/protocol.md section 6.1") {
  TerminalProfile p;
  p.set_up_event_list = true;      // byte 5 b1
  p.event_data_available = true;   // byte 6 b3
  p.event_channel_status = true;   // byte 6 b4
  p.open_channel = p.close_channel = p.receive_data = p.send_data = p.get_channel_status = true;  // 12: 1F
  p.channel_count = 7;             // byte 13 b8..b6: E0
  p.tcp_server = true;             // byte 17 b3: 04
  // The minimal profile of docs/protocol.md section 6.1, padded to 17 bytes.
  CHECK(hex_text(build(p)) == "00000000010C00000000001FE000000004");
  CHECK(supports_bip_server_mode(p));
  CHECK(channels(p) == 7);
}

TEST_CASE("TCP client mode needs byte 17 b1 besides the events and channel commands (section 7.10)") {
  TerminalProfile p;
  p.set_up_event_list = p.event_data_available = p.event_channel_status = true;
  p.open_channel = p.close_channel = p.receive_data = p.send_data = true;
  p.channel_count = 1;
  CHECK_FALSE(supports_bip_client_mode(p));
  p.tcp_client_remote = true;  // byte 17 b1
  CHECK(supports_bip_client_mode(p));
  CHECK_FALSE(supports_bip_server_mode(p));  // client mode alone: no listening channel
  p.event_channel_status = false;            // the link's events are how the card hears of it
  CHECK_FALSE(supports_bip_client_mode(p));
  CHECK(supports_bip_client_mode(scws_gateway_profile()));
}

TEST_CASE("terminal profile parser reads the named bits (pySim default OTA profile)") {
  // pySim cat.py: "reasonable default for playing with OTA".
  const auto bytes = hex("7fe1e10e000000000000001f43000000ff00000000000000000000000000000000");
  const TerminalProfile p = parse_terminal_profile(bytes);
  CHECK(p.profile_download);       // byte 1 = 7F
  CHECK(p.sms_pp_data_download);
  CHECK(p.timer_expiration);
  CHECK(p.command_result);         // byte 2 = E1: b1
  CHECK(p.display_text);           // byte 3 = E1: b1
  CHECK_FALSE(p.more_time);
  CHECK(p.poll_interval);          // E1: b6
  CHECK(p.polling_off);            // E1: b7
  CHECK(p.send_short_message);     // byte 4 = 0E: b2
  CHECK_FALSE(p.set_up_event_list);  // byte 5 = 00
  CHECK(p.open_channel);           // byte 12 = 1F
  CHECK(p.get_channel_status);
  CHECK(p.bearer_csd);             // byte 13 = 43
  CHECK(p.bearer_gprs);
  CHECK(p.channel_count == 2);
  CHECK(p.tcp_client_remote);      // byte 17 = FF
  CHECK(p.tcp_server);
  CHECK(p.bearer_hsdpa);
  CHECK_FALSE(p.bearer_usb);
  CHECK_FALSE(supports_bip_server_mode(p));  // no SET UP EVENT LIST, no BIP events
}

TEST_CASE("missing profile bytes read as unsupported") {
  const TerminalProfile empty = parse_terminal_profile(Bytes{});
  CHECK_FALSE(empty.profile_download);
  CHECK(empty.channel_count == 0);
  const auto short_profile = hex("01000000010C0000000000 1F");  // stops before byte 13
  const TerminalProfile p = parse_terminal_profile(short_profile);
  CHECK(p.set_up_event_list);
  CHECK(p.open_channel);
  CHECK(p.channel_count == 0);
  CHECK_FALSE(p.tcp_server);
  CHECK_FALSE(supports_bip_server_mode(p));
}

TEST_CASE("every named bit round-trips through build and parse") {
  const TerminalProfile g = scws_gateway_profile();
  CHECK(supports_bip_server_mode(g));
  const auto bytes = build(g);
  CHECK(bytes.size() == kTerminalProfileSize);
  const TerminalProfile back = parse_terminal_profile(bytes);
  CHECK(hex_text(build(back)) == hex_text(bytes));

  TerminalProfile all;
  for (bool* b : {&all.profile_download, &all.sms_pp_data_download, &all.timer_expiration, &all.command_result,
                  &all.provide_local_information_date_time, &all.display_text,
                  &all.more_time, &all.poll_interval, &all.polling_off, &all.send_short_message,
                  &all.set_up_event_list, &all.event_data_available, &all.event_channel_status,
                  &all.event_access_technology_change, &all.event_local_connection,
                  &all.timer_management_start_stop, &all.timer_management_get_value, &all.open_channel,
                  &all.close_channel, &all.receive_data, &all.send_data, &all.get_channel_status,
                  &all.bearer_csd, &all.bearer_gprs, &all.tcp_client_remote, &all.udp_client_remote,
                  &all.tcp_server, &all.tcp_client_local, &all.udp_client_local, &all.direct_channel,
                  &all.bearer_eutran, &all.bearer_hsdpa, &all.bearer_usb})
    *b = true;
  all.channel_count = 5;
  const auto all_bytes = build(all);
  CHECK(all_bytes.size() == kTerminalProfileMaxSize);
  CHECK(hex_text(all_bytes) == "23" "01" "69" "02" "01" "5C" "00" "07" "00" "00" "00" "1F" "A3" "00" "00" "00"
                             "FF" "04");
  CHECK(hex_text(build(parse_terminal_profile(all_bytes))) == hex_text(all_bytes));
}

TEST_CASE("the terminal profile builder refuses impossible channel counts and short buffers") {
  TerminalProfile p;
  p.channel_count = 8;
  std::vector<u8> out(32);
  CHECK(build_terminal_profile(p, out).error() == CatError::kInvalidArgument);
  p.channel_count = 1;
  std::vector<u8> small(16);
  CHECK(build_terminal_profile(p, small).error() == CatError::kBufferTooSmall);
}
