#include "informer/clock.h"

#include <time.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "absl/base/attributes.h"
#include "absl/base/thread_annotations.h"

namespace informer {
namespace {

using SteadyClock = std::chrono::steady_clock;

// One pending AwaitWithMonotonicDeadline: the alarm thread sets `fired` under `mu` when the
// deadline passes, which makes absl re-evaluate the waiter's condition.
struct Alarm {
  absl::Mutex* mu = nullptr;
  bool fired = false;  // guarded by *mu
  // The rest is guarded by AlarmThread::mu_.
  bool queued = false;
  bool cancelled = false;
  std::multimap<SteadyClock::time_point, Alarm*>::iterator position;
};

// One thread for every pending alarm of the process. It waits on a std::condition_variable
// with steady_clock deadlines (pthread_cond_clockwait on CLOCK_MONOTONIC), never on absl.
//
// Lifetime: an Alarm lives on its waiter's stack and its mutex in the waiter's object, so the
// thread never blocks on an alarm's mutex: it only tries it, and Remove waits until the thread
// has let go of the alarm (the thread gives up when the waiter, holding the mutex, cancels).
class AlarmThread {
 public:
  // The process-wide instance, started on first use, never destroyed.
  static AlarmThread& Get() {
    static AlarmThread* const instance = new AlarmThread();
    return *instance;
  }

  void Add(Alarm* alarm, SteadyClock::time_point at) {
    std::lock_guard<std::mutex> lock(mu_);
    alarm->position = alarms_.emplace(at, alarm);
    alarm->queued = true;
    if (alarm->position == alarms_.begin()) changed_.notify_one();
  }

  // After this returns the thread no longer touches `alarm`.
  void Remove(Alarm* alarm) {
    std::unique_lock<std::mutex> lock(mu_);
    if (alarm->queued) {
      alarms_.erase(alarm->position);
      alarm->queued = false;
      return;
    }
    if (in_flight_ != alarm) return;
    alarm->cancelled = true;
    released_.wait(lock, [&] { return in_flight_ != alarm; });
  }

 private:
  AlarmThread() {
    std::thread([this] { Run(); }).detach();
  }

  void Run() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      if (alarms_.empty()) {
        changed_.wait(lock);
        continue;
      }
      auto first = alarms_.begin();
      // A copy: wait_until reads its deadline again after waking, when Remove may have erased
      // the alarm's node (TSan: heap-use-after-free).
      const SteadyClock::time_point at = first->first;
      if (SteadyClock::now() < at) {
        changed_.wait_until(lock, at);
        continue;
      }
      Alarm* alarm = first->second;
      alarms_.erase(first);
      alarm->queued = false;
      in_flight_ = alarm;
      lock.unlock();
      Fire(alarm);
      lock.lock();
      in_flight_ = nullptr;
      released_.notify_all();
    }
  }

  // Sets alarm->fired under its mutex, unless its waiter (holding that mutex) cancels first.
  void Fire(Alarm* alarm) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    for (;;) {
      if (alarm->mu->TryLock()) {
        alarm->fired = true;
        alarm->mu->Unlock();  // absl re-evaluates the waiter's condition here
        return;
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (alarm->cancelled) return;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }

  std::mutex mu_;
  std::condition_variable changed_;                        // the earliest alarm changed
  std::condition_variable released_;                       // in_flight_ was let go
  std::multimap<SteadyClock::time_point, Alarm*> alarms_;  // guarded by mu_
  Alarm* in_flight_ = nullptr;                             // guarded by mu_
};

int64_t MonotonicNanos() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

}  // namespace

absl::Time MonotonicNow() { return absl::UnixEpoch() + absl::Nanoseconds(MonotonicNanos()); }

absl::Time MonotonicDeadline(absl::Time wall_deadline) {
  if (wall_deadline == absl::InfiniteFuture() || wall_deadline == absl::InfinitePast()) {
    return wall_deadline;
  }
  return MonotonicNow() + (wall_deadline - absl::Now());
}

bool AwaitWithMonotonicDeadline(absl::Mutex* mu, const absl::Condition& cond,
                                absl::Time monotonic_deadline) {
  if (cond.Eval()) return true;
  if (monotonic_deadline == absl::InfiniteFuture()) {
    mu->Await(cond);
    return true;
  }
  const absl::Duration left = monotonic_deadline - MonotonicNow();
  if (left <= absl::ZeroDuration()) return false;
  Alarm alarm;
  alarm.mu = mu;
  AlarmThread::Get().Add(&alarm, SteadyClock::now() + absl::ToChronoNanoseconds(
                                                          std::min(left, absl::Hours(24 * 365))));
  auto done = [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return alarm.fired || cond.Eval(); };
  mu->Await(absl::Condition(&done));
  AlarmThread::Get().Remove(&alarm);
  return cond.Eval();
}

bool AwaitWithMonotonicTimeout(absl::Mutex* mu, const absl::Condition& cond,
                               absl::Duration timeout) {
  return AwaitWithMonotonicDeadline(mu, cond, MonotonicNow() + timeout);
}

RealClock* RealClock::Get() {
  static RealClock* const clock = new RealClock();
  return clock;
}

absl::Time RealClock::Now() { return MonotonicNow(); }

WallClock* WallClock::Get() {
  static WallClock* const clock = new WallClock();
  return clock;
}

absl::Time WallClock::Now() { return absl::Now(); }

bool WallClock::SleepUntil(absl::Time deadline, const absl::Notification& cancel) {
  return RealClock::Get()->SleepUntil(MonotonicDeadline(deadline), cancel);
}

bool RealClock::SleepUntil(absl::Time deadline, const absl::Notification& cancel) {
  // absl::Notification waits on the wall clock; sleep in short monotonic slices instead
  // (nanosleep is relative) and look at `cancel` between them.
  constexpr absl::Duration kSlice = absl::Milliseconds(20);
  for (;;) {
    if (cancel.HasBeenNotified()) return false;
    const absl::Duration left = deadline - MonotonicNow();
    if (left <= absl::ZeroDuration()) return true;
    std::this_thread::sleep_for(absl::ToChronoNanoseconds(std::min(left, kSlice)));
  }
}

}  // namespace informer
