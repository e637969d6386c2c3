#include "server/flags.h"

#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

// Where the API server is.
ABSL_FLAG(std::string, config, "",
          "YAML file with any of these settings under the flags' names, plus per-resource "
          "settings (see docs/configuration.md); flags given on the command line win");
ABSL_FLAG(std::string, kubeconfig, "",
          "kubeconfig file; empty = $KUBECONFIG, then ~/.kube/config, then the in-cluster "
          "service account");
ABSL_FLAG(std::string, context, "", "kubeconfig context; empty = its current-context");
ABSL_FLAG(bool, in_cluster, false,
          "use only the pod's service account (in-cluster config), never a kubeconfig");

// Where informerd listens.
ABSL_FLAG(std::vector<std::string>, listen, {"127.0.0.1:50051"},
          "gRPC listen addresses, comma-separated: HOST:PORT (port 0 = any free port) or "
          "unix:PATH (a unix socket)");
ABSL_FLAG(std::string, metrics_listen, "127.0.0.1:9090",
          "HTTP address of Prometheus /metrics and /healthz; empty = off");

// What to cache.
ABSL_FLAG(std::vector<std::string>, resources, {},
          "resources to cache, kubectl-style and comma-separated (pods,deployments.apps,"
          "widgets.v1.example.com), or `all` for every listable and watchable resource");
ABSL_FLAG(bool, on_demand, false,
          "cache on demand: a List, Get, ByIndex or Subscribe of a resource the API server serves "
          "but --resources does not name starts caching it (after the same access checks), "
          "when --on_demand_allow allows and --on_demand_deny does not deny it; until it has "
          "synced such calls answer UNAVAILABLE with the trailer informer-retry-after-ms, or "
          "wait with the request's wait_for_sync. Secrets are cached as metadata only");
ABSL_FLAG(std::vector<std::string>, on_demand_allow, {"*"},
          "with --on_demand: resources a read may start caching: `*`, RESOURCE (core group, e.g. "
          "configmaps), RESOURCE.GROUP (deployments.apps) or *.GROUP (*.example.com)");
ABSL_FLAG(std::vector<std::string>, on_demand_deny, {},
          "with --on_demand: resources never cached on demand (patterns as --on_demand_allow); "
          "wins over --on_demand_allow");
ABSL_FLAG(absl::Duration, on_demand_idle_timeout, absl::Minutes(10),
          "with --on_demand: a resource cached on demand with no subscribers and no reads for this "
          "long stops and frees its cache and history (the next read starts it again); "
          "configured resources never stop");
ABSL_FLAG(std::string, namespace, "",
          "cache only this namespace (every resource); empty = all namespaces");
ABSL_FLAG(std::string, label_selector, "",
          "cache only objects matching this label selector (every resource)");
ABSL_FLAG(std::string, field_selector, "",
          "cache only objects matching this field selector, evaluated by the API server "
          "(every resource)");
ABSL_FLAG(std::vector<std::string>, index, {},
          "extra indexes for ByIndex, comma-separated RESOURCE=SPEC where SPEC is label:KEY or "
          "field:PATH, optionally NAME=label:KEY (e.g. pods=field:spec.nodeName,"
          "pods=app=label:app); a RESOURCE of * indexes every resource. Give them all in one "
          "--index: a repeated flag replaces the earlier one");
ABSL_FLAG(absl::Duration, resync, absl::ZeroDuration(),
          "resync period of every informer (client-go's), 0 = never");
ABSL_FLAG(bool, strip_managed_fields, true,
          "remove metadata.managedFields from cached objects (they are often half an object)");
ABSL_FLAG(bool, cache_compression, true,
          "keep cached objects' JSON compressed (zstd, with a dictionary trained on each "
          "resource's first objects, see --cache_compression_samples; off by itself for a resource "
          "whose objects do not "
          "compress 1.5x): a Pod's ~4 KB takes ~0.5 KB, for ~5 us of CPU per change and ~2 us per "
          "read; false = keep it plain");
ABSL_FLAG(uint64_t, cache_compression_samples, 256,
          "objects of each resource (of 256 bytes or more) whose JSON trains its compression "
          "dictionary, 8 to 100000; they and the objects before them stay plain");
