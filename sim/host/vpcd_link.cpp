#include "sim/host/vpcd_link.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "apdu/status_word.hpp"
namespace scws::sim {

// ---------------------------------------------------------------------------------------------
// StopSignal

StopSignal::StopSignal() {
  fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
}

namespace {
std::atomic<StopSignal*> g_signal_stop{nullptr};

extern "C" void on_stop_signal(int) {
  if (StopSignal* s = g_signal_stop.load()) s->request();
}
}  // namespace

StopSignal::~StopSignal() {
  StopSignal* self = this;
  if (g_signal_stop.compare_exchange_strong(self, nullptr)) {
    // A late signal must not reach a dead object: back to the default action.
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
  }
  if (fd_ >= 0) ::close(fd_);
}

void StopSignal::request() noexcept {
  requested_.store(true, std::memory_order_release);
  const u64 one = 1;
  [[maybe_unused]] ssize_t n = ::write(fd_, &one, sizeof one);  // EAGAIN only when already signalled
}

bool StopSignal::wait_for(std::chrono::milliseconds timeout) const noexcept {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!requested()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(left.count()) + 1);  // EINTR: loop and re-check
  }
  return true;
}

void stop_on_signals(StopSignal& stop) {
  g_signal_stop.store(&stop);
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a blocking call returns EINTR and its loop re-checks the flag
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);  // a vpcd that vanished is an EPIPE, not a death
}

// ---------------------------------------------------------------------------------------------
// HostPort

HostPort parse_host_port(std::string_view text, u16 default_port) {
  HostPort out;
  out.port = default_port;
  std::string_view host = text;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) throw std::invalid_argument("missing ']' in " + std::string(text));
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') throw std::invalid_argument("expected ':PORT' after ']' in " + std::string(text));
      port = rest.substr(1);
      if (port.empty()) throw std::invalid_argument("empty port in " + std::string(text));
    }
  } else if (auto colon = text.rfind(':'); colon != std::string_view::npos) {
    if (text.find(':') != colon) throw std::invalid_argument("IPv6 addresses need brackets: [ADDR]:PORT");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (port.empty()) throw std::invalid_argument("empty port in " + std::string(text));
  }
  if (host.empty()) throw std::invalid_argument("empty host in '" + std::string(text) + "'");
  out.host = std::string(host);
  if (!port.empty()) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535)
      throw std::invalid_argument("bad port '" + std::string(port) + "' (1-65535)");
    out.port = static_cast<u16>(value);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// VpcdLink

const char* describe(VpcdLink::SessionEnd end) noexcept {
  switch (end) {
    case VpcdLink::SessionEnd::kPeerClosed: return "vpcd closed the link";
    case VpcdLink::SessionEnd::kMalformedFrame: return "malformed frame";
    case VpcdLink::SessionEnd::kIoError: return "socket error";
    case VpcdLink::SessionEnd::kStopped: return "stopped";
  }
  return "unknown";
}

VpcdLink::VpcdLink(VpcdCard& card, VpcdLinkOptions options, const StopSignal& stop)
    : card_(card),
      options_(std::move(options)),
      stop_(stop),
      rx_(kVpcdMaxFrame),
      payload_(kVpcdMaxPayload),
      tx_(kVpcdMaxFrame),
      parser_(MutableBytes(payload_)) {}

VpcdLink::~VpcdLink() = default;

void VpcdLink::log(std::string_view line) const {
  if (logger_) logger_(line);
}

int VpcdLink::connect_once(std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  std::string port = std::to_string(options_.vpcd.port);
  int rc = ::getaddrinfo(options_.vpcd.host.c_str(), port.c_str(), &hints, &found);
  if (rc != 0) {
    error = std::string("cannot resolve ") + options_.vpcd.host + ": " + ::gai_strerror(rc);
    return -1;
  }
  int result = -1;
  for (addrinfo* a = found; a != nullptr && result < 0 && !stop_.requested(); a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      error = std::strerror(errno);
      continue;
    }
    int err = 0;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      err = errno;
      if (err == EINPROGRESS) {
        // Bounded wait for the handshake, interruptible by stop.
        pollfd p[2] = {{fd, POLLOUT, 0}, {stop_.fd(), POLLIN, 0}};
        int n = ::poll(p, 2, static_cast<int>(options_.connect_timeout.count()));
        if (n > 0 && (p[0].revents & (POLLOUT | POLLERR | POLLHUP))) {
          socklen_t len = sizeof err;
          ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        } else {
          err = n == 0 ? ETIMEDOUT : EINTR;
        }
      }
    }
    if (err != 0) {
      error = std::strerror(err);
      ::close(fd);
      continue;
    }
    // Blocking from here on: reads happen after poll() says data is there; a reply is one write.
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    result = fd;
  }
  ::freeaddrinfo(found);
  return result;
}

