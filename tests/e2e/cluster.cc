#include "tests/e2e/cluster.h"

#include <cstdlib>
#include <functional>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "informer/k8s/config.h"
#include "informer/k8s/json_util.h"
#include "informer/object.h"
#include "rapidjson/document.h"

namespace informer {
namespace e2e {
namespace {

std::string Getenv(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

}  // namespace

std::optional<TestCluster> TestClusterFromEnv() {
  TestCluster cluster;
  cluster.kubeconfig = Getenv("INFORMERD_TEST_KUBECONFIG");
  if (cluster.kubeconfig.empty()) return std::nullopt;
  cluster.restricted_kubeconfig = Getenv("INFORMERD_TEST_KUBECONFIG_RESTRICTED");
  cluster.compact_command = Getenv("INFORMERD_TEST_CLUSTER_COMPACT");
  return cluster;
}

absl::StatusOr<std::shared_ptr<k8s::RestClient>> ClientForKubeconfig(const std::string& path) {
  k8s::LoadOptions options;
  options.kubeconfig_path = path;
  options.allow_in_cluster = false;
  absl::StatusOr<k8s::RestConfig> config = k8s::LoadRestConfig(options);
  if (!config.ok()) return config.status();
  return k8s::RestClient::Create(*config);
}

absl::Status CompactCluster(const TestCluster& cluster) {
  if (cluster.compact_command.empty()) {
    return absl::FailedPreconditionError("INFORMERD_TEST_CLUSTER_COMPACT is not set");
  }
  const std::string command = absl::StrCat(cluster.compact_command, " >&2");
  const int rc = std::system(command.c_str());
  if (rc != 0) return absl::InternalError(absl::StrCat("`", command, "` failed: ", rc));
  return absl::OkStatus();
}

absl::StatusOr<std::map<std::string, std::string>> ServerKeyVersions(k8s::RestClient& client,
                                                                     absl::string_view path) {
  absl::StatusOr<std::string> body = client.Get(path);
  if (!body.ok()) return body.status();
  rapidjson::Document document;
  document.Parse(body->data(), body->size());
  if (document.HasParseError() || !document.IsObject()) {
    return absl::InternalError(absl::StrCat("LIST ", path, " returned no JSON object"));
  }
  std::map<std::string, std::string> versions;
  auto items = document.FindMember("items");
  if (items == document.MemberEnd() || !items->value.IsArray()) return versions;
  for (const rapidjson::Value& item : items->value.GetArray()) {
    auto metadata = item.FindMember("metadata");
    if (metadata == item.MemberEnd()) continue;
    versions[ObjectKey(k8s::StringMember(metadata->value, "namespace"),
                       k8s::StringMember(metadata->value, "name"))] =
        k8s::StringMember(metadata->value, "resourceVersion");
  }
  return versions;
}

absl::Status CreateOrKeep(k8s::RestClient& client, absl::string_view path, absl::string_view json) {
  absl::StatusOr<std::string> created = client.Post(path, json);
  if (created.ok() || absl::IsAborted(created.status())) return absl::OkStatus();  // 409
  return created.status();
}

bool WaitFor(absl::Duration timeout, const std::function<bool()>& condition) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (condition()) return true;
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(50));
  }
}

std::string RandomSuffix() {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device device;
  std::mt19937 random(device());
  std::string suffix;
  // A letter first, so the suffix is also valid where names must start with one.
  suffix.push_back(kAlphabet[random() % 26]);
  for (int i = 0; i < 5; ++i) suffix.push_back(kAlphabet[random() % 36]);
  return suffix;
}

}  // namespace e2e
}  // namespace informer
