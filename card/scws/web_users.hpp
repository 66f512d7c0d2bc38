// SCWS users and protection sets (HTTP Basic authentication, RFC 7617), kept in NVM. A protection
// set is a path prefix + a realm + the users allowed; a request whose decoded path falls under a
// set's prefix (the longest matching prefix wins; "/secure" covers "/secure" and "/secure/...", not
// "/securex"; a prefix ending in "/" covers what starts with it) needs `Authorization: Basic`
// credentials of one of those users, otherwise the server answers 401 with
// `WWW-Authenticate: Basic realm="..."`.
//
// Passwords: never stored. Each user has a salted PBKDF2-HMAC-SHA-256 hash (card/scws/password_hash.hpp),
// made by `scws provision`; an attempt's password is hashed with the user's salt and iteration count
// and compared in constant time.
//
// On-NVM format: one object kWebUsersObject (ObjectStore id, SCWS range), big-endian:
//   header [0, 16): magic "USR1", version u16 (2), max users u16, max sets u16, zero padding
//   user i at 16 + i * kUserEntrySize:
//     +0 used u8, +1 name length u8 (1..kMaxName), +2 zero, +3 zero,
//     +4 name bytes (zero padded to kMaxName), +4+kMaxName salt (16 bytes), iterations u32,
//     PBKDF2-HMAC-SHA-256 hash (32 bytes)
//   An object of version 1 (passwords in clear) is refused as no store: provision the image again.
//   set j at 16 + kMaxUsers * kUserEntrySize + j * kSetEntrySize:
//     +0 used u8, +1 prefix length u8, +2 realm length u8, +3 zero, +4 allowed users u32 (bit i =
//     user slot i), +8 prefix bytes (kMaxPrefix), +8+kMaxPrefix realm bytes (kMaxRealm)
// Updates run inside the caller's transaction or their own (as web_content).
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string_view>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "card/os/nvm.hpp"
#include "card/scws/password_hash.hpp"

namespace scws::card {

enum class UsersError : u8 {
  kInvalidName,      // empty, too long, ":" or a control byte (RFC 7617 2: user-id has no ":")
  kInvalidPassword,  // a hash with an iteration count out of range
  kInvalidPrefix,    // not a valid resource path (see valid_resource_path)
  kInvalidRealm,     // empty, too long, '"', '\' or a control byte (it is sent in a quoted-string)
  kUnknownUser,      // a set names a user that does not exist
  kUnknownSet,       // a membership names a protection set that does not exist
  kFull,             // kMaxUsers users or kMaxSets sets already
  kNotFound,
  kNoStore,          // web_users_format not run
  kNvm,
};
const char* describe(UsersError e) noexcept;

inline constexpr u32 kWebUsersObject = 0x10000002;

struct WebUsersLimits {
  static constexpr std::size_t kMaxUsers = 16;
  static constexpr std::size_t kMaxSets = 8;
  static constexpr std::size_t kMaxName = 32;
  static constexpr std::size_t kMaxPassword = 32;  // the longest password an attempt may carry
  static constexpr std::size_t kMaxPrefix = 120;
  static constexpr std::size_t kMaxRealm = 48;
  static constexpr std::size_t kHeaderSize = 16;
  static constexpr std::size_t kUserEntrySize =
      4 + kMaxName + PasswordHash::kSaltSize + 4 + PasswordHash::kHashSize;
  static constexpr std::size_t kSetEntrySize = 8 + kMaxPrefix + kMaxRealm;
  static constexpr std::size_t kObjectSize = kHeaderSize + kMaxUsers * kUserEntrySize + kMaxSets * kSetEntrySize;
  static_assert(kMaxUsers <= 32, "allowed users are a u32 mask");
  // Longest Authorization credentials the card decodes: "name:password" in base64.
  static constexpr std::size_t kMaxCredentials = kMaxName + 1 + kMaxPassword;
};

Status<UsersError> web_users_format(ObjectStore& store) noexcept;
// Adds or replaces (same name) a user with the hash of its password (make_password_hash, or the
// host's PBKDF2 in `scws provision`). kInvalidPassword when the iteration count is 0 or above
// PasswordHash::kMaxIterations.
Status<UsersError> web_user_put(ObjectStore& store, std::string_view name, const PasswordHash& password) noexcept;
// Adds or replaces (same prefix) a protection set; every user must exist already.
Status<UsersError> web_protection_put(ObjectStore& store, std::string_view prefix, std::string_view realm,
                                      std::span<const std::string_view> users) noexcept;

// Adds or replaces (same name) a user and makes it a member of exactly the protection sets named:
// a name is a set's realm (every set with that realm: a profile's set with several paths) or a
// set's prefix (that one set). Remote administration (docs/protocol.md 16.6 PUT USER). kUnknownSet
// when a name matches no set (nothing changes then). One transaction (the caller's or its own).
Status<UsersError> web_user_put_member(ObjectStore& store, std::string_view name, const PasswordHash& password,
                                       std::span<const std::string_view> sets) noexcept;
// Removes the user and its membership in every set (its slot may go to another user later).
// kNotFound for an unknown user. One transaction (the caller's or its own).
Status<UsersError> web_user_remove(ObjectStore& store, std::string_view name) noexcept;
// The iteration count of the first stored user's hash, or `fallback` without users: provisioning
// gives every user the profile's count, so a user added later costs the same per request.
u32 web_users_iterations(ObjectStore& store, u32 fallback) noexcept;

// The protection set covering a decoded path, if any.
struct Protection {
  u32 set = 0;
  u32 users = 0;  // allowed user slots
  char realm[WebUsersLimits::kMaxRealm] = {};
  u8 realm_length = 0;
  [[nodiscard]] std::string_view realm_text() const noexcept { return {realm, realm_length}; }
};
// nullopt: not protected (also when there is no users object). kNvm on a read failure; kNoStore
// when a users object exists but is damaged or of another version (the server answers 500).
Result<std::optional<Protection>, UsersError> web_protection_for(ObjectStore& store, std::string_view path) noexcept;

enum class AuthOutcome : u8 {
  kGranted,
  kMissing,  // no Authorization field, or not the Basic scheme: a challenge, not a failure
  kDenied,   // Basic credentials that are malformed, of an unknown user, a user not in the set, or a wrong password
};
// Checks an Authorization field value against a set (RFC 7617 2, RFC 9110 11.6.2: the scheme is
// case-insensitive; one SP or more before the token68).
AuthOutcome web_users_check(ObjectStore& store, const Protection& protection,
                            std::optional<std::string_view> authorization) noexcept;

// Writes `Basic realm="<realm>"` into out (a WWW-Authenticate value); empty when out is too small.
std::string_view basic_challenge(const Protection& protection, std::span<char> out) noexcept;
inline constexpr std::size_t kMaxChallenge = 14 + WebUsersLimits::kMaxRealm;

}  // namespace scws::card
