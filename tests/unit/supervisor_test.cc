// The supervisor run as it is in production: `jenky __supervise` with a
// RunSpec on stdin, a real shell, real process trees.
#include "exec/supervisor.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "exec/cgroup.h"
#include "exec/process.h"
#include "exec/run_dir.h"
#include "temp_dir.h"
#include "util/fs.h"

namespace jenky {
namespace {

using namespace std::chrono_literals;

class SupervisorTest : public ::testing::Test {
 protected:
  // kPlain: `bash SCRIPT`; kCold: `bash -e SCRIPT`, as the server asks for it;
  // kWarm: the same, given to a warm shell; kHandedOff: to a warm shell that
  // the test starts itself through --warm-fds, as the server does for a
  // staged run (the spare's stage is then always taken).
  enum class Shell { kPlain, kCold, kWarm, kHandedOff };

  void SetUp() override {
    root_ = tmp_.path();
    dir_ = RunDir{root_ + "/runs/1"};
    ASSERT_TRUE(MakeDirs(dir_.path).ok());
    signal(SIGPIPE, SIG_IGN);  // as the server: a go byte to a dead shell is EPIPE
  }

  // Starts a supervisor for SCRIPT; returns its pid. Does not wait.
  pid_t Start(const std::string& script, int64_t timeout_ms = 30'000, int64_t grace_ms = 2'000,
              int64_t max_log_bytes = 0, const std::string& cancel_at_once = "",
              Shell shell = Shell::kPlain, std::vector<std::string> env = {}) {
    bool handoff = shell == Shell::kHandedOff;
    bool warm = shell == Shell::kWarm || handoff;
    Stage stage_mode = handoff ? Stage::kTaken : stage_;
    if (stage_mode != Stage::kTaken) {
      EXPECT_TRUE(WriteFileAtomic(dir_.script(), script).ok());
    }
    RunSpec spec;
    spec.run_dir = dir_.path;
    spec.run_id = 1;
    spec.project = "t";
    spec.argv = {"/bin/bash", dir_.script()};
    if (shell != Shell::kPlain) spec.argv = {"/bin/bash", "-e", dir_.script()};  // as the server
    spec.env = {"PATH=/usr/bin:/bin", "GREETING=hello", "MARKER=" + root_};
    spec.env.insert(spec.env.end(), env.begin(), env.end());
    spec.memory_max = memory_max_;
    spec.tasks_max = tasks_max_;
    spec.workdir = root_;
    spec.timeout_ms = timeout_ms;
    spec.kill_grace_ms = grace_ms;
    spec.max_log_bytes = max_log_bytes;
    int in[2];
    EXPECT_EQ(pipe(in), 0);
    SpawnOptions o;
    o.argv = {JENKY_BINARY, "__supervise"};
    if (warm) o.argv.insert(o.argv.end(), {"--warm-shell", "/bin/bash"});
    if (stage_mode != Stage::kNone) o.argv.insert(o.argv.end(), {"--stage", root_ + "/runs"});
    if (!cgroup_tree_.empty()) o.argv.insert(o.argv.end(), {"--cgroup", cgroup_tree_});
    int go[2] = {-1, -1};
    int data = -1;
    if (handoff) {
      EXPECT_EQ(pipe2(go, O_CLOEXEC), 0);
      data = memfd_create("test-warm-run", MFD_CLOEXEC);
      o.argv.insert(o.argv.end(), {"--warm-fds", "3,4,5"});
      o.extra_fds = {{go[0], 3}, {data, 4}, {go[1], 5}};
    }
    o.env = supervisor_env_;
    o.stdin_fd = in[0];
    o.stderr_fd = 2;
    o.new_session = true;
    o.blocked_signals = SupervisorSignals();  // as the server starts its spares
    if (!cancel_at_once.empty()) {
      EXPECT_TRUE(WriteFileAtomic(dir_.cancel(), cancel_at_once).ok());
    }
    auto pid = Spawn(o);
    close(in[0]);
    if (go[0] >= 0) close(go[0]);
    EXPECT_TRUE(pid.ok()) << pid.status().message();
    // While the new process is still being loaded, long before its main().
    if (!cancel_at_once.empty()) {
      EXPECT_EQ(kill(*pid, SIGTERM), 0);
    }
    if (stage_mode == Stage::kUnused) WaitForStage(*pid);
    if (stage_mode == Stage::kTaken) {
      // As the server does: the spare's stage, filled in, becomes dir_.
      std::string stage = WaitForStage(*pid);
      std::filesystem::remove_all(dir_.path);
      EXPECT_TRUE(WriteFile(RunDir{stage}.script(), script).ok());
      EXPECT_EQ(rename(stage.c_str(), dir_.path.c_str()), 0) << std::strerror(errno);
      spec.staged = true;
      if (!cancel_at_once.empty()) {  // the server writes it in the run's directory
        EXPECT_TRUE(WriteFileAtomic(dir_.cancel(), cancel_at_once).ok());
      }
    }
    if (handoff) {
      if (kill_warm_shell_) {
        // It died while it waited: the go byte finds no reader (EPIPE).
        pid_t shell_pid = 0;
        auto children = ReadFile(fmt::format("/proc/{0}/task/{0}/children", *pid));
        if (children.ok()) shell_pid = std::atoi(children->c_str());
        EXPECT_GT(shell_pid, 0);
        kill(shell_pid, SIGKILL);
        for (int i = 0;
             i < 500 &&
             ReadFile(fmt::format("/proc/{}/stat", shell_pid)).value_or(") Z").find(") Z") ==
                 std::string::npos;
             ++i) {
          std::this_thread::sleep_for(2ms);
        }
      }
      // As the server: against what the shell started with.
      std::optional<std::string> text =
          WarmStartData(spec, "/bin/bash", WarmShellEnv(supervisor_env_));
      spec.warm_started = text && WriteAll(data, *text, "memfd").ok() && write(go[1], "g", 1) == 1;
      EXPECT_EQ(spec.warm_started, !kill_warm_shell_);
      close(go[1]);
      close(data);
    }
    if (handoff && !server_dies_after_handoff_.empty()) {
      // The server ends before it sends the RunSpec, once the script began.
      for (int i = 0; i < 1000 && !PathExists(server_dies_after_handoff_); ++i) {
        std::this_thread::sleep_for(5ms);
      }
      EXPECT_TRUE(PathExists(server_dies_after_handoff_));
      close(in[1]);
      return *pid;
    }
    if (handoff && !hold_runspec_until_.empty()) {
      // The window a loaded machine opens: the script runs, its supervisor
      // has no RunSpec yet. Held open until the script says it is done.
      for (int i = 0; i < 2000 && !PathExists(hold_runspec_until_); ++i) {
        std::this_thread::sleep_for(5ms);
      }
      EXPECT_TRUE(PathExists(hold_runspec_until_));
      if (in_window_) in_window_(*pid);
    }
    std::string text = EncodeRunSpec(spec);
    EXPECT_EQ(write(in[1], text.data(), text.size()), static_cast<ssize_t>(text.size()));
    close(in[1]);
    return *pid;
  }

