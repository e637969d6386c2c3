// informerd's settings: one plain struct with documented defaults, filled from an optional YAML
// file and then from flags.
#ifndef SERVER_CONFIG_H_
#define SERVER_CONFIG_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "informer/factory.h"
#include "informer/history.h"
#include "informer/selector.h"
#include "informer/store.h"
#include "server/limits.h"
#include "server/metrics_http.h"
#include "server/on_demand.h"
#include "server/pager.h"
#include "server/subscription.h"

namespace informer {
namespace server {

// An index of one resource: by a label's value or by the values at a field path.
struct IndexSpec {
  enum class Kind { kLabel, kField };
  std::string name;  // as ByIndex names it; defaults to "label:KEY" / "field:PATH"
  Kind kind = Kind::kLabel;
  std::string key;  // the label key or the field path
};

// Parses `label:KEY`, `field:PATH`, or either prefixed by `NAME=` to choose the index's name.
// InvalidArgument saying the accepted forms otherwise (or for a bad field path).
absl::StatusOr<IndexSpec> ParseIndexSpec(absl::string_view text);
// The IndexSpec as ParseIndexSpec reads it.
std::string IndexSpecString(const IndexSpec& spec);
// The store's index functions for `specs`.
Indexers BuildIndexers(const std::vector<IndexSpec>& specs);

// Settings of one cached resource; unset fields take the server-wide ones.
struct ResourceConfig {
  std::string name;  // kubectl-style: pods, deployments.apps, widgets.v1.example.com
  std::optional<std::string> namespace_name;
  std::optional<std::string> label_selector;
  std::optional<std::string> field_selector;
  std::optional<absl::Duration> resync;
  std::vector<IndexSpec> indexes;
  // `projection: metadata` caches only PartialObjectMetadata; `full` the whole objects. Unset =
  // full, except for core Secrets: metadata (see server/projection.h).
  std::optional<Projection> projection;
};

// Who may read what, and the transport (docs/security.md). Off by default for loopback
// development; deploy/ turns it on.
struct AccessConfig {
  // Authenticate every gRPC call (ServiceAccount token via TokenReview, or an mTLS client
  // certificate's SPIFFE ID) and authorize it with SubjectAccessReview; /metrics then needs a
  // token allowed `get` on the non-resource URL /metrics.
  bool enabled = false;
  // kubeconfig of the API server that answers the reviews; "" = the one informerd caches from.
  std::string kubeconfig;
  // Audiences a token must be valid for.
  std::vector<std::string> audiences = {"informerd"};
  // How long a TokenReview answer is kept (never past the token's expiry).
  absl::Duration token_ttl = absl::Minutes(1);
  // How long SubjectAccessReview allows and denies are kept; open streams are re-authorized
  // every allow_ttl.
  absl::Duration allow_ttl = absl::Seconds(20);
  absl::Duration deny_ttl = absl::Seconds(5);
  // TLS on the TCP gRPC listeners: PEM files, re-read every tls_refresh when they change.
  std::string tls_cert_file;
  std::string tls_key_file;
  // CAs of client certificates: when set, every TLS client must present one they signed
  // (mTLS); its SPIFFE ID spiffe://TD/ns/NS/sa/SA is the caller system:serviceaccount:NS:SA.
  std::string tls_client_ca_file;
  absl::Duration tls_refresh = absl::Minutes(1);
  // Trust domain a client certificate's SPIFFE ID must be in; "" = any.
  std::string spiffe_trust_domain;
  // A cluster-wide read by a caller who may read only some namespaces is narrowed to those
  // (named in the `informer-namespaces` metadata) instead of refused as the API server does.
  bool narrow_cluster_wide = false;
};

// Everything informerd can be told. The defaults are those of a local development run.
struct ServerConfig {
  // Where the API server is: a kubeconfig file (empty = $KUBECONFIG, then ~/.kube/config, then
  // in-cluster), a context in it (empty = current-context), or in-cluster only.
  std::string kubeconfig;
  std::string context;
  bool in_cluster = false;

  // gRPC listen addresses: HOST:PORT (port 0 = any) or unix:PATH.
  std::vector<std::string> listen = {"127.0.0.1:50051"};
  // HTTP address of /metrics and /healthz; empty = none.
  std::string metrics_listen = "127.0.0.1:9090";

  // What to cache: the listed resources, or every listable and watchable one (preferred
  // versions) when all_resources is set; resources then only adds settings.
  std::vector<ResourceConfig> resources;
  bool all_resources = false;
  // Cache on demand: a read of a resource not named above starts caching it when the policy
  // allows; such caches stop when idle (docs/configuration.md, "On demand").
  OnDemandConfig on_demand;

