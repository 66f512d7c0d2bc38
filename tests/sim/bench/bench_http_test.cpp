// `scws bench http`: the figure arithmetic, the response-head parser of its client, the output, and a
// short in-process run that must produce sane numbers (no time limits: a benchmark is a program).
// The pcscd rows need root and a thread-free process; `scws bench http` itself runs them.
#include "sim/bench/bench_http.hpp"

#include <doctest/doctest.h>

#include <string>

#include "scws_config.hpp"

using namespace scws;
using namespace scws::sim;

TEST_CASE("the protocol minimum per GET is 6 APDUs plus a FETCH and TERMINAL RESPONSE per 240 response bytes") {
  struct Row {
    std::size_t response_bytes;
    u64 minimum;
    const char* source;
  };
  const Row rows[] = {
      // docs/protocol.md section 9: a 40-byte response takes 8 APDUs (2 ENVELOPEs, RECEIVE, SEND, CLOSE).
      {40, 8, "docs/protocol.md section 9, the exchange"},
      {0, 6, "no response bytes: only the connection's own APDUs"},
      {1, 8, "one SEND DATA"},
      {240, 8, "exactly one full SEND DATA (docs/protocol.md section 6.4: 240-byte payload)"},
      {241, 10, "one byte more needs a second SEND DATA"},
      {480, 10, "two full SEND DATA"},
      {1024 + 100, 6 + 2 * 5, "a 1 KiB page with a 100-byte head: 5 pieces"},
      {16384 + 100, 6 + 2 * 69, "a 16 KiB page with a 100-byte head: 69 pieces"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.source);
    CHECK(minimum_apdus_per_get(row.response_bytes) == row.minimum);
  }
}

TEST_CASE("efficiency is requests per second times APDUs per request over the floor") {
  CHECK(floor_efficiency(100, 8, 1000) == doctest::Approx(0.8));
  CHECK(floor_efficiency(50, 16, 1000) == doctest::Approx(0.8));
  CHECK(floor_efficiency(100, 8, 0) == 0);  // no floor measured
  CHECK(floor_efficiency(0, 8, 1000) == 0);

  ThroughputRow row;
  row.requests = 300;
  row.apdus = 3000;
  row.seconds = 2;
  row.floor_apdus_per_second = 2000;
  row.floor_median_apdus_per_second = 3000;
  finish_row(row);
  CHECK(row.requests_per_second == doctest::Approx(150));
  CHECK(row.apdus_per_request == doctest::Approx(10));
  CHECK(row.efficiency == doctest::Approx(0.75));
  CHECK(row.efficiency_median == doctest::Approx(0.5));

  ThroughputRow empty;
  empty.floor_apdus_per_second = 2000;
  finish_row(empty);
  CHECK(empty.requests_per_second == 0);
  CHECK(empty.apdus_per_request == 0);
  CHECK(empty.efficiency == 0);
}

TEST_CASE("the RAM figure is the high-water mark above the idle use") {
  RamFigures r = ram_figures(1024, 16384, 3000, 4200);
  CHECK(r.apdu_buffer == 1024);
  CHECK(r.capacity == 16384);
  CHECK(r.beyond_idle == 1200);
  CHECK(ram_figures(1024, 16384, 3000, 3000).beyond_idle == 0);
  CHECK(ram_figures(1024, 16384, 3000, 2000).beyond_idle == 0);  // never negative
}

