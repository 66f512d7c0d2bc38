#include "sim/testing/tls_rig.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace scws::sim::tls_rig {

namespace {

// Seeds rng from the kernel, or from `entropy` restarted at the reproducible seed.
void seed_rng(tls::CardRng& rng, ReproducibleEntropy& entropy, const Seed& seed, const char* who) {
  void* context = nullptr;
  if (seed.reproducible) {
    entropy.state = *seed.reproducible;
    context = &entropy;
  }
  if (!rng.seed(host_entropy, context, bytes_of(seed.personalization)).ok())
    throw std::runtime_error(std::string("tls rig: the ") + who + "'s DRBG did not seed");
}

}  // namespace

CardStore::CardStore(std::size_t nvm_bytes, u32 journal_bytes)
    : bytes(nvm_bytes), device(MutableBytes(bytes.data(), bytes.size())), nvm(device), store(nvm) {
  if (!nvm.format(journal_bytes).ok() || !nvm.begin().ok() || !store.format().ok() || !nvm.commit().ok())
    throw std::runtime_error("tls rig: cannot format the card's NVM");
}

void CardStore::put(const CardCredentials& c) {
  auto require = [](bool ok, const std::string& what) {
    if (!ok) throw std::runtime_error("tls rig: the card refused " + what);
  };
  require(tls::put_server_chain(store, bytes_of(c.server_chain)).ok(), "the server chain");
  require(tls::put_server_key(store, bytes_of(c.server_key)).ok(), "the server key");
  require(tls::put_issuer_ca(store, bytes_of(c.ca)).ok(), "the issuer CA");
  for (const Psk& p : c.psks) require(tls::put_psk(store, bytes_of(p.identity), bytes_of(p.key)).ok(), "the PSK " + p.identity);
}

void LogSink::line(const char* text) noexcept {
  lines.emplace_back(text);
  if (std::getenv("SCWS_TLS_TRACE") != nullptr) std::fprintf(stderr, "%s\n", text);
}

Card::Card(const CardCredentials& credentials, std::size_t region_bytes, tls::TlsMode mode, const Seed& seed)
    : region((region_bytes + 7) / 8) {
  trace.set_sink(&sink);
  nvm.put(credentials);
  allocator = std::make_unique<tls::TlsAllocator>(MutableBytes(reinterpret_cast<u8*>(region.data()), region_bytes));
  seed_rng(rng, entropy, seed, "card");
  ctx = std::make_unique<tls::TlsContext>(*allocator);
  init_status = ctx->init_server(nvm.store, mode, rng);
}

Client::Client(const tls::ClientCredentials& credentials, const Seed& seed, std::size_t region_bytes)
    : region((region_bytes + 7) / 8),
      allocator(MutableBytes(reinterpret_cast<u8*>(region.data()), region.size() * 8)),
      ctx(allocator) {
  seed_rng(rng, entropy, seed, "client");
  ok = ctx.init_client(credentials, rng).ok();
}

tls::ClientCredentials certificate_client(Bytes ca, Bytes cert, Bytes key) {
  tls::ClientCredentials c;
  c.ca_der = ca;
  c.cert_chain_der = cert;
  c.key_der = key;
  return c;
}

tls::ClientCredentials psk_client(Bytes identity, Bytes key, int only_suite) {
  tls::ClientCredentials c;
  c.psk_identity = identity;
  c.psk_key = key;
  c.psk_only = true;
  c.only_suite = only_suite;
  return c;
}

// ---- App ------------------------------------------------------------------------------------------

bool App::open(std::size_t) noexcept {
  if (closed) {  // a new conversation
    received.clear();
    to_send.clear();
    answered = closed = false;
  }
  opened = true;
  return true;
}

std::size_t App::receive(std::size_t, Bytes data) noexcept {
  const std::size_t n = std::min(data.size(), accept_at_most);
  received.append(reinterpret_cast<const char*>(data.data()), n);
  if (echo) to_send.append(reinterpret_cast<const char*>(data.data()), n);
  if (!answer.empty() && !answered && received.find("\r\n\r\n") != std::string::npos) {
    to_send += answer;
    answered = true;
  }
  return n;
}

std::size_t App::send(std::size_t, MutableBytes out) noexcept {
  const std::size_t n = std::min(to_send.size(), out.size());
  std::memcpy(out.data(), to_send.data(), n);
  to_send.erase(0, n);
  return n;
}

bool App::wants_close(std::size_t) const noexcept {
  if (!close_after_answer || !to_send.empty()) return false;
  return answer.empty() ? !received.empty() : answered;
}

void App::close(std::size_t) noexcept { closed = true; }

std::string page_response(std::size_t body) {
  std::string r = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: " + std::to_string(body) +
                  "\r\nConnection: close\r\n\r\n";
  r.append(body, 'x');
  return r;
}

// ---- Pipe -----------------------------------------------------------------------------------------

std::size_t PipeEnd::receive(Bytes ciphertext) noexcept {
  return session_ != nullptr ? session_->receive(ciphertext) : endpoint_->receive(connection_, ciphertext);
}

std::size_t PipeEnd::send(MutableBytes out) noexcept {
  return session_ != nullptr ? session_->send(out) : endpoint_->send(connection_, out);
}

bool Pipe::pull(PipeEnd from, std::deque<u8>& queue, std::size_t& count) {
  bool moved = false;
  u8 buf[kPull];
  for (std::size_t n; (n = from.send(MutableBytes(buf, sizeof buf))) > 0;) {
    queue.insert(queue.end(), buf, buf + n);
    count += n;
    moved = true;
  }
  return moved;
}

bool Pipe::push(PipeEnd to, std::deque<u8>& queue) {
  bool moved = false;
  std::vector<u8> chunk;
  while (!queue.empty()) {
    std::size_t n = std::clamp<std::size_t>(piece(pieces), 1, queue.size());
    chunk.assign(queue.begin(), queue.begin() + static_cast<std::ptrdiff_t>(n));
    const std::size_t took = to.receive(Bytes(chunk.data(), n));
    ++pieces;
    queue.erase(queue.begin(), queue.begin() + static_cast<std::ptrdiff_t>(took));
    if (took == 0) break;
    moved = true;
    if (took < n) break;
  }
  return moved;
}

void Pipe::run(PipeEnd client, PipeEnd server, const std::function<bool()>& done, int max_rounds) {
  for (int i = 0; i < max_rounds; ++i) {
    bool moved = pull(client, to_server, bytes_to_server);
    moved |= push(server, to_server);
    moved |= pull(server, to_client, bytes_to_client);
    moved |= push(client, to_client);
    if (done && done()) return;
    if (!moved) return;
  }
}

}  // namespace scws::sim::tls_rig
