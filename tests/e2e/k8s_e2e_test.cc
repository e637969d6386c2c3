// End-to-end tests of the REST transport and the informer pipeline against a real
// kube-apiserver (scripts/cluster-up). Run by ctest when INFORMERD_TEST_KUBECONFIG is set;
// otherwise the binary reports itself skipped (exit code 77).
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "informer/api_status.h"
#include "informer/factory.h"
#include "informer/k8s/config.h"
#include "informer/k8s/discovery.h"
#include "informer/k8s/http_client.h"
#include "informer/k8s/json_util.h"
#include "informer/k8s/rest_client.h"
#include "informer/k8s/rest_lister_watcher.h"
#include "informer/k8s/testing/files.h"
#include "informer/object_decoder.h"
#include "informer/shared_informer.h"
#include "informer/transform.h"
#include "rapidjson/document.h"
#include "tests/e2e/cluster.h"

namespace informer {
namespace e2e {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kConverge = absl::Seconds(60);
constexpr char kCrdGroup[] = "e2e.informerd.dev";

// ---------------------------------------------------------------------------------------------
// A ListerWatcherFactory around the real one that lets a test break every open watch (as a
// dropped connection does) and hold new watches back while it changes the cluster.

// Shared between one stream and the factory, so the factory can break a stream it does not own.
struct StreamControl {
  absl::Mutex mu;
  WatchStream* inner ABSL_GUARDED_BY(mu) = nullptr;  // null once the stream is gone
  bool broken ABSL_GUARDED_BY(mu) = false;
};

class ControlledStream : public WatchStream {
 public:
  ControlledStream(std::unique_ptr<WatchStream> inner, std::shared_ptr<StreamControl> control)
      : inner_(std::move(inner)), control_(std::move(control)) {
    absl::MutexLock lock(&control_->mu);
    control_->inner = inner_.get();
  }
  ~ControlledStream() override {
    absl::MutexLock lock(&control_->mu);
    control_->inner = nullptr;
  }

  absl::StatusOr<std::optional<WatchEvent>> Next() override {
    absl::StatusOr<std::optional<WatchEvent>> event = inner_->Next();
    absl::MutexLock lock(&control_->mu);
    if (control_->broken) {
      return WithTransportFault(absl::UnavailableError("e2e: watch connection broken by the test"),
                                TransportFault::kConnectionLost);
    }
    return event;
  }

  void Stop() override { inner_->Stop(); }

 private:
  std::unique_ptr<WatchStream> inner_;
  std::shared_ptr<StreamControl> control_;
};

class ControlledFactory;

class ControlledListerWatcher : public ListerWatcher {
 public:
  ControlledListerWatcher(std::shared_ptr<ListerWatcher> inner, ControlledFactory* factory)
      : inner_(std::move(inner)), factory_(factory) {}
  absl::StatusOr<ListPage> List(const ListOptions& options, const ObjectDecoder& decoder) override {
    return inner_->List(options, decoder);
  }
  absl::StatusOr<std::unique_ptr<WatchStream>> Watch(const ListOptions& options,
                                                     const ObjectDecoder& decoder) override;

 private:
  std::shared_ptr<ListerWatcher> inner_;
  ControlledFactory* factory_;
};

class ControlledFactory : public ListerWatcherFactory {
 public:
  explicit ControlledFactory(std::shared_ptr<ListerWatcherFactory> inner)
      : inner_(std::move(inner)) {}

  absl::StatusOr<std::shared_ptr<ListerWatcher>> ForResource(
      const ResourceInfo& resource, absl::string_view namespace_name) override {
    absl::StatusOr<std::shared_ptr<ListerWatcher>> inner =
        inner_->ForResource(resource, namespace_name);
    if (!inner.ok()) return inner.status();
    return std::shared_ptr<ListerWatcher>(
        std::make_shared<ControlledListerWatcher>(*std::move(inner), this));
  }

  // Makes every open watch fail with Unavailable, as a dropped connection would; also those
  // being opened right now.
  void BreakWatches() {
    std::vector<std::shared_ptr<StreamControl>> controls;
    {
      absl::MutexLock lock(&mu_);
      ++breaks_;
      for (const std::weak_ptr<StreamControl>& weak : streams_) {
        if (auto control = weak.lock()) controls.push_back(std::move(control));
      }
    }
    for (const auto& control : controls) {
      absl::MutexLock lock(&control->mu);
      control->broken = true;
      if (control->inner != nullptr) control->inner->Stop();
    }
  }

  // New Watch calls wait until ResumeWatches.
  void PauseWatches() {
    absl::MutexLock lock(&mu_);
    paused_ = true;
  }
  void ResumeWatches() {
    absl::MutexLock lock(&mu_);
    paused_ = false;
  }
  // How many Watch calls are waiting for ResumeWatches.
  int waiting() const {
    absl::MutexLock lock(&mu_);
    return waiting_;
  }

