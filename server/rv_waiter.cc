#include "server/rv_waiter.h"

#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace informer {
namespace server {

ResourceVersionWaiter::ResourceVersionWaiter(absl::Duration poll)
    : poll_(poll), thread_([this] { Loop(); }) {}

ResourceVersionWaiter::~ResourceVersionWaiter() { Shutdown(); }

bool ResourceVersionWaiter::Check(const Pending& wait, absl::Time now, absl::Status* result) {
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
                                 CancelledFn cancelled, std::function<void(absl::Status)> done) {
  uint64_t number = 0;
  if (!absl::SimpleAtoi(resource_version, &number)) {
    done(absl::InvalidArgumentError(
        absl::StrCat("min_resource_version \"", resource_version,
                     "\" is not a resourceVersion (a decimal number, e.g. from an object's "
                     "metadata.resourceVersion)")));
    return;
  }
  const absl::Time now = absl::Now();
  Pending wait{
      std::move(informer), std::move(resource_version), now, deadline, std::move(cancelled),
      std::move(done)};
  absl::Status result;
  if (Check(wait, now, &result)) {
    wait.done(result);
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    if (!shut_down_) {
      pending_.push_back(std::move(wait));
      return;
    }
  }
  wait.done(absl::UnavailableError("informerd is shutting down"));
}

void ResourceVersionWaiter::Loop() {
  for (;;) {
    std::list<Pending> waits;
    {
      absl::MutexLock lock(&mu_);
      auto has_work = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return shut_down_ || !pending_.empty();
      };
      mu_.Await(absl::Condition(&has_work));
      if (shut_down_) return;
      waits.swap(pending_);
    }
    // Check without the lock, so callbacks and new Waits never wait for each other.
    const absl::Time now = absl::Now();
    std::vector<std::pair<std::function<void(absl::Status)>, absl::Status>> answers;
    for (auto it = waits.begin(); it != waits.end();) {
      absl::Status result;
      if (Check(*it, now, &result)) {
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
    auto shut = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return shut_down_; };
    mu_.AwaitWithTimeout(absl::Condition(&shut), poll_);
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
  {
    absl::MutexLock lock(&mu_);
    waits.swap(pending_);
  }
  for (Pending& wait : waits) wait.done(absl::UnavailableError("informerd is shutting down"));
}

size_t ResourceVersionWaiter::pending() const {
  absl::MutexLock lock(&mu_);
  return pending_.size();
}

}  // namespace server
}  // namespace informer
