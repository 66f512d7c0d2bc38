// Fuzz target: arbitrary byte strings as APDUs into a powered card with a RAM NVM, interleaved
// with power cycles and warm resets. Input = a sequence of items, each starting with one byte L:
//   L <= 0xFC  an APDU of the next L bytes (fewer when the input ends)
//   L == 0xFD  power off (the next APDUs meet an unpowered card)
//   L == 0xFE  warm reset
//   L == 0xFF  power off, then power on
// Checked after every step: the response is 2..buffer bytes, RAM is back to its idle level, the
// arena's invariants hold, and no NVM transaction is left open (the next power-up must succeed).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "card/os/card.hpp"
#include "card/os/card_context.hpp"
#include "scws_config.hpp"

using namespace scws;
using namespace scws::card;

namespace {

// Two small applets that exercise selection, transactions, RAM and every error path.
class FuzzApplet final : public Applet {
 public:
  FuzzApplet(const u8* aid, std::size_t n, bool multi) : aid_(aid, n), multi_(multi) {}
  [[nodiscard]] Bytes aid() const noexcept override { return aid_; }
  [[nodiscard]] bool multiselectable() const noexcept override { return multi_; }
  Status<CardError> install(CardContext& ctx) noexcept override {
    auto created = ctx.objects().create(object_id(), 8);
    if (!created) return fail(to_card_error(created.error()));
    return {};
  }
  Status<CardError> on_power_up(CardContext& ctx) noexcept override {
    mem_ = ctx.make_transient(8, ClearEvent::kClearOnDeselect);
    if (mem_.empty()) return fail(CardError::kNotEnoughMemory);
    return {};
  }
  bool select(CardContext&, u8) noexcept override { return true; }
  void deselect(CardContext&, u8) noexcept override {}
  Result<ApduOutcome, CardError> process(CardContext& ctx, const ApduRequest& r) noexcept override {
    const apdu::CommandApdu& c = r.command;
    ApduOutcome out;
    if (r.selecting) return out;
    switch (c.ins) {
      case 0x01: {  // echo
        const std::size_t n = c.data.size() < r.response.size() ? c.data.size() : r.response.size();
        if (n != 0) std::memcpy(r.response.data(), c.data.data(), n);
        out.length = n;
        return out;
      }
      case 0x02:  // write without commit: the card OS aborts
      case 0x03: {  // write and commit
        auto begun = ctx.begin_transaction();
        if (!begun) return fail(begun.error());
        auto w = ctx.objects().write(object_id(), c.p2 & 7, Bytes(&c.p1, 1));
        if (!w) return fail(to_card_error(w.error()));
        if (c.ins == 0x03) {
          auto done = ctx.commit_transaction();
          if (!done) return fail(done.error());
        }
        return out;
      }
      case 0x04: {  // RAM for the command's duration
        void* p = ctx.arena().allocate((std::size_t{c.p1} << 8) | c.p2);
        if (p == nullptr) return fail(CardError::kNotEnoughMemory);
        ctx.arena().deallocate(p);
        return out;
      }
      case 0x05:
        return fail(static_cast<CardError>(c.p1 % (static_cast<u8>(CardError::kTechnicalProblem) + 1)));
      case 0x06:
        mem_[c.p1 & 7] = c.p2;
        r.response[0] = mem_[0];
        out.length = 1;
        out.completion = (c.p2 & 1) ? Completion::kEndOfFile : Completion::kNormal;
        return out;
      default:
        return fail(CardError::kInsNotSupported);
    }
  }

 private:
  [[nodiscard]] u32 object_id() const noexcept { return 0x10000000u | aid_.back(); }
  Bytes aid_;
  bool multi_;
  MutableBytes mem_;
};

constexpr u8 kAid1[] = {0xA0, 0x00, 0x00, 0x00, 0x87, 0x10, 0x02, 0xFF, 0x01};
constexpr u8 kAid2[] = {0xA0, 0x00, 0x00, 0x00, 0x87, 0x10, 0x02, 0xFF, 0x02};
constexpr std::size_t kImageSize = 80 * 1024;  // 64 KiB commit journal + object table + objects

struct alignas(16) Ram {
  u8 bytes[SCWS_RAM_SIZE];
};

// The formatted image with both applets installed, made once; every input starts from a copy.
const std::vector<u8>& golden_image() {
  static const std::vector<u8> golden = [] {
    std::vector<u8> image(kImageSize);
    RamNvmDevice device(image);
    if (!Card::format_image(device, CardIdentity{}).ok()) __builtin_trap();
    static Ram ram;
    FuzzApplet a(kAid1, sizeof kAid1, false), b(kAid2, sizeof kAid2, true);
    Card card(device, ram.bytes);
    card.add_applet(a);
    card.add_applet(b);
    if (!card.power_on().ok()) __builtin_trap();
    return image;
  }();
  return golden;
}

void check_card(const Card& card) {
  if (!card.powered()) return;
  const RamReport r = card.ram_report();
  if (r.in_use != r.idle) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static std::vector<u8> image;
  static Ram ram;
  static u8 response[SCWS_APDU_BUFFER_SIZE + 2];
  image = golden_image();
  RamNvmDevice device(image);
  FuzzApplet a(kAid1, sizeof kAid1, false), b(kAid2, sizeof kAid2, true);
  Card card(device, ram.bytes);
  card.add_applet(a);
  card.add_applet(b);
  if (!card.power_on().ok()) __builtin_trap();

  std::size_t at = 0;
  while (at < size) {
    const u8 l = data[at++];
    switch (l) {
      case 0xFD:
        card.power_off();
        continue;
      case 0xFE:
        if (!card.reset().ok()) __builtin_trap();
        check_card(card);
        continue;
      case 0xFF:
        card.power_off();
        if (!card.power_on().ok()) __builtin_trap();
        check_card(card);
        continue;
      default:
        break;
    }
    const std::size_t n = l <= size - at ? l : size - at;
    const std::size_t out = card.process(Bytes(data + at, n), response);
    at += n;
    if (out < 2 || out > sizeof response) __builtin_trap();
    check_card(card);
  }
  // Whatever happened, the image must still mount and the card power up.
  card.power_off();
  if (!card.power_on().ok()) __builtin_trap();
  return 0;
}
