#include "sim/bench/bench_tls.hpp"

#include "base/hex_text.hpp"
#include "sim/bench/bench_report.hpp"
#include "sim/testing/scratch_dir.hpp"
#include "sim/testing/tls_rig.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <future>
#include <thread>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <utility>

#include <asio.hpp>

#include "base/base64.hpp"
#include "scws_config.hpp"
#include "sim/bench/bench_http.hpp"
#include "sim/host/card_transport.hpp"
#include "sim/host/pcsc_client.hpp"
#include "sim/testing/pcscd_harness.hpp"
#include "sim/host/emulated_uicc.hpp"
#include "sim/handset/gateway.hpp"
#include "sim/host/profile.hpp"
#include "sim/host/provision.hpp"
#include "card/scws/tls_port.hpp"
#include "card/os/nvm.hpp"
#include "card/os/nvm_device.hpp"
#include "card/cat/stream_endpoint.hpp"
#include "card/os/tracer.hpp"
#include "sim/host/pki.hpp"
#include "tls/card_clock.hpp"
#include "tls/card_rng.hpp"
#include "tls/credentials.hpp"
#include "tls/tls_allocator.hpp"
#include "tls/tls_context.hpp"
#include "tls/tls_session.hpp"
#include "mbedtls/ssl.h"

namespace scws::sim {

using report::json_escape;

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

const char* tls_bench_mode_name(TlsBenchMode mode) noexcept {
  switch (mode) {
    case TlsBenchMode::kCertificate: return "certificate";
    case TlsBenchMode::kPsk: return "psk";
  }
  return "?";
}

double tls_ratio(double a, double b) noexcept { return b != 0 ? a / b : 0; }

Bisection bisect_smallest(std::size_t lo, std::size_t hi, std::size_t step, const std::function<bool(std::size_t)>& works) {
  Bisection b;
  if (step == 0) step = 1;
  ++b.probes;
  if (hi < lo || !works(hi)) return b;
  // Invariant: works(hi); lo is a failing size or the floor (never probed: its answer does not matter).
  while (hi - lo > step) {
    const std::size_t mid = lo + (hi - lo) / 2 / step * step;
    ++b.probes;
    if (works(mid)) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  b.smallest = hi;
  return b;
}

namespace {

// Bisects the smallest region in [lo, hi] with `probe` and fills f's figures from the bisection's
// answer (its last successful probe); f.smallest stays 0 when hi does not work either.
void bisect_region(RegionFigures& f, std::size_t lo, std::size_t hi, const std::function<void(const std::string&)>& progress,
                   const std::function<CardProbe(std::size_t)>& probe) {
  CardProbe last;
  const Bisection b = bisect_smallest(lo, hi, 8, [&](std::size_t size) {
    CardProbe p = probe(size);
    progress(std::string(tls_bench_mode_name(f.mode)) + ", " + f.client + ", region " + std::to_string(size) + ": " +
             (p.ok ? "ok" : "fails after " + std::to_string(p.completed) + " (" + p.failure + ")"));
    if (p.ok) last = p;
    return p.ok;
  });
  f.probes = b.probes;
  if (!b.smallest) return;
  f.smallest = *b.smallest;
  f.idle = last.idle;
  f.session = f.smallest - f.idle;
  f.session_object = tls::TlsAllocator::block_size_for(sizeof(tls::TlsSession));
  f.peak = last.peak;
  f.allocations = last.allocations;
}

}  // namespace

// ---- credentials -------------------------------------------------------------------------------

std::vector<u8> pem_to_der(const std::string& pem) {
  const auto begin = pem.find("-----BEGIN ");
  const auto body = begin == std::string::npos ? std::string::npos : pem.find('\n', begin);
  const auto end = body == std::string::npos ? std::string::npos : pem.find("-----END ", body);
  if (end == std::string::npos) throw std::runtime_error("not a PEM block");
  std::string b64;
  for (std::size_t i = body; i < end; ++i) {
    const char c = pem[i];
    if (c != '\n' && c != '\r' && c != ' ' && c != '\t') b64 += c;
  }
  std::vector<u8> der(base64_decoded_size(b64.size()));
  auto n = base64_decode(b64, MutableBytes(der.data(), der.size()));
  if (!n.ok()) throw std::runtime_error("PEM block with bad base64");
  der.resize(*n);
  return der;
}

TlsBenchCredentials make_tls_bench_credentials() {
  PkiOptions options;
  options.clients = 1;
  options.psk_identities = 1;
  const Pki pki = generate_pki(options);
  TlsBenchCredentials c;
  c.ca = pki.ca_cert_der;
  c.server_chain = pki.server_chain_der;
  c.server_key = pki.server_key_der;
  c.client = pem_to_der(pki.clients.at(0).cert_pem);
  c.client_key = pem_to_der(pki.clients.at(0).key_pem);
  c.psk_identity = pki.psks.at(0).identity;
  c.psk = pki.psks.at(0).key;
  return c;
}

void write_peer_credentials(const TlsBenchCredentials& c, const fs::path& dir) {
  fs::create_directories(dir);
  auto put = [&](const char* name, const void* data, std::size_t size) {
    std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
    out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
    if (!out) throw std::runtime_error("cannot write " + (dir / name).string());
  };
  put("ca.der", c.ca.data(), c.ca.size());
  put("server.der", c.server_chain.data(), c.server_chain.size());
  put("server.key.der", c.server_key.data(), c.server_key.size());
  put("client.der", c.client.data(), c.client.size());
  put("client.key.der", c.client_key.data(), c.client_key.size());
  put("psk.id", c.psk_identity.data(), c.psk_identity.size());
  put("psk.key", c.psk.data(), c.psk.size());
}

// ---- the in-process card and client ------------------------------------------------------------

namespace {

namespace rig = tls_rig;

constexpr char kRequest[] = "GET /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
constexpr std::size_t kClientRegion = 96 * 1024;  // room for a saved session's copies too

const card::Tracer& silent_tracer() {
  static const card::Tracer t;
  return t;
}

rig::CardCredentials card_credentials(const TlsBenchCredentials& c) {
  return rig::CardCredentials{c.ca, c.server_chain, c.server_key, {{c.psk_identity, c.psk}}};
}

// A card with the run's credentials and a TLS region of region_bytes; its DRBG seeded from the kernel.
struct BenchCard : rig::Card {
  BenchCard(const TlsBenchCredentials& c, TlsBenchMode mode, std::size_t region_bytes)
      : rig::Card(card_credentials(c), region_bytes, mode == TlsBenchMode::kPsk ? tls::TlsMode::kPsk : tls::TlsMode::kCertificate,
                  rig::Seed{std::nullopt, "bench card"}) {}
};

tls::ClientCredentials client_credentials(const TlsBenchCredentials& c, TlsBenchMode mode) {
  using rig::bytes_of;
  if (mode == TlsBenchMode::kPsk) return rig::psk_client(bytes_of(c.psk_identity), bytes_of(c.psk));
  return rig::certificate_client(bytes_of(c.ca), bytes_of(c.client), bytes_of(c.client_key));
}

struct BenchClient : rig::Client {
  BenchClient(const TlsBenchCredentials& c, TlsBenchMode mode)
      : rig::Client(client_credentials(c, mode), rig::Seed{std::nullopt, "bench client"}, kClientRegion) {
    if (!ok) throw std::runtime_error("bench tls: the client context did not initialise");
  }
};

// The card's plaintext side (where the SCWS applet would be): reads a request up to its blank line,
// answers with a page of `body` bytes, then wants the connection closed.
struct PageServer : rig::App {
  explicit PageServer(std::size_t body) {
    answer = rig::page_response(body);
    close_after_answer = true;
  }
};

struct Connection {
  bool ok = false;
  bool resumed = false;
  std::string failure;
};

std::string describe_failure(const tls::TlsSession* s, const char* side) {
  std::ostringstream out;
  out << side << " " << (s != nullptr ? tls::TlsSession::state_name(s->state()) : "refused at open");
  if (s != nullptr && s->mbedtls_error() != 0) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "-0x%04X", static_cast<unsigned>(-s->mbedtls_error()));
    out << " (mbedTLS " << hex << ")";
  }
  return out.str();
}

// One connection between the client and the card's TLS endpoint over the rig's pipe (RECEIVE DATA-
// and SEND DATA-sized pieces), until the client has the whole answer.
Connection run_connection(BenchClient& client, tls::TlsEndpoint& endpoint, std::size_t expected, const mbedtls_ssl_session* resume,
                          mbedtls_ssl_session* save) {
  constexpr std::size_t kConnection = 0;
  Connection result;
  rig::App app;
  app.to_send = kRequest;
  tls::TlsSession session(client.ctx, app, 0, silent_tracer());
  if (!session.start(resume)) throw std::runtime_error("bench tls: the client has no RAM for a session");
  if (!endpoint.open(kConnection)) {
    result.failure = describe_failure(nullptr, "card");
    return result;
  }
  bool saved = false;
  rig::Pipe pipe;
  pipe.run(session, rig::PipeEnd(endpoint, kConnection), [&] {
    if (save != nullptr && !saved && session.state() == tls::TlsSession::State::kOpen) {
      // Right after the handshake: the card's close_notify may follow the page in the same pass.
      if (!session.save_session(*save)) throw std::runtime_error("bench tls: cannot save the session");
      saved = true;
    }
    return app.received.size() >= expected;
  });
  const tls::TlsSession* card_session = endpoint.session(kConnection);
  result.ok = app.received.size() == expected;
  result.resumed = card_session != nullptr && card_session->resumed();
  if (!result.ok) {
    result.failure = describe_failure(card_session, "card");
    if (card_session == nullptr || card_session->state() != tls::TlsSession::State::kFailed)
      result.failure += "; " + describe_failure(&session, "client");
    if (card_session != nullptr && card_session->failure() == tls::TlsFailure::kArenaExhausted) result.failure += ": arena exhausted";
  }
  if (save != nullptr && result.ok && !saved) throw std::runtime_error("bench tls: the session closed before it could be saved");
  endpoint.close(kConnection);
  return result;
}

}  // namespace