TEST_CASE("the bench client reads status, Content-Length and Connection: close from a response head") {
  struct Row {
    const char* head;
    int status;
    long content_length;  // -1: none
    bool close;
  };
  // RFC 9112 4 (status line), RFC 9110 8.6 (Content-Length), 7.6.1 (Connection); names case-insensitive.
  const Row rows[] = {
      {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", 200, 2, false},  // docs/protocol.md section 9
      {"HTTP/1.1 404 Not Found\r\ncontent-length:  17 \r\nConnection: close\r\n\r\n", 404, 17, true},
      {"HTTP/1.1 200 OK\r\nCONNECTION: Close\r\n\r\n", 200, -1, true},
      {"HTTP/1.0 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"x\"\r\nContent-Length: 0\r\n\r\n", 401, 0, false},
      {"HTTP/1.1 204\r\n\r\n", 204, -1, false},
      {"HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\n", 200, -1, false},  // not a number: ignored
      {"HTTP/2 200\r\n\r\n", 0, -1, false},
      {"garbage", 0, -1, false},
      {"HTTP/1.1 2x0 OK\r\n\r\n", 0, -1, false},
  };
  for (const Row& row : rows) {
    CAPTURE(row.head);
    ResponseHead h = parse_response_head(row.head);
    CHECK(h.status == row.status);
    CHECK(h.content_length.has_value() == (row.content_length >= 0));
    if (row.content_length >= 0 && h.content_length) CHECK(*h.content_length == static_cast<std::size_t>(row.content_length));
    CHECK(h.close == row.close);
  }
}

TEST_CASE("bench http output names every figure beside its target, and says why the stack rows are missing") {
  HttpBenchResult r;
  PageFigures p;
  p.path = "/page-1k.txt";
  p.body_bytes = 1024;
  p.response_bytes = 1110;
  p.gets = 10;
  p.apdus_per_get = 16;
  p.minimum = minimum_apdus_per_get(1110);
  p.ratio = 1.0;
  r.pages.push_back(p);
  r.ram = ram_figures(1024, 16384, 3000, 4000);
  r.stack_note = "needs root";
  const std::string human = format_human(r);
  CHECK(human.find("/page-1k.txt") != std::string::npos);
  CHECK(human.find("high-water - idle = 1000 bytes") != std::string::npos);
  CHECK(human.find("not measured: needs root") != std::string::npos);
  const std::string json = format_json(r);
  CHECK(json.find("\"benchmark\": \"http\"") != std::string::npos);
  CHECK(json.find("\"minimum\": 16") != std::string::npos);
  CHECK(json.find("\"beyond_idle\": 1000") != std::string::npos);
  CHECK(json.find("\"measured\": false") != std::string::npos);

  r.stack_measured = true;
  ThroughputRow row;
  row.where = "pcscd";
  row.clients = 7;
  row.requests = 300;
  row.apdus = 4800;
  row.seconds = 3;
  row.floor_apdus_per_second = 2000;
  finish_row(row);
  r.stack.push_back(row);
  r.floors.push_back(ApduBenchResult{});
  CHECK(format_human(r).find("keep-alive, 7 clients") != std::string::npos);
  CHECK(format_human(r).find("efficiency 0.800") != std::string::npos);
  CHECK(format_json(r).find("\"efficiency\": 0.8000") != std::string::npos);
  CHECK(format_json(r).find("\"floor_apdus_per_second\": 2000.0") != std::string::npos);
  CHECK(format_json(r).find("\"floors\": [{\"benchmark\": \"apdu\"") != std::string::npos);
}

TEST_CASE("a short in-process bench http run produces sane figures") {
  HttpBenchOptions options;
  options.stack = false;
  options.duration = std::chrono::milliseconds(200);
  options.clients = {1, 3};
  options.gets_per_page = 3;
  const HttpBenchResult r = run_http_bench(options);

  CHECK_FALSE(r.stack_measured);
  CHECK_FALSE(r.stack_note.empty());
  REQUIRE(r.pages.size() == 3);
  const std::size_t sizes[] = {100, 1024, 16384};
  for (std::size_t i = 0; i < 3; ++i) {
    const PageFigures& p = r.pages[i];
    CAPTURE(p.path);
    CHECK(p.body_bytes == sizes[i]);
    CHECK(p.response_bytes > p.body_bytes);  // a status line and headers
    CHECK(p.gets == 3);
    CHECK(p.minimum == minimum_apdus_per_get(p.response_bytes));
    // The minimum is a lower bound of the protocol: counting fewer would mean the count is wrong.
    CHECK(p.apdus_per_get >= static_cast<double>(p.minimum));
    CHECK(p.ratio == doctest::Approx(p.apdus_per_get / static_cast<double>(p.minimum)));
    // Over a kept-alive connection the connection's own APDUs are gone.
    CHECK(p.keep_alive_apdus_per_get > 0);
    CHECK(p.keep_alive_apdus_per_get < p.apdus_per_get);
  }
  CHECK(r.pages[2].apdus_per_get > r.pages[0].apdus_per_get);

  CHECK(r.ram.apdu_buffer == SCWS_APDU_BUFFER_SIZE);
  CHECK(r.ram.capacity == SCWS_RAM_SIZE);
  CHECK(r.ram.idle >= SCWS_APDU_BUFFER_SIZE);  // the APDU buffer lives in the arena
  CHECK(r.ram.high_water > r.ram.idle);         // serving a page used some RAM
  CHECK(r.ram.high_water <= r.ram.capacity);
  CHECK(r.ram.beyond_idle == r.ram.high_water - r.ram.idle);

  REQUIRE(r.in_process.size() == 2);
  for (const ThroughputRow& row : r.in_process) {
    CAPTURE(row.clients);
    CHECK(row.keep_alive);
    CHECK(row.failures == 0);
    CHECK(row.requests > 0);
    CHECK(row.seconds > 0);
    CHECK(row.apdus_per_request > 0);
    CHECK(row.requests_per_second == doctest::Approx(static_cast<double>(row.requests) / row.seconds));
    CHECK(row.efficiency == 0);  // no floor in process
  }
  CHECK(r.in_process[1].clients == 3);
}
