#include "sim/admin/admin_server.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <array>
#include <cstring>
#include <list>
#include <stdexcept>

#include <asio/ssl.hpp>

namespace scws::sim::admin {

namespace {
using asio::ip::tcp;
using TlsStream = asio::ssl::stream<tcp::socket>;

std::string peer_of(const tcp::socket& s) {
  std::error_code ec;
  const auto ep = s.remote_endpoint(ec);
  return ec ? std::string("?") : ep.address().to_string() + ":" + std::to_string(ep.port());
}

// The Connection behind an SSL object. Not SSL_set_app_data: asio's engine keeps its verify
// callback there.
int connection_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

std::string openssl_reason(const std::error_code& ec) {
  if (ec.category() == asio::error::get_ssl_category()) {
    const char* r = ERR_reason_error_string(static_cast<unsigned long>(ec.value()));
    if (r != nullptr) return r;
  }
  return ec.message();
}

}  // namespace

struct Connection;

struct AdminServer::Impl {
  asio::io_context& io;
  Store& store;
  AdminServerOptions options;
  AdminSessions sessions;
  asio::ssl::context tls{asio::ssl::context::tls_server};
  tcp::acceptor acceptor;
  std::list<std::weak_ptr<Connection>> connections;
  std::atomic<std::uint64_t> accepted{0}, refused{0};
  bool running = false;

  Impl(asio::io_context& io_, Store& store_, AdminServerOptions options_)
      : io(io_), store(store_), options(std::move(options_)), sessions(store_, options.uri, options.log), acceptor(io_) {}

  void log(const std::string& line) const {
    if (options.log) options.log(line);
  }
  void accept();
  static unsigned psk_callback(SSL* ssl, const char* identity, unsigned char* psk, unsigned max_len);
};

// One TLS connection: handshake, then requests one at a time, each answered before the next is read.
struct Connection : std::enable_shared_from_this<Connection> {
  static constexpr std::size_t kReadSize = 16 * 1024;
  static constexpr std::size_t kMaxBuffered = kMaxHead + kMaxBody + 64 * 1024;  // a request and its chunk framing

  AdminServer::Impl& server;
  TlsStream stream;
  asio::steady_timer timer;
  std::string peer;
  std::string identity;     // the PSK identity the handshake offered
  std::string iccid;        // the card it belongs to (empty: unknown)
  bool identity_known = false;
  std::string in;
  std::array<char, kReadSize> chunk{};
  std::string out;
  bool closing = false;

  Connection(AdminServer::Impl& s, tcp::socket socket)
      : server(s), stream(std::move(socket), s.tls), timer(s.io) {
    peer = peer_of(stream.next_layer());
    SSL_set_ex_data(stream.native_handle(), connection_index(), this);
  }

  void arm(std::chrono::seconds after) {
    timer.expires_after(after);
    timer.async_wait([self = shared_from_this()](const std::error_code& ec) {
      if (ec == asio::error::operation_aborted) return;
      if (self->timer.expiry() > asio::steady_timer::clock_type::now()) return;  // re-armed meanwhile
      self->server.log("closing an idle connection from " + self->peer);
      self->close();
    });
  }

  void close() {
    closing = true;
    std::error_code ec;
    timer.cancel();
    stream.next_layer().shutdown(tcp::socket::shutdown_both, ec);
    stream.next_layer().close(ec);
  }

  void start() {
    arm(server.options.handshake_timeout);
    stream.async_handshake(asio::ssl::stream_base::server, [self = shared_from_this()](const std::error_code& ec) {
      self->on_handshake(ec);
    });
  }

  void on_handshake(const std::error_code& ec) {
    if (ec) {
      ++server.refused;
      if (!identity_known) {
        if (identity.empty()) server.log("TLS handshake from " + peer + " failed: " + openssl_reason(ec));
      } else {
        // The identity was known, so the key was wrong: a pending rotated key is tried next time.
        server.log("TLS handshake of " + identity + " from " + peer + " failed: " + openssl_reason(ec));
        try {
          server.store.add_auth_failure(AuthFailure{now_seconds(), peer, identity, "handshake failed: " + openssl_reason(ec)});
          server.store.flip_key_choice(iccid);
        } catch (const StoreError& e) {
          server.log(std::string("store error: ") + e.what());
        }
      }
      close();
      return;
    }
    read();
  }

  void read() {
    if (closing) return;
    arm(server.options.idle_timeout);
    stream.async_read_some(asio::buffer(chunk), [self = shared_from_this()](const std::error_code& ec, std::size_t n) {
      if (ec) {
        self->close();  // the card closed (close_notify or TCP), or the timer did
        return;
      }
      self->in.append(self->chunk.data(), n);
      self->process();
    });
  }

  void process() {
    std::optional<ParsedRequest> parsed;
    try {
      parsed = parse_request(in);
      if (!parsed && in.size() > kMaxBuffered) throw ProtocolError(413, "request too large");
    } catch (const ProtocolError& e) {
      server.log("bad request from " + peer + " (" + identity + "): " + std::to_string(e.status()) + " " + e.what());
      respond(error_response(e.status(), e.what()));
      return;
    }
    if (!parsed) {
      read();
      return;
    }
    if (server.options.dump) server.options.dump(dump_http("card -> server (" + identity + ")", std::string_view(in).substr(0, parsed->consumed)));
    in.erase(0, parsed->consumed);
    HttpResponse r = server.sessions.handle(parsed->request, iccid, peer);
    if (!parsed->request.keep_alive) r.close = true;
    respond(r);
  }

