#include "server/informer_service.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "informer/clock.h"
#include "server/convert.h"
#include "server/grpc_status.h"
#include "server/log.h"
#include "server/wire.h"

namespace informer {
namespace server {

namespace pb = ::informer::v1;

namespace {

const absl::Status& ShuttingDown() {
  static const absl::Status* status =
      new absl::Status(absl::UnavailableError("informerd is shutting down; retry elsewhere"));
  return *status;
}

// Trailing metadata of a call refused because its on-demand resource is still starting: how
// long to wait before retrying, in decimal milliseconds (a retry-after for gRPC).
constexpr char kRetryAfterMetadata[] = "informer-retry-after-ms";
constexpr int kOnDemandRetryAfterMillis = 1000;

// The Unavailable of a read of an on-demand resource that has not synced yet.
absl::Status OnDemandStartingError(const SharedIndexInformer& informer) {
  const absl::Status last_error = informer.LastError();
  return absl::UnavailableError(absl::StrCat(
      informer.resource().gvr.ToString(),
      " is starting: informerd began caching it on demand and its initial sync is not done",
      last_error.ok() ? "" : absl::StrCat(" (last error: ", last_error.message(), ")"),
      "; retry after ", kOnDemandRetryAfterMillis,
      " ms (trailer informer-retry-after-ms), or set wait_for_sync to wait for it"));
}

// Metadata naming the namespaces a cluster-wide read was narrowed to (narrow_cluster_wide).
constexpr char kNamespacesMetadata[] = "informer-namespaces";
// Initial metadata of every Subscribe stream that starts: the server's bookmark interval in
// milliseconds, so a client can tell a silent server from a quiet resource.
constexpr char kBookmarkIntervalMetadata[] = "informer-bookmark-interval-ms";

// InvalidArgument when a known_objects key is outside `namespace_name` (a namespaced request):
// the stream must never say anything about objects of other namespaces.
absl::Status CheckKnownObjects(const pb::SubscribeRequest& request) {
  if (request.namespace_().empty()) return absl::OkStatus();
  const std::string prefix = absl::StrCat(request.namespace_(), "/");
  for (const auto& [key, rv] : request.known_objects()) {
    if (!absl::StartsWith(key, prefix)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "known_objects key \"", key, "\" is outside the request's namespace \"",
          request.namespace_(), "\"; send only keys NAMESPACE/NAME of that namespace"));
    }
  }
  return absl::OkStatus();
}

// The number of known_objects entries (field 6) of a serialised SubscribeRequest, read from the
// wire format without building any; InvalidArgument when the bytes are not a protobuf message.
absl::StatusOr<size_t> CountKnownObjects(absl::string_view bytes) {
  constexpr int kKnownObjectsField = pb::SubscribeRequest::kKnownObjectsFieldNumber;
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                                            static_cast<int>(bytes.size()));
  size_t count = 0;
  while (const uint32_t tag = in.ReadTag()) {
    if (google::protobuf::internal::WireFormatLite::GetTagFieldNumber(tag) == kKnownObjectsField) {
      ++count;
    }
    if (!google::protobuf::internal::WireFormatLite::SkipField(&in, tag)) {
      return absl::InvalidArgumentError("malformed");
    }
  }
  if (!in.ConsumedEntireMessage()) return absl::InvalidArgumentError("malformed");
  return count;
}

WaiterOptions WaiterOptionsOf(const CallLimits& limits) {
  WaiterOptions options;
  options.max_waits = limits.max_waits;
  options.max_waits_per_caller = limits.max_waits_per_caller;
  return options;
}

ReadTarget TargetOf(const std::string& resource, const std::string& namespace_name,
                    const std::string& label_selector, const std::string& field_selector) {
  return ReadTarget{resource, namespace_name, label_selector, field_selector};
}

// The review attributes of a List, ByIndex or Subscribe of `target` (the resource is filled
// in once resolved).
ReadAttributes ReadOf(const ReadTarget& target) {
  ReadAttributes read;
  read.namespace_name = target.namespace_name;
  read.name = NameFixedBy(target.field_selector);
  read.label_selector = target.label_selector;
  read.field_selector = target.field_selector;
  return read;
}

