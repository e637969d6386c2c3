#include "informer/shared_informer.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "informer/clock.h"
#include "informer/delta_fifo.h"
#include "informer/object_decoder.h"
#include "informer/processor.h"
#include "informer/reflector.h"
#include "informer/status_macros.h"

namespace informer {
namespace {

// With no handler due for a resync, the resync loop still wakes this often to notice
// handlers added meanwhile.
constexpr absl::Duration kIdleResyncCheck = absl::Seconds(1);

Indexers WithNamespaceIndex(Indexers indexers) {
  indexers.try_emplace(kNamespaceIndex, MetaNamespaceIndexFunc);
  return indexers;
}

}  // namespace

// Lock order: the FIFO's lock (held while a key's deltas are processed) > cut_mu_ > the
// store's, history's, processor's and listeners' locks. Nothing holding cut_mu_ calls the
// FIFO.
class SharedIndexInformer::Impl {
 public:
  Impl(std::shared_ptr<ListerWatcher> lister_watcher, InformerOptions options)
      : options_(std::move(options)),
        clock_(options_.clock != nullptr ? options_.clock : RealClock::Get()),
        decoder_(options_.resource, options_.transforms),
        store_(WithNamespaceIndex(options_.indexers)),
        history_(options_.history),
        fifo_(std::make_shared<DeltaFifo>(DeltaFifoOptions{
            &store_, /*emit_replaced=*/true, [this](const std::string& rv) { OnDrained(rv); }})) {
    ReflectorConfig config;
    config.options = options_.reflector;
    config.label_selector = options_.label_selector;
    config.field_selector = options_.field_selector;
    config.clock = clock_;
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
    cut_mu_.AwaitWithDeadline(absl::Condition(&done), deadline);
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
    cut_mu_.AwaitWithDeadline(absl::Condition(&done), deadline);
    if (stopped_) return absl::CancelledError("the informer was stopped");
    if (reflected_rv_number_ >= wanted) return absl::OkStatus();
    return absl::DeadlineExceededError(absl::StrCat(
        "the cache of ", options_.resource.gvr.ToString(), " reflects ",
        reflected_rv_.empty() ? "nothing yet" : reflected_rv_, ", not yet resourceVersion ", rv));
  }

