// Test helper: runs an Asio io_context in short slices until a condition holds (bounded polling,
// never a sleep), and fails the test naming what it waited for when the bound passes.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <functional>

#include <asio.hpp>

namespace scws::sim::test {

inline void run_until(asio::io_context& io, const std::function<bool()>& pred,
                      std::chrono::milliseconds bound = std::chrono::seconds(5), const char* what = "condition") {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (!pred()) {
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "timed out waiting for ", what);
    io.restart();
    io.run_one_for(std::chrono::milliseconds(5));
  }
}

}  // namespace scws::sim::test
