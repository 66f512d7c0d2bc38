#include "sim/host/provision.hpp"

#include <algorithm>
#include <cstring>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <optional>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <openssl/evp.h>
#include <openssl/crypto.h>

#include "card/defence/admin_link.hpp"
#include "card/defence/incident_queue.hpp"
#include "card/os/card.hpp"
#include "card/os/nvm.hpp"
#include "card/os/nvm_device.hpp"
#include "card/scws/scws_settings.hpp"
#include "card/scws/password_hash.hpp"
#include "card/scws/web_content.hpp"
#include "card/scws/web_users.hpp"
#include "scws_config.hpp"
#include "sim/host/file_nvm_device.hpp"
#include "sim/host/host_entropy.hpp"

namespace scws::sim {
namespace {

namespace fs = std::filesystem;

std::vector<u8> read_whole(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ProvisionError(file.string() + ": cannot be read");
  std::vector<u8> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw ProvisionError(file.string() + ": read error");
  return bytes;
}

// The card keeps a salted PBKDF2-HMAC-SHA-256 hash of each password (card/scws/password_hash.hpp),
// computed here with OpenSSL and a fresh 16-byte salt from the host's entropy source. The password
// itself never reaches the image, and no message repeats it.
card::PasswordHash hash_password(const ProfileUser& u, std::uint32_t iterations) {
  static_assert(ProfileSecurity::kMaxIterations == card::PasswordHash::kMaxIterations);
  if (u.password.size() > card::WebUsersLimits::kMaxPassword) {
    throw ProvisionError("user '" + u.name + "': the password is longer than the " +
                         std::to_string(card::WebUsersLimits::kMaxPassword) + " bytes the card accepts");
  }
  card::PasswordHash h;
  h.iterations = iterations;
  if (host_entropy(nullptr, h.salt.data(), h.salt.size()) != 0) throw ProvisionError("no entropy for a password salt");
  if (PKCS5_PBKDF2_HMAC(u.password.data(), static_cast<int>(u.password.size()), h.salt.data(),
                        static_cast<int>(h.salt.size()), static_cast<int>(iterations), EVP_sha256(),
                        static_cast<int>(h.hash.size()), h.hash.data()) != 1) {
    throw ProvisionError("user '" + u.name + "': PBKDF2 failed");
  }
  return h;
}

// The SCWS settings object (card/scws/scws_settings.hpp) the profile asks for.
card::ScwsSettings settings_of(const Profile& profile) {
  card::ScwsSettings settings;
  settings.http_port = profile.http_port;
  settings.http_channels = profile.http_channels;
  settings.head_timeout = profile.head_timeout;
  settings.body_timeout = profile.body_timeout;
  settings.idle_timeout = profile.idle_timeout;
  if (profile.tls) {
    settings.tls_port = profile.tls->port;
    settings.tls_channels = profile.tls->channels;
    settings.tls_mode = static_cast<card::TlsPortMode>(profile.tls->mode);
    settings.tls_timeout = profile.tls->timeout;
    settings.tls_ram = profile.tls->ram;
  }
  if (profile.index.size() > card::ScwsSettings::kMaxIndex) {
    throw ProvisionError("[scws] index '" + profile.index + "' is longer than the card's " +
                         std::to_string(card::ScwsSettings::kMaxIndex) + " bytes");
  }
  settings.index_length = static_cast<u8>(profile.index.size());
  std::fill(std::begin(settings.index), std::end(settings.index), '\0');
  std::copy(profile.index.begin(), profile.index.end(), settings.index);
  return settings;
}

// The resource index and every resource of the profile, each refusal named with the card's limit.
void put_content(const Profile& profile, card::ObjectStore& store, ProvisionReport& report) {
  if (auto s = card::web_content_format(store); !s) {
    throw ProvisionError(std::string("cannot create the resource index: ") + card::describe(s.error()));
  }
  for (const ProfileResource& r : profile.resources) {
    const std::vector<u8> body = read_whole(r.file);
    if (auto s = card::web_content_put(store, r.path, r.content_type, Bytes(body.data(), body.size())); !s) {
      std::string why = card::describe(s.error());
      if (s.error() == card::ContentError::kIndexFull) {
        why += " (the card holds at most " + std::to_string(card::WebContentLimits::kMaxResources) + " resources)";
      } else if (s.error() == card::ContentError::kInvalidPath) {
        why += " (at most " + std::to_string(card::WebContentLimits::kMaxPath) + " bytes, no dot segments)";
      } else if (s.error() == card::ContentError::kNoSpace) {
        why += " (" + std::to_string(store.free_bytes()) + " bytes of NVM left, " + std::to_string(body.size()) +
               " needed: give a larger --size)";
      }
      throw ProvisionError(r.file.string() + " -> " + r.path + ": the card refused it: " + why);
    }
    ++report.resources;
    report.content_bytes += body.size();
  }
}

// The users store, the users and the protection sets (one object per protected path prefix).
void put_users(const Profile& profile, card::ObjectStore& store, ProvisionReport& report) {
  if (!profile.users.empty() || !profile.protection_sets.empty()) {
    if (auto s = card::web_users_format(store); !s) {
      throw ProvisionError(std::string("cannot create the users store: ") + card::describe(s.error()));
    }
  }
  for (const ProfileUser& u : profile.users) {
    const card::PasswordHash hash = hash_password(u, profile.security.pbkdf2_iterations);
    if (auto s = card::web_user_put(store, u.name, hash); !s) {
      throw ProvisionError("user '" + u.name + "': the card refused it: " + card::describe(s.error()) + " (names at most " +
                           std::to_string(card::WebUsersLimits::kMaxName) + " bytes, at most " +
                           std::to_string(card::WebUsersLimits::kMaxUsers) + " users)");
    }
    ++report.users;
  }
  for (const ProfileProtectionSet& set : profile.protection_sets) {
    std::vector<std::string_view> users(set.users.begin(), set.users.end());
    for (const std::string& prefix : set.paths) {
      if (auto s = card::web_protection_put(store, prefix, set.realm, users); !s) {
        throw ProvisionError("protection set '" + set.name + "' path '" + prefix + "': the card refused it: " +
                             card::describe(s.error()));
      }
    }
    ++report.protection_sets;
  }
}

// The detection settings (card/defence/detection_settings.hpp), in their own transaction.
void put_detection(const Profile& profile, card::ObjectStore& store) {
  card::Nvm& nvm = store.nvm();
  auto s = nvm.begin();
  if (s) s = card::store_detection_settings(store, profile.detection);
  if (s) s = nvm.commit();
  if (!s) {
    (void)nvm.abort();
    throw ProvisionError(std::string("cannot store the detection settings: ") + card::describe(s.error()));
  }
}

// The empty incident queue with the profile's capacity, in a transaction of its own.
void put_incidents(const Profile& profile, card::ObjectStore& store) {
  static_assert(ProfileIncidents::kMinCapacity == card::IncidentQueue::kMinCapacity &&
                ProfileIncidents::kMaxCapacity == card::IncidentQueue::kMaxCapacity);
  card::Nvm& nvm = store.nvm();
  auto made = nvm.begin();
  if (made) made = card::IncidentQueue::format(store, profile.incidents.capacity);
  if (made) {
    made = nvm.commit();
  } else if (nvm.in_transaction()) {
    (void)nvm.abort();
  }
  if (!made) throw ProvisionError(std::string("cannot create the incident queue: ") + card::describe(made.error()));
}

// The admin link and its PSK (card/defence/admin_link.hpp), in one transaction; the key from the
// host's random source.
AdminEnrolment put_admin(const Profile& profile, card::ObjectStore& store) {
  const ProfileAdmin& a = *profile.admin;
  card::AdminLinkSettings link;
  link.enabled = a.enabled;
  link.on_incident = a.on_incident;
  in_addr addr{};
  if (inet_pton(AF_INET, a.server.c_str(), &addr) != 1) throw ProvisionError("[admin] server '" + a.server + "' is not IPv4");
  std::memcpy(link.address.data(), &addr.s_addr, 4);  // network order: a.b.c.d
  link.port = a.port;
  link.buffer_size = a.buffer;
  link.retry_count = a.retry_count;
  link.retry_delay_seconds = a.retry_delay;
  link.period_seconds = a.period;
  link.inactivity_seconds = a.timeout;
  if (!link.set_host(a.host) || !link.set_uri(a.uri) || !link.valid()) throw ProvisionError("[admin]: the card refused the link settings");
  AdminEnrolment e;
  e.iccid = profile.iccid_digits;
  e.psk_identity = "scws-admin:" + profile.iccid_digits;
  e.psk_key.resize(kAdminPskBytes);
  if (host_entropy(nullptr, e.psk_key.data(), e.psk_key.size()) != 0) throw ProvisionError("no entropy for the admin link's PSK");
  e.server = a.server;
  e.port = a.port;
  e.host = a.host;
  e.uri = a.uri;
  card::Nvm& nvm = store.nvm();
  auto s = nvm.begin();
  if (s) s = card::store_admin_link(store, link);
  if (s) s = card::store_admin_psk(store, Bytes(reinterpret_cast<const u8*>(e.psk_identity.data()), e.psk_identity.size()),
                                   Bytes(e.psk_key.data(), e.psk_key.size()));
  if (s) s = nvm.commit();
  if (!s) {
    if (nvm.in_transaction()) (void)nvm.abort();
    throw ProvisionError(std::string("cannot store the admin link: ") + card::describe(s.error()));
  }
  return e;
}

// Writes text to `file` with mode 0600 (it holds a key), through a temporary file and a rename.
void write_private_file(const fs::path& file, const std::string& text) {
  const fs::path tmp = file.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw ProvisionError(tmp.string() + ": cannot be created");
  bool ok = ::fchmod(fd, 0600) == 0;
  for (std::size_t at = 0; ok && at < text.size();) {
    const ssize_t n = ::write(fd, text.data() + at, text.size() - at);
    if (n <= 0) ok = false;
    else at += static_cast<std::size_t>(n);
  }
  ok = ::fsync(fd) == 0 && ok;
  ok = ::close(fd) == 0 && ok;
  std::error_code ec;
  if (ok) fs::rename(tmp, file, ec);
  if (!ok || ec) {
    fs::remove(tmp, ec);
    throw ProvisionError(file.string() + ": cannot be written");
  }
}

}  // namespace

std::string admin_enrolment_toml(const AdminEnrolment& e) {
  static const char kHex[] = "0123456789abcdef";
  std::string key;
  for (u8 b : e.psk_key) {
    key += kHex[b >> 4];
    key += kHex[b & 0x0F];
  }
  return "# scws admin enrolment of one card (docs/protocol.md section 16.7): `scws admin enrol FILE`.\n"
         "# Holds the card's link PSK: keep it private.\n"
         "iccid = \"" + e.iccid + "\"\n"
         "psk_identity = \"" + e.psk_identity + "\"\n"
         "psk_key = \"" + key + "\"\n"
         "server = \"" + e.server + "\"\n"
         "port = " + std::to_string(e.port) + "\n"
         "host = \"" + e.host + "\"\n"
         "uri = \"" + e.uri + "\"\n";
}

fs::path admin_enrolment_file(const fs::path& image) { return fs::path(image.string() + ".admin.toml"); }

ProvisionReport provision_device(const Profile& profile, card::NvmDevice& device, const Pki* pki) {
  std::optional<Pki> throwaway;
  if (profile.tls && pki == nullptr) {
    // Nobody keeps the clients' part: fine for images that live in memory (tests, benchmarks).
    try {
      throwaway = generate_pki(pki_options(*profile.tls));
    } catch (const PkiError& e) {
      throw ProvisionError(std::string("TLS credentials: ") + e.what());
    }
    pki = &*throwaway;
  }
  card::CardIdentity identity;
  identity.iccid = Bytes(profile.iccid_bcd);
  if (profile.security.adm_key) identity.adm_key = Bytes(*profile.security.adm_key);
  identity.adm_tries = profile.security.adm_tries;
  if (auto s = card::Card::format_image(device, identity); !s) {
    throw ProvisionError(std::string("cannot format the card image: ") + card::describe(s.error()));
  }
  card::Nvm nvm(device);
  if (auto s = nvm.mount(); !s) throw ProvisionError(std::string("cannot mount the new image: ") + card::describe(s.error()));
  card::ObjectStore store(nvm);

  ProvisionReport report;
  if (auto s = card::scws_settings_put(store, settings_of(profile)); !s) {
    throw ProvisionError(std::string("cannot store the SCWS settings: ") + card::describe(s.error()));
  }
  put_incidents(profile, store);
  put_content(profile, store, report);
  put_users(profile, store, report);
  put_detection(profile, store);
  if (profile.tls) {
    try {
      write_card_part(*pki, store);
    } catch (const PkiError& e) {
      throw ProvisionError(e.what());
    }
    report.tls_clients = pki->clients.size();
    report.tls_psks = pki->psks.size();
  }
  if (profile.admin) report.admin = put_admin(profile, store);
  report.image_size = device.size();
  report.nvm_free = store.free_bytes();
  return report;
}

fs::path credentials_folder(const Profile& profile, const fs::path& image) {
  if (profile.tls && !profile.tls->credentials.empty()) return profile.tls->credentials;
  return fs::path(image.string() + ".credentials");
}

PkiOptions pki_options(const ProfileTls& tls) {
  PkiOptions o;
  o.clients = tls.clients;
  o.psk_identities = tls.psk_identities;
  return o;
}

fs::path bundled_demo_profile() {
  if (const char* dir = std::getenv("SCWS_PROFILE_DIR"); dir != nullptr && *dir != '\0') return dir;
  return fs::path(SCWS_SOURCE_ROOT) / "profiles" / "demo";
}

ProvisionReport provision_file(const Profile& profile, const fs::path& out, std::uint32_t image_size, bool overwrite,
                               const fs::path& credentials) {
  std::error_code ec;
  if (!overwrite && fs::exists(out, ec)) {
    throw ProvisionError(out.string() + " exists (give --force to replace it)");
  }
  std::optional<Pki> pki;
  fs::path folder;
  bool reused = false;
  if (profile.tls) {
    folder = credentials.empty() ? credentials_folder(profile, out) : credentials;
    reused = fs::exists(folder / "ca.pem", ec);
    try {
      pki = load_or_create_pki(folder, pki_options(*profile.tls), "127.0.0.1", profile.tls->port);
    } catch (const PkiError& e) {
      throw ProvisionError(std::string("TLS credentials: ") + e.what());
    }
  }
  std::vector<u8> image(image_size);
  card::RamNvmDevice ram(MutableBytes(image.data(), image.size()));
  ProvisionReport report = provision_device(profile, ram, pki ? &*pki : nullptr);
  report.credentials = folder;
  report.credentials_reused = reused;
  try {
    FileNvmDevice::create_from(out, Bytes(image.data(), image.size()), overwrite);  // temporary file + rename
  } catch (const std::runtime_error& e) {
    throw ProvisionError(e.what());
  }
  if (report.admin) {
    report.enrolment = admin_enrolment_file(out);
    std::string text = admin_enrolment_toml(*report.admin);
    write_private_file(report.enrolment, text);
    OPENSSL_cleanse(text.data(), text.size());
  }
  return report;
}

}  // namespace scws::sim
