#include "sim/bench/bench_http.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <asio.hpp>

#include "card/os/card.hpp"
#include "card/os/nvm_device.hpp"
#include "scws_config.hpp"
#include "sim/bench/bench_report.hpp"
#include "sim/host/emulated_uicc.hpp"
#include "sim/handset/gateway.hpp"
#include "sim/testing/scratch_dir.hpp"
#include "sim/host/pcsc_client.hpp"
#include "sim/testing/pcscd_harness.hpp"
#include "sim/host/profile.hpp"
#include "sim/host/provision.hpp"

namespace scws::sim {

using report::fixed;
using report::json_string;

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// --- arithmetic -------------------------------------------------------------------------------------

u64 minimum_apdus_per_get(std::size_t response_bytes) noexcept {
  // docs/protocol.md section 9: ENVELOPE Channel status + ENVELOPE Data available + FETCH/TR RECEIVE DATA +
  // FETCH/TR CLOSE CHANNEL = 6, then FETCH/TR per SEND DATA of at most 240 bytes.
  const u64 pieces = (static_cast<u64>(response_bytes) + kSendDataPayload - 1) / kSendDataPayload;
  return 6 + 2 * pieces;
}

double floor_efficiency(double requests_per_second, double apdus_per_request, double floor_apdus_per_second) noexcept {
  if (floor_apdus_per_second <= 0) return 0;
  return requests_per_second * apdus_per_request / floor_apdus_per_second;
}

RamFigures ram_figures(std::size_t apdu_buffer, std::size_t capacity, std::size_t idle, std::size_t high_water) noexcept {
  RamFigures r;
  r.apdu_buffer = apdu_buffer;
  r.capacity = capacity;
  r.idle = idle;
  r.high_water = high_water;
  r.beyond_idle = high_water > idle ? high_water - idle : 0;
  return r;
}

void finish_row(ThroughputRow& row) noexcept {
  row.requests_per_second = row.seconds > 0 ? static_cast<double>(row.requests) / row.seconds : 0;
  row.apdus_per_request = row.requests > 0 ? static_cast<double>(row.apdus) / static_cast<double>(row.requests) : 0;
  row.efficiency = floor_efficiency(row.requests_per_second, row.apdus_per_request, row.floor_apdus_per_second);
  row.efficiency_median = floor_efficiency(row.requests_per_second, row.apdus_per_request, row.floor_median_apdus_per_second);
}

namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

}  // namespace

ResponseHead parse_response_head(std::string_view head) {
  ResponseHead h;
  std::size_t eol = head.find("\r\n");
  std::string_view status_line = head.substr(0, eol);
  // "HTTP/1.1 200 OK" (RFC 9112 4): version, space, three digits.
  if (status_line.size() < 12 || status_line.substr(0, 7) != "HTTP/1." || status_line[8] != ' ') return h;
  int code = 0;
  for (std::size_t i = 9; i < 12; ++i) {
    if (status_line[i] < '0' || status_line[i] > '9') return h;
    code = code * 10 + (status_line[i] - '0');
  }
  if (status_line.size() > 12 && status_line[12] != ' ') return h;
  h.status = code;
  if (eol == std::string_view::npos) return h;
  std::string_view rest = head.substr(eol + 2);
  while (!rest.empty()) {
    std::size_t end = rest.find("\r\n");
    std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 2);
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = trim(line.substr(0, colon));
    std::string_view value = trim(line.substr(colon + 1));
    if (iequals(name, "content-length")) {
      std::size_t n = 0;
      bool digits = !value.empty();
      for (char c : value) {
        if (c < '0' || c > '9') {
          digits = false;
          break;
        }
        n = n * 10 + static_cast<std::size_t>(c - '0');
      }
      if (digits) h.content_length = n;
    } else if (iequals(name, "connection") && iequals(value, "close")) {
      h.close = true;
    }
  }
  return h;
}

// --- measuring tools -----------------------------------------------------------------------------------

