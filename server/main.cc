// informerd: runs the informers of the configured resources once and serves their cache over
// gRPC (informer.v1.InformerService). See --help.
#include <csignal>
#include <cstdlib>
#include <memory>
#include <thread>

#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "informer/k8s/config.h"
#include "informer/k8s/discovery.h"
#include "informer/k8s/rest_client.h"
#include "informer/k8s/rest_lister_watcher.h"
#include "informer/k8s/reviews.h"
#include "server/authn.h"
#include "server/authz.h"
#include "server/flags.h"
#include "server/heap.h"
#include "server/log.h"
#include "server/server.h"

namespace informer {
namespace server {
namespace {

// Resource names resolved by the API server's discovery, refreshed when a name is unknown
// (a CRD installed after informerd started).
class DiscoverySource : public ResourceSource {
 public:
  explicit DiscoverySource(std::shared_ptr<k8s::RestClient> client)
      : discovery_(std::move(client)) {}

  absl::StatusOr<ResourceInfo> Resolve(const std::string& name) override {
    absl::MutexLock lock(&mu_);
    if (!refreshed_) {
      if (absl::Status s = discovery_.Refresh(); !s.ok()) return s;
      refreshed_ = true;
      return discovery_.Resolve(name);
    }
    return discovery_.ResolveOrRefresh(name);
  }

  absl::StatusOr<std::vector<ResourceInfo>> ListAll() override {
    absl::MutexLock lock(&mu_);
    if (absl::Status s = discovery_.Refresh(); !s.ok()) return s;
    refreshed_ = true;
    std::vector<ResourceInfo> out;
    for (const ResourceInfo& info : discovery_.PreferredResources()) {
      if (info.SupportsListWatch()) out.push_back(info);
    }
    if (std::vector<std::string> failed = discovery_.FailedGroupVersions(); !failed.empty()) {
      Log(LogLevel::kWarning, "discovery could not read some API groups; they are not cached",
          {{"group_versions", absl::StrJoin(failed, ",")}});
    }
    return out;
  }

 private:
  absl::Mutex mu_;  // Discovery is thread-safe; this only keeps refreshes from piling up
  k8s::Discovery discovery_;
  bool refreshed_ ABSL_GUARDED_BY(mu_) = false;
};

// TokenReview and SubjectAccessReview against the API server of `access.kubeconfig` (or of
// `rest_config`, the one informerd caches from), cached as AccessConfig says.
absl::StatusOr<AccessControl> AccessControlOf(const AccessConfig& access,
                                              const k8s::RestConfig& rest_config) {
  AccessControl out;
  if (!access.enabled) return out;
  absl::StatusOr<k8s::RestConfig> config = rest_config;
  if (!access.kubeconfig.empty()) {
    k8s::LoadOptions load;
    load.kubeconfig_path = access.kubeconfig;
    load.allow_in_cluster = false;
    config = k8s::LoadRestConfig(load);
    if (!config.ok()) return config.status();
  }
  // A client of its own: reviews never wait behind informer traffic, and give up sooner.
  k8s::HttpOptions options;
  options.request_timeout = absl::Seconds(10);
  absl::StatusOr<std::shared_ptr<k8s::RestClient>> client =
      k8s::RestClient::Create(*config, options);
  if (!client.ok()) return client.status();
  std::shared_ptr<k8s::RestClient> reviews = *std::move(client);
  TokenAuthOptions token_options;
  token_options.audiences = access.audiences;
  token_options.ttl = access.token_ttl;
  out.authenticator = std::make_shared<TokenReviewAuthenticator>(
      [reviews](absl::string_view token, const std::vector<std::string>& audiences) {
        return k8s::ReviewToken(*reviews, token, audiences);
      },
      token_options);
  AccessReviewOptions access_options;
  access_options.allow_ttl = access.allow_ttl;
  access_options.deny_ttl = access.deny_ttl;
  out.authorizer = std::make_shared<SubjectAccessReviewAuthorizer>(
      [reviews](const k8s::UserInfo& user, const k8s::AccessAttributes& attributes) {
        return k8s::ReviewAccess(*reviews, user, attributes);
      },
      access_options);
  Log(LogLevel::kInfo, "access control on: TokenReview and SubjectAccessReview",
      {{"server", config->server},
       {"audiences", absl::StrJoin(access.audiences, ",")},
       {"token_ttl", absl::FormatDuration(access.token_ttl)},
       {"allow_ttl", absl::FormatDuration(access.allow_ttl)},
       {"deny_ttl", absl::FormatDuration(access.deny_ttl)}});
  return out;
}

LogLevel LevelOf(const std::string& name) {
  if (name == "debug") return LogLevel::kDebug;
  if (name == "warning") return LogLevel::kWarning;
  if (name == "error") return LogLevel::kError;
  return LogLevel::kInfo;
}

int Run(int argc, char** argv) {
#ifdef NDEBUG
  // Debian's Abseil is built without NDEBUG, so every Mutex acquisition also updates its
  // deadlock detector's lock graph: ~10 % of a busy server's CPU (docs/benchmarks.md). Release
  // builds turn it off; Debug and sanitizer builds, and every test binary, keep it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
#endif
  // SIGTERM/SIGINT go to one thread that shuts down; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  SetUpUsage();
  const absl::flat_hash_set<std::string> given = FlagsGiven(argc, argv);
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() > 1) {
    Log(LogLevel::kError, "unexpected arguments; every setting is a --flag (see --help)",
        {{"argument", positional[1]}});
    return 2;
  }
  absl::StatusOr<ServerConfig> config = ConfigFromFlags(given);
  if (config.ok()) {
    if (absl::Status s = ValidateConfig(*config); !s.ok()) config = s;
  }
  if (!config.ok()) {
    Log(LogLevel::kError, "bad configuration", {{"error", std::string(config.status().message())}});
    return 2;
  }
  SetLogJson(config->log_format == "json");
  SetMinLogLevel(LevelOf(config->log_level));
  InstallCoreLogSink();
  // Before any of the server's threads: an arena is made by a thread's first allocation.
  const MallocArenaLimit arenas = LimitMallocArenas(config->malloc_arenas);
  if (arenas.applied) {
    Log(LogLevel::kInfo, "malloc arenas capped", {{"arenas", absl::StrCat(config->malloc_arenas)}});
  } else {
    Log(LogLevel::kInfo, "malloc arenas not capped", {{"reason", arenas.reason}});
  }