// Parses a raw method's request into `request` (and releases the call's copy of its bytes);
// InvalidArgument naming the message when they are not one.
template <typename Request>
absl::Status ParseRequest(const grpc::ByteBuffer* raw_request, Request* request) {
  // The buffer is the call's; gRPC only destroys it once the call is done, which a cleared
  // buffer allows (Subscribe does the same).
  if (!grpc::SerializationTraits<Request>::Deserialize(const_cast<grpc::ByteBuffer*>(raw_request),
                                                       request)
           .ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the request is not an ", Request::descriptor()->full_name()));
  }
  return absl::OkStatus();
}

// `objects`, each pruned by `mask` when one is set; the first pruning error.
absl::StatusOr<std::vector<ObjectPtr>> Masked(const FieldMask* mask,
                                              std::vector<ObjectPtr> objects) {
  if (mask == nullptr) return objects;
  for (ObjectPtr& object : objects) {
    absl::StatusOr<MaskedObjectPtr> masked = mask->Apply(*object);
    if (!masked.ok()) return masked.status();
    object = (*masked)->object;
  }
  return objects;
}

// The stream hub's tick: options.bookmark_tick, but at most a quarter of the bookmark interval
// and at least 10 ms.
absl::Duration TickOf(const ServiceOptions& options) {
  return std::max(absl::Milliseconds(10),
                  std::min(options.bookmark_tick, options.subscriber_limits.bookmark_interval / 4));
}

}  // namespace

InformerServiceImpl::InformerServiceImpl(const ResourceRegistry* registry, Metrics* metrics,
                                         ServiceOptions options, AccessGuard* guard,
                                         OnDemandCache* on_demand)
    : registry_(registry),
      metrics_(metrics),
      options_(options),
      guard_(guard),
      on_demand_(on_demand),
      pager_(options.pager),
      waiter_(WaiterOptionsOf(options.limits)),
      reader_(registry, &pager_, &waiter_, options_.selector_limits),
      streams_("open Subscribe streams", options.limits.max_subscribers_per_caller,
               "max_subscribers_per_caller", options.limits.max_subscribers, "max_subscribers"),
      starts_(options.limits.max_concurrent_starts, options.limits.start_queue_wait),
      hub_(options.stream_threads, TickOf(options),
           options.subscriber_limits.write_timeout > absl::ZeroDuration()
               ? options.subscriber_limits.write_timeout
               : absl::InfiniteDuration()),
      runtime_indexes_(options.runtime_indexes) {}

InformerServiceImpl::~InformerServiceImpl() { Shutdown(absl::ZeroDuration()); }

CallContext InformerServiceImpl::ContextOf(grpc::CallbackServerContext* context,
                                           const std::string& caller) const {
  CallContext out;
  // Admit's caller is "USER\nUID"; the user is the quota's unit.
  out.caller = CallerKey(absl::string_view(caller).substr(0, caller.find('\n')), context->peer());
  // On the monotonic clock. gRPC gives the call's deadline on the wall clock, converted just now
  // from its own monotonic one: read the wall clock the same way (absl::Now() may lag a step of
  // the wall clock by seconds) to get the time left.
  absl::Duration wait = options_.max_wait;
  const auto call_deadline = context->deadline();
  if (call_deadline != std::chrono::system_clock::time_point::max()) {
    // Answer a little before the client gives up, so it gets our message rather than a bare
    // DEADLINE_EXCEEDED.
    const absl::Duration left = absl::FromChrono(call_deadline - std::chrono::system_clock::now());
    const absl::Duration margin = std::min(absl::Milliseconds(100), left / 10);
    wait = std::min(wait, left - margin);
  }
  out.deadline = MonotonicNow() + wait;
  out.cancelled = [context] { return context->IsCancelled(); };
  return out;
}

