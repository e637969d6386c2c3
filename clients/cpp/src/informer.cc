#include "informerd/informer.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace informerd {
namespace {

using informer::v1::EventType;

// Trailing metadata in which a RESOURCE_EXHAUSTED subscription names the last position it
// delivered.
constexpr char kResumeTrailer[] = "informer-resume-resource-version";
// Initial metadata in which a Subscribe announces its bookmark interval (decimal ms).
constexpr char kBookmarkIntervalHeader[] = "informer-bookmark-interval-ms";
// A stream may be silent for this many bookmark intervals before it is presumed dead.
constexpr int kSilentIntervals = 2;

}  // namespace

// --- Store ---------------------------------------------------------------------------------

ObjectPtr Store::GetByKey(const std::string& key) const {
  absl::MutexLock lock(&mu_);
  auto it = items_.find(key);
  return it == items_.end() ? nullptr : it->second;
}

ObjectPtr Store::Get(absl::string_view namespace_name, absl::string_view name) const {
  return GetByKey(ObjectKey(namespace_name, name));
}

std::vector<ObjectPtr> Store::List() const {
  std::vector<ObjectPtr> out;
  {
    absl::MutexLock lock(&mu_);
    out.reserve(items_.size());
    for (const auto& [key, obj] : items_) out.push_back(obj);
  }
  std::sort(out.begin(), out.end(),
            [](const ObjectPtr& a, const ObjectPtr& b) { return a->key() < b->key(); });
  return out;
}

std::vector<std::string> Store::ListKeys() const {
  std::vector<std::string> out;
  {
    absl::MutexLock lock(&mu_);
    out.reserve(items_.size());
    for (const auto& [key, obj] : items_) out.push_back(key);
  }
  std::sort(out.begin(), out.end());
  return out;
}

absl::flat_hash_map<std::string, std::string> Store::ResourceVersions() const {
  absl::MutexLock lock(&mu_);
  absl::flat_hash_map<std::string, std::string> out;
  out.reserve(items_.size());
  for (const auto& [key, obj] : items_) out.emplace(key, obj->resource_version());
  return out;
}

size_t Store::size() const {
  absl::MutexLock lock(&mu_);
  return items_.size();
}

void Store::Put(ObjectPtr obj) {
  absl::MutexLock lock(&mu_);
  std::string key = obj->key();
  items_[std::move(key)] = std::move(obj);
}

void Store::Remove(const std::string& key) {
  absl::MutexLock lock(&mu_);
  items_.erase(key);
}

// --- HandlerRegistration ---------------------------------------------------------------------

bool HandlerRegistration::HasSynced() const {
  absl::MutexLock lock(&mu_);
  return synced_;
}

// --- Informer --------------------------------------------------------------------------------

namespace {

InformerOptions Normalized(InformerOptions o, const std::string& resource) {
  if (o.initial_backoff <= absl::ZeroDuration()) o.initial_backoff = absl::Milliseconds(250);
  if (o.max_backoff < o.initial_backoff) o.max_backoff = o.initial_backoff;
  if (!o.on_error) {
    o.on_error = [resource](const absl::Status& s) {
      std::fprintf(stderr, "informerd: subscription of %s ended: %s; resubscribing\n",
                   resource.c_str(), s.ToString().c_str());
    };
  }
  return o;
}

}  // namespace

Informer::Informer(std::shared_ptr<Client> client, std::string resource, InformerOptions options)
    : client_(std::move(client)),
      resource_(std::move(resource)),
      options_(Normalized(std::move(options), resource_)) {}

Informer::~Informer() { Stop(); }

