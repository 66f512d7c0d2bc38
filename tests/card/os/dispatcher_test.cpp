#include "card/os/dispatcher.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "tests/card/os/card_fixture.hpp"

using namespace scws;
using namespace scws::card;
using namespace scws::card::test;

namespace {

// RID A000000087 (3GPP) + PIX, and a second RID.
const std::vector<u8> kAidA = {0xA0, 0x00, 0x00, 0x00, 0x87, 0x10, 0x02, 0xFF, 0x01};
const std::vector<u8> kAidB = {0xA0, 0x00, 0x00, 0x00, 0x87, 0x10, 0x02, 0xFF, 0x02};
const std::vector<u8> kAidC = {0xA0, 0x00, 0x00, 0x00, 0x63, 0x01, 0x02};

struct SwRow {
  const char* command;
  const char* sw;
  const char* why;
};

void check_rows(CardRig& rig, const std::vector<SwRow>& rows) {
  for (const SwRow& row : rows) {
    CAPTURE(row.command);
    CAPTURE(row.why);
    CHECK(rig.sw(row.command) == row.sw);
  }
}

}  // namespace

TEST_CASE("dispatcher maps every card error to its status word") {
  struct Row {
    CardError e;
    u16 sw;
  };
  // ISO 7816-4 5.6 tables 5-6, TS 102 221 10.2.1, Java Card ISO7816.SW_APPLET_SELECT_FAILED.
  const Row rows[] = {
      {CardError::kWrongLength, 0x6700},
      {CardError::kLogicalChannelNotSupported, 0x6881},
      {CardError::kCommandIncompatibleWithFile, 0x6981},
      {CardError::kSecurityStatusNotSatisfied, 0x6982},
      {CardError::kConditionsNotSatisfied, 0x6985},
      {CardError::kCommandNotAllowedNoEf, 0x6986},
      {CardError::kAppletSelectFailed, 0x6999},
      {CardError::kWrongData, 0x6A80},
      {CardError::kFunctionNotSupported, 0x6A81},
      {CardError::kFileNotFound, 0x6A82},
      {CardError::kRecordNotFound, 0x6A83},
      {CardError::kNotEnoughMemory, 0x6A84},
      {CardError::kIncorrectP1P2, 0x6A86},
      {CardError::kReferencedDataNotFound, 0x6A88},
      {CardError::kWrongP1P2, 0x6B00},
      {CardError::kInsNotSupported, 0x6D00},
      {CardError::kClaNotSupported, 0x6E00},
      {CardError::kMemoryFailure, 0x6581},
      {CardError::kToolkitBusy, 0x9300},
      {CardError::kTechnicalProblem, 0x6F00},
  };
  CardRig rig;
  TestApplet a(kAidA);
  REQUIRE(rig.card.add_applet(a));
  rig.power_on();
  REQUIRE(rig.sw("00A4040C09A0000000871002FF01") == "9000");
  for (const Row& row : rows) {
    CHECK(apdu::to_u16(to_status_word(row.e)) == row.sw);
    // An applet failing with the error gets exactly that status word, and no data.
    char command[16];
    std::snprintf(command, sizeof command, "8007%02X00", static_cast<unsigned>(row.e));
    char expected[8];
    std::snprintf(expected, sizeof expected, "%04X", row.sw);
    CHECK(rig.send(command) == expected);
  }
}

