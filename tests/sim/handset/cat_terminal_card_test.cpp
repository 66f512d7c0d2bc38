// The CAT terminal against the real card OS and CAT toolkit (card::Card + card::CatToolkit) through
// DirectTransport, with fake peers and a clock the test moves: the whole BIP relay in UICC server mode
// (TS 102 223 6.4.27-6.4.31, 7.5.10, 7.5.11) deterministically, without sockets. The byte-stream
// layer on the card is a small test endpoint (canned HTTP response or echo).
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "apdu/terminal_profile.hpp"
#include "base/hex_text.hpp"
#include "card/cat/timers.hpp"
#include "card/cat/toolkit.hpp"
#include "card/os/card.hpp"
#include "card/os/nvm_device.hpp"
#include "scws_config.hpp"
#include "sim/handset/cat_terminal.hpp"
#include "sim/host/card_transport.hpp"
#include "tests/sim/handset/terminal_rig.hpp"
#include "tests/sim/handset/test_endpoint.hpp"

namespace scws::sim {
namespace {

using namespace std::chrono_literals;
using test::as_bytes;
using test::FakePeer;
using test::http_response;
using test::kGet;

struct CardRig {
  static constexpr std::size_t kImage = 256 * 1024;
  struct alignas(16) Ram {
    u8 bytes[SCWS_RAM_SIZE];
  };

  explicit CardRig(u8 channels = 7, u16 buffer = 1400) {
    REQUIRE(card::Card::format_image(nvm, card::CardIdentity{}).ok());
    card.emplace(nvm, MutableBytes(ram->bytes, sizeof ram->bytes));
    REQUIRE(card->set_toolkit(toolkit));
    REQUIRE(toolkit.add_server_port(3516, buffer, endpoint, channels).ok());
    transport.emplace(*card);
    t.emplace(*transport);
  }

  // Starts the terminal; the card opens its channels in the first proactive session, at once.
  void start(std::size_t channels = 7) {
    t->terminal->start();
    t->settle();
    REQUIRE(listening() == channels);
  }
  [[nodiscard]] std::size_t listening() const {
    std::size_t n = 0;
    for (const auto& c : t->terminal->channels())
      if (c.state == apdu::cat::ServerState::kListen) ++n;
    return n;
  }
  // Runs terminal and peers until pred holds or nothing is due (no time passes).
  void run_while_not(const std::function<bool()>& pred) {
    for (int i = 0; i < 1000000 && !pred(); ++i) {
      if (t->due()) {
        t->terminal->run_due();
      } else if (!t->connector.pump()) {
        return;
      }
    }
  }
  CatTerminal& terminal() { return *t->terminal; }

