#include "server/server.h"

#include <algorithm>
#include <climits>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.pb.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/resource_quota.h"
#include "informer/clock.h"
#include "server/heap.h"
#include "server/log.h"
#include "server/projection.h"
#include "server/tls_credentials.h"

namespace informer {
namespace server {
namespace {

constexpr char kServiceName[] = "informer.v1.InformerService";
// How often unresolved resources (e.g. a CRD not installed yet) are looked up again.
constexpr absl::Duration kResolveRetry = absl::Seconds(10);
// How often on-demand caches are looked at for idleness (they stop this much late at most).
constexpr absl::Duration kIdleCheck = absl::Seconds(1);
// Free heap memory worth handing back (server/heap.h): below 8 MiB free, or 8 MiB more freed
// (or refaulted) since the last trim, not worth the walk. A trim of the soak's ~500 MB heap
// took ~12 ms (informerd_heap_trim_seconds_total). At 32 MiB, 1 000 subscribers of 20 000
// objects left 31.7 MiB free and resident (32 KiB per subscriber) that no trim took back.
constexpr uint64_t kHeapTrimMinBytes = uint64_t{8} << 20;
constexpr uint64_t kHeapTrimMinGrowthBytes = uint64_t{8} << 20;

FactoryOptions FactoryOptionsOf(const ServerConfig& config) {
  FactoryOptions options;
  options.namespace_name = config.namespace_name;
  options.label_selector = config.label_selector;
  options.field_selector = config.field_selector;
  options.default_resync = config.resync;
  if (!config.strip_managed_fields) options.transforms.clear();
  options.history = config.history;
  options.compression.enabled = config.cache_compression;
  options.compression.training_objects = config.cache_compression_samples;
  options.reflector.use_streaming_list = config.streaming_list;
  return options;
}

ServiceOptions ServiceOptionsOf(const ServerConfig& config) {
  ServiceOptions options;
  options.subscriber_limits = config.subscribers;
  options.pager = config.pager;
  options.max_wait = config.max_wait;
  options.selector_limits = config.selector_limits;
  options.recheck_interval = config.access.allow_ttl;
  options.narrow_cluster_wide = config.access.narrow_cluster_wide;
  options.limits = config.call_limits;
  options.runtime_indexes = config.runtime_indexes;
  return options;
}

}  // namespace

InformerServer::InformerServer(ServerConfig config,
                               std::shared_ptr<ListerWatcherFactory> lister_watchers,
                               std::shared_ptr<ResourceSource> resources)
    : config_(std::move(config)),
      resources_(std::move(resources)),
      factory_(std::move(lister_watchers), FactoryOptionsOf(config_)) {}

absl::StatusOr<std::unique_ptr<InformerServer>> InformerServer::Start(
    ServerConfig config, std::shared_ptr<ListerWatcherFactory> lister_watchers,
    std::shared_ptr<ResourceSource> resources, AccessControl access) {
  if (absl::Status s = ValidateConfig(config); !s.ok()) return s;
  if (config.access.enabled && (access.authenticator == nullptr || access.authorizer == nullptr)) {
    return absl::InvalidArgumentError("access control is on but no authenticator/authorizer");
  }
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> tcp_credentials =
      TcpServerCredentials(config.access);
  if (!tcp_credentials.ok()) return tcp_credentials.status();
  std::unique_ptr<InformerServer> server(
      new InformerServer(std::move(config), std::move(lister_watchers), std::move(resources)));
  const ServerConfig& cfg = server->config_;

  // What to cache.
  if (cfg.all_resources) {
    absl::StatusOr<std::vector<ResourceInfo>> all = server->resources_->ListAll();
    if (!all.ok()) return all.status();
    // Per-resource settings apply to the resources their names resolve to.
    std::vector<std::pair<GroupVersionResource, const ResourceConfig*>> settings;
    for (const ResourceConfig& resource : cfg.resources) {
      absl::StatusOr<ResourceInfo> info = server->resources_->Resolve(resource.name);
      if (info.ok()) settings.emplace_back(info->gvr, &resource);
    }
    for (const ResourceInfo& info : *all) {
      const ResourceConfig* setting = nullptr;
      for (const auto& [gvr, resource] : settings) {
        if (gvr == info.gvr) setting = resource;
      }
      if (absl::Status s = server->AddResource(info, setting); !s.ok()) return s;
    }
  } else {
    absl::MutexLock lock(&server->mu_);
    for (const ResourceConfig& resource : cfg.resources) {
      server->pending_.emplace_back(resource, absl::UnknownError("not resolved yet"));
    }
  }
  server->ResolvePending();

  // Access control, then gRPC: the service, health, reflection.
  if (cfg.access.enabled) {
    server->access_ = std::move(access);
    AccessGuardOptions guard_options;
    guard_options.spiffe_trust_domain = cfg.access.spiffe_trust_domain;
    server->guard_ = std::make_unique<AccessGuard>(server->access_.authenticator.get(),
                                                   server->access_.authorizer.get(),
                                                   &server->metrics_, guard_options);
  }
  if (cfg.on_demand.enabled) {
    InformerServer* self = server.get();
    OnDemandHooks hooks;
    hooks.discover = [self](absl::string_view name) {
      return self->resources_->Resolve(std::string(name));
    };
    hooks.start = [self](const ResourceInfo& info) { return self->StartOnDemand(info); };
    hooks.detach = [self](const CachedResource& resource) { self->DetachIdle(resource); };
    hooks.stop = [self](const CachedResource& resource) { self->StopIdle(resource); };
    hooks.subscribers = [self](const GroupVersionResource& gvr) -> int64_t {
      return self->metrics_.Subscribers(gvr.ToString())->subscribers.load();
    };
    server->on_demand_ =
        std::make_unique<OnDemandCache>(cfg.on_demand, &server->registry_, std::move(hooks));
    Log(LogLevel::kInfo, "caching on demand",
        {{"allow", absl::StrJoin(cfg.on_demand.allow, ",")},
         {"deny", absl::StrJoin(cfg.on_demand.deny, ",")},
         {"idle_timeout", absl::FormatDuration(cfg.on_demand.idle_timeout)}});
  }
  server->service_ = std::make_unique<InformerServiceImpl>(
      &server->registry_, &server->metrics_, ServiceOptionsOf(cfg), server->guard_.get(),
      server->on_demand_.get());
  grpc::EnableDefaultHealthCheckService(true);
  static const bool reflection = [] {
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
    // gRPC's health service has no protobuf descriptors of its own; touching our copy links
    // it in, so reflection can describe grpc.health.v1.Health too.
    (void)grpc::health::v1::HealthCheckRequest::descriptor();
    return true;
  }();
  (void)reflection;
  grpc::ServerBuilder builder;
  std::vector<int> ports(cfg.listen.size(), 0);
  for (size_t i = 0; i < cfg.listen.size(); ++i) {
    const bool unix_socket = absl::StartsWith(cfg.listen[i], "unix:");
    builder.AddListeningPort(cfg.listen[i],
                             unix_socket ? UnixServerCredentials() : *tcp_credentials, &ports[i]);
    if (!unix_socket && !IsLoopbackAddress(cfg.listen[i]) &&
        (cfg.access.tls_cert_file.empty() || !cfg.access.enabled)) {
      Log(LogLevel::kWarning,
          "LISTENING BEYOND LOOPBACK WITHOUT TLS AND AUTHENTICATION: anyone who reaches this "
          "address reads everything informerd caches with informerd's own RBAC; set --auth, "
          "--tls_cert_file and --tls_key_file (deploy/ does), or listen on 127.0.0.1",
          {{"listen", cfg.listen[i]},
           {"tls", cfg.access.tls_cert_file.empty() ? "off" : "on"},
           {"auth", cfg.access.enabled ? "on" : "off"}});
    }
  }
  builder.RegisterService(server->service_.get());
  // What one client may send and hold on the transport (docs/configuration.md, "Limits").
  const GrpcLimits& limits = cfg.grpc_limits;
  auto millis = [](absl::Duration d) {
    return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(d), INT_MAX));
  };
  builder.SetMaxReceiveMessageSize(static_cast<int>(limits.max_receive_message_bytes));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             static_cast<int>(limits.max_streams_per_connection));
  if (limits.max_connection_age > absl::ZeroDuration()) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS, millis(limits.max_connection_age));
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                               millis(limits.max_connection_age_grace));
  }
  grpc::ResourceQuota quota("informerd");
  if (limits.memory_bytes > 0) quota.Resize(limits.memory_bytes);
  quota.SetMaxThreads(limits.max_threads);
  builder.SetResourceQuota(quota);
  // Find dead subscribers (a vanished host never closes its TCP connection), and let clients
  // find a dead informerd the same way.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, millis(limits.keepalive_time));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, millis(limits.keepalive_timeout));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             millis(limits.min_client_ping_interval));
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", absl::StrJoin(cfg.listen, ", "),
                                               " (address in use, or a bad address?)"));
  }
  for (size_t i = 0; i < cfg.listen.size(); ++i) {
    if (absl::StartsWith(cfg.listen[i], "unix:")) continue;
    if (ports[i] == 0) {
      server->Shutdown();
      return absl::UnavailableError(absl::StrCat("cannot listen on ", cfg.listen[i]));
    }
    if (server->grpc_port_ == 0) server->grpc_port_ = ports[i];
  }
  server->SetServing(false);

  // Metrics and probes.
  server->metrics_.SetSources(&server->registry_,
                              [s = server.get()] { return s->service_->SubscriberLags(); });
  server->metrics_.SetLimitSource([s = server.get()] { return s->service_->LimitStates(); });
  if (!cfg.metrics_listen.empty()) {
    InformerServer* self = server.get();
    absl::StatusOr<std::unique_ptr<MetricsHttpServer>> http =
        MetricsHttpServer::Start(cfg.metrics_listen, cfg.metrics_http,
                                 [self](const std::string& path, const std::string& authorization) {
                                   return self->ServeHttp(path, authorization);
                                 });
    if (!http.ok()) {
      server->Shutdown();
      return http.status();
    }
    server->metrics_http_ = *std::move(http);
  }

  server->factory_.Start();
  server->monitor_ = std::thread([s = server.get()] { s->MonitorSync(); });
  Log(LogLevel::kInfo, "serving",
      {{"listen", absl::StrJoin(cfg.listen, ",")},
       {"grpc_port", std::to_string(server->grpc_port_)},
       {"metrics_port", std::to_string(server->metrics_port())}});
  return server;
}

