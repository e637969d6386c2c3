#include "informerd/work_queue.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace informerd {

absl::Duration ItemExponentialFailureRateLimiter::When(const std::string& key) {
  int exp;
  {
    absl::MutexLock lock(&mu_);
    exp = failures_[key]++;
  }
  // Compute in double: 2^exp overflows integer durations long before the cap.
  double backoff = absl::ToDoubleSeconds(base_) * std::pow(2.0, exp);
  if (backoff >= absl::ToDoubleSeconds(max_)) return max_;
  return absl::Seconds(backoff);
}

void ItemExponentialFailureRateLimiter::Forget(const std::string& key) {
  absl::MutexLock lock(&mu_);
  failures_.erase(key);
}

int ItemExponentialFailureRateLimiter::NumRequeues(const std::string& key) {
  absl::MutexLock lock(&mu_);
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

BucketRateLimiter::BucketRateLimiter(double qps, int burst)
    : qps_(qps), burst_(burst), tokens_(burst), last_(absl::Now()) {}

absl::Duration BucketRateLimiter::When(const std::string&) {
  absl::MutexLock lock(&mu_);
  absl::Time now = absl::Now();
  tokens_ = std::min(burst_, tokens_ + absl::ToDoubleSeconds(now - last_) * qps_);
  last_ = now;
  tokens_ -= 1;  // reserve, possibly into debt, as golang.org/x/time/rate does
  return tokens_ >= 0 ? absl::ZeroDuration() : absl::Seconds(-tokens_ / qps_);
}

absl::Duration MaxOfRateLimiter::When(const std::string& key) {
  absl::Duration d = absl::ZeroDuration();
  for (const auto& l : limiters_) d = std::max(d, l->When(key));
  return d;
}

void MaxOfRateLimiter::Forget(const std::string& key) {
  for (const auto& l : limiters_) l->Forget(key);
}

int MaxOfRateLimiter::NumRequeues(const std::string& key) {
  int n = 0;
  for (const auto& l : limiters_) n = std::max(n, l->NumRequeues(key));
  return n;
}

std::unique_ptr<RateLimiter> DefaultControllerRateLimiter() {
  std::vector<std::unique_ptr<RateLimiter>> limiters;
  limiters.push_back(std::make_unique<ItemExponentialFailureRateLimiter>(absl::Milliseconds(5),
                                                                         absl::Seconds(1000)));
  limiters.push_back(std::make_unique<BucketRateLimiter>(10, 100));
  return std::make_unique<MaxOfRateLimiter>(std::move(limiters));
}

RateLimitingQueue::RateLimitingQueue(std::unique_ptr<RateLimiter> limiter)
    : limiter_(limiter ? std::move(limiter) : DefaultControllerRateLimiter()) {}

void RateLimitingQueue::Add(const std::string& key) {
  absl::MutexLock lock(&mu_);
  AddLocked(key);
}

void RateLimitingQueue::AddLocked(const std::string& key) {
  if (shutting_down_ || dirty_.contains(key)) return;
  dirty_.insert(key);
  if (processing_.contains(key)) return;
  queue_.push_back(key);
}

void RateLimitingQueue::AddAfter(const std::string& key, absl::Duration delay) {
  if (delay <= absl::ZeroDuration()) {
    Add(key);
    return;
  }
  absl::MutexLock lock(&mu_);
  if (shutting_down_) return;
  absl::Time due = absl::Now() + delay;
  auto it = waiting_.find(key);
  if (it != waiting_.end()) {
    if (it->second <= due) return;
    // Replace the later entry by this earlier one.
    auto range = due_.equal_range(it->second);
    for (auto d = range.first; d != range.second; ++d) {
      if (d->second == key) {
        due_.erase(d);
        break;
      }
    }
  }
  waiting_[key] = due;
  due_.emplace(due, key);
  ++delays_changed_;
}

void RateLimitingQueue::AddRateLimited(const std::string& key) {
  AddAfter(key, limiter_->When(key));
}

void RateLimitingQueue::Forget(const std::string& key) { limiter_->Forget(key); }

int RateLimitingQueue::NumRequeues(const std::string& key) { return limiter_->NumRequeues(key); }

void RateLimitingQueue::PromoteDueLocked(absl::Time now) {
  while (!due_.empty() && due_.begin()->first <= now) {
    std::string key = due_.begin()->second;
    due_.erase(due_.begin());
    waiting_.erase(key);
    AddLocked(key);
  }
}

bool RateLimitingQueue::ReadyLocked(uint64_t delays_seen) const {
  return !queue_.empty() || shutting_down_ || delays_changed_ != delays_seen;
}

std::optional<std::string> RateLimitingQueue::Get() {
  return GetWithTimeout(absl::InfiniteDuration());
}

std::optional<std::string> RateLimitingQueue::GetWithTimeout(absl::Duration timeout) {
  const absl::Time give_up = absl::Now() + timeout;
  absl::MutexLock lock(&mu_);
  while (true) {
    absl::Time now = absl::Now();
    PromoteDueLocked(now);
    if (!queue_.empty()) break;
    if (shutting_down_ || now >= give_up) return std::nullopt;
    // Sleep until a key is queued, the delays change, or the earliest delay is due.
    absl::Time wake = due_.empty() ? give_up : std::min(give_up, due_.begin()->first);
    struct Ready {
      const RateLimitingQueue* q;
      uint64_t seen;
      bool operator()() const ABSL_NO_THREAD_SAFETY_ANALYSIS { return q->ReadyLocked(seen); }
    } ready{this, delays_changed_};
    mu_.AwaitWithDeadline(absl::Condition(&ready), wake);
  }
  std::string key = std::move(queue_.front());
  queue_.pop_front();
  processing_.insert(key);
  dirty_.erase(key);
  return key;
}

void RateLimitingQueue::Done(const std::string& key) {
  absl::MutexLock lock(&mu_);
  processing_.erase(key);
  if (dirty_.contains(key)) queue_.push_back(key);
}

size_t RateLimitingQueue::Len() const {
  absl::MutexLock lock(&mu_);
  return queue_.size();
}

void RateLimitingQueue::ShutDown() {
  absl::MutexLock lock(&mu_);
  shutting_down_ = true;
  waiting_.clear();
  due_.clear();
}

bool RateLimitingQueue::ShuttingDown() const {
  absl::MutexLock lock(&mu_);
  return shutting_down_;
}

}  // namespace informerd