  ExitRecord Wait(pid_t pid) {
    int status;
    EXPECT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    auto r = ReadExitRecord(dir_);
    EXPECT_TRUE(r.has_value());
    return r.value_or(ExitRecord{});
  }

  std::string Log() { return ReadFile(dir_.log()).value_or(""); }

  // The run directory spare PID makes ahead (run_dir.h), once complete.
  std::string WaitForStage(pid_t pid) {
    std::string stage = RunDir::StagePath(root_ + "/runs", pid);
    for (int i = 0; i < 1000 && !IsDirectory(stage); ++i) std::this_thread::sleep_for(5ms);
    EXPECT_TRUE(IsDirectory(stage)) << stage;
    return stage;
  }

  // Names in runs/ that are stages.
  std::vector<std::string> Stages() {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(root_ + "/runs")) {
      std::string name = e.path().filename();
      if (name.rfind(".spare-", 0) == 0) out.push_back(name);
    }
    return out;
  }

  // Pids of processes whose environment holds MARKER=root_: everything the
  // test's scripts started, wherever it ended up in the process tree.
  std::vector<pid_t> Survivors() {
    std::vector<pid_t> out;
    for (const auto& e : std::filesystem::directory_iterator("/proc")) {
      std::string name = e.path().filename();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      auto env = ReadFile(e.path().string() + "/environ");
      if (env.ok() && env->find("MARKER=" + root_) != std::string::npos) {
        out.push_back(std::stoi(name));
      }
    }
    return out;
  }