InformerServer::~InformerServer() { Shutdown(); }

HttpAnswer InformerServer::ServeHttp(const std::string& path, const std::string& authorization) {
  if (path == "/metrics") {
    // Probes stay open; metrics say what is cached and who subscribes, so they need a caller
    // allowed `get` on /metrics (as the API server's own /metrics).
    if (guard_ != nullptr) {
      absl::StatusOr<Principal> principal = guard_->AuthenticateHeader(authorization, "/metrics");
      absl::Status allowed = principal.ok()
                                 ? guard_->AuthorizePath(*principal, "/metrics", "/metrics")
                                 : principal.status();
      if (!allowed.ok()) {
        const int code = absl::IsUnauthenticated(allowed)    ? 401
                         : absl::IsPermissionDenied(allowed) ? 403
                                                             : 503;
        return HttpAnswer{code, "text/plain; charset=utf-8", absl::StrCat(allowed.message(), "\n")};
      }
    }
    return HttpAnswer{200, "text/plain; version=0.0.4; charset=utf-8", metrics_.Render()};
  }
  if (path == "/healthz" || path == "/readyz") {
    if (AllSynced()) return HttpAnswer{200, "text/plain; charset=utf-8", "ok\n"};
    return HttpAnswer{503, "text/plain; charset=utf-8",
                      absl::StrCat("not synced:\n", absl::StrJoin(NotSynced(), "\n"), "\n")};
  }
  return HttpAnswer{404, "text/plain; charset=utf-8", "try /metrics or /healthz\n"};
}

