#include "sim/testing/pcscd_harness.hpp"

#include <netinet/in.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>
#include <random>
#include <stdexcept>

#include "sim/host/pcsc_client.hpp"

namespace scws::sim {

using Clock = std::chrono::steady_clock;

bool pcscd_socket_answers() {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, kPcscdSocket, sizeof addr.sun_path - 1);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

bool enter_private_pcscd_namespace(std::string& why) {
  if (::geteuid() != 0) {
    why = "a private mount namespace needs root";
    return false;
  }
  if (::unshare(CLONE_NEWNS) != 0) {
    why = std::string("unshare(CLONE_NEWNS): ") + std::strerror(errno);
    return false;
  }
  // Like `unshare --mount --propagation private`: nothing mounted here leaks to the host.
  if (::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    why = std::string("making / private: ") + std::strerror(errno);
    return false;
  }
  ::mkdir(kPcscdRunDir, 0755);
  if (::mount("tmpfs", kPcscdRunDir, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") != 0) {
    why = std::string("mounting a tmpfs on /run/pcscd: ") + std::strerror(errno);
    return false;
  }
  return true;
}

namespace {
bool tcp_port_free(u16 port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}
}  // namespace

u16 choose_vpcd_port_pair() {
  std::mt19937 rng(static_cast<unsigned>(::getpid()) ^
                   static_cast<unsigned>(Clock::now().time_since_epoch().count()));
  std::uniform_int_distribution<int> pick(10000, 29999);
  for (int i = 0; i < 200; ++i) {
    auto port = static_cast<u16>(pick(rng) * 2);
    if (tcp_port_free(port) && tcp_port_free(static_cast<u16>(port + 1))) return port;
  }
  throw std::runtime_error("no free TCP port pair for vpcd");
}

std::string tail_of_file(const std::filesystem::path& path, std::size_t lines) {
  std::ifstream in(path);
  std::deque<std::string> last;
  for (std::string line; std::getline(in, line);) {
    last.push_back(line);
    if (last.size() > lines) last.pop_front();
  }
  std::string out;
  for (auto& l : last) out += "  | " + l + "\n";
  return out;
}

// ---------------------------------------------------------------------------------------------
// PcscdHarness

void write_vpcd_reader_conf(const std::filesystem::path& dir, const std::string& friendly_name, u16 port) {
  std::filesystem::create_directories(dir);
  // pcsc-lite reader.conf syntax; vpcd: DEVICENAME /dev/null:PORT means "listen on PORT".
  char port_hex[8];
  std::snprintf(port_hex, sizeof port_hex, "0x%04X", port);
  std::ofstream conf(dir / "vpcd");
  conf << "FRIENDLYNAME \"" << friendly_name << "\"\n"
       << "DEVICENAME   /dev/null:" << port_hex << "\n"
       << "LIBPATH      " << kVpcdDriver << "\n"
       << "CHANNELID    " << port_hex << "\n";
  if (!conf) throw std::runtime_error("cannot write " + (dir / "vpcd").string());
}

PcscdHarness::PcscdHarness(PcscdOptions options) : options_(std::move(options)) {}

PcscdHarness::~PcscdHarness() { stop(); }

std::string PcscdHarness::reader(int slot) const {
  return options_.friendly_name + " 00 0" + std::to_string(slot);
}

std::string PcscdHarness::vpcd_address(int slot) const {
  return "127.0.0.1:" + std::to_string(options_.port + slot);
}

void PcscdHarness::start() {
  if (process_) return;
  if (pcscd_socket_answers()) {
    throw std::runtime_error(
        "another pcscd is running (/run/pcscd/pcscd.comm answers); stop it, or run as root so that "
        "scws can use a private mount namespace");
  }
  if (options_.port == 0) options_.port = choose_vpcd_port_pair();
  write_vpcd_reader_conf(config_dir(), options_.friendly_name, options_.port);
  std::vector<std::string> argv = {"pcscd", "-f", "-c", config_dir().string()};
  if (std::filesystem::exists("/usr/sbin/pcscd")) argv[0] = "/usr/sbin/pcscd";
  if (options_.log_apdus) argv.push_back("-a");
  process_.emplace(argv, log_path());

  const std::string r0 = reader(0);
  const std::string r1 = reader(1);
  bool ready = poll_until(
      [&] {
        if (!process_->alive()) return true;  // reported below
        if (!pcscd_socket_answers()) return false;
        try {
          PcscContext ctx;
          auto names = ctx.readers();
          bool has0 = false, has1 = false;
          for (auto& n : names) {
            has0 = has0 || n == r0;
            has1 = has1 || n == r1;
          }
          return has0 && has1;
        } catch (const PcscError&) {
          return false;
        }
      },
      options_.ready_timeout, std::chrono::milliseconds(10));
  if (!process_->alive()) {
    int code = process_->stop();
    process_.reset();
    throw std::runtime_error("pcscd exited with code " + std::to_string(code) + ":\n" + tail_of_file(log_path()));
  }
  if (!ready) {
    stop();
    throw std::runtime_error("pcscd did not list the vpcd readers within " +
                             std::to_string(options_.ready_timeout.count()) + " ms:\n" + tail_of_file(log_path()));
  }
}

void PcscdHarness::stop() {
  if (!process_) return;
  process_->stop();
  process_.reset();
}

// ---------------------------------------------------------------------------------------------
// PcscStack

PcscStack::PcscStack(PcscStackOptions options)
    : options_(std::move(options)),
      pcscd_({options_.dir / "pcscd", options_.friendly_name, 0, options_.log_apdus, options_.ready_timeout}) {
  std::filesystem::create_directories(options_.dir / "pcscd");
  pcscd_.start();
}

PcscStack::~PcscStack() { stop(); }

ChildProcess& PcscStack::start_card(const std::filesystem::path& scws, const std::filesystem::path& image,
                                    const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {scws.string(), "card", "--image", image.string(), "--vpcd", pcscd_.vpcd_address(0)};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return card_.emplace(argv, options_.dir / "card.log");
}

ChildProcess& PcscStack::start_reference_card(const std::filesystem::path& scws, const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {scws.string(), "bench", "refcard", "--vpcd", pcscd_.vpcd_address(1)};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return reference_.emplace(argv, options_.dir / "refcard.log");
}

void PcscStack::connect(PcscContext& context, const PcscCardOptions& options, std::optional<PcscCard>& ours,
                        std::optional<PcscCard>& reference) {
  try {
    ours.emplace(context, pcscd_.reader(0), options);
    reference.emplace(context, pcscd_.reader(1), options);
  } catch (const PcscError& e) {
    throw failure(std::string("the cards did not come up: ") + e.what());
  }
}

std::runtime_error PcscStack::failure(const std::string& what) const {
  std::string message = what + "\n";
  if (card_) message += " scws card log:\n" + tail_of_file(card_->log());
  if (reference_) message += " reference card log:\n" + tail_of_file(reference_->log());
  message += " pcscd log:\n" + tail_of_file(pcscd_.log_path());
  return std::runtime_error(message);
}

void PcscStack::stop() {
  if (card_) card_->stop();
  if (reference_) reference_->stop();
  pcscd_.stop();
}

bool enter_private_pcscd_namespace_for_figures(std::string& why) {
  if (::geteuid() != 0) {
    why = "needs root (a private pcscd in a private mount namespace); run as root for these figures";
    return false;
  }
  std::string reason;
  if (!enter_private_pcscd_namespace(reason)) {
    why = "no private mount namespace for pcscd: " + reason;
    return false;
  }
  return true;
}

}  // namespace scws::sim
