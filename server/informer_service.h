// informer.v1.InformerService over the cache: checks each request, calls the core (CacheReader,
// Subscription) and maps absl::Status to grpc::Status. No informer logic lives here.
#ifndef SERVER_INFORMER_SERVICE_H_
#define SERVER_INFORMER_SERVICE_H_

#include <memory>

#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "informer/v1/informer.grpc.pb.h"
#include "server/access_guard.h"
#include "server/cache_reader.h"
#include "server/field_mask.h"
#include "server/limits.h"
#include "server/metrics.h"
#include "server/on_demand.h"
#include "server/pager.h"
#include "server/resource_registry.h"
#include "server/runtime_indexes.h"
#include "server/rv_waiter.h"
#include "server/subscribe_stream.h"
#include "server/subscription.h"

namespace informer {
namespace server {

// Tunables of the service; documented defaults.
struct ServiceOptions {
  SubscriberLimits subscriber_limits;
  PagerOptions pager;
  // How long a call without a deadline may wait for min_resource_version.
  absl::Duration max_wait = absl::Seconds(30);
  // Threads that pump woken Subscribe streams (not one per stream).
  int stream_threads = 2;
  // How often idle streams are looked at for a due bookmark (or re-authorization); at most a
  // quarter of the bookmark interval, so a bookmark is never late by more than that (clients
  // presume a stream silent for two intervals dead).
  absl::Duration bookmark_tick = absl::Seconds(1);
  // Caps on the selectors of List, ByIndex and Subscribe.
  SelectorLimits selector_limits;
  // With access control on: how often an open stream is re-authorized (also at its token's
  // expiry).
  absl::Duration recheck_interval = absl::Seconds(20);
  // With access control on: a cluster-wide read by a caller who may read only some namespaces
  // is narrowed to those (named in the `informer-namespaces` metadata) instead of refused.
  bool narrow_cluster_wide = false;
  // What one caller may hold and make the service build (known_objects, streams, waits,
  // starts; page snapshots are in `pager`).
  CallLimits limits;
  // Whether and how many indexes AddIndex may add.
  RuntimeIndexLimits runtime_indexes;
};

// The callback-API service with the reads (List, Get, ByIndex, Subscribe) as raw (ByteBuffer)
// methods, so an answer points at the cached objects' JSON instead of copying it into a message
// and again into its serialisation (wire.h); the wire format is informer.v1's either way.
using InformerServiceBase = informer::v1::InformerService::WithCallbackMethod_ListResources<
    informer::v1::InformerService::WithRawCallbackMethod_List<
        informer::v1::InformerService::WithRawCallbackMethod_Get<
            informer::v1::InformerService::WithRawCallbackMethod_ByIndex<
                informer::v1::InformerService::WithRawCallbackMethod_Subscribe<
                    informer::v1::InformerService::WithCallbackMethod_AddIndex<
                        informer::v1::InformerService::Service>>>>>>;

// The service. Unary calls answer on the calling gRPC thread or, when they wait for
// min_resource_version, from the waiter's thread; streams are SubscribeStreams.
//
// Thread-safety: gRPC calls it from any thread; Shutdown from any thread, once.
class InformerServiceImpl final : public InformerServiceBase {
 public:
  // `registry` and `metrics` must outlive the service; so must `guard` when set: then every
  // call is authenticated and authorized before it reads anything (null = no access control,
  // for loopback development); and `on_demand` when set: then a read of a resource not cached
  // yet starts it (after the access checks) through it.
  InformerServiceImpl(const ResourceRegistry* registry, Metrics* metrics,
                      ServiceOptions options = {}, AccessGuard* guard = nullptr,
                      OnDemandCache* on_demand = nullptr);
  ~InformerServiceImpl() override;

