// The gRPC side of Subscribe: one callback reactor per stream, woken by the informers' history
// listeners, and the hub that pumps them from a few shared threads.
#ifndef SERVER_SUBSCRIBE_STREAM_H_
#define SERVER_SUBSCRIBE_STREAM_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "informer/v1/informer.grpc.pb.h"
#include "server/limits.h"
#include "server/metrics.h"
#include "server/subscription.h"
#include "server/wire.h"

namespace informer {
namespace server {

class StreamHub;

// Re-authorization of an open stream (access control on): `check` runs on a hub thread every
// `every` and once `expires` (the credential's expiry) has passed; a non-OK status ends the
// stream with it (and the resume trailer). A default StreamRecheck never checks.
struct StreamRecheck {
  std::function<absl::Status()> check;
  absl::Duration every = absl::InfiniteDuration();
  absl::Time expires = absl::InfiniteFuture();
};

// One Subscribe call: a ServerWriteReactor with one write in flight. It computes the next
// event (Subscription::Next) when its previous write is done or when woken by a history append
// (for a subscriber of one name, an append changing that name) or the bookmark tick (only
// streams with a bookmark due);
// when nothing is due it sleeps without a thread. It looks one event ahead: a write with another
// event due behind it is buffered by gRPC and leaves with the run's last (one HTTP/2 write for a
// run), and the resume position never includes the event looked ahead. Finish is called exactly
// once, by whichever pump sees the end (error, Terminate, cancel); the object deletes itself when
// gRPC is done with it (OnDone) and no hub thread holds it.
//
// Thread-safety: Wake and Terminate may be called from any thread; the rest is gRPC's.
class SubscribeStream : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  // `lease` (optional) is the stream's unit of the callers' stream quota, released when the
  // stream finishes.
  SubscribeStream(StreamHub* hub, grpc::CallbackServerContext* context,
                  std::unique_ptr<Subscription> subscription, SubscriberCounters* counters,
                  StreamRecheck recheck = {}, CallerQuota::Lease lease = {});

  // Schedules a pump when the stream is idle; a no-op when a pump or write is under way (it
  // will look again). Never blocks and never calls gRPC.
  void Wake();
  // Ends the stream with `status` once the write in flight (if any) is done.
  void Terminate(absl::Status status);
  // Whether the bookmark tick should wake it: a bookmark or a re-authorization is due by
  // `now`, or its informer stopped (the stream must end). Other streams have nothing to do until
  // woken otherwise.
  bool DueForTick(absl::Time now) const;
  // Cuts the stream when its write in flight has waited for the client's flow control for
  // `timeout` by `now` (the client is alive but reads nothing): gRPC cancels the call, so the
  // client sees CANCELLED and resumes from the objects it holds, and the stream's quota slot and
  // pending write are freed. Logged and counted with its cause.
  void CutIfWriteStalled(absl::Time now, absl::Duration timeout);
  // History changes and events not yet delivered (for the lag metric).
  uint64_t Lag() const;
  const std::string& resource() const { return resource_; }

  // Reference counting: gRPC holds one reference until OnDone, a queued wake another.
  void Ref();
  void Unref();

  // gRPC callbacks.
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  friend class StreamHub;
  ~SubscribeStream() override;

  // Registers the history listener and sends the first event.
  void Start();
  // Runs by the holder of busy_: computes events and starts one write, or goes idle, or
  // finishes.
  void Pump();
  // Unregisters and calls Finish; busy_ stays set forever after.
  void FinishOnce(const absl::Status& status);
  // Runs the re-authorization when due (busy_ holder only): its refusal, or OK.
  absl::Status RecheckIfDue(absl::Time now);
  // The next step of the subscription (busy_ holder only): the looked-ahead one when there is
  // one, else Subscription::Next.
  absl::StatusOr<bool> TakeNext(SubscriptionEvent* event);
  // Computes the step after the event about to be written (busy_ holder only): true when it is
  // an event, due now, so that write may wait in gRPC's buffer for it (a buffer hint); a run of
  // due events then leaves in one HTTP/2 write, flushed by its last. An error is kept too, to
  // end the stream after the write; "nothing due" is not kept (it consumed no event).
  bool LookAhead();
  // Whether LookAhead holds an event not yet written.
  bool EventAhead() const;
  // The position to resume from: the subscription's, or, while an event is looked ahead and
  // not written, the one before it (a resume position never runs ahead of what was written).
  const std::string& WrittenResumeResourceVersion() const;

