// The incident queue in NVM: what the card's attack detection (card/defence/detector.hpp) records,
// one incident per attack, for the remote administration server; read and acknowledged through the
// admin applet (card/defence/admin_applet.hpp). Bounded and ordered, oldest first.
//
// Persistent state: one ObjectStore object kObject (the card/defence range 0x04xxxxxx,
// card/os/nvm.hpp), its capacity fixed when it is made (provisioning: card.toml [incidents]
// capacity, kMinCapacity..kMaxCapacity). Layout (big-endian, docs/protocol.md section 15):
//   [0, kHeaderSize)   header: magic "INQ1", capacity u8, count u8, head u8 (slot of the oldest
//                      incident), zero u8, next sequence u32, dropped u32, CRC-32 of [0, 16) u32
//   then capacity slots of kRecordSize bytes: a ring; incident i (0 = oldest) is in slot
//   (head + i) mod capacity. A record is the serialized Incident with its own CRC-32.
// Acknowledged incidents leave the queue by moving the head; their bytes stay in their slots until
// overwritten (what lets a damaged header's sequence counter be recovered, see power_up).
//
// Full queue: the first incident (the oldest, the start of the story) and the latest ones are
// kept; an append drops the oldest after the first (the first moves into that slot, the new
// incident takes the first's old slot) and counts it in dropped(), persistently.
//
// Sequence numbers: 1, 2, ... in the order of append, never reused on this card, also after
// acknowledgements (the counter is in the header, changed in the append's transaction).
//
// Transactions: append() runs INSIDE the caller's open transaction (the detector writes the
// port's new state in the same one: both land or neither); acknowledge() opens its own. No RAM
// copy of NVM contents is kept, so a caller's abort leaves nothing stale.
//
// RAM: the members below (a few pointers and a flag).
#pragma once

#include <cstddef>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "card/defence/incident.hpp"
#include "card/os/nvm.hpp"
#include "card/os/tracer.hpp"

namespace scws::card {

// The queue's header as read from NVM (what the admin applet's summary reports).
struct IncidentQueueSummary {
  u8 capacity = 0;
  u8 count = 0;
  u32 first_sequence = 0;  // of the oldest incident in the queue; 0 when empty
  u32 last_sequence = 0;   // of the newest; 0 when empty
  u32 next_sequence = 0;   // what the next append assigns
  u32 dropped = 0;         // incidents dropped because the queue was full (or lost with a damaged queue)
  bool damaged_at_power_up = false;
};

class IncidentQueue final : public IncidentSink {
 public:
  static constexpr u32 kObject = 0x04000001;
  static constexpr u32 kMagic = 0x494E5131;  // "INQ1"
  static constexpr u32 kHeaderSize = 20;
  static constexpr u32 kRecordSize = 60;
  static constexpr u8 kRecordFormat = 1;
  static constexpr u8 kMinCapacity = 4;
  static constexpr u8 kMaxCapacity = 255;  // count and head are stored as u8
  static constexpr u8 kDefaultCapacity = 32;
  // Record flags (byte 2).
  static constexpr u8 kFlagTimeFromTerminal = 0x01;
  static constexpr u8 kFlagPortClosed = 0x02;
  static_assert(kMinCapacity >= 2, "a full queue keeps the first incident and at least the latest");
  static_assert(kDefaultCapacity >= kMinCapacity && kDefaultCapacity <= kMaxCapacity);
  static_assert(Incident::kIccidSize == 10 && SecurityEvent::kMaxEvidence == 16, "the record layout fixes both");

  [[nodiscard]] static constexpr u32 object_size(u8 capacity) noexcept { return kHeaderSize + kRecordSize * capacity; }

  // Creates an empty queue object of this capacity (replacing one already there). Inside a
  // transaction; kOutOfRange for a capacity outside kMinCapacity..kMaxCapacity. Provisioning.
  static Status<NvmError> format(ObjectStore& objects, u8 capacity) noexcept;

  // The fixed-size record (docs/protocol.md section 15), CRC-32 included. out: kRecordSize bytes.
  static void serialize(const Incident& incident, MutableBytes out) noexcept;
  // A record's incident; kCorruptData when its CRC, format or rule is wrong.
  static Result<Incident, NvmError> parse(Bytes record) noexcept;

  // At every power-up, before any other call: checks the header and every queued record. An image
  // without the object gets an empty queue of kDefaultCapacity. A damaged queue (bad header, or a
  // record whose checksum, format, rule or order is wrong) is replaced by a fresh empty one, in
  // one transaction, and damaged_at_power_up() says so until the next power-up. The fresh queue
  // keeps the old capacity when the header (or the object's size) tells it, the sequence counter
  // when the header's checksum holds (else it starts one past the highest sequence of any slot
  // whose record checksum holds, acknowledged records included; 1 when none does), and counts the
  // incidents lost in dropped() when the header told how many. Errors: the device's (kIo ...);
  // the queue is then unusable until the next power-up (every call answers kNotMounted).
  Status<NvmError> power_up(ObjectStore& objects, const Tracer* trace = nullptr) noexcept;
  [[nodiscard]] bool ready() const noexcept { return objects_ != nullptr; }
  [[nodiscard]] bool damaged_at_power_up() const noexcept { return damaged_; }

  // Records `incident` in the caller's open transaction (kNotInTransaction otherwise): assigns its
  // sequence number and fills its iccid from EF.ICCID (FF bytes when the card has none), then
  // writes it; returns the sequence. When the queue is full the oldest incident after the first
  // is dropped. kCommitCapacityExceeded leaves the caller's transaction to abort.
  Result<u32, NvmError> append(Incident& incident) noexcept override;

  Result<IncidentQueueSummary, NvmError> summary() noexcept;
  Result<u32, NvmError> size() noexcept;
  Result<u32, NvmError> dropped() noexcept;
  Result<u32, NvmError> next_sequence() noexcept;
  // Incident `index` (0 = oldest); kNotFound beyond size().
  Result<Incident, NvmError> at(u32 index) noexcept;
  // Its record bytes (kRecordSize into out, which must have room: else kOutOfRange).
  Status<NvmError> record(u32 index, MutableBytes out) noexcept;

  // Removes every incident whose sequence is <= up_to_sequence, in a transaction of its own
  // (kTransactionInProgress when one is open). kOutOfRange for a sequence not yet assigned
  // (>= next_sequence()); nothing queued at or below it is not an error.
  Status<NvmError> acknowledge(u32 up_to_sequence) noexcept;

 private:
  struct Header {
    u8 capacity = 0;
    u8 count = 0;
    u8 head = 0;
    u32 next_sequence = 1;
    u32 dropped = 0;
  };
  enum class Check : u8 { kGood, kBadHeader, kBadRecord };

  Result<Header, NvmError> read_header() noexcept;
  Status<NvmError> write_header(const Header& h) noexcept;
  Status<NvmError> read_slot(u8 slot, MutableBytes out) noexcept;
  Result<Check, NvmError> check(const Header& h) noexcept;
  Status<NvmError> rebuild(u32 object_size, bool header_ok, const Header& old) noexcept;
  Result<u32, NvmError> highest_recorded_sequence(u8 capacity) noexcept;
  void trace(const char* what) const noexcept;

  ObjectStore* objects_ = nullptr;
  const Tracer* trace_ = nullptr;
  bool damaged_ = false;
};

}  // namespace scws::card
