#include "informer/k8s/discovery.h"

#include <atomic>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "informer/k8s/testing/test_server.h"

namespace informer {
namespace k8s {
namespace {

using ::informer::k8s::testing::ReadTestdata;
using ::informer::k8s::testing::TestConnection;
using ::informer::k8s::testing::TestRequest;
using ::informer::k8s::testing::TestServer;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kAggregatedType[] =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

// Serves the discovery fixtures: aggregated (when asked for and `aggregated`) or legacy.
class FakeApiServer {
 public:
  explicit FakeApiServer(bool aggregated) : aggregated_(aggregated) {
    absl::StatusOr<std::unique_ptr<TestServer>> server =
        TestServer::Start([this](const TestRequest& request, TestConnection* connection) {
          Serve(request, connection);
        });
    EXPECT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  std::shared_ptr<RestClient> Client() {
    RestConfig config;
    config.server = server_->url();
    absl::StatusOr<std::shared_ptr<RestClient>> client = RestClient::Create(config);
    EXPECT_TRUE(client.ok()) << client.status();
    return *client;
  }

  std::atomic<bool> crd_added{false};
  std::atomic<bool> apis_broken{false};
  TestServer& server() { return *server_; }

 private:
  void Serve(const TestRequest& request, TestConnection* connection) {
    if (request.path == "/apis" && apis_broken.load()) {
      connection->Respond(503, R"({"kind":"Status","code":503,"reason":"ServiceUnavailable"})");
      return;
    }
    const bool wants_aggregated =
        absl::StrContains(request.Header("accept"), "as=APIGroupDiscoveryList");
    if (aggregated_ && wants_aggregated && (request.path == "/api" || request.path == "/apis")) {
      const char* file = request.path == "/api" ? "discovery/aggregated-api.json"
                         : crd_added.load()     ? "discovery/aggregated-apis-with-crd.json"
                                                : "discovery/aggregated-apis.json";
      connection->Respond(200, ReadTestdata(file), kAggregatedType);
      return;
    }
    if (request.path == "/api") {
      connection->Respond(200, ReadTestdata("discovery/legacy-api.json"));
    } else if (request.path == "/apis") {
      connection->Respond(200, ReadTestdata("discovery/legacy-apis.json"));
    } else if (request.path == "/api/v1") {
      connection->Respond(200, ReadTestdata("discovery/legacy-api-v1.json"));
    } else if (absl::StartsWith(request.path, "/apis/") &&
               request.path != "/apis/metrics.k8s.io/v1beta1") {
      std::string name = absl::StrReplaceAll(request.path.substr(6), {{"/", "-"}});
      connection->Respond(200, ReadTestdata(absl::StrCat("discovery/legacy-apis-", name, ".json")));
    } else {
      connection->Respond(503,
                          R"({"kind":"Status","code":503,"reason":"ServiceUnavailable",)"
                          R"("message":"the server is currently unable to handle the request"})");
    }
  }

  const bool aggregated_;
  std::unique_ptr<TestServer> server_;
};

std::vector<std::string> Names(const std::vector<ResourceInfo>& resources) {
  std::vector<std::string> names;
  for (const ResourceInfo& info : resources) names.push_back(info.gvr.ToString());
  return names;
}

// Both discovery flavours must give the same answers.
class DiscoveryTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    server_ = std::make_unique<FakeApiServer>(GetParam());
    discovery_ = std::make_unique<Discovery>(server_->Client());
    ASSERT_TRUE(discovery_->Refresh().ok());
  }

  ResourceInfo MustResolve(absl::string_view name) {
    absl::StatusOr<ResourceInfo> info = discovery_->Resolve(name);
    EXPECT_TRUE(info.ok()) << name << ": " << info.status();
    return info.ok() ? *info : ResourceInfo{};
  }