  absl::StatusOr<std::unique_ptr<WatchStream>> Watch(ListerWatcher& inner,
                                                     const ListOptions& options,
                                                     const ObjectDecoder& decoder) {
    int breaks_before;
    {
      absl::MutexLock lock(&mu_);
      ++waiting_;
      mu_.Await(absl::Condition(
          +[](bool* paused) { return !*paused; }, &paused_));
      --waiting_;
      breaks_before = breaks_;
    }
    absl::StatusOr<std::unique_ptr<WatchStream>> stream = inner.Watch(options, decoder);
    if (!stream.ok()) return stream.status();
    auto control = std::make_shared<StreamControl>();
    auto controlled = std::make_unique<ControlledStream>(*std::move(stream), control);
    bool broken_while_opening;
    {
      absl::MutexLock lock(&mu_);
      streams_.push_back(control);
      broken_while_opening = breaks_ != breaks_before;
    }
    if (broken_while_opening) {
      absl::MutexLock lock(&control->mu);
      control->broken = true;
      control->inner->Stop();
    }
    return std::unique_ptr<WatchStream>(std::move(controlled));
  }

 private:
  std::shared_ptr<ListerWatcherFactory> inner_;
  mutable absl::Mutex mu_;
  std::vector<std::weak_ptr<StreamControl>> streams_ ABSL_GUARDED_BY(mu_);
  bool paused_ ABSL_GUARDED_BY(mu_) = false;
  int waiting_ ABSL_GUARDED_BY(mu_) = 0;
  int breaks_ ABSL_GUARDED_BY(mu_) = 0;  // BreakWatches calls so far
};

absl::StatusOr<std::unique_ptr<WatchStream>> ControlledListerWatcher::Watch(
    const ListOptions& options, const ObjectDecoder& decoder) {
  return factory_->Watch(*inner_, options, decoder);
}

// ---------------------------------------------------------------------------------------------
// A handler that records what it is told.
class RecordingHandler : public ResourceEventHandler {
 public:
  void OnAdd(const ObjectPtr& object, bool) override {
    absl::MutexLock lock(&mu_);
    added_.insert(object->key());
  }
  void OnUpdate(const ObjectPtr&, const ObjectPtr& object) override {
    absl::MutexLock lock(&mu_);
    updated_.insert(object->key());
  }
  void OnDelete(const DeltaObject& object) override {
    absl::MutexLock lock(&mu_);
    deleted_.insert(KeyOf(object));
  }
  bool Deleted(const std::string& key) const {
    absl::MutexLock lock(&mu_);
    return deleted_.count(key) > 0;
  }
  bool Added(const std::string& key) const {
    absl::MutexLock lock(&mu_);
    return added_.count(key) > 0;
  }

 private:
  mutable absl::Mutex mu_;
  std::set<std::string> added_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> updated_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> deleted_ ABSL_GUARDED_BY(mu_);
};

std::map<std::string, std::string> CacheKeyVersions(const SharedIndexInformer& informer) {
  std::map<std::string, std::string> versions;
  for (const ObjectPtr& object : informer.store().List()) {
    versions[object->key()] = object->meta().resource_version;
  }
  return versions;
}

std::string Describe(const std::map<std::string, std::string>& versions) {
  std::vector<std::string> parts;
  for (const auto& [key, rv] : versions) parts.push_back(absl::StrCat(key, "@", rv));
  return absl::StrCat("{", absl::StrJoin(parts, ", "), "}");
}

// Whether the informer's cache reaches the server's LIST of `path` (key -> RV) in time.
::testing::AssertionResult Converges(const SharedIndexInformer& informer, k8s::RestClient& client,
                                     const std::string& path) {
  std::map<std::string, std::string> server;
  std::map<std::string, std::string> cache;
  const bool converged = WaitFor(kConverge, [&] {
    absl::StatusOr<std::map<std::string, std::string>> listed = ServerKeyVersions(client, path);
    if (!listed.ok()) return false;
    server = *std::move(listed);
    cache = CacheKeyVersions(informer);
    return server == cache;
  });
  if (converged) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "cache " << Describe(cache) << " never matched server "
                                       << Describe(server) << " for " << path;
}

std::string ConfigMapJson(const std::string& name, const std::string& value) {
  return absl::StrCat(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":")", name,
                      R"("},"data":{"value":")", value, R"("}})");
}

const TestCluster* g_cluster = nullptr;

