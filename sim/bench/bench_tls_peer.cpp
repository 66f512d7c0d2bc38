// The reference peers of `scws bench tls` (sim/bench/bench_tls.hpp): the same TLS 1.2 server the card runs
// (TlsContext's suites, curve, signature hash, client certificate required, session tickets), one
// full handshake plus a GET answered with a page, repeated, on two other mbedTLS builds. Built twice
// from this one file, because each build defines every mbedtls_* symbol and none can share a binary
// with the card's mbedTLS:
//
//  - scws-bench-stock-tls (SCWS_PEER_STOCK): Debian's packaged libmbedtls 2.28 (16 KiB record
//    buffers, no allocator hook). Its heap is measured by interposing calloc/free in this executable
//    and counting the bytes mbedTLS asked for while the server runs: the idle level (context,
//    credentials) and the peak during the connections.
//  - scws-bench-bufalloc-tls (SCWS_PEER_BUFALLOC): the card's configuration, but with mbedTLS's own
//    buffer allocator (MBEDTLS_MEMORY_BUFFER_ALLOC_C) instead of tls/tls_allocator.hpp. Figure: the
//    smallest static buffer with which every connection succeeds (bisection), like the card's region.
//
// The client is this same program in a forked child (one per connection, over a socketpair), so
// that its allocations never touch the server's heap or buffer. Host code; the output is one JSON
// object on stdout; exit status 0 when the figures were measured.
//
// Usage: PEER --dir DIR --mode cert|psk --runs N [--response BYTES] [--lo BYTES --hi BYTES]
//   DIR holds ca.der, server.der, server.key.der, client.der, client.key.der, psk.id, psk.key.
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#if defined(SCWS_PEER_BUFALLOC)
#include "mbedtls/memory_buffer_alloc.h"
#include "mbedtls/platform.h"
#elif !defined(SCWS_PEER_STOCK)
#error "define SCWS_PEER_STOCK or SCWS_PEER_BUFALLOC"
#endif
#include "mbedtls/ctr_drbg.h"
#include "mbedtls/pk.h"
#include "mbedtls/ssl.h"
#include "mbedtls/ssl_ticket.h"
#include "mbedtls/x509_crt.h"
#include "sim/host/host_entropy.hpp"

namespace {

// ---- what the server allocates -----------------------------------------------------------------

bool g_server_side = false;  // true while the server (this process) calls into mbedTLS

struct ServerSide {
  ServerSide() { g_server_side = true; }
  ~ServerSide() { g_server_side = false; }
  ServerSide(const ServerSide&) = delete;
  ServerSide& operator=(const ServerSide&) = delete;
};

#if defined(SCWS_PEER_STOCK)
// Requested bytes of every live block the server allocated, in a fixed open-addressing table (the
// interposed calloc must not allocate). Deleted slots keep a tombstone.
struct Tracker {
  static constexpr std::size_t kSlots = 1 << 16;
  static constexpr std::uintptr_t kTomb = 1;
  std::uintptr_t keys[kSlots];
  std::size_t sizes[kSlots];
  std::size_t in_use = 0, peak = 0, blocks = 0, allocations = 0;
  bool overflow = false;

  static std::size_t slot_of(std::uintptr_t p) { return (p >> 4) * 0x9E3779B97F4A7C15ULL >> 48; }
  void add(void* ptr, std::size_t n) {
    const auto p = reinterpret_cast<std::uintptr_t>(ptr);
    for (std::size_t i = slot_of(p), probes = 0; probes < kSlots; i = (i + 1) % kSlots, ++probes) {
      if (keys[i] == 0 || keys[i] == kTomb) {
        keys[i] = p;
        sizes[i] = n;
        in_use += n;
        ++blocks;
        ++allocations;
        if (in_use > peak) peak = in_use;
        return;
      }
    }
    overflow = true;
  }
  void remove(void* ptr) {
    const auto p = reinterpret_cast<std::uintptr_t>(ptr);
    for (std::size_t i = slot_of(p), probes = 0; probes < kSlots; i = (i + 1) % kSlots, ++probes) {
      if (keys[i] == 0) return;
      if (keys[i] == p) {
        keys[i] = kTomb;
        in_use -= sizes[i];
        --blocks;
        return;
      }
    }
  }
};
Tracker g_tracker{};
bool g_tracking = false;  // set in the server process once the measurement starts
#endif

}  // namespace