CardProbe probe_card_region(const TlsBenchCredentials& credentials, TlsBenchMode mode, std::size_t region_bytes, unsigned runs,
                            std::size_t response_bytes) {
  CardProbe p;
  tls::CardClock::set(std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  BenchCard card(credentials, mode, region_bytes);
  if (!card.ready()) {
    p.failure = "the server context does not fit the region";
    return p;
  }
  BenchClient client(credentials, mode);
  PageServer page(response_bytes);
  const std::string& response = page.answer;
  tls::TlsEndpoint endpoint(*card.ctx, page, silent_tracer());
  p.idle = card.allocator->in_use();
  card.allocator->reset_high_water();
  const u64 allocations_before = card.allocator->allocations();
  const auto start = Clock::now();
  for (unsigned i = 0; i < runs; ++i) {
    const Connection c = run_connection(client, endpoint, response.size(), nullptr, nullptr);
    if (!c.ok) {
      p.failure = c.failure;
      break;
    }
    if (card.allocator->in_use() != p.idle || !card.allocator->check_invariants()) {
      p.failure = "the region did not return to idle";
      break;
    }
    ++p.completed;
  }
  p.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  p.ok = p.completed == runs;
  p.peak = card.allocator->high_water() - p.idle;
  if (p.completed > 0) p.allocations = static_cast<std::size_t>((card.allocator->allocations() - allocations_before) / p.completed);
  return p;
}

PipeRate measure_pipe_rate(const TlsBenchCredentials& credentials, TlsBenchMode mode, unsigned runs) {
  PipeRate rate;
  rate.handshakes = runs;
  BenchCard card(credentials, mode, 64 * 1024);
  if (!card.ready()) throw std::runtime_error("bench tls: the server context did not initialise");
  BenchClient client(credentials, mode);
  PageServer page(1024);
  tls::TlsEndpoint endpoint(*card.ctx, page, silent_tracer());
  mbedtls_ssl_session saved;
  mbedtls_ssl_session_init(&saved);
  {
    tls::TlsAllocator::Scope scope(client.allocator);  // the saved session's copies live in the client's region
    auto start = Clock::now();
    for (unsigned i = 0; i < runs; ++i) {
      const Connection c = run_connection(client, endpoint, page.answer.size(), nullptr, i + 1 == runs ? &saved : nullptr);
      if (!c.ok) throw std::runtime_error("bench tls: a full handshake failed: " + c.failure);
    }
    rate.full_per_second = runs / std::chrono::duration<double>(Clock::now() - start).count();
    rate.resumed_ok = true;
    start = Clock::now();
    for (unsigned i = 0; i < runs; ++i) {
      const Connection c = run_connection(client, endpoint, page.answer.size(), &saved, nullptr);
      if (!c.ok) throw std::runtime_error("bench tls: a resumed handshake failed: " + c.failure);
      rate.resumed_ok = rate.resumed_ok && c.resumed;
    }
    rate.resumed_per_second = runs / std::chrono::duration<double>(Clock::now() - start).count();
    mbedtls_ssl_session_free(&saved);
  }
  return rate;
}

// ---- the peers ---------------------------------------------------------------------------------

namespace {

// A client run to its end (curl, openssl): its input on stdin, its chatter on stderr dropped.
ChildProcess::Output run_client(const std::vector<std::string>& argv, const std::string& input,
                                std::chrono::milliseconds bound = std::chrono::minutes(2)) {
  return ChildProcess::run(argv, input, ChildProcess::Stderr::kDiscard, bound);
}

// The number after "key": in a flat JSON line (the peers print nothing nested).
std::optional<long long> json_number(const std::string& json, const std::string& key) {
  const std::string k = "\"" + key + "\":";
  const auto at = json.find(k);
  if (at == std::string::npos) return std::nullopt;
  try {
    return std::stoll(json.substr(at + k.size()));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}
std::string json_string(const std::string& json, const std::string& key) {
  const std::string k = "\"" + key + "\":\"";
  const auto at = json.find(k);
  if (at == std::string::npos) return {};
  const auto end = json.find('"', at + k.size());
  return json.substr(at + k.size(), end - at - k.size());
}

PeerRegion run_peer(const fs::path& exe, bool stock, TlsBenchMode mode, const fs::path& creds, unsigned runs, std::size_t response) {
  PeerRegion p;
  p.peer = stock ? "Debian libmbedtls 2.28 (stock)" : "card config + mbedTLS buffer allocator";
  p.mode = mode;
  if (!fs::exists(exe)) {
    p.error = exe.string() + " not found" + (stock ? " (libmbedtls-dev missing at build time?)" : "");
    return p;
  }
  std::vector<std::string> args = {exe.string(), "--dir", creds.string(), "--mode", mode == TlsBenchMode::kPsk ? "psk" : "cert",
                                   "--runs", std::to_string(runs), "--response", std::to_string(response)};
  if (!stock) {
    args.insert(args.end(), {"--lo", mode == TlsBenchMode::kPsk ? "1024" : "4096", "--hi", "65536"});
  }
  // The peer's stderr goes to ours; its bisection takes minutes with many runs.
  auto [status, out, timed_out] = ChildProcess::run(args, std::nullopt, ChildProcess::Stderr::kInherit, std::chrono::hours(1));
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  p.raw_json = out;
  if (status != 0) {
    p.error = (timed_out ? "stopped after an hour, exit status " : "exit status ") + std::to_string(status);
    const std::string e = json_string(out, "first_error_text");
    if (!e.empty()) p.error += ", mbedTLS " + e;
    return p;
  }
  if (stock) {
    p.idle = static_cast<std::size_t>(json_number(out, "idle").value_or(0));
    p.session = static_cast<std::size_t>(json_number(out, "session_peak").value_or(0));
    p.total = static_cast<std::size_t>(json_number(out, "peak_total").value_or(0));
    p.allocations = static_cast<std::size_t>(json_number(out, "allocations_per_connection").value_or(0));
  } else {
    p.idle = static_cast<std::size_t>(json_number(out, "idle").value_or(0));
    p.session = static_cast<std::size_t>(json_number(out, "session").value_or(0));
    p.total = static_cast<std::size_t>(json_number(out, "smallest").value_or(0));
  }
  p.measured = p.total > 0;
  if (!p.measured) p.error = "no figures in the peer's output";
  return p;
}

fs::path default_peer_dir() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path(".") : self.parent_path();
}

PcscdRates measure_pcscd_rates(const TlsBenchOptions& options, const std::vector<std::pair<TlsBenchMode, PipeRate>>& pipe,
                               const std::function<void(const std::string&)>& progress);

}  // namespace

TlsBenchResult run_tls_bench(const TlsBenchOptions& options) {
  TlsBenchResult r;
  // First, while the process has no threads: a private /run/pcscd for the rates through pcscd.
  bool pcscd = options.pcscd;
  if (!pcscd) {
    r.pcscd.note = "not asked for (--no-pcscd)";
  } else if (!enter_private_pcscd_namespace_for_figures(r.pcscd.note)) {
    pcscd = false;
  }
  r.runs = options.runs;
  r.in_content_len = MBEDTLS_SSL_IN_CONTENT_LEN;
  r.out_content_len = MBEDTLS_SSL_OUT_CONTENT_LEN;
  auto progress = [&](const std::string& line) {
    if (options.verbose) std::cerr << "bench tls: " << line << std::endl;
  };
  progress("creating a test PKI");
  const TlsBenchCredentials creds = make_tls_bench_credentials();

  for (TlsBenchMode mode : {TlsBenchMode::kCertificate, TlsBenchMode::kPsk}) {
    RegionFigures f;
    f.mode = mode;
    f.client = "card mbedTLS client, in-memory pipe";
    f.runs = options.runs;
    f.target = mode == TlsBenchMode::kPsk ? kTlsPskTarget : kTlsCertificateTarget;
    bisect_region(f, mode == TlsBenchMode::kPsk ? 1024 : 2048, 64 * 1024, progress, [&](std::size_t size) {
      return probe_card_region(creds, mode, size, options.runs, options.response_bytes);
    });
    if (f.smallest == 0) r.notes.push_back(std::string(tls_bench_mode_name(mode)) + ": no region up to 64 KiB works");
    r.regions.push_back(f);
  }

  const unsigned rate_runs = options.quick ? 10 : 50;
  for (TlsBenchMode mode : {TlsBenchMode::kCertificate, TlsBenchMode::kPsk}) {
    progress(std::string("handshake rate over the in-memory pipe, ") + tls_bench_mode_name(mode));
    r.pipe_rates.emplace_back(mode, measure_pipe_rate(creds, mode, rate_runs));
  }

  if (pcscd) {
    try {
      r.pcscd = measure_pcscd_rates(options, r.pipe_rates, progress);
    } catch (const std::exception& e) {
      r.pcscd.note = e.what();
    }
  }

  if (options.peers) {
    const fs::path dir = options.peer_dir.empty() ? default_peer_dir() : options.peer_dir;
    const ScratchDir scratch("scws-bench-tls");
    const fs::path& creds_dir = scratch.path();
    write_peer_credentials(creds, creds_dir);
    for (bool stock : {true, false}) {
      for (TlsBenchMode mode : {TlsBenchMode::kCertificate, TlsBenchMode::kPsk}) {
        progress(std::string(stock ? "stock mbedTLS" : "buffer allocator") + " peer, " + tls_bench_mode_name(mode));
        r.peers.push_back(run_peer(dir / (stock ? "scws-bench-stock-tls" : "scws-bench-bufalloc-tls"), stock, mode, creds_dir,
                                   options.runs, options.response_bytes));
      }
    }
  } else {
    r.notes.push_back("reference peers not run (--no-peers)");
  }
  if (options.stack) {
    try {
      r.stack = measure_stack(options.quick ? 3 : 20, options.verbose);
    } catch (const std::exception& e) {
      r.stack.error = e.what();
      r.notes.push_back(std::string("through-the-stack rows not measured: ") + e.what());
    }
    try {
      const std::vector<RegionFigures> pipe = r.regions;
      for (RegionFigures& f : measure_stack_regions(options.runs, pipe, progress)) {
        if (f.smallest == 0) r.notes.push_back(f.client + ": no working region found");
        r.regions.push_back(std::move(f));
      }
    } catch (const std::exception& e) {
      r.notes.push_back(std::string("smallest regions with curl / openssl not measured: ") + e.what());
    }
  }
  return r;
}

// ---- output ------------------------------------------------------------------------------------

namespace {

std::string kib(std::size_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f KiB", static_cast<double>(bytes) / 1024.0);
  return text;
}

const RegionFigures* region_for(const TlsBenchResult& r, TlsBenchMode mode) {
  for (const auto& f : r.regions)
    if (f.mode == mode && f.smallest != 0) return &f;
  return nullptr;
}

}  // namespace

std::string format_human(const TlsBenchResult& r) {
  std::ostringstream out;
  out << "scws bench tls: the card's RAM for one TLS session (x86-64, record buffers IN " << r.in_content_len << " / OUT "
      << r.out_content_len << "; " << r.runs << " full handshakes + GET of a 1 KiB page per probe)\n";
  for (const auto& f : r.regions) {
    out << "  " << tls_bench_mode_name(f.mode) << " (" << f.client << "): ";
    if (f.smallest == 0) {
      out << "no working region found\n";
      continue;
    }
    out << "smallest region " << f.smallest << " B = context " << f.idle << " B + session " << f.session << " B (" << kib(f.session)
        << ", of which " << f.session_object << " B the TlsSession object with its mbedtls_ssl_context; target <= " << kib(f.target) << ": " << (f.meets_target() ? "met" : "MISSED") << "); high water " << f.peak
        << " B; ";
    if (f.allocations != 0) out << f.allocations << " allocations per connection; ";
    out << f.probes << " probes\n";
  }
  if (!r.peers.empty()) out << "reference peers, same handshakes, same run:\n";
  for (const auto& p : r.peers) {
    out << "  " << tls_bench_mode_name(p.mode) << ", " << p.peer << ": ";
    if (!p.measured) {
      out << "not measured (" << p.error << ")\n";
      continue;
    }
    const bool stock = p.peer.find("stock") != std::string::npos;
    out << (stock ? "peak heap " : "smallest buffer ") << p.total << " B = context " << p.idle << " B + session " << p.session
        << " B (" << kib(p.session) << ")";
    if (const RegionFigures* ours = region_for(r, p.mode))
      out << "; " << std::fixed << std::setprecision(2) << tls_ratio(static_cast<double>(p.session), static_cast<double>(ours->session))
          << std::defaultfloat << "x the card's session";
    out << "\n";
  }
  if (!r.pipe_rates.empty()) out << "handshakes per second, card mbedTLS client and server over the in-memory pipe (both sides' CPU):\n";
  for (const auto& [mode, rate] : r.pipe_rates) {
    out << "  " << tls_bench_mode_name(mode) << ": full " << std::fixed << std::setprecision(1) << rate.full_per_second << "/s, resumed "
        << rate.resumed_per_second << "/s" << std::defaultfloat << (rate.resumed_ok ? "" : " (NOT all resumed)") << " ("
        << rate.handshakes << " each)\n";
  }
  if (r.pcscd.measured) {
    out << "handshakes per second through the real stack (openssl -> gateway -> libpcsclite -> pcscd -> vpcd -> `scws card`),\n"
           "beside the in-memory pipe rate of the same kind (pipe / stack = how many times slower the stack is):\n";
    for (const auto& row : r.pcscd.rows) {
      out << "  " << tls_bench_mode_name(row.mode) << (row.resumed ? " resumed" : " full") << ", " << row.client << ": " << std::fixed
          << std::setprecision(2) << row.per_second << "/s (" << row.connections << " in " << std::setprecision(1) << row.seconds
          << " s); pipe " << row.pipe_per_second << "/s; pipe / stack " << row.pipe_ratio << "x" << std::defaultfloat;
      if (!row.note.empty()) out << " [" << row.note << "]";
      out << "\n";
    }
  } else {
    out << "handshakes per second through the real pcscd stack: not measured: " << r.pcscd.note << "\n";
  }
  if (r.stack.measured) {
    out << "through the in-process stack (EmulatedUicc + DirectTransport + Gateway, TLS region " << r.stack.region << " B, context "
        << r.stack.region_idle << " B, admits " << r.stack.max_sessions << " sessions):\n";
    for (const auto& row : r.stack.rows)
      out << "  " << tls_bench_mode_name(row.mode) << ", " << row.client << ": " << row.ok << "/" << row.runs << " GETs, "
          << std::fixed << std::setprecision(1) << row.apdus_per_connection << std::defaultfloat
          << " APDUs per connection (handshake + GET + close); region high water beyond the context so far " << row.peak << " B\n";
    out << "  APDUs per handshake (openssl, certificate, no request, close included): full " << std::fixed << std::setprecision(0)
        << r.stack.apdus_full << ", resumed (ticket) " << r.stack.apdus_resumed << std::defaultfloat << (r.stack.resumed_ok ? "" : " (NOT resumed)") << "\n";
  }
  for (const auto& n : r.notes) out << "note: " << n << "\n";
  return out.str();
}

std::string format_json(const TlsBenchResult& r) {
  std::ostringstream out;
  out << "{\"in_content_len\":" << r.in_content_len << ",\"out_content_len\":" << r.out_content_len << ",\"runs\":" << r.runs
      << ",\"regions\":[";
  bool first = true;
  for (const auto& f : r.regions) {
    out << (first ? "" : ",") << "{\"mode\":\"" << tls_bench_mode_name(f.mode) << "\",\"client\":\"" << json_escape(f.client)
        << "\",\"smallest\":" << f.smallest << ",\"idle\":" << f.idle << ",\"session\":" << f.session << ",\"session_object\":" << f.session_object << ",\"peak\":" << f.peak
        << ",\"allocations\":" << f.allocations << ",\"probes\":" << f.probes << ",\"target\":" << f.target
        << ",\"meets_target\":" << (f.meets_target() ? "true" : "false") << "}";
    first = false;
  }
  out << "],\"peers\":[";
  first = true;
  for (const auto& p : r.peers) {
    out << (first ? "" : ",") << "{\"peer\":\"" << json_escape(p.peer) << "\",\"mode\":\"" << tls_bench_mode_name(p.mode)
        << "\",\"measured\":" << (p.measured ? "true" : "false") << ",\"idle\":" << p.idle << ",\"session\":" << p.session
        << ",\"total\":" << p.total << ",\"allocations\":" << p.allocations << ",\"error\":\"" << json_escape(p.error) << "\"";
    if (!p.raw_json.empty() && p.raw_json.front() == '{') out << ",\"raw\":" << p.raw_json;
    out << "}";
    first = false;
  }
  out << "],\"pipe_rates\":[";
  first = true;
  for (const auto& [mode, rate] : r.pipe_rates) {
    out << (first ? "" : ",") << "{\"mode\":\"" << tls_bench_mode_name(mode) << "\",\"handshakes\":" << rate.handshakes
        << ",\"full_per_second\":" << rate.full_per_second << ",\"resumed_per_second\":" << rate.resumed_per_second
        << ",\"resumed_ok\":" << (rate.resumed_ok ? "true" : "false") << "}";
    first = false;
  }
  out << "],\"stack\":{\"measured\":" << (r.stack.measured ? "true" : "false") << ",\"region\":" << r.stack.region
      << ",\"region_idle\":" << r.stack.region_idle << ",\"max_sessions\":" << r.stack.max_sessions << ",\"apdus_full_handshake\":"
      << r.stack.apdus_full << ",\"apdus_resumed_handshake\":" << r.stack.apdus_resumed << ",\"resumed_ok\":"
      << (r.stack.resumed_ok ? "true" : "false") << ",\"rows\":[";
  first = true;
  for (const auto& row : r.stack.rows) {
    out << (first ? "" : ",") << "{\"client\":\"" << json_escape(row.client) << "\",\"mode\":\"" << tls_bench_mode_name(row.mode)
        << "\",\"runs\":" << row.runs << ",\"ok\":" << row.ok << ",\"apdus_per_connection\":" << row.apdus_per_connection
        << ",\"peak\":" << row.peak << "}";
    first = false;
  }
  out << "],\"error\":\"" << json_escape(r.stack.error) << "\"}";
  out << ",\"pcscd_rates\":{\"measured\":" << (r.pcscd.measured ? "true" : "false") << ",\"note\":\"" << json_escape(r.pcscd.note)
      << "\",\"rows\":[";
  first = true;
  for (const auto& row : r.pcscd.rows) {
    out << (first ? "" : ",") << "{\"mode\":\"" << tls_bench_mode_name(row.mode) << "\",\"resumed\":" << (row.resumed ? "true" : "false")
        << ",\"client\":\"" << json_escape(row.client) << "\",\"connections\":" << row.connections << ",\"resumed_count\":"
        << row.resumed_count << ",\"seconds\":" << row.seconds << ",\"per_second\":" << row.per_second
        << ",\"pipe_per_second\":" << row.pipe_per_second << ",\"pipe_ratio\":" << row.pipe_ratio << ",\"note\":\""
        << json_escape(row.note) << "\"}";
    first = false;
  }
  out << "]}";
  out << ",\"notes\":[";
  first = true;
  for (const auto& n : r.notes) {
    out << (first ? "" : ",") << "\"" << json_escape(n) << "\"";
    first = false;
  }
  out << "]}\n";
  return out.str();
}

}  // namespace scws::sim