int InformerServer::metrics_port() const {
  return metrics_http_ == nullptr ? 0 : metrics_http_->port();
}

absl::Status InformerServer::AddResource(const ResourceInfo& info, const ResourceConfig* resource,
                                         StartedBy started_by) {
  if (!info.SupportsListWatch()) {
    return absl::InvalidArgumentError(
        absl::StrCat(info.gvr.ToString(),
                     " cannot be cached: the API server does not allow list and watch on it"));
  }
  InformerOverrides overrides;
  std::vector<IndexSpec> indexes = config_.indexes;
  if (resource != nullptr) {
    overrides.namespace_name = resource->namespace_name;
    overrides.label_selector = resource->label_selector;
    overrides.field_selector = resource->field_selector;
    overrides.resync_period = resource->resync;
    indexes.insert(indexes.end(), resource->indexes.begin(), resource->indexes.end());
  }
  if (!info.namespaced) overrides.namespace_name = "";  // a namespace means nothing to it
  overrides.indexers = BuildIndexers(indexes);
  // Field-index paths are extracted once per object version, at decode.
  for (const IndexSpec& spec : indexes) {
    if (spec.kind == IndexSpec::Kind::kField) overrides.extracted_field_paths.push_back(spec.key);
  }
  CachePlan plan = PlanCaching(info, resource, config_);
  overrides.projection = plan.projection;
  overrides.transforms = std::move(plan.transforms);
  absl::StatusOr<std::shared_ptr<SharedIndexInformer>> informer =
      factory_.InformerFor(info, overrides);
  if (!informer.ok()) return informer.status();
  absl::Status added = registry_.Add(CachedResource{info, *informer, plan.projection, started_by});
  if (absl::IsAlreadyExists(added)) {
    Log(LogLevel::kWarning, "resource configured twice; the first settings win",
        {{"resource", info.gvr.ToString()}});
    return absl::OkStatus();
  }
  if (!added.ok()) return added;
  std::vector<std::string> index_names;
  for (const IndexSpec& spec : indexes) index_names.push_back(spec.name);
  Log(LogLevel::kInfo, "caching resource",
      {{"resource", info.gvr.ToString()},
       {"kind", info.kind},
       {"namespace", (*informer)->options().namespace_name},
       {"label_selector", (*informer)->options().label_selector},
       {"field_selector", (*informer)->options().field_selector},
       {"indexes", absl::StrJoin(index_names, ",")},
       {"projection", std::string(ProjectionName(plan.projection))},
       {"started_by", started_by == StartedBy::kOnDemand ? "on_demand" : "config"}});
  if (plan.secrets) {
    Log(plan.projection == Projection::kFull && config_.allow_secret_data ? LogLevel::kWarning
                                                                          : LogLevel::kInfo,
        "Secrets: what is cached and why",
        {{"resource", info.gvr.ToString()},
         {"projection", std::string(ProjectionName(plan.projection))},
         {"cached", plan.secrets_reason}});
  }
  return absl::OkStatus();
}