std::vector<u8> CountingTransport::transmit(Bytes command) {
  std::vector<u8> response = inner_.transmit(command);
  count_.fetch_add(1, std::memory_order_acq_rel);
  if (after_exchange) after_exchange();
  return response;
}

BenchHttpClient::BenchHttpClient(u16 port, std::chrono::milliseconds timeout) : port_(port), timeout_(timeout) {}

BenchHttpClient::~BenchHttpClient() { close(); }

void BenchHttpClient::close() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

int connect_loopback(u16 port, std::chrono::milliseconds timeout, bool& refused) {
  refused = false;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    const int e = errno;
    ::close(fd);
    if (e == ECONNREFUSED) {
      refused = true;
      return -1;
    }
    throw std::runtime_error("connect to 127.0.0.1:" + std::to_string(port) + ": " + std::strerror(e));
  }
  return fd;
}

void BenchHttpClient::open() {
  close();
  bool refused = false;
  fd_ = connect_loopback(port_, timeout_, refused);
  if (fd_ < 0) throw std::runtime_error("connect to 127.0.0.1:" + std::to_string(port_) + ": " + std::strerror(ECONNREFUSED));
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

BenchHttpClient::Response BenchHttpClient::get(const std::string& path, bool keep_alive) {
  if (fd_ < 0) open();
  const std::string request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                              (keep_alive ? std::string() : std::string("Connection: close\r\n")) + "\r\n";
  for (std::size_t sent = 0; sent < request.size();) {
    ssize_t n = ::send(fd_, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      int e = errno;
      close();
      throw std::runtime_error(std::string("send: ") + std::strerror(e));
    }
    sent += static_cast<std::size_t>(n);
  }
  std::string buf;
  char chunk[16384];
  bool eof = false;
  auto read_some = [&] {
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n < 0) {
      int e = errno;
      close();
      throw std::runtime_error(e == EAGAIN || e == EWOULDBLOCK ? std::string("no response within the timeout")
                                                               : std::string("recv: ") + std::strerror(e));
    }
    if (n == 0) eof = true;
    buf.append(chunk, static_cast<std::size_t>(n));
  };
  std::size_t head_end = std::string::npos;
  while ((head_end = buf.find("\r\n\r\n")) == std::string::npos) {
    read_some();
    if (eof) {
      close();
      throw std::runtime_error("the connection closed before the response head (" + std::to_string(buf.size()) + " bytes)");
    }
  }
  const std::size_t head_len = head_end + 4;
  const ResponseHead head = parse_response_head(std::string_view(buf).substr(0, head_len));
  const bool to_eof = !keep_alive || head.close || !head.content_length;
  if (to_eof) {
    while (!eof) read_some();
    close();
  } else {
    while (buf.size() - head_len < *head.content_length) {
      read_some();
      if (eof) break;
    }
    if (eof) close();
  }
  Response r;
  r.status = head.status;
  r.bytes = buf.size();
  r.body = buf.size() - head_len;
  if (head.content_length && r.body != *head.content_length) {
    close();
    throw std::runtime_error("body of " + std::to_string(r.body) + " bytes, Content-Length " +
                             std::to_string(*head.content_length));
  }
  return r;
}

