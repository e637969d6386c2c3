// A rate-limited, de-duplicating work queue of keys, as client-go's util/workqueue.
#ifndef INFORMERD_WORK_QUEUE_H_
#define INFORMERD_WORK_QUEUE_H_

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace informerd {

// Decides how long a key waits before it is retried (client-go's RateLimiter).
// Thread-safety: implementations are called from any thread.
class RateLimiter {
 public:
  virtual ~RateLimiter() = default;
  // How long `key` should wait now, counting this as one more failure.
  virtual absl::Duration When(const std::string& key) = 0;
  // Clears key's failure history.
  virtual void Forget(const std::string& key) = 0;
  // Failures of key since it was last forgotten.
  virtual int NumRequeues(const std::string& key) = 0;
};

// Waits base * 2^failures per key, capped at max.
class ItemExponentialFailureRateLimiter : public RateLimiter {
 public:
  ItemExponentialFailureRateLimiter(absl::Duration base, absl::Duration max)
      : base_(base), max_(max) {}
  absl::Duration When(const std::string& key) override;
  void Forget(const std::string& key) override;
  int NumRequeues(const std::string& key) override;

 private:
  const absl::Duration base_;
  const absl::Duration max_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, int> failures_ ABSL_GUARDED_BY(mu_);
};

// Spaces every key by one token bucket: `qps` tokens a second, `burst` deep.
class BucketRateLimiter : public RateLimiter {
 public:
  BucketRateLimiter(double qps, int burst);
  absl::Duration When(const std::string& key) override;
  void Forget(const std::string&) override {}
  int NumRequeues(const std::string&) override { return 0; }

 private:
  const double qps_;
  const double burst_;
  absl::Mutex mu_;
  double tokens_ ABSL_GUARDED_BY(mu_);
  absl::Time last_ ABSL_GUARDED_BY(mu_);
};

// Waits the longest of its limiters.
class MaxOfRateLimiter : public RateLimiter {
 public:
  explicit MaxOfRateLimiter(std::vector<std::unique_ptr<RateLimiter>> limiters)
      : limiters_(std::move(limiters)) {}
  absl::Duration When(const std::string& key) override;
  void Forget(const std::string& key) override;
  int NumRequeues(const std::string& key) override;

 private:
  const std::vector<std::unique_ptr<RateLimiter>> limiters_;
};

// client-go's default: per key 5 ms doubling to 1000 s, overall 10 qps with bursts of 100.
std::unique_ptr<RateLimiter> DefaultControllerRateLimiter();

// client-go's rate-limited work queue: a key is queued at most once however often it is added,
// is handed to one worker at a time (added again while being processed, it is queued again once
// Done), and can be retried after a delay that grows with its failures. A worker loops:
// `while (auto key = q.Get()) { ok ? q.Forget(*key) : q.AddRateLimited(*key); q.Done(*key); }`.
//
// Thread-safety: every method may be called from any thread.
class RateLimitingQueue {
 public:
  // An empty queue retrying with `limiter` (default: DefaultControllerRateLimiter()).
  explicit RateLimitingQueue(std::unique_ptr<RateLimiter> limiter = nullptr);

  // Queues `key` unless it is already queued; ignored after ShutDown.
  void Add(const std::string& key);
  // Queues `key` once `delay` has passed (at once when <= 0); of several pending delays for one
  // key the earliest wins.
  void AddAfter(const std::string& key, absl::Duration delay);
  // Queues `key` after the limiter's delay for it (one more failure).
  void AddRateLimited(const std::string& key);
  // Clears key's failure history; call it when key was processed successfully.
  void Forget(const std::string& key);
  // How often key was rate-limited since it was last forgotten.
  int NumRequeues(const std::string& key);

  // Blocks until a key is available and hands it out; call Done(key) when finished. nullopt
  // once the queue is shut down and empty.
  std::optional<std::string> Get();
  // As Get, giving up after `timeout` (then nullopt while not shut down).
  std::optional<std::string> GetWithTimeout(absl::Duration timeout);
  // Marks key processed; if it was added meanwhile, it is queued again.
  void Done(const std::string& key);
  // Keys queued (not those being processed or waiting for a delay).
  size_t Len() const;
  // Makes Get return nullopt once the queue is empty, drops pending delays and ignores later
  // adds. Keys already queued are still handed out.
  void ShutDown();
  // Whether ShutDown was called.
  bool ShuttingDown() const;

 private:
  void AddLocked(const std::string& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves delayed keys that are due into the queue.
  void PromoteDueLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether Get can stop waiting: a key queued, shutdown, or the delays changed since it saw
  // `delays_seen`.
  bool ReadyLocked(uint64_t delays_seen) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::unique_ptr<RateLimiter> limiter_;
  mutable absl::Mutex mu_;
  std::deque<std::string> queue_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> dirty_ ABSL_GUARDED_BY(mu_);       // queued or re-queue on Done
  absl::flat_hash_set<std::string> processing_ ABSL_GUARDED_BY(mu_);  // handed out, not Done
  absl::flat_hash_map<std::string, absl::Time> waiting_ ABSL_GUARDED_BY(mu_);  // AddAfter: due
  std::multimap<absl::Time, std::string> due_ ABSL_GUARDED_BY(mu_);            // waiting_, by time
  uint64_t delays_changed_ ABSL_GUARDED_BY(mu_) = 0;  // wakes Get to recompute its deadline
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace informerd

#endif  // INFORMERD_WORK_QUEUE_H_
