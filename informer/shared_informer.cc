#include "informer/shared_informer.h"

#include <algorithm>
#include <atomic>
#include <optional>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "informer/clock.h"
#include "informer/object_decoder.h"
#include "informer/processor.h"
#include "informer/real_fifo.h"
#include "informer/reflector.h"
#include "informer/status_macros.h"

namespace informer {
namespace {

// With no handler due for a resync, the resync loop still wakes this often to notice
// handlers added meanwhile.
constexpr absl::Duration kIdleResyncCheck = absl::Seconds(1);
// client-go's minimumResyncPeriod (I12).
constexpr absl::Duration kMinimumResyncPeriod = absl::Seconds(1);

Indexers WithNamespaceIndex(Indexers indexers) {
  indexers.try_emplace(kNamespaceIndex, MetaNamespaceIndexFunc);
  return indexers;
}

}  // namespace

// Lock order: cut_mu_ > the store's, history's, processor's and listeners' locks. The queue's
// lock is never held while a batch is applied (RealFifo runs the process function unlocked),
// and nothing holding cut_mu_ calls the queue.
class SharedIndexInformer::Impl {
 public:
  Impl(std::shared_ptr<ListerWatcher> lister_watcher, InformerOptions options)
      : options_(std::move(options)),
        clock_(options_.clock != nullptr ? options_.clock : RealClock::Get()),
        decoder_(options_.resource, options_.transforms, options_.extracted_field_paths,
                 &options_.compression),
        store_(WithNamespaceIndex(options_.indexers)),
        history_(options_.history),
        fifo_(std::make_shared<RealFifo>()) {
    ReflectorConfig config;
    config.options = options_.reflector;
    config.label_selector = options_.label_selector;
    config.field_selector = options_.field_selector;
    config.clock = clock_;
    config.name = options_.resource.gvr.ToString();
    config.on_attempt = [this](const absl::Status& status) { OnAttempt(status); };
    reflector_ = std::make_unique<Reflector>(std::move(lister_watcher), &decoder_, fifo_.get(),
                                             std::move(config));
  }

  ~Impl() { Stop(); }

  absl::Status Run() {
    absl::MutexLock lock(&threads_mu_);
    if (IsStopped()) return absl::FailedPreconditionError("the informer is stopped");
    if (started_) return absl::FailedPreconditionError("the informer is already running");
    started_ = true;
    {
      absl::MutexLock cut_lock(&cut_mu_);
      resync_started_ = true;
    }
    reflector_->Start();
    process_thread_ = std::thread([this] { ProcessLoop(); });
    resync_thread_ = std::thread([this] { ResyncLoop(); });
    return absl::OkStatus();
  }

  void Stop() {
    absl::MutexLock stop_lock(&stop_mu_);
    {
      absl::MutexLock lock(&cut_mu_);
      if (stopped_) return;
      stopped_ = true;
      stopped_mirror_.store(true, std::memory_order_release);
    }
    stop_.Notify();
    reflector_->Stop();
    fifo_->Close();
    std::thread process_thread;
    std::thread resync_thread;
    {
      absl::MutexLock lock(&threads_mu_);
      process_thread = std::move(process_thread_);
      resync_thread = std::move(resync_thread_);
    }
    if (process_thread.joinable()) process_thread.join();
    if (resync_thread.joinable()) resync_thread.join();
    processor_.Stop();
    // client-go keeps the cache of a stopped informer; we free it (I9, U2).
    absl::MutexLock lock(&cut_mu_);
    store_.Replace({});
    history_.Clear();
  }

  bool IsStopped() const { return stopped_mirror_.load(std::memory_order_acquire); }

  bool HasSynced() const { return fifo_->HasSynced(); }

  bool WaitForSync(absl::Time deadline) const {
    absl::MutexLock lock(&cut_mu_);
    auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(cut_mu_) { return synced_ || stopped_; };
    AwaitWithMonotonicDeadline(&cut_mu_, absl::Condition(&done), MonotonicDeadline(deadline));
    return fifo_->HasSynced();
  }

  std::string LastSyncResourceVersion() const { return reflector_->LastSyncResourceVersion(); }