// ---- through the in-process stack ----------------------------------------------------------------

namespace scws::sim {

namespace {

// Runs fn on the gateway's io thread and waits for its result (the gateway's observers are for
// that thread only).
template <class F>
auto on_io(asio::io_context& io, F fn) -> decltype(fn()) {
  std::promise<decltype(fn())> promise;
  auto future = promise.get_future();
  asio::post(io, [&] { promise.set_value(fn()); });
  return future.get();
}

// The demo profile with a [tls] port serving certificates and PSKs, one client certificate and one
// PSK identity: what `scws run` serves.
Profile stack_profile() {
  Profile profile = load_profile(bundled_demo_profile());
  if (!profile.tls) profile.tls = ProfileTls{};
  profile.tls->mode = ProfileTls::Mode::kBoth;
  profile.tls->clients = 1;
  profile.tls->psk_identities = 1;
  return profile;
}

// Card RAM for a profile's image: the TLS region (the profile's, or its mode's default) beside 16 KiB
// for everything else, at least the build's card RAM.
std::size_t card_ram_for(const Profile& profile) {
  const std::size_t region = profile.tls->ram != 0 ? profile.tls->ram : default_tls_ram(profile.tls->mode, profile.tls->channels);
  return std::max<std::size_t>(SCWS_RAM_SIZE, (16384 + region + 15) / 16 * 16);
}

// The card as `scws run` builds it, in this process: an image provisioned from the profile (TLS
// region tls_ram bytes, 0: the profile's), an EmulatedUicc, DirectTransport and the Gateway on
// loopback with idle STATUS polling off (every APDU counted is a client's). budget: the TLS port's
// per-session admission budget (TlsPort::set_session_budget, 0: the mode's).
class StackRig {
 public:
  StackRig(const Profile& base, const Pki& pki, std::size_t tls_ram, std::size_t budget) : profile_(base) {
    if (tls_ram != 0) profile_.tls->ram = static_cast<std::uint32_t>(tls_ram);
    provision_device(profile_, nvm_, &pki);
    host_.emplace(nvm_, card_ram_for(profile_));
    host_->tls_port().set_session_budget(budget);
    if (!host_->card().power_on()) throw std::runtime_error("bench tls: the card did not power up");
    if (port().state() != card::TlsPort::State::kServing) return;  // e.g. a region too small for the context
    tls_card_port_ = host_->scws().settings().tls_port;
    transport_.emplace(host_->card());
    GatewayOptions options;
    options.port_map[tls_card_port_] = 0;
    options.port_map[host_->scws().settings().http_port] = 0;
    options.poll_interval = std::chrono::hours(1);
    options.log = [](const std::string&) {};
    gateway_.emplace(io_, *transport_, options);
    gateway_->start();
    io_thread_ = std::thread([this] { io_.run(); });
    if (!settle()) throw std::runtime_error("bench tls: the card's TLS channels never listened");
    local_port_ = *on_io(io_, [&] { return gateway_->local_port(tls_card_port_); });
  }
  ~StackRig() {
    if (!gateway_) return;
    asio::post(io_, [this] { gateway_->stop(); });
    io_.stop();
    io_thread_.join();
    gateway_.reset();
  }
  StackRig(const StackRig&) = delete;
  StackRig& operator=(const StackRig&) = delete;

