// InformerServer: the whole informerd process minus flags and Kubernetes config: informers,
// the gRPC server with health and reflection, metrics, the sync monitor, shutdown.
#ifndef SERVER_SERVER_H_
#define SERVER_SERVER_H_

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "informer/factory.h"
#include "informer/resource.h"
#include "server/access_guard.h"
#include "server/config.h"
#include "server/informer_service.h"
#include "server/metrics.h"
#include "server/metrics_http.h"
#include "server/on_demand.h"
#include "server/resource_registry.h"

namespace informer {
namespace server {

// Where resource names come from: discovery against the API server, or a fixed list in tests.
class ResourceSource {
 public:
  virtual ~ResourceSource() = default;
  // The resource `name` designates (kubectl-style); NotFound when the server does not serve it
  // (e.g. a CRD not installed yet), so it is retried later.
  virtual absl::StatusOr<ResourceInfo> Resolve(const std::string& name) = 0;
  // Every listable and watchable resource, in its preferred version.
  virtual absl::StatusOr<std::vector<ResourceInfo>> ListAll() = 0;
};

// The running server. Start brings up everything and returns; health reports SERVING once
// every configured resource has synced. Shutdown (e.g. on SIGTERM) ends streams with
// UNAVAILABLE, stops gRPC, then the informers.
//
// Thread-safety: every method may be called from any thread.
class InformerServer {
 public:
  // Resolves and starts the configured resources, binds every listen address and starts
  // serving. Resources that cannot be resolved yet are retried by the sync monitor (health
  // stays NOT_SERVING meanwhile). With config.access.enabled every call goes through `access`
  // (both halves required). Errors: InvalidArgument for a bad config (or unreadable TLS
  // files), Unavailable when an address cannot be bound.
  static absl::StatusOr<std::unique_ptr<InformerServer>> Start(
      ServerConfig config, std::shared_ptr<ListerWatcherFactory> lister_watchers,
      std::shared_ptr<ResourceSource> resources, AccessControl access = {});
  // Shuts down.
  ~InformerServer();

  // The port of the first TCP listen address (0 when there is none).
  int grpc_port() const { return grpc_port_; }
  // The port of /metrics (0 when off).
  int metrics_port() const;
  // Whether every configured resource has synced (what health reports; resources cached on
  // demand do not count).
  bool AllSynced() const;
  // Names of the configured resources not synced yet, with why (for /healthz and logs).
  std::vector<std::string> NotSynced() const;
  // The gRPC server, e.g. for in-process channels in tests.
  grpc::Server* grpc_server() { return server_.get(); }
  const ResourceRegistry& registry() const { return registry_; }
  InformerServiceImpl& service() { return *service_; }
  Metrics& metrics() { return metrics_; }

  // Ends every stream with UNAVAILABLE, stops accepting calls, waits up to the shutdown
  // grace, then stops the informers. Idempotent.
  void Shutdown();
  // Blocks until Shutdown has finished.
  void Wait();

 private:
  InformerServer(ServerConfig config, std::shared_ptr<ListerWatcherFactory> lister_watchers,
                 std::shared_ptr<ResourceSource> resources);
  // The answer of the HTTP server for `path`, for a caller sending `authorization`.
  HttpAnswer ServeHttp(const std::string& path, const std::string& authorization);

  // Resolves the names not resolved yet and starts their informers. Returns true when none is
  // left.
  bool ResolvePending();
  // Starts caching `info` with the settings of `resource` (may be null), registered as started
  // by `started_by`.
  absl::Status AddResource(const ResourceInfo& info, const ResourceConfig* resource,
                           StartedBy started_by = StartedBy::kConfig);
  // OnDemandCache's hooks: start caching `info` now; detach an idle `resource` from the
  // factory; stop it and free it.
  absl::StatusOr<CachedResource> StartOnDemand(const ResourceInfo& info);
  void DetachIdle(const CachedResource& resource);
  void StopIdle(const CachedResource& resource);
  // Waits for sync, logs what is stuck, flips health; runs until Shutdown.
  void MonitorSync();
  void SetServing(bool serving);

  const ServerConfig config_;
  std::shared_ptr<ResourceSource> resources_;
  SharedInformerFactory factory_;
  ResourceRegistry registry_;
  Metrics metrics_;
  AccessControl access_;
  std::unique_ptr<AccessGuard> guard_;        // null with access control off
  std::unique_ptr<OnDemandCache> on_demand_;  // null without --on_demand
  std::unique_ptr<InformerServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<MetricsHttpServer> metrics_http_;
  int grpc_port_ = 0;
  std::thread monitor_;

  mutable absl::Mutex mu_;
  // Configured names not resolved yet, with the last error.
  std::vector<std::pair<ResourceConfig, absl::Status>> pending_ ABSL_GUARDED_BY(mu_);
  bool serving_ ABSL_GUARDED_BY(mu_) = false;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace server
}  // namespace informer

#endif  // SERVER_SERVER_H_
