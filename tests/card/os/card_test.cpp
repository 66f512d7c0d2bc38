#include "card/os/card.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "card/os/atr.hpp"
#include "tests/card/os/card_fixture.hpp"

using namespace scws;
using namespace scws::card;
using namespace scws::card::test;

// Counts host heap allocations of the whole test program: the card must make none after power-up.
namespace {
std::atomic<std::size_t> g_heap_allocations{0};
}  // namespace

void* operator new(std::size_t n) {
  ++g_heap_allocations;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {
const std::vector<u8> kAidA = {0xA0, 0x00, 0x00, 0x00, 0x87, 0x10, 0x02, 0xFF, 0x01};
const std::vector<u8> kAidB = {0xA0, 0x00, 0x00, 0x00, 0x87, 0x10, 0x02, 0xFF, 0x02};
}  // namespace

TEST_CASE("card answers the default UICC ATR before and after power-up") {
  CardRig rig;
  CHECK(bytes_equal(rig.card.atr(), Bytes(kDefaultAtr)));
  CHECK_FALSE(rig.card.powered());
  rig.power_on();
  CHECK(rig.card.powered());
  CHECK(bytes_equal(rig.card.atr(), Bytes(kDefaultAtr)));
  rig.card.power_off();
  CHECK_FALSE(rig.card.powered());
  CHECK(bytes_equal(rig.card.atr(), Bytes(kDefaultAtr)));
}

TEST_CASE("card takes its ATR from the identity stored in the image") {
  // USIM Orange ATR, pcsc-tools smartcard_list.txt.
  const std::vector<u8> atr = hex("3B9F96801FC78031E073FE211B63E2039483 0F9000BD");
  CardIdentity identity;
  identity.atr = atr;
  CardRig rig(SCWS_RAM_SIZE, identity);
  rig.power_on();
  CHECK(bytes_equal(rig.card.atr(), atr));
  REQUIRE(rig.card.reset().ok());  // a warm reset keeps the ATR
  CHECK(bytes_equal(rig.card.atr(), atr));
  rig.card.power_off();
  CHECK(bytes_equal(rig.card.atr(), atr));
}

TEST_CASE("format_image refuses an identity with a malformed ICCID or ATR") {
  std::vector<u8> image(CardRig::kImageSize);
  RamNvmDevice device(image);
  const std::vector<u8> short_iccid(9, 0x11);
  const std::vector<u8> bad_tck = hex("3B800100");
  CardIdentity bad_iccid;
  bad_iccid.iccid = short_iccid;
  CHECK(Card::format_image(device, bad_iccid).error() == NvmError::kOutOfRange);
  CardIdentity bad_atr;
  bad_atr.atr = bad_tck;
  CHECK(Card::format_image(device, bad_atr).error() == NvmError::kOutOfRange);
}

TEST_CASE("power_on refuses a damaged image with kNvm and says why") {
  struct Damage {
    const char* what;
    std::size_t offset;  // from the image start; SIZE_MAX = from the end
    NvmError expected;
  };
  const Damage rows[] = {
      {"magic (header byte 0)", 0, NvmError::kBadMagic},
      {"header checksum area (byte 20)", 20, NvmError::kCorruptHeader},
      {"data area near the end of the image", CardRig::kImageSize - 100, NvmError::kCorruptData},
  };
  for (const Damage& d : rows) {
    CAPTURE(d.what);
    CardRig rig;
    rig.image[d.offset] ^= 0x5A;
    auto powered = rig.card.power_on();
    REQUIRE_FALSE(powered.ok());
    CHECK(powered.error() == PowerError::kNvm);
    CHECK(rig.card.nvm_error() == d.expected);
    CHECK_FALSE(rig.card.powered());
    CHECK(rig.sw("00A4000C023F00") == "6F00");  // an unpowered card answers nothing useful
    CHECK(rig.card.atr().size() > 0);            // but still has an ATR for vpcd
  }
}

TEST_CASE("power_on refuses an image without the card OS objects") {
  std::vector<u8> image(CardRig::kImageSize);
  RamNvmDevice device(image);
  Nvm nvm(device);
  REQUIRE(nvm.format(SCWS_COMMIT_CAPACITY).ok());
  alignas(16) static u8 ram[SCWS_RAM_SIZE];
  Card card(device, ram);
  auto powered = card.power_on();
  REQUIRE_FALSE(powered.ok());
  CHECK(powered.error() == PowerError::kNvm);
}

TEST_CASE("power_on installs a registered applet once and records it in the image") {
  CardRig rig;
  TestApplet a(kAidA);
  REQUIRE(rig.card.add_applet(a));
  rig.power_on();
  CHECK(a.installs == 1);
  CHECK(a.power_ups == 1);
  rig.card.power_off();
  rig.power_on();
  CHECK(a.installs == 1);
  CHECK(a.power_ups == 2);
  // A new card on the same image (the next run of the program) finds the applet installed.
  rig.card.power_off();
  TestApplet again(kAidA);
  alignas(16) static u8 ram[SCWS_RAM_SIZE];
  Card card(rig.device, ram);
  REQUIRE(card.add_applet(again));
  REQUIRE(card.power_on().ok());
  CHECK(again.installs == 0);
  CHECK(again.power_ups == 1);
}

TEST_CASE("an applet whose install fails is not selectable and is tried again at the next power-up") {
  CardRig rig;
  TestApplet a(kAidA);
  a.fail_install = true;
  REQUIRE(rig.card.add_applet(a));
  rig.power_on();
  CHECK(a.installs == 1);
  CHECK(a.power_ups == 0);
  CHECK(rig.sw("00A4040009A0000000871002FF01") == "6A82");
  a.fail_install = false;
  REQUIRE(rig.card.reset().ok());
  CHECK(a.installs == 2);
  CHECK(rig.sw("00A4040C09A0000000871002FF01") == "9000");
}

TEST_CASE("add_applet refuses duplicates, bad AIDs, a full registry and a powered card") {
  CardRig rig;
  TestApplet a(kAidA), dup(kAidA), empty_aid(std::vector<u8>{}), long_aid(std::vector<u8>(17, 0xA0));
  CHECK(rig.card.add_applet(a));
  CHECK_FALSE(rig.card.add_applet(dup));
  CHECK_FALSE(rig.card.add_applet(empty_aid));
  CHECK_FALSE(rig.card.add_applet(long_aid));
  std::vector<TestApplet> more;
  more.reserve(Card::kMaxApplets);
  for (u8 i = 1; i < Card::kMaxApplets; ++i) more.emplace_back(std::vector<u8>{0xA0, 0, 0, 0, 0x10, i});
  for (TestApplet& m : more) CHECK(rig.card.add_applet(m));
  TestApplet one_too_many(std::vector<u8>{0xA0, 0, 0, 0, 0x20});
  CHECK_FALSE(rig.card.add_applet(one_too_many));
  rig.power_on();
  TestApplet late(std::vector<u8>{0xA0, 0, 0, 0, 0x30});
  CHECK_FALSE(rig.card.add_applet(late));
  // All eight installed: each can be selected.
  CHECK(rig.sw("00A4040C09A0000000871002FF01") == "9000");
  CHECK(rig.sw("00A4040C06A00000001007") == "9000");
}

TEST_CASE("CLEAR_ON_RESET transient memory is zero after a warm reset and after power-on") {
  CardRig rig;
  TestApplet a(kAidA);
  REQUIRE(rig.card.add_applet(a));
  rig.power_on();
  REQUIRE(rig.sw("00A4040C09A0000000871002FF01") == "9000");
  REQUIRE(rig.sw("8002AABB") == "9000");
  CHECK(rig.send("80030000") == "AABB9000");
  REQUIRE(rig.card.reset().ok());
  REQUIRE(rig.sw("00A4040C09A0000000871002FF01") == "9000");
  CHECK(rig.send("80030000") == "00009000");
  REQUIRE(rig.sw("8002CCDD") == "9000");
  rig.card.power_off();
  rig.power_on();
  REQUIRE(rig.sw("00A4040C09A0000000871002FF01") == "9000");
  CHECK(rig.send("80030000") == "00009000");
}

TEST_CASE("CLEAR_ON_DESELECT transient memory is zero once its applet is deselected everywhere") {
  CardRig rig;
  TestApplet a(kAidA, /*multiselectable=*/true);
  REQUIRE(rig.card.add_applet(a));
  rig.power_on();
  REQUIRE(rig.sw("00A4040C09A0000000871002FF01") == "9000");
  REQUIRE(rig.sw("8002AABB") == "9000");
  // Deselected by selecting the MF on the same channel, then selected again.
  REQUIRE(rig.sw("00A4000C023F00") == "9000");
  CHECK(a.deselects == 1);
  REQUIRE(rig.sw("00A4040C09A0000000871002FF01") == "9000");
  CHECK(rig.send("80030000") == "AA009000");

  // Selected on channels 0 and 1: leaving channel 1 keeps the memory, leaving channel 0 too clears it.
  REQUIRE(rig.sw("8002AABB") == "9000");
  REQUIRE(rig.send("0070000001") == "019000");
  REQUIRE(rig.sw("01A4040C09A0000000871002FF01") == "9000");
  REQUIRE(rig.sw("00708001") == "9000");
  CHECK(a.deselects == 2);
  CHECK(rig.send("80030000") == "AABB9000");
  REQUIRE(rig.sw("00A4000C023F00") == "9000");
  REQUIRE(rig.sw("00A4040C09A0000000871002FF01") == "9000");
  CHECK(rig.send("80030000") == "AA009000");
}

TEST_CASE("a transaction left open when process() returns is aborted") {
  CardRig rig;
  TestApplet a(kAidA);
  REQUIRE(rig.card.add_applet(a));
  rig.power_on();
  REQUIRE(rig.sw("00A4040C09A0000000871002FF01") == "9000");
  CHECK(rig.send("800A0000") == "009000");
  CHECK(rig.sw("80047700") == "9000");         // writes 77 and leaves the transaction open
  CHECK(rig.send("800A0000") == "009000");     // rolled back
  CHECK(rig.sw("800B5500") == "9000");         // a committed write
  CHECK(rig.send("800A0000") == "559000");
  CHECK(rig.sw("80047700") == "9000");
  CHECK(rig.send("800A0000") == "559000");
  rig.card.power_off();
  rig.power_on();
  REQUIRE(rig.sw("00A4040C09A0000000871002FF01") == "9000");
  CHECK(rig.send("800A0000") == "559000");     // the committed value survived the power cycle
}

TEST_CASE("a transaction left open by select() or on_power_up() is aborted") {
  CardRig rig;
  TestApplet a(kAidA);
  a.leave_transaction_open_in_select = true;
  a.leave_transaction_open_at_power_up = true;
  REQUIRE(rig.card.add_applet(a));
  rig.power_on();
  REQUIRE(rig.sw("00A4040C09A0000000871002FF01") == "9000");
  CHECK(rig.send("800A0000") == "009000");  // select's write (5E) was rolled back
  CHECK(rig.sw("800B5500") == "9000");      // and a new transaction can begin
}

TEST_CASE("RAM high-water is reported and RAM returns to idle after every command") {
  CardRig rig;
  TestApplet a(kAidA);
  REQUIRE(rig.card.add_applet(a));
  rig.power_on();
  const RamReport idle = rig.card.ram_report();
  CHECK(idle.capacity == SCWS_RAM_SIZE);
  CHECK(idle.in_use == idle.idle);
  CHECK(idle.idle >= SCWS_APDU_BUFFER_SIZE + 2 * a.transient_size);  // APDU buffer + transient arrays
  REQUIRE(rig.sw("00A4040C09A0000000871002FF01") == "9000");
  REQUIRE(rig.sw("80050800") == "9000");  // 2048 bytes for the command's duration
  const RamReport after = rig.card.ram_report();
  CHECK(after.in_use == idle.idle);
  CHECK(after.high_water >= idle.idle + 2048);
}

TEST_CASE("RAM exhaustion inside a command answers 6A84 and the card goes on") {
  CardRig rig(16384);  // smaller than the 0x7FFF bytes asked below, whatever card_ram_size is
  TestApplet a(kAidA);
  REQUIRE(rig.card.add_applet(a));
  rig.power_on();
  REQUIRE(rig.sw("00A4040C09A0000000871002FF01") == "9000");
  CHECK(rig.sw("80057FFF") == "6A84");
  CHECK(rig.send("8001000002CAFE") == "CAFE9000");
  CHECK(rig.card.ram_report().in_use == rig.card.ram_report().idle);
}

TEST_CASE("power_on fails with kRamTooSmall when RAM cannot hold the APDU buffer or transient memory") {
  {
    CardRig rig(SCWS_APDU_BUFFER_SIZE / 2);
    auto powered = rig.card.power_on();
    REQUIRE_FALSE(powered.ok());
    CHECK(powered.error() == PowerError::kRamTooSmall);
    CHECK_FALSE(rig.card.powered());
  }
  {
    CardRig rig;
    TestApplet a(kAidA);
    a.transient_size = SCWS_RAM_SIZE / 2;  // two of them do not fit
    REQUIRE(rig.card.add_applet(a));
    auto powered = rig.card.power_on();
    REQUIRE_FALSE(powered.ok());
    CHECK(powered.error() == PowerError::kRamTooSmall);
    CHECK_FALSE(rig.card.powered());
  }
}

TEST_CASE("power-off closes logical channels and forgets selections") {
  CardRig rig;
  TestApplet a(kAidA);
  REQUIRE(rig.card.add_applet(a));
  rig.power_on();
  REQUIRE(rig.send("0070000001") == "019000");
  REQUIRE(rig.sw("00A4040C09A0000000871002FF01") == "9000");
  rig.card.power_off();
  CHECK(a.deselects == 0);  // no code runs at power loss
  rig.power_on();
  CHECK(rig.sw("01A4000C023F00") == "6881");
  CHECK(rig.sw("80010000") == "6D00");  // nothing selected on the basic channel
}

TEST_CASE("reset of an unpowered card is a cold start") {
  CardRig rig;
  REQUIRE(rig.card.reset().ok());
  CHECK(rig.card.powered());
}

TEST_CASE("the card allocates nothing on the host heap after power-up") {
  CardRig rig;
  TestApplet a(kAidA);
  FakeToolkit toolkit;
  REQUIRE(rig.card.add_applet(a));
  REQUIRE(rig.card.set_toolkit(toolkit));
  static const u8 commands[][16] = {
      {0x00, 0xA4, 0x04, 0x00, 0x09, 0xA0, 0x00, 0x00, 0x00, 0x87, 0x10, 0x02, 0xFF, 0x01},
      {0x80, 0x05, 0x04, 0x00},
      {0x00, 0x70, 0x00, 0x00, 0x01},
      {0x01, 0xA4, 0x00, 0x04, 0x02, 0x2F, 0xE2},
      {0x01, 0xB0, 0x00, 0x00, 0x0A},
      {0x80, 0xF2, 0x00, 0x00, 0x00},
      {0x80, 0x10, 0x00, 0x00, 0x02, 0xFF, 0xFF},
  };
  static const std::size_t sizes[] = {14, 4, 5, 7, 5, 5, 7};
  static u8 response[SCWS_APDU_BUFFER_SIZE + 2];
  const std::size_t before = g_heap_allocations.load();
  const bool powered = rig.card.power_on().ok();
  std::size_t bad = 0;
  for (int round = 0; round < 3; ++round) {
    for (std::size_t i = 0; i < 7; ++i) {
      const std::size_t n = rig.card.process(Bytes(commands[i], sizes[i]), response);
      if (n < 2 || response[n - 2] != 0x90) ++bad;
    }
    if (!rig.card.reset().ok()) ++bad;
  }
  const std::size_t after = g_heap_allocations.load();
  CHECK(powered);
  CHECK(bad == 0);
  CHECK(after == before);
}