  TempDir tmp_{"sup"};
  std::string root_;
  RunDir dir_;
  std::vector<std::string> supervisor_env_ = {"PATH=/usr/bin:/bin"};
  // kUnused: the spare makes a stage (--stage) but runs in dir_; kTaken: its
  // stage, renamed, is dir_ (as the server hands it over).
  enum class Stage { kNone, kUnused, kTaken };
  Stage stage_ = Stage::kNone;
  bool kill_warm_shell_ = false;  // kHandedOff: kill the warm shell before the go byte
  // kHandedOff: once this file exists, close the spare's stdin without a RunSpec.
  std::string server_dies_after_handoff_;
  // kHandedOff: the RunSpec is sent only once this file exists; IN_WINDOW,
  // if set, is called with the spare's pid just before.
  std::string hold_runspec_until_;
  std::string cgroup_tree_;  // --cgroup
  int64_t memory_max_ = 0;
  int64_t tasks_max_ = 0;
  std::function<void(pid_t)> in_window_;
};

TEST_F(SupervisorTest, CapturesStdoutAndStderrInOrderWithEnvironment) {
  pid_t pid =
      Start("echo out1\necho err1 >&2\necho \"$GREETING from $PWD\"\nread x; echo \"stdin:$?\"\n");
  ExitRecord r = Wait(pid);
  EXPECT_EQ(r.status, RunStatus::kSucceeded);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(Log(), "out1\nerr1\nhello from " + root_ + "\nstdin:1\n");
  EXPECT_EQ(r.log_bytes, static_cast<int64_t>(Log().size()));
  EXPECT_FALSE(SupervisorAlive(dir_));
  // The space reserved for the exit record became the record.
  EXPECT_FALSE(PathExists(dir_.exit_reserve()));
}

TEST_F(SupervisorTest, FailingScriptKeepsItsExitCode) {
  ExitRecord r = Wait(Start("echo about to fail\nexit 7\n"));
  EXPECT_EQ(r.status, RunStatus::kFailed);
  EXPECT_EQ(r.exit_code, 7);
  EXPECT_EQ(r.reason, "script exited with status 7");
}

TEST_F(SupervisorTest, TimeoutEndsTheWholeTreeIncludingDoubleForks) {
  // A background child, a double-forked grandchild that left the process
  // group with setsid, and a child that ignores TERM.
  pid_t pid = Start(
      "sleep 300 &\n"
      "( setsid sleep 301 & ) \n"
      "( trap '' TERM; sleep 302 ) &\n"
      "echo started\n"
      "sleep 303\n",
      /*timeout_ms=*/700, /*grace_ms=*/500);
  ExitRecord r = Wait(pid);
  EXPECT_EQ(r.status, RunStatus::kTimedOut);
  EXPECT_EQ(r.reason, "timed out after 700ms");
  EXPECT_EQ(Log(), "started\n");
  EXPECT_TRUE(Survivors().empty());
}

// Pids whose command line holds TAG.
std::vector<pid_t> PidsWithArgv(const std::string& tag) {
  std::vector<pid_t> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    auto cmdline = ReadFile(e.path().string() + "/cmdline");
    if (cmdline.ok() && cmdline->find(tag) != std::string::npos) out.push_back(std::stoi(name));
  }
  return out;
}

pid_t ParentOf(pid_t pid) {
  auto stat = ReadFile(fmt::format("/proc/{}/stat", pid));
  if (!stat.ok()) return -1;
  size_t close = stat->rfind(')');
  int ppid = -1;
  std::sscanf(stat->c_str() + close + 2, "%*c %d", &ppid);
  return ppid;
}

