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

// The metadata.name of the object `event` changes (listeners of one name are woken by it).
const std::string& NameOf(const HistoryEvent& event) {
  static const std::string* const kNone = new std::string();
  return event.object == nullptr ? *kNone : event.object->meta().name;
}

// The listener running on this thread, so it may remove itself without waiting for itself.
thread_local const void* running_listener = nullptr;

}  // namespace

EventHistory::EventHistory(HistoryOptions options) : options_(options) {}

uint64_t EventHistory::Append(HistoryEvent event) {
  std::string resource_version = event.resource_version;
  std::vector<HistoryEvent> changes;
  changes.push_back(std::move(event));
  const uint64_t seq = Commit(std::move(changes), resource_version);
  NotifyListeners();
  return seq;
}

void EventHistory::PushLocked(HistoryEvent event) {
  event.seq = ++last_seq_;
  if (!absl::SimpleAtoi(event.resource_version, &event.version)) event.version = 0;
  if (!routes_.empty()) unnotified_names_.push_back(NameOf(event));
  bytes_ += EventBytes(event);
  events_.push_back(std::move(event));
}

void EventHistory::MoveHeadLocked(absl::string_view resource_version) {
  uint64_t version = 0;
  if (!absl::SimpleAtoi(resource_version, &version) || version <= head_version_) return;
  // Nothing before the cache's first version can be placed: it never saw those states.
  if (head_version_ == 0) evicted_version_ = std::max(evicted_version_, version);
  head_version_ = version;
  head_rv_ = std::string(resource_version);
  head_version_mirror_.store(version, std::memory_order_release);
}

uint64_t EventHistory::Commit(std::vector<HistoryEvent> changes,
                              absl::string_view resource_version) {
  absl::MutexLock lock(&mu_);
  for (HistoryEvent& change : changes) PushLocked(std::move(change));
  MoveHeadLocked(resource_version);
  last_seq_mirror_.store(last_seq_, std::memory_order_release);
  EvictLocked();
  return last_seq_;
}

void EventHistory::NoteGoneLocked(const HistoryEvent& event) {
  evicted_version_ = std::max(evicted_version_, event.version);
  if (routes_.empty()) return;
  auto it = routes_.find(NameOf(event));
  if (it != routes_.end()) it->second.evicted_through = event.seq;
}

uint64_t EventHistory::EvictedThrough(absl::string_view name) const {
  absl::MutexLock lock(&mu_);
  auto it = routes_.find(name);
  // No listener of that name: every change before the ring counts as one it wanted.
  if (it == routes_.end()) return events_.empty() ? last_seq_ : events_.front().seq - 1;
  return it->second.evicted_through;
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
    NoteGoneLocked(events_.front());
    events_.pop_front();
  }
}

