// The administrative key ADM1 (card/os/adm_key.hpp) and the access conditions it guards
// (card/os/uicc_files.hpp): VERIFY with byte vectors, the retry counter in NVM, blocking across
// power cycles, security events, and power cuts at every NVM write of a VERIFY.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "card/os/adm_key.hpp"
#include "tests/card/os/card_fixture.hpp"

using namespace scws;
using namespace scws::card;
using namespace scws::card::test;

namespace {

const char* const kIccid = "988892090000000000F1";  // UiccFiles::kDefaultIccid
const char* const kKey = "3132333435363738";         // "12345678"
const char* const kVerifyRight = "0020000A083132333435363738";
const char* const kVerifyWrong = "0020000A083132333435363739";

CardIdentity with_key(u8 tries = 3) {
  static const std::vector<u8> key = hex(kKey);
  CardIdentity id;
  id.adm_key = key;
  id.adm_tries = tries;
  return id;
}

struct Recorder : SecurityEventListener {
  std::vector<SecurityEvent> seen;
  void on_security_event(const SecurityEvent& e) noexcept override { seen.push_back(e); }
};

}  // namespace

TEST_CASE("EF.ICCID: READ always, UPDATE only after VERIFY ADM1; the access condition lasts one card session") {
  CardRig rig(SCWS_RAM_SIZE, with_key());
  rig.power_on();
  REQUIRE(rig.sw("00A4000C022FE2") == "9000");
  CHECK(rig.sw("00D60000021122") == "6982");                          // TS 102 221 10.2.1.5: security status
  CHECK(rig.send("00B000000A") == std::string(kIccid) + "9000");      // nothing changed
  CHECK(rig.sw(kVerifyRight) == "9000");
  CHECK(rig.sw("00D60000021122") == "9000");
  CHECK(rig.send("00B000000A") == "1122" + std::string(kIccid).substr(4) + "9000");
  CHECK(rig.sw("0020000A") == "9000");                           // Lc absent: verified in this session
  REQUIRE(rig.card.reset().ok());                                     // a reset ends the session
  REQUIRE(rig.sw("00A4000C022FE2") == "9000");
  CHECK(rig.sw("00D60000023344") == "6982");
  CHECK(rig.send("00B0000002") == "11229000");
  CHECK(rig.send("0020000A") == "63C3");                            // 3 tries left, nothing verified
}

TEST_CASE("the FCP of EF.ICCID and EF.DIR carries their access rules in the expanded format") {
  CardRig rig(SCWS_RAM_SIZE, with_key());
  rig.power_on();
  // AB 10 { 80 01 01 90 00 (READ: always), 80 01 02 A4 06 83 01 0A 95 01 08 (UPDATE: ADM1) }
  const std::string rules = "AB10" "800101" "9000" "800102" "A406" "83010A" "950108";
  CHECK(rig.send("00A40004022FE2") == "6224" "82024121" "83022FE2" "8A0105" + rules + "8002000A" "880110" "9000");
  const std::string dir = rig.send("00A40004022F00");
  CHECK(dir.find(rules) != std::string::npos);
}

