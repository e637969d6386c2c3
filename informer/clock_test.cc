#include "informer/clock.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
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

TEST(MonotonicTest, MonotonicDeadlineKeepsTheDistanceFromNow) {
  const absl::Time wall = absl::Now() + absl::Seconds(30);
  const absl::Duration left = MonotonicDeadline(wall) - MonotonicNow();
  // Up to a millisecond of noise: absl::Now() interpolates the kernel's clock (a run measured
  // 30.00000002 s).
  EXPECT_GT(left, absl::Seconds(29));
  EXPECT_LE(left, absl::Seconds(30) + absl::Milliseconds(1));
  EXPECT_EQ(MonotonicDeadline(absl::InfiniteFuture()), absl::InfiniteFuture());
}

TEST(MonotonicTest, AwaitTimesOutAfterTheTimeoutAndSeesTheConditionWhenItBecomesTrue) {
  absl::Mutex mu;
  bool ready = false;
  auto is_ready = [&] { return ready; };
  {
    absl::MutexLock lock(&mu);
    const absl::Time start = MonotonicNow();
    EXPECT_FALSE(
        AwaitWithMonotonicTimeout(&mu, absl::Condition(&is_ready), absl::Milliseconds(30)));
    EXPECT_GE(MonotonicNow() - start, absl::Milliseconds(30));
    EXPECT_LT(MonotonicNow() - start, absl::Seconds(5));
  }
  std::thread setter([&] {
    absl::SleepFor(absl::Milliseconds(10));
    absl::MutexLock lock(&mu);
    ready = true;
  });
  {
    absl::MutexLock lock(&mu);
    const absl::Time start = MonotonicNow();
    EXPECT_TRUE(AwaitWithMonotonicTimeout(&mu, absl::Condition(&is_ready), absl::Hours(1)));
    EXPECT_LT(MonotonicNow() - start, absl::Seconds(5));
  }
  setter.join();
}

TEST(MonotonicTest, ManyConcurrentAwaitsEachEndOnTimeAndLeaveNoAlarmBehind) {
  // Waiters on their own mutexes, some woken by their condition and some by their alarm, all
  // at about the same time: the alarm thread must neither block on a held mutex nor touch a
  // waiter that has returned (ASan and TSan run this).
  constexpr int kWaiters = 64;
  std::vector<std::thread> threads;
  std::atomic<int> timed_out{0};
  for (int i = 0; i < kWaiters; ++i) {
    threads.emplace_back([i, &timed_out] {
      for (int round = 0; round < 20; ++round) {
        auto mu = std::make_unique<absl::Mutex>();
        bool ready = false;
        auto is_ready = [&] { return ready; };
        std::thread setter;
        if (i % 2 == 0) {
          setter = std::thread([&] {
            absl::SleepFor(absl::Microseconds(200 * (round % 5)));
            absl::MutexLock lock(mu.get());
            ready = true;
          });
        }
        {
          absl::MutexLock lock(mu.get());
          if (!AwaitWithMonotonicTimeout(
                  mu.get(), absl::Condition(&is_ready),
                  i % 2 == 0 ? absl::Seconds(30) : absl::Microseconds(100 * (round % 7)))) {
            timed_out.fetch_add(1);
          }
        }
        if (setter.joinable()) setter.join();
        mu.reset();  // the alarm thread must be done with it
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(timed_out.load(), kWaiters / 2 * 20);
}

// Run by ctest as clock_test_under_faketime: libfaketime (LD_PRELOAD) fakes CLOCK_REALTIME with
// the offset in $INFORMERD_FAKETIME_FILE, which this test rewrites; CLOCK_MONOTONIC stays real.
TEST(MonotonicTest, WaitsAndSleepsIgnoreAWallClockStep) {
  const char* offset_file = std::getenv("INFORMERD_FAKETIME_FILE");
  if (offset_file == nullptr) {
    GTEST_SKIP() << "runs under libfaketime only (ctest: clock_test_under_faketime)";
  }
  auto set_offset = [&](int seconds) {
    const std::string tmp = std::string(offset_file) + ".tmp";
    std::ofstream(tmp) << (seconds >= 0 ? "+" : "") << seconds << "\n";
    ASSERT_EQ(std::rename(tmp.c_str(), offset_file), 0);
  };
  auto real_seconds = [] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  };
  for (const int offset : {3600, 0, -3600, 0}) {
    SCOPED_TRACE(offset);
    const absl::Time wall_before = absl::Now();
    set_offset(offset);
    absl::SleepFor(absl::Milliseconds(50));
    // absl::Now() follows the fake wall clock (it may resample it lazily: give it a moment).
    bool stepped = false;
    for (int i = 0; i < 500 && !stepped; ++i) {
      stepped = absl::AbsDuration(absl::Now() - wall_before) > absl::Minutes(50);
      if (!stepped) absl::SleepFor(absl::Milliseconds(20));
    }
    ASSERT_TRUE(stepped) << "the fake wall clock did not move: " << absl::Now() << " after "
                         << wall_before;

    // A monotonic await and a RealClock sleep (the reflector's backoff) of 300 ms take 300 ms.
    absl::Mutex mu;
    bool never = false;
    auto is_never = [&] { return never; };
    double start = real_seconds();
    {
      absl::MutexLock lock(&mu);
      EXPECT_FALSE(
          AwaitWithMonotonicTimeout(&mu, absl::Condition(&is_never), absl::Milliseconds(300)));
    }
    double took = real_seconds() - start;
    EXPECT_GE(took, 0.29);
    EXPECT_LT(took, 2.0);
    absl::Notification cancel;
    start = real_seconds();
    EXPECT_TRUE(RealClock::Get()->SleepFor(absl::Milliseconds(300), cancel));
    took = real_seconds() - start;
    EXPECT_GE(took, 0.29);
    EXPECT_LT(took, 2.0);
  }
  // The hazard is real here: absl's own timed wait, begun with the wall clock an hour ahead,
  // sleeps until that wall-clock instant by the kernel's real clock.
  set_offset(3600);
  absl::SleepFor(absl::Milliseconds(100));
  absl::Mutex mu;
  bool released = false;
  bool timed_out = false;
  std::thread absl_waiter([&] {
    auto is_released = [&] { return released; };
    absl::MutexLock lock(&mu);
    timed_out = !mu.AwaitWithTimeout(absl::Condition(&is_released), absl::Milliseconds(300));
  });
  absl::SleepFor(absl::Seconds(2));
  {
    absl::MutexLock lock(&mu);
    released = true;
  }
  absl_waiter.join();
  set_offset(0);
  EXPECT_FALSE(timed_out) << "absl's 300 ms wait ended on time: the fake clock did not reach it";
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
