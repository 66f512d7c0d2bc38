#include "sim/host/provision.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <optional>
#include <vector>

#include <openssl/evp.h>

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

}  // namespace

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
  return report;
}

}  // namespace scws::sim
