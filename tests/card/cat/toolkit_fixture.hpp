// Shared by the toolkit and BIP channel tests: a scriptable StreamEndpoint (canned response or echo)
// and a small CAT terminal that answers the card's proactive commands the way a UICC-server-mode
// gateway does (docs/protocol.md section 7), counting APDUs. The endpoint keeps its state in fixed arrays:
// the card path must not touch the host heap.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "apdu/envelope.hpp"
#include "apdu/proactive_command.hpp"
#include "apdu/terminal_profile.hpp"
#include "apdu/terminal_response.hpp"
#include "card/cat/stream_endpoint.hpp"
#include "card/cat/toolkit.hpp"
#include "tests/card/os/card_fixture.hpp"

namespace scws::card::test {

namespace cat = apdu::cat;

// Collects the card's trace lines.
class TraceLog final : public TraceSink {
 public:
  void line(const char* text) noexcept override {
    if (lines.size() < 20000) lines.emplace_back(text);
  }
  [[nodiscard]] bool contains(std::string_view needle) const {
    for (const std::string& l : lines)
      if (l.find(needle) != std::string::npos) return true;
    return false;
  }
  std::vector<std::string> lines;
};

// Answers every request head ("\r\n\r\n") with `response`, or echoes its input.
class ScriptedEndpoint final : public StreamEndpoint {
 public:
  static constexpr std::size_t kMaxIn = 8192;
  struct Conn {
    bool open = false;
    std::array<u8, kMaxIn> in{};
    std::size_t in_len = 0;
    std::size_t echoed = 0;
    std::size_t out_pos = 0;
    bool responding = false;
    bool done = false;
  };

  bool open(std::size_t c) noexcept override {
    REQUIRE(c < kMaxConnections);
    if (refuse_open) return false;
    CHECK_FALSE(conns[c].open);
    conns[c] = Conn{};
    conns[c].open = true;
    ++opens[c];
    return true;
  }
  std::size_t receive(std::size_t c, Bytes data) noexcept override {
    Conn& k = conns[c];
    CHECK(k.open);
    std::size_t n = data.size();
    if (n > consume_limit) n = consume_limit;
    if (n > kMaxIn - k.in_len) n = kMaxIn - k.in_len;
    if (stall) n = 0;
    if (n != 0) std::memcpy(k.in.data() + k.in_len, data.data(), n);
    k.in_len += n;
    ++receives;
    if (!echo && !k.responding && head_complete(k)) k.responding = true;
    return n;
  }
  std::size_t send(std::size_t c, MutableBytes out) noexcept override {
    Conn& k = conns[c];
    CHECK(k.open);
    std::size_t n = 0;
    if (echo) {
      n = k.in_len - k.echoed;
      if (n > out.size()) n = out.size();
      if (n > send_limit) n = send_limit;
      if (n != 0) std::memcpy(out.data(), k.in.data() + k.echoed, n);
      k.echoed += n;
      return n;
    }
    if (!k.responding || k.done) return 0;
    n = response.size() - k.out_pos;
    if (n > out.size()) n = out.size();
    if (n > send_limit) n = send_limit;
    if (n != 0) std::memcpy(out.data(), response.data() + k.out_pos, n);
    k.out_pos += n;
    if (k.out_pos == response.size()) k.done = true;
    return n;
  }
  [[nodiscard]] bool wants_close(std::size_t c) const noexcept override {
    return close_after_response && conns[c].done;
  }
  void close(std::size_t c) noexcept override {
    CHECK(conns[c].open);
    conns[c].open = false;
    ++closes[c];
  }

  [[nodiscard]] std::string input(std::size_t c) const {
    return std::string(reinterpret_cast<const char*>(conns[c].in.data()), conns[c].in_len);
  }

  Bytes response;
  bool echo = false;
  bool close_after_response = true;
  bool refuse_open = false;
  bool stall = false;
  std::size_t consume_limit = static_cast<std::size_t>(-1);
  std::size_t send_limit = static_cast<std::size_t>(-1);
  std::array<Conn, kMaxConnections> conns{};
  std::array<int, kMaxConnections> opens{};
  std::array<int, kMaxConnections> closes{};
  int receives = 0;

