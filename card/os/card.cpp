#include "card/os/card.hpp"

#include <array>
#include <cstring>
#include <new>

#include "card/os/atr.hpp"
#include "card/os/card_context.hpp"
#include "card/os/dispatcher.hpp"
#include "card/os/toolkit_hook.hpp"
#include "card/os/transient.hpp"
#include "card/os/uicc_files.hpp"
#include "scws_config.hpp"

namespace scws::card {
namespace {

// Card OS objects in the image (id range 0x01xxxxxx, card/os/nvm.hpp).
constexpr u32 kObjectAtr = 0x01000001;        // u8 length, then kMaxAtrSize bytes
constexpr u32 kObjectInstalled = 0x01000002;  // kMaxApplets entries: u8 AID length (0 = free), 16 bytes
constexpr std::size_t kAtrObjectSize = 1 + kMaxAtrSize;
constexpr std::size_t kInstalledEntry = 1 + UiccFiles::kMaxAidSize;
constexpr std::size_t kInstalledSize = Dispatcher::kMaxApplets * kInstalledEntry;

static_assert(Card::kMaxApplets == Dispatcher::kMaxApplets);
static_assert(Card::kMaxAtr == kMaxAtrSize);
static_assert(SCWS_APDU_BUFFER_SIZE >= 261, "a short APDU with 255 bytes of data must fit (ISO 7816-4 5.1)");
static_assert(SCWS_APDU_BUFFER_SIZE + 2 * Arena::kAlignment < SCWS_RAM_SIZE, "the APDU buffer is carved from card RAM");

// Runs body (returning Status<NvmError>) inside one transaction: commit on success, abort on failure.
template <class Body>
Status<NvmError> in_transaction(Nvm& nvm, Body&& body) noexcept {
  SCWS_TRY(nvm.begin());
  Status<NvmError> s = body();
  if (!s) {
    (void)nvm.abort();
    return s;
  }
  return nvm.commit();
}

}  // namespace

struct Card::State {
  State(NvmDevice& nvm_device, MutableBytes ram_memory) noexcept
      : device(nvm_device),
        ram(ram_memory),
        arena(ram_memory),
        nvm(nvm_device),
        objects(nvm),
        transient(arena),
        ctx(nvm, objects, arena, transient, tracer, events, time),
        files(objects, events),
        dispatcher(ctx, files, transient, default_toolkit) {
    ctx.os_set_adm_key(&files.adm());
    set_atr(kDefaultAtr);
  }

  void set_atr(Bytes a) noexcept {
    atr_size = a.size();
    std::memcpy(atr.data(), a.data(), a.size());
  }
  void drop_power() noexcept;
  Status<NvmError> load_atr() noexcept;
  Status<NvmError> install_missing() noexcept;