class K8sE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::shared_ptr<k8s::RestClient>> client =
        ClientForKubeconfig(g_cluster->kubeconfig);
    ASSERT_TRUE(client.ok()) << client.status();
    admin_ = *client;
    run_ = RandomSuffix();
    namespace_ = absl::StrCat("e2e-", run_);
    ASSERT_TRUE(
        admin_
            ->Post("/api/v1/namespaces",
                   absl::StrCat(R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":")",
                                namespace_, R"(","labels":{"informerd-e2e":")", run_, R"("}}})"))
            .ok());
  }

  void TearDown() override {
    if (factory_ != nullptr) factory_->Shutdown();
    if (admin_ != nullptr) (void)admin_->Delete(absl::StrCat("/api/v1/namespaces/", namespace_));
  }

  std::string ConfigMapsPath() const {
    return absl::StrCat("/api/v1/namespaces/", namespace_, "/configmaps");
  }

  absl::Status CreateConfigMap(const std::string& name, const std::string& value) {
    return admin_->Post(ConfigMapsPath(), ConfigMapJson(name, value)).status();
  }
  absl::Status UpdateConfigMap(const std::string& name, const std::string& value) {
    return admin_
        ->MergePatch(absl::StrCat(ConfigMapsPath(), "/", name),
                     absl::StrCat(R"({"data":{"value":")", value, R"("}})"))
        .status();
  }
  absl::Status DeleteConfigMap(const std::string& name) {
    return admin_->Delete(absl::StrCat(ConfigMapsPath(), "/", name)).status();
  }

  // Discovery over the admin client, refreshed.
  std::unique_ptr<k8s::Discovery> NewDiscovery() {
    auto discovery = std::make_unique<k8s::Discovery>(admin_);
    absl::Status refreshed = discovery->Refresh();
    EXPECT_TRUE(refreshed.ok()) << refreshed;
    return discovery;
  }

  // A factory over controlled lister-watchers of the admin client.
  void StartFactory() {
    controlled_ = std::make_shared<ControlledFactory>(
        std::make_shared<k8s::RestListerWatcherFactory>(admin_));
    factory_ = std::make_unique<SharedInformerFactory>(controlled_, FactoryOptions());
  }

  std::shared_ptr<SharedIndexInformer> ConfigMapInformer(k8s::Discovery& discovery) {
    absl::StatusOr<ResourceInfo> configmaps = discovery.Resolve("configmaps");
    EXPECT_TRUE(configmaps.ok()) << configmaps.status();
    InformerOverrides overrides;
    overrides.namespace_name = namespace_;
    absl::StatusOr<std::shared_ptr<SharedIndexInformer>> informer =
        factory_->InformerFor(*configmaps, overrides);
    EXPECT_TRUE(informer.ok()) << informer.status();
    return *informer;
  }

  void StartAndSync() {
    factory_->Start();
    for (const auto& [gvr, synced] : factory_->WaitForCacheSync(absl::Seconds(30))) {
      EXPECT_TRUE(synced) << gvr.ToString() << " did not sync";
    }
  }

  std::shared_ptr<k8s::RestClient> admin_;
  std::string run_;
  std::string namespace_;
  std::shared_ptr<ControlledFactory> controlled_;
  std::unique_ptr<SharedInformerFactory> factory_;
};

TEST_F(K8sE2ETest, AdminKubeconfigLoadsAndReachesTheServer) {
  k8s::LoadOptions options;
  options.kubeconfig_path = g_cluster->kubeconfig;
  absl::StatusOr<k8s::RestConfig> config = k8s::LoadRestConfig(options);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server.rfind("https://", 0), 0u) << config->server;
  absl::StatusOr<std::string> version = admin_->Get("/version");
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_THAT(*version, HasSubstr("gitVersion"));
}