absl::StatusOr<CachedResource> InformerServer::StartOnDemand(const ResourceInfo& info) {
  // A configured resource not resolved yet (its CRD was installed after start) that a read
  // names starts now as configured: with its settings, never idling out.
  std::vector<ResourceConfig> pending;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [resource, status] : pending_) pending.push_back(resource);
  }
  for (const ResourceConfig& resource : pending) {
    absl::StatusOr<ResourceInfo> resolved = resources_->Resolve(resource.name);
    if (!resolved.ok() || !(resolved->gvr == info.gvr)) continue;
    {
      absl::MutexLock lock(&mu_);
      pending_.erase(std::remove_if(pending_.begin(), pending_.end(),
                                    [&resource](const auto& entry) {
                                      return entry.first.name == resource.name;
                                    }),
                     pending_.end());
    }
    if (absl::Status s = AddResource(*resolved, &resource); !s.ok()) return s;
    factory_.Start();
    return registry_.Find(info.gvr);
  }
  // No per-resource settings: the server-wide ones, and for Secrets metadata only (as for a
  // configured Secrets without `projection`).
  if (absl::Status s = AddResource(info, nullptr, StartedBy::kOnDemand); !s.ok()) return s;
  absl::StatusOr<CachedResource> resource = registry_.Find(info.gvr);
  if (!resource.ok()) return resource.status();
  if (resource->started_by != StartedBy::kOnDemand) return resource;  // configured meanwhile
  // Indexes clients added at run time to an earlier cache of it (stopped when idle) serve
  // again, before the first object arrives.
  if (service_ != nullptr) {
    if (absl::Status s = service_->ReapplyRuntimeIndexes(*resource); !s.ok()) {
      Log(LogLevel::kWarning, "runtime indexes not registered again",
          {{"resource", info.gvr.ToString()}, {"cause", std::string(s.message())}});
    }
  }
  factory_.Start();
  metrics_.RecordOnDemandStart(info.gvr.ToString());
  Log(LogLevel::kInfo, "informer started on demand",
      {{"resource", info.gvr.ToString()},
       {"cause", "a read of a resource not configured"},
       {"idle_timeout", absl::FormatDuration(config_.on_demand.idle_timeout)}});
  return resource;
}

