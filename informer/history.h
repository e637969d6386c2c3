// The ring of an informer's recent changes, so the service can resume subscribers by RV.
#ifndef INFORMER_HISTORY_H_
#define INFORMER_HISTORY_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "informer/object.h"

namespace informer {

enum class EventType { kAdded, kModified, kDeleted };

// One change applied to the store, in the order the informer applied it.
struct HistoryEvent {
  uint64_t seq = 0;  // position: 1, 2, 3, ... without gaps for one informer's lifetime
  EventType type = EventType::kAdded;
  ObjectPtr object;      // the new state; for kDeleted the last known state
  ObjectPtr old_object;  // kModified: the previous state; null otherwise
  // The resourceVersion this event brings the cache to: the object's RV for watch events, the
  // LIST's RV for changes a relist inferred (including tombstoned deletes).
  std::string resource_version;
  // resource_version as a number, parsed once by Append (0 when it is not a number), so
  // readers comparing positions do not parse it per reader.
  uint64_t version = 0;
  bool final_state_unknown = false;  // kDeleted inferred by a relist (a tombstone, K2)
  // True when every change at or below `version` is at or before this one in the ring: always
  // for a watch event, and for the last change of a relist (a relist's changes all carry the
  // list's resourceVersion). A reader's position may move to `version` only at such a change.
  bool completes_version = true;
  // For a change a relist inferred: the version the cache reflected before that relist (its
  // changes lead from the server's state at `relist_from` to its state at `version`; states in
  // between were never seen), or 0 when the relist started from an empty cache. Unused for
  // watch events (`from_relist` false).
  bool from_relist = false;
  uint64_t relist_from = 0;
};

// Bounds of the ring: the oldest events go when any limit is passed. Bytes are counted by
// Object::ApproximateBytes of object + old_object, including objects the cache also holds, so
// the ring's own memory is at most its count.
//
// By default the byte bound follows the cache, as the kube-apiserver's watch cache sizes
// itself by what it holds: the ring keeps at most `cache_fraction` of the cache's bytes (told
// by EventHistory::SetCacheBytes), but never less than `min_bytes`, so a small cache still
// gets a useful resume window; `max_events` and `max_bytes` cap it in every case.
struct HistoryOptions {
  size_t max_events = 100000;
  size_t max_bytes = size_t{256} << 20;
  // Share of the cache's bytes the ring may hold; 0 = no proportional bound (only the caps).
  double cache_fraction = 0.25;
  // Floor of the proportional bound (still capped by max_bytes).
  size_t min_bytes = size_t{16} << 20;
};

// A bounded, append-only ring of HistoryEvents, in the order the informer applied them, which
// is resourceVersion order (the informer's queue is in order, F8): the position of a reader is
// therefore a resourceVersion, exact on this server and on any other following the same API
// server. The ring also knows the version its cache reflects (its head), which moves with every
// append and with bookmarks, so a reader at the end of the ring knows how far it is complete.
//
// Listeners are told of appends so readers need not poll. A listener registered for one
// object name (a subscriber whose selector fixes metadata.name) is called only after appends
// that change an object of that name: with a thousand such readers an append wakes one, not a
// thousand. Such a reader skips the other changes when it next reads (ReadNamedAfter), and
// EvictedThrough tells it whether any change of its name left the ring before it read it.
//
// Thread-safety: all methods may be called from any thread. Listeners are called after each
// Append, on the appending thread, with no lock held; they must not block.
class EventHistory {
 public:
  explicit EventHistory(HistoryOptions options = {});

  // Assigns the next seq to `event`, appends it and moves the head to its version (a watch
  // event), evicting the oldest past the bounds, then notifies. Returns the seq. For tests and
  // simple writers; the informer uses Commit.
  uint64_t Append(HistoryEvent event);
  // Appends `changes` (in order, seqs assigned here) as one step: no reader sees part of them.
  // Then the head moves to `resource_version` when that is newer (the version the cache
  // reflects after them; a bookmark or a relist without changes passes no change). The caller
  // sets completes_version and the relist fields. Does not call the listeners: the informer
  // commits while holding its own lock (store and history change as one cut) and calls
  // NotifyListeners once released. Returns the seq of the last change (last_seq()).
  uint64_t Commit(std::vector<HistoryEvent> changes, absl::string_view resource_version);
  // Calls every listener once, on this thread. Call it with no lock held.
  void NotifyListeners();
  // Tells the ring how many bytes the cache it serves holds now (Store::ApproximateBytes), for
  // the proportional bound, and evicts the oldest events past the resulting bound. Called by
  // the informer after each change to the store; before any call the cache counts as empty.
  void SetCacheBytes(size_t cache_bytes);
  // The byte bound in force now: min(max_bytes, max(min_bytes, cache_fraction × cache bytes)),
  // or max_bytes when cache_fraction is 0.
  size_t byte_limit() const;
  // Drops every retained event (an informer's Stop frees its history, I9); seq numbering
  // continues from last_seq().
  void Clear();

  // Seq of the newest event (0 when none was ever appended). Lock-free.
  uint64_t last_seq() const;
  // The end of the ring: its last seq and the version the cache reflects there (every change
  // up to `version` is at or before `seq`). Read together, under one lock.
  struct Head {
    uint64_t seq = 0;
    uint64_t version = 0;          // 0 before the first Commit with a version
    std::string resource_version;  // `version` as the server wrote it
  };
  Head head() const;
  // The head's version, lock-free.
  uint64_t head_version() const;

