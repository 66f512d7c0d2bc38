// The admin applet (card/defence/admin_applet.hpp) on a whole card, with byte vectors: every
// command refused (69 82) until ADM1 is verified in the card session, the queue's summary, records
// and acknowledgements, the DefenceControl commands, and the status words of malformed commands.
#include "card/defence/admin_applet.hpp"
#include "card/defence/remote_nodes.hpp"

#include <doctest/doctest.h>

#include <array>
#include <iterator>
#include <string>
#include <vector>

#include "tests/card/os/card_fixture.hpp"

using namespace scws;
using namespace scws::card;
using namespace scws::card::test;

namespace {

const char* const kSelect = "00A4040006F05343575341";
const char* const kVerify = "0020000A083132333435363738";  // the demo key "12345678"
const char* const kSummary = "80500000";

CardIdentity with_key() {
  static const std::vector<u8> key = hex("3132333435363738");
  CardIdentity id;
  id.adm_key = key;
  return id;
}

// Stands for the attack detection: closing a port records an incident in the same transaction,
// as the detector does.
class FakeControl final : public DefenceControl {
 public:
  explicit FakeControl(IncidentQueue& queue) : queue_(queue) {}
  Result<std::size_t, CardError> read_settings(CardContext&, MutableBytes out) noexcept override {
    if (out.size() < settings.size()) return fail(CardError::kWrongLength);
    std::copy(settings.begin(), settings.end(), out.begin());
    return settings.size();
  }
  Status<CardError> write_settings(CardContext&, Bytes s) noexcept override {
    if (s.size() != settings.size()) return fail(CardError::kWrongData);
    settings.assign(s.begin(), s.end());
    return {};
  }
  Result<std::size_t, CardError> read_port_states(CardContext&, MutableBytes out) noexcept override {
    out[0] = static_cast<u8>(port >> 8);
    out[1] = static_cast<u8>(port);
    out[2] = open ? 1 : 0;
    return std::size_t{3};
  }
  Status<CardError> set_port_open(CardContext& ctx, u16 p, bool o) noexcept override {
    if (p != port) return fail(CardError::kReferencedDataNotFound);
    SCWS_TRY(ctx.begin_transaction());
    open = o;
    if (!o) {
      Incident in;
      in.rule = DetectionRule::kConnectionFlood;
      in.port = p;
      in.events = 12;
      auto seq = queue_.append(in);
      if (!seq) return fail(to_card_error(seq.error()));
    }
    return ctx.commit_transaction();
  }
  std::vector<u8> settings{1, 2, 3};
  u16 port = 3516;
  bool open = true;

 private:
  IncidentQueue& queue_;
};

struct AdminRig {
  AdminRig() : control(queue), applet(queue, &control) {
    REQUIRE(rig.card.add_applet(applet));
    rig.power_on();
    REQUIRE(rig.sw(kSelect) == "9000");
  }
  CardRig rig{SCWS_RAM_SIZE, with_key()};
  IncidentQueue queue;
  FakeControl control;
  AdminApplet applet;
};

}  // namespace

TEST_CASE("every admin command answers 69 82 until ADM1 is verified in this card session") {
  AdminRig a;
  const u32 refused_before = a.rig.card.security_events().total(SecurityEventKind::kCommandRefused);
  for (const char* command : {"80500000", "8052000000", "805400000400000001", "80560000", "8058000003010203",
                              "805A0000", "805C0000020DBC"}) {
    CAPTURE(command);
    CHECK(a.rig.sw(command) == "6982");
  }
  CHECK(a.rig.card.security_events().total(SecurityEventKind::kCommandRefused) == refused_before + 7);
  CHECK(a.control.open);  // nothing changed
  CHECK(a.rig.sw(kVerify) == "9000");
  // An empty queue of the default capacity 32: count 0, first and last 0, next 1, dropped 0.
  CHECK(a.rig.send(kSummary) == "20000000" "00000000" "00000000" "00000001" "00000000" "9000");
  // A reset ends the session: refused again.
  REQUIRE(a.rig.card.reset().ok());
  REQUIRE(a.rig.sw(kSelect) == "9000");
  CHECK(a.rig.sw(kSummary) == "6982");
}

