// One subscriber's cursor over an informer's cache and history: what to send it next.
#ifndef SERVER_SUBSCRIPTION_H_
#define SERVER_SUBSCRIPTION_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "informer/history.h"
#include "informer/object.h"
#include "informer/selector.h"
#include "informer/shared_informer.h"
#include "server/field_mask.h"

namespace informer {
namespace server {

// A FIFO queue that holds no storage until its first element and gives it back on Release.
// libstdc++'s std::deque allocates its map and a 512-byte block even when empty (~600 bytes
// each); a subscription keeps four queues, which a thousand subscribers that rarely or never
// see a change would hold for nothing.
template <typename T>
class LazyQueue {
 public:
  bool empty() const { return !items_.has_value() || items_->empty(); }
  size_t size() const { return items_.has_value() ? items_->size() : 0; }
  T& front() { return items_->front(); }
  T& operator[](size_t i) { return (*items_)[i]; }
  void pop_front() { items_->pop_front(); }
  void push_back(T item) { storage().push_back(std::move(item)); }
  // The elements in order; allocates when there is none yet.
  std::deque<T>& storage() {
    if (!items_.has_value()) items_.emplace();
    return *items_;
  }
  void Release() { items_.reset(); }

 private:
  std::optional<std::deque<T>> items_;
};

// What a subscriber asked for (SubscribeRequest without the resource).
struct SubscriptionRequest {
  ObjectFilter filter;
  // Resume after this resourceVersion; empty = fresh, or from known_objects.
  std::string resource_version;
  // Key -> resourceVersion of the objects the subscriber holds; must be empty with
  // resource_version. Read by Subscription::Create for the start's diff, not kept.
  absl::flat_hash_map<std::string, std::string> known_objects;
  bool include_old_object = false;
  // Prune every object sent to this mask (FieldMask); null = whole objects. With a mask, a
  // MODIFIED whose masked object equals the masked previous state is not sent (its position
  // still advances, as for a change the selectors skip).
  std::shared_ptr<const FieldMask> fields;
};

// How far a subscriber may fall behind, and how often it hears a bookmark. The service's
// defaults; every subscriber of a server shares them.
struct SubscriberLimits {
  // Behind by more history changes than this, pending changes are coalesced per key.
  size_t soft_limit = 1000;
  // More events than this waiting to be sent after coalescing, the subscription ends with
  // ResourceExhausted. Coalescing keeps at most about one event per object, so a fast
  // subscriber survives bursts (a relist) while a stalled one is ended. Not applied while a
  // subscriber catches up with the backlog it started with (see Subscription).
  size_t hard_limit = 10000;
  // History changes read per step while not coalescing.
  size_t batch_size = 128;
  // A BOOKMARK is sent when nothing else was sent for this long.
  absl::Duration bookmark_interval = absl::Seconds(30);
  // A stream whose one write in flight has not been taken by the client's flow control for
  // this long (the client is alive but reads nothing) is cut: its quota slot and pending write
  // are freed, and the client resumes from the objects it holds. Infinite = never.
  absl::Duration write_timeout = absl::Seconds(60);
};

enum class SubscriptionEventType { kAdded, kModified, kDeleted, kBookmark, kSynced };

// One event for the subscriber, before it becomes a SubscribeResponse.
struct SubscriptionEvent {
  SubscriptionEventType type = SubscriptionEventType::kAdded;
  ObjectPtr object;      // kAdded/kModified: new state; kDeleted: last known state
  ObjectPtr old_object;  // kModified with include_old_object only
  // The position delivered once this event is processed (see the proto's contract); empty on
  // the initial objects before SYNCED.
  std::string resource_version;
  bool final_state_unknown = false;
  bool coalesced = false;
};

// Counters of one subscription, for metrics.
struct SubscriptionStats {
  uint64_t events_sent = 0;       // events returned by Next (bookmarks and SYNCED too)
  uint64_t events_coalesced = 0;  // history changes not sent on their own due to coalescing
  uint64_t coalesce_rounds = 0;   // times the subscriber was past the soft limit
  uint64_t events_unchanged = 0;  // MODIFIED changes not sent: their masked object was unchanged
};

// The server side of one Subscribe call, with no gRPC in it: it starts from a consistent cut
// (fresh, or diffed against the objects the subscriber holds) or from a position in the
// informer's EventHistory, then walks the history, evaluating the filter on the old and the
// new state of each change (start or stop matching = ADDED or DELETED), coalescing per key past
// the soft limit and ending past the hard limit. It holds no queue of its own beyond one step:
// pending changes stay in the shared history ring, so a slow subscriber costs no memory.
//
// Positions. The history is in resourceVersion order, so the position after a change is its
// version, exact on any replica. Changes that share a version (one relist) are a group: its
// events carry the position before the group, except the last, which carries the group's
// version; likewise a coalesced group carries the position delivered before it until its last
// event. So every event's resource_version is a position where the subscriber's state equals
// the server's, once the events up to it are applied. A change that is not sent (the
// selectors skip it, or its masked object did not change) moves the read position like any
// other: the next event of a later version, or the next bookmark, carries a position past it.
//
// Thread-safety: not thread-safe; the owner calls it from one thread at a time. It reads the
// informer, whose methods are thread-safe.
class Subscription {
 public:
  // Positions a subscription. InvalidArgument when both resource_version and known_objects are
  // set or resource_version is not a number; OutOfRange ("too old, resubscribe") when the
  // history cannot place resource_version (evicted, or inside a relist of this server);
  // FailedPrecondition when the informer has not synced (the caller should say UNAVAILABLE).
  // `masked` (optional, must outlive the subscription) shares masked objects of live changes
  // between subscribers with the same mask.
  static absl::StatusOr<std::unique_ptr<Subscription>> Create(
      std::shared_ptr<SharedIndexInformer> informer, SubscriptionRequest request,
      SubscriberLimits limits, absl::Time now, MaskedObjectCache* masked = nullptr);