void VpcdLink::run() {
  const std::string where = options_.vpcd.host + ":" + std::to_string(options_.vpcd.port);
  auto backoff = options_.backoff_initial;
  bool reported = false;  // one line per outage, not one per attempt
  while (!stop_.requested()) {
    std::string error;
    int fd = connect_once(error);
    if (fd < 0) {
      if (stop_.requested()) break;
      if (!reported) {
        log("vpcd at " + where + " not reachable (" + error + "); retrying with backoff up to " +
            std::to_string(options_.backoff_max.count()) + " ms");
        reported = true;
      }
      if (stop_.wait_for(backoff)) break;
      backoff = std::min(backoff * 2, options_.backoff_max);
      continue;
    }
    reported = false;
    ++connections_;
    log("connected to vpcd at " + where);
    SessionEnd end = serve(fd);
    ::close(fd);
    std::string line = "disconnected from vpcd: " + std::string(describe(end));
    if (!end_reason_.empty()) line += " (" + end_reason_ + ")";
    log(line);
    if (card_.powered()) {
      card_.power_off();  // the link was the card's contacts: no link, no power
      log("power off (card removed)");
    }
    if (end == SessionEnd::kStopped) break;
    // A session that worked resets the backoff; one that failed at once (e.g. a second card on a
    // port vpcd already serves, or a peer that is not vpcd) keeps growing it.
    backoff = exchanged_ ? options_.backoff_initial : std::min(backoff * 2, options_.backoff_max);
    if (stop_.wait_for(backoff)) break;
  }
}

VpcdLink::SessionEnd VpcdLink::serve(int fd) {
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  parser_.reset();
  end_reason_.clear();
  exchanged_ = false;
  while (true) {
    if (stop_.requested()) return SessionEnd::kStopped;
    pollfd p[2] = {{fd, POLLIN, 0}, {stop_.fd(), POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      end_reason_ = std::strerror(errno);
      return SessionEnd::kIoError;
    }
    if (p[1].revents != 0 || stop_.requested()) return SessionEnd::kStopped;
    if (p[0].revents == 0) continue;
    // Quick ACK mode ends by itself after a few segments: re-arm it before every read so the
    // 2-byte length vpcd sends first is acknowledged at once (no 40 ms delayed ACK).
    ::setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
    ssize_t n = ::recv(fd, rx_.data(), rx_.size(), 0);
    if (n == 0) return SessionEnd::kPeerClosed;
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      end_reason_ = std::strerror(errno);
      return SessionEnd::kIoError;
    }
    Bytes input(rx_.data(), static_cast<std::size_t>(n));
    while (!input.empty()) {
      auto step = parser_.feed(input);
      input = input.subspan(step.consumed);
      switch (step.event) {
        case VpcdFrameParser::Event::kNeedMore:
          break;
        case VpcdFrameParser::Event::kError:
          end_reason_ = describe(parser_.error());
          return SessionEnd::kMalformedFrame;
        case VpcdFrameParser::Event::kFrame:
          exchanged_ = true;
          if (!handle(parser_.request(), fd)) return SessionEnd::kIoError;
          break;
      }
    }
  }
}

bool VpcdLink::handle(const VpcdRequest& request, int fd) {
  std::string error;
  MutableBytes body = MutableBytes(tx_).subspan(kVpcdHeaderSize);
  switch (request.kind) {
    case VpcdRequestKind::kPowerOff:
      card_.power_off();
      log("power off");
      return true;  // vpcd expects no reply to control bytes 00, 01, 02
    case VpcdRequestKind::kPowerOn:
      if (card_.power_on(error)) {
        log("power on");
      } else {
        log("power on failed: " + error);
      }
      return true;
    case VpcdRequestKind::kReset:
      if (card_.reset(error)) {
        log("reset");
      } else {
        log("reset failed: " + error);
      }
      return true;
    case VpcdRequestKind::kGetAtr: {
      Bytes atr = card_.atr();
      if (atr.empty()) atr = kFallbackAtr;  // an empty reply means "card removed" to vpcd
      std::memcpy(body.data(), atr.data(), atr.size());
      return send_frame(fd, atr.size());
    }
    case VpcdRequestKind::kApdu: {
      if (!card_.powered()) {
        // vpcd did not notice a reconnect (it polls every 400 ms) and still thinks the card is
        // powered: power it as a reader would before the first command.
        if (card_.power_on(error)) {
          log("power on (an APDU arrived while the card was off)");
        } else {
          log("power on failed: " + error);
        }
      }
      std::size_t n = card_.process(request.apdu, body);
      if (n < 2 || n > body.size()) {
        // Contract breach by the card: answer 6F 00 (technical problem) rather than nothing.
        n = apdu::put_status(body, 0, apdu::to_u16(apdu::StatusWord::kTechnicalProblem));
      }
      ++apdus_;
      if (trace_ != nullptr) trace_->exchange(request.apdu, Bytes(body.data(), n));
      return send_frame(fd, n);
    }
  }
  return false;
}

bool VpcdLink::send_frame(int fd, std::size_t payload_size) {
  tx_[0] = static_cast<u8>(payload_size >> 8);
  tx_[1] = static_cast<u8>(payload_size);
  // Length and payload in one write (one TCP segment for small replies).
  std::size_t total = kVpcdHeaderSize + payload_size;
  std::size_t sent = 0;
  while (sent < total) {
    ssize_t n = ::send(fd, tx_.data() + sent, total - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      end_reason_ = std::strerror(errno);
      return false;
    }
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace scws::sim