  std::vector<u8> image = std::vector<u8>(kImage);
  card::RamNvmDevice nvm{MutableBytes(image)};
  std::unique_ptr<Ram> ram = std::make_unique<Ram>();
  std::optional<card::Card> card;
  card::CatToolkit toolkit;
  test::TestEndpoint endpoint;
  std::optional<DirectTransport> transport;
  std::optional<test::TerminalRig> t;
};

TEST_CASE("the card gets the terminal profile it needs and opens its channels in the first session") {
  CardRig rig;
  rig.start(7);
  u8 expected[apdu::cat::kTerminalProfileMaxSize];
  auto n = apdu::cat::build_terminal_profile(cat_terminal_profile(), MutableBytes(expected));
  REQUIRE(n.ok());
  CHECK(hex_text(rig.toolkit.terminal_profile_bytes()) == hex_text(Bytes(expected, *n)));
  CHECK(rig.toolkit.session() == card::SessionState::kReady);
  CHECK(rig.terminal().events() ==
        std::vector<apdu::cat::Event>{apdu::cat::Event::kDataAvailable, apdu::cat::Event::kChannelStatus});
  CHECK(rig.t->connector.listening.count(3516) == 1);
}

TEST_CASE("terminal and card serve an HTTP request in 6 + 2 x ceil(n / 240) APDUs") {
  CardRig rig;
  const std::string response = http_response(1000);
  rig.endpoint.response = as_bytes(response);
  rig.start();
  const u64 before = rig.terminal().stats().apdus;
  auto c = rig.t->connector.connect(3516);
  c->say(kGet);
  rig.t->settle();
  CHECK(c->text() == response);
  CHECK(c->eof);  // the card closed it (CLOSE CHANNEL 01), in order
  CHECK(rig.endpoint.opened == 1);
  CHECK(rig.endpoint.closed == 1);
  // Channel status, Data available, RECEIVE DATA and CLOSE CHANNEL (FETCH + TR each), one FETCH + TR
  // per SEND DATA of at most 240 bytes.
  const u64 sends = (response.size() + 239) / 240;
  CHECK(rig.terminal().stats().apdus - before == 6 + 2 * sends);
  CHECK(rig.listening() == 7);
}

TEST_CASE("terminal and card stream a 256 KiB response intact") {
  CardRig rig(1);
  const std::string response = http_response(256 * 1024);
  rig.endpoint.response = as_bytes(response);
  rig.start(1);
  auto c = rig.t->connector.connect(3516);
  c->say(kGet);
  rig.t->settle();
  REQUIRE(c->inbox.size() == response.size());
  CHECK(c->text() == response);
  CHECK(c->eof);
}

TEST_CASE("terminal and card echo a 64 KiB upload intact through a 512-byte channel buffer") {
  CardRig rig(1, 512);
  rig.endpoint.echo = true;
  rig.start(1);
  std::vector<u8> upload(64 * 1024);
  for (std::size_t i = 0; i < upload.size(); ++i) upload[i] = static_cast<u8>(i ^ (i >> 8));
  auto c = rig.t->connector.connect(3516);
  c->say(Bytes(upload));
  std::size_t most = 0;
  rig.run_while_not([&] {
    for (const auto& ch : rig.terminal().channels()) most = std::max(most, ch.rx_bytes);
    return c->inbox.size() >= upload.size();
  });
  CHECK(c->inbox == upload);
  CHECK(most <= 512);
}

TEST_CASE("terminal and card serve 7 clients at once and an 8th when a channel frees") {
  CardRig rig;
  const std::string response = http_response(3000);
  rig.endpoint.response = as_bytes(response);
  rig.start(7);
  std::vector<std::shared_ptr<FakePeer>> clients;
  for (int i = 0; i < 8; ++i) clients.push_back(rig.t->connector.connect(3516));
  rig.t->settle();
  CHECK(rig.terminal().stats().clients_accepted == 7);
  CHECK(rig.t->connector.backlog(3516) == 1);  // waits: no channel is in LISTEN
  for (auto& c : clients) c->say(kGet);
  rig.t->settle();
  for (auto& c : clients) {
    CHECK(c->eof);
    CHECK(c->text() == response);
  }
  CHECK(rig.terminal().stats().clients_accepted == 8);
}

TEST_CASE("terminal recovers from a card reset during traffic and serves again") {
  CardRig rig;
  const std::string response = http_response(50000);
  rig.endpoint.response = as_bytes(response);
  rig.start(7);
  auto c = rig.t->connector.connect(3516);
  c->say(kGet);
  rig.run_while_not([&] { return c->inbox.size() > 1000; });
  REQUIRE(c->inbox.size() > 1000);
  rig.transport->simulate_reset();
  rig.t->settle();
  CHECK(c->reset);
  CHECK(c->inbox.size() < response.size());
  CHECK(rig.terminal().stats().cards_lost == 1);
  CHECK(rig.terminal().channels().empty());
  rig.t->advance();  // 50 ms later: the card is there again
  CHECK(rig.terminal().stats().sessions == 2);
  CHECK(rig.listening() == 7);
  auto again = rig.t->connector.connect(3516);
  again->say(kGet);
  rig.t->settle();
  CHECK(again->text() == response);
}

TEST_CASE("terminal waits while the card is out of the reader and starts over when it is back") {
  CardRig rig;
  rig.endpoint.response = as_bytes(http_response(10));
  rig.start(7);
  rig.transport->simulate_removal();
  const auto removed = rig.t->clock.now();
  rig.t->advance();  // the STATUS poll finds the card gone
  CHECK(rig.t->clock.now() - removed == 1000ms);
  CHECK(rig.terminal().stats().cards_lost == 1);
  CHECK(rig.terminal().channels().empty());
  for (int i = 0; i < 5; ++i) rig.t->advance();  // connect attempts fail meanwhile
  CHECK_FALSE(rig.terminal().card_session_active());
  rig.transport->reinsert();
  rig.t->advance();
  CHECK(rig.listening() == 7);
}

struct Alarm final : card::TimerListener {
  void timer_expired(u8 timer_id) noexcept override { fired.push_back(timer_id); }
  std::vector<u8> fired;
};

TEST_CASE("a card timer runs on the terminal's clock: TIMER MANAGEMENT, then Timer expiration on time") {
  CardRig rig;
  rig.start(7);
  Alarm alarm;
  REQUIRE(rig.toolkit.start_timer(2, 30, alarm).ok());
  rig.toolkit.wake();
  const auto asked = rig.t->clock.now();
  rig.t->advance();  // the next STATUS poll carries the TIMER MANAGEMENT
  CHECK(rig.t->clock.now() - asked == 1000ms);
  CHECK(rig.toolkit.timer_state(2) == card::TimerState::kRunning);
  rig.t->advance_until([&] { return !alarm.fired.empty(); }, 1h, "the expiration");
  CHECK(rig.t->clock.now() - asked == 31s);
  CHECK(alarm.fired == std::vector<u8>{2});
}

}  // namespace
}  // namespace scws::sim