  [[nodiscard]] bool serving() const { return gateway_.has_value(); }
  [[nodiscard]] const card::TlsPort& port() const { return host_->tls_port(); }
  [[nodiscard]] std::string address() const { return "127.0.0.1:" + std::to_string(local_port_); }
  [[nodiscard]] u16 local_port() const { return local_port_; }
  u64 apdus() { return on_io(io_, [&] { return gateway_->stats().apdus; }); }
  std::size_t region_in_use() { return on_io(io_, [&] { return port().allocator()->in_use(); }); }
  std::size_t region_high_water() { return on_io(io_, [&] { return port().allocator()->high_water(); }); }
  u32 exhausted() { return on_io(io_, [&] { return port().failures(tls::TlsFailure::kArenaExhausted); }); }

  // Bounded polling until the TLS port's channels all listen again (the previous client is gone).
  bool settle() {
    const std::size_t channels = profile_.tls->channels;
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (Clock::now() < deadline) {
      const bool idle = on_io(io_, [&] {
        std::size_t listening = 0;
        for (const auto& c : gateway_->channels())
          if (c.card_port == tls_card_port_ && c.state == apdu::cat::ServerState::kListen) ++listening;
        return listening >= channels && port().sessions() == 0;
      });
      if (idle) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));  // polling interval, not synchronisation
    }
    return false;
  }

