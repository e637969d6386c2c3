#include "server/subscribe_stream.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "informer/clock.h"
#include "server/grpc_status.h"
#include "server/log.h"

namespace informer {
namespace server {
namespace {

// Trailing metadata of a stream that ended early: where to resume from.
constexpr char kResumeMetadata[] = "informer-resume-resource-version";

class FinishedReactor : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  explicit FinishedReactor(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

// SharedIndexInformer::history() is const, but (un)registering a listener is not a change a
// reader can see; the history object itself is not const, so the cast is well-defined.
EventHistory& MutableHistory(const SharedIndexInformer& informer) {
  return const_cast<EventHistory&>(informer.history());
}

}  // namespace

grpc::ServerWriteReactor<grpc::ByteBuffer>* FinishedSubscribe(const grpc::Status& status) {
  return new FinishedReactor(status);
}

SubscribeStream::SubscribeStream(StreamHub* hub, grpc::CallbackServerContext* context,
                                 std::unique_ptr<Subscription> subscription,
                                 SubscriberCounters* counters, StreamRecheck recheck,
                                 CallerQuota::Lease lease)
    : hub_(hub),
      context_(context),
      subscription_(std::move(subscription)),
      counters_(counters),
      informer_(subscription_->informer_shared()),
      resource_(informer_->resource().gvr.ToString()),
      peer_(context->peer()),
      only_name_(subscription_->only_name()),
      recheck_(std::move(recheck)),
      next_recheck_unix_nanos_(
          recheck_.check ? absl::ToUnixNanos(std::min(MonotonicNow() + recheck_.every,
                                                      MonotonicDeadline(recheck_.expires)))
                         : std::numeric_limits<int64_t>::max()),
      lease_(std::move(lease)) {
  cursor_.store(subscription_->cursor());
  counters_->subscribers.fetch_add(1);
  counters_->subscriptions_total.fetch_add(1);
}

SubscribeStream::~SubscribeStream() { hub_->Destroyed(); }

void SubscribeStream::Start() {
  listener_ = MutableHistory(*informer_).AddListener([this] { Wake(); }, only_name_);
  {
    absl::MutexLock lock(&mu_);
    busy_ = true;
  }
  Pump();
}

void SubscribeStream::Ref() {
  absl::MutexLock lock(&mu_);
  ++refs_;
}

void SubscribeStream::Unref() {
  bool last;
  {
    absl::MutexLock lock(&mu_);
    last = --refs_ == 0;
  }
  if (last) delete this;
}

void SubscribeStream::Wake() {
  {
    absl::MutexLock lock(&mu_);
    if (busy_) {
      woken_ = true;
      return;
    }
    if (queued_) return;
    queued_ = true;
    ++refs_;
  }
  hub_->Post(this);
}

void SubscribeStream::Terminate(absl::Status status) {
  {
    absl::MutexLock lock(&mu_);
    if (end_.ok()) end_ = std::move(status);
  }
  Wake();
}

bool SubscribeStream::DueForTick(absl::Time now) const {
  return informer_->IsStopped() ||
         now >= absl::FromUnixNanos(next_bookmark_unix_nanos_.load(std::memory_order_relaxed)) ||
         absl::ToUnixNanos(now) >= next_recheck_unix_nanos_.load(std::memory_order_relaxed);
}

uint64_t SubscribeStream::Lag() const {
  if (!only_name_.empty()) {
    // Woken by every change to its name, an idle stream of one name has nothing due: the
    // changes after its cursor are to other names (it skips them when next woken).
    absl::MutexLock lock(&mu_);
    if (!busy_ && !queued_) return buffered_.load();
  }
  const uint64_t last_seq = informer_->IsStopped() ? 0 : informer_->history().last_seq();
  const uint64_t cursor = cursor_.load();
  return (last_seq > cursor ? last_seq - cursor : 0) + buffered_.load();
}

void SubscribeStream::Pump() {
  for (;;) {
    absl::Status end;
    {
      absl::MutexLock lock(&mu_);
      end = end_;
      woken_ = false;
    }
    if (!end.ok()) return FinishOnce(end);
    if (absl::Status allowed = RecheckIfDue(MonotonicNow()); !allowed.ok()) {
      return FinishOnce(allowed);
    }
    SubscriptionEvent event;
    absl::StatusOr<bool> next = TakeNext(&event);
    const bool more = next.ok() && *next && LookAhead();
    const SubscriptionStats& stats = subscription_->stats();
    cursor_.store(subscription_->cursor());
    buffered_.store(subscription_->buffered() + (more ? 1 : 0));
    next_bookmark_unix_nanos_.store(absl::ToUnixNanos(subscription_->next_bookmark()),
                                    std::memory_order_relaxed);
    counters_->unchanged_events.fetch_add(stats.events_unchanged - unchanged_counted_,
                                          std::memory_order_relaxed);
    unchanged_counted_ = stats.events_unchanged;
    if (stats.coalesce_rounds > 0 && !coalescing_) {
      coalescing_ = true;
      counters_->coalesced_subscribers.fetch_add(1);
    }
    if (!next.ok()) {
      if (absl::IsResourceExhausted(next.status())) counters_->terminated_subscribers.fetch_add(1);
      return FinishOnce(next.status());
    }
    if (*next) {
      response_ = EncodeSubscribeResponse(event);
      counters_->events_out.fetch_add(1, std::memory_order_relaxed);
      write_started_unix_nanos_.store(absl::ToUnixNanos(MonotonicNow()), std::memory_order_relaxed);
      // busy_ stays set until OnWriteDone. With another event due, gRPC may keep this one in
      // its buffer (up to its write buffer size) until that one's write, which follows at once.
      // Not the first write: it carries the response headers, and gRPC 1.51 completes a
      // buffered first write only once something flushes it (the stream would wait forever).
      StartWrite(&response_, more && wrote_once_ ? grpc::WriteOptions().set_buffer_hint()
                                                 : grpc::WriteOptions());
      return;
    }
    // Caught up with a resource the API server no longer serves (its CRD was deleted: the
    // DELETEs of its objects came first): end with NOT_FOUND rather than a silent stream.
    if (const absl::Status error = informer_->LastError(); absl::IsNotFound(error)) {
      return FinishOnce(absl::NotFoundError(absl::StrCat(
          resource_, " is no longer served by the API server (CRD deleted?): ", error.message(),
          "; subscribe again once it is back (ListResources shows it not stale)")));
    }
    absl::MutexLock lock(&mu_);
    if (woken_ || !end_.ok()) continue;
    busy_ = false;
    return;
  }
}

absl::StatusOr<bool> SubscribeStream::TakeNext(SubscriptionEvent* event) {
  if (ahead_error_.has_value()) {
    absl::Status error = *std::move(ahead_error_);
    ahead_error_.reset();
    return error;
  }
  if (!EventAhead()) return subscription_->Next(MonotonicNow(), event);
  *event = *std::move(ahead_event_);
  ahead_event_.reset();
  return true;
}

bool SubscribeStream::LookAhead() {
  resume_before_ahead_ = subscription_->resume_resource_version();
  SubscriptionEvent event;
  absl::StatusOr<bool> next = subscription_->Next(MonotonicNow(), &event);
  if (!next.ok()) {
    ahead_error_ = next.status();
    return false;
  }
  if (!*next) return false;
  ahead_event_ = std::move(event);
  return true;
}

bool SubscribeStream::EventAhead() const { return ahead_event_.has_value(); }

const std::string& SubscribeStream::WrittenResumeResourceVersion() const {
  return EventAhead() ? resume_before_ahead_ : subscription_->resume_resource_version();
}

absl::Status SubscribeStream::RecheckIfDue(absl::Time now) {
  if (absl::ToUnixNanos(now) < next_recheck_unix_nanos_.load(std::memory_order_relaxed)) {
    return absl::OkStatus();
  }
  absl::Status allowed = recheck_.check();
  next_recheck_unix_nanos_.store(
      absl::ToUnixNanos(
          std::max(now + absl::Milliseconds(100),
                   std::min(now + recheck_.every, MonotonicDeadline(recheck_.expires)))),
      std::memory_order_relaxed);
  return allowed;
}

void SubscribeStream::FinishOnce(const absl::Status& status) {
  // Still busy_: no other pump can start, and no listener call runs once this returns.
  MutableHistory(*informer_).RemoveListener(listener_);
  counters_->coalesced_events.fetch_add(subscription_->stats().events_coalesced);
  counters_->subscribers.fetch_sub(1);
  const size_t code = static_cast<size_t>(status.code());
  if (code < counters_->ended_by_code.size()) counters_->ended_by_code[code].fetch_add(1);
  const std::string& resume = WrittenResumeResourceVersion();
  Log(LogLevel::kInfo, "subscription ended",
      {{"resource", resource_},
       {"namespace", subscription_->namespace_name()},
       {"peer", peer_},
       {"code", absl::StatusCodeToString(status.code())},
       {"cause", std::string(status.message())},
       {"events_sent", absl::StrCat(subscription_->stats().events_sent - (EventAhead() ? 1 : 0))},
       {"resume_resource_version", resume}});
  if (!resume.empty()) context_->AddTrailingMetadata(kResumeMetadata, resume);
  hub_->Remove(this);
  lease_.Release();
  Finish(ToGrpcStatus(status));
}

void SubscribeStream::OnWriteDone(bool ok) {
  write_started_unix_nanos_.store(0, std::memory_order_relaxed);
  wrote_once_ = true;
  if (!ok) {
    absl::MutexLock lock(&mu_);
    if (end_.ok()) end_ = absl::CancelledError("the stream broke (client gone)");
  }
  Pump();  // the busy_ holder continues
}

void SubscribeStream::OnCancel() { Terminate(absl::CancelledError("cancelled by the client")); }

void SubscribeStream::OnDone() {
  {
    absl::MutexLock lock(&done_mu_);
    done_ = true;
  }
  Unref();
}

void SubscribeStream::CutIfWriteStalled(absl::Time now, absl::Duration timeout) {
  const int64_t started = write_started_unix_nanos_.load(std::memory_order_relaxed);
  if (started == 0 || now - absl::FromUnixNanos(started) < timeout) return;
  {
    absl::MutexLock lock(&mu_);
    if (!end_.ok()) return;  // ending already
    // What the log and the ended-by-code metric record; the client, which reads nothing,
    // sees only the cancellation.
    end_ = absl::ResourceExhaustedError(absl::StrCat(
        "the subscriber read nothing for ", absl::FormatDuration(timeout),
        " (subscriber_write_timeout): its stream was cut; it resumes from the objects it "
        "holds (known_objects)"));
  }
  counters_->write_stalled.fetch_add(1);
  // Ends the write in flight (OnWriteDone(false)), whose pump then finishes with end_.
  absl::MutexLock lock(&done_mu_);
  if (!done_) context_->TryCancel();
}

StreamHub::StreamHub(int threads, absl::Duration tick, absl::Duration write_timeout)
    : tick_(tick), write_timeout_(write_timeout) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Worker(); });
  threads_.emplace_back([this] { Ticker(); });
}

