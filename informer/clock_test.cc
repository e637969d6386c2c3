#include "informer/clock.h"

#include <thread>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "informer/testing/fake_clock.h"

namespace informer {
namespace {

using ::informer::testing::FakeClock;

TEST(RealClockTest, SleepReturnsTrueAtTheDeadline) {
  absl::Notification cancel;
  const absl::Time start = absl::Now();
  EXPECT_TRUE(RealClock::Get()->SleepFor(absl::Milliseconds(5), cancel));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(5));
}

TEST(RealClockTest, CancelEndsASleepEarly) {
  absl::Notification cancel;
  std::thread canceller([&] {
    absl::SleepFor(absl::Milliseconds(5));
    cancel.Notify();
  });
  const absl::Time start = absl::Now();
  EXPECT_FALSE(RealClock::Get()->SleepFor(absl::Hours(1), cancel));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  canceller.join();
  // Already cancelled: returns false at once.
  EXPECT_FALSE(RealClock::Get()->SleepFor(absl::Hours(1), cancel));
}

TEST(FakeClockTest, TimeMovesOnlyWhenAdvanced) {
  FakeClock clock;
  const absl::Time start = clock.Now();
  EXPECT_EQ(clock.Now(), start);
  clock.Advance(absl::Seconds(3));
  EXPECT_EQ(clock.Now(), start + absl::Seconds(3));
}

TEST(FakeClockTest, AdvanceWakesASleeperWhoseDeadlinePassed) {
  FakeClock clock;
  absl::Notification cancel;
  bool result = false;
  std::thread sleeper([&] { result = clock.SleepFor(absl::Seconds(10), cancel); });
  ASSERT_TRUE(clock.WaitForSleepers(1));
  EXPECT_EQ(clock.SleeperDelays()[0], absl::Seconds(10));
  clock.Advance(absl::Seconds(9));
  EXPECT_EQ(clock.sleepers(), 1);
  EXPECT_EQ(clock.AdvanceToNextDeadline(), absl::Seconds(1));
  sleeper.join();
  EXPECT_TRUE(result);
  EXPECT_EQ(clock.sleepers(), 0);
  EXPECT_EQ(clock.total_sleeps(), 1u);
}

TEST(FakeClockTest, CancelWakesASleeper) {
  FakeClock clock;
  absl::Notification cancel;
  bool result = true;
  std::thread sleeper([&] { result = clock.SleepFor(absl::Hours(1), cancel); });
  ASSERT_TRUE(clock.WaitForSleepers(1));
  cancel.Notify();
  sleeper.join();
  EXPECT_FALSE(result);
}

}  // namespace
}  // namespace informer
