#include "server/config.h"

#include <cstdint>
#include <fstream>
#include <limits>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "informer/field_path.h"
#include "informer/selector.h"
#include "yaml-cpp/yaml.h"

namespace informer {
namespace server {
namespace {

absl::Status KeyError(absl::string_view key, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat("config key \"", key, "\": ", problem));
}

absl::StatusOr<std::string> String(const YAML::Node& node, absl::string_view key) {
  if (!node.IsScalar()) return KeyError(key, "expected a string");
  return node.as<std::string>();
}

absl::StatusOr<bool> Bool(const YAML::Node& node, absl::string_view key) {
  bool value = false;
  if (!node.IsScalar() || !YAML::convert<bool>::decode(node, value)) {
    return KeyError(key, "expected true or false");
  }
  return value;
}

absl::StatusOr<uint64_t> Count(const YAML::Node& node, absl::string_view key) {
  uint64_t value = 0;
  if (!node.IsScalar() || !absl::SimpleAtoi(node.Scalar(), &value)) {
    return KeyError(key, "expected a non-negative integer");
  }
  return value;
}

absl::StatusOr<absl::Duration> Duration(const YAML::Node& node, absl::string_view key) {
  absl::Duration value;
  if (!node.IsScalar() || !absl::ParseDuration(node.Scalar(), &value) ||
      value < absl::ZeroDuration()) {
    return KeyError(key, "expected a duration such as 30s, 5m or 1h30m");
  }
  return value;
}

absl::StatusOr<std::vector<std::string>> StringList(const YAML::Node& node, absl::string_view key) {
  std::vector<std::string> out;
  if (node.IsScalar()) {
    out.push_back(node.Scalar());
    return out;
  }
  if (!node.IsSequence()) return KeyError(key, "expected a list of strings");
  for (const YAML::Node& item : node) {
    if (!item.IsScalar()) return KeyError(key, "expected a list of strings");
    out.push_back(item.Scalar());
  }
  return out;
}

absl::StatusOr<std::vector<IndexSpec>> Indexes(const YAML::Node& node, absl::string_view key) {
  absl::StatusOr<std::vector<std::string>> texts = StringList(node, key);
  if (!texts.ok()) return texts.status();
  std::vector<IndexSpec> out;
  for (const std::string& text : *texts) {
    absl::StatusOr<IndexSpec> spec = ParseIndexSpec(text);
    if (!spec.ok()) return KeyError(key, spec.status().message());
    out.push_back(*std::move(spec));
  }
  return out;
}

// `projection: metadata|full` of one resource.
absl::Status ApplyProjection(const YAML::Node& node, absl::string_view key,
                             ResourceConfig* resource) {
  absl::StatusOr<std::string> text = String(node, key);
  if (!text.ok()) return text.status();
  if (*text == "metadata") {
    resource->projection = Projection::kMetadata;
  } else if (*text == "full") {
    resource->projection = Projection::kFull;
  } else {
    return KeyError(key, absl::StrCat("\"", *text,
                                      "\" is not a projection; use metadata (PartialObjectMetadata "
                                      "only) or full"));
  }
  return absl::OkStatus();
}

// Secrets (docs/security.md): their data is cached only when asked for and access control
// is on.
absl::Status ValidateSecretsConfig(const ServerConfig& config) {
  if (config.allow_secret_data && !config.access.enabled) {
    return absl::InvalidArgumentError(
        "allow_secret_data: true needs authentication and authorization (--auth, or auth: true "
        "in the config file): without them any caller could read every cached Secret's data. "
        "Turn on --auth, or remove allow_secret_data to cache Secrets as metadata only");
  }
  return absl::OkStatus();
}

absl::StatusOr<ResourceConfig> Resource(const YAML::Node& node) {
  ResourceConfig resource;
  if (node.IsScalar()) {
    resource.name = node.Scalar();
    return resource;
  }
  if (!node.IsMap()) {
    return KeyError("resources", "each entry is a name or a map with at least `name`");
  }
  for (const auto& entry : node) {
    const std::string key = entry.first.as<std::string>();
    const YAML::Node& value = entry.second;
    const std::string where = absl::StrCat("resources[].", key);
    if (key == "name") {
      absl::StatusOr<std::string> name = String(value, where);
      if (!name.ok()) return name.status();
      resource.name = *name;
    } else if (key == "namespace" || key == "label_selector" || key == "field_selector") {
      absl::StatusOr<std::string> text = String(value, where);
      if (!text.ok()) return text.status();
      (key == "namespace"        ? resource.namespace_name
       : key == "label_selector" ? resource.label_selector
                                 : resource.field_selector) = *text;
    } else if (key == "resync") {
      absl::StatusOr<absl::Duration> resync = Duration(value, where);
      if (!resync.ok()) return resync.status();
      resource.resync = *resync;
    } else if (key == "indexes") {
      absl::StatusOr<std::vector<IndexSpec>> indexes = Indexes(value, where);
      if (!indexes.ok()) return indexes.status();
      resource.indexes = *std::move(indexes);
    } else if (key == "projection") {
      if (absl::Status s = ApplyProjection(value, where, &resource); !s.ok()) return s;
    } else {
      return KeyError(where,
                      "unknown; a resource takes name, namespace, label_selector, "
                      "field_selector, resync, indexes, projection");
    }
  }
  if (resource.name.empty()) return KeyError("resources[].name", "missing");
  return resource;
}

// Applies one top-level key.
absl::Status ApplyKey(const std::string& key, const YAML::Node& value, ServerConfig* config) {
  auto set_string = [&](std::string* field) -> absl::Status {
    absl::StatusOr<std::string> text = String(value, key);
    if (!text.ok()) return text.status();
    *field = *text;
    return absl::OkStatus();
  };
  auto set_bool = [&](bool* field) -> absl::Status {
    absl::StatusOr<bool> b = Bool(value, key);
    if (!b.ok()) return b.status();
    *field = *b;
    return absl::OkStatus();
  };
  auto set_duration = [&](absl::Duration* field) -> absl::Status {
    absl::StatusOr<absl::Duration> d = Duration(value, key);
    if (!d.ok()) return d.status();
    *field = *d;
    return absl::OkStatus();
  };
  auto set_count = [&](auto* field) -> absl::Status {
    absl::StatusOr<uint64_t> n = Count(value, key);
    if (!n.ok()) return n.status();
    *field = static_cast<std::remove_pointer_t<decltype(field)>>(*n);
    return absl::OkStatus();
  };
  if (key == "kubeconfig") return set_string(&config->kubeconfig);
  if (key == "context") return set_string(&config->context);
  if (key == "in_cluster") return set_bool(&config->in_cluster);
  if (key == "listen") {
    absl::StatusOr<std::vector<std::string>> list = StringList(value, key);
    if (!list.ok()) return list.status();
    config->listen = *std::move(list);
    return absl::OkStatus();
  }
  if (key == "metrics_listen") return set_string(&config->metrics_listen);
  if (key == "all_resources") return set_bool(&config->all_resources);
  if (key == "on_demand") return set_bool(&config->on_demand.enabled);
  if (key == "on_demand_allow" || key == "on_demand_deny") {
    absl::StatusOr<std::vector<std::string>> list = StringList(value, key);
    if (!list.ok()) return list.status();
    for (const std::string& pattern : *list) {
      if (absl::Status s = ValidateOnDemandPattern(pattern); !s.ok()) {
        return KeyError(key, s.message());
      }
    }
    (key == "on_demand_allow" ? config->on_demand.allow : config->on_demand.deny) =
        *std::move(list);
    return absl::OkStatus();
  }
  if (key == "on_demand_idle_timeout") return set_duration(&config->on_demand.idle_timeout);
  if (key == "resources") {
    if (!value.IsSequence()) return KeyError(key, "expected a list");
    config->resources.clear();
    for (const YAML::Node& item : value) {
      absl::StatusOr<ResourceConfig> resource = Resource(item);
      if (!resource.ok()) return resource.status();
      config->resources.push_back(*std::move(resource));
    }
    return absl::OkStatus();
  }
  if (key == "namespace") return set_string(&config->namespace_name);
  if (key == "label_selector") return set_string(&config->label_selector);
  if (key == "field_selector") return set_string(&config->field_selector);
  if (key == "resync") return set_duration(&config->resync);
  if (key == "indexes") {
    absl::StatusOr<std::vector<IndexSpec>> indexes = Indexes(value, key);
    if (!indexes.ok()) return indexes.status();
    config->indexes = *std::move(indexes);
    return absl::OkStatus();
  }
  if (key == "strip_managed_fields") return set_bool(&config->strip_managed_fields);
  if (key == "cache_compression") return set_bool(&config->cache_compression);
  if (key == "cache_compression_samples") return set_count(&config->cache_compression_samples);
  if (key == "streaming_list") return set_bool(&config->streaming_list);
  if (key == "apiserver_read_idle_timeout") {
    return set_duration(&config->apiserver_read_idle_timeout);
  }
  if (key == "apiserver_ping_timeout") return set_duration(&config->apiserver_ping_timeout);
  if (key == "history_size") return set_count(&config->history.max_events);
  if (key == "history_bytes") return set_count(&config->history.max_bytes);
  if (key == "history_cache_percent") {
    uint64_t percent = 0;
    if (absl::Status s = set_count(&percent); !s.ok()) return s;
    config->history.cache_fraction = static_cast<double>(percent) / 100;
    return absl::OkStatus();
  }
  if (key == "subscriber_soft_limit") return set_count(&config->subscribers.soft_limit);
  if (key == "subscriber_hard_limit") return set_count(&config->subscribers.hard_limit);
  if (key == "bookmark_interval") return set_duration(&config->subscribers.bookmark_interval);
  if (key == "subscriber_write_timeout") {
    return set_duration(&config->subscribers.write_timeout);
  }
  if (key == "page_token_ttl") return set_duration(&config->pager.snapshot_ttl);
  if (key == "sync_timeout") return set_duration(&config->sync_timeout);
  if (key == "max_wait") return set_duration(&config->max_wait);
  if (key == "shutdown_grace") return set_duration(&config->shutdown_grace);
  if (key == "heap_trim_interval") return set_duration(&config->heap_trim_interval);
  if (key == "malloc_arenas") return set_count(&config->malloc_arenas);
  // Access control and TLS (AccessConfig).
  if (key == "auth") return set_bool(&config->access.enabled);
  if (key == "auth_kubeconfig") return set_string(&config->access.kubeconfig);
  if (key == "auth_audiences") {
    absl::StatusOr<std::vector<std::string>> list = StringList(value, key);
    if (!list.ok()) return list.status();
    config->access.audiences = *std::move(list);
    return absl::OkStatus();
  }
  if (key == "auth_token_ttl") return set_duration(&config->access.token_ttl);
  if (key == "auth_allow_ttl") return set_duration(&config->access.allow_ttl);
  if (key == "auth_deny_ttl") return set_duration(&config->access.deny_ttl);
  if (key == "tls_cert_file") return set_string(&config->access.tls_cert_file);
  if (key == "tls_key_file") return set_string(&config->access.tls_key_file);
  if (key == "tls_client_ca_file") return set_string(&config->access.tls_client_ca_file);
  if (key == "tls_refresh") return set_duration(&config->access.tls_refresh);
  if (key == "spiffe_trust_domain") return set_string(&config->access.spiffe_trust_domain);
  if (key == "auth_narrow_cluster_wide") return set_bool(&config->access.narrow_cluster_wide);
  if (key == "allow_secret_data") return set_bool(&config->allow_secret_data);
  if (key == "log_format") return set_string(&config->log_format);
  if (key == "log_level") return set_string(&config->log_level);
  // Limits on hostile bytes.
  if (key == "max_response_bytes") return set_count(&config->max_response_bytes);
  if (key == "max_watch_frame_bytes") return set_count(&config->max_watch_frame_bytes);
  if (key == "max_selector_bytes") return set_count(&config->selector_limits.max_bytes);
  if (key == "max_selector_terms") return set_count(&config->selector_limits.max_terms);
  if (key == "metrics_max_connections") {
    return set_count(&config->metrics_http.max_connections);
  }
  if (key == "metrics_request_timeout") {
    return set_duration(&config->metrics_http.request_timeout);
  }
  // Limits on what one caller may hold.
  if (key == "max_receive_message_bytes") {
    return set_count(&config->grpc_limits.max_receive_message_bytes);
  }
  if (key == "max_streams_per_connection") {
    return set_count(&config->grpc_limits.max_streams_per_connection);
  }
  if (key == "grpc_memory_bytes") return set_count(&config->grpc_limits.memory_bytes);
  if (key == "grpc_max_threads") return set_count(&config->grpc_limits.max_threads);
  if (key == "max_connection_age") return set_duration(&config->grpc_limits.max_connection_age);
  if (key == "max_connection_age_grace") {
    return set_duration(&config->grpc_limits.max_connection_age_grace);
  }
  if (key == "grpc_keepalive_time") return set_duration(&config->grpc_limits.keepalive_time);
  if (key == "grpc_keepalive_timeout") return set_duration(&config->grpc_limits.keepalive_timeout);
  if (key == "grpc_min_client_ping_interval") {
    return set_duration(&config->grpc_limits.min_client_ping_interval);
  }
  if (key == "max_known_objects") return set_count(&config->call_limits.max_known_objects);
  if (key == "allow_runtime_indexes") return set_bool(&config->runtime_indexes.allowed);
  if (key == "max_runtime_indexes") {
    return set_count(&config->runtime_indexes.max_per_resource);
  }
  if (key == "max_subscribers") return set_count(&config->call_limits.max_subscribers);
  if (key == "max_subscribers_per_caller") {
    return set_count(&config->call_limits.max_subscribers_per_caller);
  }
  if (key == "max_waits") return set_count(&config->call_limits.max_waits);
  if (key == "max_waits_per_caller") return set_count(&config->call_limits.max_waits_per_caller);
  if (key == "max_page_snapshots") return set_count(&config->pager.max_snapshots);
  if (key == "max_page_snapshots_per_caller") {
    return set_count(&config->pager.max_snapshots_per_caller);
  }
  if (key == "max_concurrent_starts") {
    return set_count(&config->call_limits.max_concurrent_starts);
  }
  if (key == "start_queue_wait") return set_duration(&config->call_limits.start_queue_wait);
  return KeyError(key, "unknown key (the config file takes the flags' names; see --help)");
}

bool ValidListenAddress(absl::string_view address) {
  if (absl::StartsWith(address, "unix:")) return address.size() > 5;
  const size_t colon = address.rfind(':');
  int port = 0;
  return colon != absl::string_view::npos && absl::SimpleAtoi(address.substr(colon + 1), &port) &&
         port >= 0 && port <= 65535;
}

}  // namespace

absl::StatusOr<IndexSpec> ParseIndexSpec(absl::string_view text) {
  IndexSpec spec;
  absl::string_view rest = absl::StripAsciiWhitespace(text);
  const size_t colon = rest.find(':');
  const size_t equals = rest.find('=');
  if (equals != absl::string_view::npos && (colon == absl::string_view::npos || equals < colon)) {
    spec.name = std::string(rest.substr(0, equals));
    rest = rest.substr(equals + 1);
  }
  const absl::Status usage = absl::InvalidArgumentError(absl::StrCat(
      "index \"", text,
      "\" is not label:KEY or field:PATH (optionally NAME=label:KEY), e.g. label:app or "
      "node=field:spec.nodeName"));
  if (absl::ConsumePrefix(&rest, "label:")) {
    spec.kind = IndexSpec::Kind::kLabel;
  } else if (absl::ConsumePrefix(&rest, "field:")) {
    spec.kind = IndexSpec::Kind::kField;
    absl::StatusOr<std::vector<FieldPathStep>> path = ParseFieldPath(rest);
    if (!path.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("index \"", text, "\": ", path.status().message()));
    }
  } else {
    return usage;
  }
  if (rest.empty()) return usage;
  spec.key = std::string(rest);
  if (spec.name.empty()) {
    spec.name = absl::StrCat(spec.kind == IndexSpec::Kind::kLabel ? "label:" : "field:", spec.key);
  }
  if (spec.name == kNamespaceIndex) {
    return absl::InvalidArgumentError(
        absl::StrCat("index \"", text, "\": the name \"namespace\" is the built-in index's"));
  }
  return spec;
}

