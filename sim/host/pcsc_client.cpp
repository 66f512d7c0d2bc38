#include "sim/host/pcsc_client.hpp"

#include <winscard.h>

#include <algorithm>
#include <cstdio>
#include <type_traits>

namespace scws::sim {

static_assert(std::is_same_v<SCARDCONTEXT, long> && std::is_same_v<SCARDHANDLE, long>,
              "pcsc-lite on Linux: handles are LONG (long); pcsc_client.hpp stores them as long");
static_assert(std::is_same_v<DWORD, unsigned long>);
static_assert(kPcscMaxResponse == MAX_BUFFER_SIZE_EXTENDED);

namespace {

using Clock = std::chrono::steady_clock;

// pcsc-lite's name for "tell me when the set of readers changes" (PC/SC part 5, SCardGetStatusChange).
constexpr char kPnpNotification[] = "\\\\?PnP?\\Notification";

DWORD clamp_timeout(Clock::time_point deadline, std::chrono::milliseconds cap) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  if (left.count() <= 0) return 0;
  return static_cast<DWORD>(std::min(left, cap).count());
}

bool recoverable(LONG rc) {
  return rc == SCARD_W_RESET_CARD || rc == SCARD_W_REMOVED_CARD || rc == SCARD_E_NO_SMARTCARD ||
         rc == SCARD_E_NOT_TRANSACTED || rc == SCARD_W_UNPOWERED_CARD || rc == SCARD_W_UNRESPONSIVE_CARD;
}

}  // namespace

std::string pcsc_error_text(long code) {
  char hex[16];
  std::snprintf(hex, sizeof hex, "0x%08lX", static_cast<unsigned long>(code) & 0xFFFFFFFFUL);
  return std::string(pcsc_stringify_error(code)) + " (" + hex + ")";
}

PcscError::PcscError(const std::string& call, long code)
    : std::runtime_error(call + ": " + pcsc_error_text(code)), code_(code) {}

// ---------------------------------------------------------------------------------------------

PcscContext::PcscContext() {
  SCARDCONTEXT ctx = 0;
  LONG rc = SCardEstablishContext(SCARD_SCOPE_SYSTEM, nullptr, nullptr, &ctx);
  if (rc != SCARD_S_SUCCESS) throw PcscError("SCardEstablishContext (is pcscd running?)", rc);
  context_ = ctx;
}

PcscContext::~PcscContext() { SCardReleaseContext(context_); }

std::vector<std::string> PcscContext::readers() const {
  DWORD size = 0;
  LONG rc = SCardListReaders(context_, nullptr, nullptr, &size);
  if (rc == SCARD_E_NO_READERS_AVAILABLE) return {};
  if (rc != SCARD_S_SUCCESS) throw PcscError("SCardListReaders", rc);
  std::string multi(size, '\0');
  rc = SCardListReaders(context_, nullptr, multi.data(), &size);
  if (rc == SCARD_E_NO_READERS_AVAILABLE) return {};
  if (rc != SCARD_S_SUCCESS) throw PcscError("SCardListReaders", rc);
  // A multi-string: names separated by NUL, ended by an empty name.
  std::vector<std::string> out;
  for (std::size_t at = 0; at < multi.size() && multi[at] != '\0';) {
    std::string name(multi.c_str() + at);
    at += name.size() + 1;
    out.push_back(std::move(name));
  }
  return out;
}

unsigned long PcscContext::reader_state(const std::string& reader, bool& known) const {
  SCARD_READERSTATE state{};
  state.szReader = reader.c_str();
  state.dwCurrentState = SCARD_STATE_UNAWARE;
  LONG rc = SCardGetStatusChange(context_, 0, &state, 1);
  known = rc == SCARD_S_SUCCESS && !(state.dwEventState & SCARD_STATE_UNKNOWN);
  if (rc != SCARD_S_SUCCESS && rc != SCARD_E_TIMEOUT && rc != SCARD_E_UNKNOWN_READER)
    throw PcscError("SCardGetStatusChange", rc);
  return state.dwEventState;
}

bool PcscContext::card_present(const std::string& reader) const {
  bool known = false;
  unsigned long s = reader_state(reader, known);
  return known && (s & SCARD_STATE_PRESENT) && !(s & SCARD_STATE_MUTE);
}