ABSL_FLAG(bool, streaming_list, true,
          "list with a streaming list (a WATCH with sendInitialEvents, as client-go v0.36 by "
          "default), falling back to LIST when the API server refuses it; false = always LIST");
ABSL_FLAG(absl::Duration, apiserver_read_idle_timeout, absl::Seconds(30),
          "a watch's HTTP/2 connection that received nothing for this long is probed with a "
          "small request on the same connection (client-go's HTTP/2 ReadIdleTimeout); 0 = off");
ABSL_FLAG(absl::Duration, apiserver_ping_timeout, absl::Seconds(15),
          "a probed connection that does not answer within this is dead: its watch restarts "
          "on a new connection (client-go's HTTP/2 PingTimeout)");

// History and subscribers.
ABSL_FLAG(uint64_t, history_size, 100000,
          "changes kept per resource at most for subscribers resuming by resourceVersion");
ABSL_FLAG(uint64_t, history_bytes, uint64_t{256} << 20,
          "bytes kept per resource in that history at most");
ABSL_FLAG(uint64_t, history_cache_percent, 25,
          "by default the history of a resource holds at most this percentage of the bytes of "
          "its cache (but at least 16 MiB), within --history_size and --history_bytes; 0 = "
          "only those two bounds. Giving --history_size or --history_bytes without this flag "
          "sets it to 0, so the bounds given are the ones in force");
ABSL_FLAG(uint64_t, subscriber_soft_limit, 1000,
          "changes a subscriber may be behind before its pending changes are coalesced per "
          "object (latest state wins, deletions kept)");
ABSL_FLAG(uint64_t, subscriber_hard_limit, 10000,
          "events waiting for a subscriber after coalescing before its stream ends with "
          "RESOURCE_EXHAUSTED and the resourceVersion to resume from");
ABSL_FLAG(absl::Duration, bookmark_interval, absl::Seconds(30),
          "a subscriber hears a BOOKMARK after this long without other events");
ABSL_FLAG(absl::Duration, subscriber_write_timeout, absl::Seconds(60),
          "a subscriber that reads nothing for this long (alive and answering keepalives, but "
          "its pending event never taken) has its stream cut: it sees CANCELLED and resumes "
          "from the objects it holds; frees its quota slot and pending write. 0 = never");
ABSL_FLAG(absl::Duration, page_token_ttl, absl::Minutes(5),
          "how long a List snapshot is kept for its next page after the last page request");

// Access control and TLS (docs/security.md).
ABSL_FLAG(bool, auth, false,
          "authenticate every gRPC call (Kubernetes ServiceAccount token checked with TokenReview, "
          "or an mTLS client certificate's SPIFFE ID) and authorize it with SubjectAccessReview, "
          "so a caller reads only what its own RBAC allows; /metrics then needs a token allowed "
          "`get` on /metrics. Needs system:auth-delegator for informerd's identity");
ABSL_FLAG(std::string, auth_kubeconfig, "",
          "kubeconfig of the API server that answers TokenReview and SubjectAccessReview; "
          "empty = the one informerd caches from");
ABSL_FLAG(std::vector<std::string>, auth_audiences, {"informerd"},
          "audiences a caller's token must be valid for (comma-separated)");
ABSL_FLAG(absl::Duration, auth_token_ttl, absl::Minutes(1),
          "how long a TokenReview answer is cached (at most 1m, never past the token's expiry)");
ABSL_FLAG(absl::Duration, auth_allow_ttl, absl::Seconds(20),
          "how long an allowing SubjectAccessReview is cached; open streams are re-authorized "
          "this often (at most 1m)");
ABSL_FLAG(absl::Duration, auth_deny_ttl, absl::Seconds(5),
          "how long a denying SubjectAccessReview is cached (at most 1m)");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM serving certificate (chain) of the gRPC TCP listeners; with --tls_key_file turns "
          "TLS on. Both files are re-read when they change, without dropping streams");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key of --tls_cert_file");
ABSL_FLAG(std::string, tls_client_ca_file, "",
          "PEM CAs of client certificates: every TLS client must then present one they signed "
          "(mTLS); a SPIFFE ID spiffe://TD/ns/NS/sa/SA is the caller "
          "system:serviceaccount:NS:SA (no token needed)");
