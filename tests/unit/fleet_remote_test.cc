// The remote side of a fleet step, run here with the local sh exactly as a
// host's login shell runs it (fleet_remote.h): the layout, the atomic
// switch, rollback, values that never reach a command line, and the step's
// tree ended when its input ends.
#include "exec/fleet_remote.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "exec/process.h"
#include "exec/ssh.h"
#include "temp_dir.h"

namespace jenky {
namespace {

namespace fs = std::filesystem;

// /proc/PID/cmdline, "" if the process is gone (it may end while read).
std::string Cmdline(const fs::path& proc_dir) {
  std::string out;
  if (FILE* f = fopen((proc_dir / "cmdline").c_str(), "re")) {
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
    fclose(f);
  }
  return out;
}

// Every process's command line.
std::vector<std::string> Cmdlines() {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto& e : fs::directory_iterator("/proc", ec)) out.push_back(Cmdline(e.path()));
  return out;
}

class FleetRemoteTest : public ::testing::Test {
 protected:
  StepInput Input(RemoteStep step, std::string release, std::string script = "") {
    StepInput in;
    in.step = step;
    in.deploy_dir = dir_.path() + "/app";
    in.release = std::move(release);
    in.shell = "/bin/sh";
    in.script = std::move(script);
    return in;
  }
  // As the driver runs it: the bootstrap as the command, the step on stdin,
  // which stays open until the step is done.
  CommandResult Run(const StepInput& in) {
    return RunCommand({"/bin/sh", "-c", kRemoteBootstrap}, StepPayload(in),
                      std::chrono::seconds(20), /*hold_stdin=*/true);
  }
  std::string Current() { return fs::read_symlink(dir_.path() + "/app/current").string(); }

  TempDir dir_{"fleet-remote"};
};

TEST_F(FleetRemoteTest, ASwitchPointsCurrentAtTheReleaseAndRunsTheScriptThere) {
  ASSERT_EQ(Run(Input(RemoteStep::kMkRelease, "7")).status, 0);
  StepInput in = Input(RemoteStep::kSwitch, "7", "pwd; echo \"$V|$JENKY_RELEASE_DIR\"");
  in.env = {{"V", "it's $(no) `no` \"q\" \\ $HOME"}};
  CommandResult r = Run(in);
  ASSERT_EQ(r.status, 0) << r.err;
  std::string rel = fs::canonical(dir_.path() + "/app/releases/7").string();
  EXPECT_EQ(r.out, "jenky: current -> 7 (was nothing)\n" + rel +
                       "\nit's $(no) `no` \"q\" \\ $HOME|" + rel + "\n");
  EXPECT_EQ(Current(), "releases/7");
}

TEST_F(FleetRemoteTest, PreparePublishesTheUploadOrMakesTheReleaseThenRunsPrepareInIt) {
  // The upload: rsync filled releases/.partial-3.
  fs::create_directories(dir_.path() + "/app/releases/.partial-3");
  { std::ofstream(dir_.path() + "/app/releases/.partial-3/a.txt") << "uploaded\n"; }
  StepInput in = Input(RemoteStep::kPrepare, "3", "cat a.txt; echo \"$JENKY_FLEET_STEP\"");
  in.publish_upload = true;
  CommandResult r = Run(in);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "uploaded\nprepare\n");
  EXPECT_FALSE(fs::exists(dir_.path() + "/app/releases/.partial-3"));
  // Nothing uploaded: an empty release, and no prepare text is fine.
  r = Run(Input(RemoteStep::kPrepare, "4"));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(fs::is_directory(dir_.path() + "/app/releases/4"));
  // An upload that never arrived fails the step.
  in = Input(RemoteStep::kPrepare, "5");
  in.publish_upload = true;
  EXPECT_NE(Run(in).status, 0);
}

TEST_F(FleetRemoteTest, ARollbackPointsCurrentBackAndRemovesTheRelease) {
  for (std::string id : {"1", "2"}) {
    ASSERT_EQ(Run(Input(RemoteStep::kMkRelease, id)).status, 0);
    ASSERT_EQ(Run(Input(RemoteStep::kSwitch, id)).status, 0);
  }
  EXPECT_EQ(Current(), "releases/2");
  CommandResult r = Run(Input(RemoteStep::kRollback, "2", "echo \"back in $JENKY_RELEASE_DIR\""));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(Current(), "releases/1");
  EXPECT_FALSE(fs::exists(dir_.path() + "/app/releases/2"));
  EXPECT_NE(r.out.find("back in " + fs::canonical(dir_.path() + "/app/releases/1").string()),
            std::string::npos)
      << r.out;
}

