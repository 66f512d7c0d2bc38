// Who holds a TCP port: the processes with a socket listening on it, as the kernel tells it in
// /proc/net/tcp and /proc/net/tcp6 (the socket's inode) and /proc/PID/fd (which process has a
// descriptor on "socket:[inode]"). For error messages: "port 3516 is held by process 1234 (...)".
//
// Linux only; without permission to read another user's /proc/PID/fd the socket is found but not
// its process. Nothing here throws: what cannot be read is left out.
#pragma once

#include <filesystem>
#include <istream>
#include <set>
#include <string>
#include <vector>

#include "base/bytes.hpp"

namespace scws::sim {

struct PortHolder {
  int pid = 0;
  std::string command;  // the command line, arguments separated by spaces ("" when unreadable)
};

// The inodes of the sockets in LISTEN state on `port` in a /proc/net/tcp or tcp6 table.
std::set<unsigned long> listening_socket_inodes(std::istream& table, u16 port);

// The processes holding a listening TCP socket on `port` (IPv4 or IPv6), in pid order. `proc` is the
// proc file system's mount point (tests point it elsewhere).
std::vector<PortHolder> tcp_port_holders(u16 port, const std::filesystem::path& proc = "/proc");

// "process 1234 (scws run --state /tmp/x)", "processes 12 (a), 34 (b)", or "" when no holder is known.
std::string describe_port_holders(const std::vector<PortHolder>& holders);

}  // namespace scws::sim