 private:
  static bool head_complete(const Conn& k) {
    for (std::size_t i = 3; i < k.in_len; ++i)
      if (k.in[i - 3] == '\r' && k.in[i - 2] == '\n' && k.in[i - 1] == '\r' && k.in[i] == '\n') return true;
    return false;
  }
};

inline std::vector<u8> profile_bytes(const cat::TerminalProfile& p) {
  std::vector<u8> out(cat::kTerminalProfileMaxSize);
  auto n = cat::build_terminal_profile(p, out);
  REQUIRE(n.ok());
  out.resize(*n);
  return out;
}

// The terminal (ME) side of BIP in UICC server mode, driven synchronously by the test.
class MiniTerminal {
 public:
  struct Channel {
    bool open = false;
    bool established = false;
    u16 port = 0;
    u16 buffer = 0;
    std::string rx;         // client bytes not yet read by the card
    std::string tx_stored;  // SEND DATA (store) not yet flushed
    std::string delivered;  // bytes the client received
    bool client = false;    // TCP client mode (docs/protocol.md section 7.10): `established` is the link
    std::array<u8, 4> address{};
  };

  explicit MiniTerminal(CardRig& r) : rig(r) {}

  // One APDU (hex), counted; returns the whole response as hex.
  std::string apdu(const std::vector<u8>& c) {
    ++apdus;
    std::vector<u8> response(SCWS_APDU_BUFFER_SIZE + 2);
    const std::size_t n = rig.card.process(c, response);
    REQUIRE(n >= 2);
    last = hex_text(Bytes(response.data(), n));
    return last;
  }
  static std::vector<u8> with_header(u8 ins, const std::vector<u8>& data) {
    std::vector<u8> c = {0x80, ins, 0x00, 0x00, static_cast<u8>(data.size())};
    c.insert(c.end(), data.begin(), data.end());
    return c;
  }
  [[nodiscard]] std::string sw() const { return last.substr(last.size() - 4); }

  // TERMINAL PROFILE, then the proactive loop.
  void start(const std::vector<u8>& profile) {
    apdu(with_header(0x10, profile));
    run();
  }
  // Sends an envelope and runs the proactive loop; returns the envelope's status word.
  std::string envelope(const cat::Envelope& e) {
    std::array<u8, 255> buf{};
    auto n = cat::build_envelope(e, buf);
    REQUIRE(n.ok());
    apdu(with_header(0xC2, std::vector<u8>(buf.begin(), buf.begin() + static_cast<long>(*n))));
    const std::string s = sw();
    run();
    return s;
  }
  std::string connect(u8 ch) {
    channels[ch].established = true;
    return envelope(cat::make_channel_status_event(cat::server_channel_status(ch, cat::ServerState::kEstablished)));
  }
  std::string client_sends(u8 ch, const std::string& bytes) {
    channels[ch].rx += bytes;
    const std::size_t n = channels[ch].rx.size();
    return envelope(cat::make_data_available(cat::server_channel_status(ch, cat::ServerState::kEstablished),
                                             static_cast<u8>(n > 255 ? 0xFF : n)));
  }
  // Client mode: the link comes up (8n 00), drops (0n 05), the server sends bytes.
  std::string link_up(u8 ch) {
    channels[ch].established = true;
    return envelope(cat::make_channel_status_event(cat::client_channel_status(ch, true)));
  }
  std::string link_dropped(u8 ch) {
    channels[ch].established = false;
    channels[ch].rx.clear();
    return envelope(cat::make_channel_status_event(cat::client_channel_status(ch, false, cat::channel_info::kLinkDropped)));
  }
  std::string server_sends(u8 ch, const std::string& bytes) {
    channels[ch].rx += bytes;
    const std::size_t n = channels[ch].rx.size();
    return envelope(cat::make_data_available(cat::client_channel_status(ch, true), static_cast<u8>(n > 255 ? 0xFF : n)));
  }
  std::string client_leaves(u8 ch, u8 info) {
    channels[ch].established = false;
    channels[ch].rx.clear();
    channels[ch].tx_stored.clear();
    return envelope(cat::make_channel_status_event(cat::server_channel_status(ch, cat::ServerState::kListen, info)));
  }

  // While the card answers 91 XX: FETCH, execute, TERMINAL RESPONSE.
  void run(int limit = 100000) {
    while (limit-- > 0 && sw().substr(0, 2) == "91") {
      const u8 xx = static_cast<u8>(std::stoul(sw().substr(2), nullptr, 16));
      const std::string r = apdu({0x80, 0x12, 0x00, 0x00, xx});
      REQUIRE(r.size() == 2u * xx + 4);
      const std::vector<u8> d0 = hex(r.substr(0, r.size() - 4));
      fetched.push_back(d0);
      auto parsed = cat::parse_proactive_command(d0);
      REQUIRE(parsed.ok());
      commands.push_back(parsed->details.type);
      cat::TerminalResponse tr = execute(*parsed);
      std::array<u8, 255> buf{};
      auto n = cat::build_terminal_response(tr, buf);
      REQUIRE(n.ok());
      apdu(with_header(0x14, std::vector<u8>(buf.begin(), buf.begin() + static_cast<long>(*n))));
      REQUIRE((sw() == "9000" || sw().substr(0, 2) == "91"));
    }
  }

