// Fuzz target: arbitrary TERMINAL PROFILE / FETCH / TERMINAL RESPONSE / ENVELOPE sequences into a
// powered card with a CatToolkit serving two ports through an echo endpoint. Input = items, each
// starting with an opcode byte (its low 3 bits) and a length byte L:
//   0  raw APDU of the next L bytes (any class and instruction)
//   1  TERMINAL PROFILE with the next L bytes
//   2  TERMINAL RESPONSE with the next L bytes as data
//   3  ENVELOPE with the next L bytes as data
//   4  a well-behaved terminal step: FETCH the pending command with the right Le, answer it with a
//      TERMINAL RESPONSE echoing its details, general result = next byte, plus, when L > 1, the
//      following bytes as channel status (2), channel data length (1) and channel data (rest)
//   5  an event envelope built from the next 3 bytes: kind, channel status byte 1 (or timer id), byte 2/length
//   6  endpoint behaviour from the next byte: consume limit, refuse, stall, close after echo
//   7  L: 0 warm reset, 1 power cycle, 2 wake(), else toolkit API calls (close/reopen port, timers,
//      7 open_client to 127.0.0.1:7443, 8 close_client of the last one)
// Checked after every step: the response is 2..buffer bytes, the arena's invariants hold, and RAM is
// back to its idle level whenever no client is connected. A client connection hears open() at most
// once, then close(), or link_failed() without open(), and nothing about a connection not asked for.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "apdu/envelope.hpp"
#include "apdu/proactive_command.hpp"
#include "apdu/terminal_response.hpp"
#include "card/os/card.hpp"
#include "card/cat/toolkit.hpp"
#include "scws_config.hpp"

using namespace scws;
using namespace scws::card;
namespace cat = scws::apdu::cat;

namespace {

class EchoEndpoint final : public StreamEndpoint {
 public:
  static constexpr std::size_t kBuffer = 512;
  bool open(std::size_t c) noexcept override {
    if (c >= kMaxConnections || conns_[c].open) __builtin_trap();
    if (refuse) return false;
    conns_[c] = Conn{};
    conns_[c].open = true;
    return true;
  }
  std::size_t receive(std::size_t c, Bytes data) noexcept override {
    Conn& k = at(c);
    std::size_t n = data.size();
    if (stall) n = 0;
    if (n > limit) n = limit;
    if (n > kBuffer - k.len) n = kBuffer - k.len;
    if (n != 0) std::memcpy(k.buf + k.len, data.data(), n);
    k.len += n;
    k.total += n;
    return n;
  }
  std::size_t send(std::size_t c, MutableBytes out) noexcept override {
    Conn& k = at(c);
    std::size_t n = k.len < out.size() ? k.len : out.size();
    if (n == 0) return 0;
    std::memcpy(out.data(), k.buf, n);
    std::memmove(k.buf, k.buf + n, k.len - n);
    k.len -= n;
    return n;
  }
  [[nodiscard]] bool wants_close(std::size_t c) const noexcept override {
    if (c >= kMaxConnections || !conns_[c].open) __builtin_trap();
    return close_after != 0 && conns_[c].total >= close_after && conns_[c].len == 0;
  }
  void close(std::size_t c) noexcept override { at(c).open = false; }
  void forget() noexcept {
    for (Conn& k : conns_) k = Conn{};
  }

  std::size_t limit = kBuffer;
  std::size_t close_after = 0;
  bool refuse = false;
  bool stall = false;

