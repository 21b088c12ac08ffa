#include "store/delivery_log.h"

#include <gtest/gtest.h>

#include "temp_dir.h"

namespace jenky {
namespace {

class DeliveryLogTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }
  void Reopen() {
    store_.reset();
    auto s = Store::Open(dir_ / "jenky.db");
    ASSERT_TRUE(s.ok()) << s.status().message();
    store_ = std::move(s).value();
  }

  static Delivery Rejected(int64_t at, const std::string& remote = "192.0.2.1") {
    Delivery d;
    d.project = "app";
    d.received_at = at;
    d.provider = "github";
    d.result = "rejected";
    d.status = 401;
    d.reason = "X-Hub-Signature-256 does not match";
    d.remote = remote;
    return d;
  }

  TempDir dir_{"delivery-log"};
  std::unique_ptr<Store> store_;
};

TEST_F(DeliveryLogTest, RecordsAreListedAtOnceAndSavedOnlyByFlush) {
  DeliveryLog log(*store_);
  Delivery d = Rejected(1000);
  d.result = "deployed";
  d.status = 202;
  d.run_id = 7;
  log.Record(d);
  auto listed = log.List("app", 10);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].run_id, 7);
  EXPECT_TRUE(store_->ListDeliveries("app", 10)->empty()) << "no disk write per delivery";
  ASSERT_TRUE(log.Flush().ok());
  EXPECT_FALSE(log.dirty());
  auto stored = store_->ListDeliveries("app", 10);
  ASSERT_EQ(stored->size(), 1u);
  EXPECT_EQ((*stored)[0].id, (*listed)[0].id);
}

TEST_F(DeliveryLogTest, RepeatedRejectionsFromOneAddressFoldIntoACount) {
  DeliveryLog log(*store_);
  for (int i = 0; i < 5000; ++i) log.Record(Rejected(1000 + i));
  log.Record(Rejected(7000, "198.51.100.9"));  // another address: its own record
  auto listed = log.List("app", 100);
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].remote, "198.51.100.9");
  EXPECT_EQ((*listed)[1].count, 5000);
  EXPECT_EQ((*listed)[1].received_at, 1000);
  EXPECT_EQ((*listed)[1].last_at, 5999);
  ASSERT_TRUE(log.Flush().ok());
  auto stored = store_->ListDeliveries("app", 100);
  ASSERT_EQ(stored->size(), 2u);
  EXPECT_EQ((*stored)[1].count, 5000);
}

TEST_F(DeliveryLogTest, AFoldEndsAfterAQuietMinute) {
  DeliveryLog log(*store_);
  log.Record(Rejected(0));
  log.Record(Rejected(30'000));
  log.Record(Rejected(30'000 + 61'000));
  auto listed = log.List("app", 100);
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[1].count, 2);
  EXPECT_EQ((*listed)[0].count, 1);
}

TEST_F(DeliveryLogTest, KeepsTheNewestHundredAcrossRestarts) {
  {
    DeliveryLog log(*store_);
    for (int i = 0; i < 150; ++i) {
      Delivery d = Rejected(i * 100'000);  // a minute apart: no folding
      d.reason = "reason " + std::to_string(i);
      log.Record(d);
      if (i % 40 == 0) {
        ASSERT_TRUE(log.Flush().ok());
      }
    }
    ASSERT_TRUE(log.Flush().ok());
    EXPECT_EQ(log.List("app", 1000)->size(), static_cast<size_t>(kDeliveriesKept));
  }
  Reopen();
  DeliveryLog log(*store_);
  auto listed = log.List("app", 1000);
  ASSERT_EQ(listed->size(), static_cast<size_t>(kDeliveriesKept));
  EXPECT_EQ((*listed)[0].reason, "reason 149");
  EXPECT_EQ(listed->back().reason, "reason 50");
  // New ids continue after the stored ones.
  log.Record(Rejected(99'000'000));
  EXPECT_GT(log.List("app", 1)->front().id, (*listed)[0].id);
}

// 105 status events after a push used to push it out of the list.
TEST_F(DeliveryLogTest, AFloodOfIgnoredEventsIsOneRecordAndKeepsThePush) {
  DeliveryLog log(*store_);
  Delivery push = Rejected(1000);
  push.result = "deployed";
  push.status = 202;
  push.event = "push";
  log.Record(push);
  for (int i = 0; i < 105; ++i) {
    Delivery status = Rejected(2000 + i * 100, i % 2 ? "140.82.115.1" : "140.82.115.2");
    status.result = "ignored";
    status.status = 204;
    status.event = "status";
    status.reason = "event 'status' does not deploy; events = [push]";
    status.delivery = "d-" + std::to_string(i);
    status.relevant = false;
    log.Record(status);
  }
  auto listed = log.List("app", 100);
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].count, 105);
  EXPECT_EQ((*listed)[0].delivery, "d-104") << "the latest id of those folded";
  EXPECT_EQ((*listed)[1].result, "deployed");
}

TEST_F(DeliveryLogTest, NoiseNeverPushesARelevantRecordOut) {
  {
    DeliveryLog log(*store_);
    Delivery push = Rejected(0);
    push.result = "deployed";
    push.status = 202;
    push.reason = "push: branch main";
    log.Record(push);
    for (int i = 1; i <= 300; ++i) {
      Delivery d = Rejected(i * 100'000);  // a minute apart: no folding
      d.reason = "forged " + std::to_string(i);
      d.relevant = false;
      log.Record(d);
      if (i % 70 == 0) {
        ASSERT_TRUE(log.Flush().ok());
      }
    }
    ASSERT_TRUE(log.Flush().ok());
    auto listed = log.List("app", 1000);
    ASSERT_EQ(listed->size(), static_cast<size_t>(kDeliveriesKept));
    EXPECT_EQ(listed->back().result, "deployed");
    EXPECT_EQ((*listed)[0].reason, "forged 300");
  }
  Reopen();  // the store keeps the same ones
  DeliveryLog log(*store_);
  auto listed = log.List("app", 1000);
  ASSERT_EQ(listed->size(), static_cast<size_t>(kDeliveriesKept));
  EXPECT_EQ(listed->back().result, "deployed");
  EXPECT_EQ((*listed)[0].reason, "forged 300");
  EXPECT_EQ((*listed)[1].reason, "forged 299");
}

}  // namespace
}  // namespace jenky