ThroughputRow measure_throughput(u16 port, const std::string& path, u32 clients, bool keep_alive,
                                 std::chrono::milliseconds duration, const CountingTransport& counter) {
  ThroughputRow row;
  row.keep_alive = keep_alive;
  row.clients = clients;
  std::mutex m;
  std::condition_variable cv;
  u32 ready = 0;
  bool go = false;
  std::atomic<bool> stop{false};
  std::atomic<u64> requests{0};
  std::atomic<u64> failures{0};
  std::string first_failure;  // under m
  auto fail = [&](const std::string& what) {
    failures.fetch_add(1);
    std::lock_guard lock(m);
    if (first_failure.empty()) first_failure = what;
  };
  std::vector<std::thread> threads;
  threads.reserve(clients);
  for (u32 i = 0; i < clients; ++i) {
    threads.emplace_back([&] {
      BenchHttpClient client(port);
      try {
        client.get(path, keep_alive);  // warm-up: connects, and the card's first response is out of the way
      } catch (const std::runtime_error&) {
        client.close();
      }
      {
        std::unique_lock lock(m);
        ++ready;
        cv.notify_all();
        cv.wait(lock, [&] { return go; });
      }
      while (!stop.load(std::memory_order_acquire)) {
        try {
          BenchHttpClient::Response r = client.get(path, keep_alive);
          if (r.status == 200)
            requests.fetch_add(1);
          else
            fail("status " + std::to_string(r.status));
        } catch (const std::runtime_error& e) {
          fail(e.what());
          client.close();
        }
      }
    });
  }
  {
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return ready == clients; });  // each warm-up is bounded by the client timeout
    go = true;
  }
  const u64 apdus0 = counter.count();
  const auto t0 = Clock::now();
  cv.notify_all();
  std::this_thread::sleep_until(t0 + duration);  // the measuring window itself
  stop.store(true, std::memory_order_release);
  for (auto& t : threads) t.join();
  const auto t1 = Clock::now();
  row.apdus = counter.count() - apdus0;
  row.seconds = std::chrono::duration<double>(t1 - t0).count();
  row.requests = requests.load();
  row.failures = failures.load();
  row.first_failure = first_failure;
  return row;
}

// --- the gateway runner (bench_http.hpp) ----------------------------------------------------------

void wait_quiet(const CountingTransport& counter) {
  u64 last = counter.count();
  int stable = 0;
  poll_until(
      [&] {
        const u64 now = counter.count();
        stable = now == last ? stable + 1 : 0;
        last = now;
        return stable >= 4;
      },
      3000ms, 10ms);
}

struct GatewayRunner::Impl {
  Impl(CardTransport& transport, std::string t, u16 port) : counter(transport), tag(std::move(t)), card_port(port) {}
  CountingTransport counter;
  std::string tag;
  u16 card_port;
  asio::io_context io;
  std::unique_ptr<Gateway> gateway;
  std::thread thread;
  std::atomic<u16> port{0};
  std::atomic<u32> listening{0};
  std::function<void(const std::string&)> log_hook;
  mutable std::mutex ports_mutex;
  std::map<u16, u16> local_ports;  // card port -> local port, under ports_mutex
};

GatewayRunner::GatewayRunner(CardTransport& transport, bool verbose, std::string tag, std::vector<u16> card_ports,
                             std::map<std::string, std::string> connect_map) {
  if (card_ports.empty()) throw std::invalid_argument("GatewayRunner: no card port");
  impl_ = std::make_unique<Impl>(transport, std::move(tag), card_ports.front());
  Impl& im = *impl_;
  GatewayOptions options;
  for (u16 p : card_ports) options.port_map[p] = 0;
  options.connect_map = std::move(connect_map);
  // Polls only matter when the card is idle for this long; under load they never happen.
  options.poll_interval = 1000ms;
  options.card_wait = 1000ms;
  const std::string measured = "(card port " + std::to_string(im.card_port) + ",";
  options.log = [&im, verbose, measured](const std::string& line) {
    if (line.find(" listening on ") != std::string::npos && line.find(measured) != std::string::npos) im.listening.fetch_add(1);
    if (verbose) std::cerr << "bench: " << im.tag << " gateway: " << line << std::endl;
    if (im.log_hook) im.log_hook(line);
  };
  options.on_listen = [&im](u16 card_port, const std::string&, u16 local) {
    {
      std::lock_guard lock(im.ports_mutex);
      im.local_ports[card_port] = local;
    }
    if (card_port == im.card_port) im.port.store(local);
  };
  im.gateway = std::make_unique<Gateway>(im.io, im.counter, std::move(options));
}

GatewayRunner::~GatewayRunner() { stop(); }

CountingTransport& GatewayRunner::counter() { return impl_->counter; }