 private:
  Profile profile_;
  std::vector<u8> image_ = std::vector<u8>(SCWS_NVM_SIZE);
  card::RamNvmDevice nvm_{MutableBytes(image_.data(), image_.size())};
  std::optional<EmulatedUicc> host_;
  std::optional<DirectTransport> transport_;
  asio::io_context io_;
  std::optional<Gateway> gateway_;
  std::thread io_thread_;
  u16 tls_card_port_ = 0;
  u16 local_port_ = 0;
};

// A real client of the stack: its command line for an address, and what success prints.
struct StackClient {
  std::string name;  // "curl", "openssl s_client", ...
  TlsBenchMode mode;
  std::string suite;  // what it negotiates, for the report
  bool curl;          // prints the status code (-w); else an openssl s_client fed a request
  std::function<std::vector<std::string>(const std::string& address)> argv;
};

std::vector<StackClient> stack_clients(const Pki& pki, const fs::path& c) {
  const std::vector<u8>& psk_key = pki.psks.at(0).key;
  const std::string psk_hex = hex_text(Bytes(psk_key.data(), psk_key.size()), HexCase::kLower);
  const std::string identity = pki.psks.at(0).identity;
  // -no-CA*: no certificate is involved with PSK, and without them s_client loads the system's whole
  // CA store at every start (about 40 ms of its own CPU here).
  auto psk = [=](const std::string& cipher) {
    return [=](const std::string& address) {
      return std::vector<std::string>{"/usr/bin/openssl", "s_client", "-connect", address, "-tls1_2", "-quiet", "-no-CAfile",
                                      "-no-CApath", "-no-CAstore", "-psk_identity", identity, "-psk", psk_hex, "-cipher", cipher};
    };
  };
  return {
      {"openssl s_client", TlsBenchMode::kPsk, "PSK-AES128-CCM", false, psk("PSK-AES128-CCM")},
      {"openssl s_client", TlsBenchMode::kPsk, "PSK-AES128-CBC-SHA256", false, psk("PSK-AES128-CBC-SHA256")},
      {"openssl s_client", TlsBenchMode::kPsk, "PSK-AES128-GCM-SHA256", false, psk("PSK-AES128-GCM-SHA256")},
      {"curl", TlsBenchMode::kCertificate, "ECDHE-ECDSA-AES128-GCM-SHA256", true,
       [=](const std::string& address) {
         return std::vector<std::string>{"/usr/bin/curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", (c / "ca.pem").string(),
                                         "--cert", (c / "client-1.pem").string(), "--key", (c / "client-1.key").string(),
                                         "https://" + address + "/"};
       }},
      {"openssl s_client", TlsBenchMode::kCertificate, "ECDHE-ECDSA-AES128-GCM-SHA256", false,
       [=](const std::string& address) {
         return std::vector<std::string>{"/usr/bin/openssl", "s_client", "-connect", address, "-tls1_2", "-quiet", "-CAfile",
                                         (c / "ca.pem").string(), "-cert", (c / "client-1.pem").string(), "-key",
                                         (c / "client-1.key").string()};
       }},
  };
}

