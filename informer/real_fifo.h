// RealFifo: the in-order queue between the reflector and the informer (client-go's RealFIFO
// with atomic relists, its default since v0.33).
#ifndef INFORMER_REAL_FIFO_H_
#define INFORMER_REAL_FIFO_H_

#include <atomic>
#include <cstddef>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "informer/object.h"
#include "informer/reflector.h"

namespace informer {

// One step for the informer to apply, in the order the reflector saw it.
struct QueueItem {
  enum class Kind {
    kAdded,     // a watch event: `object`
    kUpdated,   // a watch event: `object`
    kDeleted,   // a watch event: `object`, its last state
    kReplace,   // a (re)list: `objects` is the whole content at `resource_version` (F10)
    kBookmark,  // the server has sent everything up to `resource_version` (R3)
    kResync,    // a periodic resync of the objects in the cache at its turn (F11)
  };
  Kind kind = Kind::kAdded;
  ObjectPtr object;
  std::vector<ObjectPtr> objects;
  // The version the cache reflects once this item is applied: the object's RV for watch
  // events, the list's or bookmark's RV otherwise ("" for a resync).
  std::string resource_version;
};

// "Added", "Replace", ... for logs and test messages.
const char* QueueItemKindName(QueueItem::Kind kind);

// A queue that hands every notification of the reflector to the informer in the order the
// server sent it, across objects, with no per-key merging (F8). A relist is one item holding
// the whole list, which the informer applies in one step (F9, F10); a resync is one item
// applied at its turn (F11).
//
// Pop takes a batch: consecutive watch events and bookmarks of at most `max_batch_keys`
// distinct keys, ending before a repeated key, and never spanning the end of the initial list
// (F12); a relist or a resync is a batch of its own. The process function runs WITHOUT the
// queue's lock (client-go's UnlockWhileProcessingFIFO), so the reflector never waits for the
// informer; an error from it drops the batch (F13).
//
// Thread-safety: every method may be called from any thread; Pop from one thread at a time.
class RealFifo : public ReflectorStore {
 public:
  static constexpr size_t kDefaultMaxBatchKeys = 1000;
  explicit RealFifo(size_t max_batch_keys = kDefaultMaxBatchKeys);
  RealFifo(const RealFifo&) = delete;
  RealFifo& operator=(const RealFifo&) = delete;

  // ReflectorStore: each queues one item.
  void Add(ObjectPtr object) override;
  void Update(ObjectPtr object) override;
  void Delete(ObjectPtr object) override;
  // The first Replace (with whatever was queued before it) is the initial list (F6).
  void Replace(std::vector<ObjectPtr> objects, std::string resource_version) override;
  void Bookmark(std::string resource_version) override;

  // Queues a resync, unless one is queued already.
  void Resync();

  // Applies one batch. `is_in_initial_list` is true while the initial list is applied (I2).
  using ProcessFunc =
      std::function<absl::Status(std::vector<QueueItem>& batch, bool is_in_initial_list)>;
  // Blocks until something is queued, then hands a batch to `process` (lock released) and
  // returns what it returned; the batch is gone either way (F13). Cancelled once closed (F7),
  // at once, even with items queued.
  absl::Status Pop(const ProcessFunc& process);

  // Makes every current and future Pop return Cancelled and drops what is queued. Idempotent.
  void Close();
  bool IsClosed() const;

  // True once the initial list has been queued and applied (F6). Lock-free.
  bool HasSynced() const { return synced_.load(std::memory_order_acquire); }
  // Items queued, not yet popped.
  size_t Size() const;

 private:
  void PushLocked(QueueItem item) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UpdateSyncedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const size_t max_batch_keys_;
  mutable absl::Mutex mu_;
  std::deque<QueueItem> items_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool resync_queued_ ABSL_GUARDED_BY(mu_) = false;
  // Set by the first Replace (or any event before it, as client-go does).
  bool populated_ ABSL_GUARDED_BY(mu_) = false;
  // Items of the initial list not yet applied (popped and processed).
  size_t initial_remaining_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<bool> synced_{false};  // populated_ && initial_remaining_ == 0
};

}  // namespace informer

#endif  // INFORMER_REAL_FIFO_H_
