// A client-side informer over informerd: a local read-only store and add/update/delete
// handlers, kept current through Subscribe, resuming after reconnects without loss or repeats.
#ifndef INFORMERD_INFORMER_H_
#define INFORMERD_INFORMER_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "informerd/client.h"
#include "informerd/object.h"

namespace informerd {

// Receives an informer's notifications, as client-go's ResourceEventHandler. Calls to all
// handlers of one informer come from its dispatch thread, serially, in the order the changes
// were applied, with no informer lock held. Keep them quick (hand keys to a work queue).
class ResourceEventHandler {
 public:
  virtual ~ResourceEventHandler() = default;
  // An object appeared. `is_in_initial_list` is true until the informer first synced, and for
  // the replay a handler added later gets.
  virtual void OnAdd(const ObjectPtr& obj, bool is_in_initial_list) = 0;
  // An object changed; `old_obj` is the state the informer held before.
  virtual void OnUpdate(const ObjectPtr& old_obj, const ObjectPtr& new_obj) = 0;
  // An object was deleted or stopped matching: its last state, or a tombstone when the deletion
  // was only noticed on resuming.
  virtual void OnDelete(const DeletedObject& obj) = 0;
};

// ResourceEventHandler from functions; unset ones are skipped.
struct ResourceEventHandlerFuncs : ResourceEventHandler {
  std::function<void(const ObjectPtr&, bool)> add;
  std::function<void(const ObjectPtr&, const ObjectPtr&)> update;
  std::function<void(const DeletedObject&)> del;

  void OnAdd(const ObjectPtr& obj, bool initial) override {
    if (add) add(obj, initial);
  }
  void OnUpdate(const ObjectPtr& old_obj, const ObjectPtr& new_obj) override {
    if (update) update(old_obj, new_obj);
  }
  void OnDelete(const DeletedObject& obj) override {
    if (del) del(obj);
  }
};

// An informer's local cache keyed by "namespace/name". Read-only for callers.
// Thread-safety: every method may be called from any thread.
class Store {
 public:
  // The object stored under `key`, or null.
  ObjectPtr GetByKey(const std::string& key) const;
  // The object with this namespace ("" when cluster-scoped) and name, or null.
  ObjectPtr Get(absl::string_view namespace_name, absl::string_view name) const;
  // Every object, sorted by key.
  std::vector<ObjectPtr> List() const;
  // Every key, sorted.
  std::vector<std::string> ListKeys() const;
  // Key -> resourceVersion of every object (what a resubscription sends as known_objects).
  absl::flat_hash_map<std::string, std::string> ResourceVersions() const;
  // Number of objects.
  size_t size() const;

 private:
  friend class Informer;
  // Stores `obj` under its key. REQUIRES: only the informer's reader thread writes.
  void Put(ObjectPtr obj);
  // Removes `key`.
  void Remove(const std::string& key);

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, ObjectPtr> items_ ABSL_GUARDED_BY(mu_);
};

// What an informer follows and how it retries.
struct InformerOptions {
  // Only this namespace; empty = all.
  std::string namespace_name;
  // Label and field selectors; an object that stops matching is deleted from the store.
  std::string label_selector;
  std::string field_selector;
  // A field mask: the store holds each object pruned to these paths (identity and
  // resourceVersion always kept), and a change outside them is not sent; empty = whole objects.
  std::vector<std::string> fields;
  // On a resource informerd starts on demand, each subscription waits for its first sync
  // (within informerd's --max_wait) instead of failing Unavailable and backing off.
  bool wait_for_sync = false;
  // First wait before resubscribing after a failure; doubles per failure up to max_backoff and
  // resets once a subscription delivers events again. Waits are jittered by +-20%.
  absl::Duration initial_backoff = absl::Milliseconds(250);
  absl::Duration max_backoff = absl::Seconds(30);
  // A stream that delivers nothing (no event, no bookmark) for two of the bookmark intervals
  // the server announces (`informer-bookmark-interval-ms`) is presumed dead, as a server or
  // path that vanished without closing the connection: it is cancelled and the informer
  // resubscribes (on the client's next replica when it has several). When the server announces
  // no interval, this silence ends the stream instead. Zero = never.
  absl::Duration silence_timeout = absl::Seconds(60);
  // Sees every error that ended a subscription (the informer retries regardless); default:
  // a line on stderr.
  std::function<void(const absl::Status&)> on_error;
};

// Subscriptions by how they started, and events received.
struct InformerStats {
  int64_t fresh_starts = 0;
  int64_t known_objects_starts = 0;
  int64_t resource_version_starts = 0;
  int64_t failures = 0;
  // Streams the informer cancelled because informerd sent nothing for too long.
  int64_t silent_streams = 0;
  int64_t events = 0;
};

// Identifies a handler added with AddEventHandler.
class HandlerRegistration {
 public:
  // True once the handler has been handed every initial object (or its replay).
  bool HasSynced() const;