// The transport's options against the real server: HTTP/2, tls-server-name (verified against
// another SAN of the serving certificate), a token file, and an exec credential plugin.
TEST_F(K8sE2ETest, TransportOptionsWorkAgainstTheRealServer) {
  k8s::LoadOptions options;
  options.kubeconfig_path = g_cluster->kubeconfig;
  absl::StatusOr<k8s::RestConfig> admin = k8s::LoadRestConfig(options);
  ASSERT_TRUE(admin.ok()) << admin.status();
  k8s::HttpRequest version;
  version.path = "/version";

  absl::StatusOr<std::unique_ptr<k8s::HttpClient>> http = k8s::HttpClient::Create(*admin);
  ASSERT_TRUE(http.ok()) << http.status();
  absl::StatusOr<k8s::HttpResponse> response = (*http)->Do(version);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->protocol, "HTTP/2");

  k8s::RestConfig renamed = *admin;
  renamed.tls_server_name = "kubernetes.default.svc";
  http = k8s::HttpClient::Create(renamed);
  ASSERT_TRUE(http.ok());
  response = (*http)->Do(version);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  renamed.tls_server_name = "not-a-san.example";
  http = k8s::HttpClient::Create(renamed);
  ASSERT_TRUE(http.ok());
  EXPECT_EQ((*http)->Do(version).status().code(), absl::StatusCode::kUnavailable);

  // The same token, from a file and from an exec plugin.
  const k8s::testing::TempDir token_dir("k8s_e2e_token");
  const std::string token_file = token_dir.path() + "/token";
  {
    FILE* file = std::fopen(token_file.c_str(), "w");
    ASSERT_NE(file, nullptr);
    std::fputs(admin->bearer_token.c_str(), file);
    std::fclose(file);
  }
  k8s::RestConfig from_file = *admin;
  from_file.bearer_token.clear();
  from_file.bearer_token_file = token_file;
  absl::StatusOr<std::shared_ptr<k8s::RestClient>> client = k8s::RestClient::Create(from_file);
  ASSERT_TRUE(client.ok());
  EXPECT_TRUE((*client)->Get("/api/v1/namespaces/default").ok());

  k8s::RestConfig from_exec = *admin;
  from_exec.bearer_token.clear();
  k8s::ExecConfig exec;
  exec.command = absl::StrCat(K8S_TESTDATA_DIR, "/exec/plugin.sh");
  exec.api_version = "client.authentication.k8s.io/v1";
  exec.interactive_mode = "Never";
  exec.env = {{"PLUGIN_TOKEN", admin->bearer_token}};
  from_exec.exec = exec;
  client = k8s::RestClient::Create(from_exec);
  ASSERT_TRUE(client.ok());
  EXPECT_TRUE((*client)->Get("/api/v1/namespaces/default").ok());
  exec.env = {{"PLUGIN_TOKEN", "not-a-valid-token"}};
  from_exec.exec = exec;
  client = k8s::RestClient::Create(from_exec);
  ASSERT_TRUE(client.ok());
  EXPECT_EQ((*client)->Get("/api/v1/namespaces/default").status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(K8sE2ETest, DiscoveryFindsConfigMapsNamespacesAndDeployments) {
  std::unique_ptr<k8s::Discovery> discovery = NewDiscovery();
  EXPECT_TRUE(discovery->aggregated());
  absl::StatusOr<ResourceInfo> configmaps = discovery->Resolve("cm");
  ASSERT_TRUE(configmaps.ok()) << configmaps.status();
  EXPECT_EQ(configmaps->gvr, (GroupVersionResource{"", "v1", "configmaps"}));
  EXPECT_EQ(configmaps->kind, "ConfigMap");
  EXPECT_TRUE(configmaps->namespaced);
  EXPECT_TRUE(configmaps->SupportsListWatch());
  absl::StatusOr<ResourceInfo> namespaces = discovery->Resolve("namespaces");
  ASSERT_TRUE(namespaces.ok()) << namespaces.status();
  EXPECT_FALSE(namespaces->namespaced);
  for (const char* name : {"deployments.apps", "deployments.v1.apps", "deploy", "Deployment"}) {
    absl::StatusOr<ResourceInfo> deployments = discovery->Resolve(name);
    ASSERT_TRUE(deployments.ok()) << name << ": " << deployments.status();
    EXPECT_EQ(deployments->gvr, (GroupVersionResource{"apps", "v1", "deployments"})) << name;
  }
  EXPECT_EQ(discovery->Resolve("nosuchthings").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(K8sE2ETest, R1_R2_ListPagesWithLimitAndContinueAndWatchesFromTheListVersion) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(CreateConfigMap(absl::StrCat("page-", i), "x").ok());
  std::unique_ptr<k8s::Discovery> discovery = NewDiscovery();
  ResourceInfo configmaps = *discovery->Resolve("configmaps");
  k8s::RestListerWatcher lister_watcher(admin_, configmaps, namespace_);
  ObjectDecoder decoder(configmaps, DefaultTransforms());
  ListOptions options;
  options.limit = 2;
  std::map<std::string, std::string> listed;
  std::string list_rv;
  int pages = 0;
  do {
    absl::StatusOr<ListPage> page = lister_watcher.List(options, decoder);
    ASSERT_TRUE(page.ok()) << page.status();
    ++pages;
    for (const ObjectPtr& object : page->items) {
      EXPECT_EQ(object->kind(), "ConfigMap");  // U1: set although list items lack it
      EXPECT_EQ(object->api_version(), "v1");
      listed[object->key()] = object->meta().resource_version;
    }
    list_rv = page->resource_version;
    options.continue_token = page->continue_token;
  } while (!options.continue_token.empty());
  EXPECT_GE(pages, 3);
  absl::StatusOr<std::map<std::string, std::string>> server =
      ServerKeyVersions(*admin_, ConfigMapsPath());
  ASSERT_TRUE(server.ok());
  EXPECT_EQ(listed, *server);

  ListOptions watch_options;
  watch_options.resource_version = list_rv;
  watch_options.allow_watch_bookmarks = true;
  watch_options.timeout_seconds = 30;
  absl::StatusOr<std::unique_ptr<WatchStream>> stream =
      lister_watcher.Watch(watch_options, decoder);
  ASSERT_TRUE(stream.ok()) << stream.status();
  ASSERT_TRUE(CreateConfigMap("after-list", "y").ok());
  bool seen = false;
  while (!seen) {
    absl::StatusOr<std::optional<WatchEvent>> event = (*stream)->Next();
    ASSERT_TRUE(event.ok()) << event.status();
    ASSERT_TRUE(event->has_value()) << "the watch ended before the new object arrived";
    seen = (*event)->type == WatchEventType::kAdded &&
           (*event)->object->key() == absl::StrCat(namespace_, "/after-list");
  }
  (*stream)->Stop();
}

// The fast decode path (informer/compact_json.h) on the API server's own watch bytes: every
// ADDED/MODIFIED/DELETED line of a raw watch takes it and decodes byte for byte as the DOM path
// does, strings that Go escapes (<, >, &, U+2028) and non-ASCII included, extracted field values
// too.
TEST_F(K8sE2ETest, RealWatchEventsTakeTheFastDecodePathAndMatchTheDomPath) {
  absl::StatusOr<std::string> list = admin_->Get(ConfigMapsPath());
  ASSERT_TRUE(list.ok()) << list.status();
  rapidjson::Document list_document;
  list_document.Parse(list->c_str());
  ASSERT_TRUE(list_document.IsObject());
  const std::string list_rv = k8s::StringMember(list_document["metadata"], "resourceVersion");
  const std::string tricky = R"(<a href=\"x?a=1&b=2\">\u00e9\u20ac\ud83d\ude00\u2028\u001b\t\"\\/)";
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(
        admin_
            ->Post(ConfigMapsPath(), absl::StrCat(R"({"metadata":{"name":"tricky-)", i,
                                                  R"(","labels":{"l":"v"},"annotations":{"a":")",
                                                  tricky, R"("}},"data":{"v":")", tricky, R"("}})"))
            .ok());
  }
  ASSERT_TRUE(UpdateConfigMap("tricky-0", "changed&<>").ok());
  ASSERT_TRUE(DeleteConfigMap("tricky-1").ok());
  absl::StatusOr<std::string> body = admin_->Get(
      ConfigMapsPath(), {{"watch", "true"}, {"resourceVersion", list_rv}, {"timeoutSeconds", "2"}});
  ASSERT_TRUE(body.ok()) << body.status();

  std::unique_ptr<k8s::Discovery> discovery = NewDiscovery();
  const ResourceInfo configmaps = *discovery->Resolve("configmaps");
  // Both extract field values (as for field indexes), the type meta it inserts included.
  const std::vector<std::string> paths = {"data.v", "metadata.annotations.a", "kind", "apiVersion"};
  ObjectDecoder fast(configmaps, DefaultTransforms(), paths);
  // The same transform behind a lambda: the fast path does not recognise it.
  ObjectDecoder dom(configmaps, {[](rapidjson::Value& v, rapidjson::Document::AllocatorType& a) {
                      return StripManagedFields(v, a);
                    }},
                    paths);
  int events = 0;
  for (absl::string_view line : absl::StrSplit(*body, '\n', absl::SkipEmpty())) {
    SCOPED_TRACE(line);
    CompactEventType type;
    ObjectPtr object;
    ASSERT_TRUE(fast.DecodeCompactEvent(line, &type, &object));
    std::string copy(line);
    rapidjson::Document event;
    event.Parse(copy.c_str());
    ASSERT_TRUE(event.IsObject());
    absl::StatusOr<ObjectPtr> expected = dom.Decode(event["object"], event.GetAllocator());
    ASSERT_TRUE(expected.ok()) << expected.status();
    EXPECT_EQ(object->json(), (*expected)->json());
    EXPECT_EQ(object->key(), (*expected)->key());
    EXPECT_EQ(object->meta().resource_version, (*expected)->meta().resource_version);
    EXPECT_EQ(object->meta().annotations, (*expected)->meta().annotations);
    for (const std::string& path : paths) {
      EXPECT_EQ(object->FieldValues(path), (*expected)->FieldValues(path)) << path;
    }
    EXPECT_THAT(object->FieldValues("data.v"), ::testing::ElementsAre(::testing::StartsWith("<a")));
    // Equal only when the fast path extracted the values too (and sized the JSON as the DOM
    // path does).
    EXPECT_EQ(object->ApproximateBytes(), (*expected)->ApproximateBytes());
    EXPECT_THAT(object->json(), ::testing::Not(HasSubstr("managedFields")));
    ++events;
  }
  EXPECT_EQ(events, 5);  // 3 ADDED, 1 MODIFIED, 1 DELETED
}

