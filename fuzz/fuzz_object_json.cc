// Object::FromJson on arbitrary bytes; an object that parses must write itself back to JSON
// that parses to the same object, and answer field paths without crashing.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "informer/json.h"
#include "informer/object.h"
#include "rapidjson/document.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string json(reinterpret_cast<const char*>(data), size);
  // Strings are checked to be UTF-8 after unescaping: invalid UTF-8 that RapidJSON's own check
  // (raw bytes in strings) finds must be refused, and what is accepted is UTF-8 throughout.
  rapidjson::Document reference;
  reference.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag |
                  rapidjson::kParseNumbersAsStringsFlag>(json.data(), json.size());
  absl::StatusOr<informer::ObjectPtr> object = informer::Object::FromJson(json, "v1", "Pod");
  if (reference.GetParseError() == rapidjson::kParseErrorStringInvalidEncoding && object.ok()) {
    std::fprintf(stderr, "invalid UTF-8 accepted\n");
    std::abort();
  }
  if (object.ok() && !informer::IsValidUtf8((*object)->json())) {
    std::fprintf(stderr, "an object's JSON is not UTF-8: %s\n", (*object)->json().c_str());
    std::abort();
  }
  if (!object.ok()) return 0;
  absl::StatusOr<informer::ObjectPtr> again = informer::Object::FromJson((*object)->json());
  if (!again.ok() || (*again)->json() != (*object)->json() || (*again)->key() != (*object)->key()) {
    std::fprintf(stderr, "round trip changed the object: %s\n",
                 again.ok() ? (*again)->json().c_str() : again.status().ToString().c_str());
    std::abort();
  }
  for (const char* path :
       {"metadata.name", "metadata.labels.app", "spec.nodeName", "spec.containers[*].image",
        "status.conditions[0].type", "metadata.ownerReferences[*].uid"}) {
    (void)(*object)->FieldValues(path);
  }
  (void)(*object)->ApproximateBytes();
  return 0;
}
