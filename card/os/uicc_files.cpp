#include "card/os/uicc_files.hpp"

#include "apdu/instruction.hpp"
#include "apdu/status_word.hpp"
#include "card/os/card_context.hpp"

namespace scws::card {
namespace {

enum class FileType : u8 { kDf, kTransparent, kLinearFixed };

// Access conditions of an EF's access mode (TS 102 221 9.2, 9.5): always, the ADM1 key, never.
enum class Access : u8 { kAlways, kAdm1, kNever };

struct FileSpec {
  u16 fid;
  FileType type;
  u8 sfi;             // short EF identifier (0 = none)
  u16 size;           // bytes of an EF
  u8 record_length;   // linear fixed EFs
  u8 records;
  u32 object;         // ObjectStore id of the contents
  Access read;
  Access update;      // UPDATE BINARY / UPDATE RECORD
};

// The fixed tree: every EF is a child of the MF.
constexpr std::array<FileSpec, 3> kFiles{{
    {UiccFiles::kMf, FileType::kDf, 0, 0, 0, 0, 0, Access::kAlways, Access::kNever},
    {UiccFiles::kEfDir, FileType::kLinearFixed, 0x1E,
     static_cast<u16>(UiccFiles::kDirRecordLength * UiccFiles::kDirRecords),
     static_cast<u8>(UiccFiles::kDirRecordLength), static_cast<u8>(UiccFiles::kDirRecords),
     UiccFiles::kObjectEfDir, Access::kAlways, Access::kAdm1},
    // The card's identity, under which it reports: only the administrator rewrites it.
    {UiccFiles::kEfIccid, FileType::kTransparent, 0x02, static_cast<u16>(UiccFiles::kIccidSize), 0, 0,
     UiccFiles::kObjectEfIccid, Access::kAlways, Access::kAdm1},
}};
constexpr u8 kMfIndex = 0;

constexpr int find_fid(u16 fid) noexcept {
  for (std::size_t i = 0; i < kFiles.size(); ++i)
    if (kFiles[i].fid == fid) return static_cast<int>(i);
  return -1;
}

// Short Le = 00 and extended Le = 0000 ask for "everything available" (ISO 7816-4 5.1); a missing
// Le is treated alike (vpcd carries no GET RESPONSE, see the dispatcher).
constexpr bool le_is_wildcard(const apdu::CommandApdu& c) noexcept {
  return !c.has_le || (c.ne == 256 && !c.extended) || c.ne == 65536;
}

void u16_tlv(ByteWriter& w, u8 tag, u16 v) noexcept {
  w.u8_(tag);
  w.u8_(2);
  w.u16_be(v);
}

// One access rule of the expanded format (TS 102 221 9.2.3, ISO 7816-4 9.3.4): an access mode
// data object (80 01 AM: b1 READ, b2 UPDATE for an EF) and its security condition: 90 00 always,
// 97 00 never, or the user authentication template A4 { 83 01 key reference, 95 01 08 }.
constexpr u8 kTagAlways = 0x90;  // ISO 7816-4 table 21: "always" security condition DO
constexpr u8 kTagNever = 0x97;   // "never" security condition DO

void access_rule(ByteWriter& w, u8 access_mode, Access a) noexcept {
  const u8 am[] = {0x80, 0x01, access_mode};
  w.bytes(am);
  switch (a) {
    case Access::kAlways:
      w.u8_(kTagAlways);
      w.u8_(0);
      break;
    case Access::kNever:
      w.u8_(kTagNever);
      w.u8_(0);
      break;
    case Access::kAdm1: {
      const u8 v[] = {0xA4, 0x06, 0x83, 0x01, AdmKey::kKeyReference, 0x95, 0x01, 0x08};
      w.bytes(v);
      break;
    }
  }
}

// Security attributes of an EF in the expanded format (tag AB, TS 102 221 11.1.1.4.7.3).
void ef_security(ByteWriter& w, const FileSpec& f) noexcept {
  const std::size_t at = w.size();
  w.u8_(0xAB);
  w.skip(1);
  access_rule(w, 0x01, f.read);
  access_rule(w, 0x02, f.update);
  if (w.ok()) w.patch(at + 1, static_cast<u8>(w.size() - at - 2));
}

// Common DF tail: life cycle status, security attributes (no DF command is allowed: access mode
// byte 00), PIN status template with no PIN enabled (TS 102 221 11.1.1.4.10).
void df_tail(ByteWriter& w) noexcept {
  const u8 v[] = {0x8A, 0x01, 0x05, 0x8C, 0x01, 0x00, 0xC6, 0x03, 0x90, 0x01, 0x00};
  w.bytes(v);
}

std::size_t finish_template(ByteWriter& w) noexcept {
  if (!w.ok() || w.size() - 2 > 127) return 0;
  w.patch(1, static_cast<u8>(w.size() - 2));
  return w.size();
}

std::size_t write_fcp_for(const FileSpec& f, MutableBytes out) noexcept {
  ByteWriter w(out);
  w.u8_(0x62);  // FCP template (TS 102 221 11.1.1.3)
  w.skip(1);
  switch (f.type) {
    case FileType::kDf: {
      const u8 descriptor[] = {0x82, 0x02, 0x78, 0x21};  // 78: shareable DF; 21: data coding (11.1.1.4.3)
      w.bytes(descriptor);
      u16_tlv(w, 0x83, f.fid);  // file identifier (11.1.1.4.4)
      df_tail(w);
      break;
    }
    case FileType::kTransparent: {
      const u8 descriptor[] = {0x82, 0x02, 0x41, 0x21};  // 41: shareable working EF, transparent
      w.bytes(descriptor);
      u16_tlv(w, 0x83, f.fid);
      const u8 lcs[] = {0x8A, 0x01, 0x05};  // life cycle: operational, activated (11.1.1.4.9)
      w.bytes(lcs);
      ef_security(w, f);
      u16_tlv(w, 0x80, f.size);  // file size (11.1.1.4.1)
      const u8 sfi[] = {0x88, 0x01, static_cast<u8>(f.sfi << 3)};  // SFI in b8..b4 (11.1.1.4.8)
      w.bytes(sfi);
      break;
    }
    case FileType::kLinearFixed: {
      // 42: shareable working EF, linear fixed; record length (2 bytes), number of records.
      const u8 descriptor[] = {0x82, 0x05, 0x42, 0x21, 0x00, f.record_length, f.records};
      w.bytes(descriptor);
      u16_tlv(w, 0x83, f.fid);
      const u8 lcs[] = {0x8A, 0x01, 0x05};
      w.bytes(lcs);
      ef_security(w, f);
      u16_tlv(w, 0x80, f.size);
      const u8 sfi[] = {0x88, 0x01, static_cast<u8>(f.sfi << 3)};
      w.bytes(sfi);
      break;
    }
  }
  return finish_template(w);
}

Status<CardError> check(Status<NvmError> s) noexcept {
  if (!s) return fail(to_card_error(s.error()));
  return {};
}

}  // namespace

Status<NvmError> UiccFiles::format(ObjectStore& objects, Bytes iccid) noexcept {
  if (iccid.size() != kIccidSize) return fail(NvmError::kOutOfRange);
  SCWS_TRY(objects.create(kObjectEfDir, static_cast<u32>(kDirRecordLength * kDirRecords)));
  std::array<u8, kDirRecordLength> empty;
  empty.fill(0xFF);
  for (std::size_t r = 0; r < kDirRecords; ++r)
    SCWS_TRY(objects.write(kObjectEfDir, static_cast<u32>(r * kDirRecordLength), empty));
  SCWS_TRY(objects.create(kObjectEfIccid, static_cast<u32>(kIccidSize)));
  SCWS_TRY(objects.write(kObjectEfIccid, 0, iccid));
  return {};
}

Status<NvmError> UiccFiles::add_application(ObjectStore& objects, Bytes aid, Bytes label) noexcept {
  if (aid.empty() || aid.size() > kMaxAidSize) return fail(NvmError::kOutOfRange);
  if (label.size() > kMaxLabelSize) label = label.first(kMaxLabelSize);
  for (std::size_t r = 0; r < kDirRecords; ++r) {
    const u32 at = static_cast<u32>(r * kDirRecordLength);
    u8 first = 0;
    SCWS_TRY(objects.read(kObjectEfDir, at, MutableBytes(&first, 1)));
    if (first != 0xFF) continue;
    std::array<u8, kDirRecordLength> record;
    record.fill(0xFF);
    ByteWriter w(record);
    w.u8_(0x61);  // application template (ISO 7816-4 8.2.1.1, TS 102 221 13.1)
    w.u8_(static_cast<u8>(2 + aid.size() + (label.empty() ? 0 : 2 + label.size())));
    w.u8_(0x4F);  // application identifier
    w.u8_(static_cast<u8>(aid.size()));
    w.bytes(aid);
    if (!label.empty()) {
      w.u8_(0x50);  // application label
      w.u8_(static_cast<u8>(label.size()));
      w.bytes(label);
    }
    return objects.write(kObjectEfDir, at, record);
  }
  return fail(NvmError::kNoSpace);
}

std::size_t UiccFiles::write_fcp(u16 fid, MutableBytes out) noexcept {
  const int i = find_fid(fid);
  if (i < 0) return 0;
  return write_fcp_for(kFiles[static_cast<std::size_t>(i)], out);
}

std::size_t UiccFiles::write_adf_fcp(Bytes aid, MutableBytes out) noexcept {
  if (aid.size() > kMaxAidSize) return 0;
  ByteWriter w(out);
  w.u8_(0x62);
  w.skip(1);
  const u8 descriptor[] = {0x82, 0x02, 0x78, 0x21};
  w.bytes(descriptor);
  u16_tlv(w, 0x83, kCurrentAdf);
  w.u8_(0x84);  // DF name = AID (11.1.1.4.5)
  w.u8_(static_cast<u8>(aid.size()));
  w.bytes(aid);
  df_tail(w);
  return finish_template(w);
}

std::size_t UiccFiles::write_fci(Bytes aid, MutableBytes out) noexcept {
  if (aid.size() > kMaxAidSize) return 0;
  ByteWriter w(out);
  w.u8_(0x6F);  // FCI template (ISO 7816-4 7.4.1)
  w.skip(1);
  w.u8_(0x84);
  w.u8_(static_cast<u8>(aid.size()));
  w.bytes(aid);
  return finish_template(w);
}

Result<ApduOutcome, CardError> UiccFiles::select(FileSelection& sel, const apdu::CommandApdu& c,
                                                 MutableBytes out) noexcept {
  // P2 (TS 102 221 11.1.1.2): b4-b3 = 01 FCP, 11 no data (00 accepted as FCP); b2-b1 first occurrence only.
  if ((c.p2 & 0xF3) != 0) return fail(CardError::kIncorrectP1P2);
  const u8 mode = c.p2 & 0x0C;
  if (mode == 0x08) return fail(CardError::kIncorrectP1P2);

  u16 target = kMf;
  switch (c.p1) {
    case apdu::select_p1::kByFileId: {  // empty data selects the MF (ISO 7816-4 7.1.1)
      if (c.data.empty()) break;
      if (c.data.size() != 2) return fail(CardError::kWrongLength);
      target = static_cast<u16>((c.data[0] << 8) | c.data[1]);
      break;
    }
    case apdu::select_p1::kPathFromMf:           // MF id omitted (a leading 3F00 is tolerated)
    case apdu::select_p1::kPathFromCurrentDf: {  // the current DF is always the MF here
      if (c.data.empty() || c.data.size() % 2 != 0) return fail(CardError::kWrongLength);
      ByteReader r(c.data);
      int current = kMfIndex;
      bool first = true;
      while (!r.at_end()) {
        const u16 fid = r.u16_be();
        if (first && fid == kMf && c.p1 == apdu::select_p1::kPathFromMf) {
          first = false;
          continue;
        }
        first = false;
        // Only a DF has children; every file but the MF is a child of the MF.
        if (kFiles[static_cast<std::size_t>(current)].type != FileType::kDf) return fail(CardError::kFileNotFound);
        const int next = find_fid(fid);
        if (next < 0 || next == kMfIndex) return fail(CardError::kFileNotFound);
        current = next;
      }
      target = kFiles[static_cast<std::size_t>(current)].fid;
      break;
    }
    default:
      return fail(CardError::kIncorrectP1P2);
  }

  const int index = find_fid(target);
  if (index < 0) return fail(CardError::kFileNotFound);
  const FileSpec& f = kFiles[static_cast<std::size_t>(index)];
  ApduOutcome outcome;
  if (mode != 0x0C) {
    outcome.length = write_fcp_for(f, out);
    if (outcome.length == 0) return fail(CardError::kTechnicalProblem);
  }
  switch (f.type) {
    case FileType::kDf:
      sel.ef = FileSelection::kNoEf;
      break;
    case FileType::kTransparent:
    case FileType::kLinearFixed:
      sel.ef = static_cast<u8>(index);
      break;
  }
  return outcome;
}

Result<u8, CardError> UiccFiles::resolve_sfi(FileSelection& sel, u8 sfi) noexcept {
  for (std::size_t i = 0; i < kFiles.size(); ++i) {
    if (kFiles[i].sfi != 0 && kFiles[i].sfi == sfi) {
      sel.ef = static_cast<u8>(i);  // referencing by SFI makes the EF current (ISO 7816-4 7.2.2)
      return static_cast<u8>(i);
    }
  }
  return fail(CardError::kFileNotFound);
}

Result<UiccFiles::BinaryTarget, CardError> UiccFiles::binary_target(FileSelection& sel,
                                                                  const apdu::CommandApdu& c) noexcept {
  BinaryTarget t;
  if (c.p1 & 0x80) {  // P1 = 100x xxxx: SFI in b5-b1, offset in P2 (ISO 7816-4 7.2.2)
    if ((c.p1 & 0x60) != 0 || (c.p1 & 0x1F) == 0) return fail(CardError::kIncorrectP1P2);
    auto r = resolve_sfi(sel, c.p1 & 0x1F);
    if (!r) return fail(r.error());
    t.index = *r;
    t.offset = c.p2;
  } else {  // 15-bit offset in the current EF
    if (sel.ef == FileSelection::kNoEf) return fail(CardError::kCommandNotAllowedNoEf);
    t.index = sel.ef;
    t.offset = (u32{c.p1} << 8) | c.p2;
  }
  return t;
}

Result<ApduOutcome, CardError> UiccFiles::read_binary(FileSelection& sel, const apdu::CommandApdu& c,
                                                      MutableBytes out) noexcept {
  if (!c.data.empty()) return fail(CardError::kWrongLength);
  auto target = binary_target(sel, c);
  if (!target) return fail(target.error());
  const u32 offset = target->offset;
  const FileSpec& f = kFiles[target->index];
  if (f.type != FileType::kTransparent) return fail(CardError::kCommandIncompatibleWithFile);
  if (!satisfied(static_cast<u8>(f.read))) return refuse(c);
  if (offset >= f.size) return fail(CardError::kWrongP1P2);
  const std::size_t available = f.size - offset;
  const bool wildcard = le_is_wildcard(c);
  std::size_t n = wildcard ? available : (c.ne < available ? c.ne : available);
  if (n > out.size()) n = out.size();
  auto read = check(objects_.read(f.object, offset, out.first(n)));
  if (!read) return fail(read.error());
  ApduOutcome outcome;
  outcome.length = n;
  if (!wildcard && c.ne > available) outcome.completion = Completion::kEndOfFile;
  return outcome;
}

Result<ApduOutcome, CardError> UiccFiles::read_record(FileSelection& sel, const apdu::CommandApdu& c,
                                                      MutableBytes out) noexcept {
  if (!c.data.empty()) return fail(CardError::kWrongLength);
  const u8 sfi = static_cast<u8>(c.p2 >> 3);
  // Only "absolute/current" mode with a record number in P1 (ISO 7816-4 7.3.3, TS 102 221 11.1.5).
  if ((c.p2 & 0x07) != 0x04 || sfi == 0x1F || c.p1 == 0) return fail(CardError::kIncorrectP1P2);
  u8 index = 0;
  if (sfi != 0) {
    auto r = resolve_sfi(sel, sfi);
    if (!r) return fail(r.error());
    index = *r;
  } else {
    if (sel.ef == FileSelection::kNoEf) return fail(CardError::kCommandNotAllowedNoEf);
    index = sel.ef;
  }
  const FileSpec& f = kFiles[index];
  if (f.type != FileType::kLinearFixed) return fail(CardError::kCommandIncompatibleWithFile);
  if (!satisfied(static_cast<u8>(f.read))) return refuse(c);
  if (c.p1 > f.records) return fail(CardError::kRecordNotFound);
  std::size_t n = f.record_length;
  if (!le_is_wildcard(c) && c.ne < n) n = c.ne;
  if (n > out.size()) n = out.size();
  auto read = check(objects_.read(f.object, static_cast<u32>((c.p1 - 1) * f.record_length), out.first(n)));
  if (!read) return fail(read.error());
  ApduOutcome outcome;
  outcome.length = n;
  return outcome;
}

// Refused before anything is read or written (TS 102 221 9.2: the access condition comes first);
// the refusal is a security event with the command header as evidence.
Result<ApduOutcome, CardError> UiccFiles::refuse(const apdu::CommandApdu& c) noexcept {
  const u8 header[] = {c.cla, c.ins, c.p1, c.p2};
  events_.report(SecurityEventKind::kCommandRefused, SecurityEvents::kCardPort, 0xFF,
                 apdu::to_u16(apdu::StatusWord::kSecurityStatusNotSatisfied), Bytes(header));
  return fail(CardError::kSecurityStatusNotSatisfied);
}

bool UiccFiles::satisfied(u8 access) const noexcept {
  switch (static_cast<Access>(access)) {
    case Access::kAlways: return true;
    case Access::kAdm1: return adm_.verified();
    case Access::kNever: return false;
  }
  return false;
}

Result<ApduOutcome, CardError> UiccFiles::update_binary(FileSelection& sel, const apdu::CommandApdu& c) noexcept {
  if (c.data.empty()) return fail(CardError::kWrongLength);
  auto target = binary_target(sel, c);
  if (!target) return fail(target.error());
  const u32 offset = target->offset;
  const FileSpec& f = kFiles[target->index];
  if (f.type != FileType::kTransparent) return fail(CardError::kCommandIncompatibleWithFile);
  if (!satisfied(static_cast<u8>(f.update))) return refuse(c);
  if (offset >= f.size) return fail(CardError::kWrongP1P2);
  if (c.data.size() > f.size - offset) return fail(CardError::kWrongLength);
  // One transaction: after a power cut the file holds either the old or the new bytes.
  Nvm& nvm = objects_.nvm();
  auto begun = check(nvm.begin());
  if (!begun) return fail(begun.error());
  auto written = check(objects_.write(f.object, offset, c.data));
  if (!written) return fail(written.error());  // the dispatcher aborts the open transaction
  auto committed = check(nvm.commit());
  if (!committed) return fail(committed.error());
  return ApduOutcome{};
}

Result<ApduOutcome, CardError> UiccFiles::status(Bytes adf_aid, const apdu::CommandApdu& c, MutableBytes out) noexcept {
  if (!c.data.empty()) return fail(CardError::kWrongLength);
  // P1 (TS 102 221 11.1.2): 00 no indication, 01 application initialised, 02 will terminate.
  if (c.p1 > 0x02) return fail(CardError::kIncorrectP1P2);
  ApduOutcome outcome;
  switch (c.p2) {
    case apdu::status_p2::kFcp:  // of the current DF or ADF
      outcome.length = adf_aid.empty() ? write_fcp(kMf, out) : write_adf_fcp(adf_aid, out);
      if (outcome.length == 0) return fail(CardError::kTechnicalProblem);
      return outcome;
    case apdu::status_p2::kDfName: {  // of the current application
      if (adf_aid.empty()) return fail(CardError::kReferencedDataNotFound);
      ByteWriter w(out);
      w.u8_(0x84);
      w.u8_(static_cast<u8>(adf_aid.size()));
      w.bytes(adf_aid);
      if (!w.ok()) return fail(CardError::kTechnicalProblem);
      outcome.length = w.size();
      return outcome;
    }
    case apdu::status_p2::kNoData:
      return outcome;
    default:
      return fail(CardError::kIncorrectP1P2);
  }
}

}  // namespace scws::card