  absl::Status WaitForResourceVersion(absl::string_view rv, absl::Time deadline) const {
    uint64_t wanted = 0;
    if (!absl::SimpleAtoi(rv, &wanted)) {
      return absl::InvalidArgumentError(
          absl::StrCat("resourceVersion \"", rv, "\" is not a number"));
    }
    // Every subscriber asks this after each step; most often it is already true.
    if (!stopped_mirror_.load(std::memory_order_acquire) &&
        reflected_rv_mirror_.load(std::memory_order_acquire) >= wanted) {
      return absl::OkStatus();
    }
    absl::MutexLock lock(&cut_mu_);
    auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(cut_mu_) {
      return stopped_ || reflected_rv_number_ >= wanted;
    };
    AwaitWithMonotonicDeadline(&cut_mu_, absl::Condition(&done), MonotonicDeadline(deadline));
    if (stopped_) return absl::CancelledError("the informer was stopped");
    if (reflected_rv_number_ >= wanted) return absl::OkStatus();
    return absl::DeadlineExceededError(absl::StrCat(
        "the cache of ", options_.resource.gvr.ToString(), " reflects ",
        reflected_rv_.empty() ? "nothing yet" : reflected_rv_, ", not yet resourceVersion ", rv));
  }

  absl::StatusOr<std::shared_ptr<HandlerRegistration>> AddEventHandler(
      std::shared_ptr<ResourceEventHandler> handler, std::optional<absl::Duration> period) {
    if (handler == nullptr) return absl::InvalidArgumentError("handler is null");
    absl::Duration resync_period;
    {
      // client-go's AddEventHandlerWithResyncPeriod (I11, I12).
      absl::MutexLock lock(&cut_mu_);
      resync_period = period.value_or(options_.resync_period);
      if (resync_period > absl::ZeroDuration()) {
        resync_period = std::max(resync_period, kMinimumResyncPeriod);
        if (resync_period < resync_check_period_) {
          if (resync_started_) {
            resync_period = resync_check_period_;
          } else {
            resync_check_period_ = resync_period;
          }
        }
      }
    }
    // The listener outlives the informer when the caller keeps the registration, so its
    // HasSynced holds the FIFO, not `this`.
    auto listener =
        std::make_shared<ProcessorListener>(std::move(handler), resync_period, clock_->Now(),
                                            [fifo = fifo_] { return fifo->HasSynced(); });
    {
      // The apply path holds cut_mu_ while it changes the store and hands out
      // notifications, so the replay and the live events neither overlap nor leave a gap (I3).
      absl::MutexLock lock(&cut_mu_);
      if (stopped_) return absl::FailedPreconditionError("the informer is stopped");
      for (ObjectPtr& object : store_.List()) {
        listener->Add(HandlerNotification::Add(std::move(object), /*is_in_initial_list=*/true));
      }
      RETURN_IF_ERROR(processor_.AddListener(listener));
    }
    listener->Start();
    return std::shared_ptr<HandlerRegistration>(std::move(listener));
  }

  absl::Status RemoveEventHandler(const std::shared_ptr<HandlerRegistration>& registration) {
    if (registration == nullptr) return absl::NotFoundError("registration is null");
    if (IsStopped()) return absl::OkStatus();  // I17
    return processor_.RemoveListener(registration.get());
  }

  absl::Status AddIndexers(Indexers indexers) { return store_.AddIndexers(std::move(indexers)); }

  void SetWatchErrorHandler(std::function<void(const absl::Status&)> handler) {
    absl::MutexLock lock(&error_mu_);
    watch_error_handler_ = std::move(handler);
  }

  absl::Status LastError() const {
    absl::MutexLock lock(&error_mu_);
    return last_error_;
  }

  absl::Time ErrorSince() const {
    absl::MutexLock lock(&error_mu_);
    return error_since_;
  }

  std::optional<absl::Duration> FailingFor() const {
    const absl::Time since = ErrorSince();
    if (since == absl::InfiniteFuture()) return std::nullopt;
    return std::max(absl::ZeroDuration(), clock_->Now() - since);
  }

  InformerSnapshot Snapshot(absl::Span<const std::string> namespaces,
                            const ObjectFilter* filter) const {
    InformerSnapshot snapshot;
    absl::MutexLock lock(&cut_mu_);
    snapshot.objects = filter == nullptr ? store_.ListNamespaces(namespaces)
                                         : store_.Candidates(namespaces, *filter);
    snapshot.history_seq = history_.last_seq();
    snapshot.resource_version = reflected_rv_;
    return snapshot;
  }

  const Store& store() const { return store_; }
  const EventHistory& history() const { return history_; }
  const InformerOptions& options() const { return options_; }
  InformerStats stats() const { return reflector_->stats(); }