TEST_CASE("VERIFY ADM1 counts wrong tries in NVM, blocks after the profile's number and stays blocked") {
  CardRig rig(SCWS_RAM_SIZE, with_key(3));
  Recorder recorder;
  rig.card.security_events().set_listener(&recorder);
  rig.power_on();
  CHECK(rig.send("0020000A") == "63C3");
  CHECK(rig.send(kVerifyWrong) == "63C2");
  CHECK(rig.send(kVerifyWrong) == "63C1");
  rig.card.power_off();  // the counter is in NVM: a power cycle gives nothing back
  rig.power_on();
  CHECK(rig.send("0020000A") == "63C1");
  CHECK(rig.send(kVerifyWrong) == "63C0");
  CHECK(rig.send(kVerifyRight) == "6983");   // blocked: even the right key
  CHECK(rig.send("0020000A") == "6983");
  REQUIRE(rig.sw("00A4000C022FE2") == "9000");
  CHECK(rig.sw("00D60000021122") == "6982");
  rig.card.power_off();
  rig.power_on();
  CHECK(rig.send(kVerifyRight) == "6983");   // still blocked after a power cycle
  CHECK(rig.card.security_events().count(SecurityEvents::kCardPort, SecurityEventKind::kAdmVerifyFailure) == 0);
  CHECK(rig.card.security_events().count(SecurityEvents::kCardPort, SecurityEventKind::kAdmBlocked) == 1);
  // Three wrong tries, then blocked tries, then the refused UPDATE: each an event.
  REQUIRE(recorder.seen.size() == 6);
  CHECK(recorder.seen[0].kind == SecurityEventKind::kAdmVerifyFailure);
  CHECK(recorder.seen[0].detail == 2);
  CHECK(recorder.seen[2].detail == 0);
  CHECK(recorder.seen[3].kind == SecurityEventKind::kAdmBlocked);
  CHECK(recorder.seen[4].kind == SecurityEventKind::kCommandRefused);
  CHECK(recorder.seen[4].port == SecurityEvents::kCardPort);
  CHECK(hex_text(recorder.seen[4].evidence_bytes()) == "00D60000");
  CHECK(recorder.seen[5].kind == SecurityEventKind::kAdmBlocked);
}

TEST_CASE("a right VERIFY restores the counter; a wrong one clears the access condition") {
  CardRig rig(SCWS_RAM_SIZE, with_key(3));
  rig.power_on();
  CHECK(rig.send(kVerifyWrong) == "63C2");
  CHECK(rig.send(kVerifyRight) == "9000");
  CHECK(rig.send("0020000A") == "9000");
  CHECK(rig.send(kVerifyWrong) == "63C2");   // back to 3, then one wrong
  CHECK(rig.send("0020000A") == "63C2");   // no longer verified
  REQUIRE(rig.sw("00A4000C022FE2") == "9000");
  CHECK(rig.sw("00D60000021122") == "6982");
}

TEST_CASE("VERIFY checks its parameters, and a card without an ADM key answers 6A88") {
  CardRig rig(SCWS_RAM_SIZE, with_key(2));
  rig.power_on();
  CHECK(rig.send("0020010A083132333435363738") == "6B00");  // P1 must be 00
  CHECK(rig.send("00200001083132333435363738") == "6A88");  // PIN1: not on this card
  CHECK(rig.send("0020000A0431323334") == "6700");          // the key is 8 bytes
  CHECK(rig.send("A020000A083132333435363738") == "9000");  // the GSM class too
  CHECK(rig.send("0020000A") == "9000");

  CardRig none;
  none.power_on();
  CHECK(none.send(kVerifyRight) == "6A88");
  REQUIRE(none.sw("00A4000C022FE2") == "9000");
  CHECK(none.sw("00D60000021122") == "6982");  // nothing needing ADM can be done
}

TEST_CASE("VERIFY ADM1 reaches the card OS while an applet is selected") {
  CardRig rig(SCWS_RAM_SIZE, with_key(3));
  TestApplet a(hex("A0000000871002FF01"));
  REQUIRE(rig.card.add_applet(a));
  rig.power_on();
  REQUIRE(rig.sw("00A4040C09A0000000871002FF01") == "9000");
  const int before = a.commands;
  CHECK(rig.send(kVerifyWrong) == "63C2");
  CHECK(a.commands == before);
}