  // The next event to send, as of `now`: true with *event filled; false when nothing is due
  // (call again after the history grows or a bookmark interval passes). ResourceExhausted when
  // the subscriber fell behind past the hard limit or out of the history ring (the message
  // says how to resume: from resume_resource_version() when that is set, else with
  // known_objects); OutOfRange when a relist of this server spans the position a subscriber
  // from another replica resumed from; Unavailable when the informer stopped.
  absl::StatusOr<bool> Next(absl::Time now, SubscriptionEvent* event);

  // The position to resume from: that of the last event returned (empty before SYNCED on a
  // fresh start), or empty once the subscription ended because the history ring moved past
  // it (then only known_objects can resume it).
  const std::string& resume_resource_version() const { return delivered_rv_; }
  // History changes not yet read plus events not yet returned (for the lag metric).
  uint64_t Lag() const;
  // The history seq of the last change read, and how many read changes or events wait to be
  // returned: Lag() is history().last_seq() - cursor() + buffered(). For observers on other
  // threads, which copy them after each Next.
  uint64_t cursor() const { return cursor_; }
  size_t buffered() const { return unread_.size() + pending_.size(); }
  // The metadata.name every object the subscriber can be sent has (its field selector fixes
  // it), or "": its stream need be woken only by changes to that name (EventHistory).
  const std::string& only_name() const { return only_name_; }
  // The namespace the subscriber follows ("" = all), for logs.
  const std::string& namespace_name() const { return request_.filter.namespace_name; }
  // Whether every initial object (and SYNCED) has been returned.
  bool initial_done() const { return !synced_pending_; }
  const SubscriptionStats& stats() const { return stats_; }
  // When Next will send a bookmark if nothing else is sent before (as of the last Next).
  absl::Time next_bookmark() const { return last_sent_ + limits_.bookmark_interval; }
  const std::shared_ptr<SharedIndexInformer>& informer_shared() const { return informer_; }

 private:
  Subscription(std::shared_ptr<SharedIndexInformer> informer, SubscriptionRequest request,
               SubscriberLimits limits, MaskedObjectCache* masked);

