#include "server/on_demand.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "informer/clock.h"

namespace informer {
namespace server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

ResourceInfo Info(std::string group, std::string version, std::string resource, std::string kind,
                  std::string singular, std::vector<std::string> short_names = {}) {
  ResourceInfo info;
  info.gvr = {std::move(group), std::move(version), std::move(resource)};
  info.kind = std::move(kind);
  info.singular_name = std::move(singular);
  info.short_names = std::move(short_names);
  info.verbs = {"get", "list", "watch"};
  return info;
}

TEST(OnDemandPatternTest, AcceptsTheDocumentedFormsOnly) {
  for (const char* good :
       {"*", "configmaps", "deployments.apps", "*.example.com", "widgets.example.com"}) {
    EXPECT_TRUE(ValidateOnDemandPattern(good).ok()) << good;
  }
  for (const char* bad : {"", "*.", "config*", "deployments.*", "ConfigMaps", ".apps", "*s.apps"}) {
    absl::Status status = ValidateOnDemandPattern(bad);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(status.message(), HasSubstr("*.GROUP")) << bad;
  }
}

TEST(OnDemandPatternTest, MatchesByPluralAndGroupInAnyVersion) {
  const GroupVersionResource configmaps{"", "v1", "configmaps"};
  const GroupVersionResource deployments{"apps", "v1", "deployments"};
  const GroupVersionResource widgets{"example.com", "v2", "widgets"};
  EXPECT_TRUE(OnDemandPatternMatches("*", widgets));
  EXPECT_TRUE(OnDemandPatternMatches("configmaps", configmaps));
  EXPECT_FALSE(OnDemandPatternMatches("configmaps", {"other.io", "v1", "configmaps"}));
  EXPECT_TRUE(OnDemandPatternMatches("deployments.apps", deployments));
  EXPECT_FALSE(OnDemandPatternMatches("deployments", deployments));
  EXPECT_TRUE(OnDemandPatternMatches("*.example.com", widgets));
  EXPECT_FALSE(OnDemandPatternMatches("*.example.com", {"a.example.com", "v1", "widgets"}));
}

TEST(OnDemandPolicyTest, DenyWinsOverAllow) {
  OnDemandConfig config;
  config.enabled = true;
  config.allow = {"*"};
  config.deny = {"secrets", "*.example.com"};
  EXPECT_TRUE(CheckOnDemandPolicy(config, {"", "v1", "configmaps"}).ok());
  absl::Status secrets = CheckOnDemandPolicy(config, {"", "v1", "secrets"});
  EXPECT_EQ(secrets.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(secrets.message(), HasSubstr("on_demand_deny"));
  EXPECT_EQ(CheckOnDemandPolicy(config, {"example.com", "v1", "widgets"}).code(),
            absl::StatusCode::kNotFound);
  config.allow = {"deployments.apps"};
  config.deny = {};
  EXPECT_TRUE(CheckOnDemandPolicy(config, {"apps", "v1", "deployments"}).ok());
  absl::Status other = CheckOnDemandPolicy(config, {"", "v1", "configmaps"});
  EXPECT_EQ(other.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(other.message(), HasSubstr("on_demand_allow"));
}

// A server around the cache: discovery over a fixed set of served resources (resolved by the
// registry's kubectl rules, as k8s::Discovery resolves), starts and stops recorded.
class OnDemandCacheTest : public ::testing::Test {
 protected:
  OnDemandCacheTest() {
    for (ResourceInfo info : {
             Info("", "v1", "pods", "Pod", "pod", {"po"}),
             Info("", "v1", "configmaps", "ConfigMap", "configmap", {"cm"}),
             Info("", "v1", "secrets", "Secret", "secret"),
             Info("", "v1", "events", "Event", "event", {"ev"}),
             Info("events.k8s.io", "v1", "events", "Event", "event", {"ev"}),
             Info("example.com", "v1", "widgets", "Widget", "widget", {"wd"}),
         }) {
      EXPECT_TRUE(served_.Add(CachedResource{info, nullptr}).ok());
    }
    ResourceInfo bindings = Info("", "v1", "bindings", "Binding", "binding");
    bindings.verbs = {"create"};
    EXPECT_TRUE(served_.Add(CachedResource{bindings, nullptr}).ok());
    // Configured at start.
    EXPECT_TRUE(
        registry_.Add(CachedResource{Info("", "v1", "pods", "Pod", "pod", {"po"}), nullptr}).ok());
    config_.enabled = true;
    config_.deny = {"secrets"};
    config_.idle_timeout = absl::Minutes(10);
  }

  void Make() {
    OnDemandHooks hooks;
    hooks.discover = [this](absl::string_view name) -> absl::StatusOr<ResourceInfo> {
      discoveries_.fetch_add(1);
      absl::StatusOr<CachedResource> found = served_.Resolve(name);
      if (!found.ok()) return found.status();
      return found->info;
    };
    hooks.start = [this](const ResourceInfo& info) -> absl::StatusOr<CachedResource> {
      starts_.fetch_add(1);
      // Widen the window in which racing first reads could start it twice.
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      CachedResource resource{info, nullptr, Projection::kFull,
                              start_as_configured_ ? StartedBy::kConfig : StartedBy::kOnDemand};
      if (absl::Status s = registry_.Add(resource); !s.ok()) return s;
      return resource;
    };
    hooks.detach = [this](const CachedResource& resource) {
      // The cache unregistered it first.
      EXPECT_FALSE(registry_.Find(resource.info.gvr).ok());
      detaches_.push_back(resource.info.gvr.ToString());
    };
    hooks.stop = [this](const CachedResource& resource) {
      stops_.push_back(resource.info.gvr.ToString());
    };
    hooks.subscribers = [this](const GroupVersionResource&) -> int64_t { return subscribers_; };
    cache_ = std::make_unique<OnDemandCache>(config_, &registry_, std::move(hooks));
  }

  ResourceRegistry served_;
  ResourceRegistry registry_;
  OnDemandConfig config_;
  std::atomic<int> starts_{0};
  std::atomic<int> discoveries_{0};
  std::vector<std::string> detaches_;
  std::vector<std::string> stops_;
  int64_t subscribers_ = 0;
  bool start_as_configured_ = false;
  std::unique_ptr<OnDemandCache> cache_;
  const absl::Time t0_ = absl::FromUnixSeconds(1000);
};

TEST_F(OnDemandCacheTest, ConfiguredResourceIsServedWithoutDiscoveryOrStart) {
  Make();
  bool started = true;
  absl::StatusOr<CachedResource> pods = cache_->Acquire("po", t0_, &started);
  ASSERT_TRUE(pods.ok()) << pods.status();
  EXPECT_EQ(pods->info.gvr.ToString(), "pods.v1");
  EXPECT_FALSE(started);
  EXPECT_EQ(discoveries_.load(), 0);
  EXPECT_EQ(starts_.load(), 0);
}

TEST_F(OnDemandCacheTest, FindChecksWithoutStarting) {
  Make();
  absl::StatusOr<ResourceInfo> info = cache_->Find("cm");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->gvr.ToString(), "configmaps.v1");
  EXPECT_EQ(starts_.load(), 0);
  EXPECT_FALSE(registry_.Find(info->gvr).ok());
}

TEST_F(OnDemandCacheTest, UncachedNameResolvesByKubectlRulesOverEveryServedResource) {
  Make();
  // Singular, short name and kind resolve as for cached resources; the core group wins.
  for (const char* name : {"configmap", "cm", "ConfigMap", "configmaps.v1"}) {
    absl::StatusOr<ResourceInfo> info = cache_->Find(name);
    ASSERT_TRUE(info.ok()) << name << ": " << info.status();
    EXPECT_EQ(info->gvr.ToString(), "configmaps.v1") << name;
  }
  absl::StatusOr<ResourceInfo> events = cache_->Find("events");
  ASSERT_TRUE(events.ok()) << events.status();
  EXPECT_EQ(events->gvr.ToString(), "events.v1");
  absl::StatusOr<ResourceInfo> qualified = cache_->Find("events.events.k8s.io");
  ASSERT_TRUE(qualified.ok()) << qualified.status();
  EXPECT_EQ(qualified->gvr.ToString(), "events.v1.events.k8s.io");
}

TEST_F(OnDemandCacheTest, FirstAcquireStartsAndLaterOnesShareIt) {
  Make();
  bool started = false;
  absl::StatusOr<CachedResource> first = cache_->Acquire("widgets", t0_, &started);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(started);
  EXPECT_EQ(first->started_by, StartedBy::kOnDemand);
  absl::StatusOr<CachedResource> second = cache_->Acquire("wd", t0_, &started);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(started);
  EXPECT_EQ(second->info.gvr, first->info.gvr);
  EXPECT_EQ(starts_.load(), 1);
}

TEST_F(OnDemandCacheTest, ConcurrentFirstAcquiresStartOnce) {
  Make();
  constexpr int kCallers = 32;
  absl::Notification go;
  std::atomic<int> ok{0};
  std::atomic<int> started_count{0};
  std::vector<std::thread> callers;
  for (int i = 0; i < kCallers; ++i) {
    callers.emplace_back([&, i] {
      go.WaitForNotification();
      bool started = false;
      // Different names of the one resource.
      absl::StatusOr<CachedResource> resource =
          cache_->Acquire(i % 2 == 0 ? "configmaps" : "cm", t0_, &started);
      if (resource.ok() && resource->info.gvr.ToString() == "configmaps.v1") ok.fetch_add(1);
      if (started) started_count.fetch_add(1);
    });
  }
  go.Notify();
  for (std::thread& caller : callers) caller.join();
  EXPECT_EQ(ok.load(), kCallers);
  EXPECT_EQ(started_count.load(), 1);
  EXPECT_EQ(starts_.load(), 1);
}

TEST_F(OnDemandCacheTest, DeniedResourceIsRefusedWithoutStarting) {
  Make();
  absl::StatusOr<CachedResource> secrets = cache_->Acquire("secrets", t0_);
  EXPECT_EQ(secrets.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(secrets.status().message(), HasSubstr("on_demand_deny"));
  EXPECT_EQ(cache_->Find("secret").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(starts_.load(), 0);
}

TEST_F(OnDemandCacheTest, UnknownAndUnwatchableResourcesAreRefused) {
  Make();
  absl::StatusOr<CachedResource> unknown = cache_->Acquire("gadgets", t0_);
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(unknown.status().message(), HasSubstr("nor served by the API server"));
  absl::StatusOr<CachedResource> bindings = cache_->Acquire("bindings", t0_);
  EXPECT_EQ(bindings.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bindings.status().message(), HasSubstr("list and watch"));
  EXPECT_EQ(starts_.load(), 0);
}

TEST_F(OnDemandCacheTest, DisabledKeepsTheRegistrysAnswer) {
  config_.enabled = false;
  Make();
  absl::StatusOr<CachedResource> configmaps = cache_->Acquire("configmaps", t0_);
  EXPECT_EQ(configmaps.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(configmaps.status().message(), HasSubstr("not cached by this informerd"));
  EXPECT_EQ(discoveries_.load(), 0);
  EXPECT_EQ(starts_.load(), 0);
}

TEST_F(OnDemandCacheTest, IdleResourceStopsAndStartsAgainOnTheNextRead) {
  Make();
  ASSERT_TRUE(cache_->Acquire("configmaps", t0_).ok());
  // Read again at t0 + 5m: idle only from then on.
  ASSERT_TRUE(cache_->Acquire("cm", t0_ + absl::Minutes(5)).ok());
  EXPECT_THAT(cache_->StopIdle(t0_ + absl::Minutes(14)), IsEmpty());
  std::vector<GroupVersionResource> stopped = cache_->StopIdle(t0_ + absl::Minutes(15));
  ASSERT_EQ(stopped.size(), 1u);
  EXPECT_EQ(stopped[0].ToString(), "configmaps.v1");
  EXPECT_THAT(detaches_, ElementsAre("configmaps.v1"));
  EXPECT_THAT(stops_, ElementsAre("configmaps.v1"));
  EXPECT_FALSE(registry_.Find(stopped[0]).ok());
  bool started = false;
  ASSERT_TRUE(cache_->Acquire("configmaps", t0_ + absl::Minutes(16), &started).ok());
  EXPECT_TRUE(started);
  EXPECT_EQ(starts_.load(), 2);
}

TEST_F(OnDemandCacheTest, AReadWaitingForTheSyncKeepsTheResourceFromIdlingOut) {
  Make();
  const absl::Time start = MonotonicNow();
  absl::StatusOr<CachedResource> resource = cache_->Acquire("configmaps", start);
  ASSERT_TRUE(resource.ok());
  // Its call waits for a long initial sync.
  std::shared_ptr<void> hold = cache_->HoldWhileReading(resource->info.gvr);
  EXPECT_THAT(cache_->StopIdle(start + absl::Hours(1)), IsEmpty());
  hold.reset();  // answered: read now
  const absl::Time answered = MonotonicNow();
  EXPECT_THAT(cache_->StopIdle(answered + absl::Minutes(9)), IsEmpty());
  EXPECT_EQ(cache_->StopIdle(answered + absl::Minutes(10)).size(), 1u);
}

TEST_F(OnDemandCacheTest, ResourceWithSubscribersNeverIdlesOut) {
  Make();
  ASSERT_TRUE(cache_->Acquire("configmaps", t0_).ok());
  subscribers_ = 1;
  EXPECT_THAT(cache_->StopIdle(t0_ + absl::Hours(1)), IsEmpty());
  // The subscriber leaves: idle counts from the last look that saw it.
  subscribers_ = 0;
  EXPECT_THAT(cache_->StopIdle(t0_ + absl::Hours(1) + absl::Minutes(9)), IsEmpty());
  EXPECT_EQ(cache_->StopIdle(t0_ + absl::Hours(1) + absl::Minutes(10)).size(), 1u);
}

TEST_F(OnDemandCacheTest, AConfiguredResourceTheStartHookStartsAsConfiguredNeverIdlesOut) {
  Make();
  start_as_configured_ = true;  // e.g. a configured CRD installed after start
  ASSERT_TRUE(cache_->Acquire("widgets", t0_).ok());
  EXPECT_THAT(cache_->StopIdle(t0_ + absl::Hours(24)), IsEmpty());
  EXPECT_TRUE(registry_.Find({"example.com", "v1", "widgets"}).ok());
}

TEST_F(OnDemandCacheTest, ConfiguredResourceNeverIdlesOut) {
  Make();
  ASSERT_TRUE(cache_->Acquire("pods", t0_).ok());
  EXPECT_THAT(cache_->StopIdle(t0_ + absl::Hours(24)), IsEmpty());
  EXPECT_TRUE(registry_.Find({"", "v1", "pods"}).ok());
  EXPECT_THAT(stops_, IsEmpty());
}

}  // namespace
}  // namespace server
}  // namespace informer