TEST_CASE("dispatcher answers malformed and unknown commands with the ISO status words") {
  CardRig rig;
  rig.power_on();
  std::vector<u8> too_long(SCWS_APDU_BUFFER_SIZE + 1, 0x00);
  too_long[0] = 0x00;
  too_long[1] = 0xD6;
  std::vector<u8> response(SCWS_APDU_BUFFER_SIZE + 2);
  std::size_t n = rig.card.process(too_long, response);
  REQUIRE(n == 2);
  CHECK(hex_text(Bytes(response.data(), 2)) == "6700");  // longer than the APDU buffer
  n = rig.card.process(Bytes{}, response);
  REQUIRE(n == 2);
  CHECK(hex_text(Bytes(response.data(), 2)) == "6700");  // empty

  check_rows(rig, {
      {"00A400", "6700", "shorter than a header (ISO 7816-4 5.1)"},
      {"00A4040005A000", "6700", "Lc says 5, one data byte"},
      {"00A40400000001", "6700", "extended Lc of 0"},
      {"FFA40000", "6E00", "CLA FF is PPS (ISO 7816-3)"},
      {"0CA4000C023F00", "6E00", "secure messaging not supported"},
      {"10A4000C023F00", "6E00", "command chaining not supported"},
      {"20A4000C023F00", "6E00", "RFU class"},
      {"90F20000", "6E00", "proprietary class with chaining bit"},
      {"B0F20000", "6E00", "unknown class"},
      {"00CA00FF00", "6D00", "GET DATA: unknown INS without an applet"},
      {"80B0000001", "6D00", "READ BINARY in the proprietary class"},
      {"8070000001", "6D00", "MANAGE CHANNEL in the proprietary class"},
      {"00F20000", "6D00", "STATUS in the ISO class"},
      {"0012000000", "6D00", "FETCH in the ISO class"},
      {"00A4020C022F00", "6A86", "SELECT P1=02 (EF under current DF) not supported"},
      {"00A4040C", "6700", "SELECT by AID without an AID"},
      {"00A4040C11A0000000871002FF01020304050607080910", "6700", "AID longer than 16 bytes"},
      {"00A4040005A000000099", "6A82", "no applet with that AID"},
      {"00A4040105A000000087", "6A86", "P2 last occurrence not supported"},
      {"00A4040805A000000087", "6A86", "P2 FMD not supported"},
      {"00A4041005A000000087", "6A86", "P2 b8-b5 not zero"},
      {"80120000 00", "6985", "FETCH: nothing pending (default toolkit)"},
      {"8014000003830100", "6985", "TERMINAL RESPONSE: no proactive command (default toolkit)"},
      {"80C2000002D600", "6D00", "ENVELOPE: no toolkit application (default toolkit)"},
      {"80100000 02 FFFF", "9000", "TERMINAL PROFILE accepted (default toolkit)"},
  });
}

TEST_CASE("dispatcher opens and closes logical channels with MANAGE CHANNEL") {
  CardRig rig;
  rig.power_on();
  // ISO 7816-4 11.1.2: P1=00 open, P2=00 card assigns; response = channel number.
  for (unsigned ch = 1; ch < SCWS_LOGICAL_CHANNELS; ++ch) {
    char expected[8];
    std::snprintf(expected, sizeof expected, "%02X9000", ch);
    CHECK(rig.send("0070000001") == expected);
  }
  CHECK(rig.sw("0070000001") == "6881");  // all channels open
  CHECK(rig.sw("00708000") == "6A86");    // the basic channel is never closed
  if (SCWS_LOGICAL_CHANNELS >= 3) {
    CHECK(rig.send("00708002") == "9000");
    CHECK(rig.sw("02A4000C023F00") == "6881");  // closed
    CHECK(rig.send("0070000001") == "029000");  // the lowest free one again
    CHECK(rig.sw("00700002") == "6985");        // requested channel already open
    CHECK(rig.send("02708000") == "9000");      // P2=00: the channel of the CLA
    CHECK(rig.send("00700002") == "9000");      // requested channel: no data
    CHECK(rig.sw("02A4000C023F00") == "9000");
  }
  char beyond[16];
  std::snprintf(beyond, sizeof beyond, "007000%02X", SCWS_LOGICAL_CHANNELS);
  CHECK(rig.sw(beyond) == (SCWS_LOGICAL_CHANNELS <= 19 ? "6881" : "6A86"));
  CHECK(rig.sw("00700014") == "6A86");  // channel 20 does not exist (ISO 7816-4 5.4.2)
  CHECK(rig.sw("00708013") == (SCWS_LOGICAL_CHANNELS > 19 ? "9000" : "6881"));  // close 19: not open
  CHECK(rig.sw("00700100") == "6A86");
  CHECK(rig.sw("007000000101") == "6700");  // MANAGE CHANNEL carries no data
  // Channels 4-19 use the further interindustry class 4X (TS 102 221 10.1.1).
  if (SCWS_LOGICAL_CHANNELS <= 4) {
    CHECK(rig.sw("40A4000C023F00") == "6881");
    CHECK(rig.sw("4FA4000C023F00") == "6881");
  }
}

