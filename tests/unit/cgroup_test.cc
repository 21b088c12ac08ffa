// The cgroup v2 code: the parsing alone, then the real thing where this
// machine offers a writable unified hierarchy (skipped, saying why, where not).
#include "exec/cgroup.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <fmt/format.h>

#include "exec/process.h"
#include "util/fs.h"

namespace jenky {
namespace {

using namespace std::chrono_literals;

TEST(CgroupParsing, FindsTheUnifiedHierarchyOnPureAndHybridHosts) {
  // Pure v2 (systemd's default).
  EXPECT_EQ(UnifiedMountFrom(
                "22 1 0:21 / /proc rw,nosuid shared:12 - proc proc rw\n"
                "29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev shared:4 - cgroup2 cgroup2 rw\n"),
            "/sys/fs/cgroup");
  // Hybrid: v1 controllers, and the unified hierarchy beside them.
  EXPECT_EQ(
      UnifiedMountFrom("30 29 0:27 / /sys/fs/cgroup rw shared:5 - tmpfs tmpfs rw,mode=755\n"
                       "31 30 0:28 / /sys/fs/cgroup/memory rw shared:6 - cgroup cgroup rw,memory\n"
                       "32 30 0:29 / /sys/fs/cgroup/unified rw shared:7 - cgroup2 cgroup2 rw\n"),
      "/sys/fs/cgroup/unified");
  // A bind mount of a sub-tree (a container's view) is not the hierarchy.
  EXPECT_EQ(UnifiedMountFrom("40 1 0:30 /machine.slice /mnt/cg rw - cgroup2 cgroup2 rw\n"), "");
  EXPECT_EQ(UnifiedMountFrom("22 1 0:21 / /proc rw - proc proc rw\n"), "");
}

TEST(CgroupParsing, ReadsTheUnifiedPathAndCpuUsage) {
  EXPECT_EQ(UnifiedPathFrom("9:name=systemd:/\n4:memory:/x\n0::/system.slice/jenky.service\n"),
            "/system.slice/jenky.service");
  EXPECT_EQ(UnifiedPathFrom("0::/\n"), "/");
  EXPECT_EQ(UnifiedPathFrom("4:memory:/x\n"), std::nullopt);
  EXPECT_EQ(CpuUsecFrom("usage_usec 1234567\nuser_usec 1000000\nsystem_usec 234567\n"), 1234567);
  EXPECT_EQ(CpuUsecFrom("user_usec 1\n"), std::nullopt);
  EXPECT_EQ(CgroupName(42, 7), "sup-42.7");
}

TEST(CgroupParsing, AMissingControllerIsAnErrorThatSaysWhy) {
  CgroupTree tree;
  tree.path = "/sys/fs/cgroup/unified/jenky";
  tree.controllers = {"pids"};
  tree.why_not["memory"] =
      "the memory controller is bound to the cgroup v1 hierarchy at "
      "/sys/fs/cgroup/memory on this host";
  Result<CgroupTree> have(tree);
  EXPECT_TRUE(RequireController(have, "pids", "projects.p.tasks_max").ok());
  Status s = RequireController(have, "memory", "projects.p.memory_max");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(),
            "projects.p.memory_max needs the cgroup v2 memory controller, which jenky cannot use "
            "here: the memory controller is bound to the cgroup v1 hierarchy at "
            "/sys/fs/cgroup/memory on this host; remove projects.p.memory_max or fix that");
  Result<CgroupTree> none(Status::Error("no cgroup v2 (unified) hierarchy is mounted"));
  EXPECT_EQ(RequireController(none, "pids", "projects.p.tasks_max").message(),
            "projects.p.tasks_max needs a cgroup v2 for each run, which jenky cannot have here: "
            "no cgroup v2 (unified) hierarchy is mounted; remove projects.p.tasks_max or fix that");
}

class RealCgroupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto tree = OpenCgroupTree();
    if (!tree.ok()) GTEST_SKIP() << "no writable cgroup v2 here: " << tree.status().message();
    tree_ = *tree;
    auto cg = RunCgroup::Make(tree_.path, fmt::format("test-{}-{}", getpid(), counter_++));
    ASSERT_TRUE(cg.ok()) << cg.status().message();
    cg_.emplace(std::move(cg).value());
  }
  void TearDown() override {
    if (!cg_) return;
    cg_->Kill();
    for (int i = 0; i < 200 && cg_->Populated(); ++i) std::this_thread::sleep_for(5ms);
    cg_->Remove();
  }

  pid_t SpawnIn(const std::string& script) {
    SpawnOptions o;
    o.argv = {"/bin/bash", "-c", script};
    o.env = {"PATH=/usr/bin:/bin"};
    o.new_process_group = true;
    o.cgroup_fd = cg_->fd();
    auto pid = Spawn(o);
    EXPECT_TRUE(pid.ok()) << pid.status().message();
    return pid.value_or(-1);
  }

  std::string CgroupOf(pid_t pid) {
    return ReadFile(fmt::format("/proc/{}/cgroup", pid)).value_or("");
  }

  static inline int counter_ = 0;
  CgroupTree tree_;
  std::optional<RunCgroup> cg_;
};

