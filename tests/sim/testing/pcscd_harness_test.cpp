// The harness pieces that need no pcscd: bounded polling, child processes stopped by pid, the vpcd
// reader file and the port choice. Starting a private pcscd is covered by pcsc_client_test.cpp.
#include "sim/testing/pcscd_harness.hpp"

#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <iterator>
#include <thread>

using namespace scws;
using namespace scws::sim;
using namespace std::chrono_literals;

namespace {
std::filesystem::path temp_dir(const char* name) {
  auto dir = std::filesystem::temp_directory_path() /
             (std::string("scws-harness-test-") + std::to_string(::getpid()) + "-" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}
}  // namespace

TEST_CASE("poll_until returns as soon as the condition holds and gives up at the bound") {
  std::atomic<bool> flag{false};
  std::thread setter([&] { flag = true; });
  CHECK(poll_until([&] { return flag.load(); }, 3000ms, 1ms));
  setter.join();
  auto start = std::chrono::steady_clock::now();
  CHECK_FALSE(poll_until([] { return false; }, 30ms, 5ms));
  auto spent = std::chrono::steady_clock::now() - start;
  CHECK(spent >= 30ms);
  CHECK(spent < 1000ms);
}

TEST_CASE("child process exit code and output are collected") {
  auto dir = temp_dir("exit");
  ChildProcess child({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"}, dir / "log");
  auto code = child.wait_exit(5000ms);
  REQUIRE(code);
  CHECK(*code == 3);
  CHECK_FALSE(child.alive());
  CHECK(child.log_text() == "out\nerr\n");
  CHECK(child.stop() == 3);  // idempotent after exit
  std::filesystem::remove_all(dir);
}

TEST_CASE("child process stop ends a running child with SIGTERM") {
  auto dir = temp_dir("term");
  ChildProcess child({"sleep", "30"}, dir / "log");
  CHECK(child.alive());
  CHECK_FALSE(child.wait_exit(20ms));
  auto start = std::chrono::steady_clock::now();
  CHECK(child.stop(3000ms) == 128 + SIGTERM);
  CHECK(std::chrono::steady_clock::now() - start < 2000ms);
  std::filesystem::remove_all(dir);
}

TEST_CASE("child process stop kills a child that ignores SIGTERM after the grace period") {
  auto dir = temp_dir("kill");
  // An ignored signal stays ignored across exec: this sleep cannot be terminated, only killed.
  ChildProcess child({"/bin/sh", "-c", "trap '' TERM; exec sleep 30"}, dir / "log");
  // Wait until the shell has exec'd sleep (its command line changes), so the trap is in place.
  std::string cmdline_path = "/proc/" + std::to_string(child.pid()) + "/cmdline";
  CHECK(poll_until(
      [&] {
        std::ifstream in(cmdline_path);
        std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        return s.rfind("sleep", 0) == 0;
      },
      3000ms));
  CHECK(child.stop(100ms) == 128 + SIGKILL);
  std::filesystem::remove_all(dir);
}

TEST_CASE("child process refuses a program that does not exist") {
  auto dir = temp_dir("missing");
  CHECK_THROWS_AS(ChildProcess({"/nonexistent/scws-no-such-program"}, dir / "log"), std::system_error);
  std::filesystem::remove_all(dir);
}

TEST_CASE("vpcd reader file names the driver, the listening port and the channel in hex") {
  auto dir = temp_dir("conf");
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