  cat::TerminalResponse execute(const cat::ProactiveCommand& c) {
    cat::TerminalResponse tr = cat::make_terminal_response(c.details, cat::make_result(cat::GeneralResult::kOk));
    if (override_next && c.details.type == override_type) {
      override_next = false;
      tr.result = override_result;
      if (c.details.type == cat::CommandType::kOpenChannel) tr.add_channel_status(cat::ChannelStatus{0, 0});
      return tr;
    }
    switch (c.details.type) {
      case cat::CommandType::kOpenChannel: open_channel(c, tr); break;
      case cat::CommandType::kReceiveData: receive_data(c, tr); break;
      case cat::CommandType::kSendData: send_data(c, tr); break;
      case cat::CommandType::kCloseChannel: close_channel(c, tr); break;
      case cat::CommandType::kGetChannelStatus: channel_status(tr); break;
      case cat::CommandType::kTimerManagement: {
        const TimerCommand t{c.timer_id, c.timer_action(), c.has_timer_value ? cat::timer_seconds(c.timer_value) : 0};
        // The deadline service's timer (card/cat/deadlines.hpp) is recorded apart from the others.
        (c.timer_id == Deadlines::kTimerId ? deadline_commands : timer_commands).push_back(t);
        tr.has_timer_id = true;
        tr.timer_id = c.timer_id;
        if (c.timer_action() != cat::qualifier::kTimerStart) {
          if (deadline_left) {
            tr.has_timer_value = true;
            tr.timer_value = to_timer_value(*deadline_left);
          } else {
            tr.result = cat::make_result(cat::GeneralResult::kTimerConflict);
          }
        }
        break;
      }
      case cat::CommandType::kProvideLocalInformation:
        ++date_requests;
        if (date) {
          tr.has_date_time = true;
          tr.date_time = *date;
        } else {
          tr.result = cat::make_result(cat::GeneralResult::kBeyondTerminalCapabilities);
        }
        break;
      case cat::CommandType::kSetUpEventList:
        events.assign(c.events.begin(), c.events.end());
        break;
      default:
        tr.result = cat::make_result(cat::GeneralResult::kBeyondTerminalCapabilities);
        break;
    }
    return tr;
  }

  // OPEN CHANNEL in server mode: the first free channel listens, its buffer at most max_buffer.
  // In client mode the link is up at once when client_link_at_once, else later (background mode).
  void open_channel(const cat::ProactiveCommand& c, cat::TerminalResponse& tr) {
    const bool client = !c.open_channel.server_mode();
    u8 id = 0;
    for (u8 i = 1; i <= max_channels && id == 0; ++i)
      if (!channels[i].open) id = i;
    if (id == 0) {
      tr.result = cat::make_bip_error(cat::BipCause::kNoChannelAvailable);
      tr.add_channel_status(cat::ChannelStatus{0, 0});
      return;
    }
    Channel& k = channels[id];
    k = Channel{};
    k.open = true;
    k.port = c.open_channel.transport_level.port;
    k.buffer = c.open_channel.buffer_size > max_buffer ? max_buffer : c.open_channel.buffer_size;
    if (k.buffer != c.open_channel.buffer_size) tr.result = cat::make_result(cat::GeneralResult::kPerformedWithModification);
    if (client) {
      k.client = true;
      k.established = client_link_at_once;
      if (c.open_channel.destination.address.size() == 4)
        std::memcpy(k.address.data(), c.open_channel.destination.address.data(), 4);
      tr.add_channel_status(cat::client_channel_status(id, k.established));
      tr.bearer_description = c.open_channel.bearer_description;
    } else {
      tr.add_channel_status(cat::server_channel_status(id, cat::ServerState::kListen));
    }
    tr.has_buffer_size = true;
    tr.buffer_size = k.buffer;
  }

  // RECEIVE DATA: at most 237 bytes of what the client sent, and how much is left.
  void receive_data(const cat::ProactiveCommand& c, cat::TerminalResponse& tr) {
    Channel& k = channels[c.channel_id()];
    const std::size_t n = std::min<std::size_t>({c.channel_data_length, k.rx.size(), 237});
    received_chunk = k.rx.substr(0, n);
    k.rx.erase(0, n);
    if (n < c.channel_data_length) tr.result = cat::make_result(cat::GeneralResult::kMissingInformation);
    tr.channel_data = cat::some(Bytes(reinterpret_cast<const u8*>(received_chunk.data()), n));
    tr.has_channel_data_length = true;
    tr.channel_data_length = static_cast<u8>(k.rx.size() > 255 ? 0xFF : k.rx.size());
    ++receive_datas;
  }