TEST_CASE("the queue through the admin applet: summary, record, acknowledgement") {
  AdminRig a;
  REQUIRE(a.rig.sw(kVerify) == "9000");
  CHECK(a.rig.sw("805C0000020DBC") == "9000");  // the detection closes 3516 and records an incident
  CHECK_FALSE(a.control.open);
  CHECK(a.rig.send(kSummary) == "20010000" "00000001" "00000001" "00000002" "00000000" "9000");
  const std::string record = a.rig.send("8052000000");
  REQUIRE(record.size() == 2 * (60 + 2));
  // format 1, rule 6 (connection flood), no flags, kind 0; sequence 1; the card's ICCID; port 3516, 12 events
  CHECK(record.substr(0, 44) == "01060000" "00000001" "988892090000000000F1" "0DBC" "000C");
  CHECK(record.substr(record.size() - 4) == "9000");
  CHECK(a.rig.sw("8052010000") == "6A83");           // no incident 1
  CHECK(a.rig.sw("805400000400000002") == "6A80");   // sequence 2 not assigned yet
  CHECK(a.rig.sw("805400000400000001") == "9000");
  CHECK(a.rig.send(kSummary) == "20000000" "00000000" "00000000" "00000002" "00000000" "9000");
  CHECK(a.rig.sw("8052000000") == "6A83");
}

TEST_CASE("settings and port states reach the DefenceControl") {
  AdminRig a;
  REQUIRE(a.rig.sw(kVerify) == "9000");
  CHECK(a.rig.send("80560000") == "0102039000");
  CHECK(a.rig.sw("8058000003070809") == "9000");
  CHECK(a.rig.send("80560000") == "0708099000");
  CHECK(a.rig.sw("80580000020708") == "6A80");  // the control refuses: nothing changes
  CHECK(a.rig.send("805A0000") == "0DBC019000");
  CHECK(a.rig.sw("805C0000020DBC") == "9000");
  CHECK(a.rig.send("805A0000") == "0DBC009000");
  CHECK(a.rig.sw("805C0100020DBC") == "9000");
  CHECK(a.rig.send("805A0000") == "0DBC019000");
  CHECK(a.rig.sw("805C010002291B") == "6A88");  // a port the card does not serve
}

TEST_CASE("malformed admin commands get the usual status words") {
  AdminRig a;
  REQUIRE(a.rig.sw(kVerify) == "9000");
  CHECK(a.rig.sw("00500000") == "6E00");              // not the proprietary class
  CHECK(a.rig.sw("80EE0000") == "6D00");              // unknown INS
  CHECK(a.rig.sw("80500100") == "6A86");              // P1
  CHECK(a.rig.sw("80500001") == "6A86");              // P2
  CHECK(a.rig.sw("8052000100") == "6A86");
  CHECK(a.rig.sw("805C0200020DBC") == "6A86");        // neither close nor open
  CHECK(a.rig.sw("8050000001FF") == "6700");          // data where none belongs
  CHECK(a.rig.sw("8054000003000001") == "6700");      // a sequence is 4 bytes
  CHECK(a.rig.sw("805C0000030DBC00") == "6700");      // a port is 2 bytes
  CHECK(a.rig.sw("80580000") == "6700");              // settings without data
  // The logical-channel class forms reach the applet too.
  CHECK(a.rig.send("81500000") == "6881");            // channel 1 is not open
}

TEST_CASE("without a DefenceControl the detection commands answer 6A 81; the queue still works") {
  CardRig rig(SCWS_RAM_SIZE, with_key());
  IncidentQueue queue;
  AdminApplet applet(queue);
  REQUIRE(rig.card.add_applet(applet));
  rig.power_on();
  REQUIRE(rig.sw(kSelect) == "9000");
  REQUIRE(rig.sw(kVerify) == "9000");
  for (const char* command : {"80560000", "8058000003010203", "805A0000", "805C0000020DBC"}) {
    CAPTURE(command);
    CHECK(rig.sw(command) == "6A81");
  }
  CHECK(rig.sw(kSummary) == "9000");
}