  NvmDevice& device;
  MutableBytes ram;
  Arena arena;
  Nvm nvm;
  ObjectStore objects;
  TransientMemory transient;
  Tracer tracer;
  SecurityEvents events;  // the card's security-event channel: counters since power-up
  CardTime time;          // the card's uptime and date (card/os/card_time.hpp): RAM, reset at power-up
  CardContext ctx;
  UiccFiles files;
  Toolkit default_toolkit;  // the do-nothing toolkit (card/os/toolkit_hook.hpp)
  Toolkit* toolkit = &default_toolkit;
  Dispatcher dispatcher;
  std::array<u8, kMaxAtrSize> atr{};
  std::size_t atr_size = 0;
  NvmError nvm_error = NvmError::kIo;
  std::size_t idle = 0;
  bool powered = false;
};

// The constructor is the card's only host allocation.
Card::Card(NvmDevice& nvm, MutableBytes ram) noexcept : state_(new State(nvm, ram)) {}

Card::~Card() { delete state_; }

Status<NvmError> Card::format_image(NvmDevice& device, const CardIdentity& identity) noexcept {
  const Bytes iccid = identity.iccid.empty() ? Bytes(UiccFiles::kDefaultIccid) : identity.iccid;
  const Bytes atr = identity.atr.empty() ? Bytes(kDefaultAtr) : identity.atr;
  if (iccid.size() != UiccFiles::kIccidSize || !parse_atr(atr)) return fail(NvmError::kOutOfRange);
  if (!identity.adm_key.empty() &&
      (identity.adm_key.size() != AdmKey::kKeySize || identity.adm_tries == 0 || identity.adm_tries > AdmKey::kMaxTries))
    return fail(NvmError::kOutOfRange);

  Nvm nvm(device);
  SCWS_TRY(nvm.format(SCWS_COMMIT_CAPACITY));
  SCWS_TRY(nvm.mount());
  ObjectStore objects(nvm);
  SCWS_TRY(in_transaction(nvm, [&]() noexcept { return objects.format(); }));
  return in_transaction(nvm, [&]() noexcept -> Status<NvmError> {
    std::array<u8, kAtrObjectSize> stored{};
    stored[0] = static_cast<u8>(atr.size());
    std::memcpy(stored.data() + 1, atr.data(), atr.size());
    SCWS_TRY(objects.create(kObjectAtr, kAtrObjectSize));
    SCWS_TRY(objects.write(kObjectAtr, 0, stored));
    SCWS_TRY(objects.create(kObjectInstalled, kInstalledSize));  // zero-filled: nothing installed
    SCWS_TRY(UiccFiles::format(objects, iccid));
    if (identity.adm_key.empty()) return {};
    return AdmKey::format(objects, identity.adm_key, identity.adm_tries);
  });
}

// What power loss does: RAM and every session state are gone; nothing touches NVM.
void Card::State::drop_power() noexcept {
  dispatcher.stop();
  files.adm().forget();  // the ADM access condition lasts one card session
  ctx.set_admin_session(false);
  transient.forget();
  arena.reset();
  ctx.os_end_power_up();
  ctx.os_set_channel(0);
  powered = false;
}

// The ATR from the image, if it is a valid one (else the image is refused: it is damaged).
Status<NvmError> Card::State::load_atr() noexcept {
  std::array<u8, kAtrObjectSize> stored{};
  SCWS_TRY(objects.read(kObjectAtr, 0, stored));
  const Bytes a = Bytes(stored).subspan(1, stored[0] <= kMaxAtrSize ? stored[0] : 0);
  if (!parse_atr(a)) return fail(NvmError::kCorruptData);
  set_atr(a);
  return {};
}

// Installs registered applets missing from the image, one transaction each. An applet whose
// install() fails, or that does not fit, stays uninstalled; a failing device fails the power-up.
Status<NvmError> Card::State::install_missing() noexcept {
  State& s = *this;
  std::array<u8, kInstalledSize> table{};
  SCWS_TRY(s.objects.read(kObjectInstalled, 0, table));
  auto slots = s.dispatcher.applets();
  for (AppletSlot& slot : slots) {
    const Bytes aid = slot.applet->aid();
    slot.installed = false;
    std::size_t free_entry = Dispatcher::kMaxApplets;
    for (std::size_t e = 0; e < Dispatcher::kMaxApplets; ++e) {
      const u8 len = table[e * kInstalledEntry];
      if (len == 0) {
        if (free_entry == Dispatcher::kMaxApplets) free_entry = e;
      } else if (len <= UiccFiles::kMaxAidSize && bytes_equal(Bytes(table).subspan(e * kInstalledEntry + 1, len), aid)) {
        slot.installed = true;
      }
    }
    if (slot.installed) continue;
    if (free_entry == Dispatcher::kMaxApplets) {
      s.tracer("install: no free entry for an applet");
      continue;
    }
    SCWS_TRY(s.nvm.begin());
    s.ctx.os_set_channel(0);
    auto installed = slot.applet->install(s.ctx);
    if (!s.nvm.in_transaction()) SCWS_TRY(s.nvm.begin());  // the applet committed on its own
    Status<NvmError> recorded = installed ? Status<NvmError>{} : fail(NvmError::kNotFound);
    std::array<u8, kInstalledEntry> entry{};
    if (recorded) {
      entry[0] = static_cast<u8>(aid.size());
      std::memcpy(entry.data() + 1, aid.data(), aid.size());
      recorded = s.objects.write(kObjectInstalled, static_cast<u32>(free_entry * kInstalledEntry), entry);
    }
    if (recorded) recorded = UiccFiles::add_application(s.objects, aid, slot.applet->label());
    if (recorded) recorded = s.nvm.commit();
    if (!recorded) {
      if (s.nvm.in_transaction()) (void)s.nvm.abort();
      s.tracer("install of an applet failed (%s)", installed ? describe(recorded.error()) : "install() refused");
      if (installed && recorded.error() == NvmError::kIo) return fail(NvmError::kIo);
      continue;
    }
    std::memcpy(table.data() + free_entry * kInstalledEntry, entry.data(), entry.size());
    slot.installed = true;
  }
  return {};
}

Status<PowerError> Card::power_on() noexcept {
  State& s = *state_;
  s.drop_power();
  // Cold start: RAM holds nothing from before: no counter, no verified key.
  s.events.reset();
  s.time.reset();
  if (!s.ram.empty()) std::memset(s.ram.data(), 0, s.ram.size());
  s.arena.reset();
  // A fresh NVM driver: whatever it believed about an open transaction died with the power.
  s.nvm.~Nvm();
  new (&s.nvm) Nvm(s.device);
  s.objects.~ObjectStore();
  new (&s.objects) ObjectStore(s.nvm);

  void* buffer = s.arena.allocate(SCWS_APDU_BUFFER_SIZE);
  if (buffer == nullptr) {
    s.drop_power();
    return fail(PowerError::kRamTooSmall);
  }
  auto fail_nvm = [&s](NvmError e) noexcept {
    s.nvm_error = e;
    s.tracer("power on refused: NVM %s", describe(e));
    s.drop_power();
    return fail(PowerError::kNvm);
  };
  if (auto mounted = s.nvm.mount(); !mounted) return fail_nvm(mounted.error());
  if (auto atr = s.load_atr(); !atr) return fail_nvm(atr.error());
  if (auto installed = s.install_missing(); !installed) return fail_nvm(installed.error());

  auto slots = s.dispatcher.applets();
  for (std::size_t i = 0; i < slots.size(); ++i) {
    AppletSlot& slot = slots[i];
    slot.available = false;
    if (!slot.installed) continue;
    s.ctx.os_begin_power_up(static_cast<u8>(i));
    auto up = slot.applet->on_power_up(s.ctx);
    s.ctx.os_end_power_up();
    if (s.nvm.in_transaction()) (void)s.nvm.abort();
    if (!up) {
      if (up.error() == CardError::kNotEnoughMemory) {
        s.drop_power();
        return fail(PowerError::kRamTooSmall);
      }
      s.tracer("applet %zu failed to power up: not selectable", i);
      continue;
    }
    slot.available = true;
  }
  s.dispatcher.set_toolkit(*s.toolkit);
  s.ctx.os_begin_power_up(CardContext::kNoOwner);
  auto toolkit_up = s.toolkit->on_power_up(s.ctx);
  s.ctx.os_end_power_up();
  if (s.nvm.in_transaction()) (void)s.nvm.abort();
  if (!toolkit_up) {
    if (toolkit_up.error() == CardError::kNotEnoughMemory) {
      s.drop_power();
      return fail(PowerError::kRamTooSmall);
    }
    // A toolkit that cannot start sits this session out: the do-nothing one answers instead.
    s.tracer("toolkit failed to power up: CAT disabled until the next power-up");
    s.dispatcher.set_toolkit(s.default_toolkit);
  }

  s.dispatcher.start(MutableBytes(static_cast<u8*>(buffer), SCWS_APDU_BUFFER_SIZE));
  s.idle = s.arena.in_use();
  s.powered = true;
  s.tracer("power on: RAM idle %zu of %zu bytes", s.idle, s.arena.capacity());
  return {};
}

void Card::power_off() noexcept {
  if (state_->powered) state_->tracer("power off");
  state_->drop_power();
}

Status<PowerError> Card::reset() noexcept {
  State& s = *state_;
  // Power stays on through a warm reset, so an open transaction is rolled back now.
  if (s.powered && s.nvm.mounted() && s.nvm.in_transaction()) (void)s.nvm.abort();
  return power_on();
}

bool Card::powered() const noexcept { return state_->powered; }

Bytes Card::atr() const noexcept { return Bytes(state_->atr.data(), state_->atr_size); }

NvmError Card::nvm_error() const noexcept { return state_->nvm_error; }

std::size_t Card::process(Bytes command, MutableBytes response) noexcept {
  return state_->dispatcher.process(command, response);
}

RamReport Card::ram_report() const noexcept {
  const State& s = *state_;
  RamReport r;
  r.capacity = s.arena.capacity();
  r.in_use = s.arena.in_use();
  r.high_water = s.arena.high_water();
  r.idle = s.idle;
  return r;
}

bool Card::add_applet(Applet& applet) noexcept {
  if (state_->powered) return false;
  return state_->dispatcher.add_applet(applet);
}

bool Card::set_toolkit(Toolkit& toolkit) noexcept {
  if (state_->powered) return false;
  state_->toolkit = &toolkit;
  state_->dispatcher.set_toolkit(toolkit);
  return true;
}

SecurityEvents& Card::security_events() noexcept { return state_->events; }

const CardTime& Card::time() const noexcept { return state_->time; }

void Card::set_trace_sink(TraceSink* sink) noexcept { state_->tracer.set_sink(sink); }

}  // namespace scws::card