TEST_F(RealCgroupTest, EverythingASpawnedScriptStartsIsInItsCgroupAndOneKillEndsIt) {
  std::string tag = fmt::format("jenky-cg-test-{}", getpid());
  pid_t pid =
      SpawnIn(fmt::format("( setsid bash -c 'exec -a {0}-a sleep 1000' & ) ; "
                          "exec -a {0}-b sleep 1000",
                          tag));
  ASSERT_GT(pid, 0);
  // The spawned one itself, and the double-forked one in its own session.
  for (int i = 0; i < 400 && cg_->Pids().size() < 2; ++i) std::this_thread::sleep_for(5ms);
  std::vector<pid_t> pids = cg_->Pids();
  ASSERT_EQ(pids.size(), 2u);
  std::string name = cg_->path().substr(cg_->path().rfind('/'));
  for (pid_t p : pids) {
    std::optional<std::string> in = UnifiedPathFrom(CgroupOf(p));
    ASSERT_TRUE(in.has_value());
    EXPECT_TRUE(in->size() >= name.size() &&
                in->compare(in->size() - name.size(), name.size(), name) == 0)
        << *in;
  }
  EXPECT_TRUE(cg_->Populated());
  ASSERT_TRUE(cg_->Kill().ok());
  int status;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  for (int i = 0; i < 400 && cg_->Populated(); ++i) std::this_thread::sleep_for(5ms);
  EXPECT_FALSE(cg_->Populated());
  EXPECT_TRUE(cg_->Pids().empty());
  EXPECT_TRUE(cg_->Remove().ok());
  EXPECT_FALSE(IsDirectory(cg_->path()));
  cg_.reset();
}

