#include "sim/host/port_holder.hpp"

#include <doctest/doctest.h>

#include <unistd.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <sstream>

namespace scws::sim {
namespace {

// A /proc/net/tcp table as the kernel writes it (include/net/tcp_states.h: 0A LISTEN, 01 ESTABLISHED).
const char kTable[] =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    "   0: 0100007F:0DBC 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 41234 1 0 100 0 0 10 0\n"
    "   1: 0100007F:0DBC 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 41299 1 0 20 4 30 10 -1\n"
    "   2: 00000000:28CB 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 55555 1 0 100 0 0 10 0\n";

TEST_CASE("listening sockets are found by port in a /proc/net/tcp table, connections are not") {
  std::istringstream table(kTable);
  CHECK(listening_socket_inodes(table, 3516) == std::set<unsigned long>{41234});
  std::istringstream again(kTable);
  CHECK(listening_socket_inodes(again, 10443) == std::set<unsigned long>{55555});
  std::istringstream none(kTable);
  CHECK(listening_socket_inodes(none, 80).empty());
}

TEST_CASE("the process holding a listening port is found through /proc, and named") {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(fd, 1) == 0);
  socklen_t len = sizeof a;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  const u16 port = ntohs(a.sin_port);

  const auto holders = tcp_port_holders(port);
  REQUIRE(holders.size() == 1);
  CHECK(holders[0].pid == ::getpid());
  CHECK(holders[0].command.find("sim_host_test") != std::string::npos);
  CHECK(describe_port_holders(holders).rfind("process " + std::to_string(::getpid()) + " (", 0) == 0);
  ::close(fd);
  CHECK(tcp_port_holders(port).empty());
}

TEST_CASE("holders are described one or several, and not at all when unknown") {
  CHECK(describe_port_holders({}).empty());
  CHECK(describe_port_holders({{12, "a"}}) == "process 12 (a)");
  CHECK(describe_port_holders({{12, "a"}, {34, ""}}) == "processes 12 (a), 34");
}

}  // namespace
}  // namespace scws::sim
