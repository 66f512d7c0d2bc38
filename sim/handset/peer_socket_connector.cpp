#include "sim/handset/peer_socket_connector.hpp"

#include <algorithm>

namespace scws::sim {

using asio::ip::tcp;

void PeerSocketConnector::close_now(Peer& peer) {
  std::error_code ec;
  peer.detached = true;
  peer.timer.cancel();
  peer.out.clear();
  if (peer.socket.is_open()) {
    peer.socket.cancel(ec);
    peer.socket.close(ec);
  }
}

// --- reading ------------------------------------------------------------------------------------------

void PeerSocketConnector::start_read(const std::shared_ptr<Peer>& p) {
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

void PeerSocketConnector::on_read(const std::shared_ptr<Peer>& p, const std::error_code& ec, std::size_t n) {
  p->reading = false;
  if (p->detached) {
    // Lingering close: discard what the peer still sends, until its EOF or the linger timer.
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
    events_->peer_closed(p->channel, true, eof_reason_);
    return;
  }
  if (ec) {
    if (ec != asio::error::operation_aborted) events_->peer_closed(p->channel, false, ec.message());
    return;
  }
  start_read(p);
}

void PeerSocketConnector::resume(u8 channel) {
  if (auto p = current(channel)) start_read(p);
}

// --- writing ------------------------------------------------------------------------------------------

void PeerSocketConnector::send(u8 channel, Bytes data) {
  auto p = current(channel);
  if (!p || data.empty()) return;
  p->out.insert(p->out.end(), data.begin(), data.end());
  flush(p);
}

std::size_t PeerSocketConnector::unsent(u8 channel) const {
  auto p = current(channel);
  return p ? p->out.size() : 0;
}

// Eager write: as much as the socket takes now, the rest when it is writable again.
void PeerSocketConnector::flush(const std::shared_ptr<Peer>& p) {
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
    if (p->detached) shutdown_and_linger(p);
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

void PeerSocketConnector::write_failed(const std::shared_ptr<Peer>& p, const std::error_code& ec) {
  p->out.clear();
  if (p->detached) {
    finish_drain(p);
    return;
  }
  // Reported from the io_context: this may be inside the terminal's SEND DATA.
  asio::post(io_, [this, p, why = "write failed: " + ec.message(), alive = alive_] {
    if (*alive && !p->detached && current(p->channel) == p) events_->peer_closed(p->channel, false, why);
  });
}

// --- letting peers go ---------------------------------------------------------------------------------

void PeerSocketConnector::detach(const std::shared_ptr<Peer>& p, bool graceful) {
  p->detached = true;
  if (!graceful || !p->connected || !p->socket.is_open()) {
    close_now(*p);
    return;
  }
  draining_.insert(p);
  p->timer.expires_after(linger_);
  p->timer.async_wait([this, p, alive = alive_](const std::error_code& ec) {
    if (*alive && !ec) finish_drain(p);
  });
  flush(p);
}

void PeerSocketConnector::shutdown_and_linger(const std::shared_ptr<Peer>& p) {
  std::error_code ec;
  p->socket.shutdown(tcp::socket::shutdown_send, ec);
  if (ec || p->peer_eof) {
    finish_drain(p);
    return;
  }
  start_read(p);  // until the peer's EOF: closing with unread data would send a reset
}

void PeerSocketConnector::finish_drain(const std::shared_ptr<Peer>& p) {
  close_now(*p);
  draining_.erase(p);
}

void PeerSocketConnector::close_draining() {
  for (const auto& p : draining_) close_now(*p);
  draining_.clear();
}

}  // namespace scws::sim