ABSL_FLAG(absl::Duration, tls_refresh, absl::Minutes(1),
          "how often the TLS files are checked for changes");
ABSL_FLAG(std::string, spiffe_trust_domain, "",
          "trust domain a client certificate's SPIFFE ID must be in; empty = any");
ABSL_FLAG(bool, auth_narrow_cluster_wide, false,
          "a cluster-wide List, ByIndex or Subscribe by a caller who may read only some "
          "namespaces is narrowed to those (named in the informer-namespaces metadata; Subscribe "
          "only when it is one) instead of refused as the API server does");

// Lifecycle.
ABSL_FLAG(absl::Duration, sync_timeout, absl::Seconds(60),
          "how long to wait for the initial sync before logging what is stuck and why (e.g. "
          "RBAC denied, CRD missing); health is SERVING only once every resource synced");
ABSL_FLAG(absl::Duration, max_wait, absl::Seconds(30),
          "the longest a call without a deadline waits for min_resource_version");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(5),
          "on SIGTERM, how long streams get to end before they are cut");
ABSL_FLAG(uint64_t, malloc_arenas, 2,
          "cap on glibc malloc's arenas (M_ARENA_MAX; glibc's default is 8 per core): fewer "
          "arenas keep less free memory resident per stream; 0 = glibc's default; the "
          "MALLOC_ARENA_MAX environment variable, when set, wins");
ABSL_FLAG(absl::Duration, heap_trim_interval, absl::Seconds(10),
          "how often informerd checks the memory malloc keeps after it is freed and hands it back "
          "to the system (malloc_trim) once 8 MiB or more is free and 8 MiB more was freed (or "
          "resident memory grew as much) since the last time; 0 = never");
ABSL_FLAG(std::string, log_format, "json", "log lines as json or text");
ABSL_FLAG(std::string, log_level, "info", "minimum log level: debug, info, warning, error");

// Limits on hostile bytes (docs/configuration.md, "Limits").
ABSL_FLAG(uint64_t, max_response_bytes, uint64_t{256} << 20,
          "largest API server response body read (a LIST page, discovery); a larger one fails "
          "that request; 0 = no cap");
ABSL_FLAG(uint64_t, max_watch_frame_bytes, uint64_t{64} << 20,
          "largest single WATCH event buffered; a larger one fails that watch, which is "
          "retried after a backoff; 0 = no cap");
ABSL_FLAG(uint64_t, max_selector_bytes, 16384,
          "longest label or field selector a List, ByIndex or Subscribe may send "
          "(INVALID_ARGUMENT past it)");
ABSL_FLAG(uint64_t, max_selector_terms, 256,
          "most comma-separated terms in one selector, each value of an `in (...)` set counting "
          "as one (INVALID_ARGUMENT past it)");
ABSL_FLAG(uint64_t, metrics_max_connections, 64,
          "connections the metrics/probe server serves at once; more are answered 503 and "
          "closed");
ABSL_FLAG(absl::Duration, metrics_request_timeout, absl::Seconds(5),
          "how long a metrics/probe client has to send its request and read the answer");

// Limits on what one caller may hold (docs/configuration.md, "Limits"). A caller is the
// authenticated user with --auth, else the client's IP address.
ABSL_FLAG(uint64_t, max_receive_message_bytes, uint64_t{16} << 20,
          "largest gRPC request accepted (RESOURCE_EXHAUSTED past it, from gRPC); fits a "
          "known_objects of --max_known_objects typical keys");
ABSL_FLAG(bool, allow_runtime_indexes, false,
          "let clients add indexes at run time with AddIndex (FAILED_PRECONDITION when off); an "
          "index serves every caller and costs memory per cached object and CPU per change");
ABSL_FLAG(uint64_t, max_runtime_indexes, 8,
          "indexes clients may add at run time per resource (RESOURCE_EXHAUSTED past it)");
ABSL_FLAG(uint64_t, max_known_objects, 100000,
          "most entries in one Subscribe's known_objects (RESOURCE_EXHAUSTED past it); each key "
          "must be NAMESPACE/NAME (or NAME) of Kubernetes lengths (INVALID_ARGUMENT otherwise)");
ABSL_FLAG(uint64_t, max_streams_per_connection, 1000,
          "concurrent calls on one HTTP/2 connection (MAX_CONCURRENT_STREAMS); more wait in the "
          "client until one ends (not refused)");
