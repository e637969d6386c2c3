#include "server/informer_service.h"

#include <algorithm>
#include <utility>

#include "absl/time/clock.h"
#include "server/convert.h"
#include "server/grpc_status.h"

namespace informer {
namespace server {

namespace pb = ::informer::v1;

namespace {

const absl::Status& ShuttingDown() {
  static const absl::Status* status =
      new absl::Status(absl::UnavailableError("informerd is shutting down; retry elsewhere"));
  return *status;
}

ReadTarget TargetOf(const std::string& resource, const std::string& namespace_name,
                    const std::string& label_selector, const std::string& field_selector) {
  return ReadTarget{resource, namespace_name, label_selector, field_selector};
}

}  // namespace

InformerServiceImpl::InformerServiceImpl(const ResourceRegistry* registry, Metrics* metrics,
                                         ServiceOptions options)
    : metrics_(metrics),
      options_(options),
      pager_(options.pager),
      reader_(registry, &pager_, &waiter_, &cuts_, options_.selector_limits),
      hub_(options.stream_threads, options.bookmark_tick) {}

InformerServiceImpl::~InformerServiceImpl() { Shutdown(absl::ZeroDuration()); }

CallContext InformerServiceImpl::ContextOf(grpc::CallbackServerContext* context) const {
  CallContext out;
  const absl::Time now = absl::Now();
  absl::Time deadline = now + options_.max_wait;
  const auto call_deadline = context->deadline();
  if (call_deadline != std::chrono::system_clock::time_point::max()) {
    // Answer a little before the client gives up, so it gets our message rather than a bare
    // DEADLINE_EXCEEDED.
    const absl::Time client = absl::FromChrono(call_deadline);
    const absl::Duration margin = std::min(absl::Milliseconds(100), (client - now) / 10);
    deadline = std::min(deadline, client - margin);
  }
  out.deadline = deadline;
  out.cancelled = [context] { return context->IsCancelled(); };
  return out;
}

void InformerServiceImpl::FinishUnary(grpc::ServerUnaryReactor* reactor, const char* method,
                                      absl::Time started, const absl::Status& status) {
  metrics_->RecordCall(method, status.code(), absl::Now() - started);
  reactor->Finish(ToGrpcStatus(status));
}

grpc::ServerUnaryReactor* InformerServiceImpl::ListResources(
    grpc::CallbackServerContext* context, const pb::ListResourcesRequest* request,
    pb::ListResourcesResponse* response) {
  const absl::Time started = absl::Now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  for (const ResourceSummary& summary : reader_.ListResources()) {
    ToProto(summary, response->add_resources());
  }
  FinishUnary(reactor, "ListResources", started, absl::OkStatus());
  return reactor;
}

grpc::ServerUnaryReactor* InformerServiceImpl::List(grpc::CallbackServerContext* context,
                                                    const pb::ListRequest* request,
                                                    pb::ListResponse* response) {
  const absl::Time started = absl::Now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (shutting_down_.load()) {
    FinishUnary(reactor, "List", started, ShuttingDown());
    return reactor;
  }
  ListQuery query;
  query.target = TargetOf(request->resource(), request->namespace_(), request->label_selector(),
                          request->field_selector());
  query.limit = request->limit();
  query.page_token = request->page_token();
  query.min_resource_version = request->min_resource_version();
  reader_.List(query, ContextOf(context),
               [this, reactor, response, started](absl::StatusOr<Page> page) {
                 if (page.ok()) {
                   for (const ObjectPtr& object : page->objects) {
                     ToProto(*object, response->add_objects());
                   }
                   response->set_resource_version(page->resource_version);
                   response->set_next_page_token(page->next_page_token);
                   response->set_total_count(page->total_count);
                 }
                 FinishUnary(reactor, "List", started, page.status());
               });
  return reactor;
}

grpc::ServerUnaryReactor* InformerServiceImpl::Get(grpc::CallbackServerContext* context,
                                                   const pb::GetRequest* request,
                                                   pb::GetResponse* response) {
  const absl::Time started = absl::Now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (shutting_down_.load()) {
    FinishUnary(reactor, "Get", started, ShuttingDown());
    return reactor;
  }
  GetQuery query{request->resource(), request->namespace_(), request->name(),
                 request->min_resource_version()};
  reader_.Get(query, ContextOf(context),
              [this, reactor, response, started](absl::StatusOr<ObjectPtr> object) {
                if (object.ok()) ToProto(**object, response->mutable_object());
                FinishUnary(reactor, "Get", started, object.status());
              });
  return reactor;
}

grpc::ServerUnaryReactor* InformerServiceImpl::ByIndex(grpc::CallbackServerContext* context,
                                                       const pb::ByIndexRequest* request,
                                                       pb::ByIndexResponse* response) {
  const absl::Time started = absl::Now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (shutting_down_.load()) {
    FinishUnary(reactor, "ByIndex", started, ShuttingDown());
    return reactor;
  }
  ListQuery query;
  query.target = TargetOf(request->resource(), request->namespace_(), request->label_selector(),
                          request->field_selector());
  query.index_name = request->index_name();
  query.index_value = request->value();
  query.limit = request->limit();
  query.page_token = request->page_token();
  query.min_resource_version = request->min_resource_version();
  reader_.ByIndex(query, ContextOf(context),
                  [this, reactor, response, started](absl::StatusOr<Page> page) {
                    if (page.ok()) {
                      for (const ObjectPtr& object : page->objects) {
                        ToProto(*object, response->add_objects());
                      }
                      response->set_next_page_token(page->next_page_token);
                      response->set_total_count(page->total_count);
                    }
                    FinishUnary(reactor, "ByIndex", started, page.status());
                  });
  return reactor;
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* InformerServiceImpl::Subscribe(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request) {
  if (shutting_down_.load()) return FinishedSubscribe(ToGrpcStatus(ShuttingDown()));
  pb::SubscribeRequest parsed;
  grpc::ByteBuffer request_bytes(*raw_request);  // Deserialize consumes its buffer
  if (!grpc::SerializationTraits<pb::SubscribeRequest>::Deserialize(&request_bytes, &parsed).ok()) {
    return FinishedSubscribe(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                          "the request is not an informer.v1.SubscribeRequest"));
  }
  const pb::SubscribeRequest* request = &parsed;
  absl::StatusOr<ResolvedTarget> target =
      reader_.Resolve(TargetOf(request->resource(), request->namespace_(),
                               request->label_selector(), request->field_selector()));
  if (!target.ok()) return FinishedSubscribe(ToGrpcStatus(target.status()));
  SubscriptionRequest subscription_request;
  subscription_request.filter = std::move(target->filter);
  subscription_request.resource_version = request->resource_version();
  for (const auto& [key, rv] : request->known_objects()) {
    subscription_request.known_objects.emplace(key, rv);
  }
  subscription_request.include_old_object = request->include_old_object();
  const std::shared_ptr<SharedIndexInformer>& informer = target->resource.informer;
  absl::StatusOr<std::unique_ptr<Subscription>> subscription = Subscription::Create(
      informer, std::move(subscription_request), options_.subscriber_limits, absl::Now(), &cuts_);
  if (absl::IsFailedPrecondition(subscription.status())) {
    return FinishedSubscribe(ToGrpcStatus(NotSyncedError(*informer)));
  }
  if (!subscription.ok()) return FinishedSubscribe(ToGrpcStatus(subscription.status()));
  return hub_.Open(context, *std::move(subscription),
                   metrics_->Subscribers(target->resource.info.gvr.ToString()));
}

void InformerServiceImpl::Shutdown(absl::Duration grace) {
  if (shutting_down_.exchange(true)) return;
  waiter_.Shutdown();
  hub_.Shutdown(grace);
}

void InformerServiceImpl::RecordCut(const SharedIndexInformer& informer) {
  InformerSnapshot cut = informer.Snapshot();
  cuts_.Record(&informer, cut.resource_version, cut.history_seq);
}

std::vector<SubscriberLag> InformerServiceImpl::SubscriberLags() const { return hub_.Lags(); }

size_t InformerServiceImpl::subscriber_count() const { return hub_.size(); }

}  // namespace server
}  // namespace informer
