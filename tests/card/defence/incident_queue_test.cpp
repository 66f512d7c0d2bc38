// The incident queue in NVM (card/defence/incident_queue.hpp): order, sequence numbers, the full
// queue that keeps the first and the latest, acknowledgements, the record bytes, the power-up check
// of a damaged queue, and a power cut at every NVM write of appends and acknowledgements.
#include "card/defence/incident_queue.hpp"

#include <doctest/doctest.h>

#include <limits>
#include <string>
#include <vector>

#include "card/os/uicc_files.hpp"

using namespace scws;
using namespace scws::card;

namespace {

constexpr u32 kImage = 64 * 1024;
constexpr u32 kCommit = 2048;
constexpr u32 kPortState = 0x04000F00;  // stands for the detector's port state, in the same transaction

// A formatted image with EF.ICCID, the port-state object and a queue of `capacity` (0: no queue).
std::vector<u8> make_image(u8 capacity) {
  std::vector<u8> bytes(kImage, 0);
  RamNvmDevice dev(bytes);
  Nvm nvm(dev);
  REQUIRE(nvm.format(kCommit).ok());
  ObjectStore store(nvm);
  REQUIRE(nvm.begin().ok());
  REQUIRE(store.format().ok());
  REQUIRE(UiccFiles::format(store, UiccFiles::kDefaultIccid).ok());
  REQUIRE(store.create(kPortState, 4).ok());
  if (capacity != 0) REQUIRE(IncidentQueue::format(store, capacity).ok());
  REQUIRE(nvm.commit().ok());
  return bytes;
}

Incident incident(DetectionRule rule, u16 port, u16 events) {
  Incident in;
  in.rule = rule;
  in.port = port;
  in.events = events;
  in.threshold = 5;
  in.window_seconds = 60;
  in.first_time = 1700000000;
  in.last_time = 1700000042;
  in.time_from_terminal = true;
  in.port_closed = true;
  in.last_kind = SecurityEventKind::kTlsBadCertificate;
  in.connection = 2;
  in.detail = 0x1234;
  in.evidence_length = 3;
  in.evidence[0] = 'G';
  in.evidence[1] = 'E';
  in.evidence[2] = 'T';
  return in;
}

// A mounted image with a powered-up queue.
struct Rig {
  explicit Rig(std::vector<u8>& bytes) : dev(bytes), nvm(dev), store(nvm) {
    REQUIRE(nvm.mount().ok());
    REQUIRE(queue.power_up(store).ok());
  }
  u32 append(DetectionRule rule, u16 port = 10443, u32 port_state = 0) {
    Incident in = incident(rule, port, 7);
    REQUIRE(nvm.begin().ok());
    u8 state[4];
    store_be32(state, port_state);
    REQUIRE(store.write(kPortState, 0, state).ok());
    auto seq = queue.append(in);
    REQUIRE(seq.ok());
    REQUIRE(nvm.commit().ok());
    CHECK(in.sequence == *seq);
    return *seq;
  }
  std::vector<u32> sequences() {
    std::vector<u32> out;
    auto n = queue.size();
    REQUIRE(n.ok());
    for (u32 i = 0; i < *n; ++i) {
      auto in = queue.at(i);
      REQUIRE(in.ok());
      out.push_back(in->sequence);
    }
    return out;
  }
  RamNvmDevice dev;
  Nvm nvm;
  ObjectStore store;
  IncidentQueue queue;
};

std::vector<u32> seqs(std::initializer_list<u32> l) { return std::vector<u32>(l); }

}  // namespace

TEST_CASE("incidents queue oldest first with sequence numbers from 1 and the card's ICCID") {
  std::vector<u8> bytes = make_image(IncidentQueue::kDefaultCapacity);
  Rig rig(bytes);
  CHECK_FALSE(rig.queue.damaged_at_power_up());
  CHECK(*rig.queue.size() == 0);
  CHECK(*rig.queue.next_sequence() == 1);
  CHECK(rig.append(DetectionRule::kTlsHandshakeFailures) == 1);
  CHECK(rig.append(DetectionRule::kHttpPasswordGuessing, 3516) == 2);
  CHECK(rig.sequences() == seqs({1, 2}));
  auto second = rig.queue.at(1);
  REQUIRE(second.ok());
  CHECK(second->rule == DetectionRule::kHttpPasswordGuessing);
  CHECK(second->port == 3516);
  CHECK(second->iccid == UiccFiles::kDefaultIccid);
  CHECK(second->events == 7);
  CHECK(second->last_kind == SecurityEventKind::kTlsBadCertificate);
  CHECK(second->evidence_length == 3);
  CHECK(second->evidence[2] == 'T');
  CHECK(second->time_from_terminal);
  CHECK(second->port_closed);
  CHECK(rig.queue.at(2).error() == NvmError::kNotFound);
  auto s = rig.queue.summary();
  REQUIRE(s.ok());
  CHECK(s->capacity == IncidentQueue::kDefaultCapacity);
  CHECK(s->count == 2);
  CHECK(s->first_sequence == 1);
  CHECK(s->last_sequence == 2);
  CHECK(s->next_sequence == 3);
  CHECK(s->dropped == 0);
}

