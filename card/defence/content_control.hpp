// What the admin applet (card/defence/admin_applet.hpp) may ask of the Smart Card Web Server's stores
// on behalf of an administrator (ADM1 verified, or the card's own admin session): the remote
// administration commands of docs/protocol.md section 16.6 that change the content, the users and
// the TLS port's PSKs. The stores live above this layer (card/scws implements the interface:
// card/scws/scws_content_control.hpp); the admin applet only holds a pointer.
//
// Transactions: every call runs inside the transaction the caller opened (the admin applet opens
// one per command and commits it when the call succeeds, aborts it otherwise), so a command changes
// the card entirely or not at all. What a call changes is served at once: the stores are read from
// NVM for every request and every handshake.
//
// Errors, as the status words of docs/protocol.md 16.6: kWrongData (6A 80) a malformed value or
// one out of range; kFileNotFound (6A 82) a protection set the card does not have;
// kReferencedDataNotFound (6A 88) no such resource or user; kNotEnoughMemory (6A 84) no room in NVM,
// the index, the users or the PSK table; kMemoryFailure (65 81) an NVM failure or a damaged store.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "card/os/card_context.hpp"
#include "card/os/card_error.hpp"

namespace scws::card {

class ContentControl {
 public:
  // The most a resource path and a content type may be (the resource store's limits); the admin
  // applet's staging object is laid out with these.
  static constexpr std::size_t kMaxPath = 120;
  static constexpr std::size_t kMaxContentType = 56;
  // The most protection sets PUT USER may name.
  static constexpr std::size_t kMaxUserSets = 8;

  virtual ~ContentControl() = default;

  // Whether a resource of this path, content type and length could be stored (the path and type
  // well formed, the length within the store's limit): kWrongData otherwise. Changes nothing.
  virtual Status<CardError> check_resource(std::string_view path, std::string_view content_type,
                                           u32 length) noexcept = 0;
  // Streaming put, all three within ONE transaction the caller opened: begin reserves the resource
  // (replacing any at that path once the transaction commits), append writes the next bytes in
  // order, finish checks that `length` bytes came and publishes the entry.
  virtual Status<CardError> begin_resource(CardContext& ctx, std::string_view path, std::string_view content_type,
                                           u32 length) noexcept = 0;
  virtual Status<CardError> append_resource(CardContext& ctx, Bytes data) noexcept = 0;
  virtual Status<CardError> finish_resource(CardContext& ctx) noexcept = 0;
  // kReferencedDataNotFound when there is no resource at that path.
  virtual Status<CardError> remove_resource(CardContext& ctx, std::string_view path) noexcept = 0;

  // Adds or replaces the user `name` with a salted hash of `password` and makes it a member of
  // exactly the protection sets named (a set's realm: every path of that set; or a path prefix:
  // that one). kFileNotFound when a name matches no set.
  virtual Status<CardError> put_user(CardContext& ctx, std::string_view name, std::string_view password,
                                     std::span<const std::string_view> sets) noexcept = 0;
  // Removes the user and its memberships; kReferencedDataNotFound for an unknown user.
  virtual Status<CardError> remove_user(CardContext& ctx, std::string_view name) noexcept = 0;

  // Adds the TLS port PSK identity, or replaces the key of an existing one (RFC 4279); it applies
  // from the next handshake.
  virtual Status<CardError> put_tls_psk(CardContext& ctx, Bytes identity, Bytes key) noexcept = 0;
};

}  // namespace scws::card
