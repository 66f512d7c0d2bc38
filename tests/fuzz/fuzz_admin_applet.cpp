// Fuzz target: the admin applet's command parsing (card/defence/admin_applet.hpp) on a powered card
// with an ADM key, its incident queue and a stand-in for the attack detection that records an
// incident whenever it closes a port. Input = a sequence of items, each starting with one byte L:
//   L <= 0xFB  an APDU of the next L bytes (fewer when the input ends)
//   L == 0xFC  SELECT the admin applet on the basic channel
//   L == 0xFD  VERIFY ADM1 with the right key
//   L == 0xFE  warm reset
//   L == 0xFF  power off, then power on
// Checked after every step: the response is 2..buffer bytes, RAM is back to its idle level, and the
// queue reads whole and in order (count <= capacity, sequences
// increasing and below the next one). At the end the image must still power up undamaged.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "card/defence/admin_applet.hpp"
#include "card/defence/incident_queue.hpp"
#include "card/os/card.hpp"
#include "card/os/card_context.hpp"
#include "scws_config.hpp"

using namespace scws;
using namespace scws::card;

namespace {

constexpr u8 kKey[] = {0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38};
constexpr u8 kVerify[] = {0x00, 0x20, 0x00, 0x0A, 0x08, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38};
constexpr u8 kSelect[] = {0x00, 0xA4, 0x04, 0x00, 0x06, 0xF0, 0x53, 0x43, 0x57, 0x53, 0x41};
constexpr std::size_t kImageSize = 80 * 1024;  // 64 KiB commit journal + object table + objects

struct alignas(16) Ram {
  u8 bytes[SCWS_RAM_SIZE];
};

// Settings of 4 bytes; two ports; closing a port records an incident in the same transaction.
class FuzzControl final : public DefenceControl {
 public:
  explicit FuzzControl(IncidentQueue& queue) : queue_(queue) {}
  Result<std::size_t, CardError> read_settings(CardContext&, MutableBytes out) noexcept override {
    if (out.size() < sizeof settings_) return fail(CardError::kWrongLength);
    for (std::size_t i = 0; i < sizeof settings_; ++i) out[i] = settings_[i];
    return sizeof settings_;
  }
  Status<CardError> write_settings(CardContext&, Bytes s) noexcept override {
    if (s.size() != sizeof settings_ || s[0] == 0) return fail(CardError::kWrongData);
    for (std::size_t i = 0; i < sizeof settings_; ++i) settings_[i] = s[i];
    return {};
  }
  Result<std::size_t, CardError> read_port_states(CardContext&, MutableBytes out) noexcept override {
    if (out.size() < 2) return fail(CardError::kWrongLength);
    out[0] = open_[0] ? 1 : 0;
    out[1] = open_[1] ? 1 : 0;
    return std::size_t{2};
  }
  Status<CardError> set_port_open(CardContext& ctx, u16 port, bool open) noexcept override {
    const int i = port == 3516 ? 0 : port == 10443 ? 1 : -1;
    if (i < 0) return fail(CardError::kReferencedDataNotFound);
    SCWS_TRY(ctx.begin_transaction());
    open_[i] = open;
    if (!open) {
      Incident in;
      in.rule = DetectionRule::kConnectionFlood;
      in.port = port;
      auto seq = queue_.append(in);
      if (!seq) return fail(to_card_error(seq.error()));
    }
    return ctx.commit_transaction();
  }

 private:
  IncidentQueue& queue_;
  u8 settings_[4] = {1, 2, 3, 4};
  bool open_[2] = {true, true};
};

CardIdentity identity() {
  CardIdentity id;
  id.adm_key = Bytes(kKey, sizeof kKey);
  id.adm_tries = 15;
  return id;
}

// The formatted image with a small queue (capacity 4, so it fills up), made once.
const std::vector<u8>& golden_image() {
  static const std::vector<u8> golden = [] {
    std::vector<u8> image(kImageSize);
    RamNvmDevice device(image);
    if (!Card::format_image(device, identity()).ok()) __builtin_trap();
    Nvm nvm(device);
    ObjectStore store(nvm);
    if (!nvm.mount().ok() || !nvm.begin().ok() || !IncidentQueue::format(store, 4).ok() || !nvm.commit().ok())
      __builtin_trap();
    return image;
  }();
  return golden;
}

void check(const Card& card, IncidentQueue& queue) {
  if (!card.powered()) return;
  const RamReport r = card.ram_report();
  if (r.in_use != r.idle) __builtin_trap();
  auto s = queue.summary();
  if (!s || s->count > s->capacity) __builtin_trap();
  u32 previous = 0;
  for (u32 i = 0; i < s->count; ++i) {
    auto in = queue.at(i);
    if (!in || in->sequence <= previous || in->sequence >= s->next_sequence) __builtin_trap();
    previous = in->sequence;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static std::vector<u8> image;
  static Ram ram;
  static u8 response[SCWS_APDU_BUFFER_SIZE + 2];
  image = golden_image();
  RamNvmDevice device(image);
  IncidentQueue queue;
  FuzzControl control(queue);
  AdminApplet applet(queue, &control);
  Card card(device, ram.bytes);
  card.add_applet(applet);
  if (!card.power_on().ok()) __builtin_trap();

  auto send = [&](Bytes command) {
    const std::size_t out = card.process(command, response);
    if (out < 2 || out > sizeof response) __builtin_trap();
  };
  std::size_t at = 0;
  while (at < size) {
    const u8 l = data[at++];
    switch (l) {
      case 0xFC:
        send(Bytes(kSelect, sizeof kSelect));
        break;
      case 0xFD:
        send(Bytes(kVerify, sizeof kVerify));
        break;
      case 0xFE:
        if (!card.reset().ok()) __builtin_trap();
        break;
      case 0xFF:
        card.power_off();
        if (!card.power_on().ok()) __builtin_trap();
        break;
      default: {
        const std::size_t n = l <= size - at ? l : size - at;
        send(Bytes(data + at, n));
        at += n;
        break;
      }
    }
    check(card, queue);
  }
  // Whatever happened, the image must still power up, its queue undamaged.
  card.power_off();
  if (!card.power_on().ok() || queue.damaged_at_power_up()) __builtin_trap();
  return 0;
}
