#include "informer/delta_fifo.h"

#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"

namespace informer {
namespace {

// client-go's isDeletionDup: of two consecutive deletions keep the later, unless the later
// is a tombstone and the earlier is not (the earlier then carries the real final state).
// Returns the index (0 = older, 1 = newer) of the one to keep, or -1 when not a duplicate.
int DeletionDup(const Delta& older, const Delta& newer) {
  if (older.type != DeltaType::kDeleted || newer.type != DeltaType::kDeleted) return -1;
  if (std::holds_alternative<DeletedFinalStateUnknown>(newer.object)) return 0;
  return 1;
}

}  // namespace

const char* DeltaTypeName(DeltaType type) {
  switch (type) {
    case DeltaType::kAdded:
      return "Added";
    case DeltaType::kUpdated:
      return "Updated";
    case DeltaType::kDeleted:
      return "Deleted";
    case DeltaType::kReplaced:
      return "Replaced";
    case DeltaType::kSync:
      return "Sync";
  }
  return "Unknown";
}

DeltaFifo::DeltaFifo(DeltaFifoOptions options) : options_(std::move(options)) {}

void DeltaFifo::QueueLocked(DeltaType type, DeltaObject object, std::string resource_version) {
  if (closed_) return;
  const std::string key = KeyOf(object);
  auto [it, inserted] = items_.try_emplace(key);
  Deltas& deltas = it->second;
  if (inserted) queue_.push_back(key);
  deltas.push_back(Delta{type, std::move(object), std::move(resource_version)});
  if (deltas.size() >= 2) {
    const int keep = DeletionDup(deltas[deltas.size() - 2], deltas.back());
    if (keep == 1) {
      deltas[deltas.size() - 2] = std::move(deltas.back());
      deltas.pop_back();
    } else if (keep == 0) {
      deltas.pop_back();
    }
  }
}

void DeltaFifo::NoteResourceVersionLocked(const std::string& resource_version) {
  uint64_t number = 0;
  // Kubernetes RVs are opaque strings that are decimal numbers in every real server; only
  // those can be ordered, so anything else is not tracked.
  if (!absl::SimpleAtoi(resource_version, &number)) return;
  if (number > newest_rv_number_) {
    newest_rv_number_ = number;
    newest_rv_ = resource_version;
  }
}

void DeltaFifo::MaybeDrainedLocked() {
  if (!queue_.empty() || newest_rv_number_ <= drained_rv_number_) return;
  drained_rv_number_ = newest_rv_number_;
  drained_rv_ = newest_rv_;
  if (options_.on_drained) options_.on_drained(drained_rv_);
}

void DeltaFifo::UpdateSyncedLocked() {
  if (populated_ && initial_population_count_ == 0) {
    synced_.store(true, std::memory_order_release);
  }
}

void DeltaFifo::Add(ObjectPtr object) {
  absl::MutexLock lock(&mu_);
  std::string rv = object->meta().resource_version;
  NoteResourceVersionLocked(rv);
  QueueLocked(DeltaType::kAdded, std::move(object), std::move(rv));
}

void DeltaFifo::Update(ObjectPtr object) {
  absl::MutexLock lock(&mu_);
  std::string rv = object->meta().resource_version;
  NoteResourceVersionLocked(rv);
  QueueLocked(DeltaType::kUpdated, std::move(object), std::move(rv));
}

void DeltaFifo::Delete(ObjectPtr object) {
  absl::MutexLock lock(&mu_);
  std::string rv = object->meta().resource_version;
  NoteResourceVersionLocked(rv);
  const std::string& key = object->key();
  const bool known =
      options_.known_objects != nullptr && options_.known_objects->GetByKey(key) != nullptr;
  if (!known && !items_.contains(key)) {
    // Already deleted (a relist reported it): do not report it twice.
    MaybeDrainedLocked();
    return;
  }
  QueueLocked(DeltaType::kDeleted, std::move(object), std::move(rv));
}

void DeltaFifo::Replace(std::vector<ObjectPtr> objects, std::string resource_version) {
  absl::MutexLock lock(&mu_);
  NoteResourceVersionLocked(resource_version);
  const DeltaType action = options_.emit_replaced ? DeltaType::kReplaced : DeltaType::kSync;
  absl::flat_hash_set<std::string> listed;
  listed.reserve(objects.size());
  for (ObjectPtr& object : objects) {
    if (object == nullptr) continue;
    listed.insert(object->key());
    QueueLocked(action, std::move(object), resource_version);
  }

  // Queued keys absent from the list were deleted while we were not watching. Copy the queue
  // first: QueueLocked only appends to existing keys here, but iterate a stable order.
  const std::vector<std::string> queued(queue_.begin(), queue_.end());
  for (const std::string& key : queued) {
    if (listed.contains(key)) continue;
    ObjectPtr last = ObjectOf(items_[key].back().object);
    QueueLocked(DeltaType::kDeleted, DeletedFinalStateUnknown{key, std::move(last)},
                resource_version);
  }
  // Known keys with nothing queued and absent from the list: the same.
  if (options_.known_objects != nullptr) {
    for (const std::string& key : options_.known_objects->ListKeys()) {
      if (listed.contains(key) || items_.contains(key)) continue;
      ObjectPtr last = options_.known_objects->GetByKey(key);
      if (last == nullptr) continue;
      QueueLocked(DeltaType::kDeleted, DeletedFinalStateUnknown{key, std::move(last)},
                  resource_version);
    }
  }

  if (!populated_) {
    populated_ = true;
    // Everything queued now must pop before the cache holds the first list (F6).
    initial_population_count_ = queue_.size();
    UpdateSyncedLocked();
  }
  MaybeDrainedLocked();
}

void DeltaFifo::Bookmark(std::string resource_version) {
  absl::MutexLock lock(&mu_);
  NoteResourceVersionLocked(resource_version);
  MaybeDrainedLocked();
}

void DeltaFifo::Resync() {
  if (options_.known_objects == nullptr) return;
  absl::MutexLock lock(&mu_);
  for (const std::string& key : options_.known_objects->ListKeys()) {
    // A key with deltas queued will be brought up to date by them anyway.
    if (items_.contains(key)) continue;
    ObjectPtr object = options_.known_objects->GetByKey(key);
    if (object == nullptr) continue;
    std::string rv = object->meta().resource_version;
    QueueLocked(DeltaType::kSync, std::move(object), std::move(rv));
  }
}

absl::Status DeltaFifo::Pop(const ProcessFunc& process) {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !queue_.empty() || closed_; };
  mu_.Await(absl::Condition(&ready));
  if (closed_) return absl::CancelledError("DeltaFIFO closed");