StreamHub::~StreamHub() { Shutdown(absl::ZeroDuration()); }

grpc::ServerWriteReactor<grpc::ByteBuffer>* StreamHub::Open(
    grpc::CallbackServerContext* context, std::unique_ptr<Subscription> subscription,
    SubscriberCounters* counters, StreamRecheck recheck, CallerQuota::Lease lease) {
  auto* stream = new SubscribeStream(this, context, std::move(subscription), counters,
                                     std::move(recheck), std::move(lease));
  bool refused;
  {
    absl::MutexLock lock(&mu_);
    ++alive_;
    refused = shutting_down_;
    if (!refused) streams_.insert(stream);
  }
  if (refused) {
    stream->Terminate(absl::UnavailableError("informerd is shutting down; reconnect"));
  }
  stream->Start();
  return stream;
}

void StreamHub::Post(SubscribeStream* stream) {
  {
    absl::MutexLock lock(&mu_);
    if (!stopped_) {
      queue_.push_back(stream);
      return;
    }
  }
  // The threads are gone (shutdown): pump here.
  bool run;
  {
    absl::MutexLock lock(&stream->mu_);
    stream->queued_ = false;
    run = !stream->busy_;
    if (run) stream->busy_ = true;
  }
  if (run) stream->Pump();
  stream->Unref();
}