 private:
  // Applies one batch of the queue (in server order, F8) to the store, the history and the
  // handlers as one cut: readers see all of it or none, and the history commits it in one step.
  // Runs on the process thread.
  absl::Status ApplyBatch(std::vector<QueueItem>& batch, bool is_in_initial_list) {
    absl::MutexLock lock(&cut_mu_);
    std::vector<HistoryEvent> changes;
    std::string reflected = reflected_rv_;
    for (QueueItem& item : batch) {
      switch (item.kind) {
        case QueueItem::Kind::kAdded:
        case QueueItem::Kind::kUpdated:
          ApplyUpsertLocked(item.object, is_in_initial_list, &changes);
          break;
        case QueueItem::Kind::kDeleted:
          ApplyDeleteLocked(item.object, &changes);
          break;
        case QueueItem::Kind::kReplace:
          ApplyReplaceLocked(std::move(item.objects), item.resource_version, is_in_initial_list,
                             &changes);
          break;
        case QueueItem::Kind::kBookmark:
          break;
        case QueueItem::Kind::kResync:
          // Every cached object in its state at this point of the stream (F11); only handlers
          // due for a resync get it (I5). Not a change: nothing for the history.
          for (ObjectPtr& object : store_.List()) {
            Notify(HandlerNotification::Update(object, object), /*is_sync=*/true);
          }
          break;
      }
      if (!item.resource_version.empty()) reflected = item.resource_version;
    }
    if (!changes.empty()) {
      history_.SetCacheBytes(store_.ApproximateBytes());
      history_dirty_ = true;
    }
    history_.Commit(std::move(changes), reflected);
    // Progress without a change (a bookmark) also wakes the history's listeners, e.g. calls
    // waiting for a min_resource_version.
    if (SetReflectedLocked(reflected)) history_dirty_ = true;
    // Handlers hear of the batch once the store and the history both hold it (F10).
    for (auto& [notification, is_sync] : pending_notifications_) {
      processor_.Distribute(notification, is_sync);
    }
    pending_notifications_.clear();
    return absl::OkStatus();
  }