 private:
  struct Conn {
    bool open = false;
    u8 buf[kBuffer] = {};
    std::size_t len = 0;
    std::size_t total = 0;
  };
  Conn& at(std::size_t c) noexcept {
    if (c >= kMaxConnections || !conns_[c].open) __builtin_trap();  // only open connections are driven
    return conns_[c];
  }
  Conn conns_[kMaxConnections];
};

// A client channel's endpoint (card/cat/client_channel.hpp): echoes, and traps on any call the
// contract does not allow for the connection's state.
class ClientEcho final : public ClientEndpoint {
 public:
  bool open(std::size_t c) noexcept override {
    if (c >= kMaxConnections || !asked_[c] || open_[c]) __builtin_trap();
    open_[c] = true;
    len_[c] = 0;
    return true;
  }
  std::size_t receive(std::size_t c, Bytes data) noexcept override {
    check_open(c);
    std::size_t n = data.size() < sizeof buf_[c] - len_[c] ? data.size() : sizeof buf_[c] - len_[c];
    if (n != 0) std::memcpy(buf_[c] + len_[c], data.data(), n);
    len_[c] += n;
    return n;
  }
  std::size_t send(std::size_t c, MutableBytes out) noexcept override {
    check_open(c);
    std::size_t n = len_[c] < out.size() ? len_[c] : out.size();
    if (n == 0) return 0;
    std::memcpy(out.data(), buf_[c], n);
    std::memmove(buf_[c], buf_[c] + n, len_[c] - n);
    len_[c] -= n;
    return n;
  }
  [[nodiscard]] bool wants_close(std::size_t c) const noexcept override {
    if (c >= kMaxConnections || !open_[c]) __builtin_trap();
    return false;
  }
  void close(std::size_t c) noexcept override {
    check_open(c);
    open_[c] = asked_[c] = false;
  }
  void link_failed(std::size_t c, LinkFailure) noexcept override {
    if (c >= kMaxConnections || !asked_[c] || open_[c]) __builtin_trap();
    asked_[c] = false;
  }
  void asked(u8 c) noexcept {
    if (c >= kMaxConnections || asked_[c]) __builtin_trap();  // a slot is never given twice
    asked_[c] = true;
    last = c;
  }
  void forget() noexcept {
    for (std::size_t i = 0; i < kMaxConnections; ++i) asked_[i] = open_[i] = false;
  }
  u8 last = 0;

 private:
  void check_open(std::size_t c) const noexcept {
    if (c >= kMaxConnections || !open_[c]) __builtin_trap();
  }
  bool asked_[kMaxConnections] = {};
  bool open_[kMaxConnections] = {};
  u8 buf_[kMaxConnections][256] = {};
  std::size_t len_[kMaxConnections] = {};
};

class Listener final : public TimerListener {
 public:
  void timer_expired(u8 id) noexcept override {
    if (id == 0 || id > 7) __builtin_trap();
  }
};

constexpr std::size_t kImageSize = 80 * 1024;
struct alignas(16) Ram {
  u8 bytes[SCWS_RAM_SIZE];
};

const std::vector<u8>& golden_image() {
  static const std::vector<u8> golden = [] {
    std::vector<u8> image(kImageSize);
    RamNvmDevice device(image);
    if (!Card::format_image(device, CardIdentity{}).ok()) __builtin_trap();
    return image;
  }();
  return golden;
}

struct Rig {
  std::vector<u8> image;
  RamNvmDevice device;
  Card card;
  CatToolkit toolkit;
  EchoEndpoint http, tls;
  ClientEcho client;
  Listener listener;
  u8 response[SCWS_APDU_BUFFER_SIZE + 2] = {};
  std::size_t response_size = 0;

  explicit Rig(Ram& ram) : image(golden_image()), device(image), card(device, ram.bytes) {
    if (!toolkit.add_server_port(3516, 1400, http, 5).ok()) __builtin_trap();
    if (!toolkit.add_server_port(10443, 300, tls, 2).ok()) __builtin_trap();
    if (!card.set_toolkit(toolkit)) __builtin_trap();
    if (!card.power_on().ok()) __builtin_trap();
  }

  void check() {
    if (!card.powered()) return;
    const RamReport r = card.ram_report();
    if (toolkit.connected_clients() == 0 && r.in_use != r.idle) __builtin_trap();
  }
  void apdu(const u8* c, std::size_t n) {
    response_size = card.process(Bytes(c, n), response);
    if (response_size < 2 || response_size > sizeof response) __builtin_trap();
    check();
  }
  void apdu_with(u8 ins, Bytes data) {
    u8 c[5 + 255];
    const std::size_t n = data.size() > 255 ? 255 : data.size();
    c[0] = 0x80;
    c[1] = ins;
    c[2] = c[3] = 0;
    c[4] = static_cast<u8>(n);
    if (n != 0) std::memcpy(c + 5, data.data(), n);
    apdu(c, 5 + n);
  }
  [[nodiscard]] u8 sw1() const { return response[response_size - 2]; }
  [[nodiscard]] u8 sw2() const { return response[response_size - 1]; }

