#include "sim/handset/tcp_server_connector.hpp"

namespace scws::sim {

namespace cat = apdu::cat;
using asio::ip::tcp;

struct TcpServerConnector::Listener {
  Listener(asio::io_context& io, u16 card, u16 local) : card_port(card), local_port(local), acceptor(io) {}
  u16 card_port;
  u16 local_port;
  tcp::acceptor acceptor;
  bool accepting = false;
  std::deque<tcp::socket> waiting;  // accepted while no channel asked (a race): served first
};

namespace {

void close_acceptor(auto& listener) {
  std::error_code ec;
  if (listener.acceptor.is_open()) {
    listener.acceptor.cancel(ec);
    listener.acceptor.close(ec);
  }
  for (auto& s : listener.waiting) s.close(ec);
  listener.waiting.clear();
}

}  // namespace

TcpServerConnector::TcpServerConnector(asio::io_context& io, TcpServerOptions options)
    : PeerSocketConnector(io, options.linger, "closed its connection"), options_(std::move(options)) {}

TcpServerConnector::~TcpServerConnector() {
  *alive_ = false;
  reset();
}

void TcpServerConnector::log(const std::string& line) const {
  if (options_.log) options_.log(line);
}

// --- listeners ----------------------------------------------------------------------------------------

u16 TcpServerConnector::local_port_for(u16 card_port) const {
  if (auto s = sticky_ports_.find(card_port); s != sticky_ports_.end()) return s->second;
  if (auto m = options_.port_map.find(card_port); m != options_.port_map.end()) return m->second;
  return card_port;
}

// The listening socket for a card port: the existing one, or a new one. nullptr when the bind fails.
std::shared_ptr<TcpServerConnector::Listener> TcpServerConnector::listener_for(u16 card_port, std::error_code& ec) {
  if (auto it = listeners_.find(card_port); it != listeners_.end()) return it->second;
  const u16 local = local_port_for(card_port);
  const auto address = asio::ip::make_address(options_.listen_address, ec);
  if (ec) return nullptr;
  auto l = std::make_shared<Listener>(io_, card_port, local);
  const tcp::endpoint ep(address, local);
  l->acceptor.open(ep.protocol(), ec);
  if (!ec) l->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) l->acceptor.bind(ep, ec);
  if (!ec) l->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (!ec) l->local_port = l->acceptor.local_endpoint(ec).port();
  if (ec) return nullptr;
  if (local == 0) sticky_ports_[card_port] = l->local_port;
  listeners_[card_port] = l;
  if (options_.on_listen) options_.on_listen(card_port, options_.listen_address, l->local_port);
  return l;
}

OpenOutcome TcpServerConnector::open(u8 channel, const cat::OpenChannelParams& p) {
  OpenOutcome o;
  Slot* s = slot(channel);
  const u16 card_port = p.transport_level.port;
  std::error_code ec;
  auto l = s != nullptr ? listener_for(card_port, ec) : nullptr;
  o.local_port = l ? l->local_port : local_port_for(card_port);
  o.endpoint = options_.listen_address + ":" + std::to_string(o.local_port);
  if (!l) {
    o.cause = cat::BipCause::kPortNotAvailable;  // TS 102 223 8.12.11
    o.error = ec ? ec.message() : std::string("no such channel");
    if (ec && options_.on_listen_failure) options_.on_listen_failure(card_port, o.local_port, ec);
    return o;
  }
  s->listener = l;
  s->peer.reset();
  s->wants_peer = 0;
  o.ok = true;
  return o;
}

void TcpServerConnector::close_listener_if_unused(const std::shared_ptr<Listener>& l) {
  if (!l) return;
  for (const Slot& other : slots_)
    if (other.listener == l) return;
  log("stopped listening on " + options_.listen_address + ":" + std::to_string(l->local_port) + " (card port " +
      std::to_string(l->card_port) + ")");
  close_acceptor(*l);
  listeners_.erase(l->card_port);
}

std::optional<u16> TcpServerConnector::local_port(u16 card_port) const {
  auto it = listeners_.find(card_port);
  if (it == listeners_.end()) return std::nullopt;
  return it->second->local_port;
}

bool TcpServerConnector::accepting(u16 card_port) const {
  auto it = listeners_.find(card_port);
  return it != listeners_.end() && it->second->accepting;
}