TEST_CASE("dispatcher keeps one selection per logical channel") {
  CardRig rig;
  TestApplet a(kAidA);
  REQUIRE(rig.card.add_applet(a));
  rig.power_on();
  REQUIRE(rig.sw("00A4040C09A0000000871002FF01") == "9000");
  REQUIRE(rig.send("0070000001") == "019000");
  REQUIRE(rig.sw("01A4000C022FE2") == "9000");
  CHECK(rig.send("8001000002CAFE") == "CAFE9000");  // channel 0: the applet
  CHECK(a.last_channel == 0);
  CHECK(rig.send("01B0000002") == "98889000");       // channel 1: EF.ICCID
  CHECK(rig.sw("81010000") == "6D00");               // channel 1 has no applet
}

TEST_CASE("dispatcher refuses a non-multiselectable applet on a second channel") {
  CardRig rig;
  TestApplet single(kAidA);
  TestApplet multi(kAidC, /*multiselectable=*/true);
  REQUIRE(rig.card.add_applet(single));
  REQUIRE(rig.card.add_applet(multi));
  rig.power_on();
  REQUIRE(rig.send("0070000001") == "019000");
  REQUIRE(rig.sw("00A4040C09A0000000871002FF01") == "9000");
  CHECK(rig.sw("01A4040C09A0000000871002FF01") == "6985");  // JCRE 4.2: active on channel 0
  CHECK(single.selects == 1);
  CHECK(rig.sw("00A4040C07A0000000630102") == "9000");      // channel 0 switches applets
  CHECK(single.deselects == 1);
  CHECK(rig.sw("01A4040C09A0000000871002FF01") == "9000");  // now free
  CHECK(rig.sw("01A4040C07A0000000630102") == "9000");      // the multiselectable one on both
  CHECK(multi.selects == 2);
  CHECK(single.deselects == 2);
  CHECK(rig.sw("00A4040C07A0000000630102") == "9000");      // re-select: deselect + select
  CHECK(multi.deselects == 1);
  CHECK(multi.selects == 3);
}

TEST_CASE("dispatcher deselects the applet of a channel being closed") {
  CardRig rig;
  TestApplet a(kAidA);
  REQUIRE(rig.card.add_applet(a));
  rig.power_on();
  REQUIRE(rig.send("0070000001") == "019000");
  REQUIRE(rig.sw("01A4040C09A0000000871002FF01") == "9000");
  CHECK(a.last_channel == 1);
  REQUIRE(rig.sw("00708001") == "9000");
  CHECK(a.deselects == 1);
  CHECK(a.last_channel == 1);
  CHECK(rig.sw("00A4040C09A0000000871002FF01") == "9000");  // selectable again elsewhere
}

TEST_CASE("dispatcher selects applets by full and right-truncated AID, first and next occurrence") {
  CardRig rig;
  TestApplet a(kAidA), b(kAidB), c(kAidC);
  REQUIRE(rig.card.add_applet(a));
  REQUIRE(rig.card.add_applet(c));
  REQUIRE(rig.card.add_applet(b));
  rig.power_on();
  // ISO 7816-4 7.1.1: P2 b2-b1 = 00 first occurrence, 10 next occurrence.
  CHECK(rig.send("00A4040005A000000087") == "6F0B8409A0000000871002FF019000");  // first match: A
  CHECK(a.selects == 1);
  CHECK(rig.send("00A4040205A000000087") == "6F0B8409A0000000871002FF029000");  // next: B
  CHECK(b.selects == 1);
  CHECK(a.deselects == 1);
  CHECK(rig.sw("00A4040205A000000087") == "6A82");                             // no further one
  CHECK(rig.sw("00A4040205A000000063") == "9000");  // "next" from a non-matching one = first
  CHECK(c.selects == 1);
  CHECK(rig.sw("00A4040C09A0000000871002FF02") == "9000");  // full AID
  CHECK(b.selects == 2);
  CHECK(rig.sw("00A4040C0AA0000000871002FF0200") == "6A82");  // longer than any AID
}