  void terminal_step(Bytes params) {
    if (response_size < 2 || sw1() != 0x91) return;
    const u8 fetch[] = {0x80, 0x12, 0x00, 0x00, sw2()};
    apdu(fetch, sizeof fetch);
    if (sw1() != 0x90 && sw1() != 0x91) return;
    auto cmd = cat::parse_proactive_command(Bytes(response, response_size - 2));
    if (!cmd) __builtin_trap();  // the card must only issue commands the codec understands
    const u8 general = params.empty() ? 0 : params[0];
    cat::TerminalResponse tr = cat::make_terminal_response(cmd->details, cat::ResultValue{});
    tr.result.general = static_cast<cat::GeneralResult>(general);
    if (general >= 0x20) {
      tr.result.additional_size = 1;
      tr.result.additional[0] = params.size() > 1 ? params[1] : 0;
    }
    if (params.size() >= 3) tr.add_channel_status(cat::ChannelStatus{params[1], params[2]});
    if (params.size() >= 4) {
      tr.has_channel_data_length = true;
      tr.channel_data_length = params[3];
    }
    if (params.size() >= 5) tr.channel_data = cat::some(params.subspan(4));
    if (cmd->details.type == cat::CommandType::kOpenChannel) {
      tr.has_buffer_size = true;
      tr.buffer_size = cmd->open_channel.buffer_size;
    }
    u8 buf[255];
    auto n = cat::build_terminal_response(tr, buf);
    if (!n) return;  // the fuzzer asked for something too long: skip
    apdu_with(0x14, Bytes(buf, *n));
  }

  void event(Bytes p) {
    if (p.size() < 3) return;
    cat::Envelope e;
    switch (p[0] % 3) {
      case 0: e = cat::make_channel_status_event(cat::ChannelStatus{p[1], p[2]}); break;
      case 1: e = cat::make_data_available(cat::ChannelStatus{p[1], 0}, p[2]); break;
      default: e = cat::make_timer_expiration(p[1], cat::TimerValue{0, 0, 1}); break;
    }
    u8 buf[255];
    auto n = cat::build_envelope(e, buf);
    if (!n) return;
    apdu_with(0xC2, Bytes(buf, *n));
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Ram ram;
  Rig rig(ram);
  std::size_t at = 0;
  while (at + 1 < size) {
    const u8 op = data[at] & 7;
    const u8 l = data[at + 1];
    at += 2;
    const std::size_t n = l <= size - at ? l : size - at;
    const Bytes body(data + at, n);
    at += n;
    switch (op) {
      case 0:
        rig.apdu(body.data(), body.size());
        break;
      case 1:
        rig.apdu_with(0x10, body);
        break;
      case 2:
        rig.apdu_with(0x14, body);
        break;
      case 3:
        rig.apdu_with(0xC2, body);
        break;
      case 4:
        rig.terminal_step(body);
        break;
      case 5:
        rig.event(body);
        break;
      case 6:
        if (!body.empty()) {
          rig.http.limit = (body[0] & 0x0F) == 0 ? EchoEndpoint::kBuffer : (body[0] & 0x0F);
          rig.http.refuse = (body[0] & 0x10) != 0;
          rig.http.stall = (body[0] & 0x20) != 0;
          rig.http.close_after = (body[0] & 0x40) != 0 ? 10 : 0;
        }
        break;
      default:
        switch (l) {
          case 0:
            rig.http.forget();
            rig.tls.forget();
            rig.client.forget();
            if (!rig.card.reset().ok()) __builtin_trap();
            break;
          case 1:
            rig.card.power_off();
            rig.http.forget();
            rig.tls.forget();
            rig.client.forget();
            if (!rig.card.power_on().ok()) __builtin_trap();
            break;
          case 2: rig.toolkit.wake(); break;
          case 3: (void)rig.toolkit.close_port(10443); break;
          case 4: (void)rig.toolkit.reopen_port(10443); break;
          case 5: (void)rig.toolkit.start_timer(1, 30, rig.listener); break;
          case 6: (void)rig.toolkit.stop_timer(1); break;
          case 7: {
            auto c = rig.toolkit.open_client(ClientChannelRequest{{127, 0, 0, 1}, 7443, 1400}, rig.client);
            if (c) rig.client.asked(*c);
            break;
          }
          case 8: rig.toolkit.close_client(rig.client.last); break;
          default: break;
        }
        rig.check();
        break;
    }
  }
  return 0;
}