absl::Status InformerServiceImpl::Admit(grpc::CallbackServerContext* context, const char* method,
                                        const std::string& resource_name, ReadAttributes read,
                                        const std::vector<std::string>& verbs, std::string* caller,
                                        Principal* who, std::vector<std::string>* narrowed) {
  caller->clear();
  if (guard_ == nullptr) return absl::OkStatus();
  absl::StatusOr<Principal> principal = guard_->Authenticate(*context, method);
  if (!principal.ok()) return principal.status();
  // With on-demand caching, a resource not cached yet is checked as a cached one would be,
  // before anything starts.
  absl::StatusOr<ResourceInfo> info = FindResource(resource_name);
  if (!info.ok()) return info.status();
  read.resource = &*info;
  if (absl::Status allowed = guard_->Authorize(*principal, method, verbs, read); !allowed.ok()) {
    if (narrowed == nullptr || !options_.narrow_cluster_wide ||
        !absl::IsPermissionDenied(allowed) || !read.namespace_name.empty() || !info->namespaced) {
      return allowed;
    }
    // The namespaces holding cached objects that the caller may read (each decision cached).
    // A resource not cached yet holds none: the refusal stands and nothing starts.
    absl::StatusOr<CachedResource> cached = registry_->Resolve(resource_name);
    absl::StatusOr<std::vector<std::string>> present =
        cached.ok() ? cached->informer->store().ListIndexFuncValues(kNamespaceIndex)
                    : absl::StatusOr<std::vector<std::string>>(cached.status());
    narrowed->clear();
    for (const std::string& ns : present.ok() ? *present : std::vector<std::string>{}) {
      ReadAttributes in_ns = read;
      in_ns.namespace_name = ns;
      if (guard_->Authorize(*principal, method, verbs, in_ns).ok()) narrowed->push_back(ns);
    }
    if (narrowed->empty()) return allowed;
    std::sort(narrowed->begin(), narrowed->end());
  }
  *caller = absl::StrCat(principal->user.username, "\n", principal->user.uid);
  if (who != nullptr) *who = *std::move(principal);
  return absl::OkStatus();
}

StreamRecheck InformerServiceImpl::RecheckOf(Principal who, std::string authorization,
                                             ReadAttributes read, std::vector<std::string> verbs) {
  StreamRecheck recheck;
  recheck.every = options_.recheck_interval;
  recheck.expires = who.expires;
  // read.resource must outlive the check (the caller's closure keeps it).
  recheck.check = [this, who = std::move(who), authorization = std::move(authorization), read,
                   verbs = std::move(verbs)]() -> absl::Status {
    if (absl::Now() >= who.expires) {
      return absl::UnauthenticatedError(
          "the token expired; reconnect with a fresh token and resume from the "
          "informer-resume-resource-version trailer (or the last resource_version received)");
    }
    Principal current = who;
    if (who.via == "token") {
      // A token can be revoked (its ServiceAccount or Pod deleted) before it expires.
      absl::StatusOr<Principal> again = guard_->AuthenticateHeader(authorization, "Subscribe");
      if (!again.ok()) return again.status();
      current = *std::move(again);
    }
    absl::Status allowed = guard_->Authorize(current, "Subscribe", verbs, read);
    if (absl::IsPermissionDenied(allowed)) {
      return absl::PermissionDeniedError(
          absl::StrCat(allowed.message(),
                       " (access was withdrawn while subscribed; resume from the "
                       "informer-resume-resource-version trailer once allowed again)"));
    }
    // Unavailable (the API server cannot answer now) keeps the stream: it was allowed, and
    // the next check comes soon; refusing would drop every stream at each API server blip.
    return absl::IsUnavailable(allowed) ? absl::OkStatus() : allowed;
  };
  return recheck;
}

absl::StatusOr<ResourceInfo> InformerServiceImpl::FindResource(
    const std::string& resource_name) const {
  if (on_demand_ != nullptr) return on_demand_->Find(resource_name);
  absl::StatusOr<CachedResource> cached = registry_->Resolve(resource_name);
  if (!cached.ok()) return cached.status();
  return cached->info;
}

absl::StatusOr<CachedResource> InformerServiceImpl::AcquireResource(
    const std::string& resource_name, bool may_wait, std::shared_ptr<void>* hold) {
  if (on_demand_ == nullptr) return registry_->Resolve(resource_name);
  absl::StatusOr<CachedResource> resource = on_demand_->Acquire(resource_name, MonotonicNow());
  // A call that may wait (for the sync, or a resourceVersion) is a read until it is answered:
  // the resource does not idle out under it, however long its sync takes.
  if (resource.ok() && may_wait) *hold = on_demand_->HoldWhileReading(resource->info.gvr);
  return resource;
}

void InformerServiceImpl::WhenSynced(grpc::CallbackServerContext* context,
                                     const CachedResource& resource, bool wait_for_sync,
                                     const std::string& caller,
                                     std::function<void(absl::Status)> then) {
  if (resource.informer->HasSynced() ||
      (!wait_for_sync && resource.started_by == StartedBy::kConfig)) {
    return then(absl::OkStatus());
  }
  if (wait_for_sync) {
    const CallContext call = ContextOf(context, caller);
    return waiter_.WaitForSync(resource.informer, call.deadline, call.cancelled, std::move(then),
                               call.caller);
  }
  context->AddTrailingMetadata(kRetryAfterMetadata, absl::StrCat(kOnDemandRetryAfterMillis));
  then(OnDemandStartingError(*resource.informer));
}