void InformerServer::DetachIdle(const CachedResource& resource) {
  factory_.Detach(resource.info.gvr).IgnoreError();
}

void InformerServer::StopIdle(const CachedResource& resource) {
  const std::string name = resource.info.gvr.ToString();
  // Unregistered and detached already (no read finds it; a new read starts a new one); now
  // stopped (its threads joined) and let go of by everything that kept it, so its objects and
  // history are freed.
  const absl::Time stopping = MonotonicNow();
  resource.informer->Stop();
  if (service_ != nullptr) service_->Forget(resource.informer.get());
  // glibc keeps freed memory in its arenas; hand what the cache held back to the system, so
  // the process's RSS shows the informer is gone (a rare call: once per idle stop).
  ReleaseFreeHeap();
  metrics_.RecordIdleStop(name);
  Log(LogLevel::kInfo, "idle informer stopped",
      {{"resource", name},
       {"cause", absl::StrCat("no reads and no subscribers for ",
                              absl::FormatDuration(config_.on_demand.idle_timeout),
                              " (on_demand_idle_timeout); the next read starts it again")},
       {"stop_took", absl::FormatDuration(MonotonicNow() - stopping)}});
}

bool InformerServer::ResolvePending() {
  std::vector<std::pair<ResourceConfig, absl::Status>> pending;
  {
    absl::MutexLock lock(&mu_);
    pending.swap(pending_);
  }
  std::vector<std::pair<ResourceConfig, absl::Status>> still;
  for (auto& [resource, last] : pending) {
    absl::StatusOr<ResourceInfo> info = resources_->Resolve(resource.name);
    absl::Status status = info.ok() ? AddResource(*info, &resource) : info.status();
    if (!status.ok()) {
      if (status.message() != last.message()) {
        Log(LogLevel::kWarning, "cannot cache resource yet; will retry",
            {{"resource", resource.name}, {"error", std::string(status.message())}});
      }
      still.emplace_back(std::move(resource), std::move(status));
    }
  }
  absl::MutexLock lock(&mu_);
  for (auto& entry : still) pending_.push_back(std::move(entry));
  return pending_.empty();
}

bool InformerServer::AllSynced() const {
  {
    absl::MutexLock lock(&mu_);
    if (!pending_.empty()) return false;
  }
  for (const CachedResource& resource : registry_.All()) {
    if (resource.started_by == StartedBy::kConfig && !resource.informer->HasSynced()) {
      return false;
    }
  }
  return true;
}