TEST_CASE("append needs the caller's transaction") {
  std::vector<u8> bytes = make_image(4);
  Rig rig(bytes);
  Incident in = incident(DetectionRule::kConnectionFlood, 3516, 1);
  CHECK(rig.queue.append(in).error() == NvmError::kNotInTransaction);
  // The caller's abort takes the incident away with the rest of its transaction.
  REQUIRE(rig.nvm.begin().ok());
  REQUIRE(rig.queue.append(in).ok());
  REQUIRE(rig.nvm.abort().ok());
  CHECK(*rig.queue.size() == 0);
  CHECK(*rig.queue.next_sequence() == 1);
}

TEST_CASE("a full queue keeps the first and the latest incidents and counts the dropped ones") {
  std::vector<u8> bytes = make_image(4);
  Rig rig(bytes);
  for (int i = 0; i < 4; ++i) rig.append(DetectionRule::kTlsBadRecords);
  CHECK(rig.sequences() == seqs({1, 2, 3, 4}));
  rig.append(DetectionRule::kSlowClients);
  CHECK(rig.sequences() == seqs({1, 3, 4, 5}));
  CHECK(*rig.queue.dropped() == 1);
  for (int i = 0; i < 5; ++i) rig.append(DetectionRule::kSlowClients);
  CHECK(rig.sequences() == seqs({1, 8, 9, 10}));
  CHECK(*rig.queue.dropped() == 6);
  CHECK(rig.queue.at(0)->rule == DetectionRule::kTlsBadRecords);

  // Persistent: a reboot sees the same queue and counter.
  Rig again(bytes);
  CHECK_FALSE(again.queue.damaged_at_power_up());
  CHECK(again.sequences() == seqs({1, 8, 9, 10}));
  CHECK(*again.queue.dropped() == 6);
  CHECK(*again.queue.next_sequence() == 11);
}

TEST_CASE("acknowledged incidents leave the queue; sequence numbers are never reused") {
  std::vector<u8> bytes = make_image(4);
  Rig rig(bytes);
  for (int i = 0; i < 3; ++i) rig.append(DetectionRule::kTlsUnknownPsk);
  CHECK(rig.queue.acknowledge(2).ok());
  CHECK(rig.sequences() == seqs({3}));
  CHECK(rig.queue.acknowledge(2).ok());  // nothing left at or below: not an error
  CHECK(rig.sequences() == seqs({3}));
  CHECK(rig.queue.acknowledge(4).error() == NvmError::kOutOfRange);  // not assigned yet
  CHECK(rig.append(DetectionRule::kTlsUnknownPsk) == 4);
  CHECK(rig.queue.acknowledge(4).ok());
  CHECK(rig.sequences().empty());
  CHECK(rig.append(DetectionRule::kTlsUnknownPsk) == 5);
  // Wraps around the ring.
  for (int i = 0; i < 6; ++i) rig.append(DetectionRule::kTlsUnknownPsk);
  CHECK(rig.sequences() == seqs({5, 9, 10, 11}));
  CHECK(rig.queue.acknowledge(9).ok());
  CHECK(rig.sequences() == seqs({10, 11}));
  // Not inside another transaction.
  REQUIRE(rig.nvm.begin().ok());
  CHECK(rig.queue.acknowledge(10).error() == NvmError::kTransactionInProgress);
  REQUIRE(rig.nvm.abort().ok());
  Rig again(bytes);
  CHECK(again.sequences() == seqs({10, 11}));
  CHECK(*again.queue.next_sequence() == 12);
}