TEST_CASE("dispatcher answers a selecting SELECT with the applet's FCI or a default one") {
  CardRig rig;
  TestApplet a(kAidA), b(kAidB);
  b.fci = hex("6F03840101");
  REQUIRE(rig.card.add_applet(a));
  REQUIRE(rig.card.add_applet(b));
  rig.power_on();
  // P2=00: FCI template 6F with the DF name (ISO 7816-4 7.4.1); the applet saw selectingApplet().
  CHECK(rig.send("00A4040009A0000000871002FF01") == "6F0B8409A0000000871002FF019000");
  CHECK(a.selecting_commands == 1);
  // P2=04: FCP of the ADF (TS 102 221 11.1.1.3): descriptor, file id 7FFF, DF name, LCS, security, PIN.
  const std::string fcp = rig.send("00A4040409A0000000871002FF01");
  CHECK(fcp == "621E82027821" "83027FFF" "8409A0000000871002FF01" "8A0105" "8C0100" "C603900100" "9000");
  CHECK(rig.send("00A4040C09A0000000871002FF01") == "9000");  // P2=0C: nothing
  CHECK(rig.send("00A4040009A0000000871002FF02") == "6F038401019000");  // the applet's own FCI
  CHECK(rig.send("00A4040C09A0000000871002FF02") == "9000");
  // Le shorter than the FCI: truncated to Ne (no 6C XX).
  CHECK(rig.send("00A4040009A0000000871002FF0104") == "6F0B84099000");
}

TEST_CASE("dispatcher answers 6999 when an applet refuses selection and leaves the channel empty") {
  CardRig rig;
  TestApplet a(kAidA), b(kAidB);
  b.accept_select = false;
  REQUIRE(rig.card.add_applet(a));
  REQUIRE(rig.card.add_applet(b));
  rig.power_on();
  REQUIRE(rig.sw("00A4040C09A0000000871002FF01") == "9000");
  CHECK(rig.sw("00A4040C09A0000000871002FF02") == "6999");
  CHECK(a.deselects == 1);               // the previous applet left first (Java Card)
  CHECK(rig.sw("80010000") == "6D00");   // nothing selected now
  CHECK(rig.sw("00A4000C022FE2") == "9000");
}

TEST_CASE("dispatcher truncates response data to Ne and gives everything without Le") {
  CardRig rig;
  TestApplet a(kAidA);
  REQUIRE(rig.card.add_applet(a));
  rig.power_on();
  REQUIRE(rig.sw("00A4040C09A0000000871002FF01") == "9000");
  CHECK(rig.send("8008001005") == "00010203049000");                       // Le 05
  CHECK(rig.send("80080004") == "000102039000");                           // no Le: all
  CHECK(rig.send("8008000400") == "000102039000");                         // Le 00: up to 256
  CHECK(rig.send("80080004000002") == "00019000");                         // extended Le 0002
  CHECK(rig.send("8009000000") == "EFEFEF6282");                           // end of data warning
  const std::string big = rig.send("8008010000");                          // 256 bytes, Le 00
  CHECK(big.size() == (256 + 2) * 2);
  char too_much[16];
  std::snprintf(too_much, sizeof too_much, "8008%04X", SCWS_APDU_BUFFER_SIZE + 1);
  CHECK(rig.sw(too_much) == "6700");  // the applet's room ends with the APDU buffer
}

