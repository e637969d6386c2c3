#include "informer/clock.h"

namespace informer {

RealClock* RealClock::Get() {
  static RealClock* const clock = new RealClock();
  return clock;
}

absl::Time RealClock::Now() { return absl::Now(); }

bool RealClock::SleepUntil(absl::Time deadline, const absl::Notification& cancel) {
  // WaitForNotificationWithDeadline returns whether it was notified.
  return !cancel.WaitForNotificationWithDeadline(deadline);
}

}  // namespace informer
