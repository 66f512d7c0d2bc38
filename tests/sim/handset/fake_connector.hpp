// Test helper: a Connector without sockets. Peers are objects the test holds: it "connects" them to
// a card port, gives them bytes to send and reads what the card sent them. pump() plays the
// connector's driver: it attaches waiting peers to the channels that asked and delivers their bytes
// as far as the Rx buffers have room, reporting events to the terminal, never from inside a call the
// terminal makes (the Connector contract).
#pragma once

#include <doctest/doctest.h>

#include <array>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "sim/handset/connector.hpp"

namespace scws::sim::test {

struct FakePeer {
  std::string name = "127.0.0.1:50000";
  std::deque<u8> outbox;         // bytes it still sends to the card
  bool close_when_sent = false;  // then it closes its side (EOF)
  bool closed_sent = false;
  std::vector<u8> inbox;         // what the card sent it
  bool eof = false;              // the terminal let it go, in order
  bool reset = false;            // ... at once
  u8 channel = 0;                // attached to (0: waiting in the backlog)

  void say(std::string_view text) { outbox.insert(outbox.end(), text.begin(), text.end()); }
  void say(Bytes data) { outbox.insert(outbox.end(), data.begin(), data.end()); }
  [[nodiscard]] std::string text() const { return std::string(inbox.begin(), inbox.end()); }
};

class FakeConnector final : public Connector {
 public:
  struct Slot {
    u16 card_port = 0;
    u64 wants = 0;  // ask order, 0: not asking
    std::shared_ptr<FakePeer> peer;
    std::vector<u8> held;  // sent while hold_tx: counted by unsent() until drain()
    bool resumed = false;
    bool client = false;      // TCP client mode: connects to `destination`
    std::string destination;
  };

  bool serve_clients = false;      // also serve TCP client mode (docs/protocol.md section 7.10)
  std::set<u16> refused_ports;     // open() answers "port not available" for these
  std::function<void()> on_refused;  // called from inside that open(), as a driver's handler would be
  bool hold_tx = false;            // keep what the card sends in unsent() until drain()
  std::map<u16, u16> listening;    // card port -> "local port"
  std::array<Slot, apdu::cat::kMaxChannels + 1> slots{};  // by channel id (0 unused)
  std::vector<std::string> calls;  // "open 1 3516", "accept 1", "release 1 graceful", ...
  int resets = 0;

  // --- the test side ---

  std::shared_ptr<FakePeer> connect(u16 card_port) {
    auto p = std::make_shared<FakePeer>();
    p->name = "127.0.0.1:" + std::to_string(50000 + next_peer_++);
    backlog_[card_port].push_back(p);
    return p;
  }
  // Attaches waiting peers, delivers bytes, reports EOFs; true when anything happened.
  bool pump() {
    bool any = attach_waiting();
    for (u8 ch = 1; ch <= apdu::cat::kMaxChannels; ++ch) any = deliver(ch) || any;
    return any;
  }
  // The held bytes reach their peers.
  void drain(u8 channel) {
    Slot& s = slots.at(channel);
    if (s.peer) s.peer->inbox.insert(s.peer->inbox.end(), s.held.begin(), s.held.end());
    s.held.clear();
    events_->tx_progress(channel);
  }
  // The peer goes away without waiting for anything (a reset, a failed write).
  void drop(u8 channel) {
    Slot& s = slots.at(channel);
    REQUIRE(s.peer);
    events_->peer_closed(channel, false, "connection reset by peer");
  }
  [[nodiscard]] std::size_t backlog(u16 card_port) const {
    auto it = backlog_.find(card_port);
    return it == backlog_.end() ? 0 : it->second.size();
  }
  [[nodiscard]] bool asked(u8 channel) const { return slots.at(channel).wants != 0; }
  // Client mode: the connect of a channel succeeds (a server peer is attached) or fails.
  std::shared_ptr<FakePeer> connected(u8 channel) {
    Slot& s = slots.at(channel);
    REQUIRE(s.client);
    auto p = std::make_shared<FakePeer>();
    p->name = s.destination;
    p->channel = channel;
    s.peer = p;
    events_->peer_connected(channel, p->name);
    return p;
  }
  void connect_fails(u8 channel, const std::string& why) {
    REQUIRE(slots.at(channel).client);
    events_->peer_closed(channel, false, why);
  }

  // --- Connector ---

