// Shared by the card OS tests: a RAM-backed image formatted by Card::format_image, a card over an
// aligned RAM buffer, a scriptable test applet and a fake toolkit, and hex helpers.
#pragma once

#include <doctest/doctest.h>

#include <array>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/bytes.hpp"
#include "base/hex.hpp"
#include "tests/apdu/bytes_util.hpp"
#include "base/hex_text.hpp"
#include "card/os/card.hpp"
#include "card/os/card_context.hpp"
#include "card/os/toolkit_hook.hpp"
#include "scws_config.hpp"

namespace scws::card::test {

using scws::test::hex;  // tests/apdu/bytes_util.hpp

// Behaviour of TestApplet::process by INS (class 80 or 00):
enum TestIns : u8 {
  kEcho = 0x01,              // data back
  kWriteTransient = 0x02,    // P1 into the CLEAR_ON_RESET array, P2 into the CLEAR_ON_DESELECT array
  kReadTransient = 0x03,     // returns [reset[0], deselect[0]]
  kWriteNoCommit = 0x04,     // begins a transaction, writes P1 into its object, returns without commit
  kUseRam = 0x05,            // allocates P1P2 bytes from the arena, frees them; 6A84 when it cannot
  kFailWith = 0x07,          // fails with CardError(P1)
  kData = 0x08,              // P1P2 bytes of data 00 01 02 ...
  kEndOfFile = 0x09,         // 3 bytes with Completion::kEndOfFile
  kReadObject = 0x0A,        // the first byte of its object
  kWriteCommit = 0x0B,       // writes P1 into its object in a committed transaction
};

class TestApplet : public Applet {
 public:
  explicit TestApplet(std::vector<u8> aid, bool multiselectable = false)
      : aid_(std::move(aid)), multi_(multiselectable) {}

  [[nodiscard]] Bytes aid() const noexcept override { return aid_; }
  [[nodiscard]] Bytes label() const noexcept override { return label_; }
  [[nodiscard]] bool multiselectable() const noexcept override { return multi_; }

  Status<CardError> install(CardContext& ctx) noexcept override {
    ++installs;
    if (fail_install) return fail(CardError::kConditionsNotSatisfied);
    auto created = ctx.objects().create(object_id(), 4);
    if (!created) return fail(to_card_error(created.error()));
    return {};
  }
  Status<CardError> on_power_up(CardContext& ctx) noexcept override {
    ++power_ups;
    reset_mem = ctx.make_transient(transient_size, ClearEvent::kClearOnReset);
    deselect_mem = ctx.make_transient(transient_size, ClearEvent::kClearOnDeselect);
    if (reset_mem.empty() || deselect_mem.empty()) return fail(CardError::kNotEnoughMemory);
    if (leave_transaction_open_at_power_up) (void)ctx.begin_transaction();
    return {};
  }
  bool select(CardContext& ctx, u8 channel) noexcept override {
    ++selects;
    last_channel = channel;
    if (leave_transaction_open_in_select) {
      (void)ctx.begin_transaction();
      (void)ctx.objects().write(object_id(), 0, Bytes(&kSelectMark, 1));
    }
    return accept_select;
  }
  void deselect(CardContext& ctx, u8 channel) noexcept override {
    (void)ctx;
    ++deselects;
    last_channel = channel;
  }
  Result<ApduOutcome, CardError> process(CardContext& ctx, const ApduRequest& r) noexcept override {
    ++commands;
    last_channel = r.channel;
    const apdu::CommandApdu& c = r.command;
    ApduOutcome out;
    if (r.selecting) {
      ++selecting_commands;
      if (!fci.empty()) {
        std::memcpy(r.response.data(), fci.data(), fci.size());
        out.length = fci.size();
      }
      return out;
    }
    switch (c.ins) {
      case kEcho:
        std::memcpy(r.response.data(), c.data.data(), c.data.size());
        out.length = c.data.size();
        return out;
      case kWriteTransient:
        reset_mem[0] = c.p1;
        deselect_mem[0] = c.p2;
        return out;
      case kReadTransient:
        r.response[0] = reset_mem[0];
        r.response[1] = deselect_mem[0];
        out.length = 2;
        return out;
      case kWriteNoCommit: {
        auto begun = ctx.begin_transaction();
        if (!begun) return fail(begun.error());
        auto w = ctx.objects().write(object_id(), 0, Bytes(&c.p1, 1));
        if (!w) return fail(to_card_error(w.error()));
        return out;
      }
      case kWriteCommit: {
        auto begun = ctx.begin_transaction();
        if (!begun) return fail(begun.error());
        auto w = ctx.objects().write(object_id(), 0, Bytes(&c.p1, 1));
        if (!w) return fail(to_card_error(w.error()));
        auto done = ctx.commit_transaction();
        if (!done) return fail(done.error());
        return out;
      }
      case kReadObject: {
        auto rd = ctx.objects().read(object_id(), 0, r.response.first(1));
        if (!rd) return fail(to_card_error(rd.error()));
        out.length = 1;
        return out;
      }
      case kUseRam: {
        void* p = ctx.arena().allocate((std::size_t{c.p1} << 8) | c.p2);
        if (p == nullptr) return fail(CardError::kNotEnoughMemory);
        ctx.arena().deallocate(p);
        return out;
      }
      case kFailWith:
        return fail(static_cast<CardError>(c.p1));
      case kData: {
        const std::size_t n = (std::size_t{c.p1} << 8) | c.p2;
        if (n > r.response.size()) return fail(CardError::kWrongLength);
        for (std::size_t i = 0; i < n; ++i) r.response[i] = static_cast<u8>(i);
        out.length = n;
        return out;
      }
      case kEndOfFile:
        out.length = 3;
        r.response[0] = r.response[1] = r.response[2] = 0xEF;
        out.completion = Completion::kEndOfFile;
        return out;
      default:
        return fail(CardError::kInsNotSupported);
    }
  }

