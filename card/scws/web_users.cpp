#include "card/scws/web_users.hpp"

#include <cstring>

#include "base/base64.hpp"
#include "card/scws/web_content.hpp"
#include "http/ascii.hpp"

namespace scws::card {
namespace {

using L = WebUsersLimits;
constexpr u8 kMagic[4] = {'U', 'S', 'R', '1'};
constexpr u32 kVersion = 2;  // 2: salted password hashes (1 kept them in clear)
constexpr u32 user_offset(u32 i) noexcept { return static_cast<u32>(L::kHeaderSize + i * L::kUserEntrySize); }
constexpr u32 set_offset(u32 j) noexcept {
  return static_cast<u32>(L::kHeaderSize + L::kMaxUsers * L::kUserEntrySize + j * L::kSetEntrySize);
}

UsersError from_nvm(NvmError e) noexcept { return e == NvmError::kNotFound ? UsersError::kNoStore : UsersError::kNvm; }

bool printable(std::string_view s) noexcept {
  for (char ch : s) {
    const u8 c = static_cast<u8>(ch);
    if (c < 0x20 || c == 0x7F) return false;
  }
  return true;
}

Status<UsersError> check_store(ObjectStore& store) noexcept {
  auto info = store.find(kWebUsersObject);
  if (!info) return fail(from_nvm(info.error()));
  if (info->size != L::kObjectSize) return fail(UsersError::kNoStore);
  u8 h[4];
  if (!store.read(kWebUsersObject, 0, MutableBytes(h, sizeof h))) return fail(UsersError::kNvm);
  if (std::memcmp(h, kMagic, 4) != 0) return fail(UsersError::kNoStore);
  u8 v[2];
  if (!store.read(kWebUsersObject, 4, MutableBytes(v, sizeof v))) return fail(UsersError::kNvm);
  if (v[0] != 0 || v[1] != kVersion) return fail(UsersError::kNoStore);
  return {};
}

constexpr std::size_t kSaltAt = 4 + L::kMaxName;
constexpr std::size_t kIterationsAt = kSaltAt + PasswordHash::kSaltSize;
constexpr std::size_t kHashAt = kIterationsAt + 4;
static_assert(kHashAt + PasswordHash::kHashSize == L::kUserEntrySize);

struct UserEntry {
  u8 used = 0;
  u8 name_length = 0;
  u8 name[L::kMaxName] = {};
  PasswordHash password;
};

Result<UserEntry, UsersError> read_user(ObjectStore& store, u32 i) noexcept {
  u8 e[L::kUserEntrySize];
  if (!store.read(kWebUsersObject, user_offset(i), MutableBytes(e, sizeof e))) return fail(UsersError::kNvm);
  UserEntry u;
  u.used = e[0];
  u.name_length = e[1];
  if (u.name_length > L::kMaxName) u.used = 0;
  std::memcpy(u.name, e + 4, L::kMaxName);
  std::memcpy(u.password.salt.data(), e + kSaltAt, PasswordHash::kSaltSize);
  u.password.iterations = load_be32(e + kIterationsAt);
  std::memcpy(u.password.hash.data(), e + kHashAt, PasswordHash::kHashSize);
  return u;
}

// Slot of the user `name`, or kMaxUsers; `free_slot` gets the first free one (or kMaxUsers).
Result<u32, UsersError> find_user(ObjectStore& store, std::string_view name, u32& free_slot) noexcept {
  free_slot = L::kMaxUsers;
  for (u32 i = 0; i < L::kMaxUsers; ++i) {
    auto u = read_user(store, i);
    if (!u) return fail(u.error());
    if (u->used == 0) {
      if (free_slot == L::kMaxUsers) free_slot = i;
      continue;
    }
    if (u->name_length == name.size() && std::memcmp(u->name, name.data(), name.size()) == 0) return i;
  }
  return static_cast<u32>(L::kMaxUsers);
}

// Prefix covers path (see the header).
bool covers(std::string_view prefix, std::string_view path) noexcept {
  if (path.size() < prefix.size() || path.substr(0, prefix.size()) != prefix) return false;
  return path.size() == prefix.size() || prefix.back() == '/' || path[prefix.size()] == '/';
}

bool valid_name(std::string_view name) noexcept {
  return !name.empty() && name.size() <= L::kMaxName && printable(name) && name.find(':') == std::string_view::npos;
}

// Sets the allowed-users bit of `slot` in every used set: on in the sets of `member` (bit j = set
// j), off in the others. Writes only the masks that change.
Status<UsersError> write_memberships(ObjectStore& store, u32 slot, u32 member) noexcept {
  for (u32 j = 0; j < L::kMaxSets; ++j) {
    u8 h[8];
    if (!store.read(kWebUsersObject, set_offset(j), MutableBytes(h, sizeof h))) return fail(UsersError::kNvm);
    if (h[0] == 0) continue;
    const u32 old_mask = load_be32(h + 4);
    const u32 bit = u32{1} << slot;
    const u32 mask = (member & (u32{1} << j)) != 0 ? (old_mask | bit) : (old_mask & ~bit);
    if (mask == old_mask) continue;
    u8 m[4];
    store_be32(m, mask);
    if (!store.write(kWebUsersObject, set_offset(j) + 4, Bytes(m, sizeof m))) return fail(UsersError::kNvm);
  }
  return {};
}


// Writes the user's entry, in its slot or else a free one, and (when `member` is given) its set
// memberships, in one transaction.
Status<UsersError> write_user(ObjectStore& store, std::string_view name, const PasswordHash& password,
                              std::optional<u32> member) noexcept {
  u32 free_slot = 0;
  auto slot = find_user(store, name, free_slot);
  if (!slot) return fail(slot.error());
  u32 i = *slot;
  if (i == L::kMaxUsers) {
    if (free_slot == L::kMaxUsers) return fail(UsersError::kFull);
    i = free_slot;
  }
  u8 e[L::kUserEntrySize] = {};
  e[0] = 1;
  e[1] = static_cast<u8>(name.size());
  std::memcpy(e + 4, name.data(), name.size());
  std::memcpy(e + kSaltAt, password.salt.data(), PasswordHash::kSaltSize);
  store_be32(e + kIterationsAt, password.iterations);
  std::memcpy(e + kHashAt, password.hash.data(), PasswordHash::kHashSize);
  TransactionScope txn(store.nvm());
  if (!txn.begin()) return fail(UsersError::kNvm);
  if (!store.write(kWebUsersObject, user_offset(i), Bytes(e, sizeof e))) return fail(UsersError::kNvm);
  if (member) SCWS_TRY(write_memberships(store, i, *member));
  if (!txn.commit()) return fail(UsersError::kNvm);
  return {};
}

}  // namespace

const char* describe(UsersError e) noexcept {
  switch (e) {
    case UsersError::kInvalidName:
      return "invalid user name";
    case UsersError::kInvalidPassword:
      return "invalid password";
    case UsersError::kInvalidPrefix:
      return "invalid protection prefix";
    case UsersError::kInvalidRealm:
      return "invalid realm";
    case UsersError::kUnknownUser:
      return "unknown user";
    case UsersError::kUnknownSet:
      return "unknown protection set";
    case UsersError::kFull:
      return "users or protection sets full";
    case UsersError::kNotFound:
      return "not found";
    case UsersError::kNoStore:
      return "no users object";
    case UsersError::kNvm:
      return "NVM failure";
  }
  return "?";
}

Status<UsersError> web_users_format(ObjectStore& store) noexcept {
  if (check_store(store)) return {};
  TransactionScope txn(store.nvm());
  if (!txn.begin()) return fail(UsersError::kNvm);
  if (store.find(kWebUsersObject)) {
    if (!store.remove(kWebUsersObject)) return fail(UsersError::kNvm);
  }
  if (!store.create(kWebUsersObject, L::kObjectSize)) return fail(UsersError::kNvm);
  u8 h[L::kHeaderSize] = {};
  std::memcpy(h, kMagic, 4);
  h[5] = static_cast<u8>(kVersion);
  h[7] = static_cast<u8>(L::kMaxUsers);
  h[9] = static_cast<u8>(L::kMaxSets);
  if (!store.write(kWebUsersObject, 0, Bytes(h, sizeof h))) return fail(UsersError::kNvm);
  if (!txn.commit()) return fail(UsersError::kNvm);
  return {};
}

Status<UsersError> web_user_put(ObjectStore& store, std::string_view name, const PasswordHash& password) noexcept {
  if (!valid_name(name)) return fail(UsersError::kInvalidName);
  if (password.iterations == 0 || password.iterations > PasswordHash::kMaxIterations)
    return fail(UsersError::kInvalidPassword);
  SCWS_TRY(check_store(store));
  return write_user(store, name, password, std::nullopt);
}

Status<UsersError> web_protection_put(ObjectStore& store, std::string_view prefix, std::string_view realm,
                                      std::span<const std::string_view> users) noexcept {
  if (!valid_resource_path(prefix, L::kMaxPrefix)) return fail(UsersError::kInvalidPrefix);
  if (realm.empty() || realm.size() > L::kMaxRealm || !printable(realm) || realm.find('"') != std::string_view::npos ||
      realm.find('\\') != std::string_view::npos)
    return fail(UsersError::kInvalidRealm);
  SCWS_TRY(check_store(store));
  u32 mask = 0;
  for (std::string_view name : users) {
    u32 free_slot = 0;
    auto slot = find_user(store, name, free_slot);
    if (!slot) return fail(slot.error());
    if (*slot == L::kMaxUsers) return fail(UsersError::kUnknownUser);
    mask |= u32{1} << *slot;
  }
  u32 target = L::kMaxSets;
  u32 free_set = L::kMaxSets;
  for (u32 j = 0; j < L::kMaxSets; ++j) {
    u8 h[8 + L::kMaxPrefix];
    if (!store.read(kWebUsersObject, set_offset(j), MutableBytes(h, sizeof h))) return fail(UsersError::kNvm);
    if (h[0] == 0) {
      if (free_set == L::kMaxSets) free_set = j;
    } else if (h[1] == prefix.size() && std::memcmp(h + 8, prefix.data(), prefix.size()) == 0) {
      target = j;
      break;
    }
  }
  if (target == L::kMaxSets) target = free_set;
  if (target == L::kMaxSets) return fail(UsersError::kFull);
  u8 e[L::kSetEntrySize] = {};
  e[0] = 1;
  e[1] = static_cast<u8>(prefix.size());
  e[2] = static_cast<u8>(realm.size());
  store_be32(e + 4, mask);
  std::memcpy(e + 8, prefix.data(), prefix.size());
  std::memcpy(e + 8 + L::kMaxPrefix, realm.data(), realm.size());
  TransactionScope txn(store.nvm());
  if (!txn.begin()) return fail(UsersError::kNvm);
  if (!store.write(kWebUsersObject, set_offset(target), Bytes(e, sizeof e))) return fail(UsersError::kNvm);
  if (!txn.commit()) return fail(UsersError::kNvm);
  return {};
}

Status<UsersError> web_user_put_member(ObjectStore& store, std::string_view name, const PasswordHash& password,
                                       std::span<const std::string_view> sets) noexcept {
  if (!valid_name(name)) return fail(UsersError::kInvalidName);
  if (password.iterations == 0 || password.iterations > PasswordHash::kMaxIterations)
    return fail(UsersError::kInvalidPassword);
  SCWS_TRY(check_store(store));
  // Which sets the names designate: each name must match at least one.
  u32 member = 0;
  for (std::string_view wanted : sets) {
    bool matched = false;
    for (u32 j = 0; j < L::kMaxSets; ++j) {
      u8 e[L::kSetEntrySize];
      if (!store.read(kWebUsersObject, set_offset(j), MutableBytes(e, sizeof e))) return fail(UsersError::kNvm);
      if (e[0] == 0 || e[1] > L::kMaxPrefix || e[2] > L::kMaxRealm) continue;
      const std::string_view prefix(reinterpret_cast<const char*>(e + 8), e[1]);
      const std::string_view realm(reinterpret_cast<const char*>(e + 8 + L::kMaxPrefix), e[2]);
      if (wanted == realm || wanted == prefix) {
        member |= u32{1} << j;
        matched = true;
      }
    }
    if (!matched) return fail(UsersError::kUnknownSet);
  }
  return write_user(store, name, password, member);
}

Status<UsersError> web_user_remove(ObjectStore& store, std::string_view name) noexcept {
  if (!valid_name(name)) return fail(UsersError::kNotFound);
  SCWS_TRY(check_store(store));
  u32 free_slot = 0;
  auto slot = find_user(store, name, free_slot);
  if (!slot) return fail(slot.error());
  if (*slot == L::kMaxUsers) return fail(UsersError::kNotFound);
  TransactionScope txn(store.nvm());
  if (!txn.begin()) return fail(UsersError::kNvm);
  u8 zero[L::kUserEntrySize] = {};
  if (!store.write(kWebUsersObject, user_offset(*slot), Bytes(zero, sizeof zero))) return fail(UsersError::kNvm);
  SCWS_TRY(write_memberships(store, *slot, 0));
  if (!txn.commit()) return fail(UsersError::kNvm);
  return {};
}

u32 web_users_iterations(ObjectStore& store, u32 fallback) noexcept {
  if (!check_store(store)) return fallback;
  for (u32 i = 0; i < L::kMaxUsers; ++i) {
    auto u = read_user(store, i);
    if (!u) return fallback;
    if (u->used != 0 && u->password.iterations >= 1 && u->password.iterations <= PasswordHash::kMaxIterations)
      return u->password.iterations;
  }
  return fallback;
}

Result<std::optional<Protection>, UsersError> web_protection_for(ObjectStore& store, std::string_view path) noexcept {
  if (auto checked = check_store(store); !checked) {
    // No users object: nothing is protected. One that cannot be used (damaged, or of version 1
    // with passwords in clear) fails closed: the sets it may hold cannot be honoured.
    if (!store.find(kWebUsersObject)) return std::optional<Protection>{};
    return fail(checked.error());
  }
  std::optional<Protection> best;
  std::size_t best_length = 0;
  for (u32 j = 0; j < L::kMaxSets; ++j) {
    u8 e[L::kSetEntrySize];
    if (!store.read(kWebUsersObject, set_offset(j), MutableBytes(e, sizeof e))) return fail(UsersError::kNvm);
    if (e[0] == 0 || e[1] == 0 || e[1] > L::kMaxPrefix || e[2] > L::kMaxRealm) continue;
    const std::string_view prefix(reinterpret_cast<const char*>(e + 8), e[1]);
    if (!covers(prefix, path) || (best && prefix.size() <= best_length)) continue;
    Protection p;
    p.set = j;
    p.users = load_be32(e + 4);
    p.realm_length = e[2];
    std::memcpy(p.realm, e + 8 + L::kMaxPrefix, e[2]);
    best = p;
    best_length = prefix.size();
  }
  return best;
}

AuthOutcome web_users_check(ObjectStore& store, const Protection& protection,
                            std::optional<std::string_view> authorization) noexcept {
  if (!authorization) return AuthOutcome::kMissing;
  std::string_view v = *authorization;
  // auth-scheme 1*SP token68 (RFC 9110 11.4, 11.6.2).
  constexpr std::string_view kScheme = "basic";
  if (v.size() <= kScheme.size() || !http::iequals(v.substr(0, kScheme.size()), kScheme) || v[kScheme.size()] != ' ')
    return AuthOutcome::kMissing;
  v.remove_prefix(kScheme.size());
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  u8 decoded[base64_decoded_size(((L::kMaxCredentials + 2) / 3) * 4)];
  if (v.size() > ((L::kMaxCredentials + 2) / 3) * 4) return AuthOutcome::kDenied;
  auto n = base64_decode(v, MutableBytes(decoded, sizeof decoded));
  if (!n) return AuthOutcome::kDenied;
  const std::string_view credentials(reinterpret_cast<const char*>(decoded), *n);
  const std::size_t colon = credentials.find(':');
  if (colon == std::string_view::npos) return AuthOutcome::kDenied;
  const std::string_view name = credentials.substr(0, colon);
  const std::string_view password = credentials.substr(colon + 1);
  if (password.size() > L::kMaxPassword) return AuthOutcome::kDenied;
  bool granted = false;
  bool hashed = false;
  PasswordHash decoy;  // an allowed user's record: an unknown name costs the same PBKDF2 as a known one
  for (u32 i = 0; i < L::kMaxUsers; ++i) {
    auto u = read_user(store, i);
    if (!u) return AuthOutcome::kDenied;
    if (u->used == 0 || (protection.users & (u32{1} << i)) == 0) continue;
    if (decoy.iterations == 0) decoy = u->password;
    if (u->name_length != name.size() || std::memcmp(u->name, name.data(), name.size()) != 0) continue;
    // PBKDF2 with the user's salt, compared in constant time (card/scws/password_hash.hpp).
    if (password_matches(password, u->password)) granted = true;
    hashed = true;
  }
  if (!hashed && decoy.iterations != 0) (void)password_matches(password, decoy);
  return granted ? AuthOutcome::kGranted : AuthOutcome::kDenied;
}

std::string_view basic_challenge(const Protection& protection, std::span<char> out) noexcept {
  constexpr std::string_view kStart = "Basic realm=\"";
  const std::size_t total = kStart.size() + protection.realm_length + 1;
  if (out.size() < total) return {};
  std::memcpy(out.data(), kStart.data(), kStart.size());
  std::memcpy(out.data() + kStart.size(), protection.realm, protection.realm_length);
  out[total - 1] = '"';
  return {out.data(), total};
}

}  // namespace scws::card
