// The fast decode path (informer/compact_json.h) against the DOM path it replaces: the same
// events, byte for byte, or the same error, on the generated Pods and on tricky inputs.
#include <deque>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "informer/json.h"
#include "informer/k8s/watch_decoder.h"
#include "informer/object_decoder.h"
#include "informer/selectable_fields.h"
#include "informer/testing/objects.h"
#include "informer/transform.h"

namespace informer {
namespace k8s {
namespace {

using ::informer::testing::PodsResource;

// The paths both decoders extract: spec.nodeName (a field index's), the type meta the decoder
// may insert, metadata, nested arrays, a missing member.
const std::vector<std::string>& ExtractedPaths() {
  static const auto* paths = new std::vector<std::string>{
      "spec.nodeName", "kind",           "apiVersion", "metadata.labels.app",
      "status.phase",  "spec.c[*].n[1]", "missing.x",  "n"};
  return *paths;
}

// " path=values" for each of ExtractedPaths.
std::string ExtractedValues(const Object& object) {
  std::string out;
  for (const std::string& path : ExtractedPaths()) {
    absl::StrAppend(&out, " ", path, "=", absl::StrJoin(object.FieldValues(path), ","));
  }
  return out;
}

// Everything an Object exposes, on one line.
std::string Describe(const Object& object) {
  const ObjectMeta& m = object.meta();
  std::vector<std::string> refs;
  for (const OwnerReference& r : m.owner_references) {
    refs.push_back(
        absl::StrCat(r.api_version, "|", r.kind, "|", r.name, "|", r.uid, "|", r.controller));
  }
  auto map = [](const std::map<std::string, std::string>& values) {
    std::string out;
    for (const auto& [k, v] : values) absl::StrAppend(&out, k, "=", v, ";");
    return out;
  };
  return absl::StrCat("json=", object.json(), " apiVersion=", object.api_version(),
                      " kind=", object.kind(), " key=", object.key(), " uid=", m.uid,
                      " rv=", m.resource_version, " rvn=", object.resource_version_number(),
                      " generation=", m.generation, " labels=", map(m.labels),
                      " annotations=", map(m.annotations), " owners=", absl::StrJoin(refs, ","),
                      " deletion=", m.deletion_timestamp, ExtractedValues(object),
                      // Counts the extracted values (and the JSON's capacity) too, so it differs
                      // when a path was read from the JSON rather than extracted at decode.
                      " bytes=", object.ApproximateBytes());
}

// What a WatchDecoder makes of `stream` fed in chunks of `chunk` bytes (0 = whole): one line
// per event, then the status.
std::string DecodeStream(const ObjectDecoder& decoder, const std::string& stream,
                         size_t chunk = 0) {
  WatchDecoder watch(&decoder);
  std::deque<WatchEvent> events;
  absl::Status status;
  if (chunk == 0) chunk = stream.size();
  for (size_t pos = 0; pos < stream.size() && status.ok(); pos += chunk) {
    status = watch.Feed(absl::string_view(stream).substr(pos, chunk), &events);
  }
  std::string out;
  for (const WatchEvent& event : events) {
    absl::StrAppend(&out, static_cast<int>(event.type), " ",
                    event.object ? Describe(*event.object) : "(no object)",
                    " dropped=", event.dropped.ToString(), "\n");
  }
  absl::StrAppend(&out, status.ToString());
  return out;
}

// A fast decoder (the transforms it does itself) and a DOM-only one (the same transform behind
// a lambda, which the fast path does not recognise), both extracting ExtractedPaths().
struct Decoders {
  explicit Decoders(bool strip)
      : fast(PodsResource(), strip ? DefaultTransforms() : std::vector<Transform>{},
             ExtractedPaths()),
        dom(PodsResource(),
            strip ? std::vector<Transform>{[](rapidjson::Value& v,
                                              rapidjson::Document::AllocatorType& a) {
              return StripManagedFields(v, a);
            }}
                  : std::vector<Transform>{[](rapidjson::Value&,
                                              rapidjson::Document::AllocatorType&) {
                      return absl::OkStatus();
                    }},
            ExtractedPaths()) {}
  ObjectDecoder fast;
  ObjectDecoder dom;
};

// Whether the fast path takes `frame`.
bool FastTakes(const ObjectDecoder& decoder, const std::string& frame) {
  CompactEventType type;
  ObjectPtr object;
  return decoder.DecodeCompactEvent(frame, &type, &object);
}

std::string Frame(const std::string& object) {
  return absl::StrCat(R"({"type":"MODIFIED","object":)", object, "}");
}

std::vector<std::string> GeneratedPodEvents() {
  std::vector<std::string> lines;
  std::ifstream in(std::string(INFORMER_BENCH_DATA_DIR) + "/pods.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

TEST(CompactDecodeTest, GeneratedPodsDecodeByteIdenticallyToTheDomPath) {
  const std::vector<std::string> lines = GeneratedPodEvents();
  ASSERT_GE(lines.size(), 10u);
  for (bool strip : {true, false}) {
    Decoders decoders(strip);
    for (const std::string& line : lines) {
      ASSERT_TRUE(FastTakes(decoders.fast, line)) << line.substr(0, 200);
      EXPECT_EQ(DecodeStream(decoders.fast, line + "\n"), DecodeStream(decoders.dom, line + "\n"));
    }
    // And the whole stream at once, then split mid-event (the framing scan's path).
    std::string stream;
    for (const std::string& line : lines) absl::StrAppend(&stream, line, "\n");
    const std::string expected = DecodeStream(decoders.dom, stream);
    EXPECT_EQ(DecodeStream(decoders.fast, stream), expected);
    EXPECT_EQ(DecodeStream(decoders.fast, stream, 4096), expected);
    if (!strip) {
      EXPECT_THAT(expected, ::testing::HasSubstr("managedFields"));
    }
  }
}

// The pods informer extracts spec.nodeName and the API server's field-selector paths for Pods
// (nine paths): the fast path still takes every generated Pod and gives the DOM path's values,
// JSON and ApproximateBytes.
TEST(CompactDecodeTest, PodsInformersExtractedPathsTakeTheFastPathAndMatchTheDomPath) {
  std::vector<std::string> paths = {"spec.nodeName"};
  for (std::string& path : SelectableFieldPaths(PodsResource().gvr))
    paths.push_back(std::move(path));
  ASSERT_EQ(ExtractedFieldPaths(paths).size(), 9u);
  const ObjectDecoder fast(PodsResource(), DefaultTransforms(), paths);
  const ObjectDecoder dom(PodsResource(),
                          {[](rapidjson::Value& v, rapidjson::Document::AllocatorType& a) {
                            return StripManagedFields(v, a);
                          }},
                          paths);
  auto decode = [](const ObjectDecoder& decoder, const std::string& line) {
    WatchDecoder watch(&decoder);
    std::deque<WatchEvent> events;
    EXPECT_TRUE(watch.Feed(line + "\n", &events).ok());
    return events.size() == 1 ? events.front().object : nullptr;
  };
  size_t values = 0;
  for (const std::string& line : GeneratedPodEvents()) {
    ASSERT_TRUE(FastTakes(fast, line)) << line.substr(0, 200);
    const ObjectPtr from_fast = decode(fast, line);
    const ObjectPtr from_dom = decode(dom, line);
    ASSERT_NE(from_fast, nullptr);
    ASSERT_NE(from_dom, nullptr);
    EXPECT_EQ(from_fast->json(), from_dom->json());
    EXPECT_EQ(from_fast->ApproximateBytes(), from_dom->ApproximateBytes());
    for (const std::string& path : paths) {
      EXPECT_EQ(from_fast->FieldValues(path), from_dom->FieldValues(path)) << path;
      values += from_fast->FieldValues(path).size();
    }
  }
  EXPECT_GT(values, 0u);  // the sample Pods do have values on these paths
}

TEST(CompactDecodeTest, StrippedGeneratedPodsHaveNoManagedFields) {
  Decoders decoders(true);
  for (const std::string& line : GeneratedPodEvents()) {
    EXPECT_THAT(DecodeStream(decoders.fast, line + "\n"),
                ::testing::Not(::testing::HasSubstr("managedFields")));
  }
}

// Which path decodes a case.
enum Path { kDom, kFast, kFastUnlessStripping };

struct Case {
  const char* name;
  std::string object;  // the watch event's object
  Path path;
};

std::vector<Case> TrickyCases() {
  const std::string mf = R"("managedFields":[{"manager":"m","fieldsV1":{"f:a":{}}}])";
  std::vector<Case> cases = {
      {"no managedFields", R"({"metadata":{"name":"a","namespace":"n"},"spec":{}})", kFast},
      {"managedFields first", R"({"metadata":{)" + mf + R"(,"name":"a"}})", kFast},
      {"managedFields last", R"({"metadata":{"name":"a",)" + mf + "}}", kFast},
      {"managedFields middle", R"({"metadata":{"name":"a",)" + mf + R"(,"uid":"u"}})", kFast},
      {"managedFields only member", R"({"metadata":{)" + mf + "}}", kDom},
      {"escaped key managedFields",
       R"({"metadata":{"name":"a","managed\u0046ields":[{"x":1}],"uid":"u"}})", kFast},
      {"two managedFields", R"({"metadata":{"name":"a",)" + mf + "," + mf + "}}",
       kFastUnlessStripping},
      {"managedFields at top level stays", R"({)" + mf + R"(,"metadata":{"name":"a"}})", kFast},
      {"escaped name", R"({"metadata":{"n\u0061me":"a\u00e9\/b"}})", kFast},
      {"Go's HTML escapes", R"({"metadata":{"name":"a","labels":{"x":"\u003c\u003e\u0026"}}})",
       kFast},
      {"control escapes", R"({"metadata":{"name":"a"},"s":"\u001b\u001B\u0000\n\t\b\f\r\"\\"})",
       kFast},
      {"short escapes as \\u", R"({"metadata":{"name":"a"},"s":"\u000a\u0009"})", kFast},
      {"surrogate pair", R"({"metadata":{"name":"a"},"s":"\ud83d\ude00"})", kFast},
      {"raw UTF-8",
       "{\"metadata\":{\"name\":\"a\"},\"s\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}", kFast},
      {"lone high surrogate", R"({"metadata":{"name":"a"},"s":"\ud800x"})", kDom},
      {"lone low surrogate", R"({"metadata":{"name":"a"},"s":"\udc00"})", kDom},
      {"invalid UTF-8", "{\"metadata\":{\"name\":\"a\"},\"s\":\"\xff\"}", kDom},
      {"overlong UTF-8", "{\"metadata\":{\"name\":\"a\"},\"s\":\"\xc0\xaf\"}", kDom},
      {"invalid UTF-8 in stripped managedFields",
       "{\"metadata\":{\"name\":\"a\",\"managedFields\":[\"\xed\xa0\x80\"]}}", kDom},
      {"invalid UTF-8 in a key", "{\"metadata\":{\"name\":\"a\"},\"\xfe\":1}", kDom},
      {"raw control character", "{\"metadata\":{\"name\":\"a\"},\"s\":\"\x01\"}", kDom},
      {"not compact", R"({"metadata": {"name":"a"}})", kDom},
      {"not compact inside managedFields", R"({"metadata":{"name":"a","managedFields":[ ]}})",
       kDom},
      {"apiVersion and kind absent", R"({"metadata":{"name":"a"}})", kFast},
      {"kind only", R"({"kind":"Pod","metadata":{"name":"a"}})", kFast},
      {"apiVersion after metadata", R"({"metadata":{"name":"a"},"apiVersion":"v2"})", kFast},
      {"empty apiVersion first", R"({"apiVersion":"","kind":"Pod","metadata":{"name":"a"}})",
       kFast},
      {"null kind, empty apiVersion",
       R"({"kind":null,"apiVersion":"","metadata":{"name":"a"},"x":1})", kFast},
      {"null kind last", R"({"metadata":{"name":"a"},"kind":null})", kFast},
      {"apiVersion not a string", R"({"apiVersion":1,"metadata":{"name":"a"}})", kDom},
      {"two kinds", R"({"kind":"A","kind":"B","metadata":{"name":"a"}})", kDom},
      {"two metadata", R"({"metadata":{"name":"a"},"metadata":{"name":"b"}})", kDom},
      {"two names", R"({"metadata":{"name":"a","name":"b"}})", kDom},
      {"no name", R"({"metadata":{"namespace":"n"}})", kDom},
      {"empty name", R"({"metadata":{"name":""}})", kDom},
      {"metadata null", R"({"metadata":null})", kDom},
      {"name not a string", R"({"metadata":{"name":5}})", kDom},
      {"full metadata",
       R"({"metadata":{"name":"a","namespace":"n","uid":"u","resourceVersion":"42",)"
       R"("generation":7,"labels":{"a":"1","b":"2","a":"3"},"annotations":{},)"
       R"("ownerReferences":[{"apiVersion":"apps/v1","kind":"RS","name":"r","uid":"x",)"
       R"("controller":true,"blockOwnerDeletion":true},{"name":"s","controller":null}],)"
       R"("deletionTimestamp":"2026-01-01T00:00:00Z"},"spec":{"nodeName":"node-1"}})",
       kFast},
      {"null metadata fields",
       R"({"metadata":{"name":"a","namespace":null,"labels":null,"ownerReferences":null,)"
       R"("generation":null}})",
       kFast},
      {"label not a string", R"({"metadata":{"name":"a","labels":{"x":1}}})", kDom},
      {"owner not an object", R"({"metadata":{"name":"a","ownerReferences":[1]}})", kDom},
      {"generation too big", R"({"metadata":{"name":"a","generation":18446744073709551615}})",
       kDom},
      {"integers",
       R"({"metadata":{"name":"a"},"n":[0,-1,18446744073709551615,)"
       R"(-9223372036854775808,123456789012345678]})",
       kFast},
      {"integer past 64 bits", R"({"metadata":{"name":"a"},"n":18446744073709551616})", kDom},
      {"minus zero", R"({"metadata":{"name":"a"},"n":-0})", kDom},
      {"fraction", R"({"metadata":{"name":"a"},"n":1.50})", kDom},
      {"exponent", R"({"metadata":{"name":"a"},"n":1e3})", kDom},
      {"leading zero", R"({"metadata":{"name":"a"},"n":01})", kDom},
      {"literals", R"({"metadata":{"name":"a"},"l":[true,false,null,{},[],""]})", kFast},
      {"truncated", R"({"metadata":{"name":"a"},"s":[1,2)", kDom},
      {"bad literal", R"({"metadata":{"name":"a"},"s":tru})", kDom},
      {"trailing comma", R"({"metadata":{"name":"a"},})", kDom},
      {"missing colon", R"({"metadata":{"name" "a"}})", kDom},
      {"not an object", R"(["metadata"])", kDom},
      {"spec.nodeName extracted", R"({"metadata":{"name":"a"},"spec":{"nodeName":"n\u0031"}})",
       kFast},
      {"two specs: the first is extracted",
       R"({"spec":{"nodeName":"x"},"metadata":{"name":"a"},"spec":{"nodeName":"y"}})", kFast},
      {"escaped spec key", R"({"metadata":{"name":"a"},"sp\u0065c":{"nodeName":"x"}})", kFast},
      {"extracted value with escapes",
       R"({"metadata":{"name":"a"},"spec":{"nodeName":"a\"b\\c\nd\u0001e\u00e9\/"}})", kFast},
      {"escaped keys before the extracted one",
       R"({"metadata":{"name":"a"},"spec":{"x\"y":{"nodeName":"no"},"\n":1,"nodeName":"yes"}})",
       kFast},
      {"spec not an object", R"({"metadata":{"name":"a"},"spec":["nodeName"]})", kFast},
      {"nodeName not a string", R"({"metadata":{"name":"a"},"spec":{"nodeName":-12}})", kFast},
      {"nested arrays extracted",
       R"({"metadata":{"name":"a"},"spec":{"c":[{"n":[1,"b"]},{"n":[]},{"n":[true,null]}]}})",
       kFast},
      {"top-level scalar extracted", R"({"n":18446744073709551615,"metadata":{"name":"a"}})",
       kFast},
      {"top-level value after stripped managedFields",
       R"({"metadata":{"name":"a",)" + mf + R"(,"labels":{"app":"x"}},"status":{"phase":"Up"}})",
       kFast},
  };
  // Nesting: the frame is level 1 and the object level 2, so 9998 more levels are the most the
  // API server's limit (and ParseJson's) allows.
  auto nested = [](int levels) {
    return absl::StrCat(R"({"metadata":{"name":"a"},"x":)", std::string(levels, '['),
                        std::string(levels, ']'), "}");
  };
  cases.push_back({"nesting at the limit", nested(kMaxJsonDepth - 2), kFast});
  cases.push_back({"nesting past the limit", nested(kMaxJsonDepth - 1), kDom});
  cases.push_back({"nesting far past the limit", nested(3 * kMaxJsonDepth), kDom});
  return cases;
}