void GatewayRunner::set_log_hook(std::function<void(const std::string&)> hook) { impl_->log_hook = std::move(hook); }

std::optional<u16> GatewayRunner::local_port(u16 card_port) const {
  std::lock_guard lock(impl_->ports_mutex);
  const auto it = impl_->local_ports.find(card_port);
  if (it == impl_->local_ports.end()) return std::nullopt;
  return it->second;
}

u16 GatewayRunner::start(u32 channels, std::chrono::milliseconds timeout) {
  Impl& im = *impl_;
  im.gateway->start();
  im.thread = std::thread([&im] { im.io.run(); });
  if (!poll_until([&] { return im.port.load() != 0 && im.listening.load() >= channels; }, timeout, 10ms))
    throw std::runtime_error(im.tag + ": the card did not open " + std::to_string(channels) + " channels on port " +
                             std::to_string(im.card_port) + " in time (" + std::to_string(im.listening.load()) + " listening)");
  return im.port.load();
}

void GatewayRunner::stop() {
  Impl& im = *impl_;
  if (!im.thread.joinable()) return;
  asio::post(im.io, [&im] { im.gateway->stop(); });
  im.thread.join();
}

namespace {

struct BenchPage {
  const char* file;
  std::size_t size;
};
constexpr BenchPage kPages[] = {{"page-100.txt", 100}, {"page-1k.txt", 1024}, {"page-16k.txt", 16384}};
constexpr std::size_t kRamPage = 1;  // the 1 KiB page: RAM figure and throughput

std::string page_body(std::size_t size) {
  std::string body;
  body.reserve(size);
  unsigned line = 0;
  while (body.size() < size) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "scws bench http line %05u: the quick brown fox jumps\n", line++);
    body += buf;
  }
  body.resize(size);
  if (size > 0) body.back() = '\n';
  return body;
}

// APDUs per GET for one page: `gets` GETs on new connections, then `gets` over one kept-alive one.
PageFigures measure_page(u16 port, const std::string& path, std::size_t body_size, u32 gets, CountingTransport& counter) {
  PageFigures f;
  f.path = path;
  f.body_bytes = body_size;
  f.gets = gets;
  BenchHttpClient client(port);
  BenchHttpClient::Response first = client.get(path, false);  // warm-up, and the response size
  if (first.status != 200 || first.body != body_size)
    throw std::runtime_error("GET " + path + ": status " + std::to_string(first.status) + ", " +
                             std::to_string(first.body) + " body bytes (expected 200 and " + std::to_string(body_size) + ")");
  f.response_bytes = first.bytes;
  wait_quiet(counter);
  u64 c0 = counter.count();
  for (u32 i = 0; i < gets; ++i) {
    BenchHttpClient::Response r = client.get(path, false);
    if (r.status != 200 || r.body != body_size) throw std::runtime_error("GET " + path + " failed during the count");
  }
  wait_quiet(counter);
  f.apdus_per_get = static_cast<double>(counter.count() - c0) / gets;
  f.minimum = minimum_apdus_per_get(f.response_bytes);
  f.ratio = f.minimum > 0 ? f.apdus_per_get / static_cast<double>(f.minimum) : 0;

  client.get(path, true);  // opens the kept-alive connection
  wait_quiet(counter);
  c0 = counter.count();
  for (u32 i = 0; i < gets; ++i) {
    BenchHttpClient::Response r = client.get(path, true);
    if (r.status != 200 || r.body != body_size) throw std::runtime_error("keep-alive GET " + path + " failed during the count");
  }
  wait_quiet(counter);
  f.keep_alive_apdus_per_get = static_cast<double>(counter.count() - c0) / gets;
  client.close();
  wait_quiet(counter);
  return f;
}

