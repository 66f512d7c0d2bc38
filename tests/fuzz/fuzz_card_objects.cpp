// Fuzz target: arbitrary bytes as one of the objects the card parses from its NVM when it powers up
// or serves a request: the SCWS settings (card/scws/scws_settings.hpp), the PSK table
// (tls/credentials.hpp, read at each PSK handshake), the web content index (card/scws/web_content.hpp)
// and the web users and protection sets (card/scws/web_users.hpp). An image comes from outside the card
// (`scws provision`, a file on disk, remote administration), so none of them may be trusted.
//
// Input: one selector byte (low 2 bits: settings, PSK table, web index, web users), then the object.
// Checked: every reader answers without crashing or reading out of bounds; settings that parse pass
// scws_settings_valid; a found PSK is 1..32 bytes and any failure leaves the key output zeroed.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string_view>
#include <vector>

#include "card/os/nvm.hpp"
#include "card/os/nvm_device.hpp"
#include "card/scws/scws_settings.hpp"
#include "card/scws/web_content.hpp"
#include "card/scws/web_users.hpp"
#include "tls/credentials.hpp"

using namespace scws;
using namespace scws::card;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

void read_settings(ObjectStore& store) {
  auto s = scws_settings_get(store);
  if (s.ok()) check(scws_settings_valid(*s));
}

void read_psk(ObjectStore& store) {
  for (std::string_view id : {"psk-app-1", "a", ""}) {
    u8 key[tls::kMaxPskKey];
    const Bytes identity(reinterpret_cast<const u8*>(id.data()), id.size());
    auto found = tls::find_psk(store, identity, MutableBytes(key, sizeof key));
    if (found.ok()) {
      check(*found >= 1 && *found <= tls::kMaxPskKey);
    } else {
      for (u8 b : key) check(b == 0);
    }
  }
}

void read_content(ObjectStore& store) {
  (void)web_content_count(store);
  for (std::string_view path : {"/", "/index.html", "/secure/index.html", "/a"}) {
    auto r = web_content_find(store, path);
    if (!r.ok()) continue;
    u8 buf[256];
    for (u32 offset = 0; offset < 4096; offset += sizeof buf) {
      auto n = web_content_read(store, *r, offset, MutableBytes(buf, sizeof buf));
      if (!n.ok() || *n == 0) break;
      check(*n <= sizeof buf);
    }
  }
}

void read_users(ObjectStore& store) {
  for (std::string_view path : {"/", "/secure/", "/secure/index.html"}) {
    auto p = web_protection_for(store, path);
    if (!p.ok() || !p->has_value()) continue;
    check((*p)->realm_length <= WebUsersLimits::kMaxRealm);
    char challenge[kMaxChallenge];
    (void)basic_challenge(**p, challenge);
    for (std::optional<std::string_view> auth :
         {std::optional<std::string_view>{}, std::optional<std::string_view>{"Basic YWxpY2U6c2VjcmV0"},
          std::optional<std::string_view>{"Basic !!"}, std::optional<std::string_view>{"basic   Og=="}})
      (void)web_users_check(store, **p, auth);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1 || size > 64 * 1024) return 0;
  const u8 which = data[0] & 3;
  const Bytes object(data + 1, size - 1);
  static constexpr u32 kIds[] = {kScwsSettingsObject, tls::kPskTableId, kWebIndexObject, kWebUsersObject};
  std::vector<u8> image(256 * 1024);
  RamNvmDevice device{MutableBytes(image.data(), image.size())};
  Nvm nvm{device};
  ObjectStore store{nvm};
  check(nvm.format(16 * 1024).ok() && nvm.begin().ok() && store.format().ok());
  if (!object.empty()) {
    check(store.create(kIds[which], static_cast<u32>(object.size())).ok());
    check(store.write(kIds[which], 0, object).ok());
  }
  check(nvm.commit().ok());
  switch (which) {
    case 0: read_settings(store); break;
    case 1: read_psk(store); break;
    case 2: read_content(store); break;
    default: read_users(store); break;
  }
  return 0;
}
