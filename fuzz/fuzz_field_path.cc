// Field path parsing and lookup over a sample object.
#include <string>
#include <vector>

#include "informer/field_path.h"
#include "informer/object.h"
#include "rapidjson/document.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const informer::ObjectPtr* sample = [] {
    auto parsed = informer::Object::FromJson(
        R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","namespace":"n",)"
        R"("labels":{"app.kubernetes.io/name":"x"},"ownerReferences":[{"uid":"u1"},{"uid":"u2"}]},)"
        R"("spec":{"nodeName":"n1","containers":[{"ports":[{"containerPort":80}]},{"ports":[]}],)"
        R"("n":1.50,"b":true,"z":null}})");
    return new informer::ObjectPtr(*parsed);
  }();
  const std::string path(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::vector<informer::FieldPathStep>> steps = informer::ParseFieldPath(path);
  if (!steps.ok()) return 0;
  (void)(*sample)->FieldValues(path);
  rapidjson::Document document;
  document.Parse((*sample)->json().c_str());
  std::vector<std::string> values;
  informer::CollectFieldValues(document, *steps, &values);
  return 0;
}
