#include "server/resource_registry.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace informer {
namespace server {
namespace {

using ::testing::HasSubstr;

ResourceInfo Info(std::string group, std::string version, std::string resource, std::string kind,
                  std::string singular, std::vector<std::string> short_names = {}) {
  ResourceInfo info;
  info.gvr = {std::move(group), std::move(version), std::move(resource)};
  info.kind = std::move(kind);
  info.singular_name = std::move(singular);
  info.short_names = std::move(short_names);
  return info;
}

class ResourceRegistryTest : public ::testing::Test {
 protected:
  ResourceRegistryTest() {
    for (ResourceInfo info : {
             Info("", "v1", "pods", "Pod", "pod", {"po"}),
             Info("apps", "v1", "deployments", "Deployment", "deployment", {"deploy"}),
             Info("", "v1", "events", "Event", "event", {"ev"}),
             Info("events.k8s.io", "v1", "events", "Event", "event", {"ev"}),
             Info("example.com", "v1", "widgets", "Widget", "widget"),
             Info("example.com", "v2", "widgets", "Widget", "widget"),
             Info("a.example.com", "v1", "things", "Thing", "thing"),
             Info("b.example.com", "v1", "things", "Thing", "thing"),
         }) {
      EXPECT_TRUE(registry_.Add(CachedResource{info, nullptr}).ok());
    }
  }

  std::string Resolve(const std::string& name) {
    absl::StatusOr<CachedResource> resolved = registry_.Resolve(name);
    if (!resolved.ok()) return std::string(absl::StatusCodeToString(resolved.status().code()));
    return resolved->info.gvr.ToString();
  }

  ResourceRegistry registry_;
};

TEST_F(ResourceRegistryTest, ResolvesPluralSingularShortNameAndKindCaseInsensitively) {
  EXPECT_EQ(Resolve("pods"), "pods.v1");
  EXPECT_EQ(Resolve("pod"), "pods.v1");
  EXPECT_EQ(Resolve("po"), "pods.v1");
  EXPECT_EQ(Resolve("Pod"), "pods.v1");
  EXPECT_EQ(Resolve("DEPLOY"), "deployments.v1.apps");
}

TEST_F(ResourceRegistryTest, ResolvesGroupAndVersionQualifiedNames) {
  EXPECT_EQ(Resolve("deployments.apps"), "deployments.v1.apps");
  EXPECT_EQ(Resolve("deployments.v1.apps"), "deployments.v1.apps");
  EXPECT_EQ(Resolve("pods.v1"), "pods.v1");
  EXPECT_EQ(Resolve("widgets.v2.example.com"), "widgets.v2.example.com");
  EXPECT_EQ(Resolve("things.a.example.com"), "things.v1.a.example.com");
}

TEST_F(ResourceRegistryTest, CoreGroupWinsOverOthersAsForKubectl) {
  EXPECT_EQ(Resolve("events"), "events.v1");
  EXPECT_EQ(Resolve("events.events.k8s.io"), "events.v1.events.k8s.io");
}

TEST_F(ResourceRegistryTest, AmbiguousNameIsInvalidArgumentListingTheChoices) {
  absl::StatusOr<CachedResource> things = registry_.Resolve("things");
  EXPECT_EQ(things.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(things.status().message(), HasSubstr("things.v1.a.example.com"));
  EXPECT_THAT(things.status().message(), HasSubstr("things.v1.b.example.com"));
  // Two cached versions of one group need the version.
  absl::StatusOr<CachedResource> widgets = registry_.Resolve("widgets.example.com");
  EXPECT_EQ(widgets.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(widgets.status().message(), HasSubstr("ambiguous"));
}

TEST_F(ResourceRegistryTest, UncachedResourceIsNotFoundListingWhatIsCached) {
  absl::StatusOr<CachedResource> resolved = registry_.Resolve("secrets");
  EXPECT_EQ(resolved.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(resolved.status().message(), HasSubstr("not cached"));
  EXPECT_THAT(resolved.status().message(), HasSubstr("deployments.v1.apps"));
  EXPECT_EQ(Resolve("deployments.batch"), "NOT_FOUND");
  EXPECT_EQ(Resolve(""), "INVALID_ARGUMENT");
}

TEST_F(ResourceRegistryTest, AddingTheSameResourceTwiceIsAlreadyExists) {
  EXPECT_EQ(registry_.Add(CachedResource{Info("", "v1", "pods", "Pod", "pod"), nullptr}).code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_F(ResourceRegistryTest, AllIsSortedByGroupVersionResource) {
  std::vector<CachedResource> all = registry_.All();
  ASSERT_EQ(all.size(), 8u);
  EXPECT_EQ(all.front().info.gvr.ToString(), "events.v1");
  for (size_t i = 1; i < all.size(); ++i) EXPECT_TRUE(all[i - 1].info.gvr < all[i].info.gvr);
}

}  // namespace
}  // namespace server
}  // namespace informer
