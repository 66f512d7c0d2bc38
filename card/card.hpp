// The card: what vpcd (sim/vpcd_link) or the embedded gateway talks to. Single-threaded and
// run-to-completion: one APDU in, one response out. After power_on() nothing here touches the host
// heap; all RAM comes from the arena over the `ram` span given at construction.
#pragma once

#include <cstddef>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "card/applet.hpp"
#include "card/arena.hpp"
#include "card/card_error.hpp"
#include "card/nvm.hpp"

namespace scws::card {

// What provisioning writes into a fresh image as the card's identity.
struct CardIdentity {
  Bytes iccid;  // 10 bytes, BCD with swapped nibbles as stored in EF.ICCID (TS 102 221 13.2)
  Bytes atr;    // at most 33 bytes; empty = the default UICC ATR
};

enum class PowerError : u8 {
  kNvm,           // mounting NVM failed: see nvm_error()
  kRamTooSmall,   // the arena cannot hold the APDU buffer and the applets' transient memory
  kNotPowered,
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

  // Formats a fresh image on `device` and installs the built-in applets with `identity`.
  static Status<NvmError> format_image(NvmDevice& device, const CardIdentity& identity) noexcept;

  // Cold start: RAM cleared, NVM mounted (an interrupted transaction rolled back), applets powered up.
  Status<PowerError> power_on() noexcept;
  // RAM is lost; an open transaction is rolled back at the next power_on.
  void power_off() noexcept;
  // Warm reset (ISO 7816-3): the same as power_off + power_on, without losing the ATR.
  Status<PowerError> reset() noexcept;
  [[nodiscard]] bool powered() const noexcept;
  [[nodiscard]] Bytes atr() const noexcept;
  [[nodiscard]] NvmError nvm_error() const noexcept;

  // One command APDU in, the response (data + SW1 SW2) out. response needs room for the largest
  // response the card sends (at most the APDU buffer size + 2). Always returns >= 2.
  std::size_t process(Bytes command, MutableBytes response) noexcept;

  [[nodiscard]] RamReport ram_report() const noexcept;

  // Registers an applet built by the host before the first power_on (at most kMaxApplets).
  static constexpr std::size_t kMaxApplets = 8;
  bool add_applet(Applet& applet) noexcept;

 private:
  struct State;
  State* state_;  // built in the constructor, before power-up
};

}  // namespace scws::card
