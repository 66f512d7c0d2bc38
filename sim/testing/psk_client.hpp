// A blocking TLS 1.2 PSK client on OpenSSL for the admin server's tests, the e2e client
// (scws-admin-test-client) and `scws bench admin`: connects, posts requests on one connection, reads the answers.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace scws::sim::admin::testing {

using Blob = std::vector<std::uint8_t>;

struct HttpAnswer {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  [[nodiscard]] std::string header(const std::string& lower_name) const {
    for (const auto& [n, v] : headers)
      if (n == lower_name) return v;
    return "";
  }
};

class PskClient {
 public:
  // Throws std::runtime_error when the connection or the handshake fails (what() says which; the
  // handshake's text holds OpenSSL's reason, e.g. "unknown psk identity").
  PskClient(const std::string& host, std::uint16_t port, const std::string& identity, const Blob& key,
            const char* ciphers = "PSK-AES128-CBC-SHA256");
  ~PskClient();
  PskClient(const PskClient&) = delete;
  PskClient& operator=(const PskClient&) = delete;

  void send(const std::string& bytes);
  // One response (Content-Length or none for 204); throws when the server closes first.
  HttpAnswer read_answer();
  HttpAnswer request(const std::string& bytes) {
    send(bytes);
    return read_answer();
  }
  // True when the server closed the connection (reads 0 bytes within the timeout).
  bool closed_by_server(int timeout_ms = 3000);
  [[nodiscard]] std::string cipher() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace scws::sim::admin::testing
