#include "server/config.h"

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "informer/testing/objects.h"
#include "server/flags.h"

ABSL_DECLARE_FLAG(std::string, config);
ABSL_DECLARE_FLAG(std::vector<std::string>, resources);
ABSL_DECLARE_FLAG(std::vector<std::string>, index);
ABSL_DECLARE_FLAG(uint64_t, subscriber_hard_limit);
ABSL_DECLARE_FLAG(std::string, namespace);
ABSL_DECLARE_FLAG(uint64_t, history_bytes);
ABSL_DECLARE_FLAG(uint64_t, history_cache_percent);
ABSL_DECLARE_FLAG(uint64_t, max_selector_terms);
ABSL_DECLARE_FLAG(uint64_t, max_waits_per_caller);
ABSL_DECLARE_FLAG(absl::Duration, max_connection_age);
ABSL_DECLARE_FLAG(bool, allow_runtime_indexes);
ABSL_DECLARE_FLAG(uint64_t, max_runtime_indexes);
ABSL_DECLARE_FLAG(bool, on_demand);
ABSL_DECLARE_FLAG(std::vector<std::string>, on_demand_deny);
ABSL_DECLARE_FLAG(absl::Duration, on_demand_idle_timeout);

namespace informer {
namespace server {
namespace {

// A resource to cache, by its kubectl-style name, with every other setting at its default.
ResourceConfig Named(const std::string& name) {
  ResourceConfig config;
  config.name = name;
  return config;
}

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(IndexSpecTest, ParsesLabelAndFieldSpecsWithOptionalNames) {
  absl::StatusOr<IndexSpec> label = ParseIndexSpec("label:app.kubernetes.io/name");
  ASSERT_TRUE(label.ok());
  EXPECT_EQ(label->kind, IndexSpec::Kind::kLabel);
  EXPECT_EQ(label->key, "app.kubernetes.io/name");
  EXPECT_EQ(label->name, "label:app.kubernetes.io/name");
  absl::StatusOr<IndexSpec> field = ParseIndexSpec("node=field:spec.nodeName");
  ASSERT_TRUE(field.ok());
  EXPECT_EQ(field->kind, IndexSpec::Kind::kField);
  EXPECT_EQ(field->key, "spec.nodeName");
  EXPECT_EQ(field->name, "node");
  EXPECT_EQ(IndexSpecString(*field), "node=field:spec.nodeName");
}

TEST(IndexSpecTest, BadSpecsAreInvalidArgumentSayingTheForms) {
  for (const char* bad : {"app", "label:", "tag:app", "field:spec..x", "namespace=label:x"}) {
    absl::StatusOr<IndexSpec> spec = ParseIndexSpec(bad);
    EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_THAT(ParseIndexSpec("app").status().message(), HasSubstr("label:KEY or field:PATH"));
}

TEST(IndexSpecTest, BuiltIndexersIndexByLabelAndField) {
  Indexers indexers =
      BuildIndexers({*ParseIndexSpec("label:app"), *ParseIndexSpec("node=field:spec.nodeName")});
  ObjectPtr pod = ::informer::testing::MakeObject("ns", "p", "1", {{"app", "web"}},
                                                  R"("spec":{"nodeName":"n1"})");
  EXPECT_THAT(indexers.at("label:app")(*pod), ElementsAre("web"));
  EXPECT_THAT(indexers.at("node")(*pod), ElementsAre("n1"));
}

constexpr char kFullConfig[] = R"(
kubeconfig: /etc/kube/config
context: kind
listen: ["127.0.0.1:0", "unix:/tmp/informerd.sock"]
metrics_listen: ""
namespace: team-a
label_selector: "tier!=test"
resync: 10m
indexes: ["label:app"]
strip_managed_fields: false
cache_compression: false
cache_compression_samples: 64
streaming_list: false
history_size: 500
history_bytes: 1048576
subscriber_soft_limit: 10
subscriber_hard_limit: 20
bookmark_interval: 5s
subscriber_write_timeout: 2m
page_token_ttl: 1m
sync_timeout: 15s
max_wait: 2s
shutdown_grace: 1s
heap_trim_interval: 30s
malloc_arenas: 4
log_format: text
log_level: debug
resources:
  - configmaps
  - name: pods
    namespace: default
    label_selector: app=web
    field_selector: status.phase=Running
    resync: 1m
    indexes: ["node=field:spec.nodeName"]
)";

TEST(ConfigTest, YamlSetsEveryKeyIncludingPerResourceSettings) {
  ServerConfig config;
  ASSERT_TRUE(ApplyConfigYaml(kFullConfig, &config).ok());
  EXPECT_EQ(config.kubeconfig, "/etc/kube/config");
  EXPECT_EQ(config.context, "kind");
  EXPECT_THAT(config.listen, ElementsAre("127.0.0.1:0", "unix:/tmp/informerd.sock"));
  EXPECT_EQ(config.metrics_listen, "");
  EXPECT_EQ(config.namespace_name, "team-a");
  EXPECT_EQ(config.label_selector, "tier!=test");
  EXPECT_EQ(config.resync, absl::Minutes(10));
  ASSERT_EQ(config.indexes.size(), 1u);
  EXPECT_FALSE(config.strip_managed_fields);
  EXPECT_FALSE(config.cache_compression);
  EXPECT_EQ(config.cache_compression_samples, 64u);
  EXPECT_FALSE(config.streaming_list);
  EXPECT_EQ(config.history.max_events, 500u);
  EXPECT_EQ(config.history.max_bytes, 1048576u);
  EXPECT_EQ(config.subscribers.soft_limit, 10u);
  EXPECT_EQ(config.subscribers.hard_limit, 20u);
  EXPECT_EQ(config.subscribers.bookmark_interval, absl::Seconds(5));
  EXPECT_EQ(config.subscribers.write_timeout, absl::Minutes(2));
  EXPECT_EQ(config.pager.snapshot_ttl, absl::Minutes(1));
  EXPECT_EQ(config.sync_timeout, absl::Seconds(15));
  EXPECT_EQ(config.max_wait, absl::Seconds(2));
  EXPECT_EQ(config.shutdown_grace, absl::Seconds(1));
  EXPECT_EQ(config.heap_trim_interval, absl::Seconds(30));
  EXPECT_EQ(config.malloc_arenas, 4u);
  EXPECT_EQ(config.log_format, "text");
  ASSERT_EQ(config.resources.size(), 2u);
  EXPECT_EQ(config.resources[0].name, "configmaps");
  EXPECT_FALSE(config.resources[0].namespace_name.has_value());
  const ResourceConfig& pods = config.resources[1];
  EXPECT_EQ(pods.name, "pods");
  EXPECT_EQ(pods.namespace_name.value(), "default");
  EXPECT_EQ(pods.label_selector.value(), "app=web");
  EXPECT_EQ(pods.field_selector.value(), "status.phase=Running");
  EXPECT_EQ(pods.resync.value(), absl::Minutes(1));
  ASSERT_EQ(pods.indexes.size(), 1u);
  EXPECT_EQ(pods.indexes[0].name, "node");
  EXPECT_TRUE(ValidateConfig(config).ok()) << ValidateConfig(config);
}

TEST(ConfigTest, TheDocumentedExampleIsValid) {
  std::ifstream doc(INFORMERD_SOURCE_DIR "/docs/configuration.md");
  ASSERT_TRUE(doc.good()) << "docs/configuration.md is missing";
  const std::string text((std::istreambuf_iterator<char>(doc)), std::istreambuf_iterator<char>());
  const size_t begin = text.find("```yaml\n");
  ASSERT_NE(begin, std::string::npos) << "docs/configuration.md has no yaml block";
  const size_t body = begin + 8;
  const size_t end = text.find("```", body);
  ASSERT_NE(end, std::string::npos);
  ServerConfig config;
  const absl::Status applied = ApplyConfigYaml(text.substr(body, end - body), &config);
  ASSERT_TRUE(applied.ok()) << applied;
  EXPECT_TRUE(ValidateConfig(config).ok()) << ValidateConfig(config);
  // Spot checks that the example says what its comments say.
  EXPECT_THAT(config.listen, ElementsAre("127.0.0.1:50051", "unix:/run/informerd/grpc.sock"));
  ASSERT_EQ(config.resources.size(), 4u);
  EXPECT_EQ(config.resources[2].name, "pods");
  EXPECT_EQ(config.resources[3].projection, Projection::kMetadata);
  EXPECT_EQ(config.resources[2].namespace_name.value(), "default");
  ASSERT_EQ(config.resources[2].indexes.size(), 2u);
  EXPECT_EQ(config.resources[2].indexes[0].name, "node");
  EXPECT_DOUBLE_EQ(config.history.cache_fraction, 0.25);
  EXPECT_EQ(config.subscribers.hard_limit, 10000u);
}

TEST(ConfigTest, MistakesAreInvalidArgumentNamingTheKey) {
  struct Case {
    const char* yaml;
    const char* mentions;
  };
  for (const Case& c : {
           Case{"resyncc: 1m", "resyncc"},
           Case{"resync: soon", "resync"},
           Case{"history_size: -1", "history_size"},
           Case{"indexes: [\"tag:x\"]", "indexes"},
           Case{"resources: [{namespace: x}]", "resources[].name"},
           Case{"resources: [{name: pods, colour: red}]", "resources[].colour"},
           Case{"listen: {a: b}", "listen"},
           Case{"in_cluster: maybe", "in_cluster"},
           Case{"[1, 2]", "map"},
           Case{"a: [", "YAML"},
       }) {
    ServerConfig config;
    absl::Status status = ApplyConfigYaml(c.yaml, &config);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.yaml;
    EXPECT_THAT(status.message(), HasSubstr(c.mentions)) << c.yaml;
  }
}

TEST(ConfigTest, ValidationSaysWhatToChange) {
  ServerConfig config;
  EXPECT_THAT(ValidateConfig(config).message(), HasSubstr("--resources"));
  config.resources.push_back(Named("pods"));
  EXPECT_TRUE(ValidateConfig(config).ok());
  ServerConfig limits = config;
  limits.subscribers.soft_limit = 100;
  limits.subscribers.hard_limit = 10;
  EXPECT_EQ(ValidateConfig(limits).code(), absl::StatusCode::kInvalidArgument);
  ServerConfig samples = config;
  samples.cache_compression_samples = 7;
  EXPECT_THAT(ValidateConfig(samples).message(), HasSubstr("cache_compression_samples"));
  EXPECT_EQ(ValidateConfig(samples).code(), absl::StatusCode::kInvalidArgument);
  samples.cache_compression_samples = 8;
  EXPECT_TRUE(ValidateConfig(samples).ok());
  ServerConfig stall = config;
  stall.subscribers.write_timeout = absl::ZeroDuration();  // never cut
  EXPECT_TRUE(ValidateConfig(stall).ok());
  stall.subscribers.write_timeout = -absl::Seconds(1);
  EXPECT_THAT(ValidateConfig(stall).message(), HasSubstr("subscriber_write_timeout"));
  ServerConfig listen = config;
  listen.listen = {"localhost"};
  EXPECT_THAT(ValidateConfig(listen).message(), HasSubstr("HOST:PORT"));
  ServerConfig selector = config;
  selector.resources[0].label_selector = "a in (";
  EXPECT_THAT(ValidateConfig(selector).message(), HasSubstr("resource pods: label_selector"));
  ServerConfig all;
  all.all_resources = true;
  EXPECT_TRUE(ValidateConfig(all).ok());
}

TEST(OnDemandConfigTest, OffByDefaultWithDocumentedDefaults) {
  ServerConfig config;
  EXPECT_FALSE(config.on_demand.enabled);
  EXPECT_THAT(config.on_demand.allow, ElementsAre("*"));
  EXPECT_TRUE(config.on_demand.deny.empty());
  EXPECT_EQ(config.on_demand.idle_timeout, absl::Minutes(10));
  // Nothing named: an error unless caching on demand.
  EXPECT_THAT(ValidateConfig(config).message(), HasSubstr("--on_demand"));
  config.on_demand.enabled = true;
  EXPECT_TRUE(ValidateConfig(config).ok()) << ValidateConfig(config);
}

TEST(OnDemandConfigTest, YamlSetsTheOnDemandKeys) {
  ServerConfig config;
  ASSERT_TRUE(ApplyConfigYaml("on_demand: true\n"
                              "on_demand_allow: [configmaps, \"*.example.com\"]\n"
                              "on_demand_deny: [secrets]\n"
                              "on_demand_idle_timeout: 90s\n",
                              &config)
                  .ok());
  EXPECT_TRUE(config.on_demand.enabled);
  EXPECT_THAT(config.on_demand.allow, ElementsAre("configmaps", "*.example.com"));
  EXPECT_THAT(config.on_demand.deny, ElementsAre("secrets"));
  EXPECT_EQ(config.on_demand.idle_timeout, absl::Seconds(90));
  EXPECT_TRUE(ValidateConfig(config).ok()) << ValidateConfig(config);
}

TEST(OnDemandConfigTest, MistakesNameTheKeyAndTheAcceptedForms) {
  ServerConfig config;
  absl::Status bad_pattern = ApplyConfigYaml("on_demand_deny: [\"Secrets*\"]", &config);
  EXPECT_EQ(bad_pattern.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad_pattern.message(), HasSubstr("on_demand_deny"));
  EXPECT_THAT(bad_pattern.message(), HasSubstr("RESOURCE.GROUP"));
  EXPECT_EQ(ApplyConfigYaml("on_demand_idle_timeout: later", &config).code(),
            absl::StatusCode::kInvalidArgument);
  ServerConfig zero;
  zero.on_demand.enabled = true;
  zero.on_demand.idle_timeout = absl::ZeroDuration();
  EXPECT_THAT(ValidateConfig(zero).message(), HasSubstr("on_demand_idle_timeout"));
  ServerConfig bad_flag_pattern;
  bad_flag_pattern.on_demand.enabled = true;
  bad_flag_pattern.on_demand.allow = {"deployments.*"};
  EXPECT_THAT(ValidateConfig(bad_flag_pattern).message(), HasSubstr("on_demand_allow"));
}

TEST(OnDemandConfigTest, FlagsSetTheOnDemandSettings) {
  absl::SetFlag(&FLAGS_on_demand, true);
  absl::SetFlag(&FLAGS_on_demand_deny, {"secrets", "*.example.com"});
  absl::SetFlag(&FLAGS_on_demand_idle_timeout, absl::Seconds(3));
  absl::StatusOr<ServerConfig> config =
      ConfigFromFlags({"on_demand", "on_demand_deny", "on_demand_idle_timeout"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->on_demand.enabled);
  EXPECT_THAT(config->on_demand.allow, ElementsAre("*"));
  EXPECT_THAT(config->on_demand.deny, ElementsAre("secrets", "*.example.com"));
  EXPECT_EQ(config->on_demand.idle_timeout, absl::Seconds(3));
  absl::SetFlag(&FLAGS_on_demand, false);
  absl::SetFlag(&FLAGS_on_demand_deny, {});
  absl::SetFlag(&FLAGS_on_demand_idle_timeout, absl::Minutes(10));
}

TEST(FlagsTest, FlagsGivenNamesEveryFormOnTheCommandLine) {
  const char* argv[] = {
      "informerd", "--resources=pods", "-namespace", "x", "--nostrip_managed_fields",
      "--",        "--listen=ignored"};
  absl::flat_hash_set<std::string> given = FlagsGiven(7, const_cast<char**>(argv));
  EXPECT_TRUE(given.contains("resources"));
  EXPECT_TRUE(given.contains("namespace"));
  EXPECT_TRUE(given.contains("strip_managed_fields"));
  EXPECT_FALSE(given.contains("listen"));
}

TEST(FlagsTest, FlagsOnTheCommandLineWinOverTheConfigFile) {
  const std::string path = ::testing::TempDir() + "/informerd_flags_test.yaml";
  {
    std::ofstream out(path);
    out << "namespace: from-file\nsubscriber_hard_limit: 50\nresources: [pods]\n";
  }
  absl::SetFlag(&FLAGS_config, path);
  absl::SetFlag(&FLAGS_namespace, "from-flag");
  absl::SetFlag(&FLAGS_subscriber_hard_limit, 7);  // set but not "given": the file wins
  absl::SetFlag(&FLAGS_index, {"pods=field:spec.nodeName"});
  absl::StatusOr<ServerConfig> config = ConfigFromFlags({"config", "namespace", "index"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->namespace_name, "from-flag");
  EXPECT_EQ(config->subscribers.hard_limit, 50u);
  ASSERT_EQ(config->resources.size(), 1u);
  ASSERT_EQ(config->resources[0].indexes.size(), 1u);
  EXPECT_EQ(config->resources[0].indexes[0].name, "field:spec.nodeName");
  std::remove(path.c_str());
}

TEST(ConfigTest, HostileInputLimitsComeFromTheFileAndTheFlags) {
  ServerConfig defaults;
  EXPECT_EQ(defaults.max_response_bytes, uint64_t{256} << 20);
  EXPECT_EQ(defaults.max_watch_frame_bytes, uint64_t{64} << 20);
  EXPECT_EQ(defaults.selector_limits.max_bytes, 16384u);
  EXPECT_EQ(defaults.selector_limits.max_terms, 256u);
  EXPECT_EQ(defaults.metrics_http.max_connections, 64u);
  EXPECT_EQ(defaults.metrics_http.request_timeout, absl::Seconds(5));

  const std::string path = ::testing::TempDir() + "/informerd_limits_test.yaml";
  {
    std::ofstream out(path);
    out << "resources: [pods]\nmax_response_bytes: 1000\nmax_watch_frame_bytes: 2000\n"
           "max_selector_bytes: 300\nmax_selector_terms: 4\nmetrics_max_connections: 2\n"
           "metrics_request_timeout: 2s\n";
  }
  absl::SetFlag(&FLAGS_config, path);
  absl::SetFlag(&FLAGS_max_selector_terms, 9);
  absl::StatusOr<ServerConfig> config = ConfigFromFlags({"config", "max_selector_terms"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->max_response_bytes, 1000u);
  EXPECT_EQ(config->max_watch_frame_bytes, 2000u);
  EXPECT_EQ(config->selector_limits.max_bytes, 300u);
  EXPECT_EQ(config->selector_limits.max_terms, 9u);
  EXPECT_EQ(config->metrics_http.max_connections, 2u);
  EXPECT_EQ(config->metrics_http.request_timeout, absl::Seconds(2));
  EXPECT_TRUE(ValidateConfig(*config).ok());
  config->selector_limits.max_terms = 0;
  EXPECT_EQ(ValidateConfig(*config).code(), absl::StatusCode::kInvalidArgument);
  absl::SetFlag(&FLAGS_config, "");
  std::remove(path.c_str());
}

TEST(ConfigTest, CallerLimitsHaveDocumentedDefaultsAndComeFromTheFileAndTheFlags) {
  ServerConfig defaults;
  EXPECT_EQ(defaults.grpc_limits.max_receive_message_bytes, size_t{16} << 20);
  EXPECT_EQ(defaults.grpc_limits.max_streams_per_connection, 1000u);
  EXPECT_EQ(defaults.grpc_limits.memory_bytes, size_t{32} << 20);
  EXPECT_EQ(defaults.grpc_limits.max_threads, 64);
  EXPECT_EQ(defaults.grpc_limits.max_connection_age, absl::Hours(1));
  EXPECT_EQ(defaults.grpc_limits.max_connection_age_grace, absl::Minutes(1));
  EXPECT_EQ(defaults.grpc_limits.keepalive_time, absl::Seconds(60));
  EXPECT_EQ(defaults.grpc_limits.keepalive_timeout, absl::Seconds(20));
  EXPECT_EQ(defaults.grpc_limits.min_client_ping_interval, absl::Seconds(10));
  EXPECT_EQ(defaults.call_limits.max_known_objects, 100000u);
  EXPECT_EQ(defaults.call_limits.max_subscribers, 10000u);
  EXPECT_EQ(defaults.call_limits.max_subscribers_per_caller, 1000u);
  EXPECT_EQ(defaults.call_limits.max_waits, 10000u);
  EXPECT_EQ(defaults.call_limits.max_waits_per_caller, 1000u);
  EXPECT_EQ(defaults.pager.max_snapshots, 1024u);
  EXPECT_EQ(defaults.pager.max_snapshots_per_caller, 64u);
  EXPECT_EQ(defaults.call_limits.max_concurrent_starts, 4u);
  EXPECT_EQ(defaults.call_limits.start_queue_wait, absl::Seconds(1));

  const std::string path = ::testing::TempDir() + "/informerd_caller_limits_test.yaml";
  {
    std::ofstream out(path);
    out << "resources: [pods]\nmax_receive_message_bytes: 65536\nmax_known_objects: 7\n"
           "max_streams_per_connection: 8\nmax_subscribers: 9\nmax_subscribers_per_caller: 3\n"
           "max_waits: 10\nmax_waits_per_caller: 4\nmax_page_snapshots: 11\n"
           "max_page_snapshots_per_caller: 5\nmax_concurrent_starts: 2\n"
           "start_queue_wait: 250ms\ngrpc_memory_bytes: 0\ngrpc_max_threads: 12\n"
           "max_connection_age: 10m\nmax_connection_age_grace: 30s\n"
           "grpc_keepalive_time: 5s\ngrpc_keepalive_timeout: 2s\n"
           "grpc_min_client_ping_interval: 1s\n";
  }
  absl::SetFlag(&FLAGS_config, path);
  absl::SetFlag(&FLAGS_max_waits_per_caller, 6);
  absl::SetFlag(&FLAGS_max_connection_age, absl::ZeroDuration());
  absl::StatusOr<ServerConfig> config =
      ConfigFromFlags({"config", "max_waits_per_caller", "max_connection_age"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->grpc_limits.max_receive_message_bytes, 65536u);
  EXPECT_EQ(config->grpc_limits.max_streams_per_connection, 8u);
  EXPECT_EQ(config->grpc_limits.memory_bytes, 0u);
  EXPECT_EQ(config->grpc_limits.max_threads, 12);
  EXPECT_EQ(config->grpc_limits.max_connection_age, absl::ZeroDuration());
  EXPECT_EQ(config->grpc_limits.max_connection_age_grace, absl::Seconds(30));
  EXPECT_EQ(config->grpc_limits.keepalive_time, absl::Seconds(5));
  EXPECT_EQ(config->grpc_limits.keepalive_timeout, absl::Seconds(2));
  EXPECT_EQ(config->grpc_limits.min_client_ping_interval, absl::Seconds(1));
  EXPECT_EQ(config->call_limits.max_known_objects, 7u);
  EXPECT_EQ(config->call_limits.max_subscribers, 9u);
  EXPECT_EQ(config->call_limits.max_subscribers_per_caller, 3u);
  EXPECT_EQ(config->call_limits.max_waits, 10u);
  EXPECT_EQ(config->call_limits.max_waits_per_caller, 6u);
  EXPECT_EQ(config->pager.max_snapshots, 11u);
  EXPECT_EQ(config->pager.max_snapshots_per_caller, 5u);
  EXPECT_EQ(config->call_limits.max_concurrent_starts, 2u);
  EXPECT_EQ(config->call_limits.start_queue_wait, absl::Milliseconds(250));
  EXPECT_TRUE(ValidateConfig(*config).ok());
  ServerConfig zero = *config;
  zero.call_limits.max_waits = 0;
  absl::Status refused = ValidateConfig(zero);
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.message(), HasSubstr("max_waits"));
  ServerConfig tiny = *config;
  tiny.grpc_limits.max_receive_message_bytes = 10;
  EXPECT_THAT(ValidateConfig(tiny).message(), HasSubstr("max_receive_message_bytes"));
  ServerConfig no_keepalive = *config;
  no_keepalive.grpc_limits.keepalive_time = absl::ZeroDuration();
  EXPECT_THAT(ValidateConfig(no_keepalive).message(), HasSubstr("grpc_keepalive_time"));
  absl::SetFlag(&FLAGS_config, "");
  std::remove(path.c_str());
}

TEST(ConfigTest, RuntimeIndexesAreOffByDefaultAndComeFromTheFileAndTheFlags) {
  const ServerConfig defaults;
  EXPECT_FALSE(defaults.runtime_indexes.allowed);
  EXPECT_EQ(defaults.runtime_indexes.max_per_resource, 8u);
  ServerConfig config;
  ASSERT_TRUE(
      ApplyConfigYaml("allow_runtime_indexes: true\nmax_runtime_indexes: 3\n", &config).ok());
  EXPECT_TRUE(config.runtime_indexes.allowed);
  EXPECT_EQ(config.runtime_indexes.max_per_resource, 3u);
  absl::SetFlag(&FLAGS_resources, std::vector<std::string>{"pods"});
  absl::SetFlag(&FLAGS_allow_runtime_indexes, true);
  absl::SetFlag(&FLAGS_max_runtime_indexes, 2);
  absl::StatusOr<ServerConfig> flagged =
      ConfigFromFlags({"resources", "allow_runtime_indexes", "max_runtime_indexes"});
  ASSERT_TRUE(flagged.ok()) << flagged.status();
  EXPECT_TRUE(flagged->runtime_indexes.allowed);
  EXPECT_EQ(flagged->runtime_indexes.max_per_resource, 2u);
  absl::SetFlag(&FLAGS_allow_runtime_indexes, false);
  absl::SetFlag(&FLAGS_resources, std::vector<std::string>{});
}

TEST(FlagsTest, ResourcesAllSelectsEveryResourceAndIndexForAnUnlistedOneIsAnError) {
  absl::SetFlag(&FLAGS_config, "");
  absl::SetFlag(&FLAGS_resources, {"all"});
  absl::SetFlag(&FLAGS_index, {"*=label:app"});
  absl::StatusOr<ServerConfig> config = ConfigFromFlags({"resources", "index"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->all_resources);
  ASSERT_EQ(config->indexes.size(), 1u);
  absl::SetFlag(&FLAGS_resources, {"pods"});
  absl::SetFlag(&FLAGS_index, {"secrets=label:app"});
  absl::StatusOr<ServerConfig> bad = ConfigFromFlags({"resources", "index"});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("not in --resources"));
}

TEST(FlagsTest, MissingConfigFileIsNotFound) {
  absl::SetFlag(&FLAGS_config, "/nonexistent/informerd.yaml");
  EXPECT_EQ(ConfigFromFlags({"config"}).status().code(), absl::StatusCode::kNotFound);
  absl::SetFlag(&FLAGS_config, "");
}

TEST(ConfigTest, HistoryFollowsTheCacheByDefaultAndFixedBoundsGivenOverrideIt) {
  ServerConfig defaults;
  EXPECT_DOUBLE_EQ(defaults.history.cache_fraction, 0.25);

  ServerConfig fixed;  // history_bytes alone: that bound, not a share of the cache
  ASSERT_TRUE(ApplyConfigYaml("history_bytes: 1048576\n", &fixed).ok());
  EXPECT_EQ(fixed.history.max_bytes, 1048576u);
  EXPECT_DOUBLE_EQ(fixed.history.cache_fraction, 0);

  ServerConfig both;  // a percentage given too is kept, in either order
  ASSERT_TRUE(ApplyConfigYaml("history_cache_percent: 10\nhistory_size: 500\n", &both).ok());
  EXPECT_EQ(both.history.max_events, 500u);
  EXPECT_DOUBLE_EQ(both.history.cache_fraction, 0.10);

  absl::SetFlag(&FLAGS_config, "");
  absl::SetFlag(&FLAGS_history_bytes, 4096);
  absl::StatusOr<ServerConfig> flag_bytes = ConfigFromFlags({"history_bytes"});
  ASSERT_TRUE(flag_bytes.ok()) << flag_bytes.status();
  EXPECT_EQ(flag_bytes->history.max_bytes, 4096u);
  EXPECT_DOUBLE_EQ(flag_bytes->history.cache_fraction, 0);
  absl::SetFlag(&FLAGS_history_cache_percent, 50);
  absl::StatusOr<ServerConfig> flag_percent = ConfigFromFlags({"history_cache_percent"});
  ASSERT_TRUE(flag_percent.ok()) << flag_percent.status();
  EXPECT_DOUBLE_EQ(flag_percent->history.cache_fraction, 0.5);
}

}  // namespace
}  // namespace server
}  // namespace informer

namespace informer {
namespace server {
namespace {

TEST(AccessConfigTest, YamlSetsTheAccessKeys) {
  ServerConfig config;
  ASSERT_TRUE(ApplyConfigYaml(R"(
auth: true
auth_kubeconfig: /etc/reviews.kubeconfig
auth_audiences: [informerd, other]
auth_token_ttl: 30s
auth_allow_ttl: 10s
auth_deny_ttl: 2s
auth_narrow_cluster_wide: true
tls_cert_file: /tls/tls.crt
tls_key_file: /tls/tls.key
tls_client_ca_file: /tls/ca.crt
tls_refresh: 5s
spiffe_trust_domain: cluster.local
)",
                              &config)
                  .ok());
  const AccessConfig& access = config.access;
  EXPECT_TRUE(access.enabled);
  EXPECT_EQ(access.kubeconfig, "/etc/reviews.kubeconfig");
  EXPECT_THAT(access.audiences, ::testing::ElementsAre("informerd", "other"));
  EXPECT_EQ(access.token_ttl, absl::Seconds(30));
  EXPECT_EQ(access.allow_ttl, absl::Seconds(10));
  EXPECT_EQ(access.deny_ttl, absl::Seconds(2));
  EXPECT_TRUE(access.narrow_cluster_wide);
  EXPECT_EQ(access.tls_cert_file, "/tls/tls.crt");
  EXPECT_EQ(access.tls_key_file, "/tls/tls.key");
  EXPECT_EQ(access.tls_client_ca_file, "/tls/ca.crt");
  EXPECT_EQ(access.tls_refresh, absl::Seconds(5));
  EXPECT_EQ(access.spiffe_trust_domain, "cluster.local");
}

TEST(AccessConfigTest, ValidationSaysWhatToChange) {
  ServerConfig config;
  config.resources.push_back(Named("pods"));
  ASSERT_TRUE(ValidateConfig(config).ok());
  ServerConfig no_key = config;
  no_key.access.tls_cert_file = "/tls/tls.crt";
  EXPECT_THAT(ValidateConfig(no_key).message(), HasSubstr("--tls_key_file"));
  ServerConfig mtls_without_tls = config;
  mtls_without_tls.access.tls_client_ca_file = "/tls/ca.crt";
  EXPECT_THAT(ValidateConfig(mtls_without_tls).message(), HasSubstr("--tls_cert_file"));
  ServerConfig long_cache = config;
  long_cache.access.allow_ttl = absl::Minutes(5);
  EXPECT_EQ(ValidateConfig(long_cache).code(), absl::StatusCode::kInvalidArgument);
  ServerConfig no_audience = config;
  no_audience.access.enabled = true;
  no_audience.access.audiences.clear();
  EXPECT_THAT(ValidateConfig(no_audience).message(), HasSubstr("audience"));
}

}  // namespace
}  // namespace server
}  // namespace informer
