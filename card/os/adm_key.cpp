#include "card/os/adm_key.hpp"

#include <array>

#include "card/os/card_context.hpp"

namespace scws::card {
namespace {

constexpr u32 kTriesOffset = 0;
constexpr u32 kLeftOffset = 1;
constexpr u32 kKeyOffset = 2;
static_assert(kKeyOffset + AdmKey::kKeySize == AdmKey::kObjectSize);

}  // namespace

Status<NvmError> AdmKey::format(ObjectStore& objects, Bytes key, u8 tries) noexcept {
  if (key.size() != kKeySize || tries == 0 || tries > kMaxTries) return fail(NvmError::kOutOfRange);
  std::array<u8, kObjectSize> stored{};
  stored[kTriesOffset] = tries;
  stored[kLeftOffset] = tries;
  for (std::size_t i = 0; i < kKeySize; ++i) stored[kKeyOffset + i] = key[i];
  SCWS_TRY(objects.create(kObject, kObjectSize));
  return objects.write(kObject, 0, stored);
}

Result<AdmKey::Counter, NvmError> AdmKey::counter() noexcept {
  std::array<u8, 2> c{};
  SCWS_TRY(objects_.read(kObject, kTriesOffset, c));
  // A counter beyond the number of tries is damage: treat it as blocked rather than as extra tries.
  const u8 tries = c[0] <= kMaxTries ? c[0] : 0;
  const u8 left = c[1] <= tries ? c[1] : 0;
  return Counter{tries, left};
}

// One transaction for one byte: after a power cut the counter holds the old or the new value.
Status<CardError> AdmKey::write_left(u8 left) noexcept {
  Nvm& nvm = objects_.nvm();
  if (auto s = nvm.begin(); !s) return fail(to_card_error(s.error()));
  if (auto s = objects_.write(kObject, kLeftOffset, Bytes(&left, 1)); !s) {
    (void)nvm.abort();
    return fail(to_card_error(s.error()));
  }
  if (auto s = nvm.commit(); !s) return fail(to_card_error(s.error()));
  return {};
}

Result<ApduOutcome, CardError> AdmKey::verify(const apdu::CommandApdu& c) noexcept {
  if (c.p1 != 0x00) return fail(CardError::kWrongP1P2);
  if (c.p2 != kKeyReference) return fail(CardError::kReferencedDataNotFound);
  auto state = counter();
  if (!state) return fail(to_card_error(state.error()));
  const u8 left = state->left;
  if (c.data.empty()) {  // the counter's state (TS 102 221 11.1.9.1)
    if (left == 0) return fail(CardError::kAuthenticationBlocked);
    if (verified_) return ApduOutcome{};
    return ApduOutcome{left, Completion::kRetriesLeft};
  }
  if (c.data.size() != kKeySize) return fail(CardError::kWrongLength);
  if (left == 0) {
    verified_ = false;
    events_.report(SecurityEventKind::kAdmBlocked, SecurityEvents::kCardPort);
    return fail(CardError::kAuthenticationBlocked);
  }
  // Decrement first, durably: a tear from here on never gives the try back.
  verified_ = false;
  SCWS_TRY(write_left(static_cast<u8>(left - 1)));
  std::array<u8, kKeySize> key{};
  if (auto s = objects_.read(kObject, kKeyOffset, key); !s) return fail(to_card_error(s.error()));
  const bool match = bytes_equal_constant_time(Bytes(key), c.data);
  key.fill(0);
  if (!match) {
    events_.report(SecurityEventKind::kAdmVerifyFailure, SecurityEvents::kCardPort, 0xFF, static_cast<u16>(left - 1));
    return ApduOutcome{static_cast<std::size_t>(left - 1), Completion::kRetriesLeft};
  }
  SCWS_TRY(write_left(state->tries));
  verified_ = true;
  return ApduOutcome{};
}

}  // namespace scws::card