  // Fills the initial state from one cut: every match (fresh) or the diff against `known`
  // (the request's known_objects, which the subscription does not keep: a reconnecting client
  // may hold tens of thousands of objects, and its map is needed only for this diff).
  void StartFromCut(const absl::flat_hash_map<std::string, std::string>& known);
  // Moves the next initial event (objects, deletions, SYNCED) into `event`; !initial_done().
  void TakeInitial(SubscriptionEvent* event);
  // The subscriber's view of one change, or false when it does not concern it (then
  // `*unchanged`, when given, says whether that is because its masked object did not change).
  bool Translate(const HistoryEvent& change, SubscriptionEvent* out,
                 bool* unchanged = nullptr) const;
  // Translate before the mask: which event the selectors make of the change.
  bool TranslateUnmasked(const HistoryEvent& change, SubscriptionEvent* out) const;
  // `object` masked by request_.fields (from masked_ when set); null when it cannot be.
  MaskedObjectPtr Mask(const ObjectPtr& object, bool with_content) const;
  // OutOfRange when `change` is part of a relist that spans skip_through_ (see Next).
  absl::Status CheckRelistSpan(const HistoryEvent& change) const;
  // Reads the next step of history into pending_ (coalesced when behind). Returns false when
  // there is nothing new.
  absl::StatusOr<bool> Refill();
  // Translates the changes at the front of unread_ that share one version and queues them.
  absl::Status TakeGroup();
  // Translates `changes` and merges them into pending_ per key (latest state wins, deletions
  // kept, an unsent ADDED and its DELETED both dropped).
  absl::Status Coalesce(const std::vector<HistoryEvent>& changes);
  // Reads changes after cursor_ into `out`: at least `max` when there are, and on to the end of
  // the last one's version. ResourceExhausted when changes it wanted left the ring.
  absl::Status Read(size_t max, std::vector<HistoryEvent>* out);
  // With only_name_ set and no change to that name evicted after cursor_: moves cursor_ past
  // the evicted changes (none concerned the subscriber) and returns true.
  bool SkipEvictedUnconcerned();
  // Runs `read` (a read of the history after cursor_), moving past evicted changes of other
  // names when only_name_ is set; ResourceExhausted when changes it wanted left the ring.
  absl::Status ReadRetryingEvicted(const std::function<absl::Status()>& read);
  // For a subscription of one name, with unread_ empty: reads on from cursor_, skipping under
  // the history's lock the changes to other names, and queues its name's changes in unread_.
  absl::Status ReadOwnName();
  // Moves the read position to `version` when newer.
  void ReadThrough(uint64_t version);
  // When nothing is left to read: the read position may move to the history's head version
  // (bookmarks of the API server move it with no change).
  void CatchUpWithHead();
  // How to end a subscriber that fell behind: from its position when the ring still holds it,
  // else (and when `ring_moved`) with known_objects.
  absl::Status Exhausted(absl::string_view why, bool ring_moved);
  // Marks `event` as returned at `now`.
  void Sent(absl::Time now, SubscriptionEvent* event);

  std::shared_ptr<SharedIndexInformer> informer_;
  const SubscriptionRequest request_;
  const SubscriberLimits limits_;
  const std::string only_name_;      // see only_name()
  MaskedObjectCache* const masked_;  // may be null

  // The initial state still to return, released as returned (a deque frees each block once it
  // is read), so a subscription holds 24 bytes per object it has not been sent, and no storage
  // at all once SYNCED is returned: first the cut's matching objects in key order (MODIFIED
  // when the client holds an older version, else ADDED), then the known keys gone (DELETED,
  // final state unknown), then SYNCED at synced_rv_.
  struct InitialObject {
    ObjectPtr object;
    bool client_holds_older = false;
  };
  LazyQueue<InitialObject> initial_objects_;
  LazyQueue<ObjectPtr> initial_deletions_;  // key-only objects
  std::string synced_rv_;
  bool synced_pending_ = false;

  uint64_t cursor_ = 0;  // history seq of the last change read
  // The subscriber is catching up with the backlog it started with (a resume's replay, or the
  // changes made while its initial objects were sent) until it has read through this seq and
  // sent everything read; the hard limit applies only after that, so a subscriber that keeps
  // up can always resume however far behind it restarts (the ring still bounds it).
  uint64_t catch_up_seq_ = 0;
  bool caught_up_ = false;
  // Resumed from a position newer than this server's head (from a replica that is ahead):
  // changes up to this version are skipped as they arrive. 0 otherwise.
  uint64_t skip_through_ = 0;
  // The position once every change read so far is delivered, and the position the last
  // queued (pending or returned) event carries.
  uint64_t read_version_ = 0;
  std::string read_rv_;
  std::string tail_rv_;
  std::string delivered_rv_;  // the position of the last event returned
  bool group_closed_ = true;  // the last event returned closed its group
  // History read but not yet translated, in history order. Both queues take storage with their
  // first change (a subscriber of a few objects may never get one) and keep it.
  LazyQueue<HistoryEvent> unread_;
  // Translated events ready to return.
  LazyQueue<SubscriptionEvent> pending_;
  absl::Time last_sent_;
  SubscriptionStats stats_;
};

}  // namespace server
}  // namespace informer

#endif  // SERVER_SUBSCRIPTION_H_
