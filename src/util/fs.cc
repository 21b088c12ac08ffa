#include "util/fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace jenky {

Status PosixError(const std::string& context, int err) {
  return Status::Error(context + ": " + std::strerror(err));
}

Result<std::string> ReadFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return PosixError("open " + path, errno);
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      close(fd);
      return PosixError("read " + path, err);
    }
    if (n == 0) break;
    out.append(buf, n);
  }
  close(fd);
  return out;
}

Status WriteAll(int fd, std::string_view data, const std::string& what) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return PosixError("write " + what, errno);
    }
    data.remove_prefix(n);
  }
  return Status::Ok();
}

Status WriteFileAtomic(const std::string& path, std::string_view data, int mode, bool durable) {
  std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return PosixError("create " + tmp, errno);
  fchmod(fd, mode);  // exactly MODE, whatever the umask (a binary must stay executable)
  Status s = WriteAll(fd, data, tmp);
  if (s.ok() && durable && fsync(fd) != 0) s = PosixError("fsync " + tmp, errno);
  close(fd);
  if (!s.ok()) return s;
  if (rename(tmp.c_str(), path.c_str()) != 0) return PosixError("rename to " + path, errno);
  if (!durable) return Status::Ok();
  std::string dir = std::filesystem::path(path).parent_path().string();
  int dfd = open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return Status::Ok();
}

Status WriteFile(const std::string& path, std::string_view data, int mode) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return PosixError("create " + path, errno);
  Status s = WriteAll(fd, data, path);
  close(fd);
  return s;
}

Status Overwrite(const std::string& path, std::string_view data) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return PosixError("open " + path, errno);
  Status s = WriteAll(fd, data, path);
  struct stat st;
  if (s.ok() && fstat(fd, &st) == 0 && st.st_size > static_cast<off_t>(data.size()) &&
      ftruncate(fd, static_cast<off_t>(data.size())) != 0) {
    s = PosixError("truncate " + path, errno);
  }
  close(fd);
  return s;
}

Status MakeDirs(const std::string& path, int mode) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return Status::Error("create directory " + path + ": " + ec.message());
  chmod(path.c_str(), mode);
  return Status::Ok();
}

Status RemoveTree(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec) return Status::Error("remove " + path + ": " + ec.message());
  return Status::Ok();
}

bool PathExists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

bool IsDirectory(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace jenky
