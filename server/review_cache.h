// A small TTL cache with singleflight for the answers of the API server's reviews (TokenReview,
// SubjectAccessReview): concurrent lookups of one key cause one fetch, and answers are kept
// until their own expiry. Errors of a fetch are never cached (the next caller tries again).
#ifndef SERVER_REVIEW_CACHE_H_
#define SERVER_REVIEW_CACHE_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "informer/clock.h"

namespace informer {
namespace server {

// A value and when it stops being valid.
template <typename V>
struct Expiring {
  V value;
  absl::Time expires;
};

// Thread-safety: every method may be called from any thread. A fetch runs on the thread of the
// first caller of its key, without the cache's lock; the others wait for it.
template <typename V>
class ReviewCache {
 public:
  using Fetch = std::function<absl::StatusOr<Expiring<V>>()>;

  // At most `max_entries` answers are kept; expired ones go first, then arbitrary ones.
  ReviewCache(Clock* clock, size_t max_entries) : clock_(clock), max_entries_(max_entries) {}

  // The answer for `key`: a kept unexpired one (`*shared` = true), the result of a fetch under
  // way for the same key (`*shared` = true), or the result of calling `fetch` (`*shared` =
  // false), kept until its expiry when it is not an error.
  absl::StatusOr<V> Get(const std::string& key, const Fetch& fetch, bool* shared) {
    std::shared_ptr<Flight> flight;
    {
      absl::MutexLock lock(&mu_);
      const absl::Time now = clock_->Now();
      if (auto it = entries_.find(key); it != entries_.end()) {
        if (now < it->second.expires) {
          *shared = true;
          return it->second.value;
        }
        entries_.erase(it);
      }
      if (auto it = flights_.find(key); it != flights_.end()) {
        std::shared_ptr<Flight> running = it->second;
        mu_.Await(absl::Condition(&running->done));
        *shared = true;
        return running->result;
      }
      flight = std::make_shared<Flight>();
      flights_[key] = flight;
    }
    absl::StatusOr<Expiring<V>> fetched = fetch();
    absl::MutexLock lock(&mu_);
    flights_.erase(key);
    flight->done = true;
    *shared = false;
    if (!fetched.ok()) {
      flight->result = fetched.status();
      return fetched.status();
    }
    flight->result = fetched->value;
    if (fetched->expires > clock_->Now()) {
      MakeRoomLocked();
      entries_[key] = *fetched;
    }
    return fetched->value;
  }

  // Answers kept now (expired ones included until they are looked at).
  size_t size() const {
    absl::MutexLock lock(&mu_);
    return entries_.size();
  }

 private:
  struct Flight {
    bool done = false;
    absl::StatusOr<V> result = absl::UnknownError("not fetched");
  };

  void MakeRoomLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (entries_.size() < max_entries_) return;
    const absl::Time now = clock_->Now();
    for (auto it = entries_.begin(); it != entries_.end();) {
      if (it->second.expires <= now) {
        entries_.erase(it++);
      } else {
        ++it;
      }
    }
    while (!entries_.empty() && entries_.size() >= max_entries_) entries_.erase(entries_.begin());
  }

  Clock* const clock_;
  const size_t max_entries_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Expiring<V>> entries_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::shared_ptr<Flight>> flights_ ABSL_GUARDED_BY(mu_);
};

}  // namespace server
}  // namespace informer

#endif  // SERVER_REVIEW_CACHE_H_
