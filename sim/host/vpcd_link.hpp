// The card side of the vpcd socket (docs/protocol.md section 10): connects to vpcd (it listens;
// default 127.0.0.1:35963), answers its requests one at a time, and reconnects with exponential
// backoff whenever vpcd is not listening or drops the link, until told to stop. The card object
// outlives every connection: a lost link is a card removal (the card loses power), a new link an
// insertion (power follows vpcd's control bytes).
//
// Latency (docs/protocol.md section 10): vpcd sends length and payload in two writes, so the
// card side sets TCP_NODELAY, re-arms TCP_QUICKACK before every receive and sends each reply
// (length + payload) in one write. Without that every APDU costs about 44 ms.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/bytes.hpp"
#include "sim/host/apdu_pcap.hpp"
#include "sim/host/vpcd_frame.hpp"

namespace scws::sim {

// A stop request that wakes a thread blocked in poll(): an eventfd plus a flag. request() is
// async-signal-safe, so a SIGINT/SIGTERM handler may call it.
class StopSignal {
 public:
  StopSignal();
  ~StopSignal();
  StopSignal(const StopSignal&) = delete;
  StopSignal& operator=(const StopSignal&) = delete;

  void request() noexcept;
  [[nodiscard]] bool requested() const noexcept { return requested_.load(std::memory_order_acquire); }
  // Readable once stop was requested (for poll()).
  [[nodiscard]] int fd() const noexcept { return fd_; }
  // Waits until stop is requested or timeout passes; true when stop was requested.
  bool wait_for(std::chrono::milliseconds timeout) const noexcept;

 private:
  int fd_ = -1;
  std::atomic<bool> requested_{false};
  static_assert(std::atomic<bool>::is_always_lock_free, "used from a signal handler");
};

// Routes SIGINT and SIGTERM to stop.request() until stop is destroyed, and ignores SIGPIPE.
void stop_on_signals(StopSignal& stop);

// "HOST:PORT", "HOST" (default port), "[v6addr]:PORT". Throws std::invalid_argument.
struct HostPort {
  std::string host = "127.0.0.1";
  u16 port = kVpcdDefaultPort;
};
HostPort parse_host_port(std::string_view text, u16 default_port = kVpcdDefaultPort);

// What the link drives: the emulated card (an adapter over card::Card), the benchmark's reference
// card, or a fake in tests. Called from the link's thread only.
class VpcdCard {
 public:
  virtual ~VpcdCard() = default;
  // false with a reason in error when the card cannot power up (e.g. a damaged image).
  virtual bool power_on(std::string& error) = 0;
  virtual void power_off() = 0;
  virtual bool reset(std::string& error) = 0;  // warm reset (ISO 7816-3)
  [[nodiscard]] virtual bool powered() const = 0;
  // The ATR; may be empty (the link then answers with kFallbackAtr: never an empty reply).
  [[nodiscard]] virtual Bytes atr() const = 0;
  // One command APDU in, data + SW1 SW2 out; returns the size (>= 2). response has
  // kVpcdMaxPayload bytes of room.
  virtual std::size_t process(Bytes command, MutableBytes response) = 0;
};

// ISO 7816-3 ATR offering T=0 and T=1, no historical bytes: TS 3B, T0 80 (TD1), TD1 80 (TD2, T=0),
// TD2 01 (T=1), TCK 01 (XOR of T0..TD2).
inline constexpr u8 kFallbackAtr[] = {0x3B, 0x80, 0x80, 0x01, 0x01};

struct VpcdLinkOptions {
  HostPort vpcd;
  std::chrono::milliseconds backoff_initial{50};
  std::chrono::milliseconds backoff_max{2000};
  std::chrono::milliseconds connect_timeout{2000};  // a non-loopback vpcd that does not answer
};

class VpcdLink {
 public:
  using Logger = std::function<void(std::string_view line)>;

  enum class SessionEnd : u8 {
    kPeerClosed,      // vpcd closed the connection (pcscd stopped, reader removed)
    kMalformedFrame,  // the link was closed on a framing error; vpcd sees a card removal
    kIoError,         // a socket error
    kStopped,         // stop was requested
  };

  VpcdLink(VpcdCard& card, VpcdLinkOptions options, const StopSignal& stop);
  ~VpcdLink();
  VpcdLink(const VpcdLink&) = delete;
  VpcdLink& operator=(const VpcdLink&) = delete;

  // One line per connect, disconnect and power event (none per APDU or get ATR).
  void set_logger(Logger logger) { logger_ = std::move(logger); }
  // Every APDU exchange, e.g. a PcapTrace. Not owned.
  void set_trace(ApduTraceSink* trace) noexcept { trace_ = trace; }

  // Connects, serves, reconnects with backoff; returns once stop is requested.
  void run();
  // Serves one connected socket (not closed here) until it ends. run() uses it; so do tests.
  SessionEnd serve(int fd);

  [[nodiscard]] u64 connections() const noexcept { return connections_.load(); }
  [[nodiscard]] u64 apdus() const noexcept { return apdus_.load(); }

 private:
  int connect_once(std::string& error);
  bool handle(const VpcdRequest& request, int fd);
  bool send_frame(int fd, std::size_t payload_size);
  void log(std::string_view line) const;

  VpcdCard& card_;
  VpcdLinkOptions options_;
  const StopSignal& stop_;
  Logger logger_;
  ApduTraceSink* trace_ = nullptr;
  std::vector<u8> rx_;       // socket reads
  std::vector<u8> payload_;  // the parser's frame buffer
  std::vector<u8> tx_;       // header + response, sent in one write
  VpcdFrameParser parser_;
  std::string end_reason_;
  bool exchanged_ = false;   // the current session saw at least one well-formed frame
  std::atomic<u64> connections_{0};
  std::atomic<u64> apdus_{0};
};

const char* describe(VpcdLink::SessionEnd end) noexcept;

}  // namespace scws::sim
