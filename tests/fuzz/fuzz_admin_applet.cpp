// Fuzz target: the admin applet's command parsing (card/defence/admin_applet.hpp) on a powered card
// with an ADM key, its incident queue and a stand-in for the attack detection that records an
// incident whenever it closes a port; the remote administration commands (docs/protocol.md 16.6)
// reach the real SCWS stores through card::ScwsContentControl (the SCWS applet installed, a user
// and a protection set provisioned, the admin link PSK and a TLS PSK in the image) and a stand-in
// for the admin agent's START SESSION. Input = a sequence of items, each starting with one byte L:
//   L <= 0xFB  an APDU of the next L bytes (fewer when the input ends)
//   L == 0xFC  SELECT the admin applet on the basic channel
//   L == 0xFD  VERIFY ADM1 with the right key
//   L == 0xFE  warm reset
//   L == 0xFF  power off, then power on
// Checked after every step: the response is 2..buffer bytes, RAM is back to its idle level, the
// queue reads whole and in order (count <= capacity, sequences increasing and below the next one),
// and after each of the first few remote administration commands (each check mounts the image
// again) a staging object present reads whole, the remote-node list loads and the resource index
// holds.
// At the end the image must still power up undamaged.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "card/defence/admin_applet.hpp"
#include "card/defence/admin_link.hpp"
#include "card/defence/incident_queue.hpp"
#include "card/defence/remote_nodes.hpp"
#include "card/defence/resource_staging.hpp"
#include "card/os/card.hpp"
#include "card/os/card_context.hpp"
#include "card/scws/password_hash.hpp"
#include "card/scws/scws_applet.hpp"
#include "card/scws/scws_content_control.hpp"
#include "card/scws/web_content.hpp"
#include "card/scws/web_users.hpp"
#include "scws_config.hpp"
#include "tls/card_rng.hpp"
#include "tls/credentials.hpp"

using namespace scws;
using namespace scws::card;

namespace {

constexpr u8 kKey[] = {0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38};
constexpr u8 kVerify[] = {0x00, 0x20, 0x00, 0x0A, 0x08, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38};
constexpr u8 kSelect[] = {0x00, 0xA4, 0x04, 0x00, 0x06, 0xF0, 0x53, 0x43, 0x57, 0x53, 0x41};
constexpr std::size_t kImageSize = 128 * 1024;  // 64 KiB commit journal + object table + objects

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

// START SESSION's hook: refuses every other order, as an agent without a link would.
class FuzzSession final : public AdminSessionControl {
 public:
  Status<CardError> start_session(CardContext&) noexcept override {
    if (++orders_ % 2 == 0) return fail(CardError::kConditionsNotSatisfied);
    return {};
  }

