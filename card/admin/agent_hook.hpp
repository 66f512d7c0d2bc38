// How the admin agent (card/admin/admin_agent.hpp) rides on the card's CAT toolkit: the card holds
// this Toolkit (Card::set_toolkit) in place of the CatToolkit, and it forwards every toolkit command
// to the CatToolkit unchanged. Around them it
//   - powers the agent up after the toolkit (so the agent's deadline survives the toolkit's session
//     reset, and the TLS port has carved its region), handing it the TLS region and the card's DRBG;
//   - lets the agent act on a pending trigger after each toolkit command (poll()): a new incident,
//     a CAT session that became ready, so its OPEN CHANNEL goes out in the same proactive session.
// RAM: three references and a pointer.
#pragma once

#include "card/admin/admin_agent.hpp"
#include "card/cat/toolkit.hpp"
#include "card/os/toolkit_hook.hpp"
#include "card/scws/tls_port.hpp"
#include "tls/card_rng.hpp"

namespace scws::card {

class AdminAgentHook final : public Toolkit {
 public:
  // tls_port: where the agent's TLS sessions take their RAM (nullptr: none, sessions fail).
  AdminAgentHook(CatToolkit& toolkit, AdminAgent& agent, TlsPort* tls_port, tls::CardRng& rng) noexcept
      : toolkit_(toolkit), agent_(agent), tls_port_(tls_port), rng_(rng) {}

  Status<CardError> on_power_up(CardContext& ctx) noexcept override {
    auto up = toolkit_.on_power_up(ctx);
    agent_.power_up(ctx, tls_port_ != nullptr ? tls_port_->region() : nullptr, rng_);
    return up;
  }
  Result<ApduOutcome, CardError> terminal_profile(CardContext& ctx, const ApduRequest& request) noexcept override {
    return after(toolkit_.terminal_profile(ctx, request));
  }
  Result<ApduOutcome, CardError> fetch(CardContext& ctx, const ApduRequest& request) noexcept override {
    return toolkit_.fetch(ctx, request);
  }
  Result<ApduOutcome, CardError> terminal_response(CardContext& ctx, const ApduRequest& request) noexcept override {
    return after(toolkit_.terminal_response(ctx, request));
  }
  Result<ApduOutcome, CardError> envelope(CardContext& ctx, const ApduRequest& request) noexcept override {
    return after(toolkit_.envelope(ctx, request));
  }
  [[nodiscard]] u8 pending_proactive_length() const noexcept override { return toolkit_.pending_proactive_length(); }

 private:
  Result<ApduOutcome, CardError> after(Result<ApduOutcome, CardError> r) noexcept {
    agent_.poll();
    return r;
  }

  CatToolkit& toolkit_;
  AdminAgent& agent_;
  TlsPort* tls_port_;
  tls::CardRng& rng_;
};

}  // namespace scws::card
