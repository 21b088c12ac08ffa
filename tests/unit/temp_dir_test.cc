#include "temp_dir.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <fstream>
#include <optional>
#include <string>

#include "util/fs.h"

namespace jenky {
namespace {

TEST(TempDirTest, EachIsAFreshPrivateDirectoryRemovedWithItsContents) {
  std::string kept;
  {
    TempDir a("temp-dir-test");
    TempDir b("temp-dir-test");
    kept = a.path();
    EXPECT_NE(a.path(), b.path());
    EXPECT_TRUE(IsDirectory(a.path()));
    EXPECT_NE(a.path().find("/jenky-temp-dir-test-"), std::string::npos) << a.path();
    struct stat st;
    ASSERT_EQ(stat(a.path().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);  // mkdtemp's: no other user looks in
    EXPECT_EQ(a / "x", a.path() + "/x");
    ASSERT_TRUE(MakeDirs(a / "deep/er").ok());
    std::ofstream(a / "deep/er/file") << "content";
    ASSERT_TRUE(PathExists(a / "deep/er/file"));
  }
  EXPECT_FALSE(PathExists(kept));
}

// Restores an environment variable when the test ends, failed or not.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = getenv(name)) old_ = old;
    setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (old_) setenv(name_, old_->c_str(), 1);
    else unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(TempDirTest, ItIsMadeInTmpdir) {
  TempDir base("temp-dir-base");
  ScopedEnv env("TMPDIR", base.path().c_str());
  TempDir inner("inner");
  EXPECT_EQ(inner.path().rfind(base.path() + "/jenky-inner-", 0), 0u) << inner.path();
}

TEST(TempDirTest, OneThatCannotBeMadeSaysWhereAndWhy) {
  ScopedEnv env("TMPDIR", "/nonexistent/jenky-tmp");
  try {
    TempDir dir("x");
    FAIL() << "made " << dir.path();
  } catch (const std::runtime_error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("/nonexistent/jenky-tmp/jenky-x-XXXXXX"), std::string::npos) << what;
    EXPECT_NE(what.find("No such file or directory"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace jenky