void StreamHub::Worker() {
  for (;;) {
    SubscribeStream* stream;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopped_ || !queue_.empty(); };
      mu_.Await(absl::Condition(&ready));
      if (queue_.empty()) return;  // stopped and drained
      stream = queue_.front();
      queue_.pop_front();
    }
    bool run;
    {
      absl::MutexLock lock(&stream->mu_);
      stream->queued_ = false;
      run = !stream->busy_;
      if (run) {
        stream->busy_ = true;
      } else {
        stream->woken_ = true;
      }
    }
    if (run) stream->Pump();
    stream->Unref();
  }
}

void StreamHub::Ticker() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      auto stopped = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopped_; };
      if (AwaitWithMonotonicTimeout(&mu_, absl::Condition(&stopped), tick_)) return;
    }
    const absl::Time now = MonotonicNow();
    for (SubscribeStream* stream : RefAll()) {
      if (stream->DueForTick(now)) stream->Wake();
      stream->CutIfWriteStalled(now, write_timeout_);
      stream->Unref();
    }
  }
}

std::vector<SubscribeStream*> StreamHub::RefAll() const {
  absl::MutexLock lock(&mu_);
  std::vector<SubscribeStream*> out(streams_.begin(), streams_.end());
  for (SubscribeStream* stream : out) stream->Ref();
  return out;
}

void StreamHub::Remove(SubscribeStream* stream) {
  absl::MutexLock lock(&mu_);
  streams_.erase(stream);
}

void StreamHub::Destroyed() {
  absl::MutexLock lock(&mu_);
  --alive_;
}

void StreamHub::Shutdown(absl::Duration grace) {
  {
    absl::MutexLock lock(&mu_);
    if (shutting_down_) return;
    shutting_down_ = true;
  }
  for (SubscribeStream* stream : RefAll()) {
    stream->Terminate(absl::UnavailableError(
        "informerd is shutting down; reconnect (resume from the last resource_version received)"));
    stream->Unref();
  }
  {
    absl::MutexLock lock(&mu_);
    auto all_done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return alive_ == 0; };
    AwaitWithMonotonicTimeout(&mu_, absl::Condition(&all_done), grace);
    stopped_ = true;
  }
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
}

std::vector<SubscriberLag> StreamHub::Lags() const {
  std::vector<SubscriberLag> out;
  for (SubscribeStream* stream : RefAll()) {
    out.push_back({stream->resource(), stream->Lag()});
    stream->Unref();
  }
  return out;
}

size_t StreamHub::size() const {
  absl::MutexLock lock(&mu_);
  return streams_.size();
}

}  // namespace server
}  // namespace informer