  // Server-wide limits of every informer (a resource's own settings win).
  std::string namespace_name;  // "" = all namespaces
  std::string label_selector;
  std::string field_selector;
  absl::Duration resync = absl::ZeroDuration();  // 0 = never
  // Indexes added to every resource, on top of the built-in "namespace".
  std::vector<IndexSpec> indexes;
  // Remove metadata.managedFields from cached objects (U3).
  bool strip_managed_fields = true;
  // Keep cached objects' JSON compressed with a dictionary trained per resource
  // (JsonCompressor), trained on that many of its first objects.
  bool cache_compression = true;
  uint64_t cache_compression_samples = 256;
  // List with a streaming list (WATCH with sendInitialEvents), falling back to LIST by
  // client-go's rules, as client-go v0.36 does by default (R16).
  bool streaming_list = true;
  // Dead API-server connections (R18): a watch connection silent this long is probed on the
  // same connection; no answer within the ping timeout restarts the watch (k8s::HttpOptions).
  absl::Duration apiserver_read_idle_timeout = absl::Seconds(30);
  absl::Duration apiserver_ping_timeout = absl::Seconds(15);

  // The history ring of each resource, for resuming subscribers.
  HistoryOptions history;
  // Subscriber queue limits and bookmarks.
  SubscriberLimits subscribers;
  // Paging of List and ByIndex.
  PagerOptions pager;

  // How long to wait for the initial sync before logging what is stuck and why (and again
  // each time this passes). Health stays NOT_SERVING until every resource synced.
  absl::Duration sync_timeout = absl::Seconds(60);
  // How long a call without a deadline may wait for min_resource_version.
  absl::Duration max_wait = absl::Seconds(30);
  // How long SIGTERM waits for streams to end before cutting them.
  absl::Duration shutdown_grace = absl::Seconds(5);
  // How often the free memory malloc keeps is checked, and handed back when 8 MiB or more is
  // free and 8 MiB more was freed (or re-faulted) since the last time (server/heap.h); 0 = never.
  absl::Duration heap_trim_interval = absl::Seconds(10);
  // Cap on glibc malloc's arenas (LimitMallocArenas); 0 = glibc's default.
  uint64_t malloc_arenas = 2;

  // Authentication, authorization and TLS.
  AccessConfig access;
  // Cache the data of core Secrets configured with `projection: full`. ValidateConfig refuses
  // it unless access.enabled. When false, Secrets with `projection: full` are cached without
  // data, stringData and the last-applied annotation (docs/security.md, "Secrets").
  bool allow_secret_data = false;

  // Log lines as JSON (default) or text; the minimum level (debug, info, warning, error).
  std::string log_format = "json";
  std::string log_level = "info";

  // Limits on hostile bytes (docs/configuration.md, "Limits"): what the API server's answers,
  // clients' selectors and the metrics port's clients can make informerd hold or do.
  // The Kubernetes transport: a response body, and one WATCH event (k8s::HttpOptions).
  uint64_t max_response_bytes = uint64_t{256} << 20;
  uint64_t max_watch_frame_bytes = uint64_t{64} << 20;
  // The selectors of List, ByIndex and Subscribe.
  SelectorLimits selector_limits;
  // The metrics and probe server's connections and per-request deadline.
  MetricsHttpOptions metrics_http;

  // Limits on what one caller may hold (docs/configuration.md, "Limits"): the gRPC transport's
  // message size, streams per connection, resource quota and connection age; known_objects,
  // streams, waits and Subscribe starts (page snapshots are in `pager`).
  GrpcLimits grpc_limits;
  CallLimits call_limits;
  // Whether and how many indexes clients may add at run time (AddIndex).
  RuntimeIndexLimits runtime_indexes;
};

// Applies the YAML document `yaml` (see docs/configuration in --help and the README) onto
// `config`. InvalidArgument naming the key and the problem (unknown key, wrong type, bad
// duration, bad index).
absl::Status ApplyConfigYaml(absl::string_view yaml, ServerConfig* config);
// Reads `path` and applies it as ApplyConfigYaml. NotFound when it cannot be read.
absl::Status ApplyConfigFile(const std::string& path, ServerConfig* config);

// Checks settings that would fail later: InvalidArgument saying what to change (no resources,
// soft limit above hard limit, a bad listen address, bad selectors).
absl::Status ValidateConfig(const ServerConfig& config);

}  // namespace server
}  // namespace informer

#endif  // SERVER_CONFIG_H_
