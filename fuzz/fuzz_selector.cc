// Label and field selector parsing and matching. A selector that parses must print itself
// (ToString) as text that parses to the same selector.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "informer/json.h"
#include "informer/selector.h"
#include "rapidjson/document.h"

namespace {

constexpr char kSampleJson[] =
    R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-1","namespace":"prod",)"
    R"("labels":{"app":"web","tier":"front","v":"2"}},"spec":{"nodeName":"node-a",)"
    R"("containers":[{"name":"c","image":"nginx"}]},"status":{"phase":"Running"}})";

const informer::ObjectPtr& Sample() {
  static const informer::ObjectPtr* object =
      new informer::ObjectPtr(*informer::Object::FromJson(kSampleJson));
  return *object;
}

// The sample decoded with `selector`'s paths extracted, as an informer keeps the values of its
// resource's field-selector paths: matched from memory instead of the JSON.
informer::ObjectPtr SampleExtracting(const informer::FieldSelector& selector) {
  std::vector<std::string> paths;
  for (const auto& requirement : selector.requirements()) paths.push_back(requirement.path);
  rapidjson::Document document;
  if (!informer::ParseJson(kSampleJson, &document).ok()) std::abort();
  auto object =
      informer::Object::FromJsonValue(document, document.GetAllocator(), "", "",
                                      std::make_shared<const informer::ExtractedFieldPaths>(paths));
  if (!object.ok()) std::abort();
  return *std::move(object);
}

void Fail(const char* what, const std::string& text, const std::string& printed) {
  std::fprintf(stderr, "%s: \"%s\" printed as \"%s\"\n", what, text.c_str(), printed.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider provider(data, size);
  const bool labels_first = provider.ConsumeBool();
  std::map<std::string, std::string> labels;
  for (int i = provider.ConsumeIntegralInRange(0, 4); i > 0; --i) {
    labels[provider.ConsumeRandomLengthString(64)] = provider.ConsumeRandomLengthString(64);
  }
  const std::string text = provider.ConsumeRemainingBytesAsString();
  if (labels_first) {
    absl::StatusOr<informer::LabelSelector> selector = informer::LabelSelector::Parse(text);
    if (!selector.ok()) return 0;
    const std::string printed = selector->ToString();
    absl::StatusOr<informer::LabelSelector> again = informer::LabelSelector::Parse(printed);
    if (!again.ok() || again->ToString() != printed) Fail("label selector", text, printed);
    const bool matches = selector->Matches(labels);
    if (again->Matches(labels) != matches) Fail("label selector match", text, printed);
    (void)selector->Matches(*Sample());
  } else {
    absl::StatusOr<informer::FieldSelector> selector = informer::FieldSelector::Parse(text);
    if (!selector.ok()) return 0;
    const std::string printed = selector->ToString();
    absl::StatusOr<informer::FieldSelector> again = informer::FieldSelector::Parse(printed);
    if (!again.ok() || again->ToString() != printed) Fail("field selector", text, printed);
    const bool matches = selector->Matches(*Sample());
    if (again->Matches(*Sample()) != matches) Fail("field selector match", text, printed);
    if (selector->Matches(*SampleExtracting(*selector)) != matches) {
      Fail("field selector match on extracted values", text, printed);
    }
  }
  return 0;
}
