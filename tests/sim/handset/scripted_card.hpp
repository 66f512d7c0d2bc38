// Test helper: a card whose proactive commands each test queues, recording every TERMINAL PROFILE,
// TERMINAL RESPONSE, ENVELOPE and STATUS the terminal sends (TS 102 221 10.1.2 commands). It
// announces a queued command with 91 XX on every answer, like a proactive UICC (TS 102 221 10.2.1.1).
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "apdu/instruction.hpp"
#include "apdu/command_apdu.hpp"
#include "apdu/envelope.hpp"
#include "apdu/proactive_command.hpp"
#include "apdu/status_word.hpp"
#include "apdu/terminal_response.hpp"
#include "base/hex_text.hpp"
#include "sim/host/card_transport.hpp"

namespace scws::sim::test {

inline std::vector<u8> build(const apdu::cat::ProactiveCommand& c) {
  std::vector<u8> out(apdu::cat::kMaxProactiveCommandSize);
  auto n = apdu::cat::build_proactive_command(c, MutableBytes(out));
  REQUIRE(n.ok());
  out.resize(*n);
  return out;
}

class ScriptedCard final : public CardTransport {
 public:
  std::deque<std::vector<u8>> proactive;   // D0 blobs, FETCHed in order
  std::vector<std::vector<u8>> profiles;   // TERMINAL PROFILE data
  std::vector<std::vector<u8>> responses;  // TERMINAL RESPONSE data
  std::vector<std::vector<u8>> envelopes;  // ENVELOPE data accepted
  std::vector<std::vector<u8>> commands;   // every command APDU
  int busy = 0;                            // answer the next N ENVELOPEs with 93 00
  int busy_answers = 0;
  int statuses = 0;
  int connects = 0;
  bool present = true;
  bool lose_next = false;
  std::function<void(const apdu::cat::Envelope&)> on_envelope;
  std::function<void(const apdu::cat::TerminalResponse&)> on_response;

  bool connect(std::chrono::milliseconds) override {
    ++connects;
    connected_ = present;
    return present;
  }
  void disconnect() override { connected_ = false; }
  [[nodiscard]] bool connected() const override { return connected_; }
  [[nodiscard]] std::string describe() const override { return "scripted card"; }
  void set_trace(ApduTraceSink*) override {}

  std::vector<u8> transmit(Bytes command) override {
    if (lose_next || !connected_) {
      lose_next = false;
      connected_ = false;
      throw CardLost("scripted card reset");
    }
    REQUIRE(command.size() >= 4);
    commands.emplace_back(command.begin(), command.end());
    const Bytes data = command.size() > 5 ? command.subspan(5) : Bytes{};
    switch (command[1]) {
      case apdu::to_u8(apdu::Ins::kTerminalProfile):
        profiles.emplace_back(data.begin(), data.end());
        return sw();
      case apdu::to_u8(apdu::Ins::kFetch): return fetch(command);
      case apdu::to_u8(apdu::Ins::kTerminalResponse): {
        responses.emplace_back(data.begin(), data.end());
        auto r = apdu::cat::parse_terminal_response(data);
        REQUIRE_MESSAGE(r.ok(), "terminal response does not parse: ", hex_text(data));
        if (on_response) on_response(*r);
        return sw();
      }
      case apdu::to_u8(apdu::Ins::kEnvelope): return envelope(data);
      case apdu::to_u8(apdu::Ins::kStatus):
        ++statuses;
        return sw();
      default:
        return status(apdu::StatusWord::kInsNotSupported);
    }
  }

  void queue(const apdu::cat::ProactiveCommand& c) { proactive.push_back(build(c)); }

 private:
  static std::vector<u8> status(apdu::StatusWord s) { return {apdu::sw1(s), apdu::sw2(s)}; }

  std::vector<u8> fetch(Bytes command) {
    if (proactive.empty()) return status(apdu::StatusWord::kConditionsNotSatisfied);
    std::vector<u8> out = proactive.front();
    REQUIRE(command.size() == 5);
    CHECK(command[4] == out.size());
    proactive.pop_front();
    const std::vector<u8> ok = status(apdu::StatusWord::kOk);
    out.insert(out.end(), ok.begin(), ok.end());
    return out;
  }

  std::vector<u8> envelope(Bytes data) {
    if (busy > 0) {
      --busy;
      ++busy_answers;
      return status(apdu::StatusWord::kToolkitBusy);
    }
    envelopes.emplace_back(data.begin(), data.end());
    auto e = apdu::cat::parse_envelope(data);
    REQUIRE_MESSAGE(e.ok(), "envelope does not parse: ", hex_text(data));
    if (on_envelope) on_envelope(*e);
    return sw();
  }

  std::vector<u8> sw() const {
    if (proactive.empty()) return status(apdu::StatusWord::kOk);
    return {apdu::sw1(apdu::StatusWord::kProactivePending), static_cast<u8>(proactive.front().size())};
  }

  bool connected_ = false;
};

}  // namespace scws::sim::test
