// Human-readable trace lines from card code (state transitions, refusals, decisions), without heap
// or iostream: formatted into a fixed stack buffer and handed to a sink the host installs
// (stderr in `scws card`, a log in tests). With no sink installed, tracing costs one branch.
#pragma once

#include <cstdarg>
#include <cstdio>

namespace scws::card {

class TraceSink {
 public:
  virtual ~TraceSink() = default;
  virtual void line(const char* text) noexcept = 0;
};

class Tracer {
 public:
  static constexpr int kMaxLine = 160;

  void set_sink(TraceSink* sink) noexcept { sink_ = sink; }
  [[nodiscard]] bool enabled() const noexcept { return sink_ != nullptr; }

  // printf-style; lines longer than kMaxLine are cut.
  __attribute__((format(printf, 2, 3))) void operator()(const char* format, ...) const noexcept {
    if (sink_ == nullptr) return;
    char buffer[kMaxLine];
    va_list args;
    va_start(args, format);
    std::vsnprintf(buffer, sizeof buffer, format, args);
    va_end(args);
    sink_->line(buffer);
  }

 private:
  TraceSink* sink_ = nullptr;
};

}  // namespace scws::card
