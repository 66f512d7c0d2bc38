#include "sim/handset/tcp_client_connector.hpp"

#include <algorithm>
#include <charconv>
#include <stdexcept>
#include <vector>

namespace scws::sim {

namespace cat = apdu::cat;
using asio::ip::tcp;

namespace {

constexpr std::size_t kReadChunk = 4096;

// "a.b.c.d:port" with a non-zero port; throws std::invalid_argument naming `whole`.
tcp::endpoint parse_endpoint(std::string_view text, std::string_view whole) {
  const auto colon = text.rfind(':');
  auto bad = [&] { return std::invalid_argument("expected ADDR:PORT=ADDR:PORT (IPv4), got '" + std::string(whole) + "'"); };
  if (colon == std::string_view::npos) throw bad();
  std::error_code ec;
  const auto address = asio::ip::make_address_v4(std::string(text.substr(0, colon)), ec);
  if (ec) throw bad();
  unsigned port = 0;
  const std::string_view p = text.substr(colon + 1);
  auto [end, perr] = std::from_chars(p.data(), p.data() + p.size(), port);
  if (perr != std::errc() || end != p.data() + p.size() || port == 0 || port > 65535) throw bad();
  return tcp::endpoint(address, static_cast<u16>(port));
}

std::string text(const tcp::endpoint& e) { return e.address().to_string() + ":" + std::to_string(e.port()); }

}  // namespace

std::pair<std::string, std::string> parse_connect_map(std::string_view whole) {
  const auto eq = whole.find('=');
  if (eq == std::string_view::npos) parse_endpoint("", whole);  // throws
  return {text(parse_endpoint(whole.substr(0, eq), whole)), text(parse_endpoint(whole.substr(eq + 1), whole))};
}

// The channel's connection to its server. Shared with pending socket operations, so their buffers
// stay alive after the channel let it go (a released server drains in the background).
struct TcpClientConnector::Peer {
  Peer(asio::io_context& io, u8 ch) : socket(io), timer(io), channel(ch) {}
  tcp::socket socket;
  asio::steady_timer timer;  // the connect timeout, then the linger of a graceful release
  u8 channel;
  std::string destination;   // where it connects, for log lines
  std::array<u8, kReadChunk> read_buf{};
  std::vector<u8> out;       // sent by the card, not yet written
  bool connected = false;
  bool reading = false;
  bool writing = false;
  bool peer_eof = false;
  bool detached = false;     // released: no more events; flush `out`, shut down, wait for EOF, close
};

namespace {

void close_now(auto& peer) {
  std::error_code ec;
  peer.detached = true;
  peer.timer.cancel();
  peer.out.clear();
  if (peer.socket.is_open()) {
    peer.socket.cancel(ec);
    peer.socket.close(ec);
  }
}

}  // namespace

TcpClientConnector::TcpClientConnector(asio::io_context& io, TcpClientOptions options)
    : io_(io), options_(std::move(options)) {}

TcpClientConnector::~TcpClientConnector() {
  *alive_ = false;
  reset();
}

void TcpClientConnector::log(const std::string& line) const {
  if (options_.log) options_.log(line);
}

bool TcpClientConnector::serves(const cat::OpenChannelParams& p) const {
  return !p.server_mode() && p.has_transport_level &&
         p.transport_level.protocol == cat::TransportProtocol::kTcpClientRemote && p.destination.present &&
         p.destination.type == cat::address_type::kIpv4 && p.destination.address.size() == 4;
}

std::string TcpClientConnector::mapped(const std::string& destination) const {
  auto it = options_.connect_map.find(destination);
  return it == options_.connect_map.end() ? destination : it->second;
}

std::shared_ptr<TcpClientConnector::Peer> TcpClientConnector::peer(u8 channel) const {
  return channel >= 1 && channel <= peers_.size() ? peers_[channel - 1] : nullptr;
}

OpenOutcome TcpClientConnector::open(u8 channel, const cat::OpenChannelParams& p) {
  OpenOutcome o;
  const Bytes a = p.destination.address;
  const std::string asked = std::to_string(a[0]) + "." + std::to_string(a[1]) + "." + std::to_string(a[2]) + "." +
                            std::to_string(a[3]) + ":" + std::to_string(p.transport_level.port);
  o.endpoint = mapped(asked);
  if (channel < 1 || channel > peers_.size() || p.transport_level.port == 0) {
    o.cause = cat::BipCause::kTransportLevelNotAvailable;
    o.error = "no such channel or port 0";
    return o;
  }
  tcp::endpoint target;
  try {
    target = parse_endpoint(o.endpoint, o.endpoint);
  } catch (const std::invalid_argument& e) {
    o.cause = cat::BipCause::kRemoteDeviceNotReachable;
    o.error = e.what();
    return o;
  }
  if (auto old = std::move(peers_[channel - 1])) close_now(*old);
  auto peer_ptr = std::make_shared<Peer>(io_, channel);
  peer_ptr->destination = o.endpoint;
  peers_[channel - 1] = peer_ptr;
  peer_ptr->timer.expires_after(options_.connect_timeout);
  peer_ptr->timer.async_wait([peer_ptr, alive = alive_](const std::error_code& ec) {
    if (ec || !*alive || peer_ptr->connected || peer_ptr->detached) return;
    std::error_code ignored;
    peer_ptr->socket.close(ignored);  // the connect completes with operation_aborted, reported as a timeout
  });
  peer_ptr->socket.async_connect(target, [this, peer_ptr, alive = alive_](const std::error_code& ec) {
    if (*alive) on_connect(peer_ptr, ec);
  });
  o.ok = true;
  return o;
}

void TcpClientConnector::on_connect(const std::shared_ptr<Peer>& p, const std::error_code& ec) {
  if (p->detached) return;
  if (ec) {
    const bool timed_out = ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor;
    const std::string why = timed_out ? "no answer within " + std::to_string(options_.connect_timeout.count()) + " ms"
                                      : ec.message();
    close_now(*p);
    if (peers_[p->channel - 1] == p) peers_[p->channel - 1].reset();
    events_->peer_closed(p->channel, false, why);
    return;
  }
  p->timer.cancel();
  p->connected = true;
  std::error_code ignored;
  p->socket.set_option(tcp::no_delay(true), ignored);
  p->socket.non_blocking(true, ignored);
  events_->peer_connected(p->channel, p->destination);
  if (!p->detached) {
    flush(p);
    start_read(p);
  }
}

void TcpClientConnector::accept(u8) {}

// --- reading ------------------------------------------------------------------------------------------

void TcpClientConnector::start_read(const std::shared_ptr<Peer>& p) {
  if (p->reading || p->peer_eof || !p->connected || !p->socket.is_open()) return;
  std::size_t room = p->read_buf.size();
  if (!p->detached) {
    room = std::min(room, events_->rx_room(p->channel));
    if (room == 0) return;  // backpressure: the card drains the Rx buffer first
  }
  p->reading = true;
  p->socket.async_read_some(asio::buffer(p->read_buf.data(), room),
                            [this, p, alive = alive_](const std::error_code& ec, std::size_t n) {
                              if (*alive) on_read(p, ec, n);
                            });
}

void TcpClientConnector::on_read(const std::shared_ptr<Peer>& p, const std::error_code& ec, std::size_t n) {
  p->reading = false;
  if (p->detached) {
    // Lingering close: discard what the server still sends, until its EOF or the linger timer.
    if (ec) {
      finish_drain(p);
    } else {
      start_read(p);
    }
    return;
  }
  if (n > 0) events_->peer_data(p->channel, Bytes(p->read_buf.data(), n));
  if (p->detached) return;  // the terminal let it go meanwhile
  if (ec == asio::error::eof) {
    p->peer_eof = true;
    events_->peer_closed(p->channel, true, "the server closed the connection");
    return;
  }
  if (ec) {
    if (ec != asio::error::operation_aborted) events_->peer_closed(p->channel, false, ec.message());
    return;
  }
  start_read(p);
}

void TcpClientConnector::resume(u8 channel) {
  if (auto p = peer(channel)) start_read(p);
}

// --- writing ------------------------------------------------------------------------------------------

void TcpClientConnector::send(u8 channel, Bytes data) {
  auto p = peer(channel);
  if (!p || data.empty()) return;
  p->out.insert(p->out.end(), data.begin(), data.end());
  if (p->connected) flush(p);
}

std::size_t TcpClientConnector::unsent(u8 channel) const {
  auto p = peer(channel);
  return p ? p->out.size() : 0;
}

// Eager write: as much as the socket takes now, the rest when it is writable again.
void TcpClientConnector::flush(const std::shared_ptr<Peer>& p) {
  if (p->writing || !p->connected) return;
  if (!p->out.empty()) {
    std::error_code ec;
    const std::size_t n = p->socket.write_some(asio::buffer(p->out), ec);
    if (ec && ec != asio::error::would_block && ec != asio::error::try_again) {
      write_failed(p, ec);
      return;
    }
    p->out.erase(p->out.begin(), p->out.begin() + static_cast<std::ptrdiff_t>(n));
  }
  if (p->out.empty()) {
    if (p->detached) {
      std::error_code ec;
      p->socket.shutdown(tcp::socket::shutdown_send, ec);
      if (ec || p->peer_eof) {
        finish_drain(p);
      } else {
        start_read(p);  // until the server's EOF: closing with unread data would send a reset
      }
    }
    return;
  }
  p->writing = true;
  p->socket.async_wait(tcp::socket::wait_write, [this, p, alive = alive_](const std::error_code& ec) {
    if (!*alive) return;
    p->writing = false;
    if (ec) {
      if (ec != asio::error::operation_aborted) {
        write_failed(p, ec);
      } else if (p->detached) {
        finish_drain(p);
      }
      return;
    }
    const std::size_t before = p->out.size();
    flush(p);
    if (!p->detached && p->out.size() < before) events_->tx_progress(p->channel);
  });
}

void TcpClientConnector::write_failed(const std::shared_ptr<Peer>& p, const std::error_code& ec) {
  p->out.clear();
  if (p->detached) {
    finish_drain(p);
    return;
  }
  // Reported from the io_context: this may be inside the terminal's SEND DATA.
  asio::post(io_, [this, p, why = "write failed: " + ec.message(), alive = alive_] {
    if (*alive && !p->detached && peer(p->channel) == p) events_->peer_closed(p->channel, false, why);
  });
}

// --- letting servers go -------------------------------------------------------------------------------

void TcpClientConnector::release(u8 channel, bool graceful) {
  if (channel < 1 || channel > peers_.size()) return;
  if (auto p = std::move(peers_[channel - 1])) detach(p, graceful);
}

void TcpClientConnector::detach(const std::shared_ptr<Peer>& p, bool graceful) {
  p->detached = true;
  if (!graceful || !p->connected || !p->socket.is_open()) {
    close_now(*p);
    return;
  }
  draining_.insert(p);
  p->timer.expires_after(options_.linger);
  p->timer.async_wait([this, p, alive = alive_](const std::error_code& ec) {
    if (*alive && !ec) finish_drain(p);
  });
  flush(p);
}

void TcpClientConnector::finish_drain(const std::shared_ptr<Peer>& p) {
  close_now(*p);
  draining_.erase(p);
}

void TcpClientConnector::close(u8 channel) { release(channel, true); }

void TcpClientConnector::reset() {
  for (auto& p : peers_) {
    if (p) close_now(*p);
    p.reset();
  }
  for (const auto& p : draining_) close_now(*p);
  draining_.clear();
}

}  // namespace scws::sim
