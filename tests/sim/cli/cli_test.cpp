// The `scws` command line as users and the end-to-end tests see it (docs/architecture.md, "The command line"): the
// executable (SCWS_EXE, set by meson) runs as a child process; every wait is bounded polling.
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "card/os/nvm_device.hpp"
#include "scws_config.hpp"
#include "sim/testing/pcscd_harness.hpp"

using namespace scws;
using namespace scws::sim;
using namespace std::chrono_literals;

namespace {

std::string scws_exe() {
  const char* p = std::getenv("SCWS_EXE");
  REQUIRE_MESSAGE(p != nullptr, "SCWS_EXE must name the scws executable");
  return p;
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char tmpl[] = "/tmp/scws-cli-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

struct Run {
  int code;
  std::string output;
};

Run run(const TempDir& dir, std::vector<std::string> args, std::chrono::milliseconds bound = 20000ms) {
  args.insert(args.begin(), scws_exe());
  static int n = 0;
  ChildProcess child(args, dir.path / ("run" + std::to_string(n++) + ".log"));
  auto code = child.wait_exit(bound);
  CHECK_MESSAGE(code.has_value(), "scws did not exit in time");
  int c = code ? *code : child.stop();
  return {c, child.log_text()};
}

bool contains(const std::string& text, const std::string& needle) { return text.find(needle) != std::string::npos; }

}  // namespace

TEST_CASE("scws --version prints the version and exits 0") {
  TempDir dir;
  auto r = run(dir, {"--version"});
  CHECK(r.code == 0);
  CHECK(r.output == std::string("scws ") + SCWS_VERSION + "\n");
}

TEST_CASE("every scws subcommand has --help") {
  TempDir dir;
  for (auto args : std::vector<std::vector<std::string>>{
           {"--help"}, {"card", "--help"}, {"apdu", "--help"}, {"bench", "--help"}, {"bench", "apdu", "--help"},
           {"admin", "--help"}, {"admin", "serve", "--help"}, {"admin", "push", "--help"}, {"admin", "reports", "--help"}}) {
    CAPTURE(args.front());
    auto r = run(dir, args);
    CHECK(r.code == 0);
    CHECK(contains(r.output, "Usage: "));
  }
}

TEST_CASE("scws without a subcommand or with an unknown option fails with a usage message") {
  TempDir dir;
  auto none = run(dir, {});
  CHECK(none.code != 0);
  CHECK(contains(none.output, "subcommand is required"));
  auto unknown = run(dir, {"card", "--image", "x.img", "--no-such-option"});
  CHECK(unknown.code != 0);
  auto missing = run(dir, {"card"});
  CHECK(missing.code != 0);
  CHECK(contains(missing.output, "--image is required"));
}

TEST_CASE("scws apdu refuses text that is not hex before touching PC/SC") {
  TempDir dir;
  auto r = run(dir, {"apdu", "--reader", "x", "80 F2 00 0C", "80 F2 0"});
  CHECK(r.code == 2);
  CHECK(contains(r.output, "not an APDU in hex: '80 F2 0'"));
}

TEST_CASE("scws card creates a missing image, says so, and exits 0 on SIGTERM while vpcd is away") {
  TempDir dir;
  auto image = dir.path / "card.img";
  // Port 1 on loopback: nobody listens, so the card keeps retrying with backoff.
  ChildProcess card({scws_exe(), "card", "--image", image.string(), "--vpcd", "127.0.0.1:1"}, dir.path / "card.log");
  REQUIRE(poll_until([&] { return contains(card.log_text(), "not reachable") || !card.alive(); }, 10000ms));
  auto log = card.log_text();
  CHECK(contains(log, "did not exist: created a new card image of " + std::to_string(SCWS_NVM_SIZE) + " bytes"));
  CHECK(std::filesystem::file_size(image) == SCWS_NVM_SIZE);
  card.signal(SIGTERM);
  auto code = card.wait_exit(3000ms);
  REQUIRE(code);
  CHECK(*code == 0);

  // The second start opens the same image without creating it again.
  ChildProcess again({scws_exe(), "card", "--image", image.string(), "--vpcd", "127.0.0.1:1"}, dir.path / "again.log");
  REQUIRE(poll_until([&] { return contains(again.log_text(), "not reachable") || !again.alive(); }, 10000ms));
  CHECK_FALSE(contains(again.log_text(), "created"));
  again.signal(SIGINT);
  code = again.wait_exit(3000ms);
  REQUIRE(code);
  CHECK(*code == 0);
}

TEST_CASE("scws card refuses a damaged image with a message naming the problem") {
  TempDir dir;
  auto image = dir.path / "card.img";
  {
    ChildProcess card({scws_exe(), "card", "--image", image.string(), "--vpcd", "127.0.0.1:1"}, dir.path / "c.log");
    REQUIRE(poll_until([&] { return contains(card.log_text(), "not reachable") || !card.alive(); }, 10000ms));
    CHECK(card.stop() == 0);
  }
  {
    std::fstream f(image, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(0);
    f.put('X');  // the magic "SCWSNVM1" becomes "XCWSNVM1"
  }
  auto r = run(dir, {"card", "--image", image.string(), "--vpcd", "127.0.0.1:1"});
  CHECK(r.code == 1);
  CHECK(contains(r.output, "refusing image " + image.string()));
  CHECK(contains(r.output, card::describe(card::NvmError::kBadMagic)));

  std::ofstream(dir.path / "empty.img").close();
  auto empty = run(dir, {"card", "--image", (dir.path / "empty.img").string(), "--vpcd", "127.0.0.1:1"});
  CHECK(empty.code == 1);
  CHECK(contains(empty.output, "refusing image"));
}

TEST_CASE("scws run and scws card refuse a damaged or missing image in the same words") {
  TempDir dir;
  const auto image = dir.path / "card.img";
  std::ofstream(image) << "XCWSNVM1 and nothing a card could mount";
  const std::string damaged = "refusing image " + image.string() + ": ";
  auto card = run(dir, {"card", "--image", image.string(), "--vpcd", "127.0.0.1:1"});
  auto served = run(dir, {"run", "--image", image.string(), "--http-port", "0", "--tls-port", "0"});
  CHECK(card.code == 1);
  CHECK(served.code == 1);
  CHECK(contains(card.output, "scws card: " + damaged));
  CHECK(contains(served.output, "scws run: " + damaged));
  // The same reason after the same prefix.
  const auto reason = [&](const std::string& out) {
    const auto at = out.find(damaged);
    return at == std::string::npos ? std::string() : out.substr(at + damaged.size(), out.find('\n', at) - at - damaged.size());
  };
  CHECK_FALSE(reason(card.output).empty());
  CHECK(reason(card.output) == reason(served.output));

  auto missing = run(dir, {"run", "--image", (dir.path / "none.img").string()});
  CHECK(missing.code == 1);
  CHECK(contains(missing.output, "refusing image " + (dir.path / "none.img").string() + ": it does not exist"));
}

TEST_CASE("scws bench apdu measures our card against the reference card on a private pcscd") {
  if (::geteuid() != 0) {
    MESSAGE("not root: no private mount namespace for pcscd; benchmark check skipped");
    return;
  }
  TempDir dir;
  auto r = run(dir, {"bench", "apdu", "--apdus", "200", "--json"}, 60000ms);
  CHECK(r.code == 0);
  CHECK(contains(r.output, "{\"benchmark\": \"apdu\""));
  CHECK(contains(r.output, "\"failures\": 0"));
  CHECK(contains(r.output, "\"ratio\": "));
  MESSAGE(r.output);
}