absl::StatusOr<std::shared_ptr<const FieldMask>> InformerServiceImpl::MaskOf(
    const char* method, const google::protobuf::RepeatedPtrField<std::string>& fields) {
  absl::StatusOr<std::shared_ptr<const FieldMask>> mask =
      FieldMask::Parse(std::vector<std::string>(fields.begin(), fields.end()));
  if (!mask.ok()) {
    field_masks_refused_.fetch_add(1);
    Log(LogLevel::kInfo, "field mask refused",
        {{"method", method}, {"cause", std::string(mask.status().message())}});
  }
  return mask;
}

void InformerServiceImpl::FinishUnary(grpc::ServerUnaryReactor* reactor, const char* method,
                                      absl::Time started, const absl::Status& status) {
  metrics_->RecordCall(method, status.code(), MonotonicNow() - started);
  reactor->Finish(ToGrpcStatus(status));
}

grpc::ServerUnaryReactor* InformerServiceImpl::ListResources(
    grpc::CallbackServerContext* context, const pb::ListResourcesRequest* request,
    pb::ListResourcesResponse* response) {
  const absl::Time started = MonotonicNow();  // for the latency
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  std::optional<Principal> principal;
  if (guard_ != nullptr) {
    absl::StatusOr<Principal> who = guard_->Authenticate(*context, "ListResources");
    if (!who.ok()) {
      FinishUnary(reactor, "ListResources", started, who.status());
      return reactor;
    }
    principal = *std::move(who);
  }
  for (ResourceSummary& summary : reader_.ListResources()) {
    // What is cached is no secret; how much and what went wrong is for those who may read it
    // all.
    if (principal.has_value() &&
        !guard_->MayListClusterWide(*principal, "ListResources", summary.info)) {
      summary.object_count = 0;
      summary.last_error.clear();
      summary.stale = false;
      summary.stale_for = absl::ZeroDuration();
    }
    ToProto(summary, response->add_resources());
  }
  FinishUnary(reactor, "ListResources", started, absl::OkStatus());
  return reactor;
}

grpc::ServerUnaryReactor* InformerServiceImpl::List(grpc::CallbackServerContext* context,
                                                    const grpc::ByteBuffer* raw_request,
                                                    grpc::ByteBuffer* response) {
  const absl::Time started = MonotonicNow();  // for the latency
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (shutting_down_.load()) {
    FinishUnary(reactor, "List", started, ShuttingDown());
    return reactor;
  }
  pb::ListRequest parsed;
  if (absl::Status s = ParseRequest(raw_request, &parsed); !s.ok()) {
    FinishUnary(reactor, "List", started, s);
    return reactor;
  }
  const pb::ListRequest* request = &parsed;
  ListQuery query;
  query.target = TargetOf(request->resource(), request->namespace_(), request->label_selector(),
                          request->field_selector());
  query.limit = request->limit();
  query.page_token = request->page_token();
  query.min_resource_version = request->min_resource_version();
  absl::StatusOr<std::shared_ptr<const FieldMask>> mask = MaskOf("List", request->fields());
  if (!mask.ok()) {
    FinishUnary(reactor, "List", started, mask.status());
    return reactor;
  }
  if (absl::Status s = Admit(context, "List", request->resource(), ReadOf(query.target), {"list"},
                             &query.caller, nullptr, &query.namespaces);
      !s.ok()) {
    FinishUnary(reactor, "List", started, s);
    return reactor;
  }
  if (!query.namespaces.empty()) {
    context->AddTrailingMetadata(kNamespacesMetadata, absl::StrJoin(query.namespaces, ","));
  }
  std::shared_ptr<void> hold;  // kept by the answer's callbacks until it is sent
  absl::StatusOr<CachedResource> resource =
      AcquireResource(request->resource(),
                      request->wait_for_sync() || !request->min_resource_version().empty(), &hold);
  if (!resource.ok()) {
    FinishUnary(reactor, "List", started, resource.status());
    return reactor;
  }
  WhenSynced(context, *resource, request->wait_for_sync(), query.caller,
             [this, context, reactor, response, started, query, hold,
              mask = *std::move(mask)](absl::Status ready) {
               if (!ready.ok()) return FinishUnary(reactor, "List", started, ready);
               reader_.List(
                   query, ContextOf(context, query.caller),
                   [this, reactor, response, started, hold, mask](absl::StatusOr<Page> page) {
                     absl::StatusOr<std::vector<ObjectPtr>> objects =
                         page.ok() ? Masked(mask.get(), std::move(page->objects))
                                   : absl::StatusOr<std::vector<ObjectPtr>>(page.status());
                     if (objects.ok()) {
                       *response = EncodeListResponse(*objects, page->resource_version,
                                                      page->next_page_token, page->total_count);
                     }
                     FinishUnary(reactor, "List", started, objects.status());
                   });
             });
  return reactor;
}