std::string IndexSpecString(const IndexSpec& spec) {
  const std::string body =
      absl::StrCat(spec.kind == IndexSpec::Kind::kLabel ? "label:" : "field:", spec.key);
  return spec.name == body ? body : absl::StrCat(spec.name, "=", body);
}

Indexers BuildIndexers(const std::vector<IndexSpec>& specs) {
  Indexers indexers;
  for (const IndexSpec& spec : specs) {
    indexers[spec.name] = spec.kind == IndexSpec::Kind::kLabel ? LabelIndexFunc(spec.key)
                                                               : FieldPathIndexFunc(spec.key);
  }
  return indexers;
}

absl::Status ApplyConfigYaml(absl::string_view yaml, ServerConfig* config) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("config is not valid YAML: ", e.what()));
  }
  if (root.IsNull()) return absl::OkStatus();
  if (!root.IsMap()) return absl::InvalidArgumentError("config must be a YAML map of settings");
  try {
    bool history_bound_given = false;
    bool history_percent_given = false;
    for (const auto& entry : root) {
      const std::string key = entry.first.as<std::string>();
      if (absl::Status s = ApplyKey(key, entry.second, config); !s.ok()) return s;
      history_bound_given |= key == "history_size" || key == "history_bytes";
      history_percent_given |= key == "history_cache_percent";
    }
    // As the flags: fixed history bounds given without a percentage are the ones in force.
    if (history_bound_given && !history_percent_given) config->history.cache_fraction = 0;
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("config: ", e.what()));
  }
  return absl::OkStatus();
}