  void respond(const HttpResponse& r) {
    out = r.serialize();
    if (server.options.dump) server.options.dump(dump_http("server -> card (" + identity + ")", out));
    const bool last = r.close;
    asio::async_write(stream, asio::buffer(out), [self = shared_from_this(), last](const std::error_code& ec, std::size_t) {
      if (ec) {
        self->close();
        return;
      }
      if (last) {
        self->arm(std::chrono::seconds(2));  // bounds the wait for the card's close_notify
        self->stream.async_shutdown([self](const std::error_code&) { self->close(); });
        return;
      }
      self->process();  // a pipelined request may already be buffered
    });
  }
};

unsigned AdminServer::Impl::psk_callback(SSL* ssl, const char* identity, unsigned char* psk, unsigned max_len) {
  auto* conn = static_cast<Connection*>(SSL_get_ex_data(ssl, connection_index()));
  if (conn == nullptr) return 0;
  Impl& self = conn->server;
  conn->identity = identity != nullptr ? identity : "";
  std::optional<CardRecord> card;
  try {
    card = self.store.card_by_identity(conn->identity);
  } catch (const StoreError& e) {
    self.log(std::string("store error looking up a PSK identity: ") + e.what());
    return 0;
  }
  if (!card) {
    try {
      self.store.add_auth_failure(AuthFailure{now_seconds(), conn->peer, conn->identity, "unknown identity"});
    } catch (const StoreError& e) {
      self.log(std::string("store error: ") + e.what());
    }
    // Logged once the row is written, so that whoever sees the line finds the row.
    self.log("unknown PSK identity \"" + conn->identity + "\" from " + conn->peer + ": handshake refused");
    return 0;  // OpenSSL answers unknown_psk_identity
  }
  const Blob& key = (!card->pending_psk_key.empty() && card->use_pending) ? card->pending_psk_key : card->psk_key;
  if (key.empty() || key.size() > max_len) return 0;
  conn->iccid = card->iccid;
  conn->identity_known = true;
  std::memcpy(psk, key.data(), key.size());
  return static_cast<unsigned>(key.size());
}

void AdminServer::Impl::accept() {
  acceptor.async_accept([this](const std::error_code& ec, tcp::socket socket) {
    if (!running) return;
    if (!ec) {
      connections.remove_if([](const std::weak_ptr<Connection>& c) { return c.expired(); });
      if (connections.size() >= options.max_connections) {
        std::error_code ignore;
        socket.close(ignore);
        log("connection limit reached: one refused");
      } else {
        ++accepted;
        auto c = std::make_shared<Connection>(*this, std::move(socket));
        connections.push_back(c);
        c->start();
      }
    }
    accept();
  });
}

AdminServer::AdminServer(asio::io_context& io, Store& store, AdminServerOptions options)
    : impl_(std::make_unique<Impl>(io, store, std::move(options))) {
  SSL_CTX* ctx = impl_->tls.native_handle();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  if (SSL_CTX_set_cipher_list(ctx, kCiphers) != 1) throw std::runtime_error("scws admin: OpenSSL refuses the PSK suites");
  SSL_CTX_set_psk_server_callback(ctx, &Impl::psk_callback);
}

AdminServer::~AdminServer() = default;

void AdminServer::start() {
  std::error_code ec;
  const auto address = asio::ip::make_address(impl_->options.address, ec);
  if (ec) throw std::runtime_error("scws admin: bad listen address " + impl_->options.address);
  const tcp::endpoint ep(address, impl_->options.port);
  impl_->acceptor.open(ep.protocol());
  impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  impl_->acceptor.bind(ep, ec);
  if (ec) throw std::runtime_error("scws admin: cannot listen on " + impl_->options.address + ":" + std::to_string(impl_->options.port) + ": " + ec.message());
  impl_->acceptor.listen();
  port_ = impl_->acceptor.local_endpoint().port();
  impl_->running = true;
  impl_->accept();
}

void AdminServer::stop() {
  impl_->running = false;
  std::error_code ec;
  impl_->acceptor.close(ec);
  for (auto& w : impl_->connections)
    if (auto c = w.lock()) c->close();
  impl_->connections.clear();
}

AdminServerStats AdminServer::stats() const noexcept {
  const SessionStats& s = impl_->sessions.stats();
  AdminServerStats out;
  out.sessions = s.sessions;
  out.incidents_stored = s.incidents_stored;
  out.requests = s.requests;
  out.connections = impl_->accepted;
  out.refused_handshakes = impl_->refused;
  return out;
}

std::string dump_http(const std::string& direction, std::string_view message) {
  std::string text = direction + "\n";
  const std::size_t end = message.find("\r\n\r\n");
  const std::string_view head = message.substr(0, end == std::string_view::npos ? message.size() : end);
  std::size_t at = 0;
  while (at < head.size()) {
    const std::size_t eol = head.find("\r\n", at);
    const std::size_t stop = eol == std::string_view::npos ? head.size() : eol;
    text += "  ";
    text += head.substr(at, stop - at);
    text += "\n";
    at = stop == head.size() ? stop : stop + 2;
  }
  if (end == std::string_view::npos) return text;
  const std::string_view body = message.substr(end + 4);
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (std::size_t i = 0; i < body.size(); i += 16) {
    text += "   ";
    for (std::size_t j = i; j < body.size() && j < i + 16; ++j) {
      const auto b = static_cast<unsigned char>(body[j]);
      text += ' ';
      text += kHex[b >> 4];
      text += kHex[b & 15];
    }
    text += "\n";
  }
  return text;
}

}  // namespace scws::sim::admin