#if defined(SCWS_PEER_STOCK)
// Debian's libmbedtls calls calloc and free (no MBEDTLS_PLATFORM_MEMORY); definitions in the
// executable take precedence over glibc's for every shared library.
extern "C" void* __libc_calloc(std::size_t, std::size_t);
extern "C" void __libc_free(void*);
extern "C" void* calloc(std::size_t count, std::size_t size) {
  void* p = __libc_calloc(count, size);
  if (p != nullptr && g_tracking && g_server_side) g_tracker.add(p, count * size);
  return p;
}
extern "C" void free(void* p) {
  if (p != nullptr && g_tracking) g_tracker.remove(p);
  __libc_free(p);
}
#else
// The card configuration reads the time through this hook (tls/card_clock.hpp on the card).
extern "C" time_t scws_tls_time(time_t* t) { return std::time(t); }
#endif

namespace {

struct Credentials {
  std::vector<unsigned char> ca, server, server_key, client, client_key, psk_id, psk;
};

std::vector<unsigned char> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return {std::istreambuf_iterator<char>(in), {}};
}

Credentials load(const std::string& dir) {
  Credentials c;
  c.ca = read_file(dir + "/ca.der");
  c.server = read_file(dir + "/server.der");
  c.server_key = read_file(dir + "/server.key.der");
  c.client = read_file(dir + "/client.der");
  c.client_key = read_file(dir + "/client.key.der");
  c.psk_id = read_file(dir + "/psk.id");
  c.psk = read_file(dir + "/psk.key");
  return c;
}

// The card's choices (tls/tls_context.cpp): AEAD first, P-256, SHA-256, TLS 1.2 only.
const int kCertificateSuites[] = {MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_CCM, 0};
const int kPskSuites[] = {MBEDTLS_TLS_PSK_WITH_AES_128_CCM, MBEDTLS_TLS_PSK_WITH_AES_128_GCM_SHA256,
                          MBEDTLS_TLS_PSK_WITH_AES_128_CBC_SHA256, 0};
const mbedtls_ecp_group_id kCurves[] = {MBEDTLS_ECP_DP_SECP256R1, MBEDTLS_ECP_DP_NONE};
const int kSigHashes[] = {MBEDTLS_MD_SHA256, MBEDTLS_MD_NONE};