  // One persistent object per applet, its id derived from the whole AID (FNV-1a, 24 bits).
  [[nodiscard]] u32 object_id() const noexcept {
    u32 h = 2166136261u;
    for (u8 b : aid_) h = (h ^ b) * 16777619u;
    return 0x10000000u | (h & 0x00FFFFFFu);
  }

  static constexpr u8 kSelectMark = 0x5E;
  std::vector<u8> aid_;
  std::vector<u8> label_;
  std::vector<u8> fci;  // what the applet answers to its selecting SELECT (empty = nothing)
  bool multi_ = false;
  bool accept_select = true;
  bool fail_install = false;
  bool leave_transaction_open_in_select = false;
  bool leave_transaction_open_at_power_up = false;
  std::size_t transient_size = 16;
  int installs = 0, power_ups = 0, selects = 0, deselects = 0, commands = 0, selecting_commands = 0;
  u8 last_channel = 0xFF;
  MutableBytes reset_mem, deselect_mem;
};

// A toolkit that records what reaches it and can claim a pending proactive command.
class FakeToolkit : public Toolkit {
 public:
  Status<CardError> on_power_up(CardContext& ctx) noexcept override {
    ++power_ups;
    if (power_up_error) return fail(*power_up_error);
    mem = ctx.make_transient(ram_size, ClearEvent::kClearOnReset);
    if (mem.empty()) return fail(CardError::kNotEnoughMemory);
    return {};
  }
  Result<ApduOutcome, CardError> terminal_profile(CardContext&, const ApduRequest& r) noexcept override {
    ++profiles;
    profile_size = r.command.data.size() < profile.size() ? r.command.data.size() : profile.size();
    std::memcpy(profile.data(), r.command.data.data(), profile_size);
    return ApduOutcome{};
  }
  Result<ApduOutcome, CardError> fetch(CardContext&, const ApduRequest& r) noexcept override {
    ++fetches;
    const u8 cmd[] = {0xD0, 0x03, 0x81, 0x01, 0x00};
    std::memcpy(r.response.data(), cmd, sizeof cmd);
    pending = 0;
    return ApduOutcome{sizeof cmd, Completion::kNormal};
  }
  Result<ApduOutcome, CardError> terminal_response(CardContext&, const ApduRequest&) noexcept override {
    ++responses;
    return ApduOutcome{};
  }
  Result<ApduOutcome, CardError> envelope(CardContext&, const ApduRequest&) noexcept override {
    ++envelopes;
    if (busy) return fail(CardError::kToolkitBusy);
    return ApduOutcome{};
  }
  [[nodiscard]] u8 pending_proactive_length() const noexcept override { return pending; }

  int power_ups = 0, profiles = 0, fetches = 0, responses = 0, envelopes = 0;
  std::optional<CardError> power_up_error;
  std::size_t ram_size = 32;
  MutableBytes mem;
  bool busy = false;
  u8 pending = 0;
  std::array<u8, 64> profile{};  // no host heap: the card tests count allocations
  std::size_t profile_size = 0;
};

// An image on a RAM device and a card over its own aligned RAM.
struct CardRig {
  static constexpr std::size_t kImageSize = 256 * 1024;
  struct alignas(16) Ram {
    u8 bytes[SCWS_RAM_SIZE];
  };

  explicit CardRig(std::size_t ram_size = SCWS_RAM_SIZE, CardIdentity identity = {})
      : image(kImageSize), device(image), ram(new Ram{}), card(device, MutableBytes(ram->bytes, ram_size)) {
    auto formatted = Card::format_image(device, identity);
    REQUIRE(formatted.ok());
  }
  ~CardRig() { delete ram; }
  CardRig(const CardRig&) = delete;
  CardRig& operator=(const CardRig&) = delete;

  void power_on() { REQUIRE(card.power_on().ok()); }

  // Sends a command given in hex; returns the whole response (data + SW) as hex.
  std::string send(std::string_view command_hex) {
    const std::vector<u8> c = hex(command_hex);
    std::vector<u8> response(SCWS_APDU_BUFFER_SIZE + 2);
    const std::size_t n = card.process(c, response);
    REQUIRE(n >= 2);
    REQUIRE(n <= response.size());
    return hex_text(Bytes(response.data(), n));
  }
  // Only the status word, as 4 hex digits.
  std::string sw(std::string_view command_hex) {
    const std::string r = send(command_hex);
    return r.substr(r.size() - 4);
  }

  std::vector<u8> image;
  RamNvmDevice device;
  Ram* ram;
  Card card;
};

}  // namespace scws::card::test