void EventHistory::NotifyListeners() {
  std::vector<std::string> names;
  {
    absl::MutexLock lock(&mu_);
    names.swap(unnotified_names_);
  }
  std::vector<std::shared_ptr<Listener>> listeners;
  {
    absl::MutexLock lock(&listeners_mu_);
    auto take = [&listeners](const std::shared_ptr<Listener>& listener) {
      ++listener->running;
      listeners.push_back(listener);
    };
    for (auto& [id, listener] : every_append_) take(listener);
    if (!names.empty() && !by_name_.empty()) {
      std::sort(names.begin(), names.end());
      names.erase(std::unique(names.begin(), names.end()), names.end());
      for (const std::string& name : names) {
        auto it = by_name_.find(name);
        if (it == by_name_.end()) continue;
        for (auto& [id, listener] : it->second) take(listener);
      }
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
  evicted_version_ = std::max(evicted_version_, head_version_);
  for (const HistoryEvent& event : events_) NoteGoneLocked(event);
  events_.clear();
  events_.shrink_to_fit();
  bytes_ = 0;
}

uint64_t EventHistory::last_seq() const { return last_seq_mirror_.load(std::memory_order_acquire); }

EventHistory::Head EventHistory::head() const {
  absl::MutexLock lock(&mu_);
  return Head{last_seq_, head_version_, head_rv_};
}

uint64_t EventHistory::head_version() const {
  return head_version_mirror_.load(std::memory_order_acquire);
}

uint64_t EventHistory::first_seq() const {
  absl::MutexLock lock(&mu_);
  return events_.empty() ? last_seq_ + 1 : events_.front().seq;
}

absl::StatusOr<size_t> EventHistory::IndexAfterLocked(uint64_t after_seq) const {
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
  return after_seq + 1 - first;
}

absl::Status EventHistory::ReadAfter(uint64_t after_seq, size_t max_events,
                                     std::vector<HistoryEvent>* out) const {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<size_t> index = IndexAfterLocked(after_seq);
  if (!index.ok()) return index.status();
  for (size_t i = *index, n = 0; i < events_.size() && n < max_events; ++i, ++n) {
    out->push_back(events_[i]);
  }
  return absl::OkStatus();
}

absl::StatusOr<EventHistory::NamedRead> EventHistory::ReadNamedAfter(
    uint64_t after_seq, size_t max_scan, absl::string_view name,
    std::vector<HistoryEvent>* out) const {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<size_t> index = IndexAfterLocked(after_seq);
  if (!index.ok()) return index.status();
  NamedRead read;
  read.through_seq = after_seq;
  // Past max_scan only to the end of a version: a reader's position moves by whole versions.
  for (size_t i = *index, n = 0;
       i < events_.size() && (n < max_scan || !events_[i - 1].completes_version); ++i, ++n) {
    const HistoryEvent& event = events_[i];
    read.through_seq = event.seq;
    if (event.completes_version) read.through_version = event.version;
    if (NameOf(event) == name) out->push_back(event);
  }
  return read;
}

absl::StatusOr<EventHistory::ResumePoint> EventHistory::ResumeAfter(absl::string_view rv) const {
  uint64_t wanted = 0;
  if (!absl::SimpleAtoi(rv, &wanted)) {
    return absl::InvalidArgumentError(absl::StrCat("resourceVersion \"", rv, "\" is not a number"));
  }
  absl::MutexLock lock(&mu_);
  if (wanted < evicted_version_) {
    return absl::OutOfRangeError(absl::StrCat(
        "resourceVersion ", rv, " is too old: changes after it have left the history ring (",
        "it holds changes after ", evicted_version_, ")"));
  }
  // Newest first: a client is usually close to the head. The first change newer than `wanted`
  // follows the newest change at or below it.
  size_t first_newer = events_.size();
  for (size_t i = events_.size(); i > 0 && events_[i - 1].version > wanted; --i)
    first_newer = i - 1;
  if (first_newer < events_.size()) {
    const HistoryEvent& next = events_[first_newer];
    // Inside a relist: the cache jumped from relist_from to next.version without seeing the
    // states in between, so it cannot say which of its changes a client at `wanted` lacks.
    if (next.from_relist && (next.relist_from == 0 || next.relist_from < wanted)) {
      return absl::OutOfRangeError(
          next.relist_from == 0
              ? absl::StrCat("resourceVersion ", rv,
                             " is older than this server's cache (its first list was at ",
                             next.resource_version, ")")
              : absl::StrCat("resourceVersion ", rv, " falls inside a relist of this server (",
                             "its cache went from ", next.relist_from, " to ",
                             next.resource_version, " without seeing the changes between)"));
    }
    return ResumePoint{next.seq - 1, false};
  }
  if (head_version_ == 0 && last_seq_ == 0) {
    return absl::OutOfRangeError(
        absl::StrCat("resourceVersion ", rv, " cannot be placed: this cache has not listed yet"));
  }
  return ResumePoint{last_seq_, wanted > head_version_};
}

EventHistory::ListenerId EventHistory::AddListener(std::function<void()> on_append,
                                                   std::string only_name) {
  if (!only_name.empty()) {
    // Before the listener can be called, so its reader never misses an eviction.
    absl::MutexLock lock(&mu_);
    auto [route, inserted] = routes_.try_emplace(only_name);
    if (inserted) {
      route->second.evicted_through = events_.empty() ? last_seq_ : events_.front().seq - 1;
    }
    ++route->second.listeners;
  }
  absl::MutexLock lock(&listeners_mu_);
  const ListenerId id = next_listener_id_++;
  auto listener = std::make_shared<Listener>();
  listener->on_append = std::move(on_append);
  listener->only_name = std::move(only_name);
  if (listener->only_name.empty()) {
    every_append_.emplace(id, listener);
  } else {
    by_name_[listener->only_name].emplace(id, listener);
  }
  listeners_.emplace(id, std::move(listener));
  return id;
}

void EventHistory::RemoveListener(ListenerId id) {
  absl::MutexLock lock(&listeners_mu_);
  auto it = listeners_.find(id);
  if (it == listeners_.end()) return;
  std::shared_ptr<Listener> listener = std::move(it->second);
  listeners_.erase(it);
  if (listener->only_name.empty()) {
    every_append_.erase(id);
  } else {
    auto named = by_name_.find(listener->only_name);
    named->second.erase(id);
    if (named->second.empty()) by_name_.erase(named);
    absl::MutexLock route_lock(&mu_);
    auto route = routes_.find(listener->only_name);
    if (--route->second.listeners == 0) routes_.erase(route);
  }
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
