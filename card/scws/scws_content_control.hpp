// The SCWS side of remote administration (card/defence/content_control.hpp): the admin applet's
// content, user and TLS PSK commands (docs/protocol.md 16.6) on the resource store
// (card/scws/web_content.hpp), the users and protection sets (card/scws/web_users.hpp) and the TLS
// port's PSK table (tls/credentials.hpp). Everything runs in the caller's transaction; the HTTP
// server and the TLS port read these stores for every request and handshake, so a change is
// served at once (a replaced page from the next request, a removed user refused from the next
// attempt, a new PSK from the next handshake).
//
// PUT USER: the password is hashed on the card (PBKDF2-HMAC-SHA-256, card/scws/password_hash.hpp)
// with a fresh 16-byte salt from the card's DRBG and the iteration count the stored users already
// have (the profile's [security] pbkdf2_iterations), or kDefaultIterations when there are none.
// Passwords of at most WebUsersLimits::kMaxPassword bytes (what an attempt may carry).
//
// RAM: the upload state of one PUT RESOURCE publication (about 200 bytes) and a pointer.
#pragma once

#include "card/defence/content_control.hpp"
#include "card/scws/web_content.hpp"
#include "tls/card_rng.hpp"

namespace scws::card {

class ScwsContentControl final : public ContentControl {
 public:
  static constexpr u32 kDefaultIterations = 1000;  // `scws provision`'s default (docs/protocol.md 13)
  static_assert(ContentControl::kMaxPath == WebContentLimits::kMaxPath);
  static_assert(ContentControl::kMaxContentType == WebContentLimits::kMaxContentType);

  // rng: the card's DRBG (salts); it must outlive the card.
  explicit ScwsContentControl(tls::CardRng& rng) noexcept : rng_(rng) {}

  Status<CardError> check_resource(std::string_view path, std::string_view content_type, u32 length) noexcept override;
  Status<CardError> begin_resource(CardContext& ctx, std::string_view path, std::string_view content_type,
                                   u32 length) noexcept override;
  Status<CardError> append_resource(CardContext& ctx, Bytes data) noexcept override;
  Status<CardError> finish_resource(CardContext& ctx) noexcept override;
  Status<CardError> remove_resource(CardContext& ctx, std::string_view path) noexcept override;
  Status<CardError> put_user(CardContext& ctx, std::string_view name, std::string_view password,
                             std::span<const std::string_view> sets) noexcept override;
  Status<CardError> remove_user(CardContext& ctx, std::string_view name) noexcept override;
  Status<CardError> put_tls_psk(CardContext& ctx, Bytes identity, Bytes key) noexcept override;

 private:
  tls::CardRng& rng_;
  WebContentUpload upload_;
};

}  // namespace scws::card