TEST_F(K8sE2ETest, R4_WatchFromACompactedVersionIsResourceExpired) {
  if (g_cluster->compact_command.empty()) {
    GTEST_SKIP() << "INFORMERD_TEST_CLUSTER_COMPACT is not set";
  }
  std::unique_ptr<k8s::Discovery> discovery = NewDiscovery();
  ResourceInfo configmaps = *discovery->Resolve("configmaps");
  k8s::RestListerWatcher lister_watcher(admin_, configmaps, namespace_);
  ObjectDecoder decoder(configmaps, DefaultTransforms());
  absl::StatusOr<ListPage> page = lister_watcher.List({}, decoder);
  ASSERT_TRUE(page.ok()) << page.status();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(CreateConfigMap(absl::StrCat("churn-", i), "x").ok());
  ASSERT_TRUE(CompactCluster(*g_cluster).ok());
  ListOptions options;
  options.resource_version = page->resource_version;
  options.timeout_seconds = 30;
  absl::StatusOr<std::unique_ptr<WatchStream>> stream = lister_watcher.Watch(options, decoder);
  // 410 either refuses the watch or arrives as an ERROR event (R6).
  if (!stream.ok()) {
    EXPECT_TRUE(IsResourceExpired(stream.status())) << stream.status();
    return;
  }
  while (true) {
    absl::StatusOr<std::optional<WatchEvent>> event = (*stream)->Next();
    ASSERT_TRUE(event.ok()) << event.status();
    ASSERT_TRUE(event->has_value()) << "the watch ended without a 410";
    if ((*event)->type != WatchEventType::kError) continue;
    EXPECT_TRUE(IsResourceExpired(ApiStatusToStatus((*event)->error)))
        << (*event)->error.code << " " << (*event)->error.message;
    break;
  }
}