std::shared_ptr<HandlerRegistration> Informer::AddEventHandler(
    std::shared_ptr<ResourceEventHandler> handler) {
  std::shared_ptr<HandlerRegistration> reg(new HandlerRegistration(std::move(handler)));
  absl::MutexLock lock(&mu_);
  handlers_.push_back(reg);
  // The replay is queued behind every notification already queued and before every later
  // one, with the store as of now: the handler sees each object exactly once.
  Notification n;
  n.kind = Notification::Kind::kReplay;
  n.registration = reg;
  n.snapshot = store_.List();
  n.initial = synced_;
  queue_.push_back(std::move(n));
  return reg;
}

void Informer::RemoveEventHandler(const std::shared_ptr<HandlerRegistration>& registration) {
  {
    absl::MutexLock lock(&mu_);
    handlers_.erase(std::remove(handlers_.begin(), handlers_.end(), registration), handlers_.end());
  }
  absl::MutexLock lock(&registration->mu_);
  registration->removed_ = true;
  registration->active_ = false;
}

void Informer::Start() {
  absl::MutexLock lock(&mu_);
  if (started_ || stopping_) return;
  started_ = true;
  reader_ = std::thread([this] { Run(); });
  dispatcher_ = std::thread([this] { Dispatch(); });
  watchdog_ = std::thread([this] { Watch(); });
}

void Informer::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (call_ != nullptr) call_->TryCancel();
  }
  {
    std::lock_guard<std::mutex> lock(watchdog_mu_);
    watchdog_stop_ = true;
  }
  watchdog_wake_.notify_all();
  absl::MutexLock lock(&join_mu_);
  if (reader_.joinable()) reader_.join();
  if (dispatcher_.joinable()) dispatcher_.join();
  if (watchdog_.joinable()) watchdog_.join();
}

bool Informer::HasSynced() const {
  absl::MutexLock lock(&mu_);
  return synced_;
}

bool Informer::WaitForSync(absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&synced_), timeout);
}

InformerStats Informer::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

bool Informer::SleepUnlessStopped(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  return !mu_.AwaitWithTimeout(absl::Condition(&stopping_), d);
}

void Informer::Watch() {
  std::unique_lock<std::mutex> lock(watchdog_mu_);
  while (!watchdog_stop_) {
    lock.unlock();
    const std::chrono::milliseconds next_check = CheckSilence();
    lock.lock();
    watchdog_wake_.wait_for(lock, next_check, [this] { return watchdog_stop_; });
  }
}

std::chrono::milliseconds Informer::CheckSilence() {
  absl::MutexLock lock(&mu_);
  // Checks 8 times per limit (a stream is cancelled at most an eighth late), at most every
  // second and at least every 10 ms.
  const auto period = std::chrono::milliseconds(std::clamp<int64_t>(
      absl::ToInt64Milliseconds(silence_limit_ > absl::ZeroDuration() ? silence_limit_ / 8
                                                                      : absl::Seconds(1)),
      10, 1000));
  if (call_ == nullptr || silenced_ || silence_limit_ <= absl::ZeroDuration()) return period;
  const absl::Duration silent = absl::FromChrono(std::chrono::steady_clock::now() - last_heard_);
  if (silent >= silence_limit_) {
    silenced_ = true;
    call_->TryCancel();
  }
  return period;
}

void Informer::Run() {
  absl::BitGen jitter;
  absl::Duration delay = options_.initial_backoff;
  std::string resume_rv;
  while (true) {
    Outcome outcome = Subscribe(resume_rv);
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      ++stats_.failures;
    }
    options_.on_error(outcome.status);
    if (outcome.progressed) delay = options_.initial_backoff;
    // Only RESOURCE_EXHAUSTED, UNAUTHENTICATED (the token expired: the next call sends the
    // re-read one) and PERMISSION_DENIED (access withdrawn, maybe restored) end a stream of a
    // server that still holds our position in its history: resume there. After anything else
    // (a restart, a lost or silent connection, OUT_OF_RANGE) the store's versions are the safe
    // start, on the next replica when there are several.
    resume_rv.clear();
    const absl::StatusCode code = outcome.status.code();
    if (code == absl::StatusCode::kResourceExhausted ||
        code == absl::StatusCode::kUnauthenticated || code == absl::StatusCode::kPermissionDenied) {
      resume_rv = outcome.resume_rv;
    } else {
      client_->FailOver(outcome.replica);
    }
    if (!SleepUnlessStopped(delay * absl::Uniform(jitter, 0.8, 1.2))) return;
    delay = std::min(2 * delay, options_.max_backoff);
  }
}

