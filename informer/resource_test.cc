#include "informer/resource.h"

#include "gtest/gtest.h"

namespace informer {
namespace {

TEST(GroupVersionResourceTest, ToStringUsesKubectlFullyQualifiedForm) {
  EXPECT_EQ((GroupVersionResource{"apps", "v1", "deployments"}).ToString(), "deployments.v1.apps");
  EXPECT_EQ((GroupVersionResource{"", "v1", "configmaps"}).ToString(), "configmaps.v1");
}

TEST(GroupVersionResourceTest, ApiVersionOmitsTheCoreGroup) {
  EXPECT_EQ((GroupVersionResource{"apps", "v1", "deployments"}).ApiVersion(), "apps/v1");
  EXPECT_EQ((GroupVersionResource{"", "v1", "pods"}).ApiVersion(), "v1");
}

TEST(ResourceInfoTest, SupportsListWatchNeedsBothVerbs) {
  ResourceInfo info;
  info.verbs = {"get", "list"};
  EXPECT_FALSE(info.SupportsListWatch());
  info.verbs.push_back("watch");
  EXPECT_TRUE(info.SupportsListWatch());
}

}  // namespace
}  // namespace informer
