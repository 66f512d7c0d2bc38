#include "card/os/uicc_files.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "tests/card/os/card_fixture.hpp"

using namespace scws;
using namespace scws::card;
using namespace scws::card::test;

namespace {

// FCP templates (TS 102 221 11.1.1.3): 82 file descriptor, 83 file id, 8A life cycle (05 operational,
// activated), 8C compact security attributes, C6 PIN status (DFs), 80 file size and 88 SFI (EFs).
const char* const kMfFcp = "6213" "82027821" "83023F00" "8A0105" "8C0100" "C603900100";
// Security attributes, expanded format (TS 102 221 11.1.1.4.7.3): READ always, UPDATE ADM1.
#define SCWS_ADM_RULES "AB10" "800101" "9000" "800102" "A406" "83010A" "950108"
const char* const kIccidFcp = "6224" "82024121" "83022FE2" "8A0105" SCWS_ADM_RULES "8002000A" "880110";
const char* const kDirFcp = "6227" "82054221002608" "83022F00" "8A0105" SCWS_ADM_RULES "80020130" "8801F0";
const char* const kDefaultIccid = "988892090000000000F1";  // see UiccFiles::kDefaultIccid

std::string pad_ff(std::size_t n) { return std::string(n * 2, 'F'); }

}  // namespace

TEST_CASE("uicc files answer SELECT by file id with the FCP when P2 asks for it") {
  CardRig rig;
  rig.power_on();
  struct Row {
    const char* command;
    std::string response;
    const char* source;
  };
  const std::vector<Row> rows{
      {"00A40004023F00", std::string(kMfFcp) + "9000", "opensc-tool -s '00 A4 00 04 02 3F 00' (README)"},
      {"00A4000402 3F00 00", std::string(kMfFcp) + "9000", "same with Le 00"},
      {"00A40004022FE2", std::string(kIccidFcp) + "9000", "EF.ICCID, TS 102 221 13.2"},
      {"00A40004022F00", std::string(kDirFcp) + "9000", "EF.DIR, TS 102 221 13.1"},
      {"00A4000C022FE2", "9000", "P2=0C: no data"},
      {"00A4000002 3F00", std::string(kMfFcp) + "9000", "P2=00 (ISO FCI) answered with the FCP"},
      {"00A40004", std::string(kMfFcp) + "9000", "P1=00 without data selects the MF (ISO 7816-4 7.1.1)"},
      {"A0A40000023F00", std::string(kMfFcp) + "9000", "GSM class A0"},
      {"00A4000402 6F00", "6A82", "unknown file"},
      {"00A4000402 7FFF", "6A82", "no current ADF"},
      {"00A40004033F0000", "6700", "file id of 3 bytes"},
      {"00A40008023F00", "6A86", "P2=08 (FMD) not supported"},
      {"00A40006023F00", "6A86", "P2 occurrence bits for a file id"},
      {"00A4000C01 3F", "6700", "file id of 1 byte"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.source);
    CHECK(rig.send(row.command) == row.response);
  }
}

TEST_CASE("uicc files select by path from the MF") {
  CardRig rig;
  rig.power_on();
  CHECK(rig.send("00A40804022FE2") == std::string(kIccidFcp) + "9000");
  CHECK(rig.send("00A40804043F002F00") == std::string(kDirFcp) + "9000");  // leading MF tolerated
  CHECK(rig.send("00A40904022FE2") == std::string(kIccidFcp) + "9000");    // from the current DF (the MF)
  CHECK(rig.sw("00A40804042FE22F00") == "6A82");  // an EF has no children
  CHECK(rig.sw("00A40804023F00") == "9000");      // just the MF
  CHECK(rig.sw("00A4080C012F") == "6700");        // odd length
  CHECK(rig.sw("00A4080C") == "6700");            // no path
  CHECK(rig.sw("00A40804024F00") == "6A82");
}

