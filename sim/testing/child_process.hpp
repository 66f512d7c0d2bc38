// Child processes of the tests and the benchmarks, in one place: started by posix_spawn with
// default signal handling and an empty signal mask (whatever the parent set), waited for with a
// bound, stopped by pid (SIGTERM, a bounded wait, SIGKILL), their output read back. Two shapes:
//
//  - a long-running child (pcscd, `scws card`): stdin from /dev/null, stdout and stderr appended to
//    a log file, stopped when the object goes;
//  - a short one run to its end (curl, openssl, a reference peer): ChildProcess::run feeds it an
//    input on stdin and returns its exit code and everything it wrote on stdout.
//
// Also here: poll_until, the bounded wait every test and benchmark uses instead of sleeping.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace scws::sim {

// Calls condition every interval until it returns true (then true) or timeout passes (then false).
bool poll_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds interval = std::chrono::milliseconds(5));

// The program `name` as the shell would find it in $PATH (a name with a '/' is taken as it is), or
// nullopt when there is no such executable.
std::optional<std::filesystem::path> find_program(const std::string& name);

class ChildProcess {
 public:
  // A long-running child: argv[0] is looked up in PATH when it has no '/'. Throws std::system_error
  // when spawning fails.
  ChildProcess(std::vector<std::string> argv, const std::filesystem::path& log);
  ~ChildProcess();  // stop()
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  [[nodiscard]] bool alive();
  // Waits (bounded) for the child to exit by itself; its wait status decoded as an exit code
  // (128 + signal when killed), or nullopt when it is still running.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  // SIGTERM, bounded wait, then SIGKILL. Returns the exit code. Idempotent.
  int stop(std::chrono::milliseconds grace = std::chrono::milliseconds(3000));
  void signal(int sig) noexcept;
  [[nodiscard]] const std::filesystem::path& log() const noexcept { return log_; }
  [[nodiscard]] std::string log_text() const;

  // Where a short child's stderr goes.
  enum class Stderr { kInherit, kDiscard, kWithStdout };
  struct Output {
    int exit_code = -1;  // as wait_exit; as stop() when the bound passed
    std::string out;     // everything written on stdout (and stderr with kWithStdout)
    bool timed_out = false;
  };
  // A short child run to its end: stdin gets `input` then end of file (nullopt: /dev/null), stdout
  // is read whole. When `bound` passes first, the child is stopped and timed_out set. Throws
  // std::system_error when spawning fails.
  static Output run(std::vector<std::string> argv, const std::optional<std::string>& input = std::nullopt,
                    Stderr err = Stderr::kInherit, std::chrono::milliseconds bound = std::chrono::minutes(10));

 private:
  struct Pipes;
  ChildProcess(std::vector<std::string> argv, const Pipes& pipes);
  bool reap(bool block);

  pid_t pid_ = -1;
  int pidfd_ = -1;  // pidfd_open: lets wait_exit block on the child's exit instead of polling
  std::optional<int> exit_code_;
  std::filesystem::path log_;
};

}  // namespace scws::sim