grpc::ServerUnaryReactor* InformerServiceImpl::Get(grpc::CallbackServerContext* context,
                                                   const grpc::ByteBuffer* raw_request,
                                                   grpc::ByteBuffer* response) {
  const absl::Time started = MonotonicNow();  // for the latency
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (shutting_down_.load()) {
    FinishUnary(reactor, "Get", started, ShuttingDown());
    return reactor;
  }
  pb::GetRequest parsed;
  if (absl::Status s = ParseRequest(raw_request, &parsed); !s.ok()) {
    FinishUnary(reactor, "Get", started, s);
    return reactor;
  }
  const pb::GetRequest* request = &parsed;
  GetQuery query{request->resource(), request->namespace_(), request->name(),
                 request->min_resource_version()};
  absl::StatusOr<std::shared_ptr<const FieldMask>> mask = MaskOf("Get", request->fields());
  if (!mask.ok()) {
    FinishUnary(reactor, "Get", started, mask.status());
    return reactor;
  }
  ReadAttributes read;
  read.namespace_name = request->namespace_();
  read.name = request->name();
  std::string caller;
  if (absl::Status s = Admit(context, "Get", request->resource(), read, {"get"}, &caller);
      !s.ok()) {
    FinishUnary(reactor, "Get", started, s);
    return reactor;
  }
  std::shared_ptr<void> hold;  // kept by the answer's callbacks until it is sent
  absl::StatusOr<CachedResource> resource =
      AcquireResource(request->resource(),
                      request->wait_for_sync() || !request->min_resource_version().empty(), &hold);
  if (!resource.ok()) {
    FinishUnary(reactor, "Get", started, resource.status());
    return reactor;
  }
  WhenSynced(context, *resource, request->wait_for_sync(), caller,
             [this, context, reactor, response, started, query, caller, hold,
              mask = *std::move(mask)](absl::Status ready) {
               if (!ready.ok()) return FinishUnary(reactor, "Get", started, ready);
               reader_.Get(query, ContextOf(context, caller),
                           [this, reactor, response, started, hold,
                            mask](absl::StatusOr<ObjectPtr> object) {
                             if (object.ok() && mask != nullptr) {
                               absl::StatusOr<MaskedObjectPtr> masked = mask->Apply(**object);
                               object = masked.ok() ? absl::StatusOr<ObjectPtr>((*masked)->object)
                                                    : absl::StatusOr<ObjectPtr>(masked.status());
                             }
                             if (object.ok()) *response = EncodeGetResponse(*object);
                             FinishUnary(reactor, "Get", started, object.status());
                           });
             });
  return reactor;
}