std::string row_json(const ThroughputRow& r) {
  std::ostringstream o;
  o << "{\"where\": " << json_string(r.where) << ", \"keep_alive\": " << (r.keep_alive ? "true" : "false")
    << ", \"clients\": " << r.clients << ", \"requests\": " << r.requests << ", \"failures\": " << r.failures
    << ", \"apdus\": " << r.apdus << ", \"seconds\": " << fixed(r.seconds, 3)
    << ", \"requests_per_second\": " << fixed(r.requests_per_second, 2)
    << ", \"apdus_per_request\": " << fixed(r.apdus_per_request, 2) << ", \"efficiency\": " << fixed(r.efficiency, 4)
    << ", \"efficiency_median\": " << fixed(r.efficiency_median, 4)
    << ", \"floor_apdus_per_second\": " << fixed(r.floor_apdus_per_second, 1)
    << ", \"floor_median_apdus_per_second\": " << fixed(r.floor_median_apdus_per_second, 1)
    << ", \"reference_apdus_per_second\": " << fixed(r.reference_apdus_per_second, 1);
  if (r.failures > 0) o << ", \"first_failure\": " << json_string(r.first_failure);
  o << "}";
  return o.str();
}

std::string failure_line(const ThroughputRow& r) {
  if (r.failures == 0) return {};
  return "    " + std::to_string(r.failures) + " failed requests, the first: " + r.first_failure + "\n";
}

std::string row_label(const ThroughputRow& r) {
  return std::string(r.keep_alive ? "keep-alive" : "new connection per request") + ", " + std::to_string(r.clients) +
         (r.clients == 1 ? " client" : " clients");
}

}  // namespace

std::vector<std::string> write_bench_profile(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  fs::create_directories(dir / "www");
  std::ofstream toml(dir / "card.toml");
  toml << "# scws bench http: pages of 100 B, 1 KiB and 16 KiB\n"
          "[card]\niccid = \"8988211000000000017\"\n\n"
          "[scws]\nhttp_port = 3516\nhttp_channels = 7\nindex = \"index.html\"\ncontent = \"www\"\n";
  if (!toml) throw std::runtime_error("cannot write " + (dir / "card.toml").string());
  std::ofstream(dir / "www" / "index.html") << "<!DOCTYPE html><title>bench</title><p>scws bench http</p>\n";
  std::vector<std::string> paths;
  for (const BenchPage& p : kPages) {
    std::ofstream out(dir / "www" / p.file, std::ios::binary);
    out << page_body(p.size);
    if (!out) throw std::runtime_error(std::string("cannot write the page ") + p.file);
    paths.push_back(std::string("/") + p.file);
  }
  return paths;
}