void configure_common(mbedtls_ssl_config& conf, mbedtls_ctr_drbg_context& drbg, bool psk) {
  mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &drbg);
  mbedtls_ssl_conf_min_version(&conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
  mbedtls_ssl_conf_max_version(&conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
  mbedtls_ssl_conf_curves(&conf, kCurves);
  mbedtls_ssl_conf_sig_hashes(&conf, kSigHashes);
  mbedtls_ssl_conf_ciphersuites(&conf, psk ? kPskSuites : kCertificateSuites);
}

// The server's long-lived state: everything it allocates counts as its idle level.
struct Server {
  mbedtls_ssl_config conf;
  mbedtls_x509_crt chain, ca;
  mbedtls_pk_context key;
  mbedtls_ssl_ticket_context tickets;
  mbedtls_ctr_drbg_context& drbg;
  const Credentials& creds;
  bool ok = false;

  Server(const Credentials& c, bool psk, mbedtls_ctr_drbg_context& rng) : drbg(rng), creds(c) {
    ServerSide side;
    mbedtls_ssl_config_init(&conf);
    mbedtls_x509_crt_init(&chain);
    mbedtls_x509_crt_init(&ca);
    mbedtls_pk_init(&key);
    mbedtls_ssl_ticket_init(&tickets);
    if (mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT) != 0)
      return;
    configure_common(conf, drbg, psk);
    if (psk) {
      mbedtls_ssl_conf_psk_cb(&conf, psk_lookup, this);
    } else {
      if (mbedtls_x509_crt_parse_der(&chain, c.server.data(), c.server.size()) != 0) return;
      if (mbedtls_pk_parse_key(&key, c.server_key.data(), c.server_key.size(), nullptr, 0) != 0) return;
      if (mbedtls_x509_crt_parse_der(&ca, c.ca.data(), c.ca.size()) != 0) return;
      if (mbedtls_ssl_conf_own_cert(&conf, &chain, &key) != 0) return;
      mbedtls_ssl_conf_ca_chain(&conf, &ca, nullptr);
      mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    }
    if (mbedtls_ssl_ticket_setup(&tickets, mbedtls_ctr_drbg_random, &drbg, MBEDTLS_CIPHER_AES_128_CCM, 24 * 3600) != 0) return;
    mbedtls_ssl_conf_session_tickets_cb(&conf, mbedtls_ssl_ticket_write, mbedtls_ssl_ticket_parse, &tickets);
    ok = true;
  }
  ~Server() {
    ServerSide side;
    mbedtls_ssl_ticket_free(&tickets);
    mbedtls_pk_free(&key);
    mbedtls_x509_crt_free(&ca);
    mbedtls_x509_crt_free(&chain);
    mbedtls_ssl_config_free(&conf);
  }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  static int psk_lookup(void* self, mbedtls_ssl_context* ssl, const unsigned char* identity, std::size_t len) {
    const auto* s = static_cast<const Server*>(self);
    if (len != s->creds.psk_id.size() || std::memcmp(identity, s->creds.psk_id.data(), len) != 0) return -1;
    return mbedtls_ssl_set_hs_psk(ssl, s->creds.psk.data(), s->creds.psk.size());
  }
};

int fd_send(void* ctx, const unsigned char* buf, std::size_t len) {
  const int fd = *static_cast<int*>(ctx);
  for (;;) {
    const ssize_t n = ::send(fd, buf, len, MSG_NOSIGNAL);
    if (n >= 0) return static_cast<int>(n);
    if (errno != EINTR) return MBEDTLS_ERR_SSL_INTERNAL_ERROR;
  }
}
int fd_recv(void* ctx, unsigned char* buf, std::size_t len) {
  const int fd = *static_cast<int*>(ctx);
  for (;;) {
    const ssize_t n = ::recv(fd, buf, len, 0);
    if (n > 0) return static_cast<int>(n);
    if (n == 0) return MBEDTLS_ERR_SSL_CONN_EOF;
    if (errno != EINTR) return MBEDTLS_ERR_SSL_INTERNAL_ERROR;
  }
}

constexpr const char kRequest[] = "GET /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

std::string response_for(std::size_t body) {
  std::string r = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: " + std::to_string(body) +
                  "\r\nConnection: close\r\n\r\n";
  r.append(body, 'x');
  return r;
}

