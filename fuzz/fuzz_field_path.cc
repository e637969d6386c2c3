// Field path parsing and lookup over a sample object, read from its JSON and from the values
// extracted at decode: both must give the same answer.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "informer/field_path.h"
#include "informer/json.h"
#include "informer/object.h"
#include "rapidjson/document.h"

namespace {

constexpr char kSampleJson[] =
    R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","namespace":"n",)"
    R"("labels":{"app.kubernetes.io/name":"x"},"ownerReferences":[{"uid":"u1"},{"uid":"u2"}]},)"
    R"("spec":{"nodeName":"n1","containers":[{"ports":[{"containerPort":80}]},{"ports":[]}],)"
    R"("n":1.50,"b":true,"z":null,"s":["x","",7,-2,false,{"k":"v"}]}})";

// The sample decoded with `path` extracted, as an informer whose field index is `path` decodes.
informer::ObjectPtr SampleExtracting(const std::string& path) {
  rapidjson::Document document;
  if (!informer::ParseJson(kSampleJson, &document).ok()) std::abort();
  auto extract =
      std::make_shared<const informer::ExtractedFieldPaths>(std::vector<std::string>{path});
  auto object = informer::Object::FromJsonValue(document, document.GetAllocator(), "", "", extract);
  if (!object.ok()) std::abort();
  return *std::move(object);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const informer::ObjectPtr* sample =
      new informer::ObjectPtr(*informer::Object::FromJson(kSampleJson));
  const std::string path(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::vector<informer::FieldPathStep>> steps = informer::ParseFieldPath(path);
  if (!steps.ok()) return 0;
  const std::vector<std::string> from_json = (*sample)->FieldValues(path);
  if (SampleExtracting(path)->FieldValues(path) != from_json) {
    std::fprintf(stderr, "extracted values of \"%s\" differ from the JSON's\n", path.c_str());
    std::abort();
  }
  rapidjson::Document document;
  document.Parse((*sample)->json().c_str());
  std::vector<std::string> values;
  informer::CollectFieldValues(document, *steps, &values);
  return 0;
}
