#include "sim/bench/bench_tls.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <string>

#include "tls/tls_allocator.hpp"

using namespace scws;
using namespace scws::sim;

TEST_CASE("bench tls bisection finds the exact threshold of a monotonic predicate in step units") {
  struct Row {
    std::size_t lo, hi, step, threshold, expected;
  };
  const Row rows[] = {
      {1024, 65536, 8, 13576, 13576},  // on a step boundary above lo
      {1024, 65536, 8, 13571, 13576},  // between steps: the next step up that works
      {1024, 2048, 8, 1024, 1032},     // works(lo) is never asked: lo counts as failing (the floor)
      {0, 64, 1, 37, 37},
      {100, 100, 8, 50, 100},          // lo == hi: just hi
  };
  for (const Row& r : rows) {
    unsigned calls = 0;
    const Bisection b = bisect_smallest(r.lo, r.hi, r.step, [&](std::size_t n) {
      ++calls;
      return n >= r.threshold;
    });
    REQUIRE(b.smallest.has_value());
    CHECK(*b.smallest == r.expected);
    CHECK(b.probes == calls);
    CHECK(calls <= 2 + 64);  // logarithmic: one probe per halving
  }
}

TEST_CASE("bench tls bisection reports no size when even the upper bound fails") {
  const Bisection b = bisect_smallest(1024, 4096, 8, [](std::size_t) { return false; });
  CHECK_FALSE(b.smallest.has_value());
  CHECK(b.probes == 1);
}

TEST_CASE("bench tls ratios and targets follow docs/architecture.md, Figures and targets") {
  CHECK(tls_ratio(45562, 10528) == doctest::Approx(4.3277).epsilon(0.001));
  CHECK(tls_ratio(1, 0) == 0);
  CHECK(kTlsCertificateTarget == 12288);
  CHECK(kTlsPskTarget == 6656);
  RegionFigures f;
  f.smallest = 13576;
  f.idle = 3048;
  f.session = f.smallest - f.idle;
  f.target = kTlsCertificateTarget;
  CHECK(f.meets_target());
  f.session = 12289;
  CHECK_FALSE(f.meets_target());
  // Handshakes per second through pcscd, and how many times slower than the pipe.
  CHECK(handshake_rate(268, 5.0) == doctest::Approx(53.6));
  CHECK(handshake_rate(10, 0) == 0);
  CHECK(tls_ratio(6125.0, 455.0) == doctest::Approx(13.4615).epsilon(0.001));
  f.smallest = 0;  // not measured: never "met"
  f.session = 0;
  CHECK_FALSE(f.meets_target());
}

TEST_CASE("bench tls reads the DER out of a PEM block") {
  // "MAECAQ==" is base64 of 30 01 02 01 (RFC 4648 4); line breaks and CR are ignored.
  const auto der = pem_to_der("junk\n-----BEGIN CERTIFICATE-----\r\nMAEC\r\nAQ==\r\n-----END CERTIFICATE-----\n");
  CHECK(der == std::vector<u8>{0x30, 0x01, 0x02, 0x01});
  CHECK_THROWS(pem_to_der("no block here"));
}

TEST_CASE("bench tls quick in-process run yields sane region figures for both modes") {
  const TlsBenchCredentials creds = make_tls_bench_credentials();
  for (TlsBenchMode mode : {TlsBenchMode::kCertificate, TlsBenchMode::kPsk}) {
    CAPTURE(tls_bench_mode_name(mode));
    // A generous region: every connection completes and the region returns to idle each time.
    const CardProbe big = probe_card_region(creds, mode, 48 * 1024, 3);
    CHECK(big.ok);
    CHECK(big.completed == 3);
    CHECK(big.idle > 0);
    CHECK(big.peak > tls::TlsAllocator::block_size_for(2048));  // at least the input record buffer
    CHECK(big.peak < 40 * 1024);
    CHECK(big.allocations > 0);
    // A region that only holds the context refuses the session cleanly (no crash, reported).
    const CardProbe tiny = probe_card_region(creds, mode, big.idle + 256, 1);
    CHECK_FALSE(tiny.ok);
    CHECK(tiny.completed == 0);
    CHECK_FALSE(tiny.failure.empty());
  }
}

TEST_CASE("bench tls pipe rate resumes with tickets and counts both kinds") {
  const TlsBenchCredentials creds = make_tls_bench_credentials();
  const PipeRate r = measure_pipe_rate(creds, TlsBenchMode::kPsk, 3);
  CHECK(r.handshakes == 3);
  CHECK(r.resumed_ok);
  CHECK(r.full_per_second > 0);
  CHECK(r.resumed_per_second > 0);
}

TEST_CASE("bench tls quick run reports the card rows, smaller than stock mbedTLS, in human and JSON form") {
  TlsBenchOptions options;
  options.runs = 2;
  options.quick = true;
  options.stack = false;  // in-process only: no sockets, no curl/openssl children
  options.pcscd = false;  // no private pcscd either (it would need root and the scws executable)
  options.peers = std::getenv("SCWS_BENCH_TLS_PEERS") != nullptr;
  if (options.peers) options.peer_dir = std::getenv("SCWS_BENCH_TLS_PEERS");
  const TlsBenchResult r = run_tls_bench(options);
  REQUIRE(r.regions.size() == 2);
  for (const RegionFigures& f : r.regions) {
    CAPTURE(tls_bench_mode_name(f.mode));
    REQUIRE(f.smallest > 0);
    CHECK(f.session == f.smallest - f.idle);
    CHECK(f.peak <= f.session);  // the high water fits the region that worked
    CHECK(f.session < 24 * 1024);
  }
  CHECK(r.pipe_rates.size() == 2);
  if (options.peers) {
    REQUIRE(r.peers.size() == 4);
    for (const PeerRegion& p : r.peers) {
      CAPTURE(p.peer);
      CAPTURE(p.error);
      CHECK(p.measured);
      CHECK(p.total == p.idle + p.session);
      if (p.peer.find("stock") != std::string::npos) {
        for (const RegionFigures& f : r.regions)
          if (f.mode == p.mode) CHECK(p.session > f.session);  // 16 KiB record buffers
      }
    }
  }
  const std::string human = format_human(r);
  CHECK(human.find("smallest region") != std::string::npos);
  const std::string json = format_json(r);
  CHECK(json.front() == '{');
  CHECK(json.find("\"regions\":[{\"mode\":\"certificate\"") != std::string::npos);
  CHECK(json.find("\"pipe_rates\":[") != std::string::npos);
  CHECK_FALSE(r.pcscd.measured);
  CHECK(human.find("through the real pcscd stack: not measured") != std::string::npos);
  CHECK(json.find("\"pcscd_rates\":{\"measured\":false") != std::string::npos);
}