  // Where a reader that holds the server's state at resourceVersion `rv` resumes.
  struct ResumePoint {
    uint64_t after_seq = 0;  // read the changes after this seq
    // `rv` is newer than the head (a position from a server that is ahead of this one): the
    // changes up to `rv` that this ring will still receive must be skipped.
    bool ahead = false;
  };
  // The ring holds every change after `rv` unless: changes after it were evicted, or `rv` falls
  // inside a relist of this cache (between the version it relisted from and the list's), where
  // this server never saw the states; both are OutOfRange with a message saying which. Changes
  // after `rv` are at seqs > after_seq. InvalidArgument when `rv` is not a number.
  absl::StatusOr<ResumePoint> ResumeAfter(absl::string_view rv) const;
  // Seq of the oldest retained event (last_seq()+1 when empty).
  uint64_t first_seq() const;

  // What ReadNamedAfter looked at besides the events it returned.
  struct NamedRead {
    uint64_t through_seq = 0;  // the seq of the last event looked at
    // The version of the last event looked at that completes its version (0 when none did).
    uint64_t through_version = 0;
  };
  // As ReadAfter, but looks at up to `max_scan` events (and on to the end of the last one's
  // version) and appends to `out` only those that change an object named `name`; the others
  // are skipped without being copied.
  absl::StatusOr<NamedRead> ReadNamedAfter(uint64_t after_seq, size_t max_scan,
                                           absl::string_view name,
                                           std::vector<HistoryEvent>* out) const;

  // Appends to `out` the events with seq > `after_seq`, at most `max_events`, in order.
  // OutOfRange when events after `after_seq` were already evicted (the reader is too far
  // behind, "resubscribe"). `after_seq` may equal last_seq() (then nothing is appended).
  absl::Status ReadAfter(uint64_t after_seq, size_t max_events,
                         std::vector<HistoryEvent>* out) const;

  // The seq of the newest event evicted (or cleared) that changed an object named `name`, for
  // a reader registered with that name (AddListener): a reader whose position is at or past it
  // lost nothing it wanted when the ring moved past it. Changes evicted before the first such
  // listener registered all count (the seq before the oldest retained event at that time).
  uint64_t EvictedThrough(absl::string_view name) const;

  using ListenerId = uint64_t;
  // Registers `on_append`, called after every Append, or with `only_name` non-empty only after
  // appends that change an object of that metadata.name. Returns an id for RemoveListener.
  ListenerId AddListener(std::function<void()> on_append, std::string only_name = "");
  // After it returns, the listener is not running and will not be called again (called from
  // inside that listener, it returns without waiting for itself).
  void RemoveListener(ListenerId id);

  // Count and bytes currently held, for metrics.
  size_t size() const;
  size_t bytes() const;

 private:
  // Implementation-defined; see history.cc.
  HistoryOptions options_;
  mutable absl::Mutex mu_;
  std::deque<HistoryEvent> events_ ABSL_GUARDED_BY(mu_);
  uint64_t last_seq_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<uint64_t> last_seq_mirror_{0};  // last_seq_, for lock-free last_seq()
  uint64_t head_version_ ABSL_GUARDED_BY(mu_) = 0;
  std::string head_rv_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> head_version_mirror_{0};
  // The newest version among evicted (or cleared) changes: no reader older than it can resume.
  uint64_t evicted_version_ ABSL_GUARDED_BY(mu_) = 0;
  // Appends one change (seq, version parsed); no eviction, no head move.
  void PushLocked(HistoryEvent event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MoveHeadLocked(absl::string_view resource_version) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  size_t cache_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  size_t ByteLimitLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Evicts the oldest events past the bounds, always keeping the newest.
  void EvictLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Records that `event` leaves the ring, for EvictedThrough.
  void NoteGoneLocked(const HistoryEvent& event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Per name some listener is registered for: how many, and EvictedThrough's answer.
  struct Route {
    int listeners = 0;
    uint64_t evicted_through = 0;
  };
  absl::flat_hash_map<std::string, Route> routes_ ABSL_GUARDED_BY(mu_);
  // Names changed by appends not yet notified (recorded only while routes_ is not empty).
  std::vector<std::string> unnotified_names_ ABSL_GUARDED_BY(mu_);
  // The index in events_ of the first event after `after_seq`, or an error (see ReadAfter).
  absl::StatusOr<size_t> IndexAfterLocked(uint64_t after_seq) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  struct Listener {
    std::function<void()> on_append;
    std::string only_name;  // empty: every append
    int running = 0;        // calls in progress; guarded by listeners_mu_
  };
  absl::Mutex listeners_mu_;
  absl::flat_hash_map<ListenerId, std::shared_ptr<Listener>> listeners_
      ABSL_GUARDED_BY(listeners_mu_);
  // The listeners of every append, and those of one name, by name (subsets of listeners_).
  absl::flat_hash_map<ListenerId, std::shared_ptr<Listener>> every_append_
      ABSL_GUARDED_BY(listeners_mu_);
  absl::flat_hash_map<std::string, absl::flat_hash_map<ListenerId, std::shared_ptr<Listener>>>
      by_name_ ABSL_GUARDED_BY(listeners_mu_);
  ListenerId next_listener_id_ ABSL_GUARDED_BY(listeners_mu_) = 1;
};

}  // namespace informer

#endif  // INFORMER_HISTORY_H_
