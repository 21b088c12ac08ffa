#include "util/systemd.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace jenky {
namespace {

// Connects a datagram socket address for PATH ("@name" = abstract namespace).
bool UnixAddress(std::string_view path, sockaddr_un& addr, socklen_t& len) {
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) return false;
  std::memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';
  len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
  return true;
}

bool SendDatagram(std::string_view path, std::string_view data) {
  sockaddr_un addr;
  socklen_t len;
  if (!UnixAddress(path, addr, len)) return false;
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  ssize_t n =
      sendto(fd, data.data(), data.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr), len);
  close(fd);
  return n == static_cast<ssize_t>(data.size());
}

}  // namespace

bool SdNotify(std::string_view state) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (!path || !*path) return false;
  return SendDatagram(path, state);
}

std::chrono::microseconds WatchdogInterval() {
  const char* usec = std::getenv("WATCHDOG_USEC");
  if (!usec) return std::chrono::microseconds(0);
  if (const char* pid = std::getenv("WATCHDOG_PID")) {
    if (std::strtol(pid, nullptr, 10) != getpid()) return std::chrono::microseconds(0);
  }
  long long v = std::strtoll(usec, nullptr, 10);
  return std::chrono::microseconds(v > 0 ? v / 2 : 0);
}

std::vector<int> TakeListenFds() {
  std::vector<int> fds;
  const char* pid = std::getenv("LISTEN_PID");
  const char* n = std::getenv("LISTEN_FDS");
  if (pid && n && std::strtol(pid, nullptr, 10) == getpid()) {
    int count = static_cast<int>(std::strtol(n, nullptr, 10));
    for (int i = 0; i < count; ++i) {
      int fd = 3 + i;
      fcntl(fd, F_SETFD, FD_CLOEXEC);
      fds.push_back(fd);
    }
  }
  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDS");
  unsetenv("LISTEN_FDNAMES");
  return fds;
}

bool JournalSend(int priority, std::string_view message,
                 const std::vector<std::pair<std::string, std::string>>& fields) {
  // Native protocol: "KEY=value\n" per field; values with a newline use the
  // binary form KEY\n<64-bit LE length><value>\n.
  std::string d;
  auto add = [&d](std::string_view key, std::string_view value) {
    if (value.find('\n') == std::string_view::npos) {
      d.append(key).append("=").append(value).append("\n");
    } else {
      d.append(key).append("\n");
      uint64_t len = value.size();
      for (int i = 0; i < 8; ++i) d.push_back(static_cast<char>((len >> (8 * i)) & 0xff));
      d.append(value).append("\n");
    }
  };
  add("PRIORITY", std::to_string(priority));
  add("SYSLOG_IDENTIFIER", "jenky");
  add("MESSAGE", message);
  for (const auto& [k, v] : fields) add(k, v);
  return SendDatagram("/run/systemd/journal/socket", d);
}

}  // namespace jenky