TEST_CASE("uicc files read the ICCID with READ BINARY") {
  const std::vector<u8> iccid = hex("98103254769810325476");
  CardIdentity identity;
  identity.iccid = iccid;
  CardRig rig(SCWS_RAM_SIZE, identity);
  rig.power_on();
  CHECK(rig.sw("00B000000A") == "6986");  // no current EF after power-up
  REQUIRE(rig.sw("00A4000C022FE2") == "9000");
  // README: opensc-tool -s '00 A4 00 04 02 2F E2' -s '00 B0 00 00 0A'.
  CHECK(rig.send("00B000000A") == "981032547698103254769000");
  CHECK(rig.send("00B0000000") == "981032547698103254769000");  // Le 00: all there is
  CHECK(rig.send("00B00000") == "981032547698103254769000");    // no Le: all there is
  CHECK(rig.send("00B0000502") == "98109000");
  CHECK(rig.send("00B000050A") == "98103254766282");            // fewer bytes than Le: 62 82
  CHECK(rig.sw("00B0000A01") == "6B00");                        // offset at the end
  CHECK(rig.sw("00B07FFF01") == "6B00");
  CHECK(rig.sw("00B00000020000") == "6700");                    // READ BINARY carries no data
}

TEST_CASE("uicc files read binary by short EF identifier and keep the EF current") {
  CardRig rig;
  rig.power_on();
  CHECK(rig.send("00B082000A") == std::string(kDefaultIccid) + "9000");  // SFI 02
  CHECK(rig.send("00B0000102") == "88929000");  // EF.ICCID is now current
  CHECK(rig.sw("00B09E0001") == "6981");        // SFI 1E is EF.DIR: records, not bytes
  CHECK(rig.sw("00B0850001") == "6A82");        // no EF with SFI 05
  CHECK(rig.sw("00B0A20001") == "6A86");        // P1 b7-b6 must be 0
  CHECK(rig.sw("00B0800001") == "6A86");        // SFI 0
}

TEST_CASE("uicc files list installed applications in EF.DIR records") {
  CardRig rig;
  TestApplet a(hex("A0000000871002FF01"));
  a.label_ = {'S', 'C', 'W', 'S'};
  TestApplet b(hex("A0000000630102"));
  REQUIRE(rig.card.add_applet(a));
  REQUIRE(rig.card.add_applet(b));
  rig.power_on();
  REQUIRE(rig.sw("00A4000C022F00") == "9000");
  // TS 102 221 13.1: 61 L { 4F AID, 50 label }, FF padded to the record length (0x26).
  const std::string rec1 = "6111" "4F09A0000000871002FF01" "500453435753";
  CHECK(rig.send("00B2010426") == rec1 + pad_ff(38 - 19) + "9000");
  const std::string rec2 = "6109" "4F07A0000000630102";
  CHECK(rig.send("00B2020400") == rec2 + pad_ff(38 - 11) + "9000");
  CHECK(rig.send("00B2030400") == pad_ff(38) + "9000");   // empty record
  CHECK(rig.send("00B2010405") == "61114F09A09000");   // Le shorter than the record
  CHECK(rig.sw("00B2090400") == "6A83");               // beyond the 8 records
  CHECK(rig.sw("00B2000400") == "6A86");               // current record: not supported
  CHECK(rig.sw("00B2010200") == "6A86");               // next record mode: not supported
  CHECK(rig.sw("00B2010C00") == "6A82");               // SFI 01: none
  REQUIRE(rig.sw("00A4000C023F00") == "9000");
  CHECK(rig.sw("00B2010400") == "6986");               // MF: no current EF
  CHECK(rig.send("00B201F400").substr(0, 38) == rec1);  // by SFI 1E from the MF
  REQUIRE(rig.sw("00A4000C022FE2") == "9000");
  CHECK(rig.sw("00B2010400") == "6981");               // EF.ICCID is transparent
}

TEST_CASE("uicc files update EF.ICCID in a transaction that survives power cycles") {
  const std::vector<u8> key = hex("3132333435363738");
  CardIdentity identity;
  identity.adm_key = key;
  CardRig rig(SCWS_RAM_SIZE, identity);
  rig.power_on();
  REQUIRE(rig.sw("0020000A083132333435363738") == "9000");  // VERIFY ADM1 (card/os/adm_key.hpp)
  REQUIRE(rig.sw("00A4000C022FE2") == "9000");
  CHECK(rig.sw("00D60000021122") == "9000");
  CHECK(rig.send("00B000000A") == "1122" + std::string(kDefaultIccid).substr(4, 16) + "9000");
  CHECK(rig.sw("00D6000A0100") == "6B00");         // offset at the end
  CHECK(rig.sw("00D60009020000") == "6700");       // runs past the end
  CHECK(rig.sw("00D60000") == "6700");             // no data
  rig.card.power_off();
  rig.power_on();
  CHECK(rig.send("00B082000A") == "1122" + std::string(kDefaultIccid).substr(4, 16) + "9000");
  REQUIRE(rig.sw("0020000A083132333435363738") == "9000");
  REQUIRE(rig.sw("00A4000C022F00") == "9000");
  CHECK(rig.sw("00D6000001FF") == "6981");         // EF.DIR is not transparent
  REQUIRE(rig.sw("00A4000C023F00") == "9000");
  CHECK(rig.sw("00D6000001FF") == "6986");
}