// One connection of a real client: handshake, GET of the demo page, close.
bool run_stack_client(const StackClient& client, const std::string& address) {
  static const std::string request = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  auto [status, out, timed_out] = run_client(client.argv(address), client.curl ? std::string() : request);
  return status == 0 && (client.curl ? out == "200" : out.find("HTTP/1.1 200") != std::string::npos);
}

// One probe of the bisection with a real client: a fresh card whose TLS region is region_bytes,
// admitting a session whenever one is not open already (so a session that does not fit fails by
// exhaustion instead of being refused by the budget), `runs` connections in a row.
CardProbe probe_stack_region(const Profile& profile, const Pki& pki, const StackClient& client, std::size_t region_bytes, unsigned runs) {
  CardProbe p;
  StackRig rig(profile, pki, region_bytes, 1);
  if (!rig.serving()) {
    p.failure = std::string("the TLS port does not serve (") + card::TlsPort::state_name(rig.port().state()) + ")";
    return p;
  }
  p.idle = rig.port().region_idle();
  const auto start = Clock::now();
  for (unsigned i = 0; i < runs; ++i) {
    const bool ok = run_stack_client(client, rig.address());
    if (!rig.settle()) {
      p.failure = "the card's TLS channels did not listen again";
      break;
    }
    if (!ok) {
      p.failure = rig.exhausted() > 0 ? "arena exhausted" : "the client failed";
      break;
    }
    if (rig.region_in_use() != p.idle) {
      p.failure = "the region did not return to idle";
      break;
    }
    ++p.completed;
  }
  p.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  p.ok = p.completed == runs;
  p.peak = rig.region_high_water() - p.idle;
  return p;
}

}  // namespace