TEST_F(K8sE2ETest, RestrictedUserIsRefusedSecretsWithPermissionDenied) {
  if (g_cluster->restricted_kubeconfig.empty()) {
    GTEST_SKIP() << "INFORMERD_TEST_KUBECONFIG_RESTRICTED is not set";
  }
  absl::StatusOr<std::shared_ptr<k8s::RestClient>> restricted =
      ClientForKubeconfig(g_cluster->restricted_kubeconfig);
  ASSERT_TRUE(restricted.ok()) << restricted.status();
  ResourceInfo secrets;
  secrets.gvr = {"", "v1", "secrets"};
  secrets.kind = "Secret";
  k8s::RestListerWatcher lister_watcher(*restricted, secrets, "");
  ObjectDecoder decoder(secrets, DefaultTransforms());
  absl::StatusOr<ListPage> page = lister_watcher.List({}, decoder);
  EXPECT_EQ(page.status().code(), absl::StatusCode::kPermissionDenied) << page.status();
  EXPECT_EQ(GetApiStatus(page.status())->reason, "Forbidden");
  absl::StatusOr<std::unique_ptr<WatchStream>> stream = lister_watcher.Watch({}, decoder);
  EXPECT_EQ(stream.status().code(), absl::StatusCode::kPermissionDenied) << stream.status();
}