// The client, in the forked child: libc heap, blocking socket. Exit status 0 = full answer read.
[[noreturn]] void run_client(int fd, const Credentials& c, bool psk, std::size_t expect) {
#if defined(SCWS_PEER_BUFALLOC)
  mbedtls_platform_set_calloc_free(std::calloc, std::free);
#else
  g_tracking = false;
#endif
  mbedtls_ctr_drbg_context drbg;
  mbedtls_ctr_drbg_init(&drbg);
  mbedtls_ssl_config conf;
  mbedtls_ssl_config_init(&conf);
  mbedtls_x509_crt ca, own;
  mbedtls_x509_crt_init(&ca);
  mbedtls_x509_crt_init(&own);
  mbedtls_pk_context key;
  mbedtls_pk_init(&key);
  mbedtls_ssl_context ssl;
  mbedtls_ssl_init(&ssl);
  int status = 1;
  const unsigned char pers[] = "scws-bench-client";
  if (mbedtls_ctr_drbg_seed(&drbg, scws::sim::host_entropy, nullptr, pers, sizeof pers) == 0 &&
      mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT) == 0) {
    configure_common(conf, drbg, psk);
    bool ready = true;
    if (psk) {
      ready = mbedtls_ssl_conf_psk(&conf, c.psk.data(), c.psk.size(), c.psk_id.data(), c.psk_id.size()) == 0;
      mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_NONE);
    } else {
      ready = mbedtls_x509_crt_parse_der(&ca, c.ca.data(), c.ca.size()) == 0 &&
              mbedtls_x509_crt_parse_der(&own, c.client.data(), c.client.size()) == 0 &&
              mbedtls_pk_parse_key(&key, c.client_key.data(), c.client_key.size(), nullptr, 0) == 0 &&
              mbedtls_ssl_conf_own_cert(&conf, &own, &key) == 0;
      mbedtls_ssl_conf_ca_chain(&conf, &ca, nullptr);
      mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    }
    if (ready && mbedtls_ssl_setup(&ssl, &conf) == 0) {
      mbedtls_ssl_set_bio(&ssl, &fd, fd_send, fd_recv, nullptr);
      int ret = mbedtls_ssl_handshake(&ssl);
      if (ret == 0) {
        const auto* req = reinterpret_cast<const unsigned char*>(kRequest);
        std::size_t sent = 0;
        while (ret >= 0 && sent < sizeof kRequest - 1) {
          ret = mbedtls_ssl_write(&ssl, req + sent, sizeof kRequest - 1 - sent);
          if (ret > 0) sent += static_cast<std::size_t>(ret);
        }
        std::size_t got = 0;
        unsigned char buf[1024];
        while (ret >= 0 && got < expect) {
          ret = mbedtls_ssl_read(&ssl, buf, sizeof buf);
          if (ret > 0) got += static_cast<std::size_t>(ret);
          if (ret == 0) break;
        }
        if (got == expect) status = 0;
        (void)mbedtls_ssl_close_notify(&ssl);
      }
    }
  }
  ::shutdown(fd, SHUT_RDWR);
  ::_exit(status);
}

// One connection: fork the client, serve it (handshake, read the request, send the answer).
// Returns 0 on success, else the server's mbedTLS error (or -1 when only the client failed).
int one_connection(Server& server, bool psk, const std::string& response) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) throw std::runtime_error("socketpair failed");
  timeval timeout{10, 0};  // a wedged peer cannot hang the benchmark
  for (int fd : fds) {
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  }
  std::fflush(stdout);
  const pid_t child = ::fork();
  if (child < 0) throw std::runtime_error("fork failed");
  if (child == 0) {
    ::close(fds[0]);
    run_client(fds[1], server.creds, psk, response.size());
  }
  ::close(fds[1]);
  int fd = fds[0];
  int result = 0;
  {
    ServerSide side;
    mbedtls_ssl_context ssl;
    mbedtls_ssl_init(&ssl);
    int ret = mbedtls_ssl_setup(&ssl, &server.conf);
    if (ret == 0) {
      mbedtls_ssl_set_bio(&ssl, &fd, fd_send, fd_recv, nullptr);
      ret = mbedtls_ssl_handshake(&ssl);
    }
    if (ret == 0) {
      std::string request;
      unsigned char buf[512];
      while (ret >= 0 && request.find("\r\n\r\n") == std::string::npos) {
        ret = mbedtls_ssl_read(&ssl, buf, sizeof buf);
        if (ret > 0) request.append(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(ret));
        if (ret == 0) ret = MBEDTLS_ERR_SSL_CONN_EOF;
      }
      std::size_t sent = 0;
      while (ret >= 0 && sent < response.size()) {
        ret = mbedtls_ssl_write(&ssl, reinterpret_cast<const unsigned char*>(response.data()) + sent, response.size() - sent);
        if (ret > 0) sent += static_cast<std::size_t>(ret);
      }
      if (ret >= 0) {
        (void)mbedtls_ssl_close_notify(&ssl);
        ret = 0;
      }
    }
    result = ret;
    mbedtls_ssl_free(&ssl);
  }
  ::close(fd);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (result == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) result = -1;
  return result;
}

