#include "informer/transform.h"

#include <string>

#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace informer {
namespace {

std::string Apply(const Transform& transform, const std::string& json) {
  rapidjson::Document document;
  document.Parse(json.c_str());
  EXPECT_FALSE(document.HasParseError()) << json;
  absl::Status status = transform(document, document.GetAllocator());
  EXPECT_TRUE(status.ok()) << status;
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  document.Accept(writer);
  return buffer.GetString();
}

TEST(TransformTest, U3_StripManagedFieldsRemovesOnlyManagedFields) {
  EXPECT_EQ(Apply(StripManagedFields,
                  R"({"metadata":{"name":"a","managedFields":[{"manager":"kubectl"}],"uid":"u"},)"
                  R"("spec":{"managedFields":1}})"),
            R"({"metadata":{"name":"a","uid":"u"},"spec":{"managedFields":1}})");
}

TEST(TransformTest, U3_StripManagedFieldsToleratesObjectsWithoutThem) {
  EXPECT_EQ(Apply(StripManagedFields, R"({"metadata":{"name":"a"}})"),
            R"({"metadata":{"name":"a"}})");
  EXPECT_EQ(Apply(StripManagedFields, R"({"metadata":7})"), R"({"metadata":7})");
  EXPECT_EQ(Apply(StripManagedFields, R"([1])"), R"([1])");
}

TEST(TransformTest, StripAnnotationsRemovesListedKeysOnly) {
  Transform strip = StripAnnotations({"kubectl.kubernetes.io/last-applied-configuration", "gone"});
  EXPECT_EQ(Apply(strip, R"({"metadata":{"name":"a","annotations":{)"
                         R"("kubectl.kubernetes.io/last-applied-configuration":"{...}",)"
                         R"("keep":"me"}}})"),
            R"({"metadata":{"name":"a","annotations":{"keep":"me"}}})");
}

TEST(TransformTest, StripAnnotationsToleratesMissingAnnotations) {
  Transform strip = StripAnnotations({"x"});
  EXPECT_EQ(Apply(strip, R"({"metadata":{"name":"a"}})"), R"({"metadata":{"name":"a"}})");
  EXPECT_EQ(Apply(strip, R"({"metadata":{"name":"a","annotations":null}})"),
            R"({"metadata":{"name":"a","annotations":null}})");
}

TEST(TransformTest, DefaultTransformsStripManagedFields) {
  std::vector<Transform> transforms = DefaultTransforms();
  ASSERT_EQ(transforms.size(), 1u);
  EXPECT_EQ(Apply(transforms[0], R"({"metadata":{"name":"a","managedFields":[]}})"),
            R"({"metadata":{"name":"a"}})");
}

TEST(TransformTest, ProjectToMetadataKeepsOnlyMetadata) {
  // A full object (a server that ignored the Accept header) becomes PartialObjectMetadata.
  EXPECT_EQ(Apply(ProjectToMetadata,
                  R"({"kind":"Secret","apiVersion":"v1","metadata":{"name":"a","labels":)"
                  R"({"x":"y"}},"data":{"k":"c2VjcmV0"},"stringData":{"k":"s"},"type":"Opaque"})"),
            R"({"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1",)"
            R"("metadata":{"name":"a","labels":{"x":"y"}}})");
  // What the API server serves with as=PartialObjectMetadata passes unchanged.
  const std::string partial = R"({"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1",)"
                              R"("metadata":{"name":"a","namespace":"n","resourceVersion":"7"}})";
  EXPECT_EQ(Apply(ProjectToMetadata, partial), partial);
}

TEST(TransformTest, ProjectToMetadataRefusesANonObject) {
  rapidjson::Document document;
  document.Parse("[1]");
  EXPECT_EQ(ProjectToMetadata(document, document.GetAllocator()).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(TransformTest, RedactSecretDataRemovesDataStringDataAndLastApplied) {
  EXPECT_EQ(Apply(RedactSecretData,
                  R"({"kind":"Secret","apiVersion":"v1","metadata":{"name":"a","annotations":{)"
                  R"("kubectl.kubernetes.io/last-applied-configuration":"{\"data\":{}}",)"
                  R"("keep":"me"}},"data":{"k":"c2VjcmV0"},"stringData":{"k":"s"},)"
                  R"("type":"Opaque","immutable":true})"),
            R"({"kind":"Secret","apiVersion":"v1","metadata":{"name":"a","annotations":)"
            R"({"keep":"me"}},"type":"Opaque","immutable":true})");
}

TEST(TransformTest, RedactSecretDataLeavesOtherKindsAlone) {
  const std::string config_map =
      R"({"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"a","annotations":{)"
      R"("kubectl.kubernetes.io/last-applied-configuration":"{}"}},"data":{"k":"v"}})";
  EXPECT_EQ(Apply(RedactSecretData, config_map), config_map);
  // A custom resource that happens to be called Secret is not the core Secret.
  const std::string custom =
      R"({"kind":"Secret","apiVersion":"example.com/v1","metadata":{"name":"a"},"data":{"k":1}})";
  EXPECT_EQ(Apply(RedactSecretData, custom), custom);
}

}  // namespace
}  // namespace informer