// P1-P5, I1, R1-R3 end to end: informers of ConfigMaps, Namespaces and a CRD created during the
// test follow creates, updates and deletes until each cache equals the server's LIST.
TEST_F(K8sE2ETest, P1_I1_InformersOfBuiltinsAndANewCrdConvergeWithTheServer) {
  // The CRD, unique to this run, created before discovery knows it.
  const std::string plural = absl::StrCat("widgets", run_);
  const std::string kind = absl::StrCat("Widget", run_);
  const std::string crd_name = absl::StrCat(plural, ".", kCrdGroup);
  const std::string crd_path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
  ASSERT_TRUE(
      admin_
          ->Post(
              crd_path,
              absl::StrCat(
                  R"({"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",)",
                  R"("metadata":{"name":")", crd_name, R"("},"spec":{"group":")", kCrdGroup,
                  R"(","scope":"Namespaced","names":{"plural":")", plural, R"(","singular":")",
                  absl::StrCat("widget", run_), R"(","kind":")", kind,
                  R"("},"versions":[{"name":"v1","served":true,"storage":true,)",
                  R"("schema":{"openAPIV3Schema":{"type":"object",)",
                  R"("x-kubernetes-preserve-unknown-fields":true}}}]}})"))
          .ok());
  struct CrdCleanup {
    k8s::RestClient* admin;
    std::string path;
    ~CrdCleanup() { (void)admin->Delete(path); }
  } cleanup{admin_.get(), absl::StrCat(crd_path, "/", crd_name)};
  ASSERT_TRUE(WaitFor(absl::Seconds(30), [&] {
    absl::StatusOr<std::string> crd = admin_->Get(absl::StrCat(crd_path, "/", crd_name));
    if (!crd.ok()) return false;
    rapidjson::Document document;
    document.Parse(crd->c_str());
    if (!document.IsObject()) return false;
    auto status = document.FindMember("status");
    if (status == document.MemberEnd() || !status->value.IsObject()) return false;
    auto conditions = status->value.FindMember("conditions");
    if (conditions == status->value.MemberEnd() || !conditions->value.IsArray()) return false;
    for (const rapidjson::Value& condition : conditions->value.GetArray()) {
      if (k8s::StringMember(condition, "type") == "Established" &&
          k8s::StringMember(condition, "status") == "True") {
        return true;
      }
    }
    return false;
  })) << "the CRD never became Established";

  std::unique_ptr<k8s::Discovery> discovery = NewDiscovery();
  absl::StatusOr<ResourceInfo> widgets = discovery->ResolveOrRefresh(plural);
  // Discovery can trail Established by a moment.
  ASSERT_TRUE(WaitFor(absl::Seconds(30), [&] {
    widgets = discovery->ResolveOrRefresh(plural);
    return widgets.ok();
  })) << widgets.status();
  EXPECT_EQ(widgets->kind, kind);

  StartFactory();
  std::shared_ptr<SharedIndexInformer> configmap_informer = ConfigMapInformer(*discovery);
  InformerOverrides namespace_overrides;
  namespace_overrides.label_selector = absl::StrCat("informerd-e2e=", run_);
  absl::StatusOr<std::shared_ptr<SharedIndexInformer>> namespace_informer =
      factory_->InformerFor(*discovery->Resolve("namespaces"), namespace_overrides);
  ASSERT_TRUE(namespace_informer.ok()) << namespace_informer.status();
  InformerOverrides widget_overrides;
  widget_overrides.namespace_name = namespace_;
  absl::StatusOr<std::shared_ptr<SharedIndexInformer>> widget_informer =
      factory_->InformerFor(*widgets, widget_overrides);
  ASSERT_TRUE(widget_informer.ok()) << widget_informer.status();
  // P1: asking again gives the same informer.
  EXPECT_EQ(*factory_->InformerFor(*widgets, widget_overrides), *widget_informer);
  auto handler = std::make_shared<RecordingHandler>();
  ASSERT_TRUE(configmap_informer->AddEventHandler(handler).ok());
  StartAndSync();

  for (int i = 0; i < 10; ++i) ASSERT_TRUE(CreateConfigMap(absl::StrCat("cm-", i), "v0").ok());
  for (int i = 0; i < 10; i += 2) ASSERT_TRUE(UpdateConfigMap(absl::StrCat("cm-", i), "v1").ok());
  for (int i = 0; i < 10; i += 3) ASSERT_TRUE(DeleteConfigMap(absl::StrCat("cm-", i)).ok());
  const std::string widgets_path =
      absl::StrCat("/apis/", kCrdGroup, "/v1/namespaces/", namespace_, "/", plural);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(
        admin_
            ->Post(widgets_path,
                   absl::StrCat(R"({"apiVersion":")", kCrdGroup, R"(/v1","kind":")", kind,
                                R"(","metadata":{"name":"w)", i, R"("},"spec":{"size":)", i, "}}"))
            .ok());
  }
  ASSERT_TRUE(admin_->Delete(absl::StrCat(widgets_path, "/w1")).ok());
  const std::string other_namespace = absl::StrCat("e2e-", run_, "-other");
  ASSERT_TRUE(
      admin_
          ->Post("/api/v1/namespaces",
                 absl::StrCat(R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":")",
                              other_namespace, R"(","labels":{"informerd-e2e":")", run_, R"("}}})"))
          .ok());

  EXPECT_TRUE(Converges(*configmap_informer, *admin_, ConfigMapsPath()));
  EXPECT_TRUE(Converges(**widget_informer, *admin_, widgets_path));
  EXPECT_TRUE(Converges(**namespace_informer, *admin_,
                        absl::StrCat("/api/v1/namespaces?labelSelector=",
                                     k8s::UrlEscape(absl::StrCat("informerd-e2e=", run_)))));
  EXPECT_TRUE(handler->Added(absl::StrCat(namespace_, "/cm-1")));
  EXPECT_TRUE(handler->Deleted(absl::StrCat(namespace_, "/cm-3")));
  EXPECT_EQ((*widget_informer)->store().GetByKey(absl::StrCat(namespace_, "/w2"))->kind(), kind);
  (void)admin_->Delete(absl::StrCat("/api/v1/namespaces/", other_namespace));
}

