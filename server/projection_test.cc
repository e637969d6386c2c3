#include "server/projection.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "informer/object_decoder.h"
#include "informer/testing/objects.h"
#include "server/config.h"

namespace informer {
namespace server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

ResourceInfo Info(std::string group, std::string resource, std::string kind) {
  ResourceInfo info;
  info.gvr = {std::move(group), "v1", std::move(resource)};
  info.kind = std::move(kind);
  info.verbs = {"list", "watch"};
  return info;
}

const ResourceInfo kSecrets = Info("", "secrets", "Secret");
const ResourceInfo kConfigMaps = Info("", "configmaps", "ConfigMap");

// A Secret created by `kubectl apply`, as a full LIST or WATCH carries it.
constexpr char kAppliedSecret[] =
    R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"s","namespace":"n",)"
    R"("resourceVersion":"9","managedFields":[{"manager":"kubectl"}],"annotations":{"a":"b",)"
    R"("kubectl.kubernetes.io/last-applied-configuration":"{\"data\":{\"k\":\"c2VjcmV0\"}}"}},)"
    R"("data":{"k":"c2VjcmV0"},"stringData":{"k":"secret"},"type":"Opaque"})";

// `json` decoded as informerd would store it under `plan`.
std::string Stored(const ResourceInfo& info, const CachePlan& plan, const std::string& json) {
  ObjectDecoder decoder(info, plan.transforms);
  rapidjson::Document document;
  document.Parse(json.c_str());
  absl::StatusOr<ObjectPtr> object = decoder.Decode(document, document.GetAllocator());
  EXPECT_TRUE(object.ok()) << object.status();
  return object.ok() ? (*object)->json() : "";
}

ServerConfig ConfigWith(const std::string& yaml) {
  ServerConfig config;
  absl::Status status = ApplyConfigYaml(yaml, &config);
  EXPECT_TRUE(status.ok()) << status;
  return config;
}

TEST(ProjectionConfigTest, YamlSetsProjectionPerResourceAndAllowSecretData) {
  ServerConfig config = ConfigWith(R"(
auth: true
allow_secret_data: true
resources:
  - secrets
  - {name: configmaps, projection: metadata}
  - {name: secrets.v1, projection: full}
)");
  ASSERT_EQ(config.resources.size(), 3u);
  EXPECT_FALSE(config.resources[0].projection.has_value());
  EXPECT_EQ(config.resources[1].projection, Projection::kMetadata);
  EXPECT_EQ(config.resources[2].projection, Projection::kFull);
  EXPECT_TRUE(config.allow_secret_data);
  EXPECT_TRUE(ValidateConfig(config).ok());
}

TEST(ProjectionConfigTest, UnknownProjectionIsInvalidArgumentNamingTheKeyAndTheChoices) {
  ServerConfig config;
  absl::Status status =
      ApplyConfigYaml("resources: [{name: secrets, projection: partial}]", &config);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("resources[].projection"));
  EXPECT_THAT(status.message(), HasSubstr("metadata"));
  EXPECT_THAT(status.message(), HasSubstr("full"));
  EXPECT_EQ(ApplyConfigYaml("allow_secret_data: maybe", &config).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ProjectionConfigTest, SecretDataWithoutAccessControlIsRefusedNamingTheSettings) {
  ServerConfig config = ConfigWith(R"(
allow_secret_data: true
resources: [{name: secrets, projection: full}]
)");
  absl::Status status = ValidateConfig(config);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("allow_secret_data"));
  EXPECT_THAT(status.message(), HasSubstr("--auth"));
  config.access.enabled = true;
  EXPECT_TRUE(ValidateConfig(config).ok());
}

