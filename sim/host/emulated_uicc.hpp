// The emulated UICC as scws ships it: the card OS (card::Card) with the CAT toolkit
// (card::CatToolkit), the Smart Card Web Server applet (card::ScwsApplet) and its TLS port
// (card::TlsPort), over an NVM device and a RAM arena of a chosen size. One place builds this, so
// `scws card`, `scws run`, the benchmarks and the tests all run the same card. Beside the SCWS applet,
// the admin applet (card::AdminApplet) with the card's incident queue (card::IncidentQueue), whose
// figures /status shows, and the attack detection (card::Detector) that fills the queue and closes
// attacked ports; the admin applet's content, user and PSK commands reach the SCWS stores through
// card::ScwsContentControl. The SCWS serves what
// the image says (card/scws/scws_settings.hpp: ports, channels, default page, the TLS port's mode, RAM
// and timeout; content, users, protection sets and TLS credentials).
//
// The card's admin agent (card::AdminAgent, card/admin) rides on the toolkit through its hook
// (card::AdminAgentHook, which the card holds as its toolkit) and hears of every new incident through
// the sink the detector appends to; it starts sessions only when the image has an enabled admin link
// (docs/protocol.md section 16; `scws provision` writes it from card.toml [admin]).
//
// Entropy: a real card seeds its DRBG from its TRNG; this one from the host's getrandom(2)
// (sim/host/host_entropy.hpp), once here (personalised with "scws card") and again whenever the DRBG
// reseeds (tls/card_rng.hpp).
//
// Host object: built once, before power-up; the card itself never touches the host heap afterwards.
#pragma once

#include <cstddef>
#include <memory>

#include "card/admin/admin_agent.hpp"
#include "card/admin/agent_hook.hpp"
#include "card/defence/admin_applet.hpp"
#include "card/defence/detector.hpp"
#include "card/defence/incident_queue.hpp"
#include "card/os/card.hpp"
#include "card/scws/scws_applet.hpp"
#include "card/scws/scws_content_control.hpp"
#include "card/cat/toolkit.hpp"
#include "card/os/tracer.hpp"
#include "tls/card_rng.hpp"
#include "card/scws/tls_port.hpp"

namespace scws::sim {

class EmulatedUicc {
 public:
  // nvm must outlive this object; ram_bytes: the card's RAM (a multiple of 16).
  EmulatedUicc(card::NvmDevice& nvm, std::size_t ram_bytes);
  ~EmulatedUicc();
  EmulatedUicc(const EmulatedUicc&) = delete;
  EmulatedUicc& operator=(const EmulatedUicc&) = delete;

  card::Card& card() noexcept { return *card_; }
  card::CatToolkit& toolkit() noexcept { return toolkit_; }
  card::ScwsApplet& scws() noexcept { return scws_; }
  card::TlsPort& tls_port() noexcept { return tls_port_; }
  card::IncidentQueue& incidents() noexcept { return incidents_; }
  card::AdminApplet& admin() noexcept { return admin_; }
  card::Detector& detector() noexcept { return detector_; }
  card::AdminAgent& agent() noexcept { return agent_; }
  const card::AdminAgent& agent() const noexcept { return agent_; }
  const card::TlsPort& tls_port() const noexcept { return tls_port_; }
  void set_trace_sink(card::TraceSink* sink) noexcept { card_->set_trace_sink(sink); }

 private:
  struct AlignedFree {
    void operator()(u8* p) const noexcept;
  };
  std::unique_ptr<u8[], AlignedFree> ram_;
  card::CatToolkit toolkit_;
  tls::CardRng rng_;
  card::TlsPort tls_port_{rng_};
  card::ScwsApplet scws_;
  card::IncidentQueue incidents_;
  card::AdminAgent agent_;
  card::AdminAgent::IncidentTap incident_tap_{incidents_, agent_};
  card::Detector detector_{toolkit_, incident_tap_};
  card::ScwsContentControl content_{rng_};
  card::AdminApplet admin_{incidents_, &detector_};
  card::AdminAgentHook hook_{toolkit_, agent_, &tls_port_, rng_};
  std::unique_ptr<card::Card> card_;
};

}  // namespace scws::sim