grpc::ServerUnaryReactor* InformerServiceImpl::ByIndex(grpc::CallbackServerContext* context,
                                                       const grpc::ByteBuffer* raw_request,
                                                       grpc::ByteBuffer* response) {
  const absl::Time started = MonotonicNow();  // for the latency
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (shutting_down_.load()) {
    FinishUnary(reactor, "ByIndex", started, ShuttingDown());
    return reactor;
  }
  pb::ByIndexRequest parsed;
  if (absl::Status s = ParseRequest(raw_request, &parsed); !s.ok()) {
    FinishUnary(reactor, "ByIndex", started, s);
    return reactor;
  }
  const pb::ByIndexRequest* request = &parsed;
  ListQuery query;
  query.target = TargetOf(request->resource(), request->namespace_(), request->label_selector(),
                          request->field_selector());
  query.index_name = request->index_name();
  query.index_value = request->value();
  query.limit = request->limit();
  query.page_token = request->page_token();
  query.min_resource_version = request->min_resource_version();
  absl::StatusOr<std::shared_ptr<const FieldMask>> mask = MaskOf("ByIndex", request->fields());
  if (!mask.ok()) {
    FinishUnary(reactor, "ByIndex", started, mask.status());
    return reactor;
  }
  if (absl::Status s = Admit(context, "ByIndex", request->resource(), ReadOf(query.target),
                             {"list"}, &query.caller, nullptr, &query.namespaces);
      !s.ok()) {
    FinishUnary(reactor, "ByIndex", started, s);
    return reactor;
  }
  if (!query.namespaces.empty()) {
    context->AddTrailingMetadata(kNamespacesMetadata, absl::StrJoin(query.namespaces, ","));
  }
  std::shared_ptr<void> hold;  // kept by the answer's callbacks until it is sent
  absl::StatusOr<CachedResource> resource =
      AcquireResource(request->resource(),
                      request->wait_for_sync() || !request->min_resource_version().empty(), &hold);
  if (!resource.ok()) {
    FinishUnary(reactor, "ByIndex", started, resource.status());
    return reactor;
  }
  WhenSynced(context, *resource, request->wait_for_sync(), query.caller,
             [this, context, reactor, response, started, query, hold,
              mask = *std::move(mask)](absl::Status ready) {
               if (!ready.ok()) return FinishUnary(reactor, "ByIndex", started, ready);
               reader_.ByIndex(
                   query, ContextOf(context, query.caller),
                   [this, reactor, response, started, hold, mask](absl::StatusOr<Page> page) {
                     absl::StatusOr<std::vector<ObjectPtr>> objects =
                         page.ok() ? Masked(mask.get(), std::move(page->objects))
                                   : absl::StatusOr<std::vector<ObjectPtr>>(page.status());
                     if (objects.ok()) {
                       *response = EncodeByIndexResponse(*objects, page->next_page_token,
                                                         page->total_count);
                     }
                     FinishUnary(reactor, "ByIndex", started, objects.status());
                   });
             });
  return reactor;
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* InformerServiceImpl::Subscribe(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request) {
  if (shutting_down_.load()) return FinishedSubscribe(ToGrpcStatus(ShuttingDown()));
  // The known_objects cap is checked on the wire bytes, before a map entry is built.
  std::string bytes;
  {
    std::vector<grpc::Slice> slices;
    if (!raw_request->Dump(&slices).ok()) {
      return FinishedSubscribe(
          grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "the request could not be read"));
    }
    bytes.reserve(raw_request->Length());
    for (const grpc::Slice& slice : slices) {
      bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
    }
  }
  // gRPC keeps the request it received until the stream ends; a reconnecting client's
  // known_objects can be megabytes, read once, here. The buffer is the call's (it only
  // destroys it at the end, which a cleared buffer allows), so it is released now.
  const_cast<grpc::ByteBuffer*>(raw_request)->Clear();
  const absl::StatusOr<size_t> known = CountKnownObjects(bytes);
  if (!known.ok()) {
    return FinishedSubscribe(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                          "the request is not an informer.v1.SubscribeRequest"));
  }
  if (absl::Status s = CheckKnownObjectCount(*known, options_.limits.max_known_objects); !s.ok()) {
    known_objects_refused_.fetch_add(1);
    return FinishedSubscribe(ToGrpcStatus(s));
  }
  pb::SubscribeRequest parsed;
  if (!parsed.ParseFromString(bytes)) {
    return FinishedSubscribe(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                          "the request is not an informer.v1.SubscribeRequest"));
  }
  std::string().swap(bytes);
  const pb::SubscribeRequest* request = &parsed;
  absl::StatusOr<std::shared_ptr<const FieldMask>> mask = MaskOf("Subscribe", request->fields());
  if (!mask.ok()) return FinishedSubscribe(ToGrpcStatus(mask.status()));
  StreamRecheck recheck;
  std::string quota_caller;
  bool on_demand_resource = false;
  std::shared_ptr<void> subscribe_hold;        // while it may wait for the sync below
  std::shared_ptr<ResourceInfo> recheck_info;  // kept alive by the check's closure
  {
    // A resume by resourceVersion is a watch; any other start lists first (as a client-go
    // reflector's LIST then WATCH).
    const std::vector<std::string> verbs = request->resource_version().empty()
                                               ? std::vector<std::string>{"list", "watch"}
                                               : std::vector<std::string>{"watch"};
    std::string caller;
    Principal who;
    std::vector<std::string> narrowed;
    ReadAttributes read = ReadOf(TargetOf(request->resource(), request->namespace_(),
                                          request->label_selector(), request->field_selector()));
    absl::Status admitted =
        Admit(context, "Subscribe", request->resource(), read, verbs, &caller, &who, &narrowed);
    if (admitted.ok() && !narrowed.empty()) {
      // A stream follows one namespace (or all): narrowing works when the caller may read
      // exactly one.
      if (narrowed.size() > 1) {
        admitted = absl::PermissionDeniedError(absl::StrCat(
            "a cluster-wide Subscribe needs list and watch in every namespace; you may read only "
            "namespaces ",
            absl::StrJoin(narrowed, ", "), ": subscribe to each"));
      } else {
        parsed.set_namespace_(narrowed[0]);
        read.namespace_name = narrowed[0];
        context->AddInitialMetadata(kNamespacesMetadata, narrowed[0]);
      }
    }
    if (admitted.ok()) admitted = CheckKnownObjects(*request);
    if (!admitted.ok()) return FinishedSubscribe(ToGrpcStatus(admitted));
    // Allowed: now (and only now) may a resource not cached yet start.
    absl::StatusOr<CachedResource> acquired =
        AcquireResource(request->resource(), request->wait_for_sync(), &subscribe_hold);
    if (!acquired.ok()) return FinishedSubscribe(ToGrpcStatus(acquired.status()));
    on_demand_resource = acquired->started_by == StartedBy::kOnDemand;
    quota_caller = ContextOf(context, caller).caller;
    if (guard_ != nullptr) {
      absl::StatusOr<CachedResource> resource = registry_->Resolve(request->resource());
      if (resource.ok()) {
        std::string authorization;
        const auto& metadata = context->client_metadata();
        if (auto it = metadata.find("authorization"); it != metadata.end()) {
          authorization.assign(it->second.data(), it->second.size());
        }
        recheck_info = std::make_shared<ResourceInfo>(resource->info);
        read.resource = recheck_info.get();
        recheck = RecheckOf(std::move(who), std::move(authorization), read, verbs);
      }
    }
  }
  absl::StatusOr<ResolvedTarget> target =
      reader_.Resolve(TargetOf(request->resource(), request->namespace_(),
                               request->label_selector(), request->field_selector()));
  if (!target.ok()) return FinishedSubscribe(ToGrpcStatus(target.status()));
  for (const auto& [key, rv] : request->known_objects()) {
    if (absl::Status s = CheckKnownObjectEntry(key, rv, target->resource.info.namespaced);
        !s.ok()) {
      known_objects_refused_.fetch_add(1);
      return FinishedSubscribe(ToGrpcStatus(s));
    }
  }
  absl::StatusOr<CallerQuota::Lease> lease = streams_.Acquire(quota_caller);
  if (!lease.ok()) return FinishedSubscribe(ToGrpcStatus(lease.status()));
  // A fresh or known_objects start cuts the cache and builds its initial state: a few at once.
  AdmissionGate::Ticket ticket;
  const std::shared_ptr<SharedIndexInformer>& informer = target->resource.informer;
  if (request->resource_version().empty() || request->wait_for_sync()) {
    absl::StatusOr<AdmissionGate::Ticket> entered = starts_.Enter(ContextOf(context, "").deadline);
    if (!entered.ok()) return FinishedSubscribe(ToGrpcStatus(entered.status()));
    ticket = *std::move(entered);
  }
  if (!informer->HasSynced()) {
    if (request->wait_for_sync()) {
      // The one wait on a gRPC thread: a stream's reactor cannot be handed over later, so it
      // waits here, holding a start ticket (at most max_concurrent_starts threads wait at
      // once; later ones get RESOURCE_EXHAUSTED after start_queue_wait).
      const absl::Time deadline = ContextOf(context, "").deadline;
      if (!informer->WaitForSync(absl::Now() + (deadline - MonotonicNow()))) {
        const absl::Status last_error = informer->LastError();
        return FinishedSubscribe(ToGrpcStatus(absl::DeadlineExceededError(absl::StrCat(
            target->resource.info.gvr.ToString(),
            " did not finish its initial sync within the call's deadline",
            last_error.ok() ? "" : absl::StrCat("; last error: ", last_error.message()),
            "; retry with a longer deadline (the server waits at most --max_wait)"))));
      }
    } else if (on_demand_resource) {
      context->AddTrailingMetadata(kRetryAfterMetadata, absl::StrCat(kOnDemandRetryAfterMillis));
      return FinishedSubscribe(ToGrpcStatus(OnDemandStartingError(*informer)));
    }
  }
  SubscriptionRequest subscription_request;
  subscription_request.filter = std::move(target->filter);
  subscription_request.resource_version = request->resource_version();
  for (const auto& [key, rv] : request->known_objects()) {
    subscription_request.known_objects.emplace(key, rv);
  }
  subscription_request.include_old_object = request->include_old_object();
  subscription_request.fields = *std::move(mask);
  absl::StatusOr<std::unique_ptr<Subscription>> subscription =
      Subscription::Create(informer, std::move(subscription_request), options_.subscriber_limits,
                           MonotonicNow(), &masked_objects_);
  ticket.Release();
  if (absl::IsFailedPrecondition(subscription.status())) {
    return FinishedSubscribe(ToGrpcStatus(NotSyncedError(*informer)));
  }
  if (!subscription.ok()) return FinishedSubscribe(ToGrpcStatus(subscription.status()));
  if (recheck.check) {
    recheck.check = [check = std::move(recheck.check), recheck_info] { return check(); };
  }
  context->AddInitialMetadata(
      kBookmarkIntervalMetadata,
      absl::StrCat(absl::ToInt64Milliseconds(options_.subscriber_limits.bookmark_interval)));
  return hub_.Open(context, *std::move(subscription),
                   metrics_->Subscribers(target->resource.info.gvr.ToString()), std::move(recheck),
                   *std::move(lease));
}

