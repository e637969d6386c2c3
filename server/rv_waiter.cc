#include "server/rv_waiter.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "informer/clock.h"

namespace informer {
namespace server {

namespace {

// SharedIndexInformer::history() is const, but (un)registering a listener is not a change a
// reader can see; the history object itself is not const, so the cast is well-defined.
EventHistory& MutableHistory(const SharedIndexInformer& informer) {
  return const_cast<EventHistory&>(informer.history());
}

}  // namespace

ResourceVersionWaiter::ResourceVersionWaiter(WaiterOptions options)
    : options_(options),
      quota_("calls waiting for min_resource_version", options.max_waits_per_caller,
             "max_waits_per_caller", options.max_waits, "max_waits"),
      thread_([this] { Loop(); }) {}

ResourceVersionWaiter::~ResourceVersionWaiter() { Shutdown(); }

bool ResourceVersionWaiter::Check(const Pending& wait, absl::Time now, absl::Status* result) {
  if (wait.resource_version.empty()) {
    const std::string resource = wait.informer->resource().gvr.ToString();
    if (wait.informer->HasSynced()) {
      *result = absl::OkStatus();
    } else if (wait.informer->IsStopped()) {
      *result = absl::UnavailableError(absl::StrCat(resource, " is no longer cached"));
    } else if (wait.cancelled && wait.cancelled()) {
      *result = absl::CancelledError("the call was cancelled while waiting for the initial sync");
    } else if (now >= wait.deadline) {
      const absl::Status last_error = wait.informer->LastError();
      *result = absl::DeadlineExceededError(absl::StrCat(
          resource, " did not finish its initial sync within the call's deadline (waited ",
          absl::FormatDuration(now - wait.started), ")",
          last_error.ok() ? "" : absl::StrCat("; last error: ", last_error.message()),
          "; retry with a longer deadline (the server waits at most --max_wait)"));
    } else {
      return false;
    }
    return true;
  }
  // A deadline in the past makes WaitForResourceVersion a non-blocking check.
  absl::Status reached =
      wait.informer->WaitForResourceVersion(wait.resource_version, absl::InfinitePast());
  if (reached.ok()) {
    *result = absl::OkStatus();
    return true;
  }
  const std::string resource = wait.informer->resource().gvr.ToString();
  if (absl::IsCancelled(reached) || wait.informer->IsStopped()) {
    *result = absl::UnavailableError(absl::StrCat(resource, " is no longer cached"));
    return true;
  }
  if (absl::IsInvalidArgument(reached)) {
    *result = absl::InvalidArgumentError(absl::StrCat("min_resource_version: ", reached.message()));
    return true;
  }
  if (wait.cancelled && wait.cancelled()) {
    *result = absl::CancelledError("the call was cancelled while waiting for min_resource_version");
    return true;
  }
  if (now >= wait.deadline) {
    const std::string seen = wait.informer->LastSyncResourceVersion();
    *result = absl::DeadlineExceededError(absl::StrCat(
        "the cache of ", resource, " has not reached min_resource_version ", wait.resource_version,
        " after ", absl::FormatDuration(now - wait.started), " (it has seen ",
        seen.empty() ? "nothing yet" : absl::StrCat("resourceVersion ", seen),
        wait.informer->HasSynced() ? "" : ", initial sync not done",
        "); a version written to another resource arrives only with this resource's next "
        "change or bookmark (about once a minute), so wait longer or use this resource's "
        "version"));
    return true;
  }
  return false;
}

void ResourceVersionWaiter::Wait(std::shared_ptr<SharedIndexInformer> informer,
                                 std::string resource_version, absl::Time deadline,
                                 CancelledFn cancelled, std::function<void(absl::Status)> done,
                                 const std::string& caller) {
  uint64_t number = 0;
  if (!absl::SimpleAtoi(resource_version, &number)) {
    done(absl::InvalidArgumentError(
        absl::StrCat("min_resource_version \"", resource_version,
                     "\" is not a resourceVersion (a decimal number, e.g. from an object's "
                     "metadata.resourceVersion)")));
    return;
  }
  // On the monotonic clock, so a stepped wall clock neither cuts nor stretches the wait.
  Enqueue(Pending{std::move(informer), std::move(resource_version), MonotonicNow(), deadline,
                  std::move(cancelled), std::move(done), CallerQuota::Lease()},
          caller);
}

void ResourceVersionWaiter::WaitForSync(std::shared_ptr<SharedIndexInformer> informer,
                                        absl::Time deadline, CancelledFn cancelled,
                                        std::function<void(absl::Status)> done,
                                        const std::string& caller) {
  Enqueue(Pending{std::move(informer), "", MonotonicNow(), deadline, std::move(cancelled),
                  std::move(done), CallerQuota::Lease()},
          caller);
}

void ResourceVersionWaiter::Enqueue(Pending wait, const std::string& caller) {
  const absl::Time now = wait.started;
  absl::Status result;
  if (Check(wait, now, &result)) {
    wait.done(result);
    return;
  }
  absl::StatusOr<CallerQuota::Lease> lease = quota_.Acquire(caller);
  if (!lease.ok()) {
    wait.done(lease.status());
    return;
  }
  wait.lease = *std::move(lease);
  {
    absl::MutexLock lock(&mu_);
    if (!shut_down_) {
      const SharedIndexInformer* key = wait.informer.get();
      if (!listeners_.contains(key)) {
        const EventHistory::ListenerId id =
            MutableHistory(*wait.informer).AddListener([this] { OnProgress(); });
        listeners_.emplace(key, std::make_pair(wait.informer, id));
      }
      pending_.push_back(std::move(wait));
      // It may have progressed between the check above and the listener's registration.
      progressed_ = true;
      return;
    }
  }
  wait.done(absl::UnavailableError("informerd is shutting down"));
}

void ResourceVersionWaiter::Forget(const SharedIndexInformer* informer) {
  std::shared_ptr<SharedIndexInformer> held;
  EventHistory::ListenerId id = 0;
  {
    absl::MutexLock lock(&mu_);
    auto it = listeners_.find(informer);
    if (it == listeners_.end()) return;
    held = std::move(it->second.first);
    id = it->second.second;
    listeners_.erase(it);
    progressed_ = true;  // the pending waits on it end now
  }
  // Without the lock: RemoveListener waits for a running OnProgress, which takes it.
  MutableHistory(*held).RemoveListener(id);
}

void ResourceVersionWaiter::OnProgress() {
  absl::MutexLock lock(&mu_);
  progressed_ = true;
}

void ResourceVersionWaiter::Loop() {
  absl::Time next_sweep = MonotonicNow() + options_.sweep;
  for (;;) {
    std::list<Pending> waits;
    {
      absl::MutexLock lock(&mu_);
      // Sleep until progress, the earliest deadline or the sweep.
      absl::Time wake = absl::InfiniteFuture();
      if (!pending_.empty()) {
        wake = next_sweep;
        for (const Pending& wait : pending_) wake = std::min(wake, wait.deadline);
      }
      auto has_work = [this]()
                          ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return shut_down_ || progressed_; };
      AwaitWithMonotonicDeadline(&mu_, absl::Condition(&has_work), wake);
      if (shut_down_) return;
      progressed_ = false;
      ++rounds_;
      waits.swap(pending_);
    }
    // Check without the lock, so callbacks and new Waits never wait for each other.
    const absl::Time now = MonotonicNow();
    if (now >= next_sweep) next_sweep = now + options_.sweep;
    std::vector<std::pair<std::function<void(absl::Status)>, absl::Status>> answers;
    for (auto it = waits.begin(); it != waits.end();) {
      absl::Status result;
      if (Check(*it, now, &result)) {
        it->lease.Release();
        answers.emplace_back(std::move(it->done), std::move(result));
        it = waits.erase(it);
      } else {
        ++it;
      }
    }
    for (auto& [done, result] : answers) done(result);
    absl::MutexLock lock(&mu_);
    pending_.splice(pending_.begin(), waits);
    if (shut_down_) return;
  }
}

void ResourceVersionWaiter::Shutdown() {
  std::list<Pending> waits;
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  if (thread_.joinable()) thread_.join();
  absl::flat_hash_map<const SharedIndexInformer*,
                      std::pair<std::shared_ptr<SharedIndexInformer>, EventHistory::ListenerId>>
      listeners;
  {
    absl::MutexLock lock(&mu_);
    waits.swap(pending_);
    listeners.swap(listeners_);
  }
  // Without the lock: RemoveListener waits for a running OnProgress, which takes it.
  for (auto& [key, entry] : listeners) MutableHistory(*entry.first).RemoveListener(entry.second);
  for (Pending& wait : waits) {
    wait.lease.Release();
    wait.done(absl::UnavailableError("informerd is shutting down"));
  }
}

size_t ResourceVersionWaiter::pending() const { return quota_.total(); }

size_t ResourceVersionWaiter::pending(const std::string& caller) const {
  return quota_.held_by(caller);
}

uint64_t ResourceVersionWaiter::rounds() const {
  absl::MutexLock lock(&mu_);
  return rounds_;
}

}  // namespace server
}  // namespace informer
