// The host's one entropy source for the DRBGs it seeds (tls/card_rng.hpp): the emulated card's
// (sim/host/emulated_uicc.hpp), the benchmarks' in-memory cards and clients, and the tests' cards
// and clients. A real card reads its TRNG here; the host reads the kernel's CSPRNG.
//
// Tests that must repeat exactly pass a ReproducibleEntropy as the context: the same function then
// returns a fixed xorshift64 sequence instead (not entropy: for tests only).
#pragma once

#include <cstddef>

#include "base/bytes.hpp"

namespace scws::sim {

struct ReproducibleEntropy {
  u64 state = 0x5eed5eed12345678ULL;  // any value but 0 (xorshift64 stays at 0)
};

// A tls::EntropySource. context nullptr: getrandom(2), which blocks only until the kernel's pool is
// initialised at boot; returns 0, or -1 when getrandom fails. Otherwise context is a
// ReproducibleEntropy*, advanced by len bytes; returns 0.
int host_entropy(void* context, unsigned char* out, std::size_t len) noexcept;

}  // namespace scws::sim
