#include "server/field_mask.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "informer/testing/objects.h"

namespace informer {
namespace server {
namespace {

using ::informer::testing::MustParseObject;
using ::testing::HasSubstr;

constexpr char kPod[] =
    R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"ns","uid":"u1",)"
    R"("resourceVersion":"7","generation":3,"labels":{"app":"web","app.kubernetes.io/name":"w"},)"
    R"("annotations":{"note":"x"}},"spec":{"nodeName":"n1","containers":[{"name":"c","image":"i",)"
    R"("ports":[{"containerPort":80}]},{"name":"d"}],"priority":1.5},)"
    R"("status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}})";

std::shared_ptr<const FieldMask> MustMask(std::vector<std::string> paths) {
  absl::StatusOr<std::shared_ptr<const FieldMask>> mask = FieldMask::Parse(paths);
  EXPECT_TRUE(mask.ok()) << mask.status();
  return mask.ok() ? *mask : nullptr;
}

std::string Masked(std::vector<std::string> paths, const std::string& json = kPod) {
  std::shared_ptr<const FieldMask> mask = MustMask(std::move(paths));
  if (mask == nullptr) return "";
  absl::StatusOr<MaskedObjectPtr> masked = mask->Apply(*MustParseObject(json));
  EXPECT_TRUE(masked.ok()) << masked.status();
  return masked.ok() ? (*masked)->object->json() : "";
}

constexpr char kIdentity[] =
    R"("apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"ns","uid":"u1",)"
    R"("resourceVersion":"7")";

TEST(FieldMaskTest, NoPathsIsNoMask) {
  absl::StatusOr<std::shared_ptr<const FieldMask>> mask = FieldMask::Parse({});
  ASSERT_TRUE(mask.ok());
  EXPECT_EQ(*mask, nullptr);
}

TEST(FieldMaskTest, AFieldKeepsItAndTheIdentityOnly) {
  EXPECT_EQ(Masked({"spec.nodeName"}),
            absl::StrCat("{", kIdentity, R"(},"spec":{"nodeName":"n1"}})"));
}

TEST(FieldMaskTest, MetadataKeepsAllOfItAndNothingElse) {
  EXPECT_EQ(Masked({"metadata"}),
            R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"ns",)"
            R"("uid":"u1","resourceVersion":"7","generation":3,"labels":{"app":"web",)"
            R"("app.kubernetes.io/name":"w"},"annotations":{"note":"x"}}})");
}

TEST(FieldMaskTest, LabelsAndALabelKeyWithDots) {
  EXPECT_EQ(
      Masked({"metadata.labels"}),
      absl::StrCat("{", kIdentity, R"(,"labels":{"app":"web","app.kubernetes.io/name":"w"}}})"));
  EXPECT_EQ(Masked({"metadata.labels.app.kubernetes.io/name"}),
            absl::StrCat("{", kIdentity, R"(,"labels":{"app.kubernetes.io/name":"w"}}})"));
}

TEST(FieldMaskTest, AWholeArrayAndAFieldOfEachElement) {
  EXPECT_EQ(Masked({"status.conditions"}),
            absl::StrCat("{", kIdentity,
                         R"(},"status":{"conditions":[{"type":"Ready","status":"True"}]}})"));
  // Elements keep their order; one without the field is {}.
  EXPECT_EQ(Masked({"spec.containers.image"}),
            absl::StrCat("{", kIdentity, R"(},"spec":{"containers":[{"image":"i"},{}]}})"));
}

TEST(FieldMaskTest, AShorterPathWinsAndRepeatsAreOne) {
  EXPECT_EQ(Masked({"spec.nodeName", "spec", "spec.nodeName"}), Masked({"spec"}));
  EXPECT_EQ(MustMask({"spec.nodeName", "spec", "spec.nodeName"})->key(), "spec,spec.nodeName");
}

TEST(FieldMaskTest, NumbersAreKeptExactly) {
  EXPECT_EQ(Masked({"spec.priority"}),
            absl::StrCat("{", kIdentity, R"(},"spec":{"priority":1.5}})"));
}

TEST(FieldMaskTest, APathNamingNothingSelectsNothingAndLeavesNoEmptyParent) {
  EXPECT_EQ(Masked({"spec.schedulerName", "status.phase.x"}), absl::StrCat("{", kIdentity, "}}"));
}