struct Args {
  std::string dir;
  bool psk = false;
  int runs = 100;
  std::size_t response = 1024;
  std::size_t lo = 1024, hi = 65536;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(k + " needs a value");
      return argv[++i];
    };
    if (k == "--dir") {
      a.dir = value();
    } else if (k == "--mode") {
      const std::string m = value();
      if (m != "cert" && m != "psk") throw std::runtime_error("--mode cert|psk");
      a.psk = m == "psk";
    } else if (k == "--runs") {
      a.runs = std::stoi(value());
    } else if (k == "--response") {
      a.response = std::stoul(value());
    } else if (k == "--lo") {
      a.lo = std::stoul(value());
    } else if (k == "--hi") {
      a.hi = std::stoul(value());
    } else {
      throw std::runtime_error("unknown option " + k);
    }
  }
  if (a.dir.empty() || a.runs < 1) throw std::runtime_error("usage: --dir DIR --mode cert|psk --runs N");
  return a;
}

// "-0x7780" as mbedTLS documents its codes (the card configuration has no MBEDTLS_ERROR_C).
std::string error_text(int code) {
  char text[16];
  std::snprintf(text, sizeof text, "%s0x%04X", code < 0 ? "-" : "", static_cast<unsigned>(code < 0 ? -code : code));
  return text;
}

#if defined(SCWS_PEER_STOCK)
int measure(const Args& a, const Credentials& c, mbedtls_ctr_drbg_context& drbg) {
  const std::string response = response_for(a.response);
  g_tracking = true;
  int failures = 0, first_error = 0;
  std::size_t idle = 0, peak_total = 0, allocations = 0;
  {
    Server server(c, a.psk, drbg);
    if (!server.ok) throw std::runtime_error("server configuration failed");
    idle = g_tracker.in_use;
    g_tracker.peak = idle;
    const std::size_t allocations_before = g_tracker.allocations;
    for (int i = 0; i < a.runs; ++i) {
      const int r = one_connection(server, a.psk, response);
      if (r != 0) {
        ++failures;
        if (first_error == 0) first_error = r;
      }
    }
    peak_total = g_tracker.peak;
    allocations = g_tracker.allocations - allocations_before;
  }
  g_tracking = false;
  std::printf(
      "{\"peer\":\"stock\",\"mode\":\"%s\",\"runs\":%d,\"failures\":%d,\"first_error\":%d,\"first_error_text\":\"%s\","
      "\"idle\":%zu,\"peak_total\":%zu,\"session_peak\":%zu,\"allocations_per_connection\":%zu,"
      "\"in_content_len\":%d,\"out_content_len\":%d,\"left_after\":%zu,\"tracker_overflow\":%s}\n",
      a.psk ? "psk" : "cert", a.runs, failures, first_error, first_error != 0 ? error_text(first_error).c_str() : "", idle,
      peak_total, peak_total - idle, allocations / static_cast<std::size_t>(a.runs), MBEDTLS_SSL_IN_CONTENT_LEN,
      MBEDTLS_SSL_OUT_CONTENT_LEN, g_tracker.in_use, g_tracker.overflow ? "true" : "false");
  return failures == 0 && !g_tracker.overflow ? 0 : 1;
}
#else
alignas(16) unsigned char g_buffer[1 << 17];

struct Probe {
  bool ok = false;
  std::size_t idle_payload = 0, idle_blocks = 0;  // after the server context was built
  std::size_t peak_payload = 0, peak_blocks = 0;  // during the connections (MBEDTLS_MEMORY_DEBUG)
  int first_error = 0;
};

