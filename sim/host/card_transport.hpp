// How the handset gateway reaches a card: one synchronous, serialised APDU exchange at a time.
// Two implementations: PcscTransport (any PC/SC reader through libpcsclite: the emulated card behind
// pcscd + vpcd, or a real SCWS card) and DirectTransport (an in-process card::Card, for `scws run`
// and the gateway's unit tests).
//
// Contract: connect() waits (bounded) for a card and starts a fresh card session; transmit() sends one
// command APDU and returns the response (data + SW1 SW2). When the card was reset, removed, or its
// process died, transmit() throws CardLost: everything the card knew (proactive session, BIP
// channels) is gone, and the caller must connect() again and start over (TERMINAL PROFILE ...).
// Unlike PcscCard::transmit, the transport never hides a reset by retrying on a fresh card.
#pragma once

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/bytes.hpp"
#include "sim/host/apdu_pcap.hpp"

namespace scws::card {
class Card;
}

namespace scws::sim {

class PcscContext;
class PcscCard;

// The card session ended under the caller: reset, removal, a dead card process.
class CardLost : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class CardTransport {
 public:
  virtual ~CardTransport() = default;
  // Waits up to `wait` for a card and opens a session with it. true when ready; false when no card
  // came (try again later). A session still open is closed first.
  virtual bool connect(std::chrono::milliseconds wait) = 0;
  // Ends the session (the PC/SC connection is released, leaving the card powered as it is).
  virtual void disconnect() = 0;
  [[nodiscard]] virtual bool connected() const = 0;
  // One command APDU in, data + SW1 SW2 out (at least 2 bytes). Throws CardLost (see above); other
  // failures (a transport error that is not a lost card) throw std::runtime_error.
  virtual std::vector<u8> transmit(Bytes command) = 0;
  // Where to show this card in log lines ("reader 'Virtual PCD 00 00'", "in-process card").
  [[nodiscard]] virtual std::string describe() const = 0;
  // Every exchange, e.g. a PcapTrace (not owned; nullptr: none).
  virtual void set_trace(ApduTraceSink* trace) = 0;
};

// A PC/SC reader. The connection stays open between APDUs (keeps the card powered: pcscd powers an
// idle card down 5 s after its last client left, docs/protocol.md section 10).
class PcscTransport final : public CardTransport {
 public:
  // Throws PcscError when pcscd cannot be reached.
  explicit PcscTransport(std::string reader);
  ~PcscTransport() override;

  bool connect(std::chrono::milliseconds wait) override;
  void disconnect() override;
  [[nodiscard]] bool connected() const override { return card_ != nullptr; }
  // SCARD_W_RESET_CARD, SCARD_W_REMOVED_CARD, SCARD_E_NO_SMARTCARD, SCARD_W_UNPOWERED_CARD,
  // SCARD_W_UNRESPONSIVE_CARD, SCARD_E_NOT_TRANSACTED, SCARD_E_INVALID_HANDLE, SCARD_E_READER_UNAVAILABLE
  // -> CardLost (the session is closed); other PC/SC errors -> PcscError.
  std::vector<u8> transmit(Bytes command) override;
  [[nodiscard]] std::string describe() const override;
  void set_trace(ApduTraceSink* trace) override;

 private:
  std::string reader_;
  std::unique_ptr<PcscContext> context_;
  std::unique_ptr<PcscCard> card_;
  ApduTraceSink* trace_ = nullptr;
};

// Whether a PC/SC result code means "the card session is gone" (see PcscTransport::transmit).
bool pcsc_card_lost(long code) noexcept;

// An in-process card. connect() powers it on when it is not powered; simulate_reset() and
// simulate_removal() let tests (and `scws run`) act like a reader whose card was reset or pulled.
class DirectTransport final : public CardTransport {
 public:
  explicit DirectTransport(card::Card& card);

  bool connect(std::chrono::milliseconds wait) override;
  void disconnect() override { connected_ = false; }
  [[nodiscard]] bool connected() const override { return connected_; }
  std::vector<u8> transmit(Bytes command) override;
  [[nodiscard]] std::string describe() const override { return "in-process card"; }
  void set_trace(ApduTraceSink* trace) override { trace_ = trace; }

  // Warm-resets the card now; the next transmit throws CardLost (as PC/SC reports a reset).
  void simulate_reset();
  // Powers the card off and keeps it "out of the reader" until reinsert(): connect() fails meanwhile.
  void simulate_removal();
  void reinsert() { removed_ = false; }
  [[nodiscard]] u64 exchanges() const noexcept { return exchanges_; }

 private:
  card::Card& card_;
  ApduTraceSink* trace_ = nullptr;
  bool connected_ = false;
  bool lost_ = false;
  bool removed_ = false;
  u64 exchanges_ = 0;
  std::vector<u8> response_;
};

}  // namespace scws::sim