  std::string key = std::move(queue_.front());
  queue_.pop_front();
  auto node = items_.extract(key);
  Deltas deltas = std::move(node.mapped());
  const bool is_in_initial_list = !synced_.load(std::memory_order_relaxed);
  const bool counted = initial_population_count_ > 0;
  if (counted) --initial_population_count_;

  absl::Status status = process(deltas, is_in_initial_list);
  if (!status.ok()) {
    // Back to the end of the queue; it must still pop before HasSynced if it counted.
    items_.emplace(key, std::move(deltas));
    queue_.push_back(std::move(key));
    if (counted) ++initial_population_count_;
  }
  UpdateSyncedLocked();
  MaybeDrainedLocked();
  return status;
}

void DeltaFifo::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
  // Nothing pops after Close: free what is queued now (an informer's Stop frees its cache).
  queue_.clear();
  items_.clear();
}

bool DeltaFifo::IsClosed() const {
  absl::MutexLock lock(&mu_);
  return closed_;
}

std::vector<std::string> DeltaFifo::ListKeys() const {
  absl::MutexLock lock(&mu_);
  return std::vector<std::string>(queue_.begin(), queue_.end());
}

Deltas DeltaFifo::GetDeltas(absl::string_view key) const {
  absl::MutexLock lock(&mu_);
  auto it = items_.find(key);
  if (it == items_.end()) return {};
  return it->second;
}

size_t DeltaFifo::Size() const {
  absl::MutexLock lock(&mu_);
  return queue_.size();
}

std::string DeltaFifo::NewestResourceVersion() const {
  absl::MutexLock lock(&mu_);
  return newest_rv_;
}

std::string DeltaFifo::DrainedResourceVersion() const {
  absl::MutexLock lock(&mu_);
  return drained_rv_;
}

}  // namespace informer