  absl::StatusOr<k8s::RestConfig> rest_config;
  if (config->in_cluster) {
    rest_config = k8s::InClusterConfig();
  } else {
    k8s::LoadOptions load;
    load.kubeconfig_path = config->kubeconfig;
    load.context = config->context;
    rest_config = k8s::LoadRestConfig(load);
  }
  if (!rest_config.ok()) {
    Log(LogLevel::kError, "cannot find the API server",
        {{"error", std::string(rest_config.status().message())}});
    return 1;
  }
  Log(LogLevel::kInfo, "API server",
      {{"server", rest_config->server}, {"from", rest_config->source}});
  k8s::HttpOptions http_options;
  http_options.max_response_bytes = config->max_response_bytes;
  http_options.max_watch_frame_bytes = config->max_watch_frame_bytes;
  http_options.read_idle_timeout = config->apiserver_read_idle_timeout;
  http_options.ping_timeout = config->apiserver_ping_timeout;
  absl::StatusOr<std::shared_ptr<k8s::RestClient>> client =
      k8s::RestClient::Create(*rest_config, http_options);
  if (!client.ok()) {
    Log(LogLevel::kError, "cannot create the API client",
        {{"error", std::string(client.status().message())}});
    return 1;
  }
  auto source = std::make_shared<DiscoverySource>(*client);
  auto lister_watchers = std::make_shared<k8s::RestListerWatcherFactory>(*client);
  absl::StatusOr<AccessControl> access = AccessControlOf(config->access, *rest_config);
  if (!access.ok()) {
    Log(LogLevel::kError, "cannot set up access control",
        {{"error", std::string(access.status().message())}});
    return 1;
  }
  // The signal thread runs before Start: Start resolves the resources (discovery), which can
  // hang on an unresponsive API server for as long as the HTTP timeouts allow. A signal before
  // the server is up ends the process at once: nothing is served yet, so nothing drains.
  absl::Mutex start_mu;
  InformerServer* started = nullptr;  // guarded by start_mu
  bool start_failed = false;          // guarded by start_mu
  std::thread signal_thread([&] {
    int signal = 0;
    sigwait(&signals, &signal);
    const char* name = signal == SIGTERM ? "SIGTERM" : "SIGINT";
    InformerServer* s = nullptr;
    {
      absl::MutexLock lock(&start_mu);
      if (start_failed) return;
      s = started;
    }
    if (s == nullptr) {
      Log(LogLevel::kInfo, "signal received while starting (discovery); exiting now",
          {{"signal", name}});
      std::_Exit(0);
    }
    Log(LogLevel::kInfo, "signal received", {{"signal", name}});
    s->Shutdown();
  });
  absl::StatusOr<std::unique_ptr<InformerServer>> server =
      InformerServer::Start(*std::move(config), lister_watchers, source, *std::move(access));
  if (!server.ok()) {
    Log(LogLevel::kError, "cannot start", {{"error", std::string(server.status().message())}});
    {
      absl::MutexLock lock(&start_mu);
      start_failed = true;
    }
    signal_thread.detach();  // blocked in sigwait; the process ends now
    return 1;
  }
  {
    absl::MutexLock lock(&start_mu);
    started = server->get();
  }
  // Only the signal thread shuts down, so once Wait returns it is done too.
  (*server)->Wait();
  signal_thread.join();
  return 0;
}

}  // namespace
}  // namespace server
}  // namespace informer

int main(int argc, char** argv) { return informer::server::Run(argc, argv); }
