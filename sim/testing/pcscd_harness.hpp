// A private pcscd for benchmarks and tests (docs/architecture.md, "Tests"):
// `pcscd -f -c DIR` with DIR holding only one vpcd reader file on a port pair chosen per run, its
// log kept outside DIR (pcscd parses every file there), readiness awaited by bounded polling,
// and the daemon stopped by pid (SIGTERM, bounded wait, SIGKILL).
//
// One pcscd per machine: its socket is compiled in (/run/pcscd/pcscd.comm). As root, call
// enter_private_pcscd_namespace() first: the process (and every child it starts afterwards) then
// gets a private mount namespace with a fresh tmpfs on /run/pcscd, so its pcscd never meets the
// system one. Otherwise start() refuses when another pcscd answers.
//
// pcscd runs as a ChildProcess (sim/testing/child_process.hpp, included here with poll_until).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/bytes.hpp"
#include "sim/host/pcsc_client.hpp"
#include "sim/testing/child_process.hpp"

namespace scws::sim {

inline constexpr char kPcscdSocket[] = "/run/pcscd/pcscd.comm";  // pcsc-lite PCSCLITE_CSOCK_NAME
inline constexpr char kPcscdRunDir[] = "/run/pcscd";
inline constexpr char kVpcdDriver[] = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so";
inline constexpr int kVpcdSlots = 2;  // Debian's vpcd: slot n listens on base port + n

// True when something accepts connections on the pcscd socket.
bool pcscd_socket_answers();

// Unshares the mount namespace, makes it private, and mounts a tmpfs on /run/pcscd. Needs root and
// a process that has not started threads yet. Returns false with the reason in why otherwise.
bool enter_private_pcscd_namespace(std::string& why);

// A base port p such that p and p+1 are free on 0.0.0.0 (vpcd binds all addresses). Throws when
// none is found among random candidates in [20000, 60000).
u16 choose_vpcd_port_pair();

struct PcscdOptions {
  std::filesystem::path workdir;  // holds conf/ (reader files only) and pcscd.log
  std::string friendly_name = "scws";
  u16 port = 0;                   // vpcd base port; 0 = choose a free pair
  bool log_apdus = false;         // pcscd -a (APDUs in pcscd.log)
  std::chrono::milliseconds ready_timeout{10000};
};

class PcscdHarness {
 public:
  explicit PcscdHarness(PcscdOptions options);
  ~PcscdHarness();  // stop()
  PcscdHarness(const PcscdHarness&) = delete;
  PcscdHarness& operator=(const PcscdHarness&) = delete;

  // Refuses (std::runtime_error) when another pcscd answers on the socket. Writes the reader file,
  // starts pcscd and waits until both vpcd readers are listed. Throws on failure or timeout, with
  // the end of pcscd's log in the message.
  void start();
  void stop();

  [[nodiscard]] u16 port() const noexcept { return options_.port; }
  // "<friendly name> 00 0<slot>": pcscd's reader name for vpcd slot `slot`.
  [[nodiscard]] std::string reader(int slot) const;
  // "127.0.0.1:<port + slot>": where a card process connects for that slot.
  [[nodiscard]] std::string vpcd_address(int slot) const;
  [[nodiscard]] std::filesystem::path log_path() const { return options_.workdir / "pcscd.log"; }
  [[nodiscard]] std::filesystem::path config_dir() const { return options_.workdir / "conf"; }
  [[nodiscard]] pid_t pid() const noexcept { return process_ ? process_->pid() : -1; }

 private:
  PcscdOptions options_;
  std::optional<ChildProcess> process_;
};

// The PC/SC baseline of the tests and the benchmarks: a private pcscd (PcscdHarness, in
// DIR/pcscd) and the cards of its two vpcd slots as child processes: `scws card` on slot 0 (our
// card), `scws bench refcard` on slot 1 (the reference card, answering 90 00 to everything), their
// logs DIR/card.log and DIR/refcard.log. Tests that serve a slot in process (VpcdLink) start no
// card child. Destruction stops the cards, then pcscd.
struct PcscStackOptions {
  std::filesystem::path dir;
  std::string friendly_name = "scws";
  bool log_apdus = false;  // pcscd -a
  std::chrono::milliseconds ready_timeout{10000};
};

class PcscStack {
 public:
  // Starts pcscd; throws as PcscdHarness::start.
  explicit PcscStack(PcscStackOptions options);
  ~PcscStack();  // stop()
  PcscStack(const PcscStack&) = delete;
  PcscStack& operator=(const PcscStack&) = delete;

  [[nodiscard]] PcscdHarness& pcscd() noexcept { return pcscd_; }
  [[nodiscard]] const std::filesystem::path& dir() const noexcept { return options_.dir; }
  // `SCWS card --image IMAGE --vpcd <slot 0> EXTRA...` (a missing image is created by `scws card`).
  ChildProcess& start_card(const std::filesystem::path& scws, const std::filesystem::path& image,
                           const std::vector<std::string>& extra = {});
  // `SCWS bench refcard --vpcd <slot 1> EXTRA...`.
  ChildProcess& start_reference_card(const std::filesystem::path& scws, const std::vector<std::string>& extra = {});
  [[nodiscard]] ChildProcess* card() noexcept { return card_ ? &*card_ : nullptr; }
  [[nodiscard]] ChildProcess* reference_card() noexcept { return reference_ ? &*reference_ : nullptr; }
  // Waits (options.card_wait) for both slots' cards and connects to them; throws failure(...) when
  // one does not come up.
  void connect(PcscContext& context, const PcscCardOptions& options, std::optional<PcscCard>& ours,
               std::optional<PcscCard>& reference);
  // An error for `what` with the end of every log of the stack (cards', pcscd's).
  [[nodiscard]] std::runtime_error failure(const std::string& what) const;
  // Stops the cards, then pcscd. Idempotent.
  void stop();

 private:
  PcscStackOptions options_;
  PcscdHarness pcscd_;
  std::optional<ChildProcess> card_;
  std::optional<ChildProcess> reference_;
};

// Whether this run can have figures through its own pcscd: as root, it enters a private mount
// namespace (call it while the process has no threads). false: why, a sentence for the report.
bool enter_private_pcscd_namespace_for_figures(std::string& why);

// Writes DIR/vpcd, a pcsc-lite reader.conf entry for Debian's vpcd listening on `port` (and port+1):
// FRIENDLYNAME, DEVICENAME /dev/null:0xPORT ("listen on PORT"), LIBPATH, CHANNELID 0xPORT.
void write_vpcd_reader_conf(const std::filesystem::path& dir, const std::string& friendly_name, u16 port);

// The last `lines` lines of a text file (for error messages).
std::string tail_of_file(const std::filesystem::path& path, std::size_t lines = 15);

}  // namespace scws::sim