TEST_CASE("the record is 60 bytes, big-endian, with its own CRC-32") {
  Incident in = incident(DetectionRule::kHttpMalformedFlood, 3516, 9);
  in.sequence = 0x01020304;
  in.iccid = UiccFiles::kDefaultIccid;
  u8 raw[IncidentQueue::kRecordSize];
  IncidentQueue::serialize(in, raw);
  const std::vector<u8> head(raw, raw + 38);
  const std::vector<u8> want = {
      0x01, 0x05, 0x03, static_cast<u8>(SecurityEventKind::kTlsBadCertificate),  // format, rule, flags, kind
      0x01, 0x02, 0x03, 0x04,                                                     // sequence
      0x98, 0x88, 0x92, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF1,                 // ICCID
      0x0D, 0xBC, 0x00, 0x09, 0x00, 0x05, 0x00, 0x3C, 0x12, 0x34,                 // port, events, threshold, window, detail
      0x65, 0x53, 0xF1, 0x00, 0x65, 0x53, 0xF1, 0x2A,                             // first and last time
      0x02, 0x03};                                                                // connection, evidence length
  CHECK(head == want);
  CHECK(raw[38] == 'G');
  CHECK(raw[41] == 0);  // unused evidence bytes are zero
  CHECK(raw[54] == 0);
  CHECK(raw[55] == 0);
  auto back = IncidentQueue::parse(raw);
  REQUIRE(back.ok());
  CHECK(back->sequence == 0x01020304);
  CHECK(back->detail == 0x1234);
  raw[20] ^= 1;
  CHECK(IncidentQueue::parse(raw).error() == NvmError::kCorruptData);
}

TEST_CASE("an image without the queue gets one of the default capacity at power-up") {
  std::vector<u8> bytes = make_image(0);
  Rig rig(bytes);
  CHECK_FALSE(rig.queue.damaged_at_power_up());
  CHECK(rig.queue.summary()->capacity == IncidentQueue::kDefaultCapacity);
  CHECK(rig.append(DetectionRule::kConnectionFlood) == 1);
}

TEST_CASE("a damaged queue is replaced by a fresh one at power-up; the sequence counter moves on") {
  std::vector<u8> bytes = make_image(4);
  {
    Rig rig(bytes);
    for (int i = 0; i < 3; ++i) rig.append(DetectionRule::kTlsBadRecords);
    REQUIRE(rig.queue.acknowledge(1).ok());
  }
  auto damage = [&](u32 offset) {
    RamNvmDevice dev(bytes);
    Nvm nvm(dev);
    REQUIRE(nvm.mount().ok());
    ObjectStore store(nvm);
    u8 b = 0;
    REQUIRE(store.read(IncidentQueue::kObject, offset, MutableBytes(&b, 1)).ok());
    b ^= 0x40;
    REQUIRE(nvm.begin().ok());
    REQUIRE(store.write(IncidentQueue::kObject, offset, Bytes(&b, 1)).ok());
    REQUIRE(nvm.commit().ok());
  };

  SUBCASE("a damaged record: the header's counter and the lost incidents counted as dropped") {
    damage(IncidentQueue::kHeaderSize + IncidentQueue::kRecordSize * 2 + 30);  // slot 2: the third incident
    Rig rig(bytes);
    CHECK(rig.queue.damaged_at_power_up());
    CHECK(rig.sequences().empty());
    CHECK(*rig.queue.dropped() == 2);
    CHECK(rig.append(DetectionRule::kSlowClients) == 4);
    Rig again(bytes);
    CHECK_FALSE(again.queue.damaged_at_power_up());
    CHECK(again.sequences() == seqs({4}));
  }
  SUBCASE("a damaged header: one past the highest sequence any intact record holds") {
    damage(9);  // the sequence counter
    Rig rig(bytes);
    CHECK(rig.queue.damaged_at_power_up());
    CHECK(rig.queue.summary()->capacity == 4);  // from the object's size
    CHECK(rig.sequences().empty());
    CHECK(rig.append(DetectionRule::kSlowClients) == 4);
  }
}

// ---- power loss ----------------------------------------------------------------------------------