// R4, R8: a watch that breaks mid-stream is resumed from the last RV, with no relist, and
// nothing that changed while it was down is lost.
TEST_F(K8sE2ETest, R8_R14_ALostWatchConnectionResumesWithoutLosingChanges) {
  std::unique_ptr<k8s::Discovery> discovery = NewDiscovery();
  StartFactory();
  std::shared_ptr<SharedIndexInformer> informer = ConfigMapInformer(*discovery);
  auto handler = std::make_shared<RecordingHandler>();
  ASSERT_TRUE(informer->AddEventHandler(handler).ok());
  ASSERT_TRUE(CreateConfigMap("keep", "v0").ok());
  ASSERT_TRUE(CreateConfigMap("doomed", "v0").ok());
  StartAndSync();
  ASSERT_TRUE(Converges(*informer, *admin_, ConfigMapsPath()));
  // A watch that breaks within a second of opening, before any event, backs off and relists
  // (R12); one that has delivered an event re-watches at once (R14).
  ASSERT_TRUE(CreateConfigMap("seen-by-the-watch", "v0").ok());
  ASSERT_TRUE(Converges(*informer, *admin_, ConfigMapsPath()));
  const InformerStats before = informer->stats();

  controlled_->PauseWatches();
  controlled_->BreakWatches();
  ASSERT_TRUE(WaitFor(absl::Seconds(30), [&] { return controlled_->waiting() > 0; }))
      << "the reflector did not try to watch again";
  ASSERT_TRUE(CreateConfigMap("born-while-down", "v0").ok());
  ASSERT_TRUE(UpdateConfigMap("keep", "v1").ok());
  ASSERT_TRUE(DeleteConfigMap("doomed").ok());
  controlled_->ResumeWatches();

  EXPECT_TRUE(Converges(*informer, *admin_, ConfigMapsPath()));
  EXPECT_TRUE(handler->Deleted(absl::StrCat(namespace_, "/doomed")));
  EXPECT_TRUE(handler->Added(absl::StrCat(namespace_, "/born-while-down")));
  const InformerStats after = informer->stats();
  EXPECT_EQ(after.relists, before.relists) << "a lost connection must not force a relist (R14)";
  EXPECT_GT(after.watches, before.watches);
}

// R4, R6, F3: after a compaction the watch from the old RV gets 410; the informer relists and
// the delete that happened meanwhile reaches the handler (as a tombstone).
TEST_F(K8sE2ETest, R4_R6_ExpiredWatchRelistsAndLosesNoDelete) {
  if (g_cluster->compact_command.empty()) {
    GTEST_SKIP() << "INFORMERD_TEST_CLUSTER_COMPACT is not set";
  }
  std::unique_ptr<k8s::Discovery> discovery = NewDiscovery();
  StartFactory();
  std::shared_ptr<SharedIndexInformer> informer = ConfigMapInformer(*discovery);
  auto handler = std::make_shared<RecordingHandler>();
  ASSERT_TRUE(informer->AddEventHandler(handler).ok());
  ASSERT_TRUE(CreateConfigMap("stays", "v0").ok());
  ASSERT_TRUE(CreateConfigMap("goes", "v0").ok());
  StartAndSync();
  ASSERT_TRUE(Converges(*informer, *admin_, ConfigMapsPath()));
  // A watch that breaks within a second of opening, before any event, backs off and relists
  // (R12); one that has delivered an event re-watches at once (R14).
  ASSERT_TRUE(CreateConfigMap("seen-by-the-watch", "v0").ok());
  ASSERT_TRUE(Converges(*informer, *admin_, ConfigMapsPath()));
  const InformerStats before = informer->stats();

  controlled_->PauseWatches();
  controlled_->BreakWatches();
  ASSERT_TRUE(WaitFor(absl::Seconds(30), [&] { return controlled_->waiting() > 0; }));
  ASSERT_TRUE(DeleteConfigMap("goes").ok());
  ASSERT_TRUE(CreateConfigMap("arrives", "v0").ok());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(UpdateConfigMap("stays", absl::StrCat("v", i + 1)).ok());
  ASSERT_TRUE(CompactCluster(*g_cluster).ok());
  controlled_->ResumeWatches();

  EXPECT_TRUE(Converges(*informer, *admin_, ConfigMapsPath()));
  EXPECT_TRUE(handler->Deleted(absl::StrCat(namespace_, "/goes")));
  EXPECT_GT(informer->stats().relists, before.relists) << "the 410 should have forced a relist";
}

}  // namespace
}  // namespace e2e
}  // namespace informer

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  std::optional<informer::e2e::TestCluster> cluster = informer::e2e::TestClusterFromEnv();
  if (!cluster.has_value()) {
    std::fprintf(stderr,
                 "k8s_e2e_test: SKIPPED: INFORMERD_TEST_KUBECONFIG is not set. Start a cluster "
                 "with scripts/cluster-up and set INFORMERD_TEST_KUBECONFIG to the KUBECONFIG path "
                 "it prints.\n");
    return 77;
  }
  informer::e2e::g_cluster = &*cluster;
  return RUN_ALL_TESTS();
}