TEST_CASE("uicc files answer 6581 when the NVM write of UPDATE BINARY fails") {
  std::vector<u8> image(CardRig::kImageSize);
  RamNvmDevice ram_device(image);
  const std::vector<u8> key = hex("3132333435363738");
  CardIdentity identity;
  identity.adm_key = key;
  REQUIRE(Card::format_image(ram_device, identity).ok());
  alignas(16) static u8 ram[SCWS_RAM_SIZE];
  // Count the writes power-up and VERIFY ADM1 make (VERIFY writes its retry counter; the try is
  // restored at once), then cut the power at the first write after them.
  const std::vector<u8> verify = hex("0020000A083132333435363738");
  std::vector<u8> response(SCWS_APDU_BUFFER_SIZE + 2);
  u64 writes_before_update = 0;
  const std::vector<u8> saved = image;
  {
    PowerLossNvmDevice counting(ram_device, ~u64{0});
    Card card(counting, ram);
    REQUIRE(card.power_on().ok());
    REQUIRE(hex_text(Bytes(response.data(), card.process(verify, response))) == "9000");
    writes_before_update = counting.writes();
  }
  image = saved;
  PowerLossNvmDevice device(ram_device, writes_before_update);
  Card card(device, ram);
  REQUIRE(card.power_on().ok());
  REQUIRE(hex_text(Bytes(response.data(), card.process(verify, response))) == "9000");
  const std::vector<u8> select = hex("00A4000C022FE2");
  std::size_t n = card.process(select, response);
  REQUIRE(hex_text(Bytes(response.data(), n)) == "9000");
  const std::vector<u8> update = hex("00D60000021122");
  n = card.process(update, response);
  CHECK(hex_text(Bytes(response.data(), n)) == "6581");
  // After the failure the image still holds the old ICCID.
  card.power_off();
  Card fresh(ram_device, ram);
  REQUIRE(fresh.power_on().ok());
  const std::vector<u8> read = hex("00B082000A");
  n = fresh.process(read, response);
  CHECK(hex_text(Bytes(response.data(), n)) == std::string(kDefaultIccid) + "9000");
}

TEST_CASE("selecting a file leaves the selection unchanged on error and deselects the applet on success") {
  CardRig rig;
  TestApplet a(hex("A0000000871002FF01"));
  REQUIRE(rig.card.add_applet(a));
  rig.power_on();
  REQUIRE(rig.sw("00A4000C022FE2") == "9000");
  CHECK(rig.sw("00A4000C026F07") == "6A82");
  CHECK(rig.send("00B0000001") == "989000");  // EF.ICCID still current
  REQUIRE(rig.sw("00A4040C09A0000000871002FF01") == "9000");
  CHECK(rig.sw("00A4000C026F07") == "6A82");
  CHECK(a.deselects == 0);                    // a failed file selection keeps the applet
  CHECK(rig.sw("00A4000C023F00") == "9000");
  CHECK(a.deselects == 1);
  CHECK(rig.sw("00B0000001") == "6986");      // back in the file system, MF current
}

TEST_CASE("uicc files build FCP and FCI templates for ADFs") {
  std::array<u8, 64> out{};
  const std::vector<u8> aid = hex("A0000000871002FF01");
  std::size_t n = UiccFiles::write_fci(aid, out);
  CHECK(hex_text(Bytes(out.data(), n)) == "6F0B8409A0000000871002FF01");
  n = UiccFiles::write_adf_fcp(aid, out);
  CHECK(hex_text(Bytes(out.data(), n)) == "621E8202782183027FFF8409A0000000871002FF018A01058C0100C603900100");
  CHECK(UiccFiles::write_adf_fcp(aid, MutableBytes(out.data(), 10)) == 0);  // too small
  CHECK(UiccFiles::write_fcp(0x1234, out) == 0);
}
