// A Clock for tests: time stands still until the test advances it.
#ifndef INFORMER_TESTING_FAKE_CLOCK_H_
#define INFORMER_TESTING_FAKE_CLOCK_H_

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <set>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "informer/clock.h"

namespace informer {
namespace testing {

// Time moves only by Advance. Sleepers wake when Advance reaches their deadline or their
// cancel notification fires; the test can wait until the code under test sleeps, so backoff
// and resync are scripted without real sleeps.
//
// Thread-safety: every method may be called from any thread.
class FakeClock : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1700000000)) : now_(start) {}

  absl::Time Now() override {
    absl::MutexLock lock(&mu_);
    return now_;
  }

  bool SleepUntil(absl::Time deadline, const absl::Notification& cancel) override {
    absl::MutexLock lock(&mu_);
    auto it = sleepers_.insert(deadline);
    ++total_sleeps_;
    // A Notification cannot wake us, so poll it every millisecond of real time; the deadline
    // side wakes at once because Advance releases mu_.
    auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return now_ >= deadline || cancel.HasBeenNotified();
    };
    while (!done()) mu_.AwaitWithTimeout(absl::Condition(&done), absl::Milliseconds(1));
    sleepers_.erase(it);
    return !cancel.HasBeenNotified();
  }

  // Moves time forward by `duration`, waking the sleepers whose deadline passed.
  void Advance(absl::Duration duration) {
    absl::MutexLock lock(&mu_);
    now_ += duration;
  }

  // Moves time to the earliest pending deadline (no-op when none). Returns how far time moved.
  absl::Duration AdvanceToNextDeadline() {
    absl::MutexLock lock(&mu_);
    auto next = sleepers_.upper_bound(now_);
    if (next == sleepers_.end()) return absl::ZeroDuration();
    absl::Duration moved = *next - now_;
    now_ = *next;
    return moved;
  }

  // Waits (in real time, up to `timeout`) until at least `count` threads sleep towards a
  // deadline still ahead. Returns whether they did.
  bool WaitForSleepers(int count, absl::Duration timeout = absl::Seconds(10)) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return PendingLocked() >= count; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  }

  // How long each pending sleeper has left, shortest first.
  std::vector<absl::Duration> SleeperDelays() {
    absl::MutexLock lock(&mu_);
    std::vector<absl::Duration> delays;
    for (auto it = sleepers_.upper_bound(now_); it != sleepers_.end(); ++it) {
      delays.push_back(*it - now_);
    }
    return delays;
  }

  // Threads sleeping towards a deadline still ahead (a woken sleeper may take a moment to
  // leave; it no longer counts).
  int sleepers() {
    absl::MutexLock lock(&mu_);
    return PendingLocked();
  }

  // Every SleepUntil call so far (a spinning loop shows up here).
  uint64_t total_sleeps() {
    absl::MutexLock lock(&mu_);
    return total_sleeps_;
  }

 private:
  int PendingLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return static_cast<int>(std::distance(sleepers_.upper_bound(now_), sleepers_.end()));
  }

  absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
  std::multiset<absl::Time> sleepers_ ABSL_GUARDED_BY(mu_);
  uint64_t total_sleeps_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace testing
}  // namespace informer

#endif  // INFORMER_TESTING_FAKE_CLOCK_H_
