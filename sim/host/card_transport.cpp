#include "sim/host/card_transport.hpp"

#include <winscard.h>

#include "card/os/card.hpp"
#include "scws_config.hpp"
#include "sim/host/pcsc_client.hpp"

namespace scws::sim {

bool pcsc_card_lost(long code) noexcept {
  switch (code) {
    case SCARD_W_RESET_CARD:
    case SCARD_W_REMOVED_CARD:
    case SCARD_E_NO_SMARTCARD:
    case SCARD_W_UNPOWERED_CARD:
    case SCARD_W_UNRESPONSIVE_CARD:
    case SCARD_E_NOT_TRANSACTED:
    case SCARD_E_INVALID_HANDLE:
    case SCARD_E_READER_UNAVAILABLE:
    case SCARD_E_NO_SERVICE:
    case SCARD_E_UNKNOWN_READER:
      return true;
    default:
      return false;
  }
}

// --- PC/SC ---------------------------------------------------------------------------------------

PcscTransport::PcscTransport(std::string reader)
    : reader_(std::move(reader)), context_(std::make_unique<PcscContext>()) {}

PcscTransport::~PcscTransport() = default;

bool PcscTransport::connect(std::chrono::milliseconds wait) {
  disconnect();
  PcscCardOptions options;
  options.card_wait = wait;
  options.transmit_attempts = 1;  // a reset must reach the gateway: it starts the session over
  try {
    card_ = std::make_unique<PcscCard>(*context_, reader_, options);
  } catch (const PcscError& e) {
    if (e.code() == SCARD_E_NO_SERVICE) {
      // pcscd went away and came back: a fresh context is needed.
      try {
        context_ = std::make_unique<PcscContext>();
      } catch (const PcscError&) {
      }
    }
    return false;
  }
  card_->set_trace(trace_);
  return true;
}

void PcscTransport::disconnect() { card_.reset(); }

std::vector<u8> PcscTransport::transmit(Bytes command) {
  if (!card_) throw CardLost("no card session on reader '" + reader_ + "'");
  try {
    return card_->transmit(command);
  } catch (const PcscError& e) {
    if (!pcsc_card_lost(e.code())) throw;
    card_.reset();
    throw CardLost(e.what());
  }
}

std::string PcscTransport::describe() const { return "reader '" + reader_ + "'"; }

void PcscTransport::set_trace(ApduTraceSink* trace) {
  trace_ = trace;
  if (card_) card_->set_trace(trace);
}

// --- in-process card ----------------------------------------------------------------------------------

DirectTransport::DirectTransport(card::Card& card) : card_(card), response_(SCWS_APDU_BUFFER_SIZE + 2) {}

bool DirectTransport::connect(std::chrono::milliseconds wait) {
  (void)wait;  // an in-process card is there or not: nothing to wait for
  connected_ = false;
  lost_ = false;
  if (removed_) return false;
  if (!card_.powered() && !card_.power_on().ok()) return false;
  connected_ = true;
  return true;
}

std::vector<u8> DirectTransport::transmit(Bytes command) {
  if (lost_ || !connected_) {
    connected_ = false;
    lost_ = false;
    throw CardLost("in-process card: reset or removed");
  }
  std::size_t n = card_.process(command, MutableBytes(response_));
  ++exchanges_;
  std::vector<u8> out(response_.begin(), response_.begin() + static_cast<std::ptrdiff_t>(n));
  if (trace_ != nullptr) trace_->exchange(command, out);
  return out;
}

void DirectTransport::simulate_reset() {
  (void)card_.reset();
  lost_ = true;
}

void DirectTransport::simulate_removal() {
  card_.power_off();
  removed_ = true;
  lost_ = true;
}

}  // namespace scws::sim
