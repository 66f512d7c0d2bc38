#include "sim/host/host_entropy.hpp"

#include <doctest/doctest.h>

#include <array>

#include "tls/card_rng.hpp"

using namespace scws;
using namespace scws::sim;

TEST_CASE("host entropy from the kernel fills every byte and differs between calls") {
  std::array<unsigned char, 64> a{}, b{};
  REQUIRE(host_entropy(nullptr, a.data(), a.size()) == 0);
  REQUIRE(host_entropy(nullptr, b.data(), b.size()) == 0);
  CHECK(a != b);  // 2^-512 to fail by chance
  CHECK(host_entropy(nullptr, a.data(), 0) == 0);
}

TEST_CASE("reproducible entropy repeats for a seed and differs between seeds") {
  ReproducibleEntropy first{42}, again{42}, other{43};
  std::array<unsigned char, 32> a{}, b{}, c{};
  REQUIRE(host_entropy(&first, a.data(), a.size()) == 0);
  REQUIRE(host_entropy(&again, b.data(), b.size()) == 0);
  REQUIRE(host_entropy(&other, c.data(), c.size()) == 0);
  CHECK(a == b);
  CHECK(a != c);
  REQUIRE(host_entropy(&first, b.data(), b.size()) == 0);
  CHECK(a != b);  // the state moved on
}

TEST_CASE("the card's DRBG seeds from host entropy in both modes") {
  tls::CardRng kernel, reproducible;
  ReproducibleEntropy seed;
  CHECK(kernel.seed(host_entropy, nullptr, Bytes()).ok());
  CHECK(reproducible.seed(host_entropy, &seed, Bytes()).ok());
  CHECK(kernel.seeded());
  CHECK(reproducible.seeded());
}
