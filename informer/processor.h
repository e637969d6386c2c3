// Fan-out of an informer's notifications to its handlers, each on its own thread (I4).
#ifndef INFORMER_PROCESSOR_H_
#define INFORMER_PROCESSOR_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "informer/event_handler.h"
#include "informer/object.h"

namespace informer {

// One call to make on a handler.
struct HandlerNotification {
  enum class Kind { kAdd, kUpdate, kDelete };
  Kind kind = Kind::kAdd;
  ObjectPtr old_object;             // kUpdate: the previous state
  ObjectPtr object;                 // kAdd / kUpdate: the new state
  DeltaObject deleted;              // kDelete: last state or tombstone
  bool is_in_initial_list = false;  // kAdd (I2)

  static HandlerNotification Add(ObjectPtr object, bool is_in_initial_list);
  static HandlerNotification Update(ObjectPtr old_object, ObjectPtr object);
  static HandlerNotification Delete(DeltaObject deleted);
};

// One registered handler: an unbounded buffer drained by its own thread, so a slow handler
// delays no other (I4) and the informer never waits for a handler. Its registration's
// HasSynced is true once the informer has synced and every initial-list add queued for the
// handler has been handled (I6).
//
// Thread-safety: every method may be called from any thread.
class ProcessorListener : public HandlerRegistration,
                          public std::enable_shared_from_this<ProcessorListener> {
 public:
  // `upstream_synced` reports whether the informer has synced; it must be cheap and
  // lock-free. `resync_period` 0 = no resyncs; the first is due at `now + resync_period`.
  ProcessorListener(std::shared_ptr<ResourceEventHandler> handler, absl::Duration resync_period,
                    absl::Time now, std::function<bool()> upstream_synced);
  // Joins the delivery thread (or detaches it when run from that very thread).
  ~ProcessorListener() override;

  // Starts the delivery thread. No-op when started or stopped.
  void Start();
  // Queues a notification; never blocks on the handler. Dropped after Stop.
  void Add(HandlerNotification notification);
  // Ends delivery: drops what is still buffered and waits until the handler is not running,
  // unless called from the handler itself. Idempotent.
  void Stop();

  bool HasSynced() const override;

  // Notifications buffered, not yet handed to the handler.
  size_t pending() const;

  // Resync bookkeeping (I5), called by the SharedProcessor with its lock held.
  absl::Duration resync_period() const { return resync_period_; }
  // True when a resync is due at `now`; then schedules the next one.
  bool DueForResync(absl::Time now);
  // When the next resync is due (InfiniteFuture when it never is).
  absl::Time next_resync() const;

 private:
  void Run();

  const std::shared_ptr<ResourceEventHandler> handler_;
  const absl::Duration resync_period_;
  const std::function<bool()> upstream_synced_;

  mutable absl::Mutex mu_;
  std::deque<HandlerNotification> buffer_ ABSL_GUARDED_BY(mu_);
  // Initial-list adds queued and not yet handled.
  uint64_t initial_pending_ ABSL_GUARDED_BY(mu_) = 0;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time next_resync_ ABSL_GUARDED_BY(mu_);
  std::thread thread_ ABSL_GUARDED_BY(mu_);
};

// Every handler of one informer (client-go's sharedProcessor).
//
// Thread-safety: every method may be called from any thread; Distribute and ShouldResync
// are called by the informer's process loop.
class SharedProcessor {
 public:
  SharedProcessor() = default;
  // Stops every listener.
  ~SharedProcessor();
  SharedProcessor(const SharedProcessor&) = delete;
  SharedProcessor& operator=(const SharedProcessor&) = delete;

  // Registers a listener (the caller starts it). FailedPrecondition after Stop.
  absl::Status AddListener(std::shared_ptr<ProcessorListener> listener);
  // Unregisters and stops it. OK also when it is not (or no longer) registered here (I17).
  absl::Status RemoveListener(const HandlerRegistration* registration);

  // Hands `notification` to every listener, or, for a sync (`is_sync`: a resync, or an update
  // that kept the resourceVersion, I14), only to those whose resync was due at the last
  // ShouldResync; listeners added since the last check count as due (I5, I10).
  void Distribute(const HandlerNotification& notification, bool is_sync);

  // Decides which listeners get the next resync: those due at `now`. True when any is.
  bool ShouldResync(absl::Time now);
  // The earliest next resync of any listener (InfiniteFuture when none resyncs).
  absl::Time NextResync() const;

  // Stops every listener and refuses new ones. Idempotent.
  void Stop();

  size_t size() const;

 private:
  mutable absl::Mutex mu_;
  std::vector<std::shared_ptr<ProcessorListener>> listeners_ ABSL_GUARDED_BY(mu_);
  std::vector<ProcessorListener*> syncing_ ABSL_GUARDED_BY(mu_);
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace informer

#endif  // INFORMER_PROCESSOR_H_
