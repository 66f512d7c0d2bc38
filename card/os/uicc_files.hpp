// The UICC file system (ETSI TS 102 221 chapters 8, 9, 11, 13; ISO/IEC 7816-4 chapter 7): the MF,
// EF.DIR and EF.ICCID, their contents kept in NVM through the ObjectStore (id range 0x02xxxxxx).
// The tree is fixed in code; only contents live in the image:
//   MF      3F00  DF
//   EF.DIR  2F00  linear fixed, kDirRecords records of kDirRecordLength bytes, SFI 1E (TS 102 221 13.1)
//   EF.ICCID 2FE2 transparent, 10 bytes, SFI 02 (TS 102 221 13.2)
// Access conditions (TS 102 221 clause 9), shown in each EF's FCP as security attributes in the
// expanded format (tag AB, TS 102 221 11.1.1.4.7.3):
//   EF.DIR    READ always, UPDATE ADM1     EF.ICCID  READ always, UPDATE ADM1
// ADM1 is the administrative key (card/os/adm_key.hpp), verified by VERIFY; a command whose access
// condition is not satisfied answers 69 82 and changes nothing (a command-refused event on the
// security-event channel).
// Every operation works on a channel's FileSelection and writes response data into `out`; errors are
// CardError values the dispatcher maps to status words.
#pragma once

#include <array>
#include <cstddef>

#include "apdu/command_apdu.hpp"
#include "base/bytes.hpp"
#include "base/result.hpp"
#include "card/os/adm_key.hpp"
#include "card/os/applet.hpp"
#include "card/os/card_error.hpp"
#include "card/os/nvm.hpp"

namespace scws::card {

// The current EF of a logical channel; the current DF is always the MF (the only DF), or the ADF of
// the applet selected on the channel, which the dispatcher tracks.
struct FileSelection {
  static constexpr u8 kNoEf = 0xFF;
  u8 ef = kNoEf;  // index in UiccFiles' file table
};

class UiccFiles {
 public:
  static constexpr u16 kMf = 0x3F00;
  static constexpr u16 kEfDir = 0x2F00;
  static constexpr u16 kEfIccid = 0x2FE2;
  static constexpr u16 kCurrentAdf = 0x7FFF;  // TS 102 221 8.3: the current ADF's file id
  static constexpr u32 kObjectEfDir = 0x02002F00;
  static constexpr u32 kObjectEfIccid = 0x02002FE2;
  static constexpr std::size_t kIccidSize = 10;
  static constexpr std::size_t kMaxAidSize = 16;    // ISO 7816-4 8.2.1.2
  static constexpr std::size_t kMaxLabelSize = 16;  // longer labels are cut
  // One application template: 61 L { 4F L AID, 50 L label } (TS 102 221 13.1), FF padded.
  static constexpr std::size_t kDirRecordLength = 2 + (2 + kMaxAidSize) + (2 + kMaxLabelSize);
  static constexpr std::size_t kDirRecords = 8;
  static_assert(kDirRecordLength < 128, "one-byte BER lengths in EF.DIR records");

  // A test ICCID, 19 digits "8988299000000000001" + filler F, BCD with swapped nibbles (TS 102 221 13.2).
  static constexpr std::array<u8, kIccidSize> kDefaultIccid{0x98, 0x88, 0x92, 0x09, 0x00,
                                                           0x00, 0x00, 0x00, 0x00, 0xF1};

  UiccFiles(ObjectStore& objects, SecurityEvents& events) noexcept
      : objects_(objects), events_(events), adm_(objects, events) {}

  // The administrative key and its verification state in this card session.
  AdmKey& adm() noexcept { return adm_; }
  // VERIFY (INS 20, TS 102 221 11.1.9) of a card-level key: ADM1 (card/os/adm_key.hpp).
  Result<ApduOutcome, CardError> verify(const apdu::CommandApdu& c) noexcept { return adm_.verify(c); }

  // Creates EF.DIR (every record empty, FF) and EF.ICCID. Inside a transaction.
  static Status<NvmError> format(ObjectStore& objects, Bytes iccid) noexcept;
  // Writes an application template for `aid` into the first empty EF.DIR record (kNoSpace when
  // full). Inside a transaction.
  static Status<NvmError> add_application(ObjectStore& objects, Bytes aid, Bytes label) noexcept;

  // SELECT by file id (P1=00), by path from the MF (P1=08) or from the current DF (P1=09, the same
  // here). P2: 04 (or 00) returns the FCP, 0C nothing. On error the selection is unchanged.
  Result<ApduOutcome, CardError> select(FileSelection& sel, const apdu::CommandApdu& c, MutableBytes out) noexcept;
  // READ BINARY (B0): offset in P1-P2, or SFI in P1 (b8=1) and offset in P2.
  Result<ApduOutcome, CardError> read_binary(FileSelection& sel, const apdu::CommandApdu& c, MutableBytes out) noexcept;
  // READ RECORD (B2): record number in P1, P2 = SFI << 3 | 04 (absolute), SFI 0 = current EF.
  Result<ApduOutcome, CardError> read_record(FileSelection& sel, const apdu::CommandApdu& c, MutableBytes out) noexcept;
  // UPDATE BINARY (D6), in one NVM transaction, when the file's UPDATE access condition is satisfied
  // (else kSecurityStatusNotSatisfied, 69 82).
  Result<ApduOutcome, CardError> update_binary(FileSelection& sel, const apdu::CommandApdu& c) noexcept;
  // STATUS (80 F2, TS 102 221 11.1.2) for the MF, or for the ADF `adf_aid` when not empty.
  Result<ApduOutcome, CardError> status(Bytes adf_aid, const apdu::CommandApdu& c, MutableBytes out) noexcept;

  // FCP template of an ADF (TS 102 221 11.1.1.3) and ISO 7816-4 FCI (6F with the DF name).
  // Return the bytes written, 0 when out is too small.
  static std::size_t write_adf_fcp(Bytes aid, MutableBytes out) noexcept;
  static std::size_t write_fci(Bytes aid, MutableBytes out) noexcept;
  // FCP template of the file with this id in the table (the MF, EF.DIR, EF.ICCID); 0 if unknown.
  static std::size_t write_fcp(u16 fid, MutableBytes out) noexcept;

 private:
  struct BinaryTarget {
    u8 index = 0;
    u32 offset = 0;
  };
  [[nodiscard]] bool satisfied(u8 access) const noexcept;
  Result<ApduOutcome, CardError> refuse(const apdu::CommandApdu& c) noexcept;
  Result<u8, CardError> resolve_sfi(FileSelection& sel, u8 sfi) noexcept;
  Result<BinaryTarget, CardError> binary_target(FileSelection& sel, const apdu::CommandApdu& c) noexcept;
  ObjectStore& objects_;
  SecurityEvents& events_;
  AdmKey adm_;
};

}  // namespace scws::card