  std::unique_ptr<FakeApiServer> server_;
  std::unique_ptr<Discovery> discovery_;
};

INSTANTIATE_TEST_SUITE_P(Flavours, DiscoveryTest, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Aggregated" : "Legacy";
                         });

TEST_P(DiscoveryTest, UsesAggregatedDiscoveryOnlyWhenServed) {
  EXPECT_EQ(discovery_->aggregated(), GetParam());
  // Aggregated: two requests in all; legacy: one per group-version as well.
  if (GetParam()) {
    EXPECT_EQ(server_->server().requests().size(), 2u);
  } else {
    EXPECT_GT(server_->server().requests().size(), 2u);
  }
}

TEST_P(DiscoveryTest, ResourcesCarryKindScopeVerbsShortAndSingularNames) {
  absl::StatusOr<ResourceInfo> pods = discovery_->Find({"", "v1", "pods"});
  ASSERT_TRUE(pods.ok()) << pods.status();
  EXPECT_EQ(pods->kind, "Pod");
  EXPECT_TRUE(pods->namespaced);
  EXPECT_THAT(pods->short_names, ElementsAre("po"));
  EXPECT_EQ(pods->singular_name, "pod");
  EXPECT_TRUE(pods->SupportsListWatch());

  absl::StatusOr<ResourceInfo> namespaces = discovery_->Find({"", "v1", "namespaces"});
  ASSERT_TRUE(namespaces.ok());
  EXPECT_FALSE(namespaces->namespaced);

  absl::StatusOr<ResourceInfo> bindings = discovery_->Find({"", "v1", "bindings"});
  ASSERT_TRUE(bindings.ok());
  EXPECT_FALSE(bindings->SupportsListWatch());

  EXPECT_EQ(discovery_->Find({"apps", "v2", "deployments"}).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(DiscoveryTest, SubresourcesAreLeftOut) {
  std::vector<std::string> names = Names(discovery_->Resources());
  EXPECT_THAT(names, Contains("pods.v1"));
  for (const std::string& name : names) EXPECT_THAT(name, Not(HasSubstr("/"))) << name;
}

TEST_P(DiscoveryTest, GroupsListCoreFirstWithPreferredVersions) {
  std::vector<ApiGroupInfo> groups = discovery_->Groups();
  ASSERT_FALSE(groups.empty());
  EXPECT_EQ(groups[0].name, "");
  EXPECT_EQ(groups[0].preferred_version, "v1");
  bool found = false;
  for (const ApiGroupInfo& group : groups) {
    if (group.name != "b.example.com") continue;
    found = true;
    EXPECT_THAT(group.versions, ElementsAre("v1", "v1beta1"));
    EXPECT_EQ(group.preferred_version, "v1");
  }
  EXPECT_TRUE(found);
}

TEST_P(DiscoveryTest, PreferredResourcesPickThePreferredVersionElseTheNextServingOne) {
  std::vector<std::string> names = Names(discovery_->PreferredResources());
  EXPECT_THAT(names, Contains("widgets.v1.b.example.com"));
  EXPECT_THAT(names, Not(Contains("widgets.v1beta1.b.example.com")));
  EXPECT_THAT(names, Contains("gadgets.v1beta1.b.example.com"));  // only served there
  EXPECT_THAT(names, Contains("deployments.v1.apps"));
}

TEST_P(DiscoveryTest, UnreachableGroupVersionIsSkippedAndReported) {
  EXPECT_THAT(discovery_->FailedGroupVersions(), ElementsAre("metrics.k8s.io/v1beta1"));
  EXPECT_TRUE(discovery_->Resolve("deployments").ok());
}

TEST_P(DiscoveryTest, ResolvesKubectlStyleNames) {
  const GroupVersionResource pods{"", "v1", "pods"};
  EXPECT_EQ(MustResolve("pods").gvr, pods);
  EXPECT_EQ(MustResolve("pod").gvr, pods);
  EXPECT_EQ(MustResolve("po").gvr, pods);
  EXPECT_EQ(MustResolve("Pod").gvr, pods);
  EXPECT_EQ(MustResolve(" PODS ").gvr, pods);
  EXPECT_EQ(MustResolve("pods.v1").gvr, pods);
  const GroupVersionResource deployments{"apps", "v1", "deployments"};
  EXPECT_EQ(MustResolve("deployments").gvr, deployments);
  EXPECT_EQ(MustResolve("deploy").gvr, deployments);
  EXPECT_EQ(MustResolve("Deployment").gvr, deployments);
  EXPECT_EQ(MustResolve("deployments.apps").gvr, deployments);
  EXPECT_EQ(MustResolve("deployments.v1.apps").gvr, deployments);
  EXPECT_EQ(MustResolve("deploy.apps").gvr, deployments);
  EXPECT_EQ(MustResolve("ns").gvr, (GroupVersionResource{"", "v1", "namespaces"}));
  EXPECT_EQ(MustResolve("crds").gvr,
            (GroupVersionResource{"apiextensions.k8s.io", "v1", "customresourcedefinitions"}));
}

TEST_P(DiscoveryTest, ResolvesToThePreferredVersionUnlessOneIsGiven) {
  EXPECT_EQ(MustResolve("widgets.b.example.com").gvr.version, "v1");
  EXPECT_EQ(MustResolve("widgets.v1beta1.b.example.com").gvr.version, "v1beta1");
  EXPECT_EQ(MustResolve("gadgets").gvr.version, "v1beta1");
  EXPECT_EQ(MustResolve("wg").gvr.group, "b.example.com");  // short name only there
}

TEST_P(DiscoveryTest, CoreGroupWinsWhenAnotherGroupHasTheSameName) {
  EXPECT_EQ(MustResolve("events").gvr, (GroupVersionResource{"", "v1", "events"}));
  EXPECT_EQ(MustResolve("ev").gvr.group, "");
  EXPECT_EQ(MustResolve("events.events.k8s.io").gvr.group, "events.k8s.io");
}

TEST_P(DiscoveryTest, AmbiguousNameIsInvalidArgumentListingTheChoices) {
  absl::StatusOr<ResourceInfo> info = discovery_->Resolve("widgets");
  EXPECT_EQ(info.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(info.status().message()), HasSubstr("widgets.a.example.com"));
  EXPECT_THAT(std::string(info.status().message()), HasSubstr("widgets.b.example.com"));
  EXPECT_EQ(MustResolve("widgets.a.example.com").gvr.group, "a.example.com");
}

TEST_P(DiscoveryTest, UnknownNameIsNotFoundWithAHint) {
  absl::StatusOr<ResourceInfo> info = discovery_->Resolve("deploymentz");
  EXPECT_EQ(info.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(info.status().message()), HasSubstr("api-resources"));

  info = discovery_->Resolve("deploy");  // resolves: a short name
  EXPECT_TRUE(info.ok());
  info = discovery_->Resolve("config");
  EXPECT_EQ(info.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(info.status().message()), HasSubstr("did you mean configmaps"));

  info = discovery_->Resolve("deployments.nosuch.group");
  EXPECT_EQ(info.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(info.status().message()), HasSubstr("no API group \"nosuch.group\""));

  EXPECT_EQ(discovery_->Resolve("").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(DiscoveryRefreshTest, ResolveOrRefreshFindsACrdCreatedAfterStart) {
  FakeApiServer server(/*aggregated=*/true);
  Discovery discovery(server.Client(), /*min_refresh_interval=*/absl::ZeroDuration());
  ASSERT_TRUE(discovery.Refresh().ok());
  EXPECT_EQ(discovery.Resolve("crontabs").status().code(), absl::StatusCode::kNotFound);
  server.crd_added = true;
  EXPECT_EQ(discovery.Resolve("crontabs").status().code(), absl::StatusCode::kNotFound);
  absl::StatusOr<ResourceInfo> info = discovery.ResolveOrRefresh("ct");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->gvr, (GroupVersionResource{"stable.example.com", "v1", "crontabs"}));
  EXPECT_EQ(info->kind, "CronTab");
  EXPECT_TRUE(discovery.Resolve("crontabs").ok());
}

TEST(DiscoveryRefreshTest, UnknownNamesRefreshAtMostOncePerInterval) {
  FakeApiServer server(/*aggregated=*/true);
  Discovery discovery(server.Client(), absl::Hours(1));
  ASSERT_TRUE(discovery.Refresh().ok());
  const size_t requests = server.server().requests().size();
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(discovery.ResolveOrRefresh("typo").status().code(), absl::StatusCode::kNotFound);
  }
  EXPECT_EQ(server.server().requests().size(), requests);
}

TEST(DiscoveryRefreshTest, FailedRefreshKeepsThePreviousView) {
  FakeApiServer server(/*aggregated=*/true);
  Discovery discovery(server.Client());
  EXPECT_TRUE(discovery.Resources().empty());
  ASSERT_TRUE(discovery.Refresh().ok());
  server.apis_broken = true;
  EXPECT_EQ(discovery.Refresh().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(discovery.Resolve("deployments").ok());
}

}  // namespace
}  // namespace k8s
}  // namespace informer
