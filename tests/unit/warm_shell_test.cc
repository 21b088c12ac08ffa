// The warm shell's pure parts: its environment and the run as data. (A warm
// shell running real scripts is tested through the supervisor,
// supervisor_test.cc.)
#include "exec/warm_shell.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace jenky {
namespace {

TEST(WarmShellEnv, KeepsWhatBashDoesNotActOnAtStart) {
  EXPECT_EQ(WarmShellEnv({"PATH=/bin", "LANG=C.UTF-8", "BASH_ENV=/x", "BASH_FUNC_f%%=() { :; }",
                          "SHELLOPTS=xtrace", "IFS=,", "_=/usr/bin/jenky", "PWD=/", "OLDPWD=/",
                          "SHLVL=4", "NOT-AN-IDENTIFIER=1", "NOEQUALS", "HOME=/root"}),
            (std::vector<std::string>{"PATH=/bin", "LANG=C.UTF-8", "HOME=/root"}));
}

TEST(WarmStartData, IsTheRunAsDataOrNothing) {
  RunSpec spec;
  spec.argv = {"/bin/bash", "-e", "/data/runs/7/script"};
  spec.workdir = "/tmp";
  spec.env = {"PATH=/usr/bin:/bin", "_=/usr/bin/jenky", "PWD=/somewhere", "SHLVL=1",
              "OLDPWD=/",           "V=a=b\nc",         "Q=it's"};
  EXPECT_EQ(WarmStartData(spec, "/bin/bash"),
            "cd -P -- '/tmp' || exit 125\nunset OLDPWD\n"
            "export -- 'PATH=/usr/bin:/bin' 'SHLVL=2' 'OLDPWD=/' 'V=a=b\nc' 'Q=it'\\''s'\n"
            "BASH_ARGV0='/data/runs/7/script'\n");
  // A shell that has most of it already: only the differences.
  spec.env = {"PATH=/usr/bin:/bin", "LANG=C", "NEW=2", "SAME=it's"};
  EXPECT_EQ(WarmStartData(spec, "/bin/bash",
                          {"PATH=/usr/bin:/bin", "LANG=C.UTF-8", "GONE=1", "SAME=it's"}),
            "cd -P -- '/tmp' || exit 125\nunset OLDPWD GONE\n"
            "export -- 'LANG=C' 'NEW=2'\nBASH_ARGV0='/data/runs/7/script'\n");
  spec.env = {"OLDPWD=/no/such/dir"};  // and no `export` that would list every variable
  EXPECT_EQ(WarmStartData(spec, "/bin/bash"),
            "cd -P -- '/tmp' || exit 125\nunset OLDPWD\nBASH_ARGV0='/data/runs/7/script'\n");
  EXPECT_EQ(WarmStartData(spec, "/usr/bin/bash"), std::nullopt);  // another shell
  for (std::string bad : {"BASH_ENV=/x", "BASH_FUNC_f%%=() { :; }", "SHELLOPTS=xtrace", "IFS=,",
                          "ENV=/x", "UID=0", "SECONDS=5", "NOT-AN-IDENTIFIER=1", "1X=1", "SHLVL=x",
                          "SHLVL=-1", "JENKY_SUPERVISOR=1.2", "NOEQUALS"}) {
    spec.env = {bad};
    EXPECT_EQ(WarmStartData(spec, "/bin/bash"), std::nullopt) << bad;
  }
  spec.env = {};
  spec.workdir = "/no/such/dir";  // the cold start says what is wrong
  EXPECT_EQ(WarmStartData(spec, "/bin/bash"), std::nullopt);
  spec.workdir = "/tmp";
  spec.argv = {"/bin/bash", "/data/runs/7/script"};  // not -e
  EXPECT_EQ(WarmStartData(spec, "/bin/bash"), std::nullopt);
}

TEST(ShellQuote, MakesOneLiteralWord) {
  EXPECT_EQ(ShellQuote(""), "''");
  EXPECT_EQ(ShellQuote("a b$HOME`x`"), "'a b$HOME`x`'");
  EXPECT_EQ(ShellQuote("it's"), "'it'\\''s'");
}

TEST(ShellIdentifiers, AreTheNamesBashCanAssign) {
  EXPECT_TRUE(IsIdentifier("_x1"));
  EXPECT_FALSE(IsIdentifier(""));
  EXPECT_FALSE(IsIdentifier("1x"));
  EXPECT_FALSE(IsIdentifier("a-b"));
  EXPECT_TRUE(SpecialToTheShell("BASH_ENV"));
  EXPECT_TRUE(SpecialToTheShell("IFS"));
  EXPECT_FALSE(SpecialToTheShell("PATH"));
}

TEST(WarmShell, SendsItsRunAndBecomesTheScript) {
  SupervisorId self{getpid(), 1, ""};
  auto warm = StartWarmShell("/bin/bash", self, nullptr, nullptr);
  ASSERT_TRUE(warm.has_value());
  EXPECT_FALSE(warm->GivenItsRun());
  RunSpec spec;
  spec.argv = {"/bin/bash", "-e", "/dev/null"};
  spec.workdir = "/tmp";
  spec.env = {"GREETING=hello"};
  auto data = WarmStartData(spec, "/bin/bash", warm->env);
  ASSERT_TRUE(data.has_value());
  // Replace the script: print what the run was given, then exit 3.
  std::string run = *data + "echo \"$GREETING $PWD\"; exit 3\n";
  ASSERT_TRUE(warm->Send(run));
  EXPECT_TRUE(warm->GivenItsRun());
  pid_t pid = -1;
  int out = -1;
  warm->BecomeScript(&pid, &out);
  EXPECT_EQ(warm->pid, -1);
  EXPECT_EQ(warm->out_fd, -1);
  ASSERT_GT(pid, 0);
  std::string output;
  char buf[256];
  for (ssize_t n; (n = read(out, buf, sizeof buf)) > 0;) output.append(buf, static_cast<size_t>(n));
  close(out);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_EQ(output, "hello /tmp\n");
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 3);
}

TEST(WarmShell, ADiscardedShellIsGoneAndCannotBeSentARun) {
  SupervisorId self{getpid(), 1, ""};
  auto warm = StartWarmShell("/bin/bash", self, nullptr, nullptr);
  ASSERT_TRUE(warm.has_value());
  pid_t pid = warm->pid;
  warm->Discard();
  EXPECT_EQ(warm->pid, -1);
  EXPECT_NE(kill(pid, 0), 0);  // reaped: no such process
  EXPECT_FALSE(warm->Send("true\n"));
}

}  // namespace
}  // namespace jenky