// Issue 15: the server hands a staged run to the warm shell before the spare
// has read its RunSpec, so the script runs while its supervisor is not yet
// supervising. A double fork in that window used to be reparented to init,
// out of the tree the cancel walks, and outlived the run.
TEST_F(SupervisorTest, AnOrphanMadeBeforeTheSupervisorHasItsRunSpecIsStillEndedWithTheRun) {
  std::string tag = fmt::format("jenky-orphan-{}-{}", getpid(), std::rand());
  hold_runspec_until_ = root_ + "/forked";
  pid_t orphan = -1;
  pid_t orphan_parent = -1;
  in_window_ = [&](pid_t) {
    for (int i = 0; i < 500 && PidsWithArgv(tag).empty(); ++i) std::this_thread::sleep_for(5ms);
    std::vector<pid_t> found = PidsWithArgv(tag);
    ASSERT_EQ(found.size(), 1u);
    orphan = found[0];
    orphan_parent = ParentOf(orphan);
  };
  pid_t pid = Start(fmt::format("( setsid bash -c 'exec -a {} sleep 1000' & ) &\n"
                                "wait  # the subshell is gone: its child is an orphan now\n"
                                ": > \"$MARKER/forked\"\n"
                                "echo forked\n"
                                "sleep 1000\n",
                                tag),
                    30'000, 500, 0, "", Shell::kHandedOff);
  // Reparented to the spare, which is a subreaper from its first instruction.
  EXPECT_EQ(orphan_parent, pid);
  for (int i = 0; i < 400 && Log().empty(); ++i) std::this_thread::sleep_for(5ms);
  ASSERT_TRUE(WriteFileAtomic(dir_.cancel(), "cancelled by test").ok());
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  ExitRecord r = Wait(pid);
  EXPECT_EQ(r.status, RunStatus::kCancelled);
  EXPECT_EQ(Log(), "forked\n");
  EXPECT_TRUE(PidsWithArgv(tag).empty()) << "the orphan outlived the run";
  EXPECT_TRUE(Survivors().empty());
  if (orphan > 0) kill(orphan, SIGKILL);  // (on a failure: leave nothing behind)
}

// The net that does not depend on ancestry: a process that carries the
// run's JENKY_RUN_DIR but is no descendant of the supervisor (here: the
// test's own child) is found through /proc and ended with the run.
TEST_F(SupervisorTest, AProcessMarkedWithTheRunOutsideItsTreeIsEndedWhenTheRunIs) {
  for (bool cancel : {true, false}) {
    SCOPED_TRACE(cancel ? "on cancel" : "after the script exits");
    SpawnOptions o;
    o.argv = {"/bin/sleep", "1000"};
    o.env = {"JENKY_RUN_DIR=" + dir_.path};
    o.new_session = true;
    auto stray = Spawn(o);
    ASSERT_TRUE(stray.ok());
    std::filesystem::remove(dir_.exit());
    pid_t pid = Start(cancel ? "echo working\nsleep 1000\n" : "echo done\n", 30'000, 300, 0, "",
                      Shell::kPlain, {"JENKY_RUN_DIR=" + dir_.path});
    if (cancel) {
      for (int i = 0; i < 400 && Log().empty(); ++i) std::this_thread::sleep_for(5ms);
      ASSERT_TRUE(WriteFileAtomic(dir_.cancel(), "cancelled by test").ok());
      kill(pid, SIGTERM);
    }
    ExitRecord r = Wait(pid);
    EXPECT_EQ(r.status, cancel ? RunStatus::kCancelled : RunStatus::kSucceeded);
    if (!cancel) {
      EXPECT_EQ(r.reason, "stopped 1 process the script left running");
    }
    int status = 0;
    EXPECT_EQ(waitpid(*stray, &status, WNOHANG), *stray) << "the marked process outlived the run";
    EXPECT_TRUE(WIFSIGNALED(status));
    kill(*stray, SIGKILL);
    waitpid(*stray, nullptr, WNOHANG);
  }
}

TEST_F(SupervisorTest, ARunRecordsTheCpuItUsed) {
  ExitRecord r = Wait(Start("for ((i = 0; i < 100000; i++)); do :; done\n"));
  ASSERT_TRUE(r.resources.has_value());
  ASSERT_TRUE(r.resources->cpu_seconds.has_value());
  EXPECT_GT(*r.resources->cpu_seconds, 0.01);
  EXPECT_LT(*r.resources->cpu_seconds, 60);
  auto json = ReadFile(dir_.exit());
  EXPECT_NE(json->find("\"resources\":{\"cpu_seconds\":"), std::string::npos) << *json;
}

class SupervisorCgroupTest : public SupervisorTest {
 protected:
  void SetUp() override {
    SupervisorTest::SetUp();
    auto tree = OpenCgroupTree();
    if (!tree.ok()) GTEST_SKIP() << "no writable cgroup v2 here: " << tree.status().message();
    tree_ = *tree;
    cgroup_tree_ = tree_.path;
  }

  // The run's cgroup, from supervisor.json.
  std::string RunCgroupPath() {
    auto id = ReadSupervisorId(dir_);
    return id ? id->cgroup : "";
  }

  CgroupTree tree_;
};

TEST_F(SupervisorCgroupTest, EveryProcessOfAHandedOffRunIsInItsCgroupWhichGoesWithTheRun) {
  hold_runspec_until_ = root_ + "/forked";
  std::string cgroup;
  std::vector<pid_t> in_it;
  std::string supervisor_cgroup;
  in_window_ = [&](pid_t spare) {
    cgroup = RunCgroupPath();
    ASSERT_FALSE(cgroup.empty());
    // The warm shell (now the script) and the double-forked sleep; not the spare.
    for (int i = 0; i < 400; ++i) {
      auto procs = ReadFile(cgroup + "/cgroup.procs");
      if (procs.ok() && std::count(procs->begin(), procs->end(), '\n') >= 2) break;
      std::this_thread::sleep_for(5ms);
    }
    std::istringstream procs(ReadFile(cgroup + "/cgroup.procs").value_or(""));
    for (pid_t p; procs >> p;) in_it.push_back(p);
    supervisor_cgroup = ReadFile(fmt::format("/proc/{}/cgroup", spare)).value_or("");
  };
  pid_t pid = Start(
      "( setsid sleep 1000 & ) &\nwait\n: > \"$MARKER/forked\"\n"
      "echo forked\nsleep 1000\n",
      700, 300, 0, "", Shell::kHandedOff);
  ExitRecord r = Wait(pid);
  EXPECT_EQ(r.status, RunStatus::kTimedOut);
  EXPECT_GE(in_it.size(), 2u);
  EXPECT_EQ(std::count(in_it.begin(), in_it.end(), pid), 0);
  EXPECT_EQ(supervisor_cgroup.find(cgroup.substr(cgroup.rfind('/'))), std::string::npos);
  EXPECT_TRUE(Survivors().empty());
  EXPECT_FALSE(IsDirectory(cgroup)) << "the run's cgroup outlived it";
  // Measured from the cgroup: its CPU, and the processes seen in it at once.
  ASSERT_TRUE(r.resources.has_value());
  EXPECT_TRUE(r.resources->cpu_seconds.has_value());
  ASSERT_TRUE(r.resources->processes_peak.has_value());
  EXPECT_GE(*r.resources->processes_peak, 2);
}

TEST_F(SupervisorCgroupTest, ALimitTheCgroupCannotTakeFailsTheRunSayingWhy) {
  if (tree_.controllers.count("pids")) {
    // The limit holds: a fork past it fails inside the script.
    tasks_max_ = 3;
    ExitRecord r = Wait(
        Start("for i in 1 2 3 4 5; do sleep 5 & done 2>/dev/null; echo \"$(jobs -p | wc -l)\"\n"
              "kill $(jobs -p)\n"));
    EXPECT_EQ(r.status, RunStatus::kSucceeded);
    EXPECT_LT(std::stoi(Log()), 5) << Log();
    return;
  }
  tasks_max_ = 3;
  ExitRecord r = Wait(Start("echo should not run\n"));
  EXPECT_EQ(r.status, RunStatus::kFailed);
  EXPECT_EQ(r.reason.rfind("cannot apply the project's memory_max/tasks_max: ", 0), 0u) << r.reason;
  EXPECT_EQ(Log(), "");
}

TEST_F(SupervisorTest, CancelUsesTheReasonFromTheRunDirectory) {
  pid_t pid = Start("echo working\nsleep 300 & wait\n");
  // Wait for the script to be running.
  for (int i = 0; i < 200 && ReadFile(dir_.log()).value_or("").empty(); ++i) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(SupervisorAlive(dir_));
  auto id = ReadSupervisorId(dir_);
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(id->pid, pid);
  ASSERT_TRUE(WriteFileAtomic(dir_.cancel(), "cancelled by laptop").ok());
  int fd = PidfdOpenVerified(id->pid, id->start_time);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(PidfdSendSignal(fd, SIGTERM), 0);
  close(fd);
  ExitRecord r = Wait(pid);
  EXPECT_EQ(r.status, RunStatus::kCancelled);
  EXPECT_EQ(r.reason, "cancelled by laptop");
  EXPECT_TRUE(Survivors().empty());
}

// A cancel can reach a spare supervisor the moment it is handed a run, before
// it has run a line of its own: it must still end as a cancelled run with a
// result, not die of SIGTERM (the server would call the run interrupted).
TEST_F(SupervisorTest, ACancelBeforeTheSupervisorStartedIsACancel) {
  pid_t pid = Start("echo should not matter\nsleep 300\n", 30'000, 2'000, 0, "cancelled at once");
  ExitRecord r = Wait(pid);
  EXPECT_EQ(r.status, RunStatus::kCancelled);
  EXPECT_EQ(r.reason, "cancelled at once");
  EXPECT_EQ(Log(), "");  // the script never started
  EXPECT_TRUE(Survivors().empty());
}

// Started by the server before the supervisor has its RunSpec, the script
// runs; a cancel that came first stops it as any cancel would.
TEST_F(SupervisorTest, ACancelBeforeAHandedOffRunReachesItsSupervisorStopsTheScript) {
  pid_t pid =
      Start("echo started\nsleep 300\n", 30'000, 2'000, 0, "cancelled at once", Shell::kHandedOff);
  ExitRecord r = Wait(pid);
  EXPECT_EQ(r.status, RunStatus::kCancelled);
  EXPECT_EQ(r.reason, "cancelled at once");
  EXPECT_TRUE(Survivors().empty());
}

TEST_F(SupervisorTest, AHandOffToAWarmShellThatDiedStartsTheScriptCold) {
  kill_warm_shell_ = true;
  ExitRecord r = Wait(Start("echo \"cold $0\"\n", 30'000, 2'000, 0, "", Shell::kHandedOff));
  EXPECT_EQ(r.status, RunStatus::kSucceeded);
  EXPECT_EQ(Log(), "cold " + dir_.script() + "\n");
}

TEST_F(SupervisorTest, ARunCutOffByTheServersEndAfterItsHandOffIsStoppedAndRecorded) {
  // (Before, the spare ended its warm shell alone and left no record: what
  // the script had started lived on, and the next server, finding no record,
  // ran the script a second time.)
  server_dies_after_handoff_ = root_ + "/began";
  pid_t pid = Start("sleep 300 &\necho $! > " + root_ + "/began.tmp\nmv " + root_ + "/began.tmp " +
                        root_ + "/began\nwait\n",
                    30'000, 2'000, 0, "", Shell::kHandedOff);
  ExitRecord r = Wait(pid);
  EXPECT_EQ(r.status, RunStatus::kInterrupted);
  EXPECT_NE(r.reason.find("jenky stopped while it was starting this run"), std::string::npos)
      << r.reason;
  EXPECT_TRUE(Survivors().empty());
  EXPECT_EQ(Log(), "");  // unmasked output is never written
}

TEST_F(SupervisorTest, LeftoverProcessesEndWithTheRun) {
  ExitRecord r = Wait(Start("nohup sleep 300 >/dev/null 2>&1 &\necho done\n"));
  EXPECT_EQ(r.status, RunStatus::kSucceeded);
  EXPECT_EQ(r.reason, "stopped 1 process the script left running");
  EXPECT_TRUE(Survivors().empty());
}

TEST_F(SupervisorTest, MissingWorkdirFailsClearly) {
  std::filesystem::remove_all(root_ + "/nowhere");
  WriteFileAtomic(dir_.script(), "true\n");
  RunSpec spec;
  spec.run_dir = dir_.path;
  spec.argv = {"/bin/bash", dir_.script()};
  spec.workdir = root_ + "/nowhere";
  spec.timeout_ms = 1000;
  pid_t child = fork();
  if (child == 0) _exit(Supervise(spec));
  ExitRecord r = Wait(child);
  EXPECT_EQ(r.status, RunStatus::kFailed);
  EXPECT_EQ(r.exit_code, 127);
  EXPECT_NE(r.reason.find("nowhere: No such file or directory"), std::string::npos) << r.reason;
}

TEST_F(SupervisorTest, RefusesARunAlreadyDeclaredOver) {
  ExitRecord declared = DeclareInterrupted(dir_, "jenky lost the run");
  EXPECT_EQ(declared.status, RunStatus::kInterrupted);
  pid_t pid = Start("echo should not run\n");
  int status;
  waitpid(pid, &status, 0);
  EXPECT_NE(WEXITSTATUS(status), 0);
  EXPECT_FALSE(PathExists(dir_.log()) && !Log().empty());
  EXPECT_EQ(ReadExitRecord(dir_)->status, RunStatus::kInterrupted);
}

TEST_F(SupervisorTest, LargeOutputIsCapturedExactly) {
  ExitRecord r = Wait(Start("head -c 20000000 /dev/zero | tr '\\0' 'x' | fold -w 99\n"));
  EXPECT_EQ(r.status, RunStatus::kSucceeded);
  std::string log = Log();
  EXPECT_EQ(log.size(), 20000000u + 20000000u / 99);
}

TEST_F(SupervisorTest, ARunawayLogIsCutAtTheLimitAndTheWholeTreeStopped) {
  // A writer that ignores TERM and a background one: both must end, and the
  // pipe must keep being drained so neither blocks the shutdown.
  pid_t pid = Start(
      "( trap '' TERM; yes ignoring-term ) &\n"
      "printf 'first line\\n'\n"
      "yes runaway\n",
      /*timeout_ms=*/60'000, /*grace_ms=*/500, /*max_log_bytes=*/1 << 20);
  ExitRecord r = Wait(pid);
  EXPECT_EQ(r.status, RunStatus::kFailed);
  EXPECT_EQ(r.reason, "the log reached its limit of 1MiB (max_log_bytes): the script was stopped");
  std::string log = Log();
  const std::string note =
      "jenky: the log reached its limit of 1MiB (max_log_bytes); the script was stopped\n";
  ASSERT_GT(log.size(), note.size());
  EXPECT_EQ(log.substr(log.size() - note.size()), note);
  // Exactly the limit of script output, then the note on a line of its own.
  std::string output = log.substr(0, log.size() - note.size());
  if (output.back() == '\n' && output.size() == (1u << 20) + 1) output.pop_back();
  EXPECT_EQ(output.size(), 1u << 20);
  EXPECT_EQ(r.log_bytes, static_cast<int64_t>(log.size()));
  EXPECT_TRUE(Survivors().empty());
}

TEST_F(SupervisorTest, OutputExactlyAtTheLogLimitIsNotCut) {
  ExitRecord r = Wait(Start("head -c 4096 /dev/zero | tr '\\0' 'x'\n", 30'000, 2'000, 4096));
  EXPECT_EQ(r.status, RunStatus::kSucceeded);
  EXPECT_EQ(Log(), std::string(4096, 'x'));
}

// What a script can see of how it was started. ${#BASH_SOURCE[@]} tells a
// warm start (2: the bootstrap sourced it) from a cold one (1); everything
// else must be the same.
constexpr char kProbe[] =
    "echo \"started=${#BASH_SOURCE[@]}\"\n"
    "echo \"0=$0 #=$# -=$- PWD=$PWD OLDPWD=${OLDPWD-unset} SHLVL=$SHLVL SECONDS=$SECONDS\"\n"
    "echo \"source0=${BASH_SOURCE[0]} lineno=$LINENO umask=$(umask)\"\n"
    "echo \"ppid_is_supervisor=$([ \"$PPID\" = \"$(cat /proc/$PPID/stat | cut -d' ' -f1)\" ] && "
    "echo y)\"\n"
    "echo \"pgid_is_self=$([ \"$(ps -o pgid= -p $$ | tr -d ' ')\" = \"$$\" ] && echo y)\"\n"
    // (Not listed from inside $(...): the shell may still hold both ends of
    // that pipe when the listing runs, which a loaded machine shows.)
    "ls /proc/$$/fd > \"$MARKER/fds\"; echo \"fds=$(sort -n \"$MARKER/fds\" | tr '\\n' ' ')\"\n"
    "echo \"stdin=$(readlink /proc/$$/fd/0)\"\n"
    "trap -p; shopt -p; set -o | tr -s ' \\t' ' '\n"
    "compgen -v | grep -v -x -e BASH_ARGC -e BASH_ARGV -e BASH_LINENO -e BASH_SOURCE "
    "-e FUNCNAME -e _ | tr '\\n' ' '; echo\n"
    "env -0 | sort -z | tr '\\0' '\\n' | grep -v '^_='\n"
    // What the script's commands start with (the shell's own mask, read from
    // outside, is SIGCHLD-blocked or not depending on the instant it is read).
    "grep -E '^(SigBlk|SigIgn)' /proc/self/status\n"
    "f() { echo \"in f: ${FUNCNAME[0]} line $LINENO\"; }\n"
    "f\n"
    "false\n"
    "echo not reached\n";

TEST_F(SupervisorTest, AWarmStartLooksToTheScriptLikeAColdOne) {
  // The spare's environment, and so its warm shell's at start, differs from
  // the run's: one variable more, one with another value, another locale.
  supervisor_env_ = {"PATH=/usr/bin:/bin", "ONLY_IN_SERVER=1", "GREETING=not hello", "LANG=C.UTF-8",
                     "SHLVL=7"};
  std::vector<std::string> env = {"SHLVL=2",
                                  "OLDPWD=/tmp",
                                  "PWD=/nonexistent",
                                  "LANG=C.UTF-8",
                                  "WITH_NEWLINE=a\nb",
                                  "QUOTES=it's \"$(not run)\" `x`",
                                  "BYTES=\xff\xfe\xc3(\x01",
                                  "BACKSLASHES=a\\'b\\\\'c\\",
                                  "DOLLARS=$HOME ${x:-y} !x $'\\n'",
                                  "EMPTY="};
  ExitRecord cold = Wait(Start(kProbe, 30'000, 2'000, 0, "", Shell::kCold, env));
  std::string cold_log = Log();
  ASSERT_TRUE(MakeDirs(root_ + "/runs/2").ok());
  dir_ = RunDir{root_ + "/runs/2"};
  ExitRecord warm = Wait(Start(kProbe, 30'000, 2'000, 0, "", Shell::kWarm, env));
  std::string warm_log = Log();
  dir_ = RunDir{root_ + "/runs/3"};
  ExitRecord handed = Wait(Start(kProbe, 30'000, 2'000, 0, "", Shell::kHandedOff, env));
  std::string handed_log = Log();
  ASSERT_NE(cold_log.find("started=1\n"), std::string::npos) << cold_log;
  ASSERT_NE(warm_log.find("started=2\n"), std::string::npos) << warm_log;
  ASSERT_NE(handed_log.find("started=2\n"), std::string::npos) << handed_log;
  // The run directory differs (runs/1, 2, 3), and so the script's path.
  auto same = [&](std::string text) {
    for (std::string from : {root_ + "/runs/1", root_ + "/runs/2", root_ + "/runs/3"}) {
      for (size_t at; (at = text.find(from)) != std::string::npos;)
        text.replace(at, from.size(), "RUN");
    }
    text.replace(0, text.find('\n'), "started=?");
    return text;
  };
  EXPECT_EQ(same(warm_log), same(cold_log));
  EXPECT_EQ(same(handed_log), same(cold_log));
  EXPECT_EQ(handed.exit_code, cold.exit_code);
  EXPECT_NE(cold_log.find("SHLVL=3 "), std::string::npos) << cold_log;
  EXPECT_NE(cold_log.find("QUOTES=it's \"$(not run)\" `x`\n"), std::string::npos) << cold_log;
  EXPECT_EQ(cold.status, RunStatus::kFailed);
  EXPECT_EQ(warm.status, RunStatus::kFailed);
  EXPECT_EQ(warm.exit_code, cold.exit_code);
  EXPECT_EQ(warm.exit_code, 1);
  EXPECT_EQ(warm_log.find("not reached"), std::string::npos);
}

TEST_F(SupervisorTest, AnEnvironmentTheShellReadsAtStartGetsAColdStart) {
  ASSERT_TRUE(WriteFileAtomic(root_ + "/bash_env", "echo sourced by BASH_ENV\n").ok());
  Wait(Start(kProbe, 30'000, 2'000, 0, "", Shell::kWarm, {"BASH_ENV=" + root_ + "/bash_env"}));
  std::string log = Log();
  EXPECT_EQ(log.rfind("sourced by BASH_ENV\nstarted=1\n", 0), 0u) << log;
}

TEST_F(SupervisorTest, AWarmShellWhoseSupervisorDiedIsEndedWithTheRun) {
  pid_t pid = Start("echo $$ > \"$MARKER/shell.pid\"\necho up\nsleep 300\n", 30'000, 2'000, 0, "",
                    Shell::kWarm, {"JENKY_RUN_DIR=" + dir_.path});  // as the server sets it
  std::string written;  // "PID\n" in full: echo writes the pid and its newline at once
  for (int i = 0; i < 1000 && !written.ends_with('\n'); ++i) {
    std::this_thread::sleep_for(10ms);
    written = ReadFile(root_ + "/shell.pid").value_or("");
  }
  pid_t shell = written.ends_with('\n') ? std::stoi(written) : 0;
  ASSERT_GT(shell, 0);
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  waitpid(pid, nullptr, 0);
  ASSERT_EQ(kill(shell, 0), 0) << "the shell outlives its supervisor";
  ExitRecord r = DeclareInterrupted(dir_, "lost");
  EXPECT_EQ(r.status, RunStatus::kInterrupted);
  EXPECT_NE(r.reason.find("stopped"), std::string::npos) << r.reason;
  // Orphaned, it is reaped by init (or this test's subreaper): gone or a zombie.
  auto state = ReadFile("/proc/" + std::to_string(shell) + "/stat");
  EXPECT_TRUE(!state.ok() || state->find(") Z") != std::string::npos) << *state;
  EXPECT_TRUE(Survivors().empty());
}

// The warm shell starts with the supervisor's locale (to have its files
// loaded); the script must still get its own run's.
TEST_F(SupervisorTest, AWarmShellTakesTheRunsLocaleNotItsOwn) {
  supervisor_env_.push_back("LANG=C.UTF-8");
  const std::string script = "x='\xc3\xa9'\necho \"chars=${#x} LANG=${LANG-unset}\"\n";
  int n = 0;
  for (const std::vector<std::string>& env :
       {std::vector<std::string>{}, std::vector<std::string>{"LANG=C.UTF-8"}}) {
    for (Shell shell : {Shell::kCold, Shell::kWarm}) {
      dir_ = RunDir{root_ + "/runs/" + std::to_string(++n)};
      ASSERT_TRUE(MakeDirs(dir_.path).ok());
      Wait(Start(script, 30'000, 2'000, 0, "", shell, env));
      EXPECT_EQ(Log(), env.empty() ? "chars=2 LANG=unset\n" : "chars=1 LANG=C.UTF-8\n")
          << (shell == Shell::kWarm ? "warm" : "cold");
    }
  }
}

TEST_F(SupervisorTest, AStagedRunRunsInTheDirectoryItsSpareMadeAhead) {
  stage_ = Stage::kTaken;
  for (Shell shell : {Shell::kCold, Shell::kWarm}) {
    dir_ = RunDir{root_ + "/runs/" + (shell == Shell::kWarm ? "2" : "1")};
    pid_t pid = Start("echo \"in $PWD\"\necho \"$0\"\nexit 3\n", 30'000, 2'000, 0, "", shell);
    // Who runs it is known before the script starts.
    auto id = ReadSupervisorId(dir_);
    ASSERT_TRUE(id.has_value());
    EXPECT_EQ(id->pid, pid);
    ExitRecord r = Wait(pid);
    EXPECT_EQ(r.status, RunStatus::kFailed);
    EXPECT_EQ(r.exit_code, 3);
    EXPECT_EQ(Log(), "in " + root_ + "\n" + dir_.script() + "\n");
    EXPECT_EQ(r.log_bytes, static_cast<int64_t>(Log().size()));
    EXPECT_FALSE(PathExists(dir_.exit_reserve()));  // the reserve became exit.json
    EXPECT_FALSE(SupervisorAlive(dir_));
    struct stat st;
    ASSERT_EQ(stat(dir_.path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0750u);
    EXPECT_TRUE(Stages().empty());
  }
}

TEST_F(SupervisorTest, AStageNoRunTakesIsRemoved) {
  // The spare is let go (EOF, nothing read) ...
  int in[2];
  ASSERT_EQ(pipe(in), 0);
  SpawnOptions o;
  o.argv = {JENKY_BINARY, "__supervise", "--stage", root_ + "/runs"};
  o.env = supervisor_env_;
  o.stdin_fd = in[0];
  o.stderr_fd = 2;
  auto pid = Spawn(o);
  close(in[0]);
  ASSERT_TRUE(pid.ok());
  std::string stage = WaitForStage(*pid);
  EXPECT_TRUE(SupervisorAlive(RunDir{stage}));  // its lock is held while it waits
  close(in[1]);
  int status;
  ASSERT_EQ(waitpid(*pid, &status, 0), *pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_TRUE(Stages().empty());

  // ... or handed a run that is not in its stage: the run runs where it was told.
  stage_ = Stage::kUnused;
  for (Shell shell : {Shell::kCold, Shell::kWarm}) {
    dir_ = RunDir{root_ + "/runs/" + (shell == Shell::kWarm ? "2" : "3")};
    ASSERT_TRUE(MakeDirs(dir_.path).ok());
    ExitRecord r = Wait(Start("echo elsewhere\n", 30'000, 2'000, 0, "", shell));
    EXPECT_EQ(r.status, RunStatus::kSucceeded);
    EXPECT_EQ(Log(), "elsewhere\n");
    EXPECT_TRUE(Stages().empty());
  }
}

TEST_F(SupervisorTest, AStageOfADeadSpareIsRemovedAndALiveOneKept) {
  std::string runs = root_ + "/runs";
  // A dead spare's: lock free. One still being made: no lock yet.
  for (std::string name : {".spare-1", ".spare-2.tmp"})
    ASSERT_TRUE(MakeDirs(runs + "/" + name).ok());
  ASSERT_TRUE(WriteFile(runs + "/.spare-1/lock", "").ok());
  ASSERT_TRUE(WriteFile(runs + "/.spare-1/log", "x").ok());
  // A live one: its lock held.
  ASSERT_TRUE(MakeDirs(runs + "/.spare-3").ok());
  int fd = open((runs + "/.spare-3/lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(flock(fd, LOCK_EX | LOCK_NB), 0);
  EXPECT_EQ(RemoveStaleStages(runs), 2);
  EXPECT_EQ(Stages(), std::vector<std::string>{".spare-3"});
  EXPECT_TRUE(IsDirectory(runs + "/1"));  // runs are not stages
  close(fd);
  EXPECT_EQ(RemoveStaleStages(runs), 1);
  EXPECT_TRUE(Stages().empty());
}

}  // namespace
}  // namespace jenky
