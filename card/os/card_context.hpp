// What applets and the toolkit get from the card OS while they run (the Java Card runtime's
// services): the NVM with its transactions, the persistent object store, the RAM arena, transient
// memory, the security-event channel, the card's time and the logical channel of the command being processed. The
// card OS owns the context and sets the OS-only fields below around every call into an applet.
#pragma once

#include <cstddef>

#include "base/bytes.hpp"
#include "card/os/adm_key.hpp"
#include "card/os/arena.hpp"
#include "card/os/card_time.hpp"
#include "card/os/card_error.hpp"
#include "card/os/nvm.hpp"
#include "card/os/security_events.hpp"
#include "card/os/tracer.hpp"
#include "card/os/transient.hpp"

namespace scws::card {

// The one mapping from NVM errors to card errors (the dispatcher turns those into status words).
constexpr CardError to_card_error(NvmError e) noexcept {
  switch (e) {
    case NvmError::kCommitCapacityExceeded:
    case NvmError::kNoSpace:
    case NvmError::kTableFull:
      return CardError::kNotEnoughMemory;  // 6A84
    case NvmError::kIo:
    case NvmError::kBadMagic:
    case NvmError::kUnsupportedVersion:
    case NvmError::kSizeMismatch:
    case NvmError::kCorruptHeader:
    case NvmError::kCorruptJournal:
    case NvmError::kCorruptData:
    case NvmError::kNotMounted:
      return CardError::kMemoryFailure;  // 6581
    case NvmError::kNotFound:
      return CardError::kReferencedDataNotFound;  // 6A88
    case NvmError::kExists:
      return CardError::kConditionsNotSatisfied;  // 6985
    case NvmError::kOutOfRange:
    case NvmError::kNotInTransaction:
    case NvmError::kTransactionInProgress:
      return CardError::kTechnicalProblem;  // an applet bug: 6F00
  }
  return CardError::kTechnicalProblem;
}

class CardContext {
 public:
  static constexpr u8 kNoOwner = TransientMemory::kNoOwner;

  CardContext(Nvm& nvm, ObjectStore& objects, Arena& arena, TransientMemory& transient, Tracer& trace,
              SecurityEvents& events, CardTime& time) noexcept
      : nvm_(nvm), objects_(objects), arena_(arena), transient_(transient), trace_(trace), events_(events), time_(time) {}
  CardContext(const CardContext&) = delete;
  CardContext& operator=(const CardContext&) = delete;

  Nvm& nvm() noexcept { return nvm_; }
  ObjectStore& objects() noexcept { return objects_; }
  // Working RAM for the duration of a command or a session (free it again: the card reports
  // whether RAM returns to its idle level). Exhaustion = nullptr: answer CardError::kNotEnoughMemory.
  Arena& arena() noexcept { return arena_; }
  Tracer& trace() noexcept { return trace_; }
  // The card's one security-event channel (card/os/security_events.hpp): report what you refuse.
  SecurityEvents& events() noexcept { return events_; }
  [[nodiscard]] const SecurityEvents& events() const noexcept { return events_; }
  // The card's time (card/os/card_time.hpp): uptime from the terminal's timers, the terminal's date.
  CardTime& time() noexcept { return time_; }
  [[nodiscard]] const CardTime& time() const noexcept { return time_; }
  // Logical channel of the command being processed (0 during install and power-up).
  [[nodiscard]] u8 channel() const noexcept { return channel_; }

  // Whether the administrative key ADM1 was verified by VERIFY in this card session
  // (card/os/adm_key.hpp; TS 102 221 9.5.1): what an applet asks before it reads or changes
  // security state for a command that came through the APDU interface.
  [[nodiscard]] bool adm_verified() const noexcept { return adm_ != nullptr && adm_->verified(); }
  // The hook for the card's own authenticated admin session (the remote administration server's
  // channel, not built yet): that session sets the flag around each command it issues to an applet
  // itself and clears it before returning (commands run to completion, so a command from the APDU
  // interface never sees it set). Cleared at every power-up and reset.
  void set_admin_session(bool active) noexcept { admin_session_ = active; }
  [[nodiscard]] bool admin_session() const noexcept { return admin_session_; }
  // Either of the two: an administrator stands behind the command being processed.
  [[nodiscard]] bool administrator() const noexcept { return adm_verified() || admin_session_; }

  // Java Card JCSystem.makeTransientByteArray: a zero-filled array in RAM, owned by the applet being
  // powered up. Only during Applet::on_power_up / Toolkit::on_power_up (the array lives until
  // power-off or reset); at any other time, or when RAM is exhausted, the result is empty.
  MutableBytes make_transient(std::size_t n, ClearEvent event) noexcept {
    if (!powering_up_) return {};
    return transient_.make(n, event, owner_);
  }

  // Transactions (JCSystem.beginTransaction / commitTransaction / abortTransaction). A transaction
  // still open when an applet returns to the card OS is aborted by it.
  Status<CardError> begin_transaction() noexcept { return wrap(nvm_.begin()); }
  Status<CardError> commit_transaction() noexcept { return wrap(nvm_.commit()); }
  Status<CardError> abort_transaction() noexcept { return wrap(nvm_.abort()); }

  // ---- card OS only ----
  void os_set_adm_key(const AdmKey* adm) noexcept { adm_ = adm; }
  void os_set_channel(u8 channel) noexcept { channel_ = channel; }
  void os_begin_power_up(u8 owner) noexcept {
    powering_up_ = true;
    owner_ = owner;
  }
  void os_end_power_up() noexcept {
    powering_up_ = false;
    owner_ = kNoOwner;
  }

 private:
  static Status<CardError> wrap(Status<NvmError> s) noexcept {
    if (!s) return fail(to_card_error(s.error()));
    return {};
  }

  Nvm& nvm_;
  ObjectStore& objects_;
  Arena& arena_;
  TransientMemory& transient_;
  Tracer& trace_;
  SecurityEvents& events_;
  CardTime& time_;
  const AdmKey* adm_ = nullptr;
  u8 channel_ = 0;
  u8 owner_ = kNoOwner;
  bool admin_session_ = false;
  bool powering_up_ = false;
};

}  // namespace scws::card