TEST(FieldMaskTest, ContentIgnoresOnlyTheResourceVersion) {
  std::shared_ptr<const FieldMask> mask = MustMask({"metadata.labels"});
  ObjectPtr v1 = testing::MakeObject("ns", "a", "1", {{"app", "web"}}, R"("spec":{"n":1})");
  ObjectPtr v2 = testing::MakeObject("ns", "a", "2", {{"app", "web"}}, R"("spec":{"n":2})");
  ObjectPtr v3 = testing::MakeObject("ns", "a", "3", {{"app", "db"}}, R"("spec":{"n":2})");
  MaskedObjectPtr m1 = *mask->Apply(*v1, true);
  MaskedObjectPtr m2 = *mask->Apply(*v2, true);
  MaskedObjectPtr m3 = *mask->Apply(*v3, true);
  EXPECT_EQ(m1->content, m2->content);
  EXPECT_NE(m2->content, m3->content);
  // The object itself keeps its version.
  EXPECT_EQ(m2->object->meta().resource_version, "2");
  EXPECT_THAT(m2->object->json(), HasSubstr(R"("resourceVersion":"2")"));
  // Without content asked for, none is made.
  EXPECT_EQ((*mask->Apply(*v1))->content, "");
}

TEST(FieldMaskTest, BadPathsAreInvalidArgumentNamingThePath) {
  struct Case {
    std::vector<std::string> paths;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{""}, "empty path"},
      {{"spec..nodeName"}, "\"spec..nodeName\""},
      {{"status.conditions[0]"}, "\"status.conditions[0]\" selects array elements"},
      {{"spec.containers[*].image"}, "\"spec.containers[*].image\" selects array elements"},
      {{"metadata", std::string(kMaxFieldPathBytes + 1, 'a')}, "bytes; at most 512"},
      {{"spec.]"}, "\"spec.]\""},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::shared_ptr<const FieldMask>> mask = FieldMask::Parse(c.paths);
    EXPECT_EQ(mask.status().code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_THAT(mask.status().message(), HasSubstr(c.message));
  }
}

TEST(FieldMaskTest, MoreThanTheMostPathsIsInvalidArgument) {
  std::vector<std::string> paths;
  for (size_t i = 0; i < kMaxFieldPaths; ++i) paths.push_back(absl::StrCat("spec.f", i));
  EXPECT_TRUE(FieldMask::Parse(paths).ok());
  paths.push_back("spec.one_more");
  absl::StatusOr<std::shared_ptr<const FieldMask>> mask = FieldMask::Parse(paths);
  EXPECT_EQ(mask.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(mask.status().message(), HasSubstr("at most 64"));
  // The longest allowed path parses.
  EXPECT_TRUE(
      FieldMask::Parse({"metadata.labels." + std::string(kMaxFieldPathBytes - 16, 'k')}).ok());
}

TEST(MaskedObjectCacheTest, SameMaskKeySharesOneMaskedObjectPerVersion) {
  MaskedObjectCache cache;
  std::shared_ptr<const FieldMask> a = MustMask({"metadata.labels", "spec"});
  std::shared_ptr<const FieldMask> b = MustMask({"spec", "metadata.labels"});  // same key
  std::shared_ptr<const FieldMask> other = MustMask({"spec"});
  ObjectPtr object = MustParseObject(kPod);
  MaskedObjectPtr first = *cache.Get(*a, object);
  EXPECT_EQ(*cache.Get(*b, object), first);
  EXPECT_EQ(cache.hits(), 1u);
  EXPECT_NE(*cache.Get(*other, object), first);
  EXPECT_NE(first->content, "");
  // A new version (a new object) is masked anew.
  ObjectPtr next = MustParseObject(kPod);
  EXPECT_NE(*cache.Get(*a, next), first);
}

TEST(MaskedObjectCacheTest, AFreedSourceIsNeverAnsweredAndTheOldestGo) {
  MaskedObjectCache cache(/*max_entries=*/2);
  std::shared_ptr<const FieldMask> mask = MustMask({"spec"});
  std::vector<ObjectPtr> objects;
  for (int i = 0; i < 5; ++i) {
    objects.push_back(testing::MakeObject("ns", absl::StrCat("p", i), "1", {}, R"("spec":{})"));
    ASSERT_TRUE(cache.Get(*mask, objects.back()).ok());
  }
  EXPECT_EQ(cache.size(), 2u);
  ObjectPtr freed = testing::MakeObject("ns", "x", "1", {}, R"("spec":{"a":1})");
  const Object* address = freed.get();
  ASSERT_TRUE(cache.Get(*mask, freed).ok());
  freed.reset();
  ObjectPtr reused = testing::MakeObject("ns", "y", "2", {}, R"("spec":{"b":2})");
  MaskedObjectPtr masked = *cache.Get(*mask, reused);
  // Whether or not the address was reused, the answer is the new object's.
  (void)address;
  EXPECT_EQ(masked->object->meta().name, "y");
}

}  // namespace
}  // namespace server
}  // namespace informer