grpc::ServerUnaryReactor* InformerServiceImpl::AddIndex(grpc::CallbackServerContext* context,
                                                        const pb::AddIndexRequest* request,
                                                        pb::AddIndexResponse* response) {
  const absl::Time started = MonotonicNow();  // for the latency
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (shutting_down_.load()) {
    FinishUnary(reactor, "AddIndex", started, ShuttingDown());
    return reactor;
  }
  // An index is built over every cached object and serves every caller: it takes list on the
  // resource in every namespace (a cluster-wide read; never narrowed).
  std::string caller;
  if (absl::Status s =
          Admit(context, "AddIndex", request->resource(), ReadAttributes(), {"list"}, &caller);
      !s.ok()) {
    FinishUnary(reactor, "AddIndex", started, s);
    return reactor;
  }
  absl::StatusOr<CachedResource> resource = registry_->Resolve(request->resource());
  if (!resource.ok()) {
    FinishUnary(reactor, "AddIndex", started, resource.status());
    return reactor;
  }
  absl::StatusOr<AddedIndex> added = runtime_indexes_.Add(*resource, request->index());
  if (added.ok()) {
    response->set_index_name(added->name);
    response->set_created(added->created);
    for (const std::string& name : resource->informer->store().IndexNames()) {
      response->add_index_names(name);
    }
  }
  FinishUnary(reactor, "AddIndex", started, added.status());
  return reactor;
}