  // SEND DATA: stored in the Tx buffer, delivered to the client when sent immediately.
  void send_data(const cat::ProactiveCommand& c, cat::TerminalResponse& tr) {
    Channel& k = channels[c.channel_id()];
    k.tx_stored.append(reinterpret_cast<const char*>(c.channel_data.data()), c.channel_data.size());
    CHECK(k.tx_stored.size() <= k.buffer);
    if (c.details.qualifier == cat::qualifier::kSendDataImmediately) {
      k.delivered += k.tx_stored;
      k.tx_stored.clear();
    }
    const std::size_t free = k.buffer - k.tx_stored.size();
    tr.has_channel_data_length = true;
    tr.channel_data_length = static_cast<u8>(free > 255 ? 0xFF : free);
    ++send_datas;
  }

  // CLOSE CHANNEL: the client goes; the channel listens again, or closes with kCloseChannelToClosed.
  void close_channel(const cat::ProactiveCommand& c, cat::TerminalResponse& tr) {
    Channel& k = channels[c.channel_id()];
    close_qualifiers.push_back(c.details.qualifier);
    if (!k.open) {
      tr.result = cat::make_bip_error(cat::BipCause::kChannelClosed);
      return;
    }
    k.established = false;
    k.rx.clear();
    if (c.details.qualifier == cat::qualifier::kCloseChannelToClosed || k.client) k.open = false;
  }

  // GET CHANNEL STATUS: every open channel, or one "no channel" status.
  void channel_status(cat::TerminalResponse& tr) {
    ++channel_status_requests;
    for (u8 i = 1; i <= 7; ++i) {
      if (!channels[i].open) continue;
      if (channels[i].client) {
        tr.add_channel_status(cat::client_channel_status(i, channels[i].established));
        continue;
      }
      tr.add_channel_status(cat::server_channel_status(
          i, channels[i].established ? cat::ServerState::kEstablished : cat::ServerState::kListen));
    }
    if (tr.channel_status_count == 0) tr.add_channel_status(cat::ChannelStatus{0, 0});
  }

  [[nodiscard]] std::size_t count(cat::CommandType t) const {
    std::size_t n = 0;
    for (auto c : commands)
      if (c == t) ++n;
    return n;
  }

  struct TimerCommand {
    u8 id;
    u8 action;
    u32 seconds;
  };

  CardRig& rig;
  std::string last = "9000";
  int apdus = 0;
  u8 max_channels = 7;
  u16 max_buffer = 1400;
  std::array<Channel, 8> channels{};  // index = channel id
  std::vector<cat::CommandType> commands;
  std::vector<std::vector<u8>> fetched;  // every proactive command, as fetched
  bool client_link_at_once = false;      // client OPEN CHANNEL: link established in the TERMINAL RESPONSE
  std::vector<u8> events;
  std::vector<u8> close_qualifiers;
  std::vector<TimerCommand> timer_commands;
  std::vector<TimerCommand> deadline_commands;  // timer Deadlines::kTimerId
  std::optional<u32> deadline_left;             // what a deactivation says is left; none: result 24
  std::optional<cat::DateTimeZone> date;        // PROVIDE LOCAL INFORMATION's answer; none: result 30
  int date_requests = 0;
  std::string received_chunk;
  int receive_datas = 0, send_datas = 0, channel_status_requests = 0;
  // Answer the next command of override_type with override_result instead.
  bool override_next = false;
  cat::CommandType override_type = cat::CommandType::kOpenChannel;
  cat::ResultValue override_result{};
};

// A card with a CatToolkit serving one port with a ScriptedEndpoint.
struct ToolkitRig {
  explicit ToolkitRig(u8 max_channels = 1, u16 buffer = 1400, u16 port = 3516) : terminal(rig) {
    REQUIRE(toolkit.add_server_port(port, buffer, endpoint, max_channels).ok());
    REQUIRE(rig.card.set_toolkit(toolkit));
    rig.card.set_trace_sink(&log);
    rig.power_on();
  }
  CardRig rig;
  CatToolkit toolkit;
  ScriptedEndpoint endpoint;
  TraceLog log;
  MiniTerminal terminal;
};

}  // namespace scws::card::test