  absl::StatusOr<std::shared_ptr<HandlerRegistration>> AddEventHandler(
      std::shared_ptr<ResourceEventHandler> handler, absl::Duration resync_period) {
    if (handler == nullptr) return absl::InvalidArgumentError("handler is null");
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

  InformerSnapshot Snapshot() const {
    InformerSnapshot snapshot;
    absl::MutexLock lock(&cut_mu_);
    snapshot.objects = store_.List();
    snapshot.history_seq = history_.last_seq();
    snapshot.resource_version = reflected_rv_;
    return snapshot;
  }

  const Store& store() const { return store_; }
  const EventHistory& history() const { return history_; }
  const InformerOptions& options() const { return options_; }
  InformerStats stats() const { return reflector_->stats(); }

 private:
  // Applies one key's deltas to the store, the history and the handlers as one cut (I1).
  // Runs on the process thread with the FIFO's lock held.
  absl::Status ProcessDeltas(const Deltas& deltas, bool is_in_initial_list) {
    absl::MutexLock lock(&cut_mu_);
    for (const Delta& delta : deltas) {
      if (delta.type == DeltaType::kDeleted) {
        const std::string& key = KeyOf(delta.object);
        ObjectPtr old = store_.GetByKey(key);
        // Nothing to delete: no handler was told of the object, so none is told it went.
        if (old == nullptr) continue;
        store_.Delete(key);
        HistoryEvent event;
        event.type = EventType::kDeleted;
        event.object = ObjectOf(delta.object);
        event.resource_version = delta.resource_version;
        event.final_state_unknown = std::holds_alternative<DeletedFinalStateUnknown>(delta.object);
        AppendLocked(std::move(event));
        processor_.Distribute(HandlerNotification::Delete(delta.object), /*is_sync=*/false);
        continue;
      }
      // Added, Updated, Replaced and Sync all carry the object itself.
      const ObjectPtr& object = ObjectOf(delta.object);
      ObjectPtr old = store_.GetByKey(object->key());
      if (old != nullptr) {
        store_.Update(object);
        const bool unchanged = old->meta().resource_version == object->meta().resource_version;
        const bool resync_like =
            delta.type == DeltaType::kSync || delta.type == DeltaType::kReplaced;
        // A resync, or a relist of an unchanged object, changes nothing a subscriber must see.
        if (!(resync_like && unchanged)) {
          HistoryEvent event;
          event.type = EventType::kModified;
          event.object = object;
          event.old_object = old;
          event.resource_version = delta.resource_version;
          AppendLocked(std::move(event));
        }
        // As client-go: only handlers due for a resync see those (I5).
        const bool is_sync =
            delta.type == DeltaType::kSync || (delta.type == DeltaType::kReplaced && unchanged);
        processor_.Distribute(HandlerNotification::Update(std::move(old), object), is_sync);
      } else {
        store_.Add(object);
        HistoryEvent event;
        event.type = EventType::kAdded;
        event.object = object;
        event.resource_version = delta.resource_version;
        AppendLocked(std::move(event));
        processor_.Distribute(HandlerNotification::Add(object, is_in_initial_list),
                              /*is_sync=*/false);
      }
    }
    return absl::OkStatus();
  }

  // Appends a change the store just took to the history, after telling the history the
  // cache's new size so the ring's proportional bound follows it (HistoryOptions).
  void AppendLocked(HistoryEvent event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(cut_mu_) {
    history_.SetCacheBytes(store_.ApproximateBytes());
    history_.AppendWithoutNotify(std::move(event));
    history_dirty_ = true;
  }

  // The FIFO drained: the cache now reflects `rv` (U5). Runs with the FIFO's lock held.
  void OnDrained(const std::string& rv) {
    uint64_t number = 0;
    if (!absl::SimpleAtoi(rv, &number)) return;
    absl::MutexLock lock(&cut_mu_);
    if (number > reflected_rv_number_) {
      reflected_rv_number_ = number;
      reflected_rv_mirror_.store(number, std::memory_order_release);
      reflected_rv_ = rv;
    }
    // An empty first list syncs without anything to pop; record it here too.
    if (fifo_->HasSynced()) synced_ = true;
  }

  void OnAttempt(const absl::Status& status) {
    std::function<void(const absl::Status&)> handler;
    {
      absl::MutexLock lock(&error_mu_);
      last_error_ = status;
      if (!status.ok()) handler = watch_error_handler_;
    }
    if (handler) handler(status);
  }

  void ProcessLoop() {
    bool synced = false;
    for (;;) {
      absl::Status status = fifo_->Pop(
          [this](const Deltas& deltas, bool initial) { return ProcessDeltas(deltas, initial); });
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
      const absl::Time now = clock_->Now();
      absl::Time wake = std::min(processor_.NextResync(), now + kIdleResyncCheck);
      if (options_.resync_period > absl::ZeroDuration()) {
        wake = std::min(wake, now + options_.resync_period);
      }
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
  const std::shared_ptr<DeltaFifo> fifo_;
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
  uint64_t reflected_rv_number_ ABSL_GUARDED_BY(cut_mu_) = 0;
  // Copies of stopped_ and reflected_rv_number_ written under cut_mu_, for lock-free readers.
  std::atomic<bool> stopped_mirror_{false};
  std::atomic<uint64_t> reflected_rv_mirror_{0};

  mutable absl::Mutex error_mu_;
  absl::Status last_error_ ABSL_GUARDED_BY(error_mu_);
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
const Store& SharedIndexInformer::store() const { return impl_->store(); }
const EventHistory& SharedIndexInformer::history() const { return impl_->history(); }
InformerSnapshot SharedIndexInformer::Snapshot() const { return impl_->Snapshot(); }
const ResourceInfo& SharedIndexInformer::resource() const { return impl_->options().resource; }
const InformerOptions& SharedIndexInformer::options() const { return impl_->options(); }
InformerStats SharedIndexInformer::stats() const { return impl_->stats(); }

}  // namespace informer
