#include "informer/object_decoder.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"

namespace informer {
namespace {

using ::testing::HasSubstr;

ResourceInfo Deployments() {
  ResourceInfo info;
  info.gvr = {"apps", "v1", "deployments"};
  info.kind = "Deployment";
  return info;
}

absl::StatusOr<ObjectPtr> DecodeJson(const ObjectDecoder& decoder, const std::string& json) {
  rapidjson::Document document;
  document.Parse(json.c_str());
  EXPECT_FALSE(document.HasParseError()) << json;
  return decoder.Decode(document, document.GetAllocator());
}

TEST(ObjectDecoderTest, U1_SetsKindAndApiVersionFromTheResource) {
  ObjectDecoder decoder(Deployments(), {});
  absl::StatusOr<ObjectPtr> object =
      DecodeJson(decoder, R"({"metadata":{"name":"web","namespace":"prod"},"spec":{}})");
  ASSERT_TRUE(object.ok()) << object.status();
  EXPECT_EQ((*object)->kind(), "Deployment");
  EXPECT_EQ((*object)->api_version(), "apps/v1");
  EXPECT_EQ(
      (*object)->json(),
      R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"prod"},"spec":{}})");
  EXPECT_EQ((*object)->key(), "prod/web");
}

TEST(ObjectDecoderTest, U1_CoreGroupApiVersionIsJustTheVersion) {
  ResourceInfo pods;
  pods.gvr = {"", "v1", "pods"};
  pods.kind = "Pod";
  ObjectDecoder decoder(pods, {});
  absl::StatusOr<ObjectPtr> object = DecodeJson(decoder, R"({"metadata":{"name":"p"}})");
  ASSERT_TRUE(object.ok()) << object.status();
  EXPECT_EQ((*object)->api_version(), "v1");
}

TEST(ObjectDecoderTest, U3_DefaultTransformsStripManagedFields) {
  ObjectDecoder decoder(Deployments(), DefaultTransforms());
  absl::StatusOr<ObjectPtr> object =
      DecodeJson(decoder, R"({"metadata":{"name":"web","managedFields":[{"manager":"kubectl"}]}})");
  ASSERT_TRUE(object.ok()) << object.status();
  EXPECT_THAT((*object)->json(), ::testing::Not(HasSubstr("managedFields")));
}

TEST(ObjectDecoderTest, TransformsRunInOrderAndSeeTypeMeta) {
  std::string seen;
  Transform first = [&seen](rapidjson::Value& object, rapidjson::Document::AllocatorType&) {
    seen += std::string("1:") + object["kind"].GetString() + ";";
    return absl::OkStatus();
  };
  Transform second = [&seen](rapidjson::Value& object, rapidjson::Document::AllocatorType& alloc) {
    seen += "2;";
    object["metadata"].AddMember("uid", "set-by-transform", alloc);
    return absl::OkStatus();
  };
  ObjectDecoder decoder(Deployments(), {first, second});
  absl::StatusOr<ObjectPtr> object = DecodeJson(decoder, R"({"metadata":{"name":"web"}})");
  ASSERT_TRUE(object.ok()) << object.status();
  EXPECT_EQ(seen, "1:Deployment;2;");
  EXPECT_EQ((*object)->meta().uid, "set-by-transform");
}

TEST(ObjectDecoderTest, I7_TransformChangingNameIsRejected) {
  Transform rename = [](rapidjson::Value& object, rapidjson::Document::AllocatorType& alloc) {
    object["metadata"]["name"].SetString("other", alloc);
    return absl::OkStatus();
  };
  ObjectDecoder decoder(Deployments(), {rename});
  absl::StatusOr<ObjectPtr> object =
      DecodeJson(decoder, R"({"metadata":{"name":"web","namespace":"prod"}})");
  ASSERT_FALSE(object.ok());
  EXPECT_EQ(object.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(object.status().message(), HasSubstr("Deployment \"prod/web\""));
  EXPECT_THAT(object.status().message(), HasSubstr("prod/other"));
}

TEST(ObjectDecoderTest, I7_TransformChangingNamespaceIsRejected) {
  Transform move = [](rapidjson::Value& object, rapidjson::Document::AllocatorType& alloc) {
    object["metadata"].RemoveMember("namespace");
    return absl::OkStatus();
  };
  ObjectDecoder decoder(Deployments(), {move});
  absl::StatusOr<ObjectPtr> object =
      DecodeJson(decoder, R"({"metadata":{"name":"web","namespace":"prod"}})");
  EXPECT_EQ(object.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(object.status().message(), HasSubstr("prod/web"));
}

TEST(ObjectDecoderTest, FailingTransformIsInvalidArgumentNamingTheObject) {
  Transform fail = [](rapidjson::Value&, rapidjson::Document::AllocatorType&) {
    return absl::InternalError("boom");
  };
  ObjectDecoder decoder(Deployments(), {fail});
  absl::StatusOr<ObjectPtr> object =
      DecodeJson(decoder, R"({"metadata":{"name":"web","namespace":"prod"}})");
  EXPECT_EQ(object.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(object.status().message(), HasSubstr("prod/web"));
  EXPECT_THAT(object.status().message(), HasSubstr("boom"));
}

TEST(ObjectDecoderTest, MalformedObjectsAreInvalidArgument) {
  ObjectDecoder decoder(Deployments(), DefaultTransforms());
  for (const char* json : {R"([])", R"("x")", R"({})", R"({"metadata":{"namespace":"n"}})",
                           R"({"metadata":{"name":"a","labels":{"k":1}}})",
                           R"({"kind":[],"metadata":{"name":"a"}})"}) {
    absl::StatusOr<ObjectPtr> object = DecodeJson(decoder, json);
    EXPECT_EQ(object.status().code(), absl::StatusCode::kInvalidArgument) << json;
  }
}

TEST(ObjectDecoderTest, NamesTheObjectInErrors) {
  ObjectDecoder decoder(Deployments(), {});
  absl::StatusOr<ObjectPtr> object =
      DecodeJson(decoder, R"({"metadata":{"name":"web","namespace":"prod","labels":{"k":1}}})");
  EXPECT_EQ(object.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(object.status().message(), HasSubstr("Deployment \"prod/web\""));
  EXPECT_THAT(object.status().message(), HasSubstr("metadata.labels.k"));
}

}  // namespace
}  // namespace informer
