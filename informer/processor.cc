#include "informer/processor.h"

#include <algorithm>
#include <utility>

namespace informer {

HandlerNotification HandlerNotification::Add(ObjectPtr object, bool is_in_initial_list) {
  HandlerNotification notification;
  notification.kind = Kind::kAdd;
  notification.object = std::move(object);
  notification.is_in_initial_list = is_in_initial_list;
  return notification;
}

HandlerNotification HandlerNotification::Update(ObjectPtr old_object, ObjectPtr object) {
  HandlerNotification notification;
  notification.kind = Kind::kUpdate;
  notification.old_object = std::move(old_object);
  notification.object = std::move(object);
  return notification;
}

HandlerNotification HandlerNotification::Delete(DeltaObject deleted) {
  HandlerNotification notification;
  notification.kind = Kind::kDelete;
  notification.deleted = std::move(deleted);
  return notification;
}

ProcessorListener::ProcessorListener(std::shared_ptr<ResourceEventHandler> handler,
                                     absl::Duration resync_period, absl::Time now,
                                     std::function<bool()> upstream_synced)
    : handler_(std::move(handler)),
      resync_period_(resync_period),
      upstream_synced_(std::move(upstream_synced)),
      next_resync_(resync_period > absl::ZeroDuration() ? now + resync_period
                                                        : absl::InfiniteFuture()) {}

ProcessorListener::~ProcessorListener() {
  std::thread thread;
  {
    absl::MutexLock lock(&mu_);
    stopped_ = true;
    thread = std::move(thread_);
  }
  if (!thread.joinable()) return;
  // The delivery thread holds a reference while it runs, so we get here on that thread only
  // when it drops its last reference on the way out: nothing touches `this` after that.
  if (thread.get_id() == std::this_thread::get_id()) {
    thread.detach();
  } else {
    thread.join();
  }
}

void ProcessorListener::Start() {
  absl::MutexLock lock(&mu_);
  if (started_ || stopped_) return;
  started_ = true;
  thread_ = std::thread([self = shared_from_this()] { self->Run(); });
}

void ProcessorListener::Add(HandlerNotification notification) {
  absl::MutexLock lock(&mu_);
  if (stopped_) return;
  if (notification.kind == HandlerNotification::Kind::kAdd && notification.is_in_initial_list) {
    ++initial_pending_;
  }
  buffer_.push_back(std::move(notification));
}

void ProcessorListener::Stop() {
  std::thread thread;
  {
    absl::MutexLock lock(&mu_);
    stopped_ = true;
    buffer_.clear();
    // From the handler itself: it returns into Run, which then exits; the destructor reaps
    // the thread.
    if (thread_.get_id() == std::this_thread::get_id()) return;
    thread = std::move(thread_);
  }
  if (thread.joinable()) thread.join();
}

void ProcessorListener::Run() {
  for (;;) {
    HandlerNotification notification;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !buffer_.empty() || stopped_; };
      mu_.Await(absl::Condition(&ready));
      if (stopped_) return;
      notification = std::move(buffer_.front());
      buffer_.pop_front();
    }
    switch (notification.kind) {
      case HandlerNotification::Kind::kAdd:
        handler_->OnAdd(notification.object, notification.is_in_initial_list);
        break;
      case HandlerNotification::Kind::kUpdate:
        handler_->OnUpdate(notification.old_object, notification.object);
        break;
      case HandlerNotification::Kind::kDelete:
        handler_->OnDelete(notification.deleted);
        break;
    }
    absl::MutexLock lock(&mu_);
    if (notification.kind == HandlerNotification::Kind::kAdd && notification.is_in_initial_list &&
        initial_pending_ > 0) {
      --initial_pending_;
    }
  }
}

bool ProcessorListener::HasSynced() const {
  if (!upstream_synced_()) return false;
  absl::MutexLock lock(&mu_);
  return initial_pending_ == 0;
}

size_t ProcessorListener::pending() const {
  absl::MutexLock lock(&mu_);
  return buffer_.size();
}

bool ProcessorListener::DueForResync(absl::Time now) {
  absl::MutexLock lock(&mu_);
  if (resync_period_ <= absl::ZeroDuration() || now < next_resync_) return false;
  next_resync_ = now + resync_period_;
  return true;
}

absl::Time ProcessorListener::next_resync() const {
  absl::MutexLock lock(&mu_);
  return next_resync_;
}

SharedProcessor::~SharedProcessor() { Stop(); }

absl::Status SharedProcessor::AddListener(std::shared_ptr<ProcessorListener> listener) {
  absl::MutexLock lock(&mu_);
  if (stopped_) return absl::FailedPreconditionError("the informer is stopped");
  // A new listener counts as due for syncs until the next resync check decides (client-go's
  // listeners start as syncing): with resync off, unchanged relisted objects reach it (I10).
  syncing_.push_back(listener.get());
  listeners_.push_back(std::move(listener));
  return absl::OkStatus();
}

absl::Status SharedProcessor::RemoveListener(const HandlerRegistration* registration) {
  std::shared_ptr<ProcessorListener> removed;
  {
    absl::MutexLock lock(&mu_);
    auto it = std::find_if(listeners_.begin(), listeners_.end(),
                           [&](const std::shared_ptr<ProcessorListener>& listener) {
                             return static_cast<const HandlerRegistration*>(listener.get()) ==
                                    registration;
                           });
    // Already removed, or never here: nothing to do, as client-go (I17).
    if (it == listeners_.end()) return absl::OkStatus();
    removed = std::move(*it);
    listeners_.erase(it);
    syncing_.erase(std::remove(syncing_.begin(), syncing_.end(), removed.get()), syncing_.end());
  }
  removed->Stop();
  return absl::OkStatus();
}

void SharedProcessor::Distribute(const HandlerNotification& notification, bool is_sync) {
  absl::MutexLock lock(&mu_);
  if (is_sync) {
    for (ProcessorListener* listener : syncing_) listener->Add(notification);
  } else {
    for (const auto& listener : listeners_) listener->Add(notification);
  }
}

bool SharedProcessor::ShouldResync(absl::Time now) {
  absl::MutexLock lock(&mu_);
  syncing_.clear();
  for (const auto& listener : listeners_) {
    if (listener->DueForResync(now)) syncing_.push_back(listener.get());
  }
  return !syncing_.empty();
}

absl::Time SharedProcessor::NextResync() const {
  absl::MutexLock lock(&mu_);
  absl::Time next = absl::InfiniteFuture();
  for (const auto& listener : listeners_) next = std::min(next, listener->next_resync());
  return next;
}

void SharedProcessor::Stop() {
  std::vector<std::shared_ptr<ProcessorListener>> listeners;
  {
    absl::MutexLock lock(&mu_);
    stopped_ = true;
    listeners.swap(listeners_);
    syncing_.clear();
  }
  for (const auto& listener : listeners) listener->Stop();
}

size_t SharedProcessor::size() const {
  absl::MutexLock lock(&mu_);
  return listeners_.size();
}

}  // namespace informer