Informer::Outcome Informer::Subscribe(const std::string& resume_rv) {
  informer::v1::SubscribeRequest req;
  req.set_resource(resource_);
  req.set_namespace_(options_.namespace_name);
  req.set_label_selector(options_.label_selector);
  req.set_field_selector(options_.field_selector);
  for (const std::string& path : options_.fields) req.add_fields(path);
  req.set_wait_for_sync(options_.wait_for_sync);
  // Until SYNCED of a fresh or known_objects start no position is complete.
  bool positioned = !resume_rv.empty();
  grpc::ClientContext ctx;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return {absl::CancelledError("informer stopped"), false, ""};
    if (positioned) {
      req.set_resource_version(resume_rv);
      ++stats_.resource_version_starts;
    } else {
      for (auto& [key, rv] : store_.ResourceVersions()) (*req.mutable_known_objects())[key] = rv;
      ++(req.known_objects().empty() ? stats_.fresh_starts : stats_.known_objects_starts);
    }
    call_ = &ctx;
    // Until the server announces its bookmark interval, the configured silence.
    last_heard_ = std::chrono::steady_clock::now();
    silence_limit_ = options_.silence_timeout;
    silenced_ = false;
  }
  Outcome out;
  out.resume_rv = resume_rv;
  out.replica = client_->current();
  std::unique_ptr<grpc::ClientReaderInterface<informer::v1::SubscribeResponse>> reader =
      client_->stub_at(out.replica).Subscribe(&ctx, req);
  reader->WaitForInitialMetadata();
  if (options_.silence_timeout > absl::ZeroDuration()) {
    const auto& headers = ctx.GetServerInitialMetadata();
    int64_t interval_ms = 0;
    if (auto it = headers.find(kBookmarkIntervalHeader);
        it != headers.end() &&
        absl::SimpleAtoi(absl::string_view(it->second.data(), it->second.size()), &interval_ms) &&
        interval_ms > 0) {
      absl::MutexLock lock(&mu_);
      silence_limit_ = kSilentIntervals * absl::Milliseconds(interval_ms);
    }
  }
  informer::v1::SubscribeResponse event;
  while (reader->Read(&event)) {
    out.progressed = true;
    Apply(event);
    if (event.type() == informer::v1::EVENT_TYPE_SYNCED) positioned = true;
    if (positioned && !event.resource_version().empty()) out.resume_rv = event.resource_version();
  }
  grpc::Status status = reader->Finish();
  absl::Duration silence;
  {
    absl::MutexLock lock(&mu_);
    call_ = nullptr;
    if (silenced_) {
      silence = silence_limit_;
      ++stats_.silent_streams;
    }
  }
  if (silence > absl::ZeroDuration()) {
    out.status = absl::UnavailableError(absl::StrCat(
        "informerd sent nothing (no event, no bookmark) for ", absl::FormatDuration(silence),
        ": the connection is presumed dead; resubscribing"));
    out.resume_rv.clear();  // another replica may be next: its history is not this one's
    return out;
  }
  out.status = status.ok() ? absl::UnavailableError("informerd ended the subscription")
                           : FromGrpcStatus(status);
  const auto& trailers = ctx.GetServerTrailingMetadata();
  if (auto it = trailers.find(kResumeTrailer); it != trailers.end() && it->second.size() > 0) {
    out.resume_rv = std::string(it->second.data(), it->second.size());
  } else if (out.status.code() == absl::StatusCode::kResourceExhausted) {
    // Ended without a position: its position left the server's history ring, so a resume by
    // resourceVersion would only get OUT_OF_RANGE. Resume with known_objects instead.
    out.resume_rv.clear();
  }
  if (!positioned) out.resume_rv.clear();
  return out;
}

