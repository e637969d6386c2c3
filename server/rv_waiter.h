// Waits, without a thread per waiter, until informers reach resourceVersions (read your writes).
#ifndef SERVER_RV_WAITER_H_
#define SERVER_RV_WAITER_H_

#include <functional>
#include <list>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "informer/shared_informer.h"
#include "server/limits.h"

namespace informer {
namespace server {

// True when the caller has gone away (e.g. the RPC was cancelled).
using CancelledFn = std::function<bool()>;

// Bounds of the waiter.
struct WaiterOptions {
  // Waits pending at once, in total and per caller (--max_waits, --max_waits_per_caller).
  size_t max_waits = 10000;
  size_t max_waits_per_caller = 1000;
  // How often pending waits are looked at for cancellation and a stopped informer (progress
  // wakes them at once; deadlines are met on time).
  absl::Duration sweep = absl::Seconds(1);
};

// Holds waits for "the cache of this informer reflects at least resourceVersion R" and calls
// each one's callback once: OK when reached, DeadlineExceeded at its deadline (the message says
// how far the cache got), Cancelled when its CancelledFn says so, Unavailable on Shutdown,
// ResourceExhausted (naming the cap and its flag) when the caller or everyone already holds
// the most waits allowed. One thread answers every pending wait: it sleeps until an informer
// with waits progresses (a history listener: every commit, bookmarks included), the earliest
// deadline, or the sweep, so thousands of waiting calls cost no threads and no polling.
//
// Thread-safety: every method may be called from any thread. Callbacks run on the calling
// thread (when the answer is immediate) or on the waiter's thread, with no lock held.
class ResourceVersionWaiter {
 public:
  explicit ResourceVersionWaiter(WaiterOptions options = {});
  // Shuts down.
  ~ResourceVersionWaiter();
  ResourceVersionWaiter(const ResourceVersionWaiter&) = delete;
  ResourceVersionWaiter& operator=(const ResourceVersionWaiter&) = delete;

  // Calls `done` once the informer reflects `resource_version` (a decimal number; else `done`
  // gets InvalidArgument at once). `done` runs inline when the answer is already known, or
  // when `caller` (a CallerKey) may not wait more. `deadline` is on the monotonic clock
  // (informer::MonotonicNow).
  void Wait(std::shared_ptr<SharedIndexInformer> informer, std::string resource_version,
            absl::Time deadline, CancelledFn cancelled, std::function<void(absl::Status)> done,
            const std::string& caller = "");

  // Calls `done` once the informer has finished its initial sync: OK then; DeadlineExceeded at
  // `deadline` (the message says it is still syncing and its last error); Unavailable when it
  // stops; Cancelled and ResourceExhausted as Wait (the waits count against the same caps).
  void WaitForSync(std::shared_ptr<SharedIndexInformer> informer, absl::Time deadline,
                   CancelledFn cancelled, std::function<void(absl::Status)> done,
                   const std::string& caller = "");

  // Unregisters from `informer` (stopped: an on-demand informer gone idle), so the waiter no
  // longer keeps it, and its freed cache, alive. Waits still pending on it end Unavailable at
  // the next sweep.
  void Forget(const SharedIndexInformer* informer);

  // Fails every pending wait with Unavailable, stops the thread and unregisters from the
  // informers; later Waits fail at once. Idempotent.
  void Shutdown();

  // Waits not yet answered, in total and by `caller`.
  size_t pending() const;
  size_t pending(const std::string& caller) const;
  // Times the thread looked at the pending waits (for tests: progress, not polling).
  uint64_t rounds() const;
  // Waits refused by the caps (for metrics).
  uint64_t refused() const { return quota_.refused(); }

 private:
  struct Pending {
    std::shared_ptr<SharedIndexInformer> informer;
    std::string resource_version;  // "": wait for the initial sync only
    absl::Time started;
    absl::Time deadline;
    CancelledFn cancelled;
    std::function<void(absl::Status)> done;
    CallerQuota::Lease lease;
  };

  // The answer for `wait` now, or OK-with-false when it must keep waiting.
  static bool Check(const Pending& wait, absl::Time now, absl::Status* result);
  // Answers `wait` now when it can, else queues it (holding a unit of `caller`'s quota).
  void Enqueue(Pending wait, const std::string& caller);
  // Called by an informer's history after it progressed.
  void OnProgress();
  void Loop();

  const WaiterOptions options_;
  CallerQuota quota_;
  mutable absl::Mutex mu_;
  std::list<Pending> pending_ ABSL_GUARDED_BY(mu_);
  // The history listener of each informer that ever had a wait (removed at Shutdown).
  absl::flat_hash_map<const SharedIndexInformer*,
                      std::pair<std::shared_ptr<SharedIndexInformer>, EventHistory::ListenerId>>
      listeners_ ABSL_GUARDED_BY(mu_);
  bool progressed_ ABSL_GUARDED_BY(mu_) = false;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t rounds_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace server
}  // namespace informer

#endif  // SERVER_RV_WAITER_H_
