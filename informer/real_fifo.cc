#include "informer/real_fifo.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"

namespace informer {

const char* QueueItemKindName(QueueItem::Kind kind) {
  switch (kind) {
    case QueueItem::Kind::kAdded:
      return "Added";
    case QueueItem::Kind::kUpdated:
      return "Updated";
    case QueueItem::Kind::kDeleted:
      return "Deleted";
    case QueueItem::Kind::kReplace:
      return "Replace";
    case QueueItem::Kind::kBookmark:
      return "Bookmark";
    case QueueItem::Kind::kResync:
      return "Resync";
  }
  return "Unknown";
}

RealFifo::RealFifo(size_t max_batch_keys)
    : max_batch_keys_(max_batch_keys == 0 ? 1 : max_batch_keys) {}

void RealFifo::PushLocked(QueueItem item) {
  if (closed_) return;
  if (item.kind == QueueItem::Kind::kResync) resync_queued_ = true;
  items_.push_back(std::move(item));
}

void RealFifo::Add(ObjectPtr object) {
  absl::MutexLock lock(&mu_);
  populated_ = true;
  UpdateSyncedLocked();
  std::string rv = object->meta().resource_version;
  PushLocked(QueueItem{QueueItem::Kind::kAdded, std::move(object), {}, std::move(rv)});
}

void RealFifo::Update(ObjectPtr object) {
  absl::MutexLock lock(&mu_);
  populated_ = true;
  UpdateSyncedLocked();
  std::string rv = object->meta().resource_version;
  PushLocked(QueueItem{QueueItem::Kind::kUpdated, std::move(object), {}, std::move(rv)});
}

void RealFifo::Delete(ObjectPtr object) {
  absl::MutexLock lock(&mu_);
  populated_ = true;
  UpdateSyncedLocked();
  std::string rv = object->meta().resource_version;
  PushLocked(QueueItem{QueueItem::Kind::kDeleted, std::move(object), {}, std::move(rv)});
}

void RealFifo::Replace(std::vector<ObjectPtr> objects, std::string resource_version) {
  absl::MutexLock lock(&mu_);
  PushLocked(QueueItem{QueueItem::Kind::kReplace, nullptr, std::move(objects),
                       std::move(resource_version)});
  if (!populated_) {
    populated_ = true;
    initial_remaining_ = items_.size();
  }
}

void RealFifo::Bookmark(std::string resource_version) {
  absl::MutexLock lock(&mu_);
  PushLocked(QueueItem{QueueItem::Kind::kBookmark, nullptr, {}, std::move(resource_version)});
}

void RealFifo::Resync() {
  absl::MutexLock lock(&mu_);
  if (resync_queued_) return;
  PushLocked(QueueItem{QueueItem::Kind::kResync, nullptr, {}, ""});
}

absl::Status RealFifo::Pop(const ProcessFunc& process) {
  std::vector<QueueItem> batch;
  bool initial = false;
  {
    absl::MutexLock lock(&mu_);
    auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return closed_ || !items_.empty(); };
    mu_.Await(absl::Condition(&ready));
    if (closed_) return absl::CancelledError("the queue is closed");
    initial = !(populated_ && initial_remaining_ == 0);
    // The items that may join this batch: never past the end of the initial list (F12).
    const size_t limit = initial_remaining_ > 0 ? initial_remaining_ : items_.size();
    absl::flat_hash_set<std::string> keys;
    for (size_t i = 0; i < limit && i < items_.size(); ++i) {
      QueueItem& item = items_[i];
      const bool alone =
          item.kind == QueueItem::Kind::kReplace || item.kind == QueueItem::Kind::kResync;
      if (alone) {
        if (batch.empty()) batch.push_back(std::move(item));
        break;
      }
      if (item.object != nullptr) {
        // A repeated key ends the batch, as client-go's PopBatch does.
        if (keys.size() >= max_batch_keys_ || !keys.insert(item.object->key()).second) break;
      }
      batch.push_back(std::move(item));
    }
    items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(batch.size()));
    if (!batch.empty() && batch.front().kind == QueueItem::Kind::kResync) resync_queued_ = false;
  }
  absl::Status status = process(batch, initial);
  absl::MutexLock lock(&mu_);
  if (initial_remaining_ > 0) {
    initial_remaining_ -= std::min(initial_remaining_, batch.size());
  }
  UpdateSyncedLocked();
  return status;
}

void RealFifo::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
  items_.clear();
}

bool RealFifo::IsClosed() const {
  absl::MutexLock lock(&mu_);
  return closed_;
}

void RealFifo::UpdateSyncedLocked() {
  if (populated_ && initial_remaining_ == 0) synced_.store(true, std::memory_order_release);
}

size_t RealFifo::Size() const {
  absl::MutexLock lock(&mu_);
  return items_.size();
}

}  // namespace informer
