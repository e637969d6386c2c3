// Test helpers that build cached Objects in one line. Header-only; any test may include it.
#ifndef INFORMER_TESTING_OBJECTS_H_
#define INFORMER_TESTING_OBJECTS_H_

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "informer/object.h"
#include "informer/resource.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace informer {
namespace testing {

// `text` as a quoted, escaped JSON string.
inline std::string JsonString(absl::string_view text) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
  return std::string(buffer.GetString(), buffer.GetSize());
}

// `map` as a JSON object of strings.
inline std::string JsonStringMap(const std::map<std::string, std::string>& map) {
  std::string out = "{";
  for (const auto& [key, value] : map) {
    if (out.size() > 1) out += ",";
    absl::StrAppend(&out, JsonString(key), ":", JsonString(value));
  }
  return out + "}";
}

// The members of a `metadata` object (without braces) as MakeObject and MakeConfigMap write it.
inline std::string MetadataJson(absl::string_view namespace_name, absl::string_view name,
                                absl::string_view rv,
                                const std::map<std::string, std::string>& labels) {
  std::string metadata = absl::StrCat("\"name\":", JsonString(name));
  if (!namespace_name.empty()) {
    absl::StrAppend(&metadata, ",\"namespace\":", JsonString(namespace_name));
  }
  absl::StrAppend(&metadata,
                  ",\"uid\":", JsonString(absl::StrCat("uid-", ObjectKey(namespace_name, name))),
                  ",\"resourceVersion\":", JsonString(rv));
  if (!labels.empty()) absl::StrAppend(&metadata, ",\"labels\":", JsonStringMap(labels));
  return metadata;
}

// Parses `json` into an Object; aborts the test binary with the error when it is invalid, since
// a broken fixture is a bug in the test itself.
inline ObjectPtr MustParseObject(absl::string_view json, absl::string_view default_api_version = "",
                                 absl::string_view default_kind = "",
                                 JsonCompressor* compressor = nullptr) {
  absl::StatusOr<ObjectPtr> object =
      Object::FromJson(json, default_api_version, default_kind, compressor);
  if (!object.ok()) {
    std::fprintf(stderr, "MustParseObject: %s\n  in: %.*s\n",
                 std::string(object.status().ToString()).c_str(), static_cast<int>(json.size()),
                 json.data());
    std::abort();
  }
  return *std::move(object);
}

// A v1 Pod named `namespace_name`/`name` (cluster-scoped when the namespace is empty) with
// resourceVersion `rv`, uid "uid-<key>", the given labels, and `extra_json_fields` appended
// as top-level members, e.g. R"("spec":{"nodeName":"node-1"})".
inline ObjectPtr MakeObject(absl::string_view namespace_name, absl::string_view name,
                            absl::string_view rv,
                            const std::map<std::string, std::string>& labels = {},
                            absl::string_view extra_json_fields = "") {
  std::string metadata = MetadataJson(namespace_name, name, rv, labels);
  std::string json =
      absl::StrCat("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{", metadata, "}");
  if (!extra_json_fields.empty()) absl::StrAppend(&json, ",", extra_json_fields);
  json += "}";
  return MustParseObject(json);
}

// A v1 ConfigMap with the given data and labels.
inline ObjectPtr MakeConfigMap(absl::string_view namespace_name, absl::string_view name,
                               absl::string_view rv,
                               const std::map<std::string, std::string>& data = {},
                               const std::map<std::string, std::string>& labels = {}) {
  std::string metadata = MetadataJson(namespace_name, name, rv, labels);
  return MustParseObject(
      absl::StrCat("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{", metadata,
                   "},\"data\":", JsonStringMap(data), "}"));
}

// The JSON of a Pod like the ones a Deployment makes: the same long spec for every `i`, with
// names, uids, labels and the node varying, ~1.2 KB.
inline std::string PodLikeJson(int64_t i) {
  const std::string name = absl::StrCat("web-", i % 7, "-5d8f7c", i * 7919 % 100000);
  return absl::StrCat(
      R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":")", name, R"(","namespace":"team-)",
      i % 5, R"(","uid":"0a1b2c3d-)", i * 104729 % 1000003, R"(","resourceVersion":")", 1000 + i,
      R"(","labels":{"app":"web-)", i % 7,
      R"(","pod-template-hash":"5d8f7c"},"ownerReferences":[{"apiVersion":"apps/v1",)",
      R"("kind":"ReplicaSet","name":"web-5d8f7c","uid":"rs-)", i % 7,
      R"(","controller":true}]},"spec":{"nodeName":"node-)", i % 13,
      R"(","containers":[{"name":"web","image":"registry.example.com/team/web:1.)", i % 3,
      R"(","ports":[{"containerPort":8080,"protocol":"TCP"}],"resources":{"requests":)",
      R"({"cpu":"250m","memory":"256Mi"},"limits":{"cpu":"1","memory":"512Mi"}},)",
      R"("volumeMounts":[{"name":"kube-api-access","readOnly":true,"mountPath":)",
      R"("/var/run/secrets/kubernetes.io/serviceaccount"}],"terminationMessagePath":)",
      R"("/dev/termination-log","terminationMessagePolicy":"File","imagePullPolicy":)",
      R"("IfNotPresent"}],"restartPolicy":"Always","terminationGracePeriodSeconds":30,)",
      R"("dnsPolicy":"ClusterFirst","serviceAccountName":"default","schedulerName":)",
      R"("default-scheduler","tolerations":[{"key":"node.kubernetes.io/not-ready",)",
      R"("operator":"Exists","effect":"NoExecute","tolerationSeconds":300},{"key":)",
      R"("node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute",)",
      R"("tolerationSeconds":300}]},"status":{"phase":"Running","podIP":"10.1.)", i % 250, ".",
      i % 199, R"("}})");
}

// A JsonCompressor (as informers make) whose dictionary is trained on `samples` PodLikeJson
// Pods, so every object parsed with it afterwards keeps its JSON compressed.
inline std::shared_ptr<JsonCompressor> TrainedPodCompressor(int samples = 64) {
  JsonCompressionOptions options;
  options.training_objects = static_cast<size_t>(samples);
  options.dictionary_bytes = 8 * 1024;
  auto compressor = std::make_shared<JsonCompressor>(options, "pods");
  for (int i = 0; i < samples; ++i) compressor->DictionaryFor(PodLikeJson(1000000 + i));
  return compressor;
}

// core/v1 pods as discovery describes them: namespaced, with the verbs an informer uses.
inline ResourceInfo PodsResource() {
  ResourceInfo info;
  info.gvr = {"", "v1", "pods"};
  info.kind = "Pod";
  info.namespaced = true;
  info.verbs = {"list", "watch", "get"};
  return info;
}

}  // namespace testing
}  // namespace informer

#endif  // INFORMER_TESTING_OBJECTS_H_