TEST_CASE("a card without an ADM key never gives the admin commands") {
  CardRig rig;
  IncidentQueue queue;
  AdminApplet applet(queue);
  REQUIRE(rig.card.add_applet(applet));
  rig.power_on();
  REQUIRE(rig.sw(kSelect) == "9000");
  CHECK(rig.sw(kVerify) == "6A88");
  CHECK(rig.sw(kSummary) == "6982");
}

TEST_CASE("the remote administration commands answer 69 82 without ADM1 and change nothing") {
  AdminRig a;
  const u32 refused_before = a.rig.card.security_events().total(SecurityEventKind::kCommandRefused);
  const char* const commands[] = {"80720000" "0C" "00000001" "022F78" "0474657874", "8072010001" "41", "80720200",
                                  "80740000022F78", "8076000005" "01" "61" "01" "62" "00", "807800000161",
                                  "807A0000020100", "807C0000", "807E000010" "11111111111111111111111111111111",
                                  "80700000"};
  for (const char* command : commands) {
    CAPTURE(command);
    CHECK(a.rig.sw(command) == "6982");
  }
  CHECK(a.rig.card.security_events().total(SecurityEventKind::kCommandRefused) == refused_before + std::size(commands));
}

TEST_CASE("PUT and READ REMOTE NODES through the admin applet: the whole list, absolute, validated") {
  AdminRig a;
  REQUIRE(a.rig.sw(kVerify) == "9000");
  CHECK(a.rig.send("807C0000") == "01009000");  // none put yet: the empty list
  // Two nodes: 10.0.0.0/8 ports 443-443, 192.168.1.7/32 ports 8000-8099.
  const std::string list = "0102" "0A000000" "08" "01BB" "01BB" "C0A80107" "20" "1F40" "1FA3";
  CHECK(a.rig.sw("807A000014" + list) == "9000");
  CHECK(a.rig.send("807C0000") == list + "9000");
  CHECK(a.rig.sw("807A000014" + list) == "9000");  // twice: the same list
  CHECK(a.rig.send("807C0000") == list + "9000");
  CHECK(a.rig.sw("807A0000020100") == "9000");    // replaced by the empty list
  CHECK(a.rig.send("807C0000") == "01009000");
  CHECK(a.rig.sw("807A0000020200") == "6A80");                              // version 2
  CHECK(a.rig.sw("807A000003010000") == "6A80");                            // a byte too many
  CHECK(a.rig.sw("807A00000B" "0101" "0A000000" "21" "0001" "0002") == "6A80");  // prefix 33
  CHECK(a.rig.sw("807A00000B" "0101" "0A000000" "08" "0002" "0001") == "6A80");  // first port above last
  CHECK(a.rig.sw("807A00000B" "0102" "0A000000" "08" "0001" "0002") == "6A80");  // count says 2, one node
  CHECK(a.rig.sw("807A000000") == "6700");
  CHECK(a.rig.sw("807C000001" "00") == "6700");
  CHECK(a.rig.sw("807C0100") == "6A86");
  CHECK(a.rig.send("807C0000") == "01009000");  // nothing of the refused lists stayed
}

TEST_CASE("remote nodes: encoding round-trips, at most 16 nodes, load of a card without a list") {
  RemoteNodes n;
  n.count = 16;
  for (std::size_t i = 0; i < 16; ++i) n.nodes[i] = RemoteNode{{10, 0, 0, static_cast<u8>(i)}, 32, 1, static_cast<u16>(1000 + i)};
  std::array<u8, RemoteNodes::kMaxEncodedSize> bytes{};
  REQUIRE(encode(n, bytes) == RemoteNodes::kMaxEncodedSize);
  RemoteNodes back;
  REQUIRE(decode(Bytes(bytes.data(), bytes.size()), back));
  CHECK(back.count == 16);
  CHECK(back.nodes[15].last_port == 1015);
  CHECK(back.nodes[7].address[3] == 7);
  bytes[1] = 17;
  CHECK_FALSE(decode(Bytes(bytes.data(), bytes.size()), back));
  CHECK(back.count == 16);  // unchanged by a refused decode
  n.count = 17;
  CHECK(encode(n, bytes) == 0);
}
