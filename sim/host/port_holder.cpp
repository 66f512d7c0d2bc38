#include "sim/host/port_holder.hpp"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <sstream>
#include <system_error>

namespace scws::sim {

namespace fs = std::filesystem;

namespace {

constexpr const char* kListenState = "0A";  // TCP_LISTEN in the "st" column (include/net/tcp_states.h)

// "0100007F:0DBC" or an IPv6 "...:0DBC": the port is the hex after the last colon.
bool has_port(const std::string& local_address, u16 port) {
  const auto colon = local_address.rfind(':');
  if (colon == std::string::npos) return false;
  unsigned long value = 0;
  try {
    value = std::stoul(local_address.substr(colon + 1), nullptr, 16);
  } catch (const std::exception&) {
    return false;
  }
  return value == port;
}

std::string command_line(const fs::path& pid_dir) {
  std::ifstream in(pid_dir / "cmdline", std::ios::binary);
  std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!raw.empty() && raw.back() == '\0') raw.pop_back();
  for (char& c : raw)
    if (c == '\0') c = ' ';
  if (!raw.empty()) return raw;
  std::ifstream comm(pid_dir / "comm");
  std::string name;
  std::getline(comm, name);
  return name;
}

bool is_pid(const std::string& name) {
  return !name.empty() && name.find_first_not_of("0123456789") == std::string::npos;
}

// Whether a process has a descriptor on one of the sockets.
bool holds(const fs::path& pid_dir, const std::set<std::string>& links) {
  std::error_code ec;
  for (fs::directory_iterator fd(pid_dir / "fd", ec), end; !ec && fd != end; fd.increment(ec)) {
    std::error_code lec;
    const fs::path target = fs::read_symlink(fd->path(), lec);
    if (!lec && links.count(target.string()) != 0) return true;
  }
  return false;
}

}  // namespace

std::set<unsigned long> listening_socket_inodes(std::istream& table, u16 port) {
  std::set<unsigned long> inodes;
  std::string line;
  std::getline(table, line);  // the header
  while (std::getline(table, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout;
    unsigned long inode = 0;
    if (!(fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode))
      continue;
    if (state == kListenState && has_port(local, port) && inode != 0) inodes.insert(inode);
  }
  return inodes;
}

std::vector<PortHolder> tcp_port_holders(u16 port, const fs::path& proc) {
  std::set<std::string> links;
  for (const char* table : {"net/tcp", "net/tcp6"}) {
    std::ifstream in(proc / table);
    for (unsigned long inode : listening_socket_inodes(in, port)) links.insert("socket:[" + std::to_string(inode) + "]");
  }
  std::vector<PortHolder> holders;
  if (links.empty()) return holders;
  std::error_code ec;
  for (fs::directory_iterator it(proc, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!is_pid(name) || !holds(it->path(), links)) continue;
    holders.push_back(PortHolder{std::stoi(name), command_line(it->path())});
  }
  std::sort(holders.begin(), holders.end(), [](const PortHolder& a, const PortHolder& b) { return a.pid < b.pid; });
  return holders;
}

std::string describe_port_holders(const std::vector<PortHolder>& holders) {
  std::string out;
  for (const PortHolder& h : holders) {
    out += out.empty() ? "" : ", ";
    out += std::to_string(h.pid);
    if (!h.command.empty()) out += " (" + h.command + ")";
  }
  if (out.empty()) return out;
  return (holders.size() == 1 ? "process " : "processes ") + out;
}

}  // namespace scws::sim