std::vector<std::string> InformerServer::NotSynced() const {
  std::vector<std::string> out;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [resource, status] : pending_) {
      out.push_back(absl::StrCat(resource.name, ": cannot be resolved (",
                                 absl::IsNotFound(status) ? "CRD not installed? " : "",
                                 status.message(), ")"));
    }
  }
  for (const CachedResource& resource : registry_.All()) {
    if (resource.started_by != StartedBy::kConfig || resource.informer->HasSynced()) continue;
    const absl::Status error = resource.informer->LastError();
    std::string why = error.ok() ? "waiting for the initial LIST" : std::string(error.message());
    if (absl::IsPermissionDenied(error)) why = absl::StrCat("RBAC denied: ", why);
    if (absl::IsNotFound(error)) why = absl::StrCat("not found (CRD deleted?): ", why);
    out.push_back(absl::StrCat(resource.info.gvr.ToString(), ": ", why));
  }
  return out;
}

void InformerServer::SetServing(bool serving) {
  {
    absl::MutexLock lock(&mu_);
    serving_ = serving;
  }
  if (server_ == nullptr) return;
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  if (health == nullptr) return;
  health->SetServingStatus("", serving);
  health->SetServingStatus(kServiceName, serving);
}

void InformerServer::MonitorSync() {
  const absl::Time started = MonotonicNow();
  absl::Time next_report = started + config_.sync_timeout;
  absl::Time next_resolve = started + kResolveRetry;
  absl::Time next_idle_check = started + kIdleCheck;
  bool serving = false;
  HeapTrimmer heap_trimmer(config_.heap_trim_interval, kHeapTrimMinBytes, kHeapTrimMinGrowthBytes);
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return shutting_down_; };
      if (AwaitWithMonotonicTimeout(&mu_, absl::Condition(&stopping), absl::Milliseconds(50))) {
        return;
      }
    }
    const absl::Time now = MonotonicNow();
    if (now >= next_resolve) {
      next_resolve = now + kResolveRetry;
      if (!ResolvePending()) {
        // Nothing to do: still pending.
      }
      factory_.Start();  // starts what was just added (P2)
    }
    if (on_demand_ != nullptr && now >= next_idle_check) {
      next_idle_check = now + kIdleCheck;
      on_demand_->StopIdle(now);
    }
    if (heap_trimmer.MaybeTrim(now)) {
      Log(LogLevel::kDebug, "free heap memory handed back",
          {{"released_bytes", absl::StrCat(heap_trimmer.stats().released_bytes)},
           {"trims", absl::StrCat(heap_trimmer.stats().trims)}});
    }
    metrics_.SetHeap(heap_trimmer.stats());
    const bool synced = AllSynced();
    if (synced && !serving) {
      serving = true;
      SetServing(true);
      Log(LogLevel::kInfo, "every resource synced; health is SERVING",
          {{"after", absl::FormatDuration(now - started)},
           {"resources", std::to_string(registry_.All().size())}});
    }
    if (!synced && now >= next_report) {
      next_report = now + config_.sync_timeout;
      for (const std::string& why : NotSynced()) {
        Log(LogLevel::kWarning, "resource not synced; health stays NOT_SERVING",
            {{"waited", absl::FormatDuration(now - started)}, {"why", why}});
      }
    }
  }
}

void InformerServer::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (shutting_down_) {
      auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return shut_down_; };
      mu_.Await(absl::Condition(&done));
      return;
    }
    shutting_down_ = true;
  }
  Log(LogLevel::kInfo, "shutting down", {{"grace", absl::FormatDuration(config_.shutdown_grace)}});
  SetServing(false);
  if (monitor_.joinable()) monitor_.join();
  if (service_ != nullptr) service_->Shutdown(config_.shutdown_grace);
  Log(LogLevel::kDebug, "streams ended");
  if (server_ != nullptr) {
    server_->Shutdown(absl::ToChronoTime(absl::Now() + config_.shutdown_grace));
    server_->Wait();
  }
  Log(LogLevel::kDebug, "gRPC server stopped");
  if (metrics_http_ != nullptr) metrics_http_->Stop();
  factory_.Shutdown();
  Log(LogLevel::kDebug, "informers stopped");
  Log(LogLevel::kInfo, "stopped");
  absl::MutexLock lock(&mu_);
  shut_down_ = true;
}

void InformerServer::Wait() {
  absl::MutexLock lock(&mu_);
  auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return shut_down_; };
  mu_.Await(absl::Condition(&done));
}

}  // namespace server
}  // namespace informer