std::string format_human(const HttpBenchResult& r) {
  std::ostringstream o;
  char buf[320];
  o << "HTTP benchmark: the Smart Card Web Server over BIP (client -> gateway -> card)\n";
  o << "APDUs per GET, a new connection per GET, counted at the card transport (in process);\n"
       "minimum 6 + 2 x ceil(response bytes / 240), target at most "
    << fixed(kApduRatioTarget, 2) << " x:\n";
  std::snprintf(buf, sizeof buf, "  %-15s %6s %9s %10s %8s %7s %12s\n", "page", "body", "response", "APDUs/GET", "minimum",
                "ratio", "keep-alive");
  o << buf;
  for (const PageFigures& p : r.pages) {
    std::snprintf(buf, sizeof buf, "  %-15s %6zu %9zu %10.2f %8llu %7.3f %12.2f%s\n", p.path.c_str(), p.body_bytes,
                  p.response_bytes, p.apdus_per_get, static_cast<unsigned long long>(p.minimum), p.ratio,
                  p.keep_alive_apdus_per_get, p.ratio <= kApduRatioTarget ? "" : "   (above target)");
    o << buf;
  }
  o << "Card RAM while serving " << kPages[kRamPage].size << " B over plain HTTP: high-water - idle = "
    << r.ram.beyond_idle << " bytes (target at most " << kRamBeyondTarget << " beyond the APDU buffer of "
    << r.ram.apdu_buffer << " bytes; capacity " << r.ram.capacity << ", idle " << r.ram.idle << ", high-water "
    << r.ram.high_water << ", in use with every channel listening " << r.ram.listening << ")"
    << (r.ram.beyond_idle <= kRamBeyondTarget ? "" : "   (above target)") << "\n";
  if (!r.in_process.empty()) {
    o << "The benchmark card's connection-flood rule is off: a new connection per request, hundreds a second, is the\n"
         "flood that rule closes the port on (`scws bench attack` measures the detection).\n";
    o << "Requests per second for /" << kPages[kRamPage].file << " in process (no pcscd; for comparison):\n";
    for (const ThroughputRow& t : r.in_process) {
      std::snprintf(buf, sizeof buf, "  %-38s %9.1f req/s  %6.2f APDUs/request  %8.0f APDU/s\n", row_label(t).c_str(),
                    t.requests_per_second, t.apdus_per_request, t.requests_per_second * t.apdus_per_request);
      o << buf << failure_line(t);
    }
  }
  if (!r.stack_measured) {
    o << "Through the real pcscd stack: not measured: " << r.stack_note << "\n";
    return o.str();
  }
  o << "Requests per second for /" << kPages[kRamPage].file
    << " through libpcsclite -> pcscd -> vpcd -> `scws card`, each row beside the APDU floor measured just before it\n"
       "(`scws bench apdu`: STATUS to our card; efficiency = requests/s x APDUs per request / floor APDU/s, the floor\n"
       "as APDUs over busy time, in parentheses against its median round trip; target at least "
    << fixed(kEfficiencyTarget, 2) << "):\n";
  for (const ThroughputRow& t : r.stack) {
    std::snprintf(buf, sizeof buf,
                  "  %-38s %7.1f req/s %6.2f APDUs/req  floor %6.0f APDU/s (median %6.0f)  efficiency %5.3f (%5.3f)%s\n",
                  row_label(t).c_str(), t.requests_per_second, t.apdus_per_request, t.floor_apdus_per_second,
                  t.floor_median_apdus_per_second, t.efficiency, t.efficiency_median,
                  t.efficiency >= kEfficiencyTarget ? "" : "  (below target)");
    o << buf << failure_line(t);
  }
  return o.str();
}

std::string format_json(const HttpBenchResult& r) {
  std::ostringstream o;
  o << "{\"benchmark\": \"http\", \"targets\": {\"apdu_ratio_max\": " << fixed(kApduRatioTarget, 2)
    << ", \"efficiency_min\": " << fixed(kEfficiencyTarget, 2) << ", \"ram_beyond_apdu_buffer_max\": " << kRamBeyondTarget
    << "}, \"pages\": [";
  for (std::size_t i = 0; i < r.pages.size(); ++i) {
    const PageFigures& p = r.pages[i];
    o << (i ? ", " : "") << "{\"path\": " << json_string(p.path) << ", \"body_bytes\": " << p.body_bytes
      << ", \"response_bytes\": " << p.response_bytes << ", \"gets\": " << p.gets
      << ", \"apdus_per_get\": " << fixed(p.apdus_per_get, 3) << ", \"minimum\": " << p.minimum
      << ", \"ratio\": " << fixed(p.ratio, 4) << ", \"keep_alive_apdus_per_get\": " << fixed(p.keep_alive_apdus_per_get, 3)
      << "}";
  }
  o << "], \"ram\": {\"apdu_buffer\": " << r.ram.apdu_buffer << ", \"capacity\": " << r.ram.capacity
    << ", \"idle\": " << r.ram.idle << ", \"high_water\": " << r.ram.high_water
    << ", \"beyond_idle\": " << r.ram.beyond_idle << ", \"listening\": " << r.ram.listening << "}, \"in_process\": [";
  for (std::size_t i = 0; i < r.in_process.size(); ++i) o << (i ? ", " : "") << row_json(r.in_process[i]);
  o << "], \"stack\": {\"measured\": " << (r.stack_measured ? "true" : "false");
  if (!r.stack_measured) {
    o << ", \"note\": " << json_string(r.stack_note) << "}}\n";
    return o.str();
  }
  o << ", \"rows\": [";
  for (std::size_t i = 0; i < r.stack.size(); ++i) o << (i ? ", " : "") << row_json(r.stack[i]);
  o << "], \"floors\": [";
  for (std::size_t i = 0; i < r.floors.size(); ++i) {
    std::string floor = format_json(r.floors[i]);
    while (!floor.empty() && floor.back() == '\n') floor.pop_back();
    o << (i ? ", " : "") << floor;
  }
  o << "]}}\n";
  return o.str();
}

