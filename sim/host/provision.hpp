// `scws provision`: compiles a Profile (sim/host/profile.hpp) into a card image. The image is built on a
// RAM NVM device through the card's own put functions (card/scws/web_content.hpp, card/scws/web_users.hpp,
// tls/credentials.hpp), each step a card transaction, then written to the output file atomically
// (temporary file, fsync, rename): an interrupted provisioning leaves no half-made image.
//
// A profile with [tls] gets a test PKI (sim/host/pki.hpp): its card part (server chain and key, issuer
// CA, PSKs) goes into the image, its clients' part (CA, client certificates and keys, PSKs, the
// negative test clients, README.txt with working curl / openssl commands) into a credentials
// folder. A folder that already holds a CA is reused (load_pki): the card gets a fresh server
// certificate from the same CA and the same PSKs, so client certificates issued before stay valid.
//
// A profile with [admin] gets the link to the remote administration server (docs/protocol.md 16.1):
// the link settings and a link PSK (identity "scws-admin:<ICCID digits>", a 16-byte key from the
// host's random source) in the image, and for the server the enrolment file IMG.admin.toml beside
// the image (mode 0600: it holds the key), which `scws admin enrol` / `serve --enrol` read.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/bytes.hpp"

#include "sim/host/pki.hpp"
#include "sim/host/profile.hpp"

namespace scws::card {
class NvmDevice;
}

namespace scws::sim {

class ProvisionError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What the administration server needs to know of a card (the enrolment file's keys).
struct AdminEnrolment {
  std::string iccid;         // digits
  std::string psk_identity;  // "scws-admin:<iccid digits>"
  std::vector<u8> psk_key;   // kAdminPskBytes bytes
  std::string server;        // IPv4
  std::uint16_t port = 0;
  std::string host;
  std::string uri;
};
inline constexpr std::size_t kAdminPskBytes = 16;

// The enrolment file's text (TOML).
std::string admin_enrolment_toml(const AdminEnrolment& e);
// Where the enrolment file of `image` goes: IMG.admin.toml beside it.
std::filesystem::path admin_enrolment_file(const std::filesystem::path& image);

struct ProvisionReport {
  std::size_t resources = 0;
  std::uintmax_t content_bytes = 0;
  std::size_t users = 0;
  std::size_t protection_sets = 0;
  std::uint32_t image_size = 0;
  std::uint32_t nvm_free = 0;  // data bytes the card has left for later content
  // [tls]
  std::filesystem::path credentials;  // the clients' part (empty without [tls])
  bool credentials_reused = false;     // an existing folder's CA was kept
  std::size_t tls_clients = 0;
  std::size_t tls_psks = 0;
  // [admin]
  std::optional<AdminEnrolment> admin;  // the link written into the image (none without [admin])
  std::filesystem::path enrolment;      // where provision_file wrote the enrolment file
};

// Formats `device` and writes the profile into it; pki: the TLS credentials for a profile with
// [tls] (nullptr: a throwaway test PKI whose clients' part nobody keeps, for in-memory images). Throws ProvisionError naming the resource, user, set or
// credential the card refused and why (too many, too long, NVM full ...).
ProvisionReport provision_device(const Profile& profile, card::NvmDevice& device, const Pki* pki = nullptr);

// Where the clients' part of `image`'s credentials goes: the profile's [tls] credentials, else
// IMG.credentials beside the image.
std::filesystem::path credentials_folder(const Profile& profile, const std::filesystem::path& image);

// The PKI options a profile's [tls] asks for.
PkiOptions pki_options(const ProfileTls& tls);

// The demo profile bundled with scws (profiles/demo in the source tree): what `scws run` and a new
// `scws card` image serve when no profile is given. $SCWS_PROFILE_DIR overrides the location.
std::filesystem::path bundled_demo_profile();

// provision_device on a RAM image of image_size bytes, then written atomically to `out` (refused
// when `out` exists unless overwrite). With [tls]: the credentials folder is `credentials`, or
// credentials_folder(profile, out) when empty; created with a new PKI, or its CA reused.
ProvisionReport provision_file(const Profile& profile, const std::filesystem::path& out, std::uint32_t image_size,
                               bool overwrite, const std::filesystem::path& credentials = {});

}  // namespace scws::sim
