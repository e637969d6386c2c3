// RateLimitingQueue and the rate limiters: de-duplication, one worker per key, delays,
// exponential retries, shutdown.
#include "informerd/work_queue.h"

#include <atomic>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace informerd {
namespace {

TEST(WorkQueueTest, DeduplicatesByKeyInFifoOrder) {
  RateLimitingQueue q;
  q.Add("a");
  q.Add("b");
  q.Add("a");
  EXPECT_EQ(q.Len(), 2u);
  EXPECT_EQ(q.Get(), "a");
  EXPECT_EQ(q.Get(), "b");
}

TEST(WorkQueueTest, KeyAddedWhileProcessingIsQueuedAgainOnlyAfterDone) {
  RateLimitingQueue q;
  q.Add("a");
  std::optional<std::string> key = q.Get();
  q.Add("a");
  q.Add("a");
  EXPECT_EQ(q.Len(), 0u) << "a would go to a second worker while it is processed";
  q.Done(*key);
  EXPECT_EQ(q.Len(), 1u);
  q.Done(*q.Get());
  EXPECT_EQ(q.Len(), 0u);
}

TEST(WorkQueueTest, AddAfterQueuesOnceTheDelayPassedAndEarliestWins) {
  RateLimitingQueue q;
  absl::Time start = absl::Now();
  q.AddAfter("a", absl::Hours(1));
  q.AddAfter("a", absl::Milliseconds(20));
  EXPECT_EQ(q.Len(), 0u);
  EXPECT_EQ(q.GetWithTimeout(absl::Seconds(2)), "a");
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(19));
  q.Done("a");
  EXPECT_EQ(q.GetWithTimeout(absl::Milliseconds(30)), std::nullopt)
      << "the superseded delay queued the key again";
}

TEST(WorkQueueTest, AnEarlierDelayWakesAWaitingWorker) {
  RateLimitingQueue q;
  q.AddAfter("late", absl::Hours(1));
  std::thread adder([&] {
    absl::SleepFor(absl::Milliseconds(5));
    q.AddAfter("soon", absl::Milliseconds(5));
  });
  EXPECT_EQ(q.GetWithTimeout(absl::Seconds(2)), "soon");
  adder.join();
}

TEST(WorkQueueTest, RateLimitedRetriesGrowExponentiallyUntilForgotten) {
  ItemExponentialFailureRateLimiter rl(absl::Milliseconds(1), absl::Milliseconds(8));
  std::vector<absl::Duration> got;
  for (int i = 0; i < 5; ++i) got.push_back(rl.When("a"));
  EXPECT_THAT(got, ::testing::ElementsAre(absl::Milliseconds(1), absl::Milliseconds(2),
                                          absl::Milliseconds(4), absl::Milliseconds(8),
                                          absl::Milliseconds(8)));
  EXPECT_EQ(rl.NumRequeues("a"), 5);
  EXPECT_EQ(rl.When("b"), absl::Milliseconds(1)) << "failures are per key";
  rl.Forget("a");
  EXPECT_EQ(rl.NumRequeues("a"), 0);
  EXPECT_EQ(rl.When("a"), absl::Milliseconds(1));
}

TEST(WorkQueueTest, ExponentialBackoffCapsWithoutOverflow) {
  ItemExponentialFailureRateLimiter rl(absl::Milliseconds(5), absl::Seconds(1000));
  absl::Duration d;
  for (int i = 0; i < 200; ++i) d = rl.When("a");
  EXPECT_EQ(d, absl::Seconds(1000));
}

TEST(WorkQueueTest, BucketLimiterSpacesKeysPastTheBurst) {
  BucketRateLimiter rl(100, 2);
  EXPECT_EQ(rl.When("x"), absl::ZeroDuration());
  EXPECT_EQ(rl.When("x"), absl::ZeroDuration());
  absl::Duration third = rl.When("x");
  EXPECT_GT(third, absl::Milliseconds(5));
  EXPECT_LE(third, absl::Milliseconds(10));
}

TEST(WorkQueueTest, AddRateLimitedCountsRequeues) {
  RateLimitingQueue q(
      std::make_unique<ItemExponentialFailureRateLimiter>(absl::Milliseconds(1), absl::Seconds(1)));
  q.AddRateLimited("a");
  q.AddRateLimited("a");
  EXPECT_EQ(q.NumRequeues("a"), 2);
  std::optional<std::string> key = q.GetWithTimeout(absl::Seconds(1));
  ASSERT_EQ(key, "a");
  q.Done(*key);
  q.Forget(*key);
  EXPECT_EQ(q.NumRequeues("a"), 0);
}

TEST(WorkQueueTest, ShutDownReleasesBlockedWorkersAfterDraining) {
  RateLimitingQueue q;
  q.Add("a");
  q.AddAfter("late", absl::Milliseconds(1));
  std::atomic<int> released{0};
  std::vector<std::thread> workers;
  q.ShutDown();
  EXPECT_EQ(q.Get(), "a") << "a queued key is still handed out";
  for (int i = 0; i < 3; ++i) {
    workers.emplace_back([&] {
      if (!q.Get()) ++released;
    });
  }
  for (std::thread& t : workers) t.join();
  EXPECT_EQ(released, 3);
  q.Add("b");
  EXPECT_EQ(q.Len(), 0u);
  EXPECT_TRUE(q.ShuttingDown());
}

TEST(WorkQueueTest, ShutDownWakesAWorkerBlockedInGet) {
  RateLimitingQueue q;
  std::thread worker([&] { EXPECT_EQ(q.Get(), std::nullopt); });
  absl::SleepFor(absl::Milliseconds(5));
  q.ShutDown();
  worker.join();
}

}  // namespace
}  // namespace informerd