 private:
  u32 orders_ = 0;
};

// Deterministic "entropy": the same input always takes the same path.
int fixed_entropy(void*, unsigned char* out, std::size_t len) {
  for (std::size_t i = 0; i < len; ++i) out[i] = static_cast<unsigned char>(i * 37 + 11);
  return 0;
}

CardIdentity identity() {
  CardIdentity id;
  id.adm_key = Bytes(kKey, sizeof kKey);
  id.adm_tries = 15;
  return id;
}

// The formatted image with a small queue (capacity 4, so it fills up), the SCWS applet installed
// with a page, a user (PBKDF2 with 1 iteration, so PUT USER hashes fast) and a protection set, the
// admin link PSK and one TLS PSK; made once.
const std::vector<u8>& golden_image() {
  static const std::vector<u8> golden = [] {
    std::vector<u8> image(kImageSize);
    {
      RamNvmDevice device(image);
      if (!Card::format_image(device, identity()).ok()) __builtin_trap();
      static Ram install_ram;
      IncidentQueue queue;
      AdminApplet admin(queue);
      ScwsApplet scws;
      Card card(device, install_ram.bytes);
      if (!card.add_applet(admin) || !card.add_applet(scws) || !card.power_on().ok()) __builtin_trap();
      card.power_off();
    }
    RamNvmDevice device(image);
    Nvm nvm(device);
    ObjectStore store(nvm);
    if (!nvm.mount().ok() || !nvm.begin().ok() || !IncidentQueue::format(store, 4).ok() || !nvm.commit().ok())
      __builtin_trap();
    static constexpr u8 kPage[] = {'<', 'p', '>', 'h', 'i'};
    static constexpr u8 kSalt[PasswordHash::kSaltSize] = {};
    static constexpr u8 kPsk[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    static constexpr u8 kLinkId[] = {'s', 'c', 'w', 's', '-', 'a', 'd', 'm', 'i', 'n', ':', '1'};
    static constexpr u8 kTlsId[] = {'a', 'p', 'p'};
    PasswordHash hash;
    const std::string_view users[] = {"al"};
    if (!web_content_put(store, "/p", "text/html", Bytes(kPage, sizeof kPage)).ok() ||
        !make_password_hash("pw", Bytes(kSalt, sizeof kSalt), 1, hash) || !web_user_put(store, "al", hash).ok() ||
        !web_protection_put(store, "/s", "S", users).ok() ||
        !store_admin_psk(store, Bytes(kLinkId, sizeof kLinkId), Bytes(kPsk, sizeof kPsk)).ok() ||
        !tls::put_psk(store, Bytes(kTlsId, sizeof kTlsId), Bytes(kPsk, sizeof kPsk)).ok())
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

// The stores the remote administration commands change, through a second view of the same NVM
// (between commands no transaction is open, so mounting it only reads).
void check_stores(NvmDevice& device) {
  Nvm nvm(device);
  ObjectStore objects(nvm);
  if (!nvm.mount().ok()) __builtin_trap();
  StagedResource staged;
  auto h = staging_read_head(objects, staged);
  if (!h && h.error() != NvmError::kNotFound) __builtin_trap();
  RemoteNodes nodes;
  if (!load_remote_nodes(objects, nodes).ok()) __builtin_trap();
  auto page = web_content_find(objects, "/p");  // the index holds, whatever it lists
  if (!page && page.error() != ContentError::kNotFound) __builtin_trap();
  if (page) {
    u8 body[8];
    if (!web_content_read(objects, *page, 0, MutableBytes(body, sizeof body))) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static std::vector<u8> image;
  static Ram ram;
  static u8 response[SCWS_APDU_BUFFER_SIZE + 2];
  image = golden_image();
  RamNvmDevice device(image);
  static tls::CardRng rng;
  if (!rng.seeded() && !rng.seed(fixed_entropy, nullptr, {}).ok()) __builtin_trap();
  IncidentQueue queue;
  FuzzControl control(queue);
  ScwsContentControl content(rng);
  FuzzSession session;
  AdminApplet applet(queue, &control);
  applet.set_content_control(&content);
  applet.set_session_control(&session);
  ScwsApplet scws;
  Card card(device, ram.bytes);
  card.add_applet(applet);
  card.add_applet(scws);
  if (!card.power_on().ok()) __builtin_trap();

  auto send = [&](Bytes command) {
    const std::size_t out = card.process(command, response);
    if (out < 2 || out > sizeof response) __builtin_trap();
  };
  std::size_t at = 0;
  bool stores_touched = false;
  // Each check mounts the image again (its CRCs verified): a few per input keep the fuzzer fast.
  constexpr int kMaxStoreChecks = 4;
  int store_checks = 0;
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
        stores_touched = n >= 2 && data[at + 1] >= AdminApplet::kInsPutResource && data[at + 1] <= AdminApplet::kInsRotatePsk;
        send(Bytes(data + at, n));
        at += n;
        break;
      }
    }
    check(card, queue);
    if (stores_touched && card.powered() && ++store_checks <= kMaxStoreChecks) check_stores(device);
    stores_touched = false;
  }
  // Whatever happened, the image must still power up, its queue undamaged.
  card.power_off();
  check_stores(device);
  if (!card.power_on().ok() || queue.damaged_at_power_up()) __builtin_trap();
  return 0;
}