  grpc::ServerUnaryReactor* ListResources(grpc::CallbackServerContext* context,
                                          const informer::v1::ListResourcesRequest* request,
                                          informer::v1::ListResourcesResponse* response) override;
  // `request` is a serialised informer.v1.ListRequest; `response` gets a ListResponse.
  grpc::ServerUnaryReactor* List(grpc::CallbackServerContext* context,
                                 const grpc::ByteBuffer* request,
                                 grpc::ByteBuffer* response) override;
  // `request` is a serialised informer.v1.GetRequest; `response` gets a GetResponse.
  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* context,
                                const grpc::ByteBuffer* request,
                                grpc::ByteBuffer* response) override;
  // `request` is a serialised informer.v1.ByIndexRequest; `response` gets a ByIndexResponse.
  grpc::ServerUnaryReactor* ByIndex(grpc::CallbackServerContext* context,
                                    const grpc::ByteBuffer* request,
                                    grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* AddIndex(grpc::CallbackServerContext* context,
                                     const informer::v1::AddIndexRequest* request,
                                     informer::v1::AddIndexResponse* response) override;
  // `request` is a serialised informer.v1.SubscribeRequest.
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Subscribe(grpc::CallbackServerContext* context,
                                                        const grpc::ByteBuffer* request) override;

  // Ends every stream and pending wait with UNAVAILABLE ("shutting down") and refuses new
  // calls; waits up to `grace` for the streams to be finished. Call before grpc::Server's
  // Shutdown. Idempotent.
  void Shutdown(absl::Duration grace);

  // The lag of every open stream (for metrics).
  std::vector<SubscriberLag> SubscriberLags() const;
  // Open Subscribe streams.
  size_t subscriber_count() const;
  // The limits' state, for tests and metrics.
  const CallerQuota& stream_quota() const { return streams_; }
  const ResourceVersionWaiter& waiter() const { return waiter_; }
  const Pager& pager() const { return pager_; }
  const AdmissionGate& start_gate() const { return starts_; }
  // Every limit's state, for the metrics.
  std::vector<Metrics::LimitState> LimitStates() const;
  // Lets go of `informer` (stopped: an on-demand informer gone idle) and drops the page
  // snapshots of its resource, so nothing here keeps its cache alive.
  void Forget(const SharedIndexInformer* informer);
  // Registers on `resource` (an on-demand cache started again, not running yet) the indexes
  // clients added at run time to its earlier one (RuntimeIndexes::Reapply).
  absl::Status ReapplyRuntimeIndexes(const CachedResource& resource);

 private:
  // The deadline, cancellation and caller of `context`, for waits and page snapshots;
  // `caller` is what Admit returned ("" with access control off: the peer's address counts).
  CallContext ContextOf(grpc::CallbackServerContext* context, const std::string& caller) const;
  // Who calls and whether they may do `verbs` on `read` (its resource resolved from
  // `resource_name`): OK with `*caller` (the page-token binding) when allowed or when access
  // control is off; Unauthenticated, PermissionDenied, Unavailable, or the resolution's error.
  // `who` (optional) receives the caller. With `narrowed` (and narrow_cluster_wide), a refused
  // cluster-wide read is allowed for the namespaces the caller may read, listed there.
  absl::Status Admit(grpc::CallbackServerContext* context, const char* method,
                     const std::string& resource_name, ReadAttributes read,
                     const std::vector<std::string>& verbs, std::string* caller,
                     Principal* who = nullptr, std::vector<std::string>* narrowed = nullptr);
  // The re-authorization of an open stream of `who` (sending `authorization`, its bearer
  // header) doing `verbs` on `read`: a refusal ends it (see StreamRecheck).
  StreamRecheck RecheckOf(Principal who, std::string authorization, ReadAttributes read,
                          std::vector<std::string> verbs);
  // The mask of a request's `fields` (null when empty); InvalidArgument (logged and counted)
  // for a bad path or too many.
  absl::StatusOr<std::shared_ptr<const FieldMask>> MaskOf(
      const char* method, const google::protobuf::RepeatedPtrField<std::string>& fields);
  // The resource `resource_name` designates, for the access checks: the cached one, or with
  // on-demand caching one that may be started (OnDemandCache::Find); nothing starts.
  absl::StatusOr<ResourceInfo> FindResource(const std::string& resource_name) const;
  // The resource a read named: the cached one, or, with on-demand caching, started now and
  // marked read; when the call `may_wait`, `*hold` keeps it from idling out until released.
  // REQUIRES: Admit allowed the call (nothing starts for a caller who may not read it).
  absl::StatusOr<CachedResource> AcquireResource(const std::string& resource_name, bool may_wait,
                                                 std::shared_ptr<void>* hold);
  // Calls `then` with OK once `resource` may be read by a unary call: at once when it has
  // synced, or when it is a configured resource and `wait_for_sync` is not set (the read then
  // answers its own not-synced error); after the initial sync with `wait_for_sync` (or with the
  // wait's error); otherwise with Unavailable saying it is starting on demand, adding the
  // `informer-retry-after-ms` trailer to `context`.
  void WhenSynced(grpc::CallbackServerContext* context, const CachedResource& resource,
                  bool wait_for_sync, const std::string& caller,
                  std::function<void(absl::Status)> then);
  // Finishes a unary call with `status`, recording its metrics.
  void FinishUnary(grpc::ServerUnaryReactor* reactor, const char* method, absl::Time started,
                   const absl::Status& status);

  const ResourceRegistry* registry_;
  Metrics* metrics_;
  const ServiceOptions options_;
  AccessGuard* const guard_;
  OnDemandCache* const on_demand_;
  Pager pager_;
  ResourceVersionWaiter waiter_;
  CacheReader reader_;
  // Masked objects of live changes, shared by the subscribers with the same mask
  // (before hub_: streams use it until they are deleted).
  MaskedObjectCache masked_objects_;
  // Before hub_: a stream's lease may be released while the hub is torn down.
  CallerQuota streams_;
  AdmissionGate starts_;
  StreamHub hub_;
  std::atomic<uint64_t> known_objects_refused_{0};
  std::atomic<uint64_t> field_masks_refused_{0};
  RuntimeIndexes runtime_indexes_;
  std::atomic<bool> shutting_down_{false};
};

}  // namespace server
}  // namespace informer

#endif  // SERVER_INFORMER_SERVICE_H_
