// Arbitrary bytes as one client connection's input to the SCWS applet's HTTP server, over a small
// RAM NVM image with a few resources, users and a protection set. The input is split at points
// derived from the data (the first byte picks the chunk sizes and the output piece size), output is
// pulled between chunks as the toolkit does. Invariants: no crash, the arena returns to idle after
// close, output never exceeds the piece asked for.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "card/os/card_context.hpp"
#include "card/scws/scws_applet.hpp"
#include "card/os/uicc_files.hpp"
#include "card/scws/web_content.hpp"
#include "card/scws/web_users.hpp"

using namespace scws;
using namespace scws::card;

namespace {

struct World {
  std::vector<u8> image = std::vector<u8>(512 * 1024, 0);
  RamNvmDevice device{image};
  Nvm nvm{device};
  ObjectStore objects{nvm};
  alignas(16) u8 ram[16 * 1024] = {};
  Arena arena{MutableBytes(ram, sizeof ram)};
  TransientMemory transient{arena};
  Tracer tracer;
  SecurityEvents events;
  CardTime time;
  CardContext ctx{nvm, objects, arena, transient, tracer, events, time};
  ScwsApplet applet;
  std::size_t idle = 0;

  World() {
    auto text = [](std::string_view s) { return Bytes(reinterpret_cast<const u8*>(s.data()), s.size()); };
    if (!nvm.format(8192) || !nvm.begin() || !objects.format() || !UiccFiles::format(objects, Bytes(UiccFiles::kDefaultIccid)) || !nvm.commit())
      __builtin_trap();
    if (!nvm.begin() || !applet.install(ctx) || !nvm.commit()) __builtin_trap();
    const u8 salt[PasswordHash::kSaltSize] = {};
    PasswordHash hash;
    if (!make_password_hash("p", Bytes(salt, sizeof salt), 1, hash)) __builtin_trap();
    std::vector<u8> big(20000);
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<u8>(i);
    if (!web_content_put(objects, "/index.html", "text/html", text("<html>hi</html>")) ||
        !web_content_put(objects, "/big.bin", "application/octet-stream", big) ||
        !web_content_put(objects, "/s/p.html", "text/html", text("secret")) || !web_user_put(objects, "u", hash))
      __builtin_trap();
    const std::string_view users[] = {"u"};
    if (!web_protection_put(objects, "/s", "R", users)) __builtin_trap();
    if (!applet.on_power_up(ctx)) __builtin_trap();
    idle = arena.in_use();
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static World* world = new World();
  World& w = *world;
  if (size == 0) return 0;
  const u8 control = data[0];
  const std::size_t chunk = 1 + (control & 0x0F) * 16;          // 1..241
  const std::size_t piece = 16 + ((control >> 4) & 0x0F) * 14;  // 16..226
  Bytes input(data + 1, size - 1);
  if (!w.applet.open(0)) __builtin_trap();
  u8 out[240];
  std::size_t at = 0;
  std::size_t budget = 100000;  // output pieces: a 20 KB resource per pipelined request at most
  while (budget-- > 0) {
    bool progressed = false;
    if (at < input.size() && !w.applet.wants_close(0)) {
      const std::size_t n = input.size() - at < chunk ? input.size() - at : chunk;
      const std::size_t used = w.applet.receive(0, input.subspan(at, n));
      if (used > n) __builtin_trap();
      at += used;
      progressed = used != 0;
    }
    const std::size_t sent = w.applet.send(0, MutableBytes(out, piece));
    if (sent > piece) __builtin_trap();
    if (sent == 0 && !progressed) break;
  }
  w.applet.close(0);
  if (w.arena.in_use() != w.idle) __builtin_trap();
  return 0;
}
