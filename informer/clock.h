// Time as the pipeline sees it: a seam so tests can script backoff, resync and timeouts.
#ifndef INFORMER_CLOCK_H_
#define INFORMER_CLOCK_H_

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

// The wall clock (absl::Now) with real sleeps.
class RealClock : public Clock {
 public:
  // The process-wide instance; never destroyed.
  static RealClock* Get();

  absl::Time Now() override;
  bool SleepUntil(absl::Time deadline, const absl::Notification& cancel) override;
};

}  // namespace informer

#endif  // INFORMER_CLOCK_H_
