// The emulated UICC as scws ships it: the card OS (card::Card) with the CAT toolkit
// (card::CatToolkit) and the Smart Card Web Server applet (card::ScwsApplet), over an NVM device and a
// RAM arena of a chosen size. One place builds this, so `scws card`, `scws run`, the benchmarks and
// the tests all run the same card. The SCWS serves what the image says (card/scws_settings.hpp:
// ports, channels, default page; content, users and protection sets).
//
// Host object: built once, before power-up; the card itself never touches the host heap afterwards.
#pragma once

#include <cstddef>
#include <memory>

#include "card/card.hpp"
#include "card/scws_applet.hpp"
#include "card/toolkit.hpp"
#include "card/trace.hpp"

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
  void set_trace_sink(card::TraceSink* sink) noexcept { card_->set_trace_sink(sink); }

 private:
  struct AlignedFree {
    void operator()(u8* p) const noexcept;
  };
  std::unique_ptr<u8[], AlignedFree> ram_;
  card::CatToolkit toolkit_;
  card::ScwsApplet scws_;
  std::unique_ptr<card::Card> card_;
};

}  // namespace scws::sim