TEST_F(FleetRemoteTest, JenkyRollbackGoesToTheReleaseBeforeCurrentOrTheOneNamed) {
  for (std::string id : {"1", "2", "3"}) {
    ASSERT_EQ(Run(Input(RemoteStep::kMkRelease, id)).status, 0);
    ASSERT_EQ(Run(Input(RemoteStep::kSwitch, id)).status, 0);
  }
  CommandResult r =
      Run(Input(RemoteStep::kRollbackTo, "9", "echo \"undo $JENKY_ROLLED_BACK_RELEASE\""));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(Current(), "releases/2");
  EXPECT_NE(r.out.find("undo 3"), std::string::npos) << r.out;
  StepInput to = Input(RemoteStep::kRollbackTo, "10");
  to.env = {{"JENKY_ROLLBACK_TO", "1"}};
  ASSERT_EQ(Run(to).status, 0);
  EXPECT_EQ(Current(), "releases/1");
  r = Run(Input(RemoteStep::kRollbackTo, "11"));
  EXPECT_EQ(r.status, 3);
  EXPECT_NE(r.err.find("no release to roll back to here (current: releases/1"), std::string::npos)
      << r.err;
  EXPECT_EQ(Current(), "releases/1");
}

TEST_F(FleetRemoteTest, RollingBackTheFirstReleaseRemovesCurrent) {
  ASSERT_EQ(Run(Input(RemoteStep::kMkRelease, "1")).status, 0);
  ASSERT_EQ(Run(Input(RemoteStep::kSwitch, "1")).status, 0);
  ASSERT_EQ(Run(Input(RemoteStep::kRollback, "1", "echo never")).status, 0);
  EXPECT_FALSE(fs::is_symlink(dir_.path() + "/app/current"));
}

TEST_F(FleetRemoteTest, AFailingScriptFailsTheStepWithItsStatus) {
  ASSERT_EQ(Run(Input(RemoteStep::kMkRelease, "1")).status, 0);
  EXPECT_EQ(Run(Input(RemoteStep::kPrepare, "1", "false\necho not reached")).status, 1);
  EXPECT_EQ(Run(Input(RemoteStep::kPrepare, "1", "exit 7")).status, 7);
}

TEST_F(FleetRemoteTest, OnlyTheNewestReleasesAreKept) {
  for (int id = 1; id <= 8; ++id) {
    ASSERT_EQ(Run(Input(RemoteStep::kMkRelease, std::to_string(id))).status, 0);
    ASSERT_EQ(Run(Input(RemoteStep::kSwitch, std::to_string(id))).status, 0);
  }
  std::vector<std::string> left;
  for (auto& e : fs::directory_iterator(dir_.path() + "/app/releases")) {
    left.push_back(e.path().filename());
  }
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{"4", "5", "6", "7", "8"}));
}

TEST_F(FleetRemoteTest, AValueIsInNoProcesssCommandLine) {
  ASSERT_EQ(Run(Input(RemoteStep::kMkRelease, "1")).status, 0);
  StepInput in = Input(RemoteStep::kPrepare, "1", "sleep 2");
  in.env = {{"TOKEN", "s3cr3t-value-9f7e"}};
  std::thread step([&] { Run(in); });
  bool seen = false;
  for (int i = 0; i < 40; ++i) {
    for (const auto& cmdline : Cmdlines()) {
      if (cmdline.find("s3cr3t-value-9f7e") != std::string::npos) seen = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  step.join();
  EXPECT_FALSE(seen);
}

TEST_F(FleetRemoteTest, TheEndOfItsInputEndsTheStepsWholeTree) {
  ASSERT_EQ(Run(Input(RemoteStep::kMkRelease, "1")).status, 0);
  // A child in the step's group, and one that left it (setsid).
  StepInput in =
      Input(RemoteStep::kPrepare, "1", "sleep 301 & setsid sleep 302 & echo started; wait");
  std::string payload = StepPayload(in);
  int pin[2], pout[2];
  ASSERT_EQ(pipe(pin), 0);
  ASSERT_EQ(pipe(pout), 0);
  SpawnOptions o;
  o.argv = {"/bin/sh", "-c", kRemoteBootstrap};
  o.env = {"PATH=/usr/bin:/bin"};
  o.stdin_fd = pin[0];
  o.stdout_fd = pout[1];
  auto pid = Spawn(o);
  ASSERT_TRUE(pid.ok());
  close(pin[0]);
  close(pout[1]);
  ASSERT_EQ(write(pin[1], payload.data(), payload.size()), ssize_t(payload.size()));
  char buf[64];
  ASSERT_GT(read(pout[0], buf, sizeof buf), 0);  // "started"
  auto sleepers = [] {
    const std::string a(
        "sleep\0"
        "301\0",
        10);
    const std::string b(
        "sleep\0"
        "302\0",
        10);
    int n = 0;
    for (const auto& c : Cmdlines()) n += c == a || c == b;
    return n;
  };
  for (int i = 0; i < 200 && sleepers() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));  // (their exec may come later)
  }
  ASSERT_EQ(sleepers(), 2);
  close(pin[1]);  // the connection is gone
  int left = 2;
  for (int i = 0; i < 200 && left > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    left = sleepers();
  }
  EXPECT_EQ(left, 0);
  int status;
  waitpid(*pid, &status, 0);
  close(pout[0]);
}

TEST(ShellQuoteTest, QuotesEveryByteLiterally) {
  EXPECT_EQ(ShellQuote("a b"), "'a b'");
  EXPECT_EQ(ShellQuote("it's"), "'it'\\''s'");
  EXPECT_EQ(ShellQuote(""), "''");
}

}  // namespace
}  // namespace jenky
