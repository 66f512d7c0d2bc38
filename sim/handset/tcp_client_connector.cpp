#include "sim/handset/tcp_client_connector.hpp"

#include <charconv>
#include <stdexcept>

namespace scws::sim {

namespace cat = apdu::cat;
using asio::ip::tcp;

namespace {

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

TcpClientConnector::TcpClientConnector(asio::io_context& io, TcpClientOptions options)
    : PeerSocketConnector(io, options.linger, "the server closed the connection"), options_(std::move(options)) {}

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

std::shared_ptr<TcpClientConnector::Peer> TcpClientConnector::current(u8 channel) const {
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
  auto peer_ptr = std::make_shared<Peer>(tcp::socket(io_), channel);
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

// --- letting servers go -------------------------------------------------------------------------------

void TcpClientConnector::release(u8 channel, bool graceful) {
  if (channel < 1 || channel > peers_.size()) return;
  if (auto p = std::move(peers_[channel - 1])) detach(p, graceful);
}

void TcpClientConnector::close(u8 channel) { release(channel, true); }

void TcpClientConnector::reset() {
  for (auto& p : peers_) {
    if (p) close_now(*p);
    p.reset();
  }
  close_draining();
}

}  // namespace scws::sim