  // A watch ADDED or MODIFIED (I1): update or add, whatever the event's type said.
  void ApplyUpsertLocked(const ObjectPtr& object, bool is_in_initial_list,
                         std::vector<HistoryEvent>* changes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(cut_mu_) {
    ObjectPtr old = store_.GetByKey(object->key());
    if (old != nullptr) {
      store_.Update(object);
      const bool unchanged = old->meta().resource_version == object->meta().resource_version;
      if (!unchanged) changes->push_back(Change(EventType::kModified, object, old));
      // An update that does not change the resourceVersion counts as a sync (I14).
      Notify(HandlerNotification::Update(std::move(old), object), unchanged);
      return;
    }
    store_.Add(object);
    changes->push_back(Change(EventType::kAdded, object, nullptr));
    Notify(HandlerNotification::Add(object, is_in_initial_list), false);
  }

  // A watch DELETED. Handlers hear of it even when the cache never held the object (I13);
  // subscribers only of objects they could have been sent.
  void ApplyDeleteLocked(const ObjectPtr& object, std::vector<HistoryEvent>* changes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(cut_mu_) {
    if (store_.GetByKey(object->key()) != nullptr) {
      store_.Delete(object->key());
      changes->push_back(Change(EventType::kDeleted, object, nullptr));
    }
    Notify(HandlerNotification::Delete(object), false);
  }

  // A (re)list, as one step (F9, F10): the cache becomes exactly `objects`; handlers hear first
  // of the objects that vanished (tombstones), then of every listed one in list order
  // (unchanged ones as updates that count as syncs, I10); the history gets the real changes,
  // all at the list's version, marked as a relist from the version the cache reflected before.
  void ApplyReplaceLocked(std::vector<ObjectPtr> objects, const std::string& resource_version,
                          bool is_in_initial_list, std::vector<HistoryEvent>* changes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(cut_mu_) {
    // The first list leads from nothing (relist_from 0): no reader can resume from before it.
    std::vector<HistoryEvent> relist_changes;
    absl::flat_hash_set<absl::string_view> listed;
    listed.reserve(objects.size());
    for (const ObjectPtr& object : objects) listed.insert(object->key());
    for (ObjectPtr& old : store_.List()) {
      if (listed.contains(old->key())) continue;
      HistoryEvent change = Change(EventType::kDeleted, old, nullptr);
      change.final_state_unknown = true;
      relist_changes.push_back(std::move(change));
      const std::string key = old->key();
      Notify(HandlerNotification::Delete(DeletedFinalStateUnknown{key, std::move(old)}), false);
    }
    // Handlers hear of them after the swap: Notify defers every notification to the batch's end.
    for (const ObjectPtr& object : objects) {
      ObjectPtr old = store_.GetByKey(object->key());
      if (old == nullptr) {
        relist_changes.push_back(Change(EventType::kAdded, object, nullptr));
        Notify(HandlerNotification::Add(object, is_in_initial_list), false);
        continue;
      }
      const bool unchanged = old->meta().resource_version == object->meta().resource_version;
      if (!unchanged) relist_changes.push_back(Change(EventType::kModified, object, old));
      Notify(HandlerNotification::Update(std::move(old), object), unchanged);
    }
    store_.Replace(std::move(objects));
    uint64_t from = 0;
    absl::SimpleAtoi(reflected_rv_, &from);
    for (HistoryEvent& change : relist_changes) {
      change.resource_version = resource_version;
      change.completes_version = false;
      change.from_relist = true;
      change.relist_from = from;
    }
    if (!relist_changes.empty()) relist_changes.back().completes_version = true;
    for (HistoryEvent& change : relist_changes) changes->push_back(std::move(change));
  }

  // Queues a notification for the handlers, handed out at the end of the batch.
  void Notify(HandlerNotification notification, bool is_sync)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(cut_mu_) {
    pending_notifications_.emplace_back(std::move(notification), is_sync);
  }

  static HistoryEvent Change(EventType type, ObjectPtr object, ObjectPtr old) {
    HistoryEvent change;
    change.type = type;
    change.resource_version = object->meta().resource_version;
    change.object = std::move(object);
    change.old_object = std::move(old);
    return change;
  }

  // The cache now reflects `rv` (I16, U5). Returns whether that is newer than before.
  bool SetReflectedLocked(const std::string& rv) ABSL_EXCLUSIVE_LOCKS_REQUIRED(cut_mu_) {
    uint64_t number = 0;
    if (!absl::SimpleAtoi(rv, &number) || number <= reflected_rv_number_) return false;
    reflected_rv_number_ = number;
    reflected_rv_mirror_.store(number, std::memory_order_release);
    reflected_rv_ = rv;
    return true;
  }

  void OnAttempt(const absl::Status& status) {
    std::function<void(const absl::Status&)> handler;
    {
      absl::MutexLock lock(&error_mu_);
      if (status.ok()) {
        error_since_ = absl::InfiniteFuture();
      } else if (last_error_.ok()) {
        error_since_ = clock_->Now();
      }
      last_error_ = status;
      if (!status.ok()) handler = watch_error_handler_;
    }
    if (handler) handler(status);
  }

  void ProcessLoop() {
    bool synced = false;
    for (;;) {
      absl::Status status = fifo_->Pop([this](std::vector<QueueItem>& batch, bool initial) {
        return ApplyBatch(batch, initial);
      });
      if (status.code() == absl::StatusCode::kCancelled && fifo_->IsClosed()) return;
      // History listeners run with no lock held, after the cut is complete.
      if (history_dirty_.exchange(false)) history_.NotifyListeners();
      if (!synced && fifo_->HasSynced()) {
        synced = true;
        absl::MutexLock lock(&cut_mu_);
        synced_ = true;
      }
    }
  }

  void ResyncLoop() {
    for (;;) {
      absl::Duration check_period;
      {
        absl::MutexLock lock(&cut_mu_);
        check_period = resync_check_period_;
      }
      const absl::Time now = clock_->Now();
      // An informer created with resync 0 never resyncs, whatever its handlers ask (I12).
      if (check_period <= absl::ZeroDuration()) {
        if (!clock_->SleepUntil(now + kIdleResyncCheck, stop_)) return;
        continue;
      }
      const absl::Time wake =
          std::min({processor_.NextResync(), now + kIdleResyncCheck, now + check_period});
      if (!clock_->SleepUntil(wake, stop_)) return;
      if (processor_.ShouldResync(clock_->Now())) fifo_->Resync();
    }
  }

  const InformerOptions options_;
  Clock* const clock_;
  const ObjectDecoder decoder_;
  Store store_;
  EventHistory history_;
  SharedProcessor processor_;
  const std::shared_ptr<RealFifo> fifo_;
  std::unique_ptr<Reflector> reflector_;
  std::atomic<bool> history_dirty_{false};
  absl::Notification stop_;

  absl::Mutex stop_mu_;  // serialises Stop, so every caller returns after the threads exited
  absl::Mutex threads_mu_;
  bool started_ ABSL_GUARDED_BY(threads_mu_) = false;
  std::thread process_thread_ ABSL_GUARDED_BY(threads_mu_);
  std::thread resync_thread_ ABSL_GUARDED_BY(threads_mu_);

  // The consistent cut: store changes + history appends + notifications, Snapshot and the
  // late-handler replay all hold it.
  mutable absl::Mutex cut_mu_;
  bool stopped_ ABSL_GUARDED_BY(cut_mu_) = false;
  bool synced_ ABSL_GUARDED_BY(cut_mu_) = false;
  std::string reflected_rv_ ABSL_GUARDED_BY(cut_mu_);
  std::vector<std::pair<HandlerNotification, bool>> pending_notifications_ ABSL_GUARDED_BY(cut_mu_);
  // client-go's resyncCheckPeriod: the informer's resync period, lowered by handlers added
  // before Run (I12).
  absl::Duration resync_check_period_ ABSL_GUARDED_BY(cut_mu_) = options_.resync_period;
  bool resync_started_ ABSL_GUARDED_BY(cut_mu_) = false;
  uint64_t reflected_rv_number_ ABSL_GUARDED_BY(cut_mu_) = 0;
  // Copies of stopped_ and reflected_rv_number_ written under cut_mu_, for lock-free readers.
  std::atomic<bool> stopped_mirror_{false};
  std::atomic<uint64_t> reflected_rv_mirror_{0};

  mutable absl::Mutex error_mu_;
  absl::Status last_error_ ABSL_GUARDED_BY(error_mu_);
  absl::Time error_since_ ABSL_GUARDED_BY(error_mu_) = absl::InfiniteFuture();
  std::function<void(const absl::Status&)> watch_error_handler_ ABSL_GUARDED_BY(error_mu_);
};

SharedIndexInformer::SharedIndexInformer(std::shared_ptr<ListerWatcher> lister_watcher,
                                         InformerOptions options)
    : impl_(std::make_unique<Impl>(std::move(lister_watcher), std::move(options))) {}

SharedIndexInformer::~SharedIndexInformer() { impl_->Stop(); }

absl::Status SharedIndexInformer::Run() { return impl_->Run(); }
void SharedIndexInformer::Stop() { impl_->Stop(); }
bool SharedIndexInformer::IsStopped() const { return impl_->IsStopped(); }
bool SharedIndexInformer::HasSynced() const { return impl_->HasSynced(); }
bool SharedIndexInformer::WaitForSync(absl::Time deadline) const {
  return impl_->WaitForSync(deadline);
}
std::string SharedIndexInformer::LastSyncResourceVersion() const {
  return impl_->LastSyncResourceVersion();
}
absl::Status SharedIndexInformer::WaitForResourceVersion(absl::string_view rv,
                                                         absl::Time deadline) const {
  return impl_->WaitForResourceVersion(rv, deadline);
}
absl::StatusOr<std::shared_ptr<HandlerRegistration>> SharedIndexInformer::AddEventHandler(
    std::shared_ptr<ResourceEventHandler> handler) {
  return impl_->AddEventHandler(std::move(handler), std::nullopt);
}
absl::StatusOr<std::shared_ptr<HandlerRegistration>> SharedIndexInformer::AddEventHandler(
    std::shared_ptr<ResourceEventHandler> handler, absl::Duration resync_period) {
  return impl_->AddEventHandler(std::move(handler), resync_period);
}
absl::Status SharedIndexInformer::RemoveEventHandler(
    const std::shared_ptr<HandlerRegistration>& registration) {
  return impl_->RemoveEventHandler(registration);
}
absl::Status SharedIndexInformer::AddIndexers(Indexers indexers) {
  return impl_->AddIndexers(std::move(indexers));
}
void SharedIndexInformer::SetWatchErrorHandler(std::function<void(const absl::Status&)> handler) {
  impl_->SetWatchErrorHandler(std::move(handler));
}
absl::Status SharedIndexInformer::LastError() const { return impl_->LastError(); }
absl::Time SharedIndexInformer::ErrorSince() const { return impl_->ErrorSince(); }
std::optional<absl::Duration> SharedIndexInformer::FailingFor() const {
  return impl_->FailingFor();
}
const Store& SharedIndexInformer::store() const { return impl_->store(); }
const EventHistory& SharedIndexInformer::history() const { return impl_->history(); }
InformerSnapshot SharedIndexInformer::Snapshot() const { return impl_->Snapshot({}, nullptr); }
InformerSnapshot SharedIndexInformer::Snapshot(absl::Span<const std::string> namespaces) const {
  return impl_->Snapshot(namespaces, nullptr);
}
InformerSnapshot SharedIndexInformer::Snapshot(absl::Span<const std::string> namespaces,
                                               const ObjectFilter& filter) const {
  return impl_->Snapshot(namespaces, &filter);
}
const ResourceInfo& SharedIndexInformer::resource() const { return impl_->options().resource; }
const InformerOptions& SharedIndexInformer::options() const { return impl_->options(); }
InformerStats SharedIndexInformer::stats() const { return impl_->stats(); }

}  // namespace informer
