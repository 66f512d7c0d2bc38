#include "sim/host/emulated_uicc.hpp"

#include <new>
#include <stdexcept>
#include <string>

#include "sim/host/host_entropy.hpp"

namespace scws::sim {

void EmulatedUicc::AlignedFree::operator()(u8* p) const noexcept { ::operator delete[](p, std::align_val_t{16}); }

EmulatedUicc::EmulatedUicc(card::NvmDevice& nvm, std::size_t ram_bytes)
    : agent_(toolkit_, toolkit_.deadlines(), admin_, incidents_, &toolkit_) {
  if (ram_bytes == 0 || ram_bytes % 16 != 0) {
    throw std::invalid_argument("card RAM must be a positive multiple of 16 bytes, not " + std::to_string(ram_bytes));
  }
  ram_.reset(new (std::align_val_t{16}) u8[ram_bytes]);
  card_ = std::make_unique<card::Card>(nvm, MutableBytes(ram_.get(), ram_bytes));
  static constexpr char kPersonalization[] = "scws card";
  if (!rng_.seed(host_entropy, nullptr, Bytes(reinterpret_cast<const u8*>(kPersonalization), sizeof kPersonalization - 1)))
    throw std::runtime_error("the host's entropy source (getrandom) failed: the card has no randomness for TLS");
  scws_.set_toolkit(toolkit_);
  scws_.set_port_extension(&tls_port_);
  scws_.set_incident_queue(&incidents_);
  admin_.set_content_control(&content_);  // PUT RESOURCE, PUT USER ... (docs/protocol.md 16.6)
  admin_.set_session_control(&agent_);     // START SESSION
  // The agent's hook stands in front of the toolkit (card/admin/agent_hook.hpp).
  if (!card_->set_toolkit(hook_)) throw std::logic_error("the card refused the CAT toolkit");
  // First: its power-up checks the incident queue before anything can report to it.
  if (!card_->add_applet(admin_)) throw std::logic_error("the card refused the admin applet");
  if (!card_->add_applet(scws_)) throw std::logic_error("the card refused the SCWS applet");
}

EmulatedUicc::~EmulatedUicc() {
  if (card_ && card_->powered()) card_->power_off();
}

}  // namespace scws::sim
