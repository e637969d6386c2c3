// Time as the pipeline sees it: a seam so tests can script backoff, resync and timeouts.
#ifndef INFORMER_CLOCK_H_
#define INFORMER_CLOCK_H_

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace informer {

// The current time and interruptible sleeps. Every wait in the pipeline that is measured in
// time (backoff, resync, very-short-watch detection) goes through a Clock, so a test can
// replace real time with testing::FakeClock.
//
// Thread-safety: every method may be called from any thread.
class Clock {
 public:
  virtual ~Clock() = default;

  // The current time.
  virtual absl::Time Now() = 0;

  // Blocks until Now() >= `deadline` or `cancel` is notified, whichever comes first. Returns
  // true when the deadline was reached, false when cancelled (also when `cancel` was already
  // notified on entry).
  virtual bool SleepUntil(absl::Time deadline, const absl::Notification& cancel) = 0;

  // SleepUntil(Now() + duration, cancel).
  bool SleepFor(absl::Duration duration, const absl::Notification& cancel) {
    return SleepUntil(Now() + duration, cancel);
  }
};

// Monotonic time. absl 20220623's timed waits (Mutex::AwaitWithTimeout and AwaitWithDeadline,
// CondVar, Notification::WaitForNotificationWith*) sleep until an absolute CLOCK_REALTIME
// instant, and absl::Now() follows the wall clock: a wall clock stepped back an hour turns a
// one-second wait into an hour and one second, one stepped forward cuts it to nothing.
// Everything that measures an interval (backoff, resync, bookmarks, page-token lifetimes,
// request waits, latencies) uses these instead; wall time is for what is dated by the wall
// (token expiry, log lines).

// CLOCK_MONOTONIC as an absl::Time on an arbitrary epoch. Compare and subtract it only with
// other MonotonicNow() values, never with absl::Now() or a wall-clock deadline.
absl::Time MonotonicNow();

// `wall_deadline` (on absl::Now()'s scale, as gRPC's call deadlines) on MonotonicNow()'s scale:
// the same distance from now. InfiniteFuture and InfinitePast stay as they are.
absl::Time MonotonicDeadline(absl::Time wall_deadline);

// mu->Await(cond) until `monotonic_deadline` (MonotonicNow()'s scale) at the latest: the
// deadline is kept by CLOCK_MONOTONIC, whatever the wall clock does meanwhile. `mu` is held on
// entry and on return, and released while waiting, as in absl. Returns cond's value on return.
bool AwaitWithMonotonicDeadline(absl::Mutex* mu, const absl::Condition& cond,
                                absl::Time monotonic_deadline) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

// AwaitWithMonotonicDeadline(mu, cond, MonotonicNow() + timeout).
bool AwaitWithMonotonicTimeout(absl::Mutex* mu, const absl::Condition& cond, absl::Duration timeout)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

// The monotonic clock (MonotonicNow) with real sleeps that a wall-clock step does not stretch.
class RealClock : public Clock {
 public:
  // The process-wide instance; never destroyed.
  static RealClock* Get();

  absl::Time Now() override;
  bool SleepUntil(absl::Time deadline, const absl::Notification& cancel) override;
};

// The wall clock (absl::Now), for what the wall dates: a token's expiry and the caches bounded
// by it. Its sleeps are RealClock's, measured on the monotonic clock.
class WallClock : public Clock {
 public:
  // The process-wide instance; never destroyed.
  static WallClock* Get();

  absl::Time Now() override;
  bool SleepUntil(absl::Time deadline, const absl::Notification& cancel) override;
};

}  // namespace informer

#endif  // INFORMER_CLOCK_H_