namespace {

// What an observer can see after a reboot: the port state written with each incident, the
// queue's sequences, its counters.
struct Seen {
  u32 port_state = 0;
  std::vector<u32> sequences;
  u32 dropped = 0;
  u32 next = 0;
  bool operator==(const Seen&) const = default;
};

Seen observe(ObjectStore& store, IncidentQueue& queue) {
  Seen s;
  u8 state[4];
  REQUIRE(store.read(kPortState, 0, state).ok());
  s.port_state = load_be32(state);
  auto n = queue.size();
  REQUIRE(n.ok());
  for (u32 i = 0; i < *n; ++i) {
    auto in = queue.at(i);
    REQUIRE(in.ok());  // no incident half written
    s.sequences.push_back(in->sequence);
  }
  s.dropped = *queue.dropped();
  s.next = *queue.next_sequence();
  return s;
}

// Appends (each with the port state = its sequence number, in one transaction, as the detector
// does) and acknowledgements, over a queue of 4 that fills up; `step` runs after each of them.
// False when the power went.
template <class Step>
bool scenario(Nvm& nvm, ObjectStore& store, IncidentQueue& queue, Step&& step) {
  step();
  for (int round = 0; round < 3; ++round) {
    for (DetectionRule rule : {DetectionRule::kTlsHandshakeFailures, DetectionRule::kHttpPasswordGuessing}) {
      for (int i = 0; i < 2; ++i) {
        if (!nvm.begin()) return false;
        auto next = queue.next_sequence();
        REQUIRE(next.ok());
        u8 state[4];
        store_be32(state, *next);
        if (!store.write(kPortState, 0, state)) return false;
        Incident in = incident(rule, 3516, static_cast<u16>(*next));
        auto seq = queue.append(in);
        if (!seq) {
          CHECK(seq.error() == NvmError::kIo);
          return false;
        }
        if (!nvm.commit()) return false;
        step();
      }
    }
    auto size = queue.size();
    REQUIRE(size.ok());
    auto last = queue.at(*size - 1);
    REQUIRE(last.ok());
    if (!queue.acknowledge(last->sequence - 1)) return false;
    step();
  }
  return true;
}

}  // namespace

TEST_CASE("power loss at every NVM write of appends and acknowledgements leaves the queue whole") {
  const std::vector<u8> initial = make_image(4);

  std::vector<Seen> states;
  u64 total_writes = 0;
  {
    std::vector<u8> ref = initial;
    RamNvmDevice ref_dev(ref);
    PowerLossNvmDevice counting(ref_dev, std::numeric_limits<u64>::max());
    Nvm nvm(counting);
    REQUIRE(nvm.mount().ok());
    ObjectStore store(nvm);
    IncidentQueue queue;
    REQUIRE(queue.power_up(store).ok());
    REQUIRE(scenario(nvm, store, queue, [&] { states.push_back(observe(store, queue)); }));
    total_writes = counting.writes();
  }
  REQUIRE(states.size() == 16);
  CHECK(states.back().dropped > 0);  // the queue was full at times
  CHECK(states.back().next == 13);
  MESSAGE("scenario device writes: " << total_writes);

  for (u64 cut = 0; cut < total_writes; ++cut) {
    CAPTURE(cut);
    std::vector<u8> bytes = initial;
    RamNvmDevice inner(bytes);
    PowerLossNvmDevice dev(inner, cut);
    std::size_t done = 0;  // steps finished before the cut (the start counts as one)
    {
      Nvm nvm(dev);
      REQUIRE(nvm.mount().ok());
      ObjectStore store(nvm);
      IncidentQueue queue;
      REQUIRE(queue.power_up(store).ok());
      CHECK_FALSE(scenario(nvm, store, queue, [&] { ++done; }));
      CHECK(dev.power_cut());
    }
    REQUIRE(done >= 1);
    REQUIRE(done < states.size());
    Rig rig(bytes);
    CHECK_FALSE(rig.queue.damaged_at_power_up());
    const Seen after = observe(rig.store, rig.queue);
    // The step cut short is wholly there or wholly absent (no incident half written, none
    // duplicated, the port state with its incident).
    const bool old_state = after == states[done - 1];
    const bool new_state = done < states.size() && after == states[done];
    CHECK_MESSAGE((old_state || new_state), "step " << done << " is half there");
    // The port state is the last incident's sequence number: it is there iff the incident is.
    CHECK(after.port_state + 1 == after.next);
    for (std::size_t i = 1; i < after.sequences.size(); ++i) CHECK(after.sequences[i - 1] < after.sequences[i]);
    // The recovered queue keeps working.
    CHECK(rig.append(DetectionRule::kSlowClients, 3516, after.next) == after.next);
  }
}
