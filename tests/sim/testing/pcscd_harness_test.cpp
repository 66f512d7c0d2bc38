// The harness pieces that need no pcscd: the vpcd reader file and the port choice. Starting a
// private pcscd is covered by tests/sim/bench/pcsc_stack_test.cpp.
#include "sim/testing/pcscd_harness.hpp"
#include "sim/testing/scratch_dir.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <fstream>
#include <iterator>


using namespace scws;
using namespace scws::sim;
using namespace std::chrono_literals;

TEST_CASE("vpcd reader file names the driver, the listening port and the channel in hex") {
  const ScratchDir scratch("scws-harness-test-conf");
  const std::filesystem::path& dir = scratch.path();
  write_vpcd_reader_conf(dir, "scws test", 35963);
  std::ifstream in(dir / "vpcd");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Debian's /etc/reader.conf.d/vpcd with another name and port (docs/protocol.md section 10).
  CHECK(text ==
        "FRIENDLYNAME \"scws test\"\n"
        "DEVICENAME   /dev/null:0x8C7B\n"
        "LIBPATH      /usr/lib/pcsc/drivers/serial/libifdvpcd.so\n"
        "CHANNELID    0x8C7B\n");
  CHECK(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator()) == 1);
  std::filesystem::remove_all(dir);
}

TEST_CASE("pcscd harness names vpcd readers by slot and points cards at port + slot") {
  PcscdHarness h({"/tmp/unused", "scws bench", 40000, false, 1000ms});
  CHECK(h.reader(0) == "scws bench 00 00");
  CHECK(h.reader(1) == "scws bench 00 01");
  CHECK(h.vpcd_address(0) == "127.0.0.1:40000");
  CHECK(h.vpcd_address(1) == "127.0.0.1:40001");
  CHECK(h.config_dir() == "/tmp/unused/conf");
  CHECK(h.log_path() == "/tmp/unused/pcscd.log");  // outside the folder pcscd parses
  CHECK(h.pid() == -1);
}

TEST_CASE("vpcd port pair choice gives an even base port with both ports free") {
  u16 p = choose_vpcd_port_pair();
  CHECK(p % 2 == 0);
  CHECK(p >= 20000);
  CHECK(p < 60000);
}