  StreamHub* const hub_;
  grpc::CallbackServerContext* const context_;
  std::unique_ptr<Subscription> subscription_;  // used only by the busy_ holder
  SubscriberCounters* const counters_;
  const std::shared_ptr<SharedIndexInformer> informer_;
  const std::string resource_;
  const std::string peer_;  // the client's address, for the log (gRPC forgets it once cancelled)
  // The one metadata.name the subscriber can be sent (Subscription::only_name), or "": then
  // it is woken only by changes to that name.
  const std::string only_name_;
  EventHistory::ListenerId listener_ = 0;
  grpc::ByteBuffer response_;  // the write in flight: a SubscribeResponse (wire.h)
  // LookAhead's step, not yet taken (busy_ holder only): an event or an error (never both),
  // and the subscription's resume position before it.
  std::optional<SubscriptionEvent> ahead_event_;
  std::optional<absl::Status> ahead_error_;
  std::string resume_before_ahead_;
  bool wrote_once_ = false;         // busy_ holder only: a write (with the headers) completed
  bool coalescing_ = false;         // busy_ holder only: for the counter
  uint64_t unchanged_counted_ = 0;  // busy_ holder only: stats().events_unchanged counted

  mutable absl::Mutex mu_;
  bool busy_ ABSL_GUARDED_BY(mu_) = false;    // a pump runs, a write is in flight, or finished
  bool woken_ ABSL_GUARDED_BY(mu_) = false;   // a wake came while busy
  bool queued_ ABSL_GUARDED_BY(mu_) = false;  // a wake sits in the hub's queue
  absl::Status end_ ABSL_GUARDED_BY(mu_);     // not OK once the stream must end with it
  int refs_ ABSL_GUARDED_BY(mu_) = 1;
  // Copied from the subscription after each step, for Lag() on other threads.
  std::atomic<uint64_t> cursor_{0};
  std::atomic<uint64_t> buffered_{0};
  std::atomic<int64_t> next_bookmark_unix_nanos_{0};  // Subscription::next_bookmark()
  const StreamRecheck recheck_;
  std::atomic<int64_t> next_recheck_unix_nanos_;  // when RecheckIfDue next runs the check
  // When the write in flight started (monotonic), 0 when none is.
  std::atomic<int64_t> write_started_unix_nanos_{0};
  // context_ is gRPC's until OnDone: CutIfWriteStalled cancels only before it, under done_mu_.
  absl::Mutex done_mu_;
  bool done_ ABSL_GUARDED_BY(done_mu_) = false;
  CallerQuota::Lease lease_;  // released by FinishOnce (busy_ holder)
};

// Owns the open streams and the threads that pump woken ones and tick bookmarks.
//
// Thread-safety: every method may be called from any thread.
class StreamHub {
 public:
  // `threads` pump woken streams; every `tick` each stream with a bookmark due (or whose
  // informer stopped) is woken, and each whose write has waited `write_timeout` is cut
  // (SubscribeStream::CutIfWriteStalled).
  StreamHub(int threads, absl::Duration tick,
            absl::Duration write_timeout = absl::InfiniteDuration());
  // Shuts down.
  ~StreamHub();

  // Opens a stream over `subscription`, holding `lease` until it finishes; returns the reactor
  // to hand to gRPC. After Shutdown the stream ends at once with Unavailable.
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Open(grpc::CallbackServerContext* context,
                                                   std::unique_ptr<Subscription> subscription,
                                                   SubscriberCounters* counters,
                                                   StreamRecheck recheck = {},
                                                   CallerQuota::Lease lease = {});

  // Ends every stream with Unavailable ("shutting down") and waits up to `grace` for gRPC to
  // be done with them; then stops the threads. Idempotent.
  void Shutdown(absl::Duration grace);

  // The lag of every open stream.
  std::vector<SubscriberLag> Lags() const;
  // Streams open now.
  size_t size() const;

 private:
  friend class SubscribeStream;

  // Queues `stream` (already referenced) for a pump; runs it inline once the threads stopped.
  void Post(SubscribeStream* stream);
  void Remove(SubscribeStream* stream);
  void Destroyed();
  void Worker();
  void Ticker();
  // Every open stream, referenced; the caller Unrefs them.
  std::vector<SubscribeStream*> RefAll() const;

  const absl::Duration tick_;
  const absl::Duration write_timeout_;
  mutable absl::Mutex mu_;
  absl::flat_hash_set<SubscribeStream*> streams_ ABSL_GUARDED_BY(mu_);
  std::deque<SubscribeStream*> queue_ ABSL_GUARDED_BY(mu_);
  size_t alive_ ABSL_GUARDED_BY(mu_) = 0;  // reactors not yet deleted
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

// A reactor that only finishes with `status` (for calls refused before they start).
grpc::ServerWriteReactor<grpc::ByteBuffer>* FinishedSubscribe(const grpc::Status& status);

}  // namespace server
}  // namespace informer

#endif  // SERVER_SUBSCRIBE_STREAM_H_
