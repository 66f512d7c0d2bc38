#include "sim/host/host_entropy.hpp"

#include <sys/random.h>

#include <cerrno>

namespace scws::sim {

namespace {

int kernel_entropy(unsigned char* out, std::size_t len) noexcept {
  std::size_t done = 0;
  while (done < len) {
    const ssize_t n = ::getrandom(out + done, len - done, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    done += static_cast<std::size_t>(n);
  }
  return 0;
}

int reproducible_entropy(ReproducibleEntropy& e, unsigned char* out, std::size_t len) noexcept {
  for (std::size_t i = 0; i < len; ++i) {
    e.state ^= e.state << 13;
    e.state ^= e.state >> 7;
    e.state ^= e.state << 17;
    out[i] = static_cast<unsigned char>(e.state);
  }
  return 0;
}

}  // namespace

int host_entropy(void* context, unsigned char* out, std::size_t len) noexcept {
  if (context == nullptr) return kernel_entropy(out, len);
  return reproducible_entropy(*static_cast<ReproducibleEntropy*>(context), out, len);
}

}  // namespace scws::sim
