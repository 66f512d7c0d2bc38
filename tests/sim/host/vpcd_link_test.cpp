// The card side of the vpcd socket against a fake vpcd on a loopback TCP socket in the test thread.
// Every wait is bounded polling on a condition (a socket becoming readable, a counter moving).
#include "sim/host/vpcd_link.hpp"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "sim/testing/pcscd_harness.hpp"

using namespace scws;
using namespace scws::sim;
using namespace std::chrono_literals;

namespace {

// A card that records what the link asked of it. Its responses echo the command, then 90 00; an
// APDU shorter than a header gets 67 00 (wrong length), as the real card answers.
class FakeCard final : public VpcdCard {
 public:
  bool power_on(std::string& error) override {
    std::lock_guard l(mutex_);
    ++power_ons_;
    if (fail_power_on_) {
      error = "damaged image";
      return false;
    }
    powered_ = true;
    return true;
  }
  void power_off() override {
    std::lock_guard l(mutex_);
    ++power_offs_;
    powered_ = false;
  }
  bool reset(std::string&) override {
    std::lock_guard l(mutex_);
    ++resets_;
    powered_ = true;
    return true;
  }
  [[nodiscard]] bool powered() const override {
    std::lock_guard l(mutex_);
    return powered_;
  }
  [[nodiscard]] Bytes atr() const override { return atr_; }
  std::size_t process(Bytes command, MutableBytes response) override {
    std::lock_guard l(mutex_);
    commands_.emplace_back(command.begin(), command.end());
    if (command.size() < 4) {
      response[0] = 0x67;
      response[1] = 0x00;
      return 2;
    }
    std::copy(command.begin(), command.end(), response.begin());
    response[command.size()] = 0x90;
    response[command.size() + 1] = 0x00;
    return command.size() + 2;
  }

  int power_ons() const { std::lock_guard l(mutex_); return power_ons_; }
  int power_offs() const { std::lock_guard l(mutex_); return power_offs_; }
  int resets() const { std::lock_guard l(mutex_); return resets_; }
  std::size_t commands() const { std::lock_guard l(mutex_); return commands_.size(); }

  std::vector<u8> atr_ = {0x3B, 0x9F, 0x96, 0x80, 0x1F, 0xC7, 0x80, 0x31, 0xE0, 0x73, 0xFE, 0x21,
                          0x1B, 0x63, 0xE2, 0x03, 0x94, 0x83, 0x0F, 0x90, 0x00, 0xBD};  // a real UICC's ATR
  bool fail_power_on_ = false;

