#include "card/scws/scws_content_control.hpp"

#include "card/scws/password_hash.hpp"
#include "card/scws/web_users.hpp"
#include "tls/credentials.hpp"
#include "tls/mbedtls_card_config.h"
#include "mbedtls/platform_util.h"

namespace scws::card {
namespace {

// docs/protocol.md 16.6's status words (card/defence/content_control.hpp).
CardError from_content(ContentError e) noexcept {
  switch (e) {
    case ContentError::kInvalidPath:
    case ContentError::kInvalidContentType:
      return CardError::kWrongData;
    case ContentError::kIndexFull:
    case ContentError::kNoSpace:
    case ContentError::kCommitCapacity:
      return CardError::kNotEnoughMemory;
    case ContentError::kNotFound:
      return CardError::kReferencedDataNotFound;
    case ContentError::kNoStore:
    case ContentError::kNvm:
      return CardError::kMemoryFailure;
  }
  return CardError::kMemoryFailure;
}

CardError from_users(UsersError e) noexcept {
  switch (e) {
    case UsersError::kInvalidName:
    case UsersError::kInvalidPassword:
    case UsersError::kInvalidPrefix:
    case UsersError::kInvalidRealm:
      return CardError::kWrongData;
    case UsersError::kUnknownSet:
      return CardError::kFileNotFound;
    case UsersError::kUnknownUser:
    case UsersError::kNotFound:
      return CardError::kReferencedDataNotFound;
    case UsersError::kFull:
      return CardError::kNotEnoughMemory;
    case UsersError::kNoStore:
    case UsersError::kNvm:
      return CardError::kMemoryFailure;
  }
  return CardError::kMemoryFailure;
}

Status<CardError> content(Status<ContentError> s) noexcept {
  if (!s) return fail(from_content(s.error()));
  return {};
}

Status<CardError> users(Status<UsersError> s) noexcept {
  if (!s) return fail(from_users(s.error()));
  return {};
}

}  // namespace

Status<CardError> ScwsContentControl::check_resource(std::string_view path, std::string_view content_type,
                                                     u32 length) noexcept {
  if (!valid_resource_path(path, WebContentLimits::kMaxPath) || !valid_content_type(content_type) ||
      length > ObjectStore::kMaxObjectSize)
    return fail(CardError::kWrongData);
  return {};
}

Status<CardError> ScwsContentControl::begin_resource(CardContext& ctx, std::string_view path,
                                                     std::string_view content_type, u32 length) noexcept {
  return content(upload_.begin(ctx.objects(), path, content_type, length));
}

Status<CardError> ScwsContentControl::append_resource(CardContext& ctx, Bytes data) noexcept {
  (void)ctx;
  return content(upload_.append(data));
}

Status<CardError> ScwsContentControl::finish_resource(CardContext& ctx) noexcept {
  (void)ctx;
  return content(upload_.finish());
}

Status<CardError> ScwsContentControl::remove_resource(CardContext& ctx, std::string_view path) noexcept {
  if (!valid_resource_path(path, WebContentLimits::kMaxPath)) return fail(CardError::kWrongData);
  return content(web_content_remove(ctx.objects(), path));
}

Status<CardError> ScwsContentControl::put_user(CardContext& ctx, std::string_view name, std::string_view password,
                                               std::span<const std::string_view> sets) noexcept {
  if (password.size() > WebUsersLimits::kMaxPassword) return fail(CardError::kWrongData);
  ObjectStore& objects = ctx.objects();
  u8 salt[PasswordHash::kSaltSize];
  if (!rng_.seeded() || tls::CardRng::generate(&rng_, salt, sizeof salt) != 0)
    return fail(CardError::kConditionsNotSatisfied);  // no salt without the card's randomness
  PasswordHash hash;
  const bool made = make_password_hash(password, Bytes(salt, sizeof salt),
                                       web_users_iterations(objects, kDefaultIterations), hash);
  mbedtls_platform_zeroize(salt, sizeof salt);
  if (!made) return fail(CardError::kTechnicalProblem);
  Status<CardError> s = users(web_user_put_member(objects, name, hash, sets));
  mbedtls_platform_zeroize(hash.hash.data(), hash.hash.size());
  return s;
}

Status<CardError> ScwsContentControl::remove_user(CardContext& ctx, std::string_view name) noexcept {
  return users(web_user_remove(ctx.objects(), name));
}

Status<CardError> ScwsContentControl::put_tls_psk(CardContext& ctx, Bytes identity, Bytes key) noexcept {
  auto s = tls::put_psk(ctx.objects(), identity, key);
  if (s) return {};
  switch (s.error()) {
    case tls::CredentialError::kTooLarge:
      // A key or identity too long was refused by the caller; here it is a full table.
      return fail(identity.size() > tls::kMaxPskIdentity || key.size() > tls::kMaxPskKey ? CardError::kWrongData
                                                                                          : CardError::kNotEnoughMemory);
    case tls::CredentialError::kMalformed:
      return fail(identity.empty() || key.empty() ? CardError::kWrongData : CardError::kMemoryFailure);
    case tls::CredentialError::kNotFound:
    case tls::CredentialError::kStorage:
      break;
  }
  return fail(CardError::kMemoryFailure);
}

}  // namespace scws::card
