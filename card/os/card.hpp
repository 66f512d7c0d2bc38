// The card: what vpcd (sim/vpcd_link) or the embedded gateway talks to. Single-threaded and
// run-to-completion: one APDU in, one response out. After power_on() nothing here touches the host
// heap; all RAM comes from the arena over the `ram` span given at construction.
#pragma once

#include <cstddef>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "card/os/applet.hpp"
#include "card/os/arena.hpp"
#include "card/os/card_time.hpp"
#include "card/os/card_error.hpp"
#include "card/os/nvm.hpp"
#include "card/os/security_events.hpp"
#include "card/os/tracer.hpp"

namespace scws::card {

class Toolkit;

// What provisioning writes into a fresh image as the card's identity.
struct CardIdentity {
  Bytes iccid;  // 10 bytes, BCD with swapped nibbles as stored in EF.ICCID (TS 102 221 13.2); empty = a test ICCID
  Bytes atr;    // at most 33 bytes, checked by parse_atr (card/os/atr.hpp); empty = the default UICC ATR
  // The administrative key ADM1 (card/os/adm_key.hpp): 8 bytes, or empty for none (then nothing
  // that needs ADM can be done), and its number of tries before it blocks (1..15).
  Bytes adm_key;
  u8 adm_tries = 3;  // AdmKey::kDefaultTries
};

enum class PowerError : u8 {
  kNvm,           // mounting NVM failed: see nvm_error()
  kRamTooSmall,   // the arena cannot hold the APDU buffer and the applets' transient memory
  kNotPowered,    // reserved (reset() of an unpowered card is a cold start)
};

struct RamReport {
  std::size_t capacity = 0;
  std::size_t in_use = 0;
  std::size_t high_water = 0;
  std::size_t idle = 0;  // in_use right after power-up: what every session must return to
};

class Card {
 public:
  static constexpr std::size_t kMaxAtr = 33;  // ISO 7816-3 / pcsc-lite MAX_ATR_SIZE

  // nvm: the card's image (must outlive the card). ram: the whole card RAM, 16-byte aligned.
  Card(NvmDevice& nvm, MutableBytes ram) noexcept;
  ~Card();
  Card(const Card&) = delete;
  Card& operator=(const Card&) = delete;

  // Writes a fresh image on `device` (Nvm format, ObjectStore format, the identity - ATR,
  // EF.ICCID and the ADM key - and the UICC files, in transactions). Registered applets are installed into it at
  // the first power_on (format_image is static: it knows no applets). An identity with an ICCID
  // that is not 10 bytes, an ATR that parse_atr refuses or an ADM key that is not 8 bytes (or
  // tries not 1..15) fails with NvmError::kOutOfRange.
  static Status<NvmError> format_image(NvmDevice& device, const CardIdentity& identity) noexcept;

  // Cold start: RAM cleared, NVM mounted (an interrupted transaction rolled back; a damaged image
  // refused with kNvm and nvm_error()), the ATR loaded from the image, registered applets missing
  // from the image installed (each in a transaction), applets and toolkit powered up (their
  // transient memory allocated and zeroed), the basic channel open with the MF selected.
  Status<PowerError> power_on() noexcept;
  // RAM is lost; an open transaction is rolled back at the next power_on. Nothing is written.
  void power_off() noexcept;
  // Warm reset (ISO 7816-3): a transaction still open is aborted, then the same as power_off +
  // power_on, without losing the ATR. On an unpowered card, a cold start.
  Status<PowerError> reset() noexcept;
  [[nodiscard]] bool powered() const noexcept;
  // The ATR of the image last mounted (the default UICC ATR before any): never empty, valid at any
  // time, powered or not (vpcd asks for it between APDUs).
  [[nodiscard]] Bytes atr() const noexcept;
  // Why the last power_on failed with PowerError::kNvm.
  [[nodiscard]] NvmError nvm_error() const noexcept;

  // One command APDU in, the response (data + SW1 SW2) out. response needs room for the largest
  // response the card sends (at most the APDU buffer size + 2); data beyond its room is cut.
  // Returns >= 2 (0 only when response.size() < 2). An unpowered card answers 6F 00.
  // Routing and status words: card/os/dispatcher.hpp.
  std::size_t process(Bytes command, MutableBytes response) noexcept;

  [[nodiscard]] RamReport ram_report() const noexcept;

  // Registers an applet built by the host before the first power_on (at most kMaxApplets).
  // false when powered, full, or the AID is not 1..16 bytes or already registered.
  static constexpr std::size_t kMaxApplets = 8;
  bool add_applet(Applet& applet) noexcept;

  // The CAT toolkit (card/os/toolkit_hook.hpp) the dispatcher hands CAT commands to; it must outlive
  // the card. Without one, a do-nothing default answers. Before power_on (false when powered).
  bool set_toolkit(Toolkit& toolkit) noexcept;
  // The card's security-event channel (card/os/security_events.hpp): counters since power-up; the
  // host or the detection rules set its listener.
  SecurityEvents& security_events() noexcept;
  // The card's time (card/os/card_time.hpp).
  [[nodiscard]] const CardTime& time() const noexcept;
  // Where the card OS's trace lines go (nullptr: nowhere). The sink must outlive the card.
  void set_trace_sink(TraceSink* sink) noexcept;

 private:
  struct State;
  State* state_;  // built in the constructor, before power-up
};

}  // namespace scws::card
