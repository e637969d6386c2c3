// The fast decode path (informer/compact_json.h) against the DOM path on arbitrary bytes: a
// watch stream must decode to the same events, byte for byte, or fail with the same status,
// whichever path takes each frame.
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "informer/k8s/watch_decoder.h"
#include "informer/testing/objects.h"
#include "informer/transform.h"

namespace {

using informer::ObjectDecoder;
using informer::ResourceInfo;
using informer::Transform;
using informer::WatchEvent;
using informer::k8s::WatchDecoder;
using ::informer::testing::PodsResource;

// The paths both decoders extract: a field index's, the type meta the decoder may insert, a
// nested array's.
const std::vector<std::string>& Paths() {
  static const auto* paths =
      new std::vector<std::string>{"spec.nodeName", "kind", "apiVersion", "spec.c[*].n[1]"};
  return *paths;
}

// The fast decoder strips managedFields itself; the DOM one runs the same transform behind a
// lambda, which the fast path does not recognise.
const ObjectDecoder& Fast() {
  static const ObjectDecoder* decoder =
      new ObjectDecoder(PodsResource(), informer::DefaultTransforms(), Paths());
  return *decoder;
}
const ObjectDecoder& Dom() {
  static const ObjectDecoder* decoder = new ObjectDecoder(
      PodsResource(), {Transform([](rapidjson::Value& v, rapidjson::Document::AllocatorType& a) {
        return informer::StripManagedFields(v, a);
      })},
      Paths());
  return *decoder;
}

std::string Describe(const informer::Object& o) {
  const informer::ObjectMeta& m = o.meta();
  std::string out = absl::StrCat(o.json(), "|", o.api_version(), "|", o.kind(), "|", o.key(), "|",
                                 m.uid, "|", m.resource_version, "|", m.generation, "|",
                                 m.deletion_timestamp, "|", m.owner_references.size());
  for (const auto& [k, v] : m.labels) absl::StrAppend(&out, "|l:", k, "=", v);
  for (const auto& [k, v] : m.annotations) absl::StrAppend(&out, "|a:", k, "=", v);
  for (const auto& r : m.owner_references) {
    absl::StrAppend(&out, "|o:", r.api_version, ",", r.kind, ",", r.name, ",", r.uid, ",",
                    r.controller);
  }
  for (const std::string& path : Paths()) {
    absl::StrAppend(&out, "|", path, ":");
    for (const std::string& v : o.FieldValues(path)) absl::StrAppend(&out, v, ",");
  }
  absl::StrAppend(&out, "|bytes:", o.ApproximateBytes());  // counts the extracted values too
  return out;
}

std::string Decode(const ObjectDecoder& decoder, const std::string& stream) {
  WatchDecoder watch(&decoder);
  std::deque<WatchEvent> events;
  const absl::Status status = watch.Feed(stream, &events);
  std::string out;
  for (const WatchEvent& event : events) {
    absl::StrAppend(&out, static_cast<int>(event.type), " ",
                    event.object ? Describe(*event.object) : "-", " ", event.dropped.ToString(),
                    "\n");
  }
  absl::StrAppend(&out, status.ToString());
  return out;
}

void Compare(const std::string& stream) {
  const std::string fast = Decode(Fast(), stream);
  const std::string dom = Decode(Dom(), stream);
  if (fast != dom) {
    std::fprintf(stderr, "fast path:\n%s\nDOM path:\n%s\n", fast.c_str(), dom.c_str());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  // As a stream of its own, and as the object of one event.
  Compare(input);
  Compare(absl::StrCat(R"({"type":"ADDED","object":)", input, "}\n"));
  return 0;
}
