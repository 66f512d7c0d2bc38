// A card profile as the user writes it (docs/architecture.md, "The command line": `scws provision`):
// a folder holding card.toml (identity, ports, users, protection sets, credentials) and a content
// folder whose files become the card's web resources. This is the host-side, parsed and validated
// form; sim/host/provision.* compiles it into a card image.
//
// Contract: load_profile() either returns a profile in which every field already satisfies the
// card's limits (lengths, counts, port numbers, BCD digits) or throws ProfileError whose message
// names the file, the line where known, and the problem. Nothing is written anywhere.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "card/defence/detection_settings.hpp"

namespace scws::sim {

class ProfileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ProfileUser {
  std::string name;
  std::string password;
};

struct ProfileProtectionSet {
  std::string name;
  std::string realm;
  std::vector<std::string> paths;  // URL path prefixes, each starting with '/'
  std::vector<std::string> users;  // names from the profile's users
};

struct ProfileResource {
  std::string path;          // URL path on the card, e.g. "/secure/index.html"
  std::string content_type;  // from the file extension (or overridden in card.toml [content_types])
  std::filesystem::path file;
  std::uintmax_t size = 0;
};

// [tls]: the SCWS TLS port (docs/protocol.md section 12; card/scws/scws_settings.hpp,
// card/scws/tls_port.hpp) and the test PKI `scws provision` makes for it (sim/host/pki.hpp).
struct ProfileTls {
  enum class Mode : std::uint8_t { kCertificate = 1, kPsk = 2, kBoth = 3 };  // values as card::TlsPortMode
  std::uint16_t port = 10443;       // the port of the threat analysis (docs/architecture.md)
  std::uint8_t channels = 3;        // BIP channels on the TLS port; with the HTTP ones at most 7
  Mode mode = Mode::kCertificate;   // "certificate" | "psk" | "both"
  std::uint32_t ram = 0;            // bytes of the TLS region; 0 = default_tls_ram(mode, channels)
  std::uint8_t timeout = 10;        // seconds a connection may stall (handshake, then idle)
  std::size_t clients = 2;          // client certificates in the test PKI (client-1 .. client-N)
  std::size_t psk_identities = 2;   // PSK identities in the test PKI (psk-app-1 .. psk-app-N)
  std::filesystem::path credentials;  // folder for the clients' part; empty = next to the image (IMG.credentials)
};

// The TLS region a port needs for `channels` sessions at once in `mode` (idle context + one session
// budget each, card/scws/tls_port.hpp).
std::uint32_t default_tls_ram(ProfileTls::Mode mode, std::uint8_t channels);
const char* to_string(ProfileTls::Mode mode);

// [security]: the administrative key ADM1 (card/os/adm_key.hpp) and how passwords are kept at rest
// (card/scws/web_users.hpp).
struct ProfileSecurity {
  static constexpr std::uint32_t kDefaultIterations = 1000;  // PBKDF2-HMAC-SHA-256 (docs/protocol.md)
  static constexpr std::uint32_t kMinIterations = 1;
  static constexpr std::uint32_t kMaxIterations = 100000;
  std::optional<std::array<std::uint8_t, 8>> adm_key;  // adm_key = 16 hex digits; none: no ADM key
  std::uint8_t adm_tries = 3;                           // adm_tries = 1..15 wrong VERIFYs before it blocks
  std::uint32_t pbkdf2_iterations = kDefaultIterations; // pbkdf2_iterations = kMin..kMaxIterations
};

// [detection]: the attack detection's thresholds, windows and response policy
// (card/defence/detection_settings.hpp); absent keys keep card::default_detection_settings().
using ProfileDetection = card::DetectionSettings;
// [incidents]: the incident queue in NVM (card/defence/incident_queue.hpp), its capacity fixed
// when the image is made.
struct ProfileIncidents {
  static constexpr std::uint8_t kMinCapacity = 4;      // card::IncidentQueue::kMinCapacity
  static constexpr std::uint8_t kMaxCapacity = 255;    // card::IncidentQueue::kMaxCapacity
  std::uint8_t capacity = 32;                          // capacity = kMin..kMaxCapacity incidents
};

// [admin]: the link to the remote administration server (docs/protocol.md section 16.1), written by
// provisioning into the link settings object (card/defence/admin_link.hpp) with a fresh link PSK.
// No [admin] table: no link (the card never starts a session).
struct ProfileAdmin {
  std::string server = "127.0.0.1";        // server = IPv4 address (dotted quad)
  std::uint16_t port = 7443;                // port = 1-65535
  std::string host = "admin.scws.test";     // host = the Host header, 1-64 printable bytes
  std::string uri = "/scws/admin";          // uri = the first POST's target, 1-96 bytes starting with '/'
  std::uint8_t retry_count = 3;             // retry_count = 0-10 (GP Amendment B 3.5)
  std::uint16_t retry_delay = 10;           // retry_delay = 1-3600 seconds
  std::uint32_t period = 0;                 // period = 0 (none) - 4294967295 seconds
  std::uint16_t timeout = 30;               // timeout = 1-600 seconds of server inactivity
  bool on_incident = true;                  // on_incident = a new incident starts a session
  std::uint16_t buffer = 1400;              // buffer = 256-65535 (the channel buffer asked of the terminal)
  bool enabled = true;                      // enabled = the card may start sessions
};

struct Profile {
  std::filesystem::path dir;
  std::string iccid_digits;                 // 19 or 20 decimal digits
  std::array<std::uint8_t, 10> iccid_bcd{};  // as stored in EF.ICCID (TS 102 221 13.2): swapped nibbles, F filler
  std::uint16_t http_port = 3516;           // IANA "smartcard-port"
  std::uint8_t http_channels = 7;           // BIP channels listening on the HTTP port at once
  // HTTP deadlines, seconds (card/scws/scws_applet.hpp): request head, request body, idle keep-alive.
  std::uint8_t head_timeout = 10;
  std::uint8_t body_timeout = 20;
  std::uint8_t idle_timeout = 15;
  std::string index = "index.html";         // the default page for "/" (a resource path without the '/')
  std::vector<ProfileResource> resources;   // sorted by path
  std::vector<ProfileUser> users;
  std::vector<ProfileProtectionSet> protection_sets;
  std::optional<ProfileTls> tls;            // no [tls] table: no TLS port
  ProfileSecurity security;
  ProfileDetection detection = card::default_detection_settings();
  ProfileIncidents incidents;
  std::optional<ProfileAdmin> admin;        // no [admin] table: no link
};

// Reads DIR/card.toml and the content folder it names. Throws ProfileError.
Profile load_profile(const std::filesystem::path& dir);

// ICCID digits -> EF.ICCID bytes (TS 102 221 13.2). Throws ProfileError unless 19 or 20 digits.
std::array<std::uint8_t, 10> iccid_to_bcd(const std::string& digits);

// The Content-Type a file extension gets ("application/octet-stream" when unknown).
std::string content_type_for(const std::filesystem::path& file);

}  // namespace scws::sim