void InformerServiceImpl::Shutdown(absl::Duration grace) {
  if (shutting_down_.exchange(true)) return;
  waiter_.Shutdown();
  hub_.Shutdown(grace);
}

void InformerServiceImpl::Forget(const SharedIndexInformer* informer) {
  waiter_.Forget(informer);
  pager_.DropResource(informer->resource().gvr.ToString());
}

absl::Status InformerServiceImpl::ReapplyRuntimeIndexes(const CachedResource& resource) {
  return runtime_indexes_.Reapply(resource);
}

std::vector<SubscriberLag> InformerServiceImpl::SubscriberLags() const { return hub_.Lags(); }

size_t InformerServiceImpl::subscriber_count() const { return hub_.size(); }

std::vector<Metrics::LimitState> InformerServiceImpl::LimitStates() const {
  return {
      {"subscribers", streams_.total(), streams_.refused()},
      {"waits", waiter_.pending(), waiter_.refused()},
      {"page_snapshots", pager_.snapshot_count(), pager_.refused()},
      {"starts", starts_.in_use(), starts_.refused()},
      {"known_objects", 0, known_objects_refused_.load()},
      {"field_paths", 0, field_masks_refused_.load()},
      {"runtime_indexes", runtime_indexes_.count(), runtime_indexes_.refused()},
  };
}

}  // namespace server
}  // namespace informer