std::vector<RegionFigures> measure_stack_regions(unsigned runs, const std::vector<RegionFigures>& pipe,
                                                 const std::function<void(const std::string&)>& progress) {
  ::signal(SIGPIPE, SIG_IGN);
  const Profile profile = stack_profile();
  const Pki pki = generate_pki(pki_options(*profile.tls));
  const ScratchDir scratch("scws-bench-tls-regions");
  write_client_folder(pki, scratch.path() / "clients", "127.0.0.1", 0);
  std::vector<RegionFigures> rows;
  for (const StackClient& client : stack_clients(pki, scratch.path() / "clients")) {
    RegionFigures f;
    f.mode = client.mode;
    f.client = client.name + ", " + client.suite + ", through the in-process stack";
    f.runs = runs;
    f.target = client.mode == TlsBenchMode::kPsk ? kTlsPskTarget : kTlsCertificateTarget;
    // Around the pipe's answer: its session for this mode beside this card's context (which holds
    // both modes' credentials, about the pipe's certificate context).
    std::size_t lo = 4096, hi = 64 * 1024;
    const RegionFigures* context = nullptr;
    const RegionFigures* same = nullptr;
    for (const RegionFigures& r : pipe) {
      if (r.smallest == 0) continue;
      if (r.mode == TlsBenchMode::kCertificate && context == nullptr) context = &r;
      if (r.mode == client.mode && same == nullptr) same = &r;
    }
    if (context != nullptr && same != nullptr) {
      const std::size_t guess = context->idle + same->session;
      lo = guess > 4096 ? guess - 2048 : 2048;
      hi = guess + 4096;
    }
    bisect_region(f, lo, hi, progress, [&](std::size_t size) { return probe_stack_region(profile, pki, client, size, runs); });
    rows.push_back(f);
  }
  return rows;
}

StackFigures measure_stack(unsigned runs, bool verbose) {
  StackFigures fig;
  ::signal(SIGPIPE, SIG_IGN);
  auto progress = [&](const std::string& line) {
    if (verbose) std::cerr << "bench tls: " << line << std::endl;
  };
  const Profile profile = stack_profile();
  const Pki pki = generate_pki(pki_options(*profile.tls));
  StackRig rig(profile, pki, 0, 0);
  if (!rig.serving())
    throw std::runtime_error(std::string("bench tls: the card's TLS port is not serving: ") + card::TlsPort::state_name(rig.port().state()));
  const card::TlsPort& port = rig.port();
  fig.region = port.allocator()->capacity();
  fig.region_idle = port.region_idle();
  fig.max_sessions = port.max_sessions();
  const std::string address = rig.address();

  const ScratchDir scratch("scws-bench-tls-stack");
  const fs::path& dir = scratch.path();
  write_client_folder(pki, dir / "clients", "127.0.0.1", rig.local_port());
  const fs::path c = dir / "clients";
  for (const StackClient& client : stack_clients(pki, c)) {
    StackClientRow row;
    row.client = client.name + ", " + client.suite;
    row.mode = client.mode;
    row.runs = runs;
    u64 total = 0;
    progress("through the stack: " + row.client);
    for (unsigned i = 0; i < runs; ++i) {
      const u64 before = rig.apdus();
      const bool ok = run_stack_client(client, address);
      if (!rig.settle()) break;
      if (!ok) continue;
      ++row.ok;
      total += rig.apdus() - before;
    }
    row.apdus_per_connection = row.ok > 0 ? static_cast<double>(total) / row.ok : 0;
    row.peak = rig.region_high_water() - fig.region_idle;
    fig.rows.push_back(row);
  }

  // APDUs of a handshake alone: openssl with no request, then the same session resumed by its ticket.
  const fs::path session = dir / "session.pem";
  std::vector<std::string> hs = {"/usr/bin/openssl", "s_client", "-connect", address, "-tls1_2", "-CAfile", (c / "ca.pem").string(),
                                 "-cert", (c / "client-1.pem").string(), "-key", (c / "client-1.key").string()};
  const std::string none;
  auto handshake_apdus = [&](const std::vector<std::string>& extra, bool& reused) -> double {
    std::vector<std::string> argv = hs;
    argv.insert(argv.end(), extra.begin(), extra.end());
    const u64 before = rig.apdus();
    auto [status, out, timed_out] = run_client(argv, none);
    if (!rig.settle()) return 0;
    reused = out.find("Reused, TLSv1.2") != std::string::npos;
    return status == 0 ? static_cast<double>(rig.apdus() - before) : 0;
  };
  bool reused = false;
  fig.apdus_full = handshake_apdus({"-sess_out", session.string()}, reused);
  fig.apdus_resumed = handshake_apdus({"-sess_in", session.string()}, fig.resumed_ok);
  fig.measured = true;
  return fig;
}

}  // namespace scws::sim

// ---- handshake rates through the real pcscd stack ----------------------------------------------