 private:
  friend class Informer;
  explicit HandlerRegistration(std::shared_ptr<ResourceEventHandler> handler)
      : handler_(std::move(handler)) {}
  const std::shared_ptr<ResourceEventHandler> handler_;
  mutable absl::Mutex mu_;
  bool active_ ABSL_GUARDED_BY(mu_) = false;   // gets live notifications
  bool removed_ ABSL_GUARDED_BY(mu_) = false;  // RemoveEventHandler was called
  bool synced_ ABSL_GUARDED_BY(mu_) = false;
};

// Follows one resource through informerd, as client-go's SharedIndexInformer: a local Store and
// handlers, while the LIST and WATCH happen once, in informerd. After a stream breaks (informerd
// restarted, connection lost) it resubscribes with exponential backoff, sending the
// resourceVersion of every object it holds, so the server sends only what changed meanwhile:
// each change reaches the handlers once, none lost, none repeated. After RESOURCE_EXHAUSTED it
// resumes from the last position instead.
//
// Three threads: a reader applies events to the store and queues notifications; a dispatcher
// calls the handlers (so a slow handler never holds up the stream; the queue between them is
// unbounded, as client-go's); a watchdog cancels a stream that has been silent too long.
//
// Thread-safety: every method may be called from any thread, except from a handler: Stop.
class Informer {
 public:
  // An informer of `resource` (kubectl-style: "configmaps", "deployments.apps").
  Informer(std::shared_ptr<Client> client, std::string resource, InformerOptions options = {});
  // Stops.
  ~Informer();
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  // Registers `handler`. If the informer holds objects, the handler first gets OnAdd(obj, true)
  // for each, as one consistent snapshot, before any later change.
  std::shared_ptr<HandlerRegistration> AddEventHandler(
      std::shared_ptr<ResourceEventHandler> handler);
  // Stops calls to that handler (at most the call in progress still completes).
  void RemoveEventHandler(const std::shared_ptr<HandlerRegistration>& registration);

  // Starts the threads. Call once.
  void Start();
  // Ends the subscription, then the threads; pending notifications are dropped. Idempotent.
  void Stop();

  // True once the first subscription delivered every initial object; stays true.
  bool HasSynced() const;
  // Waits until HasSynced or `timeout`; returns HasSynced.
  bool WaitForSync(absl::Duration timeout) const;
  // The local cache.
  const Store& store() const { return store_; }
  // A copy of the counters.
  InformerStats stats() const;

 private:
  // One unit of work for the dispatcher.
  struct Notification {
    enum class Kind { kAdd, kUpdate, kDelete, kReplay, kSynced };
    Kind kind = Kind::kAdd;
    ObjectPtr old_obj;
    ObjectPtr obj;
    DeletedObject deleted;
    bool initial = false;
    // kReplay: the late handler and the store as it was when it registered.
    std::shared_ptr<HandlerRegistration> registration;
    std::vector<ObjectPtr> snapshot;
  };
  // How one subscription ended.
  struct Outcome {
    absl::Status status;
    bool progressed = false;
    std::string resume_rv;
    size_t replica = 0;  // the client's replica the stream ran on
  };
  using SteadyTime = std::chrono::steady_clock::time_point;

  // The reader thread: subscribe, apply, back off, resubscribe until Stop.
  void Run();
  // One Subscribe call to its end, from `resume_rv` or the store's objects.
  Outcome Subscribe(const std::string& resume_rv);
  // Applies one event to the store and queues its notifications.
  void Apply(const informer::v1::SubscribeResponse& event);
  // The dispatcher thread.
  void Dispatch();
  // Whether the dispatcher has work or must stop.
  bool DispatchReadyLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Calls one notification's handlers (those registered when it was taken), no lock held.
  void Deliver(Notification& n, const std::vector<std::shared_ptr<HandlerRegistration>>& handlers);
  // Sleeps `d` or until Stop; false when stopping.
  bool SleepUnlessStopped(absl::Duration d);
  // The watchdog thread: until Stop, checks the stream in flight for silence.
  void Watch();
  // Cancels the stream in flight if it has been silent for its limit; returns how long to wait
  // before the next check.
  std::chrono::milliseconds CheckSilence();

  const std::shared_ptr<Client> client_;
  const std::string resource_;
  const InformerOptions options_;
  Store store_;

  mutable absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool synced_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* call_ ABSL_GUARDED_BY(mu_) = nullptr;  // the Subscribe in flight
  // When the stream in flight last delivered something (or started), how long it may be
  // silent, and whether the watchdog cancelled it.
  SteadyTime last_heard_ ABSL_GUARDED_BY(mu_);
  absl::Duration silence_limit_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
  bool silenced_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<Notification> queue_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<HandlerRegistration>> handlers_ ABSL_GUARDED_BY(mu_);
  InformerStats stats_ ABSL_GUARDED_BY(mu_);
  absl::Mutex join_mu_;  // one Stop joins the threads; a concurrent one waits for it
  std::thread reader_;
  std::thread dispatcher_;
  std::thread watchdog_;
  // The watchdog's sleep, on the steady clock (a wall-clock step neither fires nor stalls it).
  std::mutex watchdog_mu_;
  std::condition_variable watchdog_wake_;
  bool watchdog_stop_ = false;  // guarded by watchdog_mu_
};

}  // namespace informerd

#endif  // INFORMERD_INFORMER_H_
