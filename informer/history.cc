#include "informer/history.h"

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace informer {
namespace {

size_t EventBytes(const HistoryEvent& event) {
  size_t bytes = sizeof(HistoryEvent) + event.resource_version.capacity();
  if (event.object != nullptr) bytes += event.object->ApproximateBytes();
  if (event.old_object != nullptr) bytes += event.old_object->ApproximateBytes();
  return bytes;
}

// The listener running on this thread, so it may remove itself without waiting for itself.
thread_local const void* running_listener = nullptr;

}  // namespace

EventHistory::EventHistory(HistoryOptions options) : options_(options) {}

uint64_t EventHistory::Append(HistoryEvent event) {
  const uint64_t seq = AppendWithoutNotify(std::move(event));
  NotifyListeners();
  return seq;
}

uint64_t EventHistory::AppendWithoutNotify(HistoryEvent event) {
  absl::MutexLock lock(&mu_);
  event.seq = ++last_seq_;
  bytes_ += EventBytes(event);
  events_.push_back(std::move(event));
  EvictLocked();
  return last_seq_;
}

size_t EventHistory::ByteLimitLocked() const {
  if (options_.cache_fraction <= 0) return options_.max_bytes;
  const double share = options_.cache_fraction * static_cast<double>(cache_bytes_);
  const size_t proportional = share >= static_cast<double>(options_.max_bytes)
                                  ? options_.max_bytes
                                  : static_cast<size_t>(share);
  return std::min(options_.max_bytes, std::max(options_.min_bytes, proportional));
}

size_t EventHistory::byte_limit() const {
  absl::MutexLock lock(&mu_);
  return ByteLimitLocked();
}

void EventHistory::SetCacheBytes(size_t cache_bytes) {
  absl::MutexLock lock(&mu_);
  cache_bytes_ = cache_bytes;
  EvictLocked();
}

void EventHistory::EvictLocked() {
  const size_t byte_limit = ByteLimitLocked();
  while (events_.size() > 1 && (events_.size() > options_.max_events || bytes_ > byte_limit)) {
    bytes_ -= EventBytes(events_.front());
    events_.pop_front();
  }
}

void EventHistory::NotifyListeners() {
  std::vector<std::shared_ptr<Listener>> listeners;
  {
    absl::MutexLock lock(&listeners_mu_);
    listeners.reserve(listeners_.size());
    for (auto& [id, listener] : listeners_) {
      ++listener->running;
      listeners.push_back(listener);
    }
  }
  for (const std::shared_ptr<Listener>& listener : listeners) {
    const void* outer = running_listener;
    running_listener = listener.get();
    listener->on_append();
    running_listener = outer;
    absl::MutexLock lock(&listeners_mu_);
    --listener->running;
  }
}

void EventHistory::Clear() {
  absl::MutexLock lock(&mu_);
  events_.clear();
  events_.shrink_to_fit();
  bytes_ = 0;
}

uint64_t EventHistory::last_seq() const {
  absl::MutexLock lock(&mu_);
  return last_seq_;
}

uint64_t EventHistory::first_seq() const {
  absl::MutexLock lock(&mu_);
  return events_.empty() ? last_seq_ + 1 : events_.front().seq;
}

absl::Status EventHistory::ReadAfter(uint64_t after_seq, size_t max_events,
                                     std::vector<HistoryEvent>* out) const {
  absl::MutexLock lock(&mu_);
  if (after_seq > last_seq_) {
    return absl::OutOfRangeError(absl::StrCat("history position ", after_seq,
                                              " is past the newest event ", last_seq_,
                                              " (from another informer?); resubscribe"));
  }
  const uint64_t first = events_.empty() ? last_seq_ + 1 : events_.front().seq;
  if (after_seq + 1 < first) {
    return absl::OutOfRangeError(absl::StrCat(
        "events after ", after_seq, " were evicted (oldest retained: ", first, "); resubscribe"));
  }
  size_t index = after_seq + 1 - first;
  for (size_t n = 0; index < events_.size() && n < max_events; ++index, ++n) {
    out->push_back(events_[index]);
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> EventHistory::SeqForResourceVersion(absl::string_view rv) const {
  uint64_t wanted = 0;
  if (!absl::SimpleAtoi(rv, &wanted)) {
    return absl::InvalidArgumentError(absl::StrCat("resourceVersion \"", rv, "\" is not a number"));
  }
  absl::MutexLock lock(&mu_);
  if (events_.empty()) return last_seq_;
  // Newest first: a client is usually close to the head. The newest event at or before
  // `wanted` is where it stands: an exact match, or (for a bookmark's RV, newer than events
  // of this resource) the newest such event.
  for (auto it = events_.rbegin(); it != events_.rend(); ++it) {
    uint64_t event_rv = 0;
    if (!absl::SimpleAtoi(it->resource_version, &event_rv)) continue;
    if (event_rv <= wanted) return it->seq;
  }
  return absl::OutOfRangeError(absl::StrCat("resourceVersion ", rv,
                                            " is older than the oldest retained event (",
                                            events_.front().resource_version, "); resubscribe"));
}

EventHistory::ListenerId EventHistory::AddListener(std::function<void()> on_append) {
  absl::MutexLock lock(&listeners_mu_);
  const ListenerId id = next_listener_id_++;
  auto listener = std::make_shared<Listener>();
  listener->on_append = std::move(on_append);
  listeners_.emplace(id, std::move(listener));
  return id;
}

void EventHistory::RemoveListener(ListenerId id) {
  absl::MutexLock lock(&listeners_mu_);
  auto it = listeners_.find(id);
  if (it == listeners_.end()) return;
  std::shared_ptr<Listener> listener = std::move(it->second);
  listeners_.erase(it);
  // A listener removing itself is one of the running calls; do not wait for it.
  const int self = running_listener == listener.get() ? 1 : 0;
  auto idle = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(listeners_mu_) {
    return listener->running <= self;
  };
  listeners_mu_.Await(absl::Condition(&idle));
}

size_t EventHistory::size() const {
  absl::MutexLock lock(&mu_);
  return events_.size();
}

size_t EventHistory::bytes() const {
  absl::MutexLock lock(&mu_);
  return bytes_;
}

}  // namespace informer
