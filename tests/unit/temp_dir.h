// A fresh directory for a unit test, removed with everything in it when the
// TempDir goes away: a fixture member gives each test its own, a member made
// in SetUpTestSuite gives a suite one.
//
// Made by mkdtemp(3) as $TMPDIR/jenky-<tag>-XXXXXX ($TMPDIR defaults to
// /tmp), so parallel runs of jenky_test (ctest -j) never share one. When it
// cannot be made the constructor throws; gtest reports the exception as the
// failure of the test (or the suite) that asked for it.
#ifndef JENKY_TESTS_UNIT_TEMP_DIR_H_
#define JENKY_TESTS_UNIT_TEMP_DIR_H_

#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace jenky {

class TempDir {
 public:
  explicit TempDir(std::string_view tag) {
    const char* base = getenv("TMPDIR");
    std::string tmpl =
        std::string(base && *base ? base : "/tmp") + "/jenky-" + std::string(tag) + "-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (mkdtemp(buf.data()) == nullptr) {
      throw std::runtime_error("cannot make a temporary directory " + tmpl + ": " +
                               std::strerror(errno) + " (is $TMPDIR writable?)");
    }
    path_ = buf.data();
  }
  ~TempDir() {
    std::error_code ignored;  // a test that failed may have left it unremovable
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // The path of NAME inside the directory.
  std::string operator/(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

}  // namespace jenky

#endif  // JENKY_TESTS_UNIT_TEMP_DIR_H_