  void bind(ChannelEvents& events) override { events_ = &events; }
  [[nodiscard]] bool serves(const apdu::cat::OpenChannelParams& p) const override {
    return p.server_mode() || serve_clients;
  }
  OpenOutcome open(u8 channel, const apdu::cat::OpenChannelParams& p) override {
    const u16 port = p.transport_level.port;
    if (!p.server_mode()) {
      std::string dest;
      for (u8 b : p.destination.address) dest += (dest.empty() ? "" : ".") + std::to_string(b);
      dest += ":" + std::to_string(port);
      calls.push_back("connect " + std::to_string(channel) + " " + dest);
      slots.at(channel) = Slot{};
      slots.at(channel).card_port = port;
      slots.at(channel).client = true;
      slots.at(channel).destination = dest;
      OpenOutcome o;
      o.ok = true;
      o.endpoint = dest;
      return o;
    }
    calls.push_back("open " + std::to_string(channel) + " " + std::to_string(port));
    OpenOutcome o;
    o.local_port = port;
    o.endpoint = "127.0.0.1:" + std::to_string(port);
    if (refused_ports.count(port) != 0) {
      o.cause = apdu::cat::BipCause::kPortNotAvailable;
      o.error = "Address already in use";
      if (on_refused) on_refused();
      return o;
    }
    slots.at(channel) = Slot{};
    slots.at(channel).card_port = port;
    listening[port] = port;
    o.ok = true;
    return o;
  }
  void accept(u8 channel) override {
    calls.push_back("accept " + std::to_string(channel));
    slots.at(channel).wants = next_ask_++;
  }
  void send(u8 channel, Bytes data) override {
    Slot& s = slots.at(channel);
    REQUIRE_MESSAGE(s.peer, "the terminal sent to channel ", int{channel}, " without a peer");
    if (hold_tx) {
      s.held.insert(s.held.end(), data.begin(), data.end());
    } else {
      s.peer->inbox.insert(s.peer->inbox.end(), data.begin(), data.end());
    }
  }
  [[nodiscard]] std::size_t unsent(u8 channel) const override { return slots.at(channel).held.size(); }
  void resume(u8 channel) override { slots.at(channel).resumed = true; }
  void release(u8 channel, bool graceful) override {
    calls.push_back("release " + std::to_string(channel) + (graceful ? " graceful" : " at once"));
    Slot& s = slots.at(channel);
    s.wants = 0;
    if (!s.peer) return;
    if (graceful) s.peer->inbox.insert(s.peer->inbox.end(), s.held.begin(), s.held.end());
    s.held.clear();
    (graceful ? s.peer->eof : s.peer->reset) = true;
    s.peer->channel = 0;
    s.peer.reset();
  }
  void close(u8 channel) override {
    calls.push_back("close " + std::to_string(channel));
    release(channel, true);
    const u16 port = slots.at(channel).card_port;
    slots.at(channel) = Slot{};
    for (const Slot& other : slots)
      if (other.card_port == port) return;
    listening.erase(port);
  }
  void reset() override {
    ++resets;
    calls.push_back("reset");
    for (Slot& s : slots) {
      if (s.peer) s.peer->reset = true;
      s = Slot{};
    }
    for (auto& [port, peers] : backlog_)
      for (auto& p : peers) p->reset = true;
    backlog_.clear();
    listening.clear();
  }

 private:
  bool attach_waiting() {
    bool any = false;
    for (auto& [port, peers] : backlog_) {
      while (!peers.empty()) {
        u8 best = 0;
        for (u8 ch = 1; ch <= apdu::cat::kMaxChannels; ++ch) {
          const Slot& s = slots[ch];
          if (s.card_port == port && s.wants != 0 && !s.peer && (best == 0 || s.wants < slots[best].wants)) best = ch;
        }
        if (best == 0) break;
        auto p = peers.front();
        peers.pop_front();
        slots[best].peer = p;
        slots[best].wants = 0;
        p->channel = best;
        events_->peer_connected(best, p->name);
        any = true;
      }
    }
    return any;
  }

  bool deliver(u8 ch) {
    Slot& s = slots[ch];
    if (!s.peer) return false;
    auto p = s.peer;
    const std::size_t n = std::min(p->outbox.size(), events_->rx_room(ch));
    if (n > 0) {
      const std::vector<u8> chunk(p->outbox.begin(), p->outbox.begin() + static_cast<std::ptrdiff_t>(n));
      p->outbox.erase(p->outbox.begin(), p->outbox.begin() + static_cast<std::ptrdiff_t>(n));
      events_->peer_data(ch, chunk);
      return true;
    }
    if (p->outbox.empty() && p->close_when_sent && !p->closed_sent) {
      p->closed_sent = true;
      events_->peer_closed(ch, true, "closed its connection");
      return true;
    }
    return false;
  }

  ChannelEvents* events_ = nullptr;
  std::map<u16, std::deque<std::shared_ptr<FakePeer>>> backlog_;
  u64 next_ask_ = 1;
  int next_peer_ = 0;
};

}  // namespace scws::sim::test
