// A small C++ face on libpcsclite (pcsc-lite 1.9.9, PC/SC part 5): a context, the readers, waiting
// for a card, and a connected card that transmits APDUs. Errors are PcscError exceptions carrying
// the PC/SC code and pcsc_stringify_error's text (docs/architecture.md, "Host-side rules").
//
// Recovery (docs/protocol.md section 10): after the emulated card reconnects to vpcd, or pcscd powers an idle
// card down and up again, a transmit fails with SCARD_W_RESET_CARD, SCARD_W_REMOVED_CARD or
// SCARD_E_NOT_TRANSACTED until pcscd's next presence poll (every 400 ms). transmit() then waits
// for the reader's state to change (bounded, through SCardGetStatusChange, never a sleep),
// reconnects, and retries a bounded number of times.
//
// The PC/SC types stay out of this header: handles are stored as the integers they are.
#pragma once

#include <chrono>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/bytes.hpp"
#include "sim/host/apdu_pcap.hpp"

namespace scws::sim {

class PcscError : public std::runtime_error {
 public:
  // call: the PC/SC function or what was being done; code: its LONG result.
  PcscError(const std::string& call, long code);
  [[nodiscard]] long code() const noexcept { return code_; }

 private:
  long code_;
};

// "SCardTransmit: Card was reset. (0x80100068)".
std::string pcsc_error_text(long code);

class PcscContext {
 public:
  PcscContext();  // SCardEstablishContext(SCARD_SCOPE_SYSTEM); throws PcscError (e.g. no pcscd)
  ~PcscContext();
  PcscContext(const PcscContext&) = delete;
  PcscContext& operator=(const PcscContext&) = delete;

  // The readers pcscd knows now; empty when there are none.
  [[nodiscard]] std::vector<std::string> readers() const;
  // Waits (bounded) until a card is present in reader; false when timeout passes first. A reader
  // that does not exist (yet) is waited for too.
  bool wait_for_card(const std::string& reader, std::chrono::milliseconds timeout) const;
  // Waits (bounded) until the reader's state differs from the one seen at the call, e.g. the card
  // was removed or inserted. Returns false on timeout.
  bool wait_for_change(const std::string& reader, std::chrono::milliseconds timeout) const;
  [[nodiscard]] bool card_present(const std::string& reader) const;

  [[nodiscard]] long handle() const noexcept { return context_; }

 private:
  [[nodiscard]] unsigned long reader_state(const std::string& reader, bool& known) const;
  long context_ = 0;
};

struct PcscCardOptions {
  std::chrono::milliseconds card_wait{5000};  // how long connect() waits for a card
  int transmit_attempts = 5;                  // first try + retries after a reset/removal
  std::chrono::milliseconds recovery_wait{1500};  // per retry: waiting for pcscd to see the card again
};

class PcscCard {
 public:
  // Waits for a card in reader (options.card_wait), then SCardConnect(SCARD_SHARE_SHARED, T0|T1).
  PcscCard(const PcscContext& context, std::string reader, PcscCardOptions options = {});
  ~PcscCard();  // SCardDisconnect(SCARD_LEAVE_CARD)
  PcscCard(const PcscCard&) = delete;
  PcscCard& operator=(const PcscCard&) = delete;

  // Sends one APDU; returns data + SW1 SW2. Retries as described above; throws PcscError.
  std::vector<u8> transmit(Bytes command);
  // The same without allocating: writes into response (room for MAX_BUFFER_SIZE_EXTENDED is
  // always enough) and returns the size.
  std::size_t transmit(Bytes command, MutableBytes response);

  [[nodiscard]] std::vector<u8> atr() const;
  [[nodiscard]] const std::string& reader() const noexcept { return reader_; }
  [[nodiscard]] unsigned long protocol() const noexcept { return protocol_; }  // SCARD_PROTOCOL_T0/T1
  // Reconnects after a reset or removal (waits for the card first). Throws PcscError.
  void reconnect();
  // Every exchange that succeeded, e.g. a PcapTrace. Not owned.
  void set_trace(ApduTraceSink* trace) noexcept { trace_ = trace; }
  // How many times transmit() had to recover (for tests and the benchmark's honesty).
  [[nodiscard]] u64 recoveries() const noexcept { return recoveries_; }

 private:
  const PcscContext& context_;
  std::string reader_;
  PcscCardOptions options_;
  long card_ = 0;
  unsigned long protocol_ = 0;
  bool connected_ = false;
  ApduTraceSink* trace_ = nullptr;
  u64 recoveries_ = 0;
};

inline constexpr std::size_t kPcscMaxResponse = 4 + 3 + (1 << 16) + 3 + 2;  // MAX_BUFFER_SIZE_EXTENDED

}  // namespace scws::sim