TEST_CASE("dispatcher hands CAT commands to the toolkit and turns 9000 into 91XX while one is pending") {
  CardRig rig;
  TestApplet a(kAidA);
  FakeToolkit toolkit;
  REQUIRE(rig.card.add_applet(a));
  REQUIRE(rig.card.set_toolkit(toolkit));
  rig.power_on();
  CHECK_FALSE(rig.card.set_toolkit(toolkit));  // not while powered
  // TERMINAL PROFILE (TS 102 221 11.2.1): data reaches the toolkit.
  CHECK(rig.send("8010000003FFFF7F") == "9000");
  CHECK(toolkit.profiles == 1);
  CHECK(toolkit.profile_size == 3);
  // CAT commands go to the toolkit even with an applet selected on the channel.
  REQUIRE(rig.sw("00A4040C09A0000000871002FF01") == "9000");
  toolkit.pending = 0x05;
  CHECK(rig.sw("80F2000C") == "9105");           // STATUS polling: 91 05 (TS 102 221 10.2.1.1)
  CHECK(rig.send("8001000001AA") == "AA9105");    // any normal ending becomes 91 XX
  CHECK(rig.sw("80070B00") == "6A84");           // errors stay errors (0B = kNotEnoughMemory)
  CHECK(rig.send("8012000005") == "D0038101009000");  // FETCH; nothing pending afterwards
  CHECK(toolkit.fetches == 1);
  CHECK(rig.sw("8014000003830100") == "9000");
  CHECK(toolkit.responses == 1);
  CHECK(rig.sw("80C2000002D600") == "9000");
  toolkit.busy = true;
  CHECK(rig.sw("80C2000002D600") == "9300");      // toolkit busy (TS 102 221 10.2.1.2)
  CHECK(toolkit.envelopes == 2);
}

TEST_CASE("dispatcher answers STATUS for the selected ADF or the MF") {
  CardRig rig;
  TestApplet a(kAidA);
  REQUIRE(rig.card.add_applet(a));
  rig.power_on();
  CHECK(rig.send("80F2000000") == "62138202782183023F008A01058C0100C6039001009000");
  CHECK(rig.sw("80F20001") == "6A88");   // no application: no DF name
  CHECK(rig.send("80F2000C") == "9000");
  CHECK(rig.sw("80F20300") == "6A86");
  CHECK(rig.sw("80F2000500") == "6A86");
  CHECK(rig.sw("80F2000C0100") == "6700");
  REQUIRE(rig.sw("00A4040C09A0000000871002FF01") == "9000");
  CHECK(rig.send("80F2000100") == "8409A0000000871002FF019000");
  CHECK(rig.send("80F2010000") == "621E8202782183027FFF8409A0000000871002FF018A01058C0100C6039001009000");
  CHECK(rig.send("A0F2000C") == "9000");  // GSM class
  CHECK(a.commands == 1);                 // only the selecting SELECT reached the applet
}

TEST_CASE("dispatcher sends other commands to the applet selected on the channel") {
  CardRig rig;
  TestApplet a(kAidA);
  REQUIRE(rig.card.add_applet(a));
  rig.power_on();
  REQUIRE(rig.sw("00A4040C09A0000000871002FF01") == "9000");
  CHECK(rig.sw("00B0000001") == "6D00");  // READ BINARY goes to the applet, which does not know it
  CHECK(rig.sw("00A4010C022F00") == "6D00");  // so does a SELECT the card OS does not handle
  CHECK(a.commands == 3);
}

TEST_CASE("a toolkit that cannot power up is replaced by the do-nothing one for the session") {
  CardRig rig;
  FakeToolkit toolkit;
  toolkit.power_up_error = CardError::kTechnicalProblem;
  REQUIRE(rig.card.set_toolkit(toolkit));
  rig.power_on();
  CHECK(toolkit.power_ups == 1);
  CHECK(rig.sw("80C2000002D600") == "6D00");  // the default toolkit answered
  CHECK(toolkit.envelopes == 0);
  toolkit.power_up_error.reset();
  REQUIRE(rig.card.reset().ok());
  CHECK(rig.sw("80C2000002D600") == "9000");  // back at the next power-up
  CHECK(toolkit.envelopes == 1);
}

TEST_CASE("a toolkit whose RAM does not fit fails the power-up with kRamTooSmall") {
  CardRig rig;
  FakeToolkit toolkit;
  toolkit.ram_size = SCWS_RAM_SIZE;
  REQUIRE(rig.card.set_toolkit(toolkit));
  auto powered = rig.card.power_on();
  REQUIRE_FALSE(powered.ok());
  CHECK(powered.error() == PowerError::kRamTooSmall);
  CHECK_FALSE(rig.card.powered());
}
