#include "sim/host/emulated_uicc.hpp"

#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "sim/host/host_entropy.hpp"

namespace scws::sim {

namespace {

// The toolkit's client channels once the CAT toolkit offers BIP client mode (it then is a
// card::ClientChannels); until then none (every open_client() answers kNotReady).
template <typename Toolkit>
card::ClientChannels& client_channels_of(Toolkit& toolkit, card::ClientChannels& none) {
  if constexpr (std::is_base_of_v<card::ClientChannels, Toolkit>) {
    (void)none;
    return toolkit;
  } else {
    (void)toolkit;
    return none;
  }
}

}  // namespace

void EmulatedUicc::AlignedFree::operator()(u8* p) const noexcept { ::operator delete[](p, std::align_val_t{16}); }

EmulatedUicc::EmulatedUicc(card::NvmDevice& nvm, std::size_t ram_bytes)
    : agent_(client_channels_of(toolkit_, no_client_channels_), toolkit_.deadlines(), admin_, incidents_, &toolkit_) {
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