namespace {

std::size_t card_ram(const HttpBenchOptions& options) { return options.ram_bytes ? options.ram_bytes : SCWS_RAM_SIZE; }

// The in-process figures: pages, RAM, and optionally throughput without pcscd.
void measure_in_process(const HttpBenchOptions& options, const Profile& profile, const std::vector<std::string>& paths,
                        HttpBenchResult& result, const std::function<void(const std::string&)>& progress) {
  std::vector<u8> storage(SCWS_NVM_SIZE);
  card::RamNvmDevice nvm(MutableBytes(storage.data(), storage.size()));
  provision_device(profile, nvm);
  EmulatedUicc uicc(nvm, card_ram(options));
  DirectTransport direct(uicc.card());
  std::atomic<std::size_t> capacity{0}, idle{0}, high_water{0}, in_use{0};
  GatewayRunner runner(direct, options.verbose, "in-process");
  runner.counter().after_exchange = [&] {  // on the gateway thread, the card's only thread
    const card::RamReport ram = uicc.card().ram_report();
    capacity.store(ram.capacity);
    idle.store(ram.idle);
    high_water.store(ram.high_water);
    in_use.store(ram.in_use);
  };
  const u16 port = runner.start(1, 10000ms);
  progress("in-process card and gateway on 127.0.0.1:" + std::to_string(port));
  wait_quiet(runner.counter());
  const std::size_t listening = in_use.load();

  // The 1 KiB page first: the RAM high-water mark is read right after it.
  std::vector<std::size_t> order{kRamPage};
  for (std::size_t i = 0; i < paths.size(); ++i)
    if (i != kRamPage) order.push_back(i);
  result.pages.assign(paths.size(), PageFigures{});
  for (std::size_t i : order) {
    result.pages[i] = measure_page(port, paths[i], kPages[i].size, std::max<u32>(options.gets_per_page, 1), runner.counter());
    progress("page " + paths[i] + ": " + fixed(result.pages[i].apdus_per_get, 2) + " APDUs per GET");
    if (i == kRamPage) {
      result.ram = ram_figures(SCWS_APDU_BUFFER_SIZE, capacity.load(), idle.load(), high_water.load());
      result.ram.listening = listening;
    }
  }
  if (options.in_process_throughput) {
    for (u32 clients : options.clients) {
      ThroughputRow row = measure_throughput(port, paths[kRamPage], clients, true,
                                             std::min<std::chrono::milliseconds>(options.duration, 1000ms), runner.counter());
      row.where = "in-process";
      finish_row(row);
      result.in_process.push_back(row);
      wait_quiet(runner.counter());
    }
  }
  runner.stop();
}

void measure_stack(const HttpBenchOptions& options, const Profile& profile, const std::vector<std::string>& paths,
                   const std::filesystem::path& workdir, HttpBenchResult& result,
                   const std::function<void(const std::string&)>& progress) {
  const std::filesystem::path image = workdir / "card.img";
  provision_file(profile, image, SCWS_NVM_SIZE, true);
  PcscStack stack({workdir, "scws bench"});
  const PcscdHarness& pcscd = stack.pcscd();
  progress("pcscd pid " + std::to_string(pcscd.pid()) + ", vpcd ports " + std::to_string(pcscd.port()) + "/" +
           std::to_string(pcscd.port() + 1));
  stack.start_card(options.scws, image, {"--quiet", "--ram", std::to_string(card_ram(options))});
  stack.start_reference_card(options.scws, {"--quiet"});

  // The floor: bench apdu's measurement (STATUS to our card and to the reference card, interleaved),
  // right before each row over its own shared PC/SC connections, so that the floor and the row see
  // the same load on the machine. The gateway is idle meanwhile.
  PcscContext context;
  PcscCardOptions card_options;
  card_options.card_wait = options.card_wait;
  std::optional<PcscCard> ours;
  std::optional<PcscCard> reference;
  stack.connect(context, card_options, ours, reference);
  ApduBenchOptions floor_options;
  floor_options.duration = std::max<std::chrono::milliseconds>(options.duration / 2, 500ms);

  const u32 max_clients = *std::max_element(options.clients.begin(), options.clients.end());
  PcscTransport transport(pcscd.reader(0));
  GatewayRunner runner(transport, options.verbose, "pcscd");
  u16 port = 0;
  try {
    port = runner.start(max_clients, options.card_wait + 10000ms);
  } catch (const std::runtime_error& e) {
    throw stack.failure(e.what());
  }
  progress("gateway over " + pcscd.reader(0) + " on 127.0.0.1:" + std::to_string(port));
  for (bool keep_alive : {true, false}) {
    for (u32 clients : options.clients) {
      const std::string label = std::string(keep_alive ? "keep-alive" : "new connection per request") + ", " +
                                std::to_string(clients) + " client(s)";
      wait_quiet(runner.counter());
      ApduBenchResult floor;
      try {
        floor = measure_apdu_rounds(*ours, *reference, floor_options);
      } catch (const PcscError& e) {
        throw stack.failure(std::string("APDU floor: ") + e.what());
      }
      progress(label + ": floor " + fixed(floor.ours.apdus_per_second, 0) + " APDU/s");
      ThroughputRow row = measure_throughput(port, paths[kRamPage], clients, keep_alive, options.duration, runner.counter());
      row.where = "pcscd";
      row.floor_apdus_per_second = floor.ours.apdus_per_second;
      row.floor_median_apdus_per_second = floor.ours.median_us > 0 ? 1e6 / floor.ours.median_us : 0;
      row.reference_apdus_per_second = floor.reference.apdus_per_second;
      finish_row(row);
      result.stack.push_back(row);
      result.floors.push_back(std::move(floor));
    }
  }
  runner.stop();
  ours.reset();
  reference.reset();
  stack.stop();
  result.stack_measured = true;
}

}  // namespace