ABSL_FLAG(uint64_t, max_subscribers, 10000,
          "open Subscribe streams in total (RESOURCE_EXHAUSTED past it)");
ABSL_FLAG(uint64_t, max_subscribers_per_caller, 1000,
          "open Subscribe streams of one caller (RESOURCE_EXHAUSTED past it)");
ABSL_FLAG(uint64_t, max_waits, 10000,
          "calls waiting for min_resource_version in total (RESOURCE_EXHAUSTED past it)");
ABSL_FLAG(uint64_t, max_waits_per_caller, 1000,
          "calls of one caller waiting for min_resource_version (RESOURCE_EXHAUSTED past it)");
ABSL_FLAG(uint64_t, max_page_snapshots, 1024,
          "List/ByIndex snapshots kept for their next pages, in total; past it a caller's own "
          "finished lists are dropped, else the new list is refused (RESOURCE_EXHAUSTED), never "
          "another caller's evicted");
ABSL_FLAG(uint64_t, max_page_snapshots_per_caller, 64,
          "List/ByIndex snapshots one caller may hold for its next pages (as above)");
ABSL_FLAG(uint64_t, max_concurrent_starts, 4,
          "fresh and known_objects Subscribes building their initial state at once; others wait "
          "--start_queue_wait, then RESOURCE_EXHAUSTED with retry advice");
ABSL_FLAG(absl::Duration, start_queue_wait, absl::Seconds(1),
          "how long a Subscribe start waits for --max_concurrent_starts (within its deadline)");
ABSL_FLAG(uint64_t, grpc_memory_bytes, uint64_t{32} << 20,
          "gRPC resource quota: memory its buffers may use (0 = no cap); near it gRPC resets "
          "streams buffering, e.g. an oversized request it has not yet refused");
ABSL_FLAG(uint64_t, grpc_max_threads, 64, "gRPC resource quota: threads it may start");
ABSL_FLAG(absl::Duration, max_connection_age, absl::Hours(1),
          "a gRPC connection is sent GOAWAY after about this age (±10%; 0 = never); clients "
          "reconnect, and streams still open after --max_connection_age_grace end with "
          "UNAVAILABLE and resubscribe with the objects they hold");
ABSL_FLAG(absl::Duration, max_connection_age_grace, absl::Minutes(1),
          "how long calls of a connection past --max_connection_age may still run");
ABSL_FLAG(absl::Duration, grpc_keepalive_time, absl::Seconds(60),
          "informerd pings a client connection after this long without a ping; with "
          "--grpc_keepalive_timeout it bounds how long a vanished client's streams live");
ABSL_FLAG(absl::Duration, grpc_keepalive_timeout, absl::Seconds(20),
          "a client connection whose ping is not answered within this is closed");
ABSL_FLAG(absl::Duration, grpc_min_client_ping_interval, absl::Seconds(10),
          "clients may send keepalive pings this far apart (idle connections included); "
          "more often gets GOAWAY too_many_pings");

namespace informer {
namespace server {
namespace {

// `RESOURCE=SPEC` of --index.
absl::Status AddIndexFlag(const std::string& text, ServerConfig* config) {
  const size_t equals = text.find('=');
  if (equals == std::string::npos || equals == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--index \"", text, "\" is not RESOURCE=SPEC, e.g. pods=field:spec.nodeName"));
  }
  const std::string resource = text.substr(0, equals);
  absl::StatusOr<IndexSpec> spec = ParseIndexSpec(text.substr(equals + 1));
  if (!spec.ok())
    return absl::InvalidArgumentError(absl::StrCat("--index: ", spec.status().message()));
  if (resource == "*") {
    config->indexes.push_back(*std::move(spec));
    return absl::OkStatus();
  }
  for (ResourceConfig& entry : config->resources) {
    if (entry.name == resource) {
      entry.indexes.push_back(*std::move(spec));
      return absl::OkStatus();
    }
  }
  if (!config->all_resources) {
    return absl::InvalidArgumentError(
        absl::StrCat("--index \"", text, "\": resource \"", resource, "\" is not in --resources"));
  }
  ResourceConfig entry;
  entry.name = resource;
  entry.indexes.push_back(*std::move(spec));
  config->resources.push_back(std::move(entry));
  return absl::OkStatus();
}

}  // namespace