// --- accepting clients --------------------------------------------------------------------------------

TcpServerConnector::Slot* TcpServerConnector::slot(u8 channel) {
  return channel >= 1 && channel <= slots_.size() ? &slots_[channel - 1] : nullptr;
}

const TcpServerConnector::Slot* TcpServerConnector::slot(u8 channel) const {
  return channel >= 1 && channel <= slots_.size() ? &slots_[channel - 1] : nullptr;
}

// The channel of this listener that asked first for a client and has none; 0: none.
u8 TcpServerConnector::waiting_channel(const std::shared_ptr<Listener>& l) const {
  u8 best = 0;
  u64 asked = 0;
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    const Slot& s = slots_[i];
    if (s.listener != l || s.peer || s.wants_peer == 0) continue;
    if (best == 0 || s.wants_peer < asked) {
      best = static_cast<u8>(i + 1);
      asked = s.wants_peer;
    }
  }
  return best;
}

void TcpServerConnector::accept(u8 channel) {
  Slot* s = slot(channel);
  if (s == nullptr || !s->listener) return;
  s->wants_peer = next_ask_++;
  // Not from inside the terminal's call: a client may be waiting already.
  asio::post(io_, [this, l = s->listener, alive = alive_] {
    if (*alive) maybe_accept(l);
  });
}

void TcpServerConnector::maybe_accept(const std::shared_ptr<Listener>& l) {
  if (!l->acceptor.is_open()) return;
  while (!l->waiting.empty()) {
    const u8 ch = waiting_channel(l);
    if (ch == 0) return;
    tcp::socket s = std::move(l->waiting.front());
    l->waiting.pop_front();
    attach(ch, std::move(s));
  }
  if (l->accepting || waiting_channel(l) == 0) return;
  l->accepting = true;
  l->acceptor.async_accept([this, l, alive = alive_](const std::error_code& ec, tcp::socket s) {
    if (*alive) on_accept(l, ec, std::move(s));
  });
}

void TcpServerConnector::on_accept(const std::shared_ptr<Listener>& l, const std::error_code& ec, tcp::socket s) {
  l->accepting = false;
  if (ec == asio::error::operation_aborted || !l->acceptor.is_open()) return;
  if (ec) {
    log("accept on port " + std::to_string(l->local_port) + " failed: " + ec.message());
    asio::post(io_, [this, l, alive = alive_] {
      if (*alive) maybe_accept(l);
    });
    return;
  }
  const u8 ch = waiting_channel(l);
  if (ch == 0) {
    l->waiting.push_back(std::move(s));
  } else {
    attach(ch, std::move(s));
  }
  maybe_accept(l);
}

void TcpServerConnector::attach(u8 channel, tcp::socket s) {
  std::error_code ec;
  s.set_option(tcp::no_delay(true), ec);
  s.non_blocking(true, ec);
  auto p = std::make_shared<Peer>(std::move(s), channel);
  p->connected = true;
  Slot& slot_ref = slots_[channel - 1];
  slot_ref.peer = p;
  slot_ref.wants_peer = 0;
  const auto remote = p->socket.remote_endpoint(ec);
  events_->peer_connected(channel, ec ? std::string("?") : remote.address().to_string() + ":" + std::to_string(remote.port()));
  start_read(p);
}

std::shared_ptr<TcpServerConnector::Peer> TcpServerConnector::current(u8 channel) const {
  const Slot* s = slot(channel);
  return s != nullptr ? s->peer : nullptr;
}

// --- letting clients go -------------------------------------------------------------------------------

void TcpServerConnector::release(u8 channel, bool graceful) {
  Slot* s = slot(channel);
  if (s == nullptr) return;
  s->wants_peer = 0;
  if (auto p = std::move(s->peer)) detach(p, graceful);
}

void TcpServerConnector::close(u8 channel) {
  Slot* s = slot(channel);
  if (s == nullptr) return;
  release(channel, true);
  const auto l = std::move(s->listener);
  close_listener_if_unused(l);
}

void TcpServerConnector::reset() {
  for (Slot& s : slots_) {
    if (s.peer) close_now(*s.peer);
    s = Slot{};
  }
  for (auto& [port, l] : listeners_) close_acceptor(*l);
  listeners_.clear();
  close_draining();
}

}  // namespace scws::sim