TEST_CASE("an applet's security refusal is a command-refused event") {
  CardRig rig;
  Recorder recorder;
  rig.card.security_events().set_listener(&recorder);
  TestApplet a(hex("A0000000871002FF01"));
  REQUIRE(rig.card.add_applet(a));
  rig.power_on();
  REQUIRE(rig.sw("00A4040C09A0000000871002FF01") == "9000");
  const u8 refused = static_cast<u8>(CardError::kSecurityStatusNotSatisfied);
  CHECK(rig.sw("8007" + hex_text(Bytes(&refused, 1)) + "00") == "6982");
  const u8 bad_length = static_cast<u8>(CardError::kWrongLength);
  CHECK(rig.sw("8007" + hex_text(Bytes(&bad_length, 1)) + "00") == "6700");  // not a refusal
  REQUIRE(recorder.seen.size() == 1);
  CHECK(recorder.seen[0].kind == SecurityEventKind::kCommandRefused);
  CHECK(recorder.seen[0].detail == 0x6982);
}

TEST_CASE("format_image refuses an ADM key that is not 8 bytes or a number of tries out of 1..15") {
  std::vector<u8> image(CardRig::kImageSize);
  RamNvmDevice device(image);
  const std::vector<u8> short_key = hex("31323334");
  CardIdentity id;
  id.adm_key = short_key;
  CHECK(Card::format_image(device, id).error() == NvmError::kOutOfRange);
  id = with_key(0);
  CHECK(Card::format_image(device, id).error() == NvmError::kOutOfRange);
  id = with_key(16);
  CHECK(Card::format_image(device, id).error() == NvmError::kOutOfRange);
  id = with_key(15);
  CHECK(Card::format_image(device, id).ok());
}

// Power cut at every NVM write of a VERIFY (wrong key, then right key): after the reboot the
// counter is never above what it was before the command, and a wrong try that got an answer is
// never given back.
TEST_CASE("VERIFY ADM1 is tear-safe: a power cut never gives a try back") {
  for (const bool right : {false, true}) {
    CAPTURE(right);
    std::vector<u8> image(CardRig::kImageSize);
    RamNvmDevice ram_device(image);
    REQUIRE(Card::format_image(ram_device, with_key(3)).ok());
    alignas(16) static u8 ram[SCWS_RAM_SIZE];
    std::vector<u8> response(SCWS_APDU_BUFFER_SIZE + 2);
    const std::vector<u8> first_wrong = hex(kVerifyWrong);
    const std::vector<u8> verify = hex(right ? kVerifyRight : kVerifyWrong);
    const std::vector<u8> state = hex("0020000A");
    // One wrong try first (counter 2), then count the writes of the VERIFY under test.
    {
      Card card(ram_device, ram);
      REQUIRE(card.power_on().ok());
      std::size_t n = card.process(first_wrong, response);
      REQUIRE(hex_text(Bytes(response.data(), n)) == "63C2");
    }
    const std::vector<u8> saved = image;
    u64 writes_before = 0, writes_after = 0;
    {
      PowerLossNvmDevice counting(ram_device, ~u64{0});
      Card card(counting, ram);
      REQUIRE(card.power_on().ok());
      writes_before = counting.writes();
      (void)card.process(verify, response);
      writes_after = counting.writes();
    }
    REQUIRE(writes_after > writes_before);
    for (u64 cut = writes_before; cut <= writes_after; ++cut) {
      CAPTURE(cut);
      image = saved;
      std::string answer;
      {
        PowerLossNvmDevice device(ram_device, cut);
        Card card(device, ram);
        REQUIRE(card.power_on().ok());
        const std::size_t n = card.process(verify, response);
        answer = hex_text(Bytes(response.data(), n));
      }
      Card fresh(ram_device, ram);
      REQUIRE(fresh.power_on().ok());
      const std::size_t n = fresh.process(state, response);
      const std::string after = hex_text(Bytes(response.data(), n));
      CHECK((after == "63C2" || after == "63C1" || (right && after == "63C3")));
      if (!right) CHECK(after != "63C3");                 // never above the starting 2 ...
      if (answer == "63C1") CHECK(after == "63C1");       // ... and an answered wrong try stays counted
      if (right && after == "63C3") CHECK(answer == "9000");  // restored only after a match
    }
  }
}
