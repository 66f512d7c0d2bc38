#include "card/defence/incident_queue.hpp"

#include <cstring>

#include "base/crc32.hpp"
#include "card/os/uicc_files.hpp"

namespace scws::card {
namespace {

constexpr u32 kRecordCrcOffset = IncidentQueue::kRecordSize - 4;
constexpr u32 kHeaderCrcOffset = IncidentQueue::kHeaderSize - 4;
static_assert(kRecordCrcOffset == 56, "docs/protocol.md section 15 gives the record byte by byte");
static_assert(IncidentQueue::object_size(IncidentQueue::kMaxCapacity) <= ObjectStore::kMaxObjectSize);

constexpr u32 slot_offset(u8 slot) noexcept { return IncidentQueue::kHeaderSize + IncidentQueue::kRecordSize * slot; }
constexpr u8 ring(u32 head, u32 index, u32 capacity) noexcept { return static_cast<u8>((head + index) % capacity); }

void put_header(u8 capacity, u8 count, u8 head, u32 next_sequence, u32 dropped, u8 (&out)[IncidentQueue::kHeaderSize]) noexcept {
  ByteWriter w(out);
  w.u32_be(IncidentQueue::kMagic);
  w.u8_(capacity);
  w.u8_(count);
  w.u8_(head);
  w.u8_(0);
  w.u32_be(next_sequence);
  w.u32_be(dropped);
  w.u32_be(crc32(Bytes(out, kHeaderCrcOffset)));
}

}  // namespace

Status<NvmError> IncidentQueue::format(ObjectStore& objects, u8 capacity) noexcept {
  if (capacity < kMinCapacity) return fail(NvmError::kOutOfRange);
  if (auto found = objects.find(kObject); found) {
    SCWS_TRY(objects.remove(kObject));
  } else if (found.error() != NvmError::kNotFound) {
    return fail(found.error());
  }
  SCWS_TRY(objects.create(kObject, object_size(capacity)));  // zero-filled slots: no valid record
  u8 header[kHeaderSize];
  put_header(capacity, 0, 0, 1, 0, header);
  return objects.write(kObject, 0, header);
}

void IncidentQueue::serialize(const Incident& in, MutableBytes out) noexcept {
  if (out.size() < kRecordSize) return;
  ByteWriter w(out.first(kRecordSize));
  w.u8_(kRecordFormat);
  w.u8_(static_cast<u8>(in.rule));
  w.u8_(static_cast<u8>((in.time_from_terminal ? kFlagTimeFromTerminal : 0) | (in.port_closed ? kFlagPortClosed : 0)));
  w.u8_(static_cast<u8>(in.last_kind));
  w.u32_be(in.sequence);
  w.bytes(in.iccid);
  w.u16_be(in.port);
  w.u16_be(in.events);
  w.u16_be(in.threshold);
  w.u16_be(in.window_seconds);
  w.u16_be(in.detail);
  w.u32_be(in.first_time);
  w.u32_be(in.last_time);
  w.u8_(in.connection);
  const u8 length = in.evidence_length <= in.evidence.size() ? in.evidence_length : static_cast<u8>(in.evidence.size());
  w.u8_(length);
  u8 evidence[SecurityEvent::kMaxEvidence] = {};  // unused evidence bytes are zero: one record per incident
  std::memcpy(evidence, in.evidence.data(), length);
  w.bytes(evidence);
  w.u16_be(0);
  w.u32_be(crc32(out.first(kRecordCrcOffset)));
}

Result<Incident, NvmError> IncidentQueue::parse(Bytes record) noexcept {
  if (record.size() < kRecordSize) return fail(NvmError::kCorruptData);
  ByteReader r(record.first(kRecordSize));
  Incident in;
  const u8 format = r.u8_();
  const u8 rule = r.u8_();
  const u8 flags = r.u8_();
  const u8 kind = r.u8_();
  in.sequence = r.u32_be();
  const Bytes iccid = r.take(Incident::kIccidSize);
  in.port = r.u16_be();
  in.events = r.u16_be();
  in.threshold = r.u16_be();
  in.window_seconds = r.u16_be();
  in.detail = r.u16_be();
  in.first_time = r.u32_be();
  in.last_time = r.u32_be();
  in.connection = r.u8_();
  in.evidence_length = r.u8_();
  const Bytes evidence = r.take(SecurityEvent::kMaxEvidence);
  r.u16_be();
  const u32 crc = r.u32_be();
  if (!r.ok() || crc != crc32(record.first(kRecordCrcOffset)) || format != kRecordFormat || rule == 0 ||
      rule > kDetectionRules || kind >= kSecurityEventKinds || in.evidence_length > SecurityEvent::kMaxEvidence ||
      in.sequence == 0)
    return fail(NvmError::kCorruptData);
  in.rule = static_cast<DetectionRule>(rule);
  in.last_kind = static_cast<SecurityEventKind>(kind);
  in.time_from_terminal = (flags & kFlagTimeFromTerminal) != 0;
  in.port_closed = (flags & kFlagPortClosed) != 0;
  std::memcpy(in.iccid.data(), iccid.data(), iccid.size());
  std::memcpy(in.evidence.data(), evidence.data(), evidence.size());
  return in;
}

void IncidentQueue::trace(const char* what) const noexcept {
  if (trace_ != nullptr) (*trace_)("incident queue: %s", what);
}

Result<IncidentQueue::Header, NvmError> IncidentQueue::read_header() noexcept {
  if (objects_ == nullptr) return fail(NvmError::kNotMounted);
  u8 raw[kHeaderSize];
  SCWS_TRY(objects_->read(kObject, 0, raw));
  ByteReader r(raw);
  const u32 magic = r.u32_be();
  Header h;
  h.capacity = r.u8_();
  h.count = r.u8_();
  h.head = r.u8_();
  const u8 zero = r.u8_();
  h.next_sequence = r.u32_be();
  h.dropped = r.u32_be();
  const u32 crc = r.u32_be();
  // Checked at every read, not only at power-up: a damaged header is never acted upon.
  if (!r.ok() || magic != kMagic || crc != crc32(Bytes(raw, kHeaderCrcOffset)) || zero != 0 ||
      h.capacity < kMinCapacity || h.count > h.capacity || h.head >= h.capacity || h.next_sequence == 0)
    return fail(NvmError::kCorruptData);
  return h;
}

Status<NvmError> IncidentQueue::write_header(const Header& h) noexcept {
  u8 raw[kHeaderSize];
  put_header(h.capacity, h.count, h.head, h.next_sequence, h.dropped, raw);
  return objects_->write(kObject, 0, raw);
}

Status<NvmError> IncidentQueue::read_slot(u8 slot, MutableBytes out) noexcept {
  return objects_->read(kObject, slot_offset(slot), out.first(kRecordSize));
}

// kBadHeader when the header does not describe this object; kBadRecord when a queued record is
// damaged or out of order (sequences strictly increasing from the head, all below the counter).
Result<IncidentQueue::Check, NvmError> IncidentQueue::check(const Header& h) noexcept {
  auto info = objects_->find(kObject);
  if (!info) return fail(info.error());
  if (info->size != object_size(h.capacity)) return Check::kBadHeader;
  u32 previous = 0;
  for (u32 i = 0; i < h.count; ++i) {
    u8 raw[kRecordSize];
    SCWS_TRY(read_slot(ring(h.head, i, h.capacity), raw));
    auto in = parse(raw);
    if (!in || in->sequence <= previous || in->sequence >= h.next_sequence) return Check::kBadRecord;
    previous = in->sequence;
  }
  return Check::kGood;
}

Result<u32, NvmError> IncidentQueue::highest_recorded_sequence(u8 capacity) noexcept {
  u32 highest = 0;
  for (u32 slot = 0; slot < capacity; ++slot) {
    u8 raw[kRecordSize];
    SCWS_TRY(read_slot(static_cast<u8>(slot), raw));
    if (auto in = parse(raw); in && in->sequence > highest) highest = in->sequence;
  }
  return highest;
}

// Replaces a damaged queue by an empty one in one transaction (see power_up in the header).
Status<NvmError> IncidentQueue::rebuild(u32 size, bool header_ok, const Header& old) noexcept {
  Header fresh;
  fresh.capacity = kDefaultCapacity;
  bool keep_object = false;
  if (header_ok && size == object_size(old.capacity)) {
    fresh.capacity = old.capacity;
    keep_object = true;
  } else if (size >= object_size(kMinCapacity) && (size - kHeaderSize) % kRecordSize == 0 &&
             (size - kHeaderSize) / kRecordSize <= kMaxCapacity) {
    fresh.capacity = static_cast<u8>((size - kHeaderSize) / kRecordSize);
    keep_object = true;
  }
  if (header_ok) {
    fresh.next_sequence = old.next_sequence;
    fresh.dropped = old.dropped + old.count;  // the incidents lost with the queue
  } else if (keep_object) {
    auto highest = highest_recorded_sequence(fresh.capacity);
    if (!highest) return fail(highest.error());
    fresh.next_sequence = *highest + 1;
  }
  TransactionScope transaction(objects_->nvm());
  SCWS_TRY(transaction.begin());
  if (keep_object) {
    SCWS_TRY(write_header(fresh));
  } else {
    SCWS_TRY(format(*objects_, fresh.capacity));
    SCWS_TRY(write_header(fresh));
  }
  return transaction.commit();
}

Status<NvmError> IncidentQueue::power_up(ObjectStore& objects, const Tracer* trace) noexcept {
  objects_ = nullptr;
  trace_ = trace;
  damaged_ = false;
  auto info = objects.find(kObject);
  if (!info && info.error() != NvmError::kNotFound) return fail(info.error());
  if (!info) {
    // An image provisioned before the queue existed: the card works, with the default capacity.
    TransactionScope transaction(objects.nvm());
    SCWS_TRY(transaction.begin());
    SCWS_TRY(format(objects, kDefaultCapacity));
    SCWS_TRY(transaction.commit());
    objects_ = &objects;
    this->trace("created with the default capacity");
    return {};
  }
  objects_ = &objects;
  auto header = read_header();
  if (!header && header.error() != NvmError::kCorruptData) {
    objects_ = nullptr;
    return fail(header.error());
  }
  Check verdict = Check::kBadHeader;
  if (header) {
    auto checked = check(*header);
    if (!checked) {
      objects_ = nullptr;
      return fail(checked.error());
    }
    verdict = *checked;
  }
  if (verdict == Check::kGood) return {};
  damaged_ = true;
  this->trace(verdict == Check::kBadHeader ? "damaged header: a fresh empty queue replaces it"
                                           : "damaged record: a fresh empty queue replaces the queue");
  const bool header_ok = header.ok();
  const Header old = header_ok ? *header : Header{};
  if (auto rebuilt = rebuild(info->size, header_ok, old); !rebuilt) {
    objects_ = nullptr;
    return rebuilt;
  }
  return {};
}

Result<u32, NvmError> IncidentQueue::append(Incident& incident) noexcept {
  if (objects_ == nullptr) return fail(NvmError::kNotMounted);
  if (!objects_->nvm().in_transaction()) return fail(NvmError::kNotInTransaction);
  auto header = read_header();
  if (!header) return fail(header.error());
  Header h = *header;
  if (h.next_sequence == 0xFFFFFFFFU) return fail(NvmError::kNoSpace);  // never wraps: numbers are never reused

  incident.sequence = h.next_sequence;
  if (!objects_->read(UiccFiles::kObjectEfIccid, 0, MutableBytes(incident.iccid))) incident.iccid.fill(0xFF);

  u8 raw[kRecordSize];
  u8 target = 0;
  if (h.count < h.capacity) {
    target = ring(h.head, h.count, h.capacity);
    ++h.count;
  } else {
    // Full: the first incident moves into the slot of the oldest after it, which is dropped; the
    // new incident takes the first's old slot, now the ring's last position.
    const u8 second = ring(h.head, 1, h.capacity);
    SCWS_TRY(read_slot(h.head, raw));
    SCWS_TRY(objects_->write(kObject, slot_offset(second), raw));
    target = h.head;
    h.head = second;
    if (h.dropped != 0xFFFFFFFFU) ++h.dropped;
  }
  serialize(incident, raw);
  SCWS_TRY(objects_->write(kObject, slot_offset(target), raw));
  ++h.next_sequence;
  SCWS_TRY(write_header(h));
  return incident.sequence;
}

Result<IncidentQueueSummary, NvmError> IncidentQueue::summary() noexcept {
  auto header = read_header();
  if (!header) return fail(header.error());
  const Header& h = *header;
  IncidentQueueSummary s;
  s.capacity = h.capacity;
  s.count = h.count;
  s.next_sequence = h.next_sequence;
  s.dropped = h.dropped;
  s.damaged_at_power_up = damaged_;
  if (h.count != 0) {
    auto first = at(0);
    if (!first) return fail(first.error());
    auto last = at(h.count - 1U);
    if (!last) return fail(last.error());
    s.first_sequence = first->sequence;
    s.last_sequence = last->sequence;
  }
  return s;
}

Result<u32, NvmError> IncidentQueue::size() noexcept {
  auto header = read_header();
  if (!header) return fail(header.error());
  return u32{header->count};
}

Result<u32, NvmError> IncidentQueue::dropped() noexcept {
  auto header = read_header();
  if (!header) return fail(header.error());
  return header->dropped;
}

Result<u32, NvmError> IncidentQueue::next_sequence() noexcept {
  auto header = read_header();
  if (!header) return fail(header.error());
  return header->next_sequence;
}

Status<NvmError> IncidentQueue::record(u32 index, MutableBytes out) noexcept {
  if (out.size() < kRecordSize) return fail(NvmError::kOutOfRange);
  auto header = read_header();
  if (!header) return fail(header.error());
  if (index >= header->count) return fail(NvmError::kNotFound);
  SCWS_TRY(read_slot(ring(header->head, index, header->capacity), out));
  // Only whole, checked records leave the card.
  if (!parse(out.first(kRecordSize))) return fail(NvmError::kCorruptData);
  return {};
}

Result<Incident, NvmError> IncidentQueue::at(u32 index) noexcept {
  u8 raw[kRecordSize];
  SCWS_TRY(record(index, raw));
  return parse(raw);
}

Status<NvmError> IncidentQueue::acknowledge(u32 up_to_sequence) noexcept {
  if (objects_ == nullptr) return fail(NvmError::kNotMounted);
  if (objects_->nvm().in_transaction()) return fail(NvmError::kTransactionInProgress);
  auto header = read_header();
  if (!header) return fail(header.error());
  Header h = *header;
  if (up_to_sequence >= h.next_sequence) return fail(NvmError::kOutOfRange);
  u8 leaving = 0;
  while (leaving < h.count) {
    auto in = at(leaving);
    if (!in) return fail(in.error());
    if (in->sequence > up_to_sequence) break;
    ++leaving;
  }
  if (leaving == 0) return {};
  h.head = ring(h.head, leaving, h.capacity);
  h.count = static_cast<u8>(h.count - leaving);
  SCWS_TRY(objects_->nvm().begin());
  if (auto written = write_header(h); !written) {
    (void)objects_->nvm().abort();
    return written;
  }
  return objects_->nvm().commit();
}

}  // namespace scws::card