TEST_F(RealCgroupTest, ARunThatMadeCgroupsOfItsOwnInItsCgroupIsKilledAndRemovedWhole) {
  std::string nested = cg_->path() + "/inner/deeper";
  pid_t pid =
      SpawnIn(fmt::format("mkdir -p {0} && echo $BASHPID > {0}/cgroup.procs && "
                          "exec sleep 1000",
                          nested));
  for (int i = 0; i < 400 && ReadFile(nested + "/cgroup.procs").value_or("").empty(); ++i) {
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_FALSE(ReadFile(nested + "/cgroup.procs").value_or("").empty());
  EXPECT_TRUE(cg_->Pids().empty());  // (its own procs only)
  EXPECT_TRUE(cg_->Populated());     // (and its children's)
  ASSERT_TRUE(cg_->Kill().ok());
  waitpid(pid, nullptr, 0);
  for (int i = 0; i < 400 && cg_->Populated(); ++i) std::this_thread::sleep_for(5ms);
  EXPECT_TRUE(cg_->Remove().ok());
  EXPECT_FALSE(IsDirectory(cg_->path()));
  cg_.reset();
}

TEST_F(RealCgroupTest, CountsTheCpuTimeOfProcessesThatAreGone) {
  pid_t pid = SpawnIn("( for ((i = 0; i < 200000; i++)); do :; done ) & wait");
  int status;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  CgroupUsage u = cg_->Usage();
  ASSERT_TRUE(u.cpu_usec.has_value());
  EXPECT_GT(*u.cpu_usec, 10'000);  // 200,000 rounds of bash: well over 10 ms
  // Peaks only where the controllers are (this host's tree says which).
  EXPECT_EQ(u.memory_peak.has_value(), tree_.controllers.count("memory") > 0);
}

TEST_F(RealCgroupTest, ASpawnThatCannotStartSaysWhyAsPosixSpawnDoes) {
  SpawnOptions o;
  o.argv = {"/bin/true"};
  o.workdir = "/nonexistent/dir";
  o.cgroup_fd = cg_->fd();
  auto pid = Spawn(o);
  ASSERT_FALSE(pid.ok());
  EXPECT_EQ(pid.status().message(),
            "start /bin/true in /nonexistent/dir: No such file or directory");
  o.workdir = "";
  o.argv = {"/nonexistent/program"};
  pid = Spawn(o);
  ASSERT_FALSE(pid.ok());
  EXPECT_EQ(pid.status().message(), "start /nonexistent/program: No such file or directory");
  EXPECT_FALSE(cg_->Populated());
}

TEST_F(RealCgroupTest, DescriptorsAndSignalMaskReachTheChildAsAsked) {
  int out[2];
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  int extra[2];
  ASSERT_EQ(pipe2(extra, O_CLOEXEC), 0);
  ASSERT_EQ(write(extra[1], "x", 1), 1);
  close(extra[1]);
  SpawnOptions o;
  o.argv = {"/bin/bash", "-c",
            "read -r -N 1 c <&3; echo \"$c $(ls /proc/self/fd | sort -n | tr '\\n' ' ')\"; "
            "grep SigBlk /proc/self/status; echo err >&2"};
  o.env = {"PATH=/usr/bin:/bin"};
  o.stdout_fd = o.stderr_fd = out[1];
  o.extra_fds = {{extra[0], 3}};
  o.blocked_signals = {SIGTERM};
  o.cgroup_fd = cg_->fd();
  auto pid = Spawn(o);
  ASSERT_TRUE(pid.ok()) << pid.status().message();
  close(out[1]);
  close(extra[0]);
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = read(out[0], buf, sizeof buf)) > 0) text.append(buf, n);
  close(out[0]);
  waitpid(*pid, nullptr, 0);
  // 0-3 and the descriptor `ls` reads /proc/self/fd with; nothing else leaked.
  EXPECT_EQ(text.substr(0, text.find('\n')), "x 0 1 2 3 4 ");
  EXPECT_NE(text.find("SigBlk:\t0000000000004000"), std::string::npos) << text;  // SIGTERM only
  EXPECT_NE(text.find("err\n"), std::string::npos);
}

TEST_F(RealCgroupTest, KillCgroupAtEndsAndRemovesARunsCgroupByItsPath) {
  // Only a cgroup named as a supervisor names one: the path comes from a file.
  pid_t pid = SpawnIn("sleep 1000 & exec sleep 1000");
  for (int i = 0; i < 400 && cg_->Pids().size() < 2; ++i) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(KillCgroupAt(cg_->path()), 0);
  EXPECT_EQ(cg_->Pids().size(), 2u);
  cg_->Kill();
  waitpid(pid, nullptr, 0);
  for (int i = 0; i < 400 && cg_->Populated(); ++i) std::this_thread::sleep_for(5ms);
  cg_->Remove();

  auto run = RunCgroup::Make(tree_.path, CgroupName(getpid(), 1));
  ASSERT_TRUE(run.ok());
  cg_.emplace(std::move(run).value());
  pid = SpawnIn("sleep 1000 & exec sleep 1000");
  for (int i = 0; i < 400 && cg_->Pids().size() < 2; ++i) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(KillCgroupAt(cg_->path() + "/../" + CgroupName(getpid(), 1)), 0);
  EXPECT_EQ(KillCgroupAt(cg_->path()), 2);
  waitpid(pid, nullptr, 0);
  EXPECT_FALSE(IsDirectory(cg_->path()));
  EXPECT_EQ(KillCgroupAt(cg_->path()), 0);
  cg_.reset();
}

TEST_F(RealCgroupTest, StaleSupervisorCgroupsAreRemovedAndLiveOnesKept) {
  uint64_t start = ProcessStartTime(getpid()).value();
  auto live = RunCgroup::Make(tree_.path, CgroupName(getpid(), start));
  auto dead = RunCgroup::Make(tree_.path, CgroupName(getpid(), start + 1));  // an earlier process
  ASSERT_TRUE(live.ok() && dead.ok());
  RemoveStaleCgroups(tree_.path);
  EXPECT_TRUE(IsDirectory(live->path()));
  EXPECT_FALSE(IsDirectory(dead->path()));
  live->Remove();
}

}  // namespace
}  // namespace jenky