void Informer::Apply(const informer::v1::SubscribeResponse& event) {
  // Parse outside the lock; the store only changes on this thread.
  absl::StatusOr<ObjectPtr> obj = absl::InvalidArgumentError("no object");
  if (event.has_object()) obj = Object::FromProto(event.object());
  absl::MutexLock lock(&mu_);
  last_heard_ = std::chrono::steady_clock::now();
  ++stats_.events;
  Notification n;
  switch (event.type()) {
    case informer::v1::EVENT_TYPE_ADDED:
    case informer::v1::EVENT_TYPE_MODIFIED: {
      if (!obj.ok()) {
        std::fprintf(stderr, "informerd: dropping an undecodable object: %s\n",
                     obj.status().ToString().c_str());
        return;
      }
      ObjectPtr old = store_.GetByKey((*obj)->key());
      // A state the store already holds (or a newer one) is never repeated.
      if (old && !ResourceVersionNewer((*obj)->resource_version(), old->resource_version())) {
        return;
      }
      store_.Put(*obj);
      n.kind = old ? Notification::Kind::kUpdate : Notification::Kind::kAdd;
      n.old_obj = std::move(old);
      n.obj = *obj;
      n.initial = !synced_;
      break;
    }
    case informer::v1::EVENT_TYPE_DELETED: {
      std::string key = ObjectKey(event.object().namespace_(), event.object().name());
      ObjectPtr old = store_.GetByKey(key);
      if (!old) return;
      store_.Remove(key);
      n.kind = Notification::Kind::kDelete;
      if (event.final_state_unknown() || !obj.ok()) {
        n.deleted = DeletedFinalStateUnknown{key, old};
      } else {
        n.deleted = *obj;
      }
      break;
    }
    case informer::v1::EVENT_TYPE_SYNCED:
      synced_ = true;
      n.kind = Notification::Kind::kSynced;
      break;
    default:
      return;
  }
  queue_.push_back(std::move(n));
}

bool Informer::DispatchReadyLocked() const { return stopping_ || !queue_.empty(); }

void Informer::Dispatch() {
  while (true) {
    Notification n;
    std::vector<std::shared_ptr<HandlerRegistration>> handlers;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &Informer::DispatchReadyLocked));
      if (stopping_) return;
      n = std::move(queue_.front());
      queue_.pop_front();
      handlers = handlers_;
    }
    Deliver(n, handlers);
  }
}

void Informer::Deliver(Notification& n,
                       const std::vector<std::shared_ptr<HandlerRegistration>>& handlers) {
  using Kind = Notification::Kind;
  if (n.kind == Kind::kReplay) {
    for (const ObjectPtr& obj : n.snapshot) n.registration->handler_->OnAdd(obj, true);
    absl::MutexLock lock(&n.registration->mu_);
    if (!n.registration->removed_) {
      n.registration->active_ = true;
      if (n.initial) n.registration->synced_ = true;
    }
    return;
  }
  for (const std::shared_ptr<HandlerRegistration>& reg : handlers) {
    {
      absl::MutexLock lock(&reg->mu_);
      if (!reg->active_) continue;
      if (n.kind == Kind::kSynced) {
        reg->synced_ = true;
        continue;
      }
    }
    ResourceEventHandler& h = *reg->handler_;
    switch (n.kind) {
      case Kind::kAdd:
        h.OnAdd(n.obj, n.initial);
        break;
      case Kind::kUpdate:
        h.OnUpdate(n.old_obj, n.obj);
        break;
      case Kind::kDelete:
        h.OnDelete(n.deleted);
        break;
      default:
        break;
    }
  }
}

}  // namespace informerd