 private:
  mutable std::mutex mutex_;
  bool powered_ = false;
  int power_ons_ = 0;
  int power_offs_ = 0;
  int resets_ = 0;
  std::vector<std::vector<u8>> commands_;
};

class RecordingTrace final : public ApduTraceSink {
 public:
  void exchange(Bytes command, Bytes response) override {
    std::lock_guard l(mutex_);
    exchanges.push_back({{command.begin(), command.end()}, {response.begin(), response.end()}});
  }
  std::size_t size() { std::lock_guard l(mutex_); return exchanges.size(); }
  std::mutex mutex_;
  std::vector<std::pair<std::vector<u8>, std::vector<u8>>> exchanges;
};

// The vpcd side: listens on 127.0.0.1, accepts the card, sends frames, reads replies.
class FakeVpcd {
 public:
  explicit FakeVpcd(u16 port = 0) {
    listen_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(listen_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listen_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_, 4) != 0)
      throw std::runtime_error("fake vpcd cannot listen");
    socklen_t len = sizeof addr;
    ::getsockname(listen_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~FakeVpcd() {
    drop();
    ::close(listen_);
  }
  [[nodiscard]] u16 port() const { return port_; }

  bool accept_within(std::chrono::milliseconds timeout) {
    pollfd p{listen_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return false;
    conn_ = ::accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC);
    int one = 1;
    ::setsockopt(conn_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return conn_ >= 0;
  }
  void drop() {
    if (conn_ >= 0) ::close(conn_);
    conn_ = -1;
  }
  void send_raw(const std::vector<u8>& bytes) {
    REQUIRE(::send(conn_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size()));
  }
  void send_frame(const std::vector<u8>& payload) {
    std::vector<u8> frame = {static_cast<u8>(payload.size() >> 8), static_cast<u8>(payload.size())};
    frame.insert(frame.end(), payload.begin(), payload.end());
    send_raw(frame);
  }
  // vpcd.c writes the length and the payload separately: do the same.
  void send_frame_in_two_writes(const std::vector<u8>& payload) {
    send_raw({static_cast<u8>(payload.size() >> 8), static_cast<u8>(payload.size())});
    send_raw(payload);
  }
  std::optional<std::vector<u8>> read_frame(std::chrono::milliseconds timeout = 3000ms) {
    std::vector<u8> header(2);
    if (!read_exact(header, timeout)) return std::nullopt;
    std::vector<u8> payload(static_cast<std::size_t>((header[0] << 8) | header[1]));
    if (!read_exact(payload, timeout)) return std::nullopt;
    return payload;
  }
  // True when the card closed the connection within the bound (and sent nothing before).
  bool closed_by_peer_within(std::chrono::milliseconds timeout) {
    pollfd p{conn_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return false;
    u8 byte;
    return ::recv(conn_, &byte, 1, 0) == 0;
  }
  // Nothing arrives within the bound (to show that no reply was sent).
  bool silent_for(std::chrono::milliseconds span) {
    pollfd p{conn_, POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(span.count())) == 0;
  }

 private:
  bool read_exact(std::vector<u8>& out, std::chrono::milliseconds timeout) {
    std::size_t got = 0;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (got < out.size()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd p{conn_, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) != 1) return false;
      ssize_t n = ::recv(conn_, out.data() + got, out.size() - got, 0);
      if (n <= 0) return false;
      got += static_cast<std::size_t>(n);
    }
    return true;
  }

  int listen_ = -1;
  int conn_ = -1;
  u16 port_ = 0;
};

// The link in its own thread, stopped and joined at the end of the scope.
class RunningLink {
 public:
  RunningLink(VpcdCard& card, u16 port, std::chrono::milliseconds backoff_max = 200ms)
      : link_(card, options(port, backoff_max), stop_) {
    link_.set_logger([this](std::string_view line) {
      std::lock_guard l(mutex_);
      lines_.emplace_back(line);
    });
    thread_ = std::thread([this] { link_.run(); });
  }
  ~RunningLink() { stop(); }
  void stop() {
    stop_.request();
    if (thread_.joinable()) thread_.join();
  }
  VpcdLink& link() { return link_; }
  bool logged(const std::string& needle) {
    std::lock_guard l(mutex_);
    for (auto& line : lines_)
      if (line.find(needle) != std::string::npos) return true;
    return false;
  }

 private:
  static VpcdLinkOptions options(u16 port, std::chrono::milliseconds backoff_max) {
    VpcdLinkOptions o;
    o.vpcd = {"127.0.0.1", port};
    o.backoff_initial = 10ms;
    o.backoff_max = backoff_max;
    return o;
  }
  StopSignal stop_;
  VpcdLink link_;
  std::thread thread_;
  std::mutex mutex_;
  std::vector<std::string> lines_;
};

const std::vector<u8> kCtrlOff = {0x00};
const std::vector<u8> kCtrlOn = {0x01};
const std::vector<u8> kCtrlReset = {0x02};
const std::vector<u8> kCtrlAtr = {0x04};
const std::vector<u8> kStatus = {0x80, 0xF2, 0x00, 0x0C};  // STATUS, no data (TS 102 221 11.1.2)

std::vector<u8> echoed(std::vector<u8> command) {
  command.push_back(0x90);
  command.push_back(0x00);
  return command;
}

}  // namespace

TEST_CASE("vpcd link answers get ATR, follows the power control bytes and returns the card's responses") {
  FakeVpcd vpcd;
  FakeCard card;
  RunningLink running(card, vpcd.port());
  REQUIRE(vpcd.accept_within(3000ms));

  vpcd.send_frame(kCtrlAtr);
  CHECK(vpcd.read_frame() == card.atr_);
  vpcd.send_frame(kCtrlOn);
  CHECK(vpcd.silent_for(50ms));  // vpcd expects no reply to 00, 01, 02 (docs/protocol.md section 10)
  CHECK(poll_until([&] { return card.powered(); }, 3000ms));
  vpcd.send_frame(kStatus);
  CHECK(vpcd.read_frame() == echoed(kStatus));
  vpcd.send_frame(kCtrlReset);
  vpcd.send_frame(kCtrlAtr);
  CHECK(vpcd.read_frame() == card.atr_);  // the next reply is the ATR: reset got none
  CHECK(card.resets() == 1);
  vpcd.send_frame(kCtrlOff);
  CHECK(poll_until([&] { return !card.powered(); }, 3000ms));
  CHECK(running.logged("power on"));
  CHECK(running.logged("reset"));
  CHECK(running.logged("power off"));
  CHECK(running.link().apdus() == 1);
}

TEST_CASE("vpcd link reads frames whose length and payload arrive in separate writes or byte by byte") {
  FakeVpcd vpcd;
  FakeCard card;
  RunningLink running(card, vpcd.port());
  REQUIRE(vpcd.accept_within(3000ms));
  vpcd.send_frame_in_two_writes(kCtrlOn);
  const std::vector<u8> select_mf = {0x00, 0xA4, 0x00, 0x04, 0x02, 0x3F, 0x00};  // TS 102 221 11.1.1
  vpcd.send_frame_in_two_writes(select_mf);
  CHECK(vpcd.read_frame() == echoed(select_mf));
  std::vector<u8> frame = {0x00, static_cast<u8>(kStatus.size())};
  frame.insert(frame.end(), kStatus.begin(), kStatus.end());
  for (u8 b : frame) vpcd.send_raw({b});
  CHECK(vpcd.read_frame() == echoed(kStatus));
}

TEST_CASE("vpcd link answers a large extended APDU in one frame") {
  FakeVpcd vpcd;
  FakeCard card;
  RunningLink running(card, vpcd.port());
  REQUIRE(vpcd.accept_within(3000ms));
  vpcd.send_frame(kCtrlOn);
  std::vector<u8> big = {0x00, 0xD6, 0x00, 0x00, 0x00, 0x80, 0x00};  // UPDATE BINARY, 32768 data bytes
  big.resize(7 + 32768, 0x5A);
  vpcd.send_frame(big);
  CHECK(vpcd.read_frame() == echoed(big));
}

TEST_CASE("vpcd link hands an APDU shorter than a header to the card, which answers 67 00") {
  FakeVpcd vpcd;
  FakeCard card;
  RunningLink running(card, vpcd.port());
  REQUIRE(vpcd.accept_within(3000ms));
  vpcd.send_frame(kCtrlOn);
  vpcd.send_frame({0x00, 0xA4});
  CHECK(vpcd.read_frame() == std::vector<u8>{0x67, 0x00});
  CHECK(running.link().connections() == 1);  // not a framing error: the link stays up
}

TEST_CASE("vpcd link closes the link on a malformed frame, powers the card off and reconnects") {
  struct Row {
    const char* what;
    std::vector<u8> bytes;
  };
  // docs/protocol.md section 10: vpcd never sends length 0, and control bytes are 00, 01, 02, 04 only.
  const Row rows[] = {{"length 0", {0x00, 0x00}}, {"control byte 03", {0x00, 0x01, 0x03}},
                      {"control byte 80", {0x00, 0x01, 0x80}}};
  for (const auto& row : rows) {
    CAPTURE(row.what);
    FakeVpcd vpcd;
    FakeCard card;
    RunningLink running(card, vpcd.port());
    REQUIRE(vpcd.accept_within(3000ms));
    vpcd.send_frame(kCtrlOn);
    vpcd.send_frame(kCtrlAtr);
    REQUIRE(vpcd.read_frame() == card.atr_);
    vpcd.send_raw(row.bytes);
    CHECK(vpcd.closed_by_peer_within(3000ms));
    CHECK(poll_until([&] { return !card.powered(); }, 3000ms));
    vpcd.drop();
    REQUIRE(vpcd.accept_within(3000ms));  // the card came back
    vpcd.send_frame(kCtrlAtr);
    CHECK(vpcd.read_frame() == card.atr_);
    CHECK(running.link().connections() == 2);
    CHECK(running.logged("malformed frame"));
  }
}

TEST_CASE("vpcd link powers the card off when vpcd drops the link and serves the next connection") {
  FakeVpcd vpcd;
  FakeCard card;
  RunningLink running(card, vpcd.port());
  REQUIRE(vpcd.accept_within(3000ms));
  vpcd.send_frame(kCtrlOn);
  vpcd.send_frame(kStatus);
  REQUIRE(vpcd.read_frame() == echoed(kStatus));
  vpcd.drop();
  CHECK(poll_until([&] { return !card.powered(); }, 3000ms));
  REQUIRE(vpcd.accept_within(3000ms));
  vpcd.send_frame(kCtrlOn);
  vpcd.send_frame(kStatus);
  CHECK(vpcd.read_frame() == echoed(kStatus));
  CHECK(card.power_ons() == 2);
  CHECK(running.logged("card removed"));
}

TEST_CASE("vpcd link keeps retrying with backoff until vpcd listens") {
  u16 port = 0;
  {
    FakeVpcd probe;  // find a free port, then leave it closed
    port = probe.port();
  }
  FakeCard card;
  RunningLink running(card, port);
  CHECK(poll_until([&] { return running.logged("not reachable"); }, 3000ms));
  FakeVpcd vpcd(port);
  REQUIRE(vpcd.accept_within(3000ms));  // backoff capped at 200 ms in this test
  vpcd.send_frame(kCtrlAtr);
  CHECK(vpcd.read_frame() == card.atr_);
  CHECK(running.logged("connected to vpcd"));
}

TEST_CASE("vpcd link default backoff runs from 50 ms to 2 s against 127.0.0.1:35963") {
  VpcdLinkOptions o;
  CHECK(o.vpcd.host == "127.0.0.1");
  CHECK(o.vpcd.port == 35963);
  CHECK(o.backoff_initial == 50ms);
  CHECK(o.backoff_max == 2000ms);
}

TEST_CASE("vpcd link stops promptly while connected and while waiting to reconnect") {
  FakeCard card;
  {
    FakeVpcd vpcd;
    RunningLink running(card, vpcd.port());
    REQUIRE(vpcd.accept_within(3000ms));
    auto start = std::chrono::steady_clock::now();
    running.stop();
    CHECK(std::chrono::steady_clock::now() - start < 1000ms);
    CHECK(vpcd.closed_by_peer_within(1000ms));
  }
  {
    u16 port = 0;
    {
      FakeVpcd probe;
      port = probe.port();
    }
    RunningLink running(card, port, 2000ms);
    CHECK(poll_until([&] { return running.logged("not reachable"); }, 3000ms));
    auto start = std::chrono::steady_clock::now();
    running.stop();
    CHECK(std::chrono::steady_clock::now() - start < 1000ms);
  }
}

TEST_CASE("vpcd link powers the card on when an APDU arrives while it is off") {
  FakeVpcd vpcd;
  FakeCard card;
  RunningLink running(card, vpcd.port());
  REQUIRE(vpcd.accept_within(3000ms));
  vpcd.send_frame(kStatus);  // no power-on first: vpcd missed our reconnect
  CHECK(vpcd.read_frame() == echoed(kStatus));
  CHECK(card.powered());
  CHECK(running.logged("APDU arrived while the card was off"));
}

TEST_CASE("vpcd link reports a failed power on and still answers") {
  FakeVpcd vpcd;
  FakeCard card;
  card.fail_power_on_ = true;
  RunningLink running(card, vpcd.port());
  REQUIRE(vpcd.accept_within(3000ms));
  vpcd.send_frame(kCtrlOn);
  vpcd.send_frame(kCtrlAtr);
  CHECK(vpcd.read_frame() == card.atr_);
  CHECK(running.logged("power on failed: damaged image"));
}

TEST_CASE("vpcd link never sends an empty ATR") {
  FakeVpcd vpcd;
  FakeCard card;
  card.atr_.clear();
  RunningLink running(card, vpcd.port());
  REQUIRE(vpcd.accept_within(3000ms));
  vpcd.send_frame(kCtrlAtr);
  auto atr = vpcd.read_frame();
  REQUIRE(atr);
  CHECK(*atr == std::vector<u8>(std::begin(kFallbackAtr), std::end(kFallbackAtr)));
}

TEST_CASE("vpcd link hands every APDU exchange to the trace") {
  FakeVpcd vpcd;
  FakeCard card;
  RecordingTrace trace;
  StopSignal stop;
  VpcdLinkOptions options;
  options.vpcd = {"127.0.0.1", vpcd.port()};
  VpcdLink link(card, options, stop);
  link.set_trace(&trace);
  std::thread t([&] { link.run(); });
  REQUIRE(vpcd.accept_within(3000ms));
  vpcd.send_frame(kCtrlOn);
  vpcd.send_frame(kCtrlAtr);
  REQUIRE(vpcd.read_frame());
  vpcd.send_frame(kStatus);
  REQUIRE(vpcd.read_frame());
  stop.request();
  t.join();
  REQUIRE(trace.size() == 1);  // APDUs only, not control bytes
  CHECK(trace.exchanges[0].first == kStatus);
  CHECK(trace.exchanges[0].second == echoed(kStatus));
}

TEST_CASE("vpcd address parsing accepts host, host:port and [v6]:port") {
  struct Row {
    const char* text;
    const char* host;
    u16 port;
  };
  const Row rows[] = {
      {"127.0.0.1:35963", "127.0.0.1", 35963}, {"localhost", "localhost", 35963},
      {"10.0.0.2:40000", "10.0.0.2", 40000},   {"[::1]:35964", "::1", 35964},
      {"[::1]", "::1", 35963},
  };
  for (const auto& row : rows) {
    CAPTURE(row.text);
    auto hp = parse_host_port(row.text);
    CHECK(hp.host == row.host);
    CHECK(hp.port == row.port);
  }
  for (const char* bad : {"", ":35963", "host:", "host:0", "host:65536", "host:12x", "::1:35963", "[::1"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(parse_host_port(bad), std::invalid_argument);
  }
}

TEST_CASE("stop signal wakes a waiter and stays requested") {
  StopSignal stop;
  CHECK_FALSE(stop.wait_for(10ms));
  std::thread t([&] { stop.request(); });
  CHECK(stop.wait_for(3000ms));
  t.join();
  CHECK(stop.requested());
  pollfd p{stop.fd(), POLLIN, 0};
  CHECK(::poll(&p, 1, 0) == 1);
}