HttpBenchResult run_http_bench(const HttpBenchOptions& options) {
  auto progress = [&](const std::string& line) {
    if (options.verbose) std::cerr << "bench: " << line << std::endl;
  };
  if (options.clients.empty()) throw std::invalid_argument("no client counts");
  for (u32 c : options.clients)
    if (c < 1 || c > 7) throw std::invalid_argument("client counts must be 1..7 (the card's HTTP channels)");

  HttpBenchResult result;
  // First, while the process has no threads: a private /run/pcscd for the stack figures.
  bool stack = options.stack;
  if (!stack) {
    result.stack_note = "not asked for (--no-stack)";
  } else if (!enter_private_pcscd_namespace_for_figures(result.stack_note)) {
    stack = false;
  } else {
    progress("private mount namespace with a tmpfs on /run/pcscd");
  }

  const ScratchDir scratch("scws-bench-http", options.workdir, options.keep_workdir);
  const std::filesystem::path& workdir = scratch.path();

  const std::vector<std::string> paths = write_bench_profile(workdir / "profile");
  Profile profile = load_profile(workdir / "profile");
  // Hundreds of new connections a second are what the connection-flood rule exists to stop: this
  // card runs without it, so that the rows measure throughput (`scws bench attack` measures detection).
  profile.detection.rule(card::DetectionRule::kConnectionFlood).threshold = 0;
  measure_in_process(options, profile, paths, result, progress);
  if (stack) measure_stack(options, profile, paths, workdir, result, progress);
  return result;
}

}  // namespace scws::sim