TEST(CompactDecodeTest, TrickyInputsDecodeAsTheDomPathDoes) {
  for (bool strip : {true, false}) {
    Decoders decoders(strip);
    for (const Case& c : TrickyCases()) {
      SCOPED_TRACE(absl::StrCat(c.name, " strip=", strip));
      const std::string frame = Frame(c.object);
      EXPECT_EQ(FastTakes(decoders.fast, frame),
                c.path == kFast || (c.path == kFastUnlessStripping && !strip));
      // Newline-terminated (Feed's fast path), bare (DecodeFrame's), two events, and in
      // chunks of 7 bytes.
      for (const std::string& stream : {frame + "\n", frame, frame + "\n" + frame + "\n"}) {
        const std::string expected = DecodeStream(decoders.dom, stream);
        EXPECT_EQ(DecodeStream(decoders.fast, stream), expected);
        EXPECT_EQ(DecodeStream(decoders.fast, stream, 7), expected);
      }
    }
  }
}

TEST(CompactDecodeTest, EscapedManagedFieldsKeyIsStripped) {
  Decoders decoders(true);
  const std::string out = DecodeStream(
      decoders.fast,
      Frame(R"({"metadata":{"name":"a","managed\u0046ields":[{"x":1}],"uid":"u"}})") + "\n");
  EXPECT_THAT(out,
              ::testing::HasSubstr(
                  R"(json={"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","uid":"u"}})"));
}

