// Child processes of the tests and benchmarks (sim/testing/child_process.hpp): bounded polling,
// long-running children with a log stopped by pid, and short children run to their end with an
// input and their output read back.
#include "sim/testing/child_process.hpp"
#include "sim/testing/scratch_dir.hpp"

#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>


using namespace scws;
using namespace scws::sim;
using namespace std::chrono_literals;

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
  const ScratchDir scratch("scws-child-test-exit");
  const std::filesystem::path& dir = scratch.path();
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
  const ScratchDir scratch("scws-child-test-term");
  const std::filesystem::path& dir = scratch.path();
  ChildProcess child({"sleep", "30"}, dir / "log");
  CHECK(child.alive());
  CHECK_FALSE(child.wait_exit(20ms));
  auto start = std::chrono::steady_clock::now();
  CHECK(child.stop(3000ms) == 128 + SIGTERM);
  CHECK(std::chrono::steady_clock::now() - start < 2000ms);
  std::filesystem::remove_all(dir);
}

TEST_CASE("child process stop kills a child that ignores SIGTERM after the grace period") {
  const ScratchDir scratch("scws-child-test-kill");
  const std::filesystem::path& dir = scratch.path();
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
  const ScratchDir scratch("scws-child-test-missing");
  const std::filesystem::path& dir = scratch.path();
  CHECK_THROWS_AS(ChildProcess({"/nonexistent/scws-no-such-program"}, dir / "log"), std::system_error);
  std::filesystem::remove_all(dir);
}

TEST_CASE("a short child gets its input on stdin and gives back its stdout and exit code") {
  const auto r = ChildProcess::run({"/bin/sh", "-c", "tr a-z A-Z; echo err >&2; exit 4"}, std::string("hello\n"),
                                   ChildProcess::Stderr::kDiscard);
  CHECK(r.exit_code == 4);
  CHECK(r.out == "HELLO\n");
  CHECK_FALSE(r.timed_out);
}

TEST_CASE("a short child's stderr can join its stdout, and no input means end of file at once") {
  const auto r = ChildProcess::run({"/bin/sh", "-c", "cat; echo err >&2"}, std::nullopt, ChildProcess::Stderr::kWithStdout);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "err\n");
  const auto empty = ChildProcess::run({"cat"}, std::string());
  CHECK(empty.exit_code == 0);
  CHECK(empty.out.empty());
}

TEST_CASE("a short child that leaves its input unread and exits does not hurt the parent") {
  const std::string big(1 << 20, 'x');  // more than a socket buffer
  const auto r = ChildProcess::run({"/bin/sh", "-c", "echo done"}, big);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "done\n");
}

TEST_CASE("a short child is stopped when its bound passes") {
  const auto start = std::chrono::steady_clock::now();
  const auto r = ChildProcess::run({"sleep", "30"}, std::nullopt, ChildProcess::Stderr::kInherit, 100ms);
  CHECK(r.timed_out);
  CHECK(r.exit_code == 128 + SIGTERM);
  CHECK(std::chrono::steady_clock::now() - start < 5000ms);
}

TEST_CASE("find_program looks programs up in PATH") {
  const auto sh = find_program("sh");
  REQUIRE(sh);
  CHECK(sh->filename() == "sh");
  CHECK(find_program("/bin/sh") == std::filesystem::path("/bin/sh"));
  CHECK_FALSE(find_program("scws-no-such-program"));
  CHECK_FALSE(find_program("/nonexistent/scws-no-such-program"));
}