TEST(PlanCachingTest, SecretsWithoutAProjectionAreMetadataWithoutTheLastAppliedAnnotation) {
  ServerConfig config = ConfigWith("resources: [secrets]");
  CachePlan plan = PlanCaching(kSecrets, &config.resources[0], config);
  EXPECT_EQ(plan.projection, Projection::kMetadata);
  EXPECT_TRUE(plan.secrets);
  EXPECT_THAT(plan.secrets_reason, HasSubstr("the default for Secrets"));
  EXPECT_EQ(Stored(kSecrets, plan, kAppliedSecret),
            R"({"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":)"
            R"({"name":"s","namespace":"n","resourceVersion":"9","annotations":{"a":"b"}}})");
  // Also in all_resources mode, where a resource may have no settings at all.
  EXPECT_EQ(PlanCaching(kSecrets, nullptr, config).projection, Projection::kMetadata);
  // With the allowance but no projection asked for, still metadata.
  config.allow_secret_data = true;
  config.access.enabled = true;
  EXPECT_EQ(PlanCaching(kSecrets, &config.resources[0], config).projection, Projection::kMetadata);
}

TEST(PlanCachingTest, FullSecretsWithoutTheAllowanceAreRedacted) {
  ServerConfig config = ConfigWith("resources: [{name: secrets, projection: full}]");
  CachePlan plan = PlanCaching(kSecrets, &config.resources[0], config);
  EXPECT_EQ(plan.projection, Projection::kFull);
  EXPECT_THAT(plan.secrets_reason, HasSubstr("redacted"));
  EXPECT_EQ(Stored(kSecrets, plan, kAppliedSecret),
            R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"s","namespace":"n",)"
            R"("resourceVersion":"9","annotations":{"a":"b"}},"type":"Opaque"})");
}

TEST(PlanCachingTest, FullSecretsWithTheAllowanceKeepTheirData) {
  ServerConfig config = ConfigWith(R"(
auth: true
allow_secret_data: true
resources: [{name: secrets, projection: full}]
)");
  CachePlan plan = PlanCaching(kSecrets, &config.resources[0], config);
  EXPECT_EQ(plan.projection, Projection::kFull);
  EXPECT_THAT(plan.secrets_reason, HasSubstr("WITH their data"));
  const std::string stored = Stored(kSecrets, plan, kAppliedSecret);
  EXPECT_THAT(stored, HasSubstr(R"("data":{"k":"c2VjcmV0"})"));
  EXPECT_THAT(stored, HasSubstr(R"("stringData":{"k":"secret"})"));
  EXPECT_THAT(stored, Not(HasSubstr("managedFields")));
}

TEST(PlanCachingTest, OtherResourcesAreFullUnlessConfiguredAndMetadataProjectsThem) {
  ServerConfig config = ConfigWith(R"(
resources: [configmaps, {name: pods, projection: metadata}]
)");
  const std::string config_map =
      R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"n",)"
      R"("resourceVersion":"3"},"data":{"k":"v"}})";
  CachePlan full = PlanCaching(kConfigMaps, &config.resources[0], config);
  EXPECT_EQ(full.projection, Projection::kFull);
  EXPECT_FALSE(full.secrets);
  EXPECT_TRUE(full.secrets_reason.empty());
  EXPECT_EQ(Stored(kConfigMaps, full, config_map), config_map);
  // The redaction runs on every full resource: a core Secret never keeps its data.
  EXPECT_THAT(Stored(kConfigMaps, full, kAppliedSecret), Not(HasSubstr("c2VjcmV0")));

  CachePlan metadata = PlanCaching(kConfigMaps, &config.resources[1], config);
  EXPECT_EQ(metadata.projection, Projection::kMetadata);
  EXPECT_EQ(Stored(kConfigMaps, metadata, config_map),
            R"({"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":)"
            R"({"name":"c","namespace":"n","resourceVersion":"3"}})");
}

TEST(PlanCachingTest, KeepingManagedFieldsIsHonoured) {
  ServerConfig config = ConfigWith("strip_managed_fields: false\nresources: [secrets]");
  CachePlan plan = PlanCaching(kSecrets, &config.resources[0], config);
  EXPECT_THAT(Stored(kSecrets, plan, kAppliedSecret), HasSubstr("managedFields"));
  EXPECT_THAT(Stored(kSecrets, plan, kAppliedSecret), Not(HasSubstr("c2VjcmV0")));
}

}  // namespace
}  // namespace server
}  // namespace informer