namespace scws::sim {

double handshake_rate(unsigned connections, double seconds) noexcept {
  return seconds > 0 ? static_cast<double>(connections) / seconds : 0;
}

namespace {

// openssl s_time's summary "N connections in S real seconds" and its per-connection marks ('r' for a
// resumed session, '*' or a version letter otherwise, on lines of their own).
struct STime {
  bool parsed = false;
  unsigned connections = 0, resumed = 0;
  long real_seconds = 0;
};
STime parse_s_time(const std::string& out) {
  STime t;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    unsigned n = 0;
    long s = 0;
    if (std::sscanf(line.c_str(), "%u connections in %ld real seconds", &n, &s) == 2) {
      t.parsed = true;
      t.connections = n;
      t.real_seconds = s;
    } else if (!line.empty() && line.find_first_not_of("*rt3") == std::string::npos) {
      for (char ch : line) t.resumed += ch == 'r' ? 1 : 0;
    }
  }
  return t;
}

// Where the rate rows connect, with what, for how long.
struct RateTarget {
  std::string address;            // the gateway's TLS port
  std::vector<std::string> cert;  // openssl's client certificate, key and CA options
  std::string psk_identity, psk_hex;
  unsigned seconds = 0;           // per row
};

RateTarget rate_target(const fs::path& creds, u16 port, unsigned seconds) {
  RateTarget t;
  t.address = "127.0.0.1:" + std::to_string(port);
  t.cert = {"-cert", (creds / "client-1.pem").string(), "-key", (creds / "client-1.key").string(), "-CAfile", (creds / "ca.pem").string()};
  std::ifstream in(creds / "psk.txt");
  in >> t.psk_identity >> t.psk_hex;
  if (t.psk_identity.empty() || t.psk_hex.empty()) throw std::runtime_error("bench tls: no PSK in " + (creds / "psk.txt").string());
  t.seconds = seconds;
  return t;
}

// Certificate, full or resumed: `openssl s_time` for the target's seconds.
PcscdRateRow s_time_row(const RateTarget& target, bool reuse) {
  PcscdRateRow row;
  row.mode = TlsBenchMode::kCertificate;
  row.resumed = reuse;
  row.client = reuse ? "openssl s_time -reuse" : "openssl s_time -new";
  std::vector<std::string> argv = {"/usr/bin/openssl", "s_time", "-connect", target.address, "-tls1_2", reuse ? "-reuse" : "-new",
                                   "-time", std::to_string(target.seconds)};
  argv.insert(argv.end(), target.cert.begin(), target.cert.end());
  const auto t0 = Clock::now();
  const auto [status, out, timed_out] = run_client(argv, std::string(), std::chrono::seconds(target.seconds) + std::chrono::minutes(1));
  row.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  const STime t = parse_s_time(out);
  if (!t.parsed) {
    row.note = "s_time printed no summary (exit " + std::to_string(status) + ")";
    return row;
  }
  row.connections = t.connections;
  row.resumed_count = t.resumed;
  row.note = "s_time: " + std::to_string(t.connections) + " connections in " + std::to_string(t.real_seconds) +
             " real seconds; rate over the child's wall time, process start included";
  if (reuse && t.resumed < t.connections)
    row.note += "; only " + std::to_string(t.resumed) + " of " + std::to_string(t.connections) + " resumed";
  if (reuse) row.note += "; plus one full handshake first";
  return row;
}

// One `openssl s_client` per handshake for the target's seconds (PSK: s_time has no -psk).
PcscdRateRow s_client_loop_row(const RateTarget& target, TlsBenchMode mode) {
  PcscdRateRow row;
  row.mode = mode;
  row.client = "openssl s_client loop";
  std::vector<std::string> argv = {"/usr/bin/openssl", "s_client", "-connect", target.address, "-tls1_2"};
  if (mode == TlsBenchMode::kPsk) {
    // -no-CA*: without them s_client loads the system's whole CA store at every start (~40 ms).
    argv.insert(argv.end(), {"-no-CAfile", "-no-CApath", "-no-CAstore", "-psk_identity", target.psk_identity, "-psk",
                             target.psk_hex, "-cipher", "PSK-AES128-CCM"});
  } else {
    argv.insert(argv.end(), target.cert.begin(), target.cert.end());
  }
  unsigned failures = 0;
  const auto t0 = Clock::now();
  while (Clock::now() - t0 < std::chrono::seconds(target.seconds)) {
    // stdin at its end: handshake, close_notify, exit
    const auto [status, out, timed_out] = run_client(argv, std::string());
    if (status == 0 && out.find("New, TLSv1.2") != std::string::npos) {
      ++row.connections;
    } else if (++failures >= 3 && row.connections == 0) {
      break;
    }
  }
  row.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  row.note = "one process per handshake (process start included)";
  if (failures > 0) row.note += "; " + std::to_string(failures) + " failed";
  return row;
}

PcscdRates measure_pcscd_rates(const TlsBenchOptions& options, const std::vector<std::pair<TlsBenchMode, PipeRate>>& pipe,
                               const std::function<void(const std::string&)>& progress) {
  using namespace std::chrono_literals;
  ::signal(SIGPIPE, SIG_IGN);
  const ScratchDir scratch("scws-bench-tls-pcscd");
  const fs::path& dir = scratch.path();

  // The card image: the demo profile with a TLS port serving certificates and PSKs.
  const Profile profile = stack_profile();
  const fs::path creds = dir / "clients";
  const fs::path image = dir / "card.img";
  provision_file(profile, image, SCWS_NVM_SIZE, true, creds);

  PcscStack stack({dir, "scws bench tls"});
  std::error_code ec;
  const fs::path scws = options.scws.empty() ? fs::read_symlink("/proc/self/exe", ec) : options.scws;
  stack.start_card(scws, image, {"--quiet", "--ram", std::to_string(card_ram_for(profile))});
  PcscTransport transport(stack.pcscd().reader(0));
  GatewayRunner runner(transport, options.verbose, "pcscd", {profile.tls->port, profile.http_port});
  u16 port = 0;
  try {
    port = runner.start(profile.tls->channels, 20000ms);
  } catch (const std::runtime_error& e) {
    throw stack.failure(e.what());
  }
  progress("through pcscd: gateway over " + stack.pcscd().reader(0) + ", TLS on 127.0.0.1:" + std::to_string(port));
  const RateTarget target = rate_target(creds, port, options.pcscd_seconds != 0 ? options.pcscd_seconds : (options.quick ? 3 : 10));

  PcscdRates rates;
  auto add = [&](PcscdRateRow row) {
    row.per_second = handshake_rate(row.connections, row.seconds);
    for (const auto& [mode, rate] : pipe)
      if (mode == row.mode) row.pipe_per_second = row.resumed ? rate.resumed_per_second : rate.full_per_second;
    row.pipe_ratio = tls_ratio(row.pipe_per_second, row.per_second);
    rates.rows.push_back(row);
    wait_quiet(runner.counter());
  };
  for (bool reuse : {false, true}) {
    progress(std::string("through pcscd: openssl s_time ") + (reuse ? "-reuse" : "-new"));
    add(s_time_row(target, reuse));
  }
  // PSK and, beside it, certificate the same way: what a process per handshake costs.
  for (TlsBenchMode mode : {TlsBenchMode::kPsk, TlsBenchMode::kCertificate}) {
    progress(std::string("through pcscd: openssl s_client loop, ") + tls_bench_mode_name(mode));
    add(s_client_loop_row(target, mode));
  }
  runner.stop();
  stack.stop();
  rates.measured = true;
  return rates;
}

}  // namespace

}  // namespace scws::sim
