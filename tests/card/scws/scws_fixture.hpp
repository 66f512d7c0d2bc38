// A powered SCWS applet without a full card: RAM NVM image with a content index, users and a few
// resources, a RAM arena, and the CardContext the card OS would give the applet. Tests drive it
// through its StreamEndpoint face, as the toolkit does.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/crc32.hpp"
#include "card/os/card_context.hpp"
#include "card/cat/toolkit.hpp"
#include "card/scws/scws_applet.hpp"
#include "card/os/uicc_files.hpp"
#include "card/scws/web_content.hpp"
#include "card/scws/web_users.hpp"
#include "tests/card/scws/test_users.hpp"

namespace scws::card::test {

inline Bytes text_bytes(std::string_view s) { return Bytes(reinterpret_cast<const u8*>(s.data()), s.size()); }

struct ScwsFixture {
  static constexpr u32 kImage = 4 * 1024 * 1024;
  static constexpr u32 kCapacity = 64 * 1024;
  static constexpr std::size_t kRam = 16 * 1024;

  std::vector<u8> image = std::vector<u8>(kImage, 0);
  RamNvmDevice device{image};
  Nvm nvm{device};
  ObjectStore objects{nvm};
  alignas(16) u8 ram[kRam] = {};
  Arena arena{MutableBytes(ram, kRam)};
  TransientMemory transient{arena};
  Tracer tracer;
  SecurityEvents events;
  CardTime time;
  CardContext ctx{nvm, objects, arena, transient, tracer, events, time};
  ScwsApplet applet;
  CatToolkit toolkit;  // not powered: its deadline service only records what the applet starts
  std::size_t idle = 0;

  explicit ScwsFixture(bool with_content = true, bool with_toolkit = false) {
    if (with_toolkit) applet.set_toolkit(toolkit);
    REQUIRE(nvm.format(kCapacity).ok());
    REQUIRE(nvm.begin().ok());
    REQUIRE(objects.format().ok());
    REQUIRE(UiccFiles::format(objects, Bytes(UiccFiles::kDefaultIccid)).ok());
    REQUIRE(nvm.commit().ok());
    if (with_content) {
      REQUIRE(nvm.begin().ok());
      REQUIRE(applet.install(ctx).ok());
      REQUIRE(nvm.commit().ok());
      put("/index.html", "text/html", "<html>home</html>");
      put("/a.txt", "text/plain", "hello");
      put("/secure/page.html", "text/html", "secret page");
      put("/docs/index.html", "text/html", "docs home");
      REQUIRE(web_user_put(objects, "alice", test_hash("wonderland")).ok());
      REQUIRE(web_user_put(objects, "bob", test_hash("builder")).ok());
      const std::string_view users[] = {"alice"};
      REQUIRE(web_protection_put(objects, "/secure", "Secure Area", users).ok());
    }
    REQUIRE(applet.on_power_up(ctx).ok());
    idle = arena.in_use();
  }

  void put(std::string_view path, std::string_view type, std::string_view body) {
    auto r = web_content_put(objects, path, type, text_bytes(body));
    REQUIRE_MESSAGE(r.ok(), describe(r.error()));
  }
};

// One client connection driven like the toolkit: requests in any split, responses pulled in pieces
// of at most `piece` bytes (SEND DATA carries at most 240).
struct Client {
  ScwsApplet& applet;
  std::size_t id;
  std::size_t piece = 240;
  std::string received;
  std::string pending;  // bytes offered but not yet consumed

  Client(ScwsApplet& a, std::size_t connection) : applet(a), id(connection) { REQUIRE(applet.open(id)); }

  // Offers bytes in chunks of `chunk`, pulling output in between as the toolkit does.
  void send_request(std::string_view bytes, std::size_t chunk = 237) {
    pending.append(bytes);
    std::size_t guard = 0;
    while (!pending.empty() && ++guard < 1000000) {
      const std::size_t n = std::min(chunk, pending.size());
      const std::size_t used = applet.receive(id, text_bytes(std::string_view(pending).substr(0, n)));
      pending.erase(0, used);
      if (pull() == 0 && used == 0) {
        if (applet.wants_close(id)) break;
      }
    }
  }
  // Pulls output until there is none; returns the bytes pulled.
  std::size_t pull() {
    std::size_t total = 0;
    u8 out[240];
    for (;;) {
      const std::size_t n = applet.send(id, MutableBytes(out, std::min<std::size_t>(piece, sizeof out)));
      if (n == 0) break;
      received.append(reinterpret_cast<const char*>(out), n);
      total += n;
      // The toolkit offers kept bytes again after output.
      if (!pending.empty()) {
        const std::size_t used = applet.receive(id, text_bytes(std::string_view(pending).substr(0, std::min<std::size_t>(237, pending.size()))));
        pending.erase(0, used);
      }
    }
    return total;
  }
  void close() { applet.close(id); }
};

// A parsed response (the first one in `text` starting at `at`); advances `at` past it.
struct Response {
  int status = 0;
  std::string head;
  std::string body;
  [[nodiscard]] std::string header(std::string_view name) const {
    std::string lower_head;
    for (char c : head) lower_head.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    std::string key = "\r\n";
    for (char c : name) key.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    key += ": ";
    const auto p = lower_head.find(key);
    if (p == std::string::npos) return "";
    const auto e = head.find("\r\n", p + key.size());
    return head.substr(p + key.size(), e - p - key.size());
  }
};

inline Response parse_response(const std::string& text, std::size_t& at, bool head_request = false) {
  Response r;
  const auto end = text.find("\r\n\r\n", at);
  REQUIRE(end != std::string::npos);
  r.head = text.substr(at, end + 2 - at);
  REQUIRE(r.head.rfind("HTTP/1.1 ", 0) == 0);
  r.status = std::stoi(r.head.substr(9, 3));
  at = end + 4;
  const std::string length = r.header("content-length");
  if (!head_request && !length.empty()) {
    const std::size_t n = std::stoul(length);
    REQUIRE(at + n <= text.size());
    r.body = text.substr(at, n);
    at += n;
  } else if (!head_request && r.header("transfer-encoding") == "chunked") {
    for (;;) {
      const auto line_end = text.find("\r\n", at);
      REQUIRE(line_end != std::string::npos);
      const std::size_t n = std::stoul(text.substr(at, line_end - at), nullptr, 16);
      at = line_end + 2;
      if (n == 0) {
        at += 2;
        break;
      }
      r.body += text.substr(at, n);
      at += n + 2;
    }
  }
  return r;
}

inline Response get_one(ScwsApplet& applet, std::string_view request, std::size_t chunk = 237) {
  Client c(applet, 0);
  c.send_request(request, chunk);
  c.pull();
  std::size_t at = 0;
  Response r = parse_response(c.received, at, request.rfind("HEAD", 0) == 0);
  c.close();
  return r;
}

}  // namespace scws::card::test
