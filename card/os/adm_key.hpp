// The card's administrative key ADM1 (TS 102 221 9.5.1: key reference 0x0A, a "second level"
// application key the issuer holds) and its verification by VERIFY (TS 102 221 11.1.9). It is the
// access condition of the administrative file updates (card/os/uicc_files.hpp: UPDATE BINARY of
// EF.ICCID needs it).
//
// In the image: one object kObject (card OS range), [0] the profile's number of tries (1..15),
// [1] tries left, [2, 10) the key. Provisioning writes it (format); an image without it has no ADM
// key: VERIFY answers 6A 88 and what needs ADM can never be done.
//
// VERIFY 00 20 00 0A 08 <key> (the key is 8 bytes, as a PIN padded with FF would be, TS 102 221 9.5.1):
//   right key          -> 90 00, the access condition is satisfied until the card is reset or
//                         powered off (per card session, whatever the logical channel)
//   wrong key          -> 63 CX, X tries left (63 C0 on the last one); an ADM verify failure on the
//                         security-event channel; the condition is no longer satisfied
//   key blocked        -> 69 83 (also across power cycles: the counter is in NVM)
//   VERIFY with no data (Lc absent) -> 90 00 when verified in this session, 69 83 when blocked,
//                         else 63 CX: the counter's state, nothing changes
//   P1 not 00 -> 6B 00; another key reference -> 6A 88; data not 8 bytes -> 67 00.
// Tear safety: the counter is decremented and committed BEFORE the key is compared, and restored
// in a second transaction only after a match; a power cut at any NVM write can leave the counter
// lower than it should be, never higher, and no answer is given before the decrement is durable.
#pragma once

#include <cstddef>

#include "apdu/command_apdu.hpp"
#include "base/bytes.hpp"
#include "base/result.hpp"
#include "card/os/applet.hpp"
#include "card/os/card_error.hpp"
#include "card/os/nvm.hpp"
#include "card/os/security_events.hpp"

namespace scws::card {

class AdmKey {
 public:
  static constexpr u8 kKeyReference = 0x0A;  // ADM1, TS 102 221 9.5.1 table 9.3
  static constexpr std::size_t kKeySize = 8;
  static constexpr u8 kMaxTries = 15;        // 63 CX carries at most 15
  static constexpr u8 kDefaultTries = 3;
  static constexpr u32 kObject = 0x01000003;
  static constexpr std::size_t kObjectSize = 2 + kKeySize;
  static_assert(kDefaultTries >= 1 && kDefaultTries <= kMaxTries);

  AdmKey(ObjectStore& objects, SecurityEvents& events) noexcept : objects_(objects), events_(events) {}

  // Writes the key object (tries left = tries). Inside a transaction. key must be kKeySize bytes and
  // tries 1..kMaxTries, else kOutOfRange.
  static Status<NvmError> format(ObjectStore& objects, Bytes key, u8 tries) noexcept;

  // VERIFY (INS 20) for key reference P2; see above.
  Result<ApduOutcome, CardError> verify(const apdu::CommandApdu& c) noexcept;

  // Whether ADM1 was verified in this card session.
  [[nodiscard]] bool verified() const noexcept { return verified_; }
  // Power-up and reset: the access condition is no longer satisfied.
  void forget() noexcept { verified_ = false; }

  struct Counter {
    u8 tries = 0;  // the profile's number
    u8 left = 0;
  };
  // The retry counter in the image (kNotFound when no key is provisioned).
  Result<Counter, NvmError> counter() noexcept;

 private:
  Status<CardError> write_left(u8 left) noexcept;

  ObjectStore& objects_;
  SecurityEvents& events_;
  bool verified_ = false;
};

}  // namespace scws::card
