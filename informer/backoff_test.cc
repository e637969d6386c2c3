#include "informer/backoff.h"

#include "gtest/gtest.h"
#include "informer/testing/fake_clock.h"

namespace informer {
namespace {

using ::informer::testing::FakeClock;

BackoffOptions NoJitter() {
  BackoffOptions options;
  options.jitter = 0;
  return options;
}

TEST(BackoffTest, R5_DefaultsFollowClientGo) {
  BackoffOptions options;
  EXPECT_EQ(options.initial, absl::Milliseconds(800));
  EXPECT_EQ(options.max, absl::Seconds(30));
  EXPECT_EQ(options.factor, 2.0);
  EXPECT_EQ(options.reset_after, absl::Minutes(2));
}

TEST(BackoffTest, R5_DelaysGrowExponentiallyUpToTheCap) {
  FakeClock clock;
  Backoff backoff(NoJitter(), &clock, 1);
  std::vector<absl::Duration> delays;
  for (int i = 0; i < 8; ++i) {
    delays.push_back(backoff.NextDelay());
    clock.Advance(delays.back());
  }
  EXPECT_EQ(delays[0], absl::Milliseconds(800));
  EXPECT_EQ(delays[1], absl::Milliseconds(1600));
  EXPECT_EQ(delays[2], absl::Milliseconds(3200));
  EXPECT_EQ(delays[5], absl::Milliseconds(25600));
  EXPECT_EQ(delays[6], absl::Seconds(30));
  EXPECT_EQ(delays[7], absl::Seconds(30));
}

TEST(BackoffTest, R15_JitterComesAfterTheCapSoDelaysAtTheCapFallIn30To60Seconds) {
  FakeClock clock;
  BackoffOptions options;  // jitter 1.0: delay in [d, 2d)
  Backoff backoff(options, &clock, 42);
  absl::Duration base = absl::Milliseconds(800);
  bool varied = false;
  bool above_cap = false;
  for (int i = 0; i < 20; ++i) {
    const absl::Duration delay = backoff.NextDelay();
    EXPECT_GE(delay, base) << i;
    EXPECT_LT(delay, 2 * base) << i;
    if (delay != base) varied = true;
    if (delay > absl::Seconds(30)) above_cap = true;
    base = std::min(base * 2, absl::Seconds(30));
  }
  EXPECT_TRUE(varied);
  EXPECT_TRUE(above_cap);  // client-go's delays at the cap reach up to 60 s
}

TEST(BackoffTest, R15_TheSequenceRestartsEveryTwoMinutesFromTheLastRestartEvenWhileFailing) {
  FakeClock clock;
  Backoff backoff(NoJitter(), &clock, 1);
  absl::Time restart = clock.Now();
  std::vector<absl::Duration> delays;
  // Failing without pause: a delay, then the next failure right after it.
  while (clock.Now() - restart <= absl::Minutes(2)) {
    delays.push_back(backoff.NextDelay());
    clock.Advance(delays.back());
  }
  // The first delay past the two minutes starts again at 0.8 s, though the caller was never
  // healthy for two minutes.
  EXPECT_EQ(backoff.NextDelay(), absl::Milliseconds(800));
  EXPECT_GT(delays.back(), absl::Milliseconds(800));
}

TEST(BackoffTest, R5_ResetsAfterTwoHealthyMinutes) {
  FakeClock clock;
  Backoff backoff(NoJitter(), &clock, 1);
  backoff.NextDelay();
  backoff.NextDelay();
  EXPECT_EQ(backoff.NextDelay(), absl::Milliseconds(3200));
  clock.Advance(absl::Minutes(2) + absl::Seconds(1));
  EXPECT_EQ(backoff.NextDelay(), absl::Milliseconds(800));
  EXPECT_EQ(backoff.NextDelay(), absl::Milliseconds(1600));
  backoff.Reset();
  EXPECT_EQ(backoff.NextDelay(), absl::Milliseconds(800));
}

}  // namespace
}  // namespace informer
