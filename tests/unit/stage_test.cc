// The stage: a spare's run directory made before its run exists.
#include "exec/stage.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "exec/warm_shell.h"
#include "temp_dir.h"
#include "util/fs.h"

namespace jenky {
namespace {

class StageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = tmp_.path();
    runs_ = root_ + "/runs";
    std::filesystem::create_directories(runs_);
  }

  // Whether another open file description can take DIR's lock now.
  static bool LockIsFree(const RunDir& dir) {
    int fd = open(dir.lock().c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return false;
    bool free = flock(fd, LOCK_EX | LOCK_NB) == 0;
    close(fd);
    return free;
  }

  TempDir tmp_{"stage"};
  std::string root_;
  std::string runs_;
  SupervisorId self_{getpid(), 42, ""};
};

TEST_F(StageTest, AStageHasEveryFileOfARunAndHoldsItsLock) {
  auto stage = MakeStage(runs_, self_);
  ASSERT_TRUE(stage.has_value());
  EXPECT_EQ(stage->dir.path, RunDir::StagePath(runs_, getpid()));
  EXPECT_FALSE(PathExists(stage->dir.path + ".tmp"));  // complete under its real name only
  for (const std::string& f : {stage->dir.log(), stage->dir.index(), stage->dir.script(),
                               stage->dir.meta(), stage->dir.exit_reserve()}) {
    EXPECT_TRUE(PathExists(f)) << f;
  }
  auto id = ReadSupervisorId(stage->dir);
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(id->pid, getpid());
  EXPECT_EQ(id->start_time, 42u);
  ASSERT_TRUE(stage->log.has_value());
  EXPECT_FALSE(LockIsFree(stage->dir));
  EXPECT_EQ(stage->TakenAs(), "");  // still a stage
}

TEST_F(StageTest, AStageRenamedByTheServerKnowsItsRunDirectory) {
  auto stage = MakeStage(runs_, self_);
  ASSERT_TRUE(stage.has_value());
  std::string run = runs_ + "/7";
  ASSERT_EQ(std::rename(stage->dir.path.c_str(), run.c_str()), 0);
  EXPECT_EQ(stage->TakenAs(), run);
}

TEST_F(StageTest, ARemovedStageLeavesNothingBehind) {
  auto stage = MakeStage(runs_, self_);
  ASSERT_TRUE(stage.has_value());
  stage->Remove();
  EXPECT_FALSE(PathExists(stage->dir.path));
  EXPECT_TRUE(std::filesystem::is_empty(runs_));
}

TEST_F(StageTest, AStageLeftByAnEarlierProcessWithThisPidIsReplaced) {
  std::string old = RunDir::StagePath(runs_, getpid());
  std::filesystem::create_directories(old);
  ASSERT_TRUE(WriteFile(old + "/left-over", "x", 0640).ok());
  auto stage = MakeStage(runs_, self_);
  ASSERT_TRUE(stage.has_value());
  EXPECT_FALSE(PathExists(old + "/left-over"));
}

TEST_F(StageTest, NoStageWhereTheRunsDirectoryCannotTakeOne) {
  EXPECT_FALSE(MakeStage(root_ + "/no/such/dir", self_).has_value());
}

TEST_F(StageTest, ARunCutOffAfterItsHandOffIsRecordedAsInterrupted) {
  auto stage = MakeStage(runs_, self_);
  ASSERT_TRUE(stage.has_value());
  std::string run = runs_ + "/8";
  ASSERT_EQ(std::rename(stage->dir.path.c_str(), run.c_str()), 0);
  auto warm = StartWarmShell("/bin/bash", self_, nullptr, nullptr);
  ASSERT_TRUE(warm.has_value());
  pid_t shell = warm->pid;
  RecordCutOffRun(RunDir{run}, *warm, self_, nullptr);
  EXPECT_EQ(warm->pid, -1);
  EXPECT_NE(kill(shell, 0), 0);  // the shell is gone
  auto record = ReadExitRecord(RunDir{run});
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(record->status, RunStatus::kInterrupted);
  EXPECT_NE(record->reason.find("jenky stopped while it was starting this run"), std::string::npos);
}

}  // namespace
}  // namespace jenky