bool PcscContext::wait_for_card(const std::string& reader, std::chrono::milliseconds timeout) const {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    bool known = false;
    unsigned long s = reader_state(reader, known);
    if (known && (s & SCARD_STATE_PRESENT) && !(s & SCARD_STATE_MUTE)) return true;
    DWORD wait = clamp_timeout(deadline, std::chrono::milliseconds(1000));
    if (wait == 0) return false;
    SCARD_READERSTATE state{};
    if (known) {
      // Blocks in pcscd until this reader's state changes (or the bounded wait ends).
      state.szReader = reader.c_str();
      state.dwCurrentState = s & ~SCARD_STATE_CHANGED;
    } else {
      // The reader is not there yet: wait until the number of readers changes.
      state.szReader = kPnpNotification;
      state.dwCurrentState = static_cast<DWORD>(readers().size()) << 16;
    }
    LONG rc = SCardGetStatusChange(context_, wait, &state, 1);
    if (rc != SCARD_S_SUCCESS && rc != SCARD_E_TIMEOUT && rc != SCARD_E_UNKNOWN_READER)
      throw PcscError("SCardGetStatusChange", rc);
  }
}

bool PcscContext::wait_for_change(const std::string& reader, std::chrono::milliseconds timeout) const {
  bool known = false;
  unsigned long s = reader_state(reader, known);
  if (!known) return false;
  SCARD_READERSTATE state{};
  state.szReader = reader.c_str();
  state.dwCurrentState = s & ~SCARD_STATE_CHANGED;
  LONG rc = SCardGetStatusChange(context_, static_cast<DWORD>(timeout.count()), &state, 1);
  return rc == SCARD_S_SUCCESS;
}

// ---------------------------------------------------------------------------------------------

PcscCard::PcscCard(const PcscContext& context, std::string reader, PcscCardOptions options)
    : context_(context), reader_(std::move(reader)), options_(options) {
  if (!context_.wait_for_card(reader_, options_.card_wait)) {
    auto known = context_.readers();
    bool exists = std::find(known.begin(), known.end(), reader_) != known.end();
    throw PcscError(exists ? "no card in reader '" + reader_ + "'" : "no reader '" + reader_ + "'",
                    exists ? SCARD_E_NO_SMARTCARD : SCARD_E_UNKNOWN_READER);
  }
  SCARDHANDLE card = 0;
  DWORD protocol = 0;
  LONG rc = SCardConnect(context_.handle(), reader_.c_str(), SCARD_SHARE_SHARED,
                         SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, &card, &protocol);
  if (rc != SCARD_S_SUCCESS) throw PcscError("SCardConnect '" + reader_ + "'", rc);
  card_ = card;
  protocol_ = protocol;
  connected_ = true;
}

PcscCard::~PcscCard() {
  if (connected_) SCardDisconnect(card_, SCARD_LEAVE_CARD);
}

void PcscCard::reconnect() {
  context_.wait_for_card(reader_, options_.recovery_wait);
  DWORD protocol = 0;
  LONG rc = SCardReconnect(card_, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1,
                           SCARD_LEAVE_CARD, &protocol);
  if (rc != SCARD_S_SUCCESS) throw PcscError("SCardReconnect '" + reader_ + "'", rc);
  protocol_ = protocol;
}

std::size_t PcscCard::transmit(Bytes command, MutableBytes response) {
  for (int attempt = 1;; ++attempt) {
    const SCARD_IO_REQUEST* pci = protocol_ == SCARD_PROTOCOL_T0 ? SCARD_PCI_T0 : SCARD_PCI_T1;
    DWORD length = static_cast<DWORD>(response.size());
    LONG rc = SCardTransmit(card_, pci, command.data(), static_cast<DWORD>(command.size()), nullptr,
                            response.data(), &length);
    if (rc == SCARD_S_SUCCESS) {
      if (trace_ != nullptr) trace_->exchange(command, Bytes(response.data(), length));
      return length;
    }
    if (!recoverable(rc) || attempt >= options_.transmit_attempts) throw PcscError("SCardTransmit", rc);
    ++recoveries_;
    if (rc != SCARD_W_RESET_CARD) {
      // Removed, unpowered or not transacted: pcscd has not seen the card come back yet. Wait
      // for its next presence poll to change the reader state (bounded), then reconnect.
      context_.wait_for_change(reader_, options_.recovery_wait);
    }
    try {
      reconnect();
    } catch (const PcscError&) {
      if (attempt + 1 >= options_.transmit_attempts) throw;
    }
  }
}

std::vector<u8> PcscCard::transmit(Bytes command) {
  std::vector<u8> response(kPcscMaxResponse);
  response.resize(transmit(command, MutableBytes(response)));
  return response;
}

std::vector<u8> PcscCard::atr() const {
  char name[MAX_READERNAME + 1];
  DWORD name_length = sizeof name;
  DWORD state = 0;
  DWORD protocol = 0;
  u8 atr[MAX_ATR_SIZE];
  DWORD atr_length = sizeof atr;
  LONG rc = SCardStatus(card_, name, &name_length, &state, &protocol, atr, &atr_length);
  if (rc != SCARD_S_SUCCESS) throw PcscError("SCardStatus", rc);
  return std::vector<u8>(atr, atr + atr_length);
}

}  // namespace scws::sim