absl::flat_hash_set<std::string> FlagsGiven(int argc, char** argv) {
  absl::flat_hash_set<std::string> given;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--") break;
    if (!absl::ConsumePrefix(&arg, "--") && !absl::ConsumePrefix(&arg, "-")) continue;
    std::string name(arg.substr(0, arg.find('=')));
    given.insert(name);
    if (absl::StartsWith(name, "no")) given.insert(name.substr(2));
  }
  return given;
}

void SetUpUsage() {
  absl::SetProgramUsageMessage(
      "informerd runs Kubernetes informers once and serves their cache over gRPC "
      "(informer.v1.InformerService).\n\n"
      "Example:\n  informerd --kubeconfig=$HOME/.kube/config --resources=pods,deployments.apps "
      "--index=pods=field:spec.nodeName --listen=127.0.0.1:50051\n\n"
      "Every flag may also be set in a YAML --config file under the same name; per-resource "
      "namespace, selectors, resync and indexes are set there (see docs/configuration.md).");
  absl::FlagsUsageConfig usage;
  // Called with the normalized name below, or the raw path, depending on the caller.
  usage.contains_help_flags = [](absl::string_view file) {
    return file == "informerd" || absl::StrContains(file, "server/flags.cc");
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  usage.version_string = [] { return std::string("informerd 0.1.0\n"); };
  usage.normalize_filename = [](absl::string_view file) {
    return std::string(absl::StrContains(file, "server/flags.cc") ? "informerd" : file);
  };
  absl::SetFlagsUsageConfig(usage);
}

absl::StatusOr<ServerConfig> ConfigFromFlags(const absl::flat_hash_set<std::string>& given) {
  ServerConfig config;
  if (const std::string path = absl::GetFlag(FLAGS_config); !path.empty()) {
    if (absl::Status s = ApplyConfigFile(path, &config); !s.ok()) return s;
  }
  auto is_given = [&given](const char* name) { return given.contains(name); };
  if (is_given("kubeconfig")) config.kubeconfig = absl::GetFlag(FLAGS_kubeconfig);
  if (is_given("context")) config.context = absl::GetFlag(FLAGS_context);
  if (is_given("in_cluster")) config.in_cluster = absl::GetFlag(FLAGS_in_cluster);
  if (is_given("listen")) config.listen = absl::GetFlag(FLAGS_listen);
  if (is_given("metrics_listen")) config.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  if (is_given("resources")) {
    config.resources.clear();
    config.all_resources = false;
    for (const std::string& name : absl::GetFlag(FLAGS_resources)) {
      if (name == "all") {
        config.all_resources = true;
        continue;
      }
      ResourceConfig resource;
      resource.name = name;
      config.resources.push_back(std::move(resource));
    }
  }
  if (is_given("on_demand")) config.on_demand.enabled = absl::GetFlag(FLAGS_on_demand);
  if (is_given("on_demand_allow")) config.on_demand.allow = absl::GetFlag(FLAGS_on_demand_allow);
  if (is_given("on_demand_deny")) config.on_demand.deny = absl::GetFlag(FLAGS_on_demand_deny);
  if (is_given("on_demand_idle_timeout")) {
    config.on_demand.idle_timeout = absl::GetFlag(FLAGS_on_demand_idle_timeout);
  }
  if (is_given("namespace")) config.namespace_name = absl::GetFlag(FLAGS_namespace);
  if (is_given("label_selector")) config.label_selector = absl::GetFlag(FLAGS_label_selector);
  if (is_given("field_selector")) config.field_selector = absl::GetFlag(FLAGS_field_selector);
  if (is_given("index")) {
    for (const std::string& text : absl::GetFlag(FLAGS_index)) {
      if (absl::Status s = AddIndexFlag(text, &config); !s.ok()) return s;
    }
  }
  if (is_given("resync")) config.resync = absl::GetFlag(FLAGS_resync);
  if (is_given("strip_managed_fields")) {
    config.strip_managed_fields = absl::GetFlag(FLAGS_strip_managed_fields);
  }
  if (is_given("cache_compression")) {
    config.cache_compression = absl::GetFlag(FLAGS_cache_compression);
  }
  if (is_given("cache_compression_samples")) {
    config.cache_compression_samples = absl::GetFlag(FLAGS_cache_compression_samples);
  }
  if (is_given("streaming_list")) config.streaming_list = absl::GetFlag(FLAGS_streaming_list);
  if (is_given("apiserver_read_idle_timeout")) {
    config.apiserver_read_idle_timeout = absl::GetFlag(FLAGS_apiserver_read_idle_timeout);
  }
  if (is_given("apiserver_ping_timeout")) {
    config.apiserver_ping_timeout = absl::GetFlag(FLAGS_apiserver_ping_timeout);
  }
  if (is_given("history_size")) config.history.max_events = absl::GetFlag(FLAGS_history_size);
  if (is_given("history_bytes")) config.history.max_bytes = absl::GetFlag(FLAGS_history_bytes);
  if (is_given("history_cache_percent")) {
    config.history.cache_fraction =
        static_cast<double>(absl::GetFlag(FLAGS_history_cache_percent)) / 100;
  } else if (is_given("history_size") || is_given("history_bytes")) {
    config.history.cache_fraction = 0;
  }
  if (is_given("subscriber_soft_limit")) {
    config.subscribers.soft_limit = absl::GetFlag(FLAGS_subscriber_soft_limit);
  }
  if (is_given("subscriber_hard_limit")) {
    config.subscribers.hard_limit = absl::GetFlag(FLAGS_subscriber_hard_limit);
  }
  if (is_given("bookmark_interval")) {
    config.subscribers.bookmark_interval = absl::GetFlag(FLAGS_bookmark_interval);
  }
  if (is_given("subscriber_write_timeout")) {
    config.subscribers.write_timeout = absl::GetFlag(FLAGS_subscriber_write_timeout);
  }
  if (is_given("page_token_ttl")) config.pager.snapshot_ttl = absl::GetFlag(FLAGS_page_token_ttl);
  if (is_given("sync_timeout")) config.sync_timeout = absl::GetFlag(FLAGS_sync_timeout);
  if (is_given("max_wait")) config.max_wait = absl::GetFlag(FLAGS_max_wait);
  if (is_given("shutdown_grace")) config.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  if (is_given("malloc_arenas")) config.malloc_arenas = absl::GetFlag(FLAGS_malloc_arenas);
  if (is_given("heap_trim_interval")) {
    config.heap_trim_interval = absl::GetFlag(FLAGS_heap_trim_interval);
  }
  // Access control and TLS.
  if (is_given("auth")) config.access.enabled = absl::GetFlag(FLAGS_auth);
  if (is_given("auth_kubeconfig")) config.access.kubeconfig = absl::GetFlag(FLAGS_auth_kubeconfig);
  if (is_given("auth_audiences")) config.access.audiences = absl::GetFlag(FLAGS_auth_audiences);
  if (is_given("auth_token_ttl")) config.access.token_ttl = absl::GetFlag(FLAGS_auth_token_ttl);
  if (is_given("auth_allow_ttl")) config.access.allow_ttl = absl::GetFlag(FLAGS_auth_allow_ttl);
  if (is_given("auth_deny_ttl")) config.access.deny_ttl = absl::GetFlag(FLAGS_auth_deny_ttl);
  if (is_given("tls_cert_file")) config.access.tls_cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  if (is_given("tls_key_file")) config.access.tls_key_file = absl::GetFlag(FLAGS_tls_key_file);
  if (is_given("tls_client_ca_file")) {
    config.access.tls_client_ca_file = absl::GetFlag(FLAGS_tls_client_ca_file);
  }
  if (is_given("tls_refresh")) config.access.tls_refresh = absl::GetFlag(FLAGS_tls_refresh);
  if (is_given("spiffe_trust_domain")) {
    config.access.spiffe_trust_domain = absl::GetFlag(FLAGS_spiffe_trust_domain);
  }
  if (is_given("auth_narrow_cluster_wide")) {
    config.access.narrow_cluster_wide = absl::GetFlag(FLAGS_auth_narrow_cluster_wide);
  }
  if (is_given("log_format")) config.log_format = absl::GetFlag(FLAGS_log_format);
  if (is_given("log_level")) config.log_level = absl::GetFlag(FLAGS_log_level);
  // Limits on hostile bytes.
  if (is_given("max_response_bytes")) {
    config.max_response_bytes = absl::GetFlag(FLAGS_max_response_bytes);
  }
  if (is_given("max_watch_frame_bytes")) {
    config.max_watch_frame_bytes = absl::GetFlag(FLAGS_max_watch_frame_bytes);
  }
  if (is_given("max_selector_bytes")) {
    config.selector_limits.max_bytes = absl::GetFlag(FLAGS_max_selector_bytes);
  }
  if (is_given("max_selector_terms")) {
    config.selector_limits.max_terms = absl::GetFlag(FLAGS_max_selector_terms);
  }
  if (is_given("metrics_max_connections")) {
    config.metrics_http.max_connections = absl::GetFlag(FLAGS_metrics_max_connections);
  }
  if (is_given("metrics_request_timeout")) {
    config.metrics_http.request_timeout = absl::GetFlag(FLAGS_metrics_request_timeout);
  }
  // Limits on what one caller may hold.
  GrpcLimits& grpc = config.grpc_limits;
  CallLimits& calls = config.call_limits;
  if (is_given("max_receive_message_bytes")) {
    grpc.max_receive_message_bytes = absl::GetFlag(FLAGS_max_receive_message_bytes);
  }
  if (is_given("max_streams_per_connection")) {
    grpc.max_streams_per_connection =
        static_cast<uint32_t>(absl::GetFlag(FLAGS_max_streams_per_connection));
  }
  if (is_given("grpc_memory_bytes")) grpc.memory_bytes = absl::GetFlag(FLAGS_grpc_memory_bytes);
  if (is_given("grpc_max_threads")) {
    grpc.max_threads = static_cast<int>(absl::GetFlag(FLAGS_grpc_max_threads));
  }
  if (is_given("max_connection_age")) {
    grpc.max_connection_age = absl::GetFlag(FLAGS_max_connection_age);
  }
  if (is_given("max_connection_age_grace")) {
    grpc.max_connection_age_grace = absl::GetFlag(FLAGS_max_connection_age_grace);
  }
  if (is_given("grpc_keepalive_time"))
    grpc.keepalive_time = absl::GetFlag(FLAGS_grpc_keepalive_time);
  if (is_given("grpc_keepalive_timeout")) {
    grpc.keepalive_timeout = absl::GetFlag(FLAGS_grpc_keepalive_timeout);
  }
  if (is_given("grpc_min_client_ping_interval")) {
    grpc.min_client_ping_interval = absl::GetFlag(FLAGS_grpc_min_client_ping_interval);
  }
  if (is_given("max_known_objects"))
    calls.max_known_objects = absl::GetFlag(FLAGS_max_known_objects);
  if (is_given("allow_runtime_indexes")) {
    config.runtime_indexes.allowed = absl::GetFlag(FLAGS_allow_runtime_indexes);
  }
  if (is_given("max_runtime_indexes")) {
    config.runtime_indexes.max_per_resource = absl::GetFlag(FLAGS_max_runtime_indexes);
  }
  if (is_given("max_subscribers")) calls.max_subscribers = absl::GetFlag(FLAGS_max_subscribers);
  if (is_given("max_subscribers_per_caller")) {
    calls.max_subscribers_per_caller = absl::GetFlag(FLAGS_max_subscribers_per_caller);
  }
  if (is_given("max_waits")) calls.max_waits = absl::GetFlag(FLAGS_max_waits);
  if (is_given("max_waits_per_caller")) {
    calls.max_waits_per_caller = absl::GetFlag(FLAGS_max_waits_per_caller);
  }
  if (is_given("max_page_snapshots")) {
    config.pager.max_snapshots = absl::GetFlag(FLAGS_max_page_snapshots);
  }
  if (is_given("max_page_snapshots_per_caller")) {
    config.pager.max_snapshots_per_caller = absl::GetFlag(FLAGS_max_page_snapshots_per_caller);
  }
  if (is_given("max_concurrent_starts")) {
    calls.max_concurrent_starts = absl::GetFlag(FLAGS_max_concurrent_starts);
  }
  if (is_given("start_queue_wait")) calls.start_queue_wait = absl::GetFlag(FLAGS_start_queue_wait);
  return config;
}

}  // namespace server
}  // namespace informer
