#include "core/scheduler.h"

#include <gtest/gtest.h>

namespace jenky {
namespace {

using Ids = std::vector<int64_t>;

Ids DroppedIds(const Decision& d) {
  Ids out;
  for (auto& [id, reason] : d.drop) out.push_back(id);
  return out;
}

TEST(SchedulerTest, FirstTriggerStartsAtOnce) {
  Scheduler s;
  auto d = s.Enqueue("p", Concurrency::kCoalesce, 1, 100);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->start, Ids{1});
  EXPECT_EQ(s.Running("p"), 1);
}

TEST(SchedulerTest, CoalesceKeepsOnlyTheNewestPending) {
  Scheduler s;
  s.Enqueue("p", Concurrency::kCoalesce, 1, 100);
  auto d2 = s.Enqueue("p", Concurrency::kCoalesce, 2, 100);
  EXPECT_TRUE(d2->start.empty());
  EXPECT_TRUE(d2->drop.empty());
  auto d3 = s.Enqueue("p", Concurrency::kCoalesce, 3, 100);
  EXPECT_EQ(DroppedIds(*d3), Ids{2});
  EXPECT_EQ(d3->drop[0].second, "superseded by run 3");
  EXPECT_EQ(s.Pending("p"), Ids{3});
  auto f = s.Finished("p", 1);
  EXPECT_EQ(f.start, Ids{3});
  EXPECT_TRUE(s.Finished("p", 3).start.empty());
  EXPECT_FALSE(s.Running("p"));
}

TEST(SchedulerTest, TwentyRapidTriggersUnderEachPolicy) {
  // 20 triggers while nothing finishes: coalesce runs the first and the last;
  // queue runs all 20 in order; cancel-previous cancels the first and runs the last.
  for (Concurrency c :
       {Concurrency::kCoalesce, Concurrency::kQueue, Concurrency::kCancelPrevious}) {
    Scheduler s;
    Ids started, dropped, cancelled;
    for (int64_t id = 1; id <= 20; ++id) {
      auto d = s.Enqueue("p", c, id, 100);
      ASSERT_TRUE(d.ok());
      for (auto x : d->start) started.push_back(x);
      for (auto& [x, r] : d->drop) dropped.push_back(x);
      for (auto& [x, r] : d->cancel) cancelled.push_back(x);
    }
    while (auto running = s.Running("p")) {
      for (auto x : s.Finished("p", *running).start) started.push_back(x);
    }
    SCOPED_TRACE(ConcurrencyName(c));
    if (c == Concurrency::kQueue) {
      Ids all;
      for (int64_t id = 1; id <= 20; ++id) all.push_back(id);
      EXPECT_EQ(started, all);
      EXPECT_TRUE(dropped.empty());
    } else {
      EXPECT_EQ(started, (Ids{1, 20}));
      EXPECT_EQ(dropped.size(), 18u);
    }
    if (c == Concurrency::kCancelPrevious) {
      // Only run 1 was ever running while a newer one arrived; it is asked to
      // stop once per newer trigger, which the engine de-duplicates.
      for (auto x : cancelled) EXPECT_EQ(x, 1);
      EXPECT_FALSE(cancelled.empty());
    } else {
      EXPECT_TRUE(cancelled.empty());
    }
  }
}

TEST(SchedulerTest, QueueHasALimit) {
  Scheduler s;
  s.Enqueue("p", Concurrency::kQueue, 1, 2);
  EXPECT_TRUE(s.Enqueue("p", Concurrency::kQueue, 2, 2).ok());
  EXPECT_TRUE(s.Enqueue("p", Concurrency::kQueue, 3, 2).ok());
  auto full = s.Enqueue("p", Concurrency::kQueue, 4, 2);
  ASSERT_FALSE(full.ok());
  EXPECT_NE(full.status().message().find("max_queued"), std::string::npos);
  EXPECT_EQ(s.Pending("p"), (Ids{2, 3}));
}

TEST(SchedulerTest, ProjectsAreIndependent) {
  Scheduler s;
  EXPECT_EQ(s.Enqueue("a", Concurrency::kCoalesce, 1, 100)->start, Ids{1});
  EXPECT_EQ(s.Enqueue("b", Concurrency::kCoalesce, 2, 100)->start, Ids{2});
  EXPECT_EQ(s.RunningCount(), 2);
}

TEST(SchedulerTest, RemovePendingAndStaleFinish) {
  Scheduler s;
  s.Enqueue("p", Concurrency::kQueue, 1, 100);
  s.Enqueue("p", Concurrency::kQueue, 2, 100);
  s.Enqueue("p", Concurrency::kQueue, 3, 100);
  EXPECT_TRUE(s.RemovePending("p", 2));
  EXPECT_FALSE(s.RemovePending("p", 2));
  EXPECT_TRUE(s.Finished("p", 99).start.empty());  // not the running one: ignored
  EXPECT_EQ(s.Finished("p", 1).start, Ids{3});
}

TEST(SchedulerTest, AdoptedRunBlocksTheLane) {
  Scheduler s;
  s.Adopt("p", 7);
  auto d = s.Enqueue("p", Concurrency::kCoalesce, 8, 100);
  EXPECT_TRUE(d->start.empty());
  EXPECT_EQ(s.Finished("p", 7).start, Ids{8});
}

}  // namespace
}  // namespace jenky
