// DeltaFIFO: the queue between the reflector and the informer (client-go's cache.DeltaFIFO).
#ifndef INFORMER_DELTA_FIFO_H_
#define INFORMER_DELTA_FIFO_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "informer/object.h"
#include "informer/reflector.h"
#include "informer/store.h"

namespace informer {

// What happened to an object.
enum class DeltaType {
  kAdded,
  kUpdated,
  kDeleted,
  kReplaced,  // listed by a (re)list
  kSync,      // a periodic resync of an object already known
};

// "Added", "Updated", ... for logs and test messages.
const char* DeltaTypeName(DeltaType type);

// One change of one object.
struct Delta {
  DeltaType type = DeltaType::kAdded;
  // The object; for a deletion only seen by a relist, a tombstone (F3, K2).
  DeltaObject object;
  // The resourceVersion this change brings the cache to: the object's own RV for watch
  // events and resyncs, the LIST's RV for what a Replace queued.
  std::string resource_version;
};

// Every queued delta of one key, oldest first.
using Deltas = std::vector<Delta>;

// How a DeltaFifo is set up.
struct DeltaFifoOptions {
  // The store the popped deltas end up in (client-go's knownObjects): Replace infers
  // deletions of keys it holds, Resync re-queues its objects. May be null; must outlive the
  // FIFO.
  const Store* known_objects = nullptr;
  // Replace queues kReplaced; false queues kSync as client-go's legacy mode does (F3).
  bool emit_replaced = true;
  // Called when the queue drains (every queued delta was processed) and the newest enqueued
  // resourceVersion moved past what was last reported: the cache now reflects that RV (U5).
  // Runs with the FIFO's lock held, so it must not call the FIFO.
  std::function<void(const std::string& resource_version)> on_drained;
};

// A queue of keys, each with the ordered list of its pending deltas. Keys pop in the order
// they were first queued; a key's deltas pop together (F1, F5).
//
// The process function passed to Pop runs with the FIFO's lock held, as in client-go: so a
// Replace or Resync never reads `known_objects` while a popped key is half applied to it
// (which would lose a deletion or re-queue a stale object). It must therefore be quick and
// must not call back into the FIFO.
//
// Thread-safety: every method may be called from any thread.
class DeltaFifo : public ReflectorStore {
 public:
  explicit DeltaFifo(DeltaFifoOptions options = {});
  DeltaFifo(const DeltaFifo&) = delete;
  DeltaFifo& operator=(const DeltaFifo&) = delete;

  // Queues kAdded / kUpdated.
  void Add(ObjectPtr object) override;
  void Update(ObjectPtr object) override;
  // Queues kDeleted, unless the key is neither queued nor in `known_objects` (the deletion was
  // already reported, e.g. by a relist). Two consecutive deletions collapse into one (F2).
  void Delete(ObjectPtr object) override;
  // Queues kReplaced (or kSync) for every listed object and a tombstoned kDeleted for every
  // key queued or known but not listed (F3). The first Replace defines what HasSynced waits
  // for (F6).
  void Replace(std::vector<ObjectPtr> objects, std::string resource_version) override;
  // Records that the reflector has seen `resource_version` (a bookmark): no delta, but the
  // drained RV may advance (U5).
  void Bookmark(std::string resource_version) override;

  // Queues kSync for every known object whose key has nothing queued (F4).
  void Resync();

  // Processes one key's deltas. `is_in_initial_list` is true while the first Replace's
  // items are still being popped (I2).
  using ProcessFunc = std::function<absl::Status(const Deltas& deltas, bool is_in_initial_list)>;

  // Blocks until a key is queued, then hands all its deltas to `process` (with the lock held)
  // and returns what it returned. On an error the deltas go back to the end of the queue; no
  // delta for that key can have arrived meanwhile (enqueuers wait for the lock), so nothing
  // supersedes them (F5). Cancelled once the FIFO is closed, at once, even with keys queued
  // (F7).
  absl::Status Pop(const ProcessFunc& process);

  // Makes every current and future Pop return Cancelled (F7) and drops what is queued.
  // Idempotent.
  void Close();
  bool IsClosed() const;

  // True once every key queued by the first Replace (and anything queued before it) has been
  // popped and processed (F6). Lock-free.
  bool HasSynced() const { return synced_.load(std::memory_order_acquire); }

  // Queued keys in pop order.
  std::vector<std::string> ListKeys() const;
  // The deltas queued for `key` (empty when none).
  Deltas GetDeltas(absl::string_view key) const;
  // Number of queued keys.
  size_t Size() const;

  // The newest resourceVersion enqueued (events, lists and bookmarks); "" before any.
  std::string NewestResourceVersion() const;
  // The newest resourceVersion whose deltas have all been processed; "" before any.
  std::string DrainedResourceVersion() const;

 private:
  void QueueLocked(DeltaType type, DeltaObject object, std::string resource_version)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void NoteResourceVersionLocked(const std::string& resource_version)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Reports the newest RV as drained when the queue is empty.
  void MaybeDrainedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UpdateSyncedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const DeltaFifoOptions options_;
  mutable absl::Mutex mu_;
  std::deque<std::string> queue_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Deltas> items_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool populated_ ABSL_GUARDED_BY(mu_) = false;  // the first Replace happened
  size_t initial_population_count_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<bool> synced_{false};
  std::string newest_rv_ ABSL_GUARDED_BY(mu_);
  uint64_t newest_rv_number_ ABSL_GUARDED_BY(mu_) = 0;
  std::string drained_rv_ ABSL_GUARDED_BY(mu_);
  uint64_t drained_rv_number_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace informer

#endif  // INFORMER_DELTA_FIFO_H_