TEST(CompactDecodeTest, OtherEventTypesAndFramesTakeTheDomPath) {
  Decoders decoders(true);
  EXPECT_FALSE(FastTakes(decoders.fast, R"({"type":"BOOKMARK","object":{"metadata":{}}})"));
  EXPECT_FALSE(FastTakes(decoders.fast, R"({"type":"ERROR","object":{"code":410}})"));
  EXPECT_FALSE(FastTakes(decoders.fast, R"({"object":{"metadata":{"name":"a"}},"type":"ADDED"})"));
  EXPECT_FALSE(FastTakes(decoders.fast, R"({"type":"ADDED","object":{"metadata":{"name":"a"}}}x)"));
  EXPECT_TRUE(FastTakes(decoders.fast, R"({"type":"ADDED","object":{"metadata":{"name":"a"}}})"));
  // A transform the fast path does not do itself turns it off.
  ObjectDecoder redacting(PodsResource(), {StripManagedFields, RedactSecretData});
  EXPECT_FALSE(FastTakes(redacting, R"({"type":"ADDED","object":{"metadata":{"name":"a"}}})"));
}

TEST(CompactDecodeTest, MalformedEventsFailWithTheDomPathsOffset) {
  Decoders decoders(true);
  const std::string out = DecodeStream(
      decoders.fast, "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\xff\"}}}\n");
  EXPECT_THAT(out, ::testing::HasSubstr("INVALID_ARGUMENT"));
  EXPECT_THAT(out, ::testing::HasSubstr("offset"));
  EXPECT_THAT(out, ::testing::HasSubstr("invalid UTF-8"));
}

}  // namespace
}  // namespace k8s
}  // namespace informer