Probe probe(const Args& a, const Credentials& c, mbedtls_ctr_drbg_context& drbg, std::size_t size) {
  Probe p;
  mbedtls_memory_buffer_alloc_init(g_buffer, size);
  {
    Server server(c, a.psk, drbg);
    if (server.ok) {
      mbedtls_memory_buffer_alloc_cur_get(&p.idle_payload, &p.idle_blocks);
      mbedtls_memory_buffer_alloc_max_reset();
      const std::string response = response_for(a.response);
      p.ok = true;
      for (int i = 0; i < a.runs && p.ok; ++i) {
        const int r = one_connection(server, a.psk, response);
        if (r != 0) {
          p.ok = false;
          p.first_error = r;
        }
      }
      mbedtls_memory_buffer_alloc_max_get(&p.peak_payload, &p.peak_blocks);
    }
  }
  std::size_t left = 0, left_blocks = 0;
  mbedtls_memory_buffer_alloc_cur_get(&left, &left_blocks);
  if (left != 0) p.ok = false;
  mbedtls_memory_buffer_alloc_free();
  return p;
}

int measure(const Args& a, const Credentials& c, mbedtls_ctr_drbg_context& drbg) {
  std::size_t lo = a.lo, hi = a.hi > sizeof g_buffer ? sizeof g_buffer : a.hi;
  Probe at_hi = probe(a, c, drbg, hi);
  if (!at_hi.ok) {
    std::printf("{\"peer\":\"bufalloc\",\"mode\":\"%s\",\"runs\":%d,\"smallest\":0,\"first_error\":%d,\"first_error_text\":\"%s\"}\n",
                a.psk ? "psk" : "cert", a.runs, at_hi.first_error, error_text(at_hi.first_error).c_str());
    return 1;
  }
  // Smallest working size in 8-byte steps, assuming more buffer never hurts (lo fails or is the floor).
  int probes = 1;
  while (hi - lo > 8) {
    const std::size_t mid = (lo + hi) / 2 / 8 * 8;
    ++probes;
    if (probe(a, c, drbg, mid).ok) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  // Header bytes of one block of the buffer allocator (struct _memory_header: 8 words without
  // MBEDTLS_MEMORY_BACKTRACE), to turn payload counts into buffer bytes.
  constexpr std::size_t kHeader = 8 * sizeof(void*);
  const std::size_t idle = at_hi.idle_payload + (at_hi.idle_blocks + 1) * kHeader;
  std::printf(
      "{\"peer\":\"bufalloc\",\"mode\":\"%s\",\"runs\":%d,\"smallest\":%zu,\"idle\":%zu,\"session\":%zu,"
      "\"peak_payload\":%zu,\"peak_blocks\":%zu,\"idle_payload\":%zu,\"idle_blocks\":%zu,\"header_bytes\":%zu,\"probes\":%d,"
      "\"in_content_len\":%d,\"out_content_len\":%d}\n",
      a.psk ? "psk" : "cert", a.runs, hi, idle, hi > idle ? hi - idle : 0, at_hi.peak_payload, at_hi.peak_blocks,
      at_hi.idle_payload, at_hi.idle_blocks, kHeader, probes, MBEDTLS_SSL_IN_CONTENT_LEN, MBEDTLS_SSL_OUT_CONTENT_LEN);
  return 0;
}
#endif

}  // namespace

int main(int argc, char** argv) {
  try {
    const Args a = parse(argc, argv);
    const Credentials c = load(a.dir);
    mbedtls_ctr_drbg_context drbg;
    mbedtls_ctr_drbg_init(&drbg);
    const unsigned char pers[] = "scws-bench-server";
    if (mbedtls_ctr_drbg_seed(&drbg, scws::sim::host_entropy, nullptr, pers, sizeof pers) != 0) throw std::runtime_error("DRBG seed failed");
    const int rc = measure(a, c, drbg);
    mbedtls_ctr_drbg_free(&drbg);
    return rc;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", argv[0], e.what());
    return 2;
  }
}
