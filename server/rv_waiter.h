// Waits, without a thread per waiter, until informers reach resourceVersions (read your writes).
#ifndef SERVER_RV_WAITER_H_
#define SERVER_RV_WAITER_H_

#include <functional>
#include <list>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "informer/shared_informer.h"

namespace informer {
namespace server {

// True when the caller has gone away (e.g. the RPC was cancelled).
using CancelledFn = std::function<bool()>;

// Holds waits for "the cache of this informer reflects at least resourceVersion R" and calls
// each one's callback once: OK when reached, DeadlineExceeded at its deadline (the message says
// how far the cache got), Cancelled when its CancelledFn says so, Unavailable on Shutdown. One
// thread polls every pending wait, so thousands of waiting calls cost no threads.
//
// Thread-safety: every method may be called from any thread. Callbacks run on the calling
// thread (when the answer is immediate) or on the waiter's thread, with no lock held.
class ResourceVersionWaiter {
 public:
  // `poll` is how often pending waits are checked.
  explicit ResourceVersionWaiter(absl::Duration poll = absl::Milliseconds(5));
  // Shuts down.
  ~ResourceVersionWaiter();
  ResourceVersionWaiter(const ResourceVersionWaiter&) = delete;
  ResourceVersionWaiter& operator=(const ResourceVersionWaiter&) = delete;

  // Calls `done` once the informer reflects `resource_version` (a decimal number; else `done`
  // gets InvalidArgument at once). `done` runs inline when the answer is already known.
  void Wait(std::shared_ptr<SharedIndexInformer> informer, std::string resource_version,
            absl::Time deadline, CancelledFn cancelled, std::function<void(absl::Status)> done);

  // Fails every pending wait with Unavailable and stops the thread; later Waits fail at once.
  // Idempotent.
  void Shutdown();

  // Waits not yet answered.
  size_t pending() const;

 private:
  struct Pending {
    std::shared_ptr<SharedIndexInformer> informer;
    std::string resource_version;
    absl::Time started;
    absl::Time deadline;
    CancelledFn cancelled;
    std::function<void(absl::Status)> done;
  };

  // The answer for `wait` now, or OK-with-false when it must keep waiting.
  static bool Check(const Pending& wait, absl::Time now, absl::Status* result);
  void Loop();

  const absl::Duration poll_;
  mutable absl::Mutex mu_;
  std::list<Pending> pending_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace server
}  // namespace informer

#endif  // SERVER_RV_WAITER_H_
