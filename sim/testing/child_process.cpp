#include "sim/testing/child_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>

extern char** environ;

namespace scws::sim {

using Clock = std::chrono::steady_clock;

bool poll_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds interval) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    if (condition()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(interval);  // the polling interval of a bounded wait
  }
}

std::optional<std::filesystem::path> find_program(const std::string& name) {
  auto runnable = [](const std::filesystem::path& p) {
    std::error_code ec;
    return std::filesystem::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0;
  };
  if (name.find('/') != std::string::npos) return runnable(name) ? std::optional<std::filesystem::path>(name) : std::nullopt;
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const std::filesystem::path candidate = std::filesystem::path(dir.empty() ? "." : dir) / name;
    if (runnable(candidate)) return candidate;
  }
  return std::nullopt;
}

namespace {

// A file descriptor closed when it goes out of scope.
struct Fd {
  int fd = -1;
  Fd() = default;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  void reset() noexcept {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

}  // namespace

// Where the child's standard streams go: the given descriptors (the child's ends of pipes), else
// /dev/null for stdin and the log file for stdout.
struct ChildProcess::Pipes {
  int in = -1;
  int out = -1;
  std::filesystem::path log;
  Stderr err = Stderr::kWithStdout;
};

ChildProcess::ChildProcess(std::vector<std::string> argv, const std::filesystem::path& log)
    : ChildProcess(std::move(argv), Pipes{-1, -1, log, Stderr::kWithStdout}) {}

ChildProcess::ChildProcess(std::vector<std::string> argv, const Pipes& pipes) : log_(pipes.log) {
  if (argv.empty()) throw std::invalid_argument("ChildProcess: empty argv");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (pipes.in >= 0) {
    posix_spawn_file_actions_adddup2(&actions, pipes.in, 0);
  } else {
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  }
  if (pipes.out >= 0) {
    posix_spawn_file_actions_adddup2(&actions, pipes.out, 1);
  } else {
    posix_spawn_file_actions_addopen(&actions, 1, pipes.log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  }
  switch (pipes.err) {
    case Stderr::kWithStdout: posix_spawn_file_actions_adddup2(&actions, 1, 2); break;
    case Stderr::kDiscard: posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0); break;
    case Stderr::kInherit: break;
  }
  // The child starts with default signal handling and an empty mask, whatever the parent set.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  int rc = ::posix_spawnp(&pid_, args[0], &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) throw std::system_error(rc, std::generic_category(), "starting " + argv[0]);
  pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));  // -1 on old kernels: polling then
}

ChildProcess::~ChildProcess() {
  stop();
  if (pidfd_ >= 0) ::close(pidfd_);
}

bool ChildProcess::reap(bool block) {
  if (exit_code_) return true;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, block ? 0 : WNOHANG);
  if (r == pid_) {
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return true;
  }
  if (r < 0 && errno == ECHILD) {
    exit_code_ = -1;  // reaped elsewhere
    return true;
  }
  return false;
}

bool ChildProcess::alive() { return !reap(false); }

std::optional<int> ChildProcess::wait_exit(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!reap(false)) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return std::nullopt;
    if (pidfd_ >= 0) {
      pollfd p{pidfd_, POLLIN, 0};  // readable when the child exits
      ::poll(&p, 1, static_cast<int>(left.count()) + 1);
    } else {
      std::this_thread::sleep_for(std::min(left, std::chrono::milliseconds(5)));
    }
  }
  return exit_code_;
}

void ChildProcess::signal(int sig) noexcept {
  if (!exit_code_ && pid_ > 0) ::kill(pid_, sig);
}

int ChildProcess::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return -1;
  if (!reap(false)) {
    ::kill(pid_, SIGTERM);
    if (!wait_exit(grace)) {
      ::kill(pid_, SIGKILL);
      reap(true);
    }
  }
  return *exit_code_;
}

std::string ChildProcess::log_text() const {
  std::ifstream in(log_);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

ChildProcess::Output ChildProcess::run(std::vector<std::string> argv, const std::optional<std::string>& input, Stderr err,
                                       std::chrono::milliseconds bound) {
  const auto deadline = Clock::now() + bound;
  Fd out_read, out_write, in_parent, in_child;
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
  out_read.fd = out[0];
  out_write.fd = out[1];
  if (input) {
    // A socket pair rather than a pipe: send(MSG_NOSIGNAL) to a child that exited without reading
    // its input fails with EPIPE instead of raising SIGPIPE here.
    int in[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) != 0)
      throw std::system_error(errno, std::generic_category(), "socketpair");
    in_parent.fd = in[0];
    in_child.fd = in[1];
    ::fcntl(in_parent.fd, F_SETFL, ::fcntl(in_parent.fd, F_GETFL) | O_NONBLOCK);
  }
  ChildProcess child(std::move(argv), Pipes{in_child.fd, out_write.fd, {}, err});
  out_write.reset();
  in_child.reset();

  Output result;
  std::size_t written = 0;
  if (input && input->empty()) in_parent.reset();  // end of file at once
  char buf[4096];
  while (out_read.fd >= 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) break;
    pollfd fds[2] = {{out_read.fd, POLLIN, 0}, {in_parent.fd, POLLOUT, 0}};
    const int n = ::poll(fds, in_parent.fd >= 0 ? 2 : 1, static_cast<int>(left.count()) + 1);
    if (n < 0 && errno != EINTR) break;
    if (in_parent.fd >= 0 && (fds[1].revents & (POLLOUT | POLLERR | POLLHUP)) != 0) {
      const ssize_t w = ::send(in_parent.fd, input->data() + written, input->size() - written, MSG_NOSIGNAL);
      if (w > 0) written += static_cast<std::size_t>(w);
      if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == input->size()) in_parent.reset();
    }
    if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      const ssize_t r = ::read(out_read.fd, buf, sizeof buf);
      if (r > 0) {
        result.out.append(buf, static_cast<std::size_t>(r));
      } else if (r == 0 || errno != EINTR) {
        out_read.reset();  // end of its output
      }
    }
  }
  in_parent.reset();
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  const std::optional<int> code = out_read.fd < 0 && left.count() > 0 ? child.wait_exit(left) : std::nullopt;
  result.timed_out = !code.has_value();
  result.exit_code = code ? *code : child.stop();
  return result;
}

}  // namespace scws::sim