absl::Status ApplyConfigFile(const std::string& path, ServerConfig* config) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read config file ", path));
  std::stringstream text;
  text << in.rdbuf();
  absl::Status status = ApplyConfigYaml(text.str(), config);
  if (!status.ok()) {
    return absl::Status(status.code(), absl::StrCat(path, ": ", status.message()));
  }
  return absl::OkStatus();
}

absl::Status ValidateConfig(const ServerConfig& config) {
  if (config.resources.empty() && !config.all_resources && !config.on_demand.enabled) {
    return absl::InvalidArgumentError(
        "nothing to cache: name resources (--resources=pods,deployments.apps), set "
        "--all_resources, or cache what is read with --on_demand");
  }
  for (const auto* patterns : {&config.on_demand.allow, &config.on_demand.deny}) {
    for (const std::string& pattern : *patterns) {
      if (absl::Status s = ValidateOnDemandPattern(pattern); !s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(
            patterns == &config.on_demand.allow ? "on_demand_allow: " : "on_demand_deny: ",
            s.message()));
      }
    }
  }
  if (config.on_demand.idle_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "on_demand_idle_timeout must be positive (e.g. 10m); configured resources never idle out");
  }
  if (config.listen.empty()) {
    return absl::InvalidArgumentError("no listen address: set --listen=HOST:PORT or unix:PATH");
  }
  for (const std::string& address : config.listen) {
    if (!ValidListenAddress(address)) {
      return absl::InvalidArgumentError(
          absl::StrCat("listen address \"", address, "\" is not HOST:PORT or unix:PATH"));
    }
  }
  if (!config.metrics_listen.empty() && !ValidListenAddress(config.metrics_listen)) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics_listen \"", config.metrics_listen, "\" is not HOST:PORT"));
  }
  if (config.subscribers.soft_limit == 0 || config.subscribers.hard_limit == 0 ||
      config.subscribers.soft_limit > config.subscribers.hard_limit) {
    return absl::InvalidArgumentError(absl::StrCat(
        "subscriber limits: need 0 < subscriber_soft_limit (", config.subscribers.soft_limit,
        ") <= subscriber_hard_limit (", config.subscribers.hard_limit, ")"));
  }
  if (config.history.max_events == 0) {
    return absl::InvalidArgumentError("history_size must be at least 1");
  }
  if (config.cache_compression_samples < 8 || config.cache_compression_samples > 100000) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cache_compression_samples must be between 8 and 100000 (zstd trains a dictionary on "
        "that many objects), not ",
        config.cache_compression_samples, "; to keep objects plain set cache_compression: false"));
  }
  if (config.subscribers.bookmark_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("bookmark_interval must be positive");
  }
  if (config.subscribers.write_timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("subscriber_write_timeout must not be negative (0 = never)");
  }
  // The operator's own selectors (sent to the API server) are not held to the clients' caps.
  const SelectorLimits unlimited{SIZE_MAX, SIZE_MAX};
  auto check_selectors = [&unlimited](absl::string_view where, const std::string& labels,
                                      const std::string& fields) -> absl::Status {
    if (absl::StatusOr<LabelSelector> s = LabelSelector::Parse(labels, unlimited); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "label_selector \"", labels, "\": ", s.status().message()));
    }
    if (absl::StatusOr<FieldSelector> s = FieldSelector::Parse(fields, unlimited); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "field_selector \"", fields, "\": ", s.status().message()));
    }
    return absl::OkStatus();
  };
  if (absl::Status s = check_selectors("", config.label_selector, config.field_selector); !s.ok()) {
    return s;
  }
  for (const ResourceConfig& resource : config.resources) {
    if (absl::Status s = check_selectors(absl::StrCat("resource ", resource.name, ": "),
                                         resource.label_selector.value_or(""),
                                         resource.field_selector.value_or(""));
        !s.ok()) {
      return s;
    }
  }
  // Limits on hostile bytes.
  if (config.selector_limits.max_bytes == 0 || config.selector_limits.max_terms == 0) {
    return absl::InvalidArgumentError(
        "max_selector_bytes and max_selector_terms must be at least 1");
  }
  if (config.metrics_http.max_connections == 0 ||
      config.metrics_http.request_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "metrics_max_connections must be at least 1 and metrics_request_timeout positive");
  }
  // Limits on what one caller may hold: a cap of 0 would refuse everything.
  const GrpcLimits& grpc = config.grpc_limits;
  const CallLimits& calls = config.call_limits;
  if (grpc.max_receive_message_bytes < 1024 ||
      grpc.max_receive_message_bytes > size_t{std::numeric_limits<int>::max()}) {
    return absl::InvalidArgumentError(
        "max_receive_message_bytes must be between 1024 and 2147483647 (gRPC's own bound)");
  }
  if (grpc.max_streams_per_connection == 0 || grpc.max_threads <= 0) {
    return absl::InvalidArgumentError(
        "max_streams_per_connection and grpc_max_threads must be at least 1");
  }
  if (grpc.max_connection_age < absl::ZeroDuration() ||
      grpc.max_connection_age_grace < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "max_connection_age and max_connection_age_grace must not be negative (0 = never)");
  }
  if (grpc.keepalive_time < absl::Seconds(1) || grpc.keepalive_timeout < absl::Seconds(1) ||
      grpc.min_client_ping_interval < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "grpc_keepalive_time and grpc_keepalive_timeout must be at least 1s, and "
        "grpc_min_client_ping_interval not negative");
  }
  if (calls.max_known_objects == 0 || calls.max_subscribers == 0 ||
      calls.max_subscribers_per_caller == 0 || calls.max_waits == 0 ||
      calls.max_waits_per_caller == 0 || calls.max_concurrent_starts == 0 ||
      config.pager.max_snapshots == 0 || config.pager.max_snapshots_per_caller == 0) {
    return absl::InvalidArgumentError(
        "max_known_objects, max_subscribers, max_subscribers_per_caller, max_waits, "
        "max_waits_per_caller, max_page_snapshots, max_page_snapshots_per_caller and "
        "max_concurrent_starts must be at least 1");
  }
  // Access control and TLS.
  const AccessConfig& access = config.access;
  if (access.tls_cert_file.empty() != access.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "TLS needs both --tls_cert_file and --tls_key_file (PEM files of the serving certificate "
        "and its key)");
  }
  if (!access.tls_client_ca_file.empty() && access.tls_cert_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls_client_ca_file (mTLS) needs TLS: set --tls_cert_file and --tls_key_file too");
  }
  if (access.enabled && access.audiences.empty()) {
    return absl::InvalidArgumentError(
        "--auth_audiences is empty: tokens meant for the API server would be accepted; name "
        "informerd's audience (default informerd)");
  }
  if (access.token_ttl > absl::Minutes(1) || access.allow_ttl > absl::Minutes(1) ||
      access.deny_ttl > absl::Minutes(1)) {
    return absl::InvalidArgumentError(
        "--auth_token_ttl, --auth_allow_ttl and --auth_deny_ttl may be at most 1m (a revoked "
        "token or RoleBinding must stop working quickly)");
  }
  if (access.allow_ttl <= absl::ZeroDuration() || access.tls_refresh <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--auth_allow_ttl and --tls_refresh must be positive");
  }
  if (absl::Status s = ValidateSecretsConfig(config); !s.ok()) return s;
  if (config.log_format != "json" && config.log_format != "text") {
    return absl::InvalidArgumentError("log_format must be json or text");
  }
  if (config.log_level != "debug" && config.log_level != "info" && config.log_level != "warning" &&
      config.log_level != "error") {
    return absl::InvalidArgumentError("log_level must be debug, info, warning or error");
  }
  return absl::OkStatus();
}

}  // namespace server
}  // namespace informer
