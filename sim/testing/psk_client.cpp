#include "sim/testing/psk_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cstring>

namespace scws::sim::admin::testing {

struct PskClient::Impl {
  int fd = -1;
  SSL_CTX* ctx = nullptr;
  SSL* ssl = nullptr;
  std::string identity;
  Blob key;
  std::string in;

  ~Impl() {
    if (ssl != nullptr) {
      SSL_shutdown(ssl);
      SSL_free(ssl);
    }
    if (ctx != nullptr) SSL_CTX_free(ctx);
    if (fd >= 0) ::close(fd);
  }

  static unsigned psk_cb(SSL* ssl, const char*, char* identity, unsigned max_identity, unsigned char* psk, unsigned max_psk) {
    auto* self = static_cast<Impl*>(SSL_get_app_data(ssl));
    if (self->identity.size() + 1 > max_identity || self->key.size() > max_psk) return 0;
    std::memcpy(identity, self->identity.c_str(), self->identity.size() + 1);
    std::memcpy(psk, self->key.data(), self->key.size());
    return static_cast<unsigned>(self->key.size());
  }

  std::string ssl_error() {
    std::string s;
    for (unsigned long e; (e = ERR_get_error()) != 0;) {
      const char* r = ERR_reason_error_string(e);
      s += (s.empty() ? "" : "; ") + std::string(r != nullptr ? r : "?");
    }
    return s;
  }

  // Reads more bytes; false at the end of the connection.
  bool more() {
    char buf[16384];
    const int n = SSL_read(ssl, buf, sizeof buf);
    if (n <= 0) return false;
    in.append(buf, static_cast<std::size_t>(n));
    return true;
  }
};

PskClient::PskClient(const std::string& host, std::uint16_t port, const std::string& identity, const Blob& key, const char* ciphers)
    : impl_(std::make_unique<Impl>()) {
  impl_->identity = identity;
  impl_->key = key;
  impl_->fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  if (inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) throw std::runtime_error("bad address " + host);
  if (::connect(impl_->fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("connect failed");
  timeval tv{10, 0};
  setsockopt(impl_->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  impl_->ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(impl_->ctx, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(impl_->ctx, TLS1_2_VERSION);
  SSL_CTX_set_cipher_list(impl_->ctx, ciphers);
  SSL_CTX_set_psk_client_callback(impl_->ctx, &Impl::psk_cb);
  impl_->ssl = SSL_new(impl_->ctx);
  SSL_set_app_data(impl_->ssl, impl_.get());
  SSL_set_fd(impl_->ssl, impl_->fd);
  if (SSL_connect(impl_->ssl) != 1) throw std::runtime_error("handshake failed: " + impl_->ssl_error());
}

PskClient::~PskClient() = default;

void PskClient::send(const std::string& bytes) {
  std::size_t at = 0;
  while (at < bytes.size()) {
    const int n = SSL_write(impl_->ssl, bytes.data() + at, static_cast<int>(bytes.size() - at));
    if (n <= 0) throw std::runtime_error("write failed: " + impl_->ssl_error());
    at += static_cast<std::size_t>(n);
  }
}

HttpAnswer PskClient::read_answer() {
  std::string& in = impl_->in;
  std::size_t end;
  while ((end = in.find("\r\n\r\n")) == std::string::npos)
    if (!impl_->more()) throw std::runtime_error("the server closed before answering");
  HttpAnswer a;
  const std::string head = in.substr(0, end);
  a.status = std::stoi(head.substr(9, 3));
  std::size_t at = head.find("\r\n");
  std::size_t length = 0;
  while (at != std::string::npos && at < head.size()) {
    const std::size_t next = head.find("\r\n", at + 2);
    const std::string line = head.substr(at + 2, (next == std::string::npos ? head.size() : next) - at - 2);
    const std::size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      if (name == "content-length") length = std::stoul(value);
      a.headers.emplace_back(name, value);
    }
    at = next;
  }
  in.erase(0, end + 4);
  while (in.size() < length)
    if (!impl_->more()) throw std::runtime_error("the server closed inside a body");
  a.body = in.substr(0, length);
  in.erase(0, length);
  return a;
}

bool PskClient::closed_by_server(int timeout_ms) {
  pollfd p{impl_->fd, POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) <= 0) return false;
  return !impl_->more();
}

std::string PskClient::cipher() const { return SSL_get_cipher_name(impl_->ssl); }

}  // namespace scws::sim::admin::testing
