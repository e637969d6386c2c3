#include "informer/object.h"

#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "informer/field_path.h"
#include "informer/json.h"
#include "informer/testing/objects.h"

namespace informer {
namespace {

using ::informer::testing::MakeObject;
using ::informer::testing::MustParseObject;
using ::informer::testing::PodLikeJson;
using ::informer::testing::TrainedPodCompressor;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

TEST(ObjectTest, K1_KeyIsNamespaceSlashName) {
  EXPECT_EQ(MakeObject("default", "web", "1")->key(), "default/web");
  EXPECT_EQ(ObjectKey("kube-system", "dns"), "kube-system/dns");
}

TEST(ObjectTest, K1_ClusterScopedKeyIsName) {
  EXPECT_EQ(MakeObject("", "node-1", "1")->key(), "node-1");
  EXPECT_EQ(ObjectKey("", "node-1"), "node-1");
}

TEST(ObjectTest, K2_TombstoneYieldsItsOwnKey) {
  ObjectPtr last = MakeObject("ns", "old-name", "7");
  DeltaObject tombstone = DeletedFinalStateUnknown{"ns/recorded-key", last};
  EXPECT_EQ(KeyOf(tombstone), "ns/recorded-key");
  EXPECT_EQ(ObjectOf(tombstone), last);
}

TEST(ObjectTest, K2_PlainObjectYieldsObjectKey) {
  ObjectPtr object = MakeObject("ns", "a", "7");
  DeltaObject delta = object;
  EXPECT_EQ(KeyOf(delta), "ns/a");
  EXPECT_EQ(ObjectOf(delta), object);
}

TEST(ObjectTest, ParsesMetadata) {
  ObjectPtr object = MustParseObject(R"({
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {
      "name": "web", "namespace": "prod", "uid": "u-1", "resourceVersion": "12345",
      "generation": 4,
      "labels": {"app": "web", "tier": "front"},
      "annotations": {"note": "hi"},
      "ownerReferences": [
        {"apiVersion": "v1", "kind": "Owner", "name": "o1", "uid": "ou1", "controller": true},
        {"apiVersion": "v1", "kind": "Owner", "name": "o2", "uid": "ou2"}
      ],
      "deletionTimestamp": "2024-01-02T03:04:05Z"
    },
    "spec": {"replicas": 3}
  })");
  const ObjectMeta& meta = object->meta();
  EXPECT_EQ(object->api_version(), "apps/v1");
  EXPECT_EQ(object->kind(), "Deployment");
  EXPECT_EQ(meta.name, "web");
  EXPECT_EQ(meta.namespace_name, "prod");
  EXPECT_EQ(meta.uid, "u-1");
  EXPECT_EQ(meta.resource_version, "12345");
  EXPECT_EQ(object->resource_version_number(), 12345u);
  EXPECT_EQ(meta.generation, 4);
  EXPECT_EQ(meta.labels, (std::map<std::string, std::string>{{"app", "web"}, {"tier", "front"}}));
  EXPECT_EQ(meta.annotations, (std::map<std::string, std::string>{{"note", "hi"}}));
  ASSERT_EQ(meta.owner_references.size(), 2u);
  EXPECT_EQ(meta.owner_references[0].name, "o1");
  EXPECT_EQ(meta.owner_references[0].uid, "ou1");
  EXPECT_EQ(meta.owner_references[0].kind, "Owner");
  EXPECT_EQ(meta.owner_references[0].api_version, "v1");
  EXPECT_TRUE(meta.owner_references[0].controller);
  EXPECT_FALSE(meta.owner_references[1].controller);
  EXPECT_EQ(meta.deletion_timestamp, "2024-01-02T03:04:05Z");
}

TEST(ObjectTest, JsonIsCompactAndKeepsMemberOrder) {
  ObjectPtr object = MustParseObject(
      R"({ "apiVersion": "v1", "kind": "Pod", "metadata": { "name": "a" }, "z": 1, "b": [1, 2] })");
  EXPECT_EQ(object->json(),
            R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"},"z":1,"b":[1,2]})");
}

TEST(ObjectTest, U1_MissingTypeMetaIsInsertedFirst) {
  absl::StatusOr<ObjectPtr> object =
      Object::FromJson(R"({"metadata":{"name":"a","namespace":"n"},"data":{}})", "v1", "ConfigMap");
  ASSERT_TRUE(object.ok()) << object.status();
  EXPECT_EQ((*object)->api_version(), "v1");
  EXPECT_EQ((*object)->kind(), "ConfigMap");
  EXPECT_EQ(
      (*object)->json(),
      R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"n"},"data":{}})");
}

TEST(ObjectTest, U1_EmptyTypeMetaIsReplacedByDefaults) {
  absl::StatusOr<ObjectPtr> object = Object::FromJson(
      R"({"kind":"","apiVersion":"","metadata":{"name":"a"}})", "apps/v1", "Deployment");
  ASSERT_TRUE(object.ok()) << object.status();
  EXPECT_EQ((*object)->json(),
            R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"a"}})");
}

TEST(ObjectTest, U1_PresentTypeMetaIsKept) {
  absl::StatusOr<ObjectPtr> object = Object::FromJson(
      R"({"kind":"Pod","apiVersion":"v1","metadata":{"name":"a"}})", "apps/v1", "Deployment");
  ASSERT_TRUE(object.ok()) << object.status();
  EXPECT_EQ((*object)->kind(), "Pod");
  EXPECT_EQ((*object)->api_version(), "v1");
  EXPECT_EQ((*object)->json(), R"({"kind":"Pod","apiVersion":"v1","metadata":{"name":"a"}})");
}

TEST(ObjectTest, U1_OnlyTheMissingFieldIsInserted) {
  absl::StatusOr<ObjectPtr> object =
      Object::FromJson(R"({"metadata":{"name":"a"},"kind":"Pod"})", "v1", "Ignored");
  ASSERT_TRUE(object.ok()) << object.status();
  EXPECT_EQ((*object)->json(), R"({"apiVersion":"v1","metadata":{"name":"a"},"kind":"Pod"})");
}

TEST(ObjectTest, NoDefaultsLeavesTypeMetaAbsent) {
  ObjectPtr object = MustParseObject(R"({"metadata":{"name":"a"}})");
  EXPECT_EQ(object->kind(), "");
  EXPECT_EQ(object->api_version(), "");
  EXPECT_EQ(object->json(), R"({"metadata":{"name":"a"}})");
}

TEST(ObjectTest, NonNumericResourceVersionGivesZero) {
  EXPECT_EQ(MakeObject("n", "a", "abc")->resource_version_number(), 0u);
  EXPECT_EQ(MakeObject("n", "a", "")->resource_version_number(), 0u);
  EXPECT_EQ(MakeObject("n", "a", "18446744073709551615")->resource_version_number(),
            18446744073709551615u);
}

TEST(ObjectTest, StringsSurviveTheRoundTrip) {
  ObjectPtr object = MustParseObject(
      R"({"metadata":{"name":"a","annotations":{"q":"say \"hi\"\n\\ caf\u00e9 \ud83d\ude00"}}})");
  EXPECT_EQ(object->meta().annotations.at("q"), "say \"hi\"\n\\ caf\xc3\xa9 \xf0\x9f\x98\x80");
  ObjectPtr again = MustParseObject(object->json());
  EXPECT_EQ(again->meta().annotations, object->meta().annotations);
  EXPECT_EQ(again->json(), object->json());
}

TEST(ObjectTest, MalformedJsonIsInvalidArgumentWithOffset) {
  absl::StatusOr<ObjectPtr> object = Object::FromJson(R"({"metadata": {"name": "a"})");
  ASSERT_FALSE(object.ok());
  EXPECT_EQ(object.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(object.status().message(), HasSubstr("offset 26"));
}

TEST(ObjectTest, RejectsInvalidShapes) {
  const char* cases[] = {
      "",
      "[]",
      "\"text\"",
      "42",
      "null",
      R"({})",
      R"({"metadata":null})",
      R"({"metadata":[]})",
      R"({"metadata":{}})",
      R"({"metadata":{"name":""}})",
      R"({"metadata":{"name":7}})",
      R"({"metadata":{"name":"a","namespace":1}})",
      R"({"metadata":{"name":"a","labels":[]}})",
      R"({"metadata":{"name":"a","labels":{"k":1}}})",
      R"({"metadata":{"name":"a","annotations":{"k":{}}}})",
      R"({"metadata":{"name":"a","generation":"x"}})",
      R"({"metadata":{"name":"a","generation":1.5}})",
      R"({"metadata":{"name":"a","ownerReferences":{}}})",
      R"({"metadata":{"name":"a","ownerReferences":[1]}})",
      R"({"metadata":{"name":"a","ownerReferences":[{"controller":"yes"}]}})",
      R"({"metadata":{"name":"a","resourceVersion":5}})",
      R"({"kind":5,"metadata":{"name":"a"}})",
  };
  for (const char* json : cases) {
    absl::StatusOr<ObjectPtr> object = Object::FromJson(json, "v1", "Pod");
    EXPECT_EQ(object.status().code(), absl::StatusCode::kInvalidArgument) << json;
  }
}

TEST(ObjectTest, NullOptionalMetadataFieldsAreAbsent) {
  ObjectPtr object = MustParseObject(
      R"({"metadata":{"name":"a","namespace":null,"labels":null,"ownerReferences":null}})");
  EXPECT_EQ(object->key(), "a");
  EXPECT_THAT(object->meta().labels, IsEmpty());
}

TEST(ObjectTest, FieldValuesNestedScalars) {
  ObjectPtr object = MakeObject(
      "ns", "a", "1", {},
      R"("spec":{"nodeName":"n1","replicas":3,"ratio":1.50,"paused":false,"none":null,"big":12345678901234567890},"status":{"phase":"Running"})");
  EXPECT_THAT(object->FieldValues("spec.nodeName"), ElementsAre("n1"));
  EXPECT_THAT(object->FieldValues("spec.replicas"), ElementsAre("3"));
  // The JSON is re-written by RapidJSON, which prints doubles in their shortest form.
  EXPECT_THAT(object->FieldValues("spec.ratio"), ElementsAre("1.5"));
  EXPECT_THAT(object->FieldValues("spec.paused"), ElementsAre("false"));
  EXPECT_THAT(object->FieldValues("spec.big"), ElementsAre("12345678901234567890"));
  EXPECT_THAT(object->FieldValues("status.phase"), ElementsAre("Running"));
  EXPECT_THAT(object->FieldValues("metadata.name"), ElementsAre("a"));
  EXPECT_THAT(object->FieldValues("metadata.namespace"), ElementsAre("ns"));
  EXPECT_THAT(object->FieldValues("metadata.resourceVersion"), ElementsAre("1"));
  EXPECT_THAT(object->FieldValues("kind"), ElementsAre("Pod"));
}

TEST(ObjectTest, FieldValuesMissingOrNonScalarGiveNothing) {
  ObjectPtr object =
      MakeObject("", "a", "1", {}, R"("spec":{"none":null,"list":[1,2],"map":{"k":"v"}})");
  EXPECT_THAT(object->FieldValues("spec.missing"), IsEmpty());
  EXPECT_THAT(object->FieldValues("nothing.here.at.all"), IsEmpty());
  EXPECT_THAT(object->FieldValues("spec.none"), IsEmpty());
  EXPECT_THAT(object->FieldValues("spec.list"), IsEmpty());
  EXPECT_THAT(object->FieldValues("spec.map"), IsEmpty());
  EXPECT_THAT(object->FieldValues("spec.map.k.deeper"), IsEmpty());
  EXPECT_THAT(object->FieldValues("metadata.namespace"), IsEmpty());
}

TEST(ObjectTest, FieldValuesArrays) {
  ObjectPtr object = MakeObject("ns", "a", "1", {},
                                R"("spec":{"containers":[{"name":"c1","ports":[{"p":80},{"p":443}]},
                                                        {"name":"c2","ports":[{"p":8080}]},
                                                        {"image":"no-name"}],
                                           "finalizers":["x","y"]})");
  EXPECT_THAT(object->FieldValues("spec.containers[*].name"), ElementsAre("c1", "c2"));
  EXPECT_THAT(object->FieldValues("spec.containers[1].name"), ElementsAre("c2"));
  EXPECT_THAT(object->FieldValues("spec.containers[5].name"), IsEmpty());
  EXPECT_THAT(object->FieldValues("spec.containers[*].ports[*].p"),
              ElementsAre("80", "443", "8080"));
  EXPECT_THAT(object->FieldValues("spec.finalizers[*]"), ElementsAre("x", "y"));
  EXPECT_THAT(object->FieldValues("spec.finalizers[0]"), ElementsAre("x"));
  EXPECT_THAT(object->FieldValues("spec.nodeName[*]"), IsEmpty());
}

TEST(ObjectTest, FieldValuesOwnerReferencesFanOut) {
  ObjectPtr object = MustParseObject(R"({"metadata":{"name":"a","ownerReferences":[
      {"apiVersion":"v1","kind":"K","name":"o1","uid":"u1"},
      {"apiVersion":"v1","kind":"K","name":"o2","uid":"u2"}]}})");
  EXPECT_THAT(object->FieldValues("metadata.ownerReferences[*].uid"), ElementsAre("u1", "u2"));
}

TEST(ObjectTest, FieldValuesLabelKeysMayContainDotsAndSlashes) {
  ObjectPtr object = MustParseObject(R"({"metadata":{"name":"a",
      "labels":{"app.kubernetes.io/name":"web","app":"x"},
      "annotations":{"example.com/owner":"team-a"}}})");
  EXPECT_THAT(object->FieldValues("metadata.labels.app.kubernetes.io/name"), ElementsAre("web"));
  EXPECT_THAT(object->FieldValues("metadata.labels.app"), ElementsAre("x"));
  EXPECT_THAT(object->FieldValues("metadata.labels.missing"), IsEmpty());
  EXPECT_THAT(object->FieldValues("metadata.annotations.example.com/owner"), ElementsAre("team-a"));
  EXPECT_THAT(object->FieldValues("metadata.labels"), IsEmpty());
}

TEST(ObjectTest, FieldValuesMalformedPathsGiveNothing) {
  ObjectPtr object = MakeObject("ns", "a", "1", {}, R"("spec":{"list":["x"]})");
  for (const char* path :
       {"", ".", "spec.", ".spec", "spec..list", "spec.list[", "spec.list[]", "spec.list[x]",
        "spec.list[-1]", "spec.list]", "spec.list[0]x", "metadata.labels."}) {
    EXPECT_THAT(object->FieldValues(path), IsEmpty()) << path;
  }
}

TEST(FieldPathTest, ParsesMembersIndexesAndFanOut) {
  absl::StatusOr<std::vector<FieldPathStep>> steps = ParseFieldPath("spec.containers[*].ports[2]");
  ASSERT_TRUE(steps.ok()) << steps.status();
  ASSERT_EQ(steps->size(), 5u);
  EXPECT_EQ((*steps)[0].member, "spec");
  EXPECT_EQ((*steps)[1].member, "containers");
  EXPECT_EQ((*steps)[2].kind, FieldPathStep::Kind::kEach);
  EXPECT_EQ((*steps)[3].member, "ports");
  EXPECT_EQ((*steps)[4].kind, FieldPathStep::Kind::kIndex);
  EXPECT_EQ((*steps)[4].index, 2u);
}

TEST(FieldPathTest, LabelAndAnnotationKeysTakeTheRestOfThePath) {
  absl::StatusOr<std::vector<FieldPathStep>> steps =
      ParseFieldPath("metadata.annotations.a.b/c[0]");
  ASSERT_TRUE(steps.ok()) << steps.status();
  ASSERT_EQ(steps->size(), 3u);
  EXPECT_EQ((*steps)[2].member, "a.b/c[0]");
}

TEST(FieldPathTest, ErrorsNamePositionAndExpectation) {
  struct Case {
    const char* path;
    size_t position;
    const char* expected;
  };
  for (const Case& c : std::vector<Case>{{"", 0, "a field name"},
                                         {"a..b", 2, "a field name"},
                                         {"a.", 2, "a field name"},
                                         {"a[0", 3, "']'"},
                                         {"a[x]", 2, "'*' or an array index"},
                                         {"a[0]b", 4, "'.' or '['"},
                                         {"a]", 1, "'.' or '['"},
                                         {"metadata.labels.", 16, "a key"}}) {
    std::vector<FieldPathStep> steps;
    FieldPathError error;
    EXPECT_FALSE(ParseFieldPath(c.path, &steps, &error)) << c.path;
    EXPECT_EQ(error.position, c.position) << c.path;
    EXPECT_EQ(error.expected, c.expected) << c.path;
    absl::StatusOr<std::vector<FieldPathStep>> parsed = ParseFieldPath(c.path);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << c.path;
  }
}

TEST(ObjectTest, ApproximateBytesGrowsWithContent) {
  ObjectPtr small = MakeObject("ns", "a", "1");
  ObjectPtr large = MakeObject("ns", "a", "1", {{"k", std::string(1000, 'v')}},
                               absl::StrCat(R"("data":")", std::string(10000, 'x'), "\""));
  EXPECT_GT(small->ApproximateBytes(), small->json().size());
  EXPECT_GT(large->ApproximateBytes(), small->ApproximateBytes() + 11000);
  EXPECT_LT(large->ApproximateBytes(), 4 * (large->json().size() + 1000));
}

TEST(TestingObjectsTest, MakeObjectAndMakeConfigMapBuildWhatTheySay) {
  ObjectPtr pod = MakeObject("ns", "web", "42", {{"app", "web"}}, R"("spec":{"nodeName":"n1"})");
  EXPECT_EQ(pod->json(),
            R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"ns",)"
            R"("uid":"uid-ns/web","resourceVersion":"42","labels":{"app":"web"}},)"
            R"("spec":{"nodeName":"n1"}})");
  EXPECT_EQ(pod->resource_version_number(), 42u);
  ObjectPtr node = MakeObject("", "node-\"1\"", "1");
  EXPECT_EQ(node->key(), "node-\"1\"");
  ObjectPtr config_map = ::informer::testing::MakeConfigMap("ns", "cm", "3", {{"k", "v"}});
  EXPECT_EQ(config_map->kind(), "ConfigMap");
  EXPECT_THAT(config_map->FieldValues("data.k"), ElementsAre("v"));
}

// --- Hostile JSON (issue 16): parsed iteratively, nesting capped as the API server caps it,
// strings checked to be UTF-8.

// An object with metadata.name and a member nested `depth` levels deep in total.
std::string NestedObject(int depth) {
  std::string json = R"({"metadata":{"name":"deep"},"spec":)";
  for (int i = 2; i < depth; ++i) json += '[';
  json += "1";
  for (int i = 2; i < depth; ++i) json += ']';
  json += '}';
  return json;
}

TEST(ObjectTest, JsonAsDeepAsTheApiServerAllowsIsAccepted) {
  // 10000 levels: the object, then 9999 more of arrays and the innermost value's array.
  absl::StatusOr<ObjectPtr> object = Object::FromJson(NestedObject(10000 + 1), "v1", "ConfigMap");
  ASSERT_TRUE(object.ok()) << object.status();
  EXPECT_EQ((*object)->meta().name, "deep");
}

TEST(ObjectTest, JsonNestedDeeperThanTenThousandIsRefusedWithoutRecursion) {
  // 100 000 levels: a recursive parser would need megabytes of stack.
  absl::StatusOr<ObjectPtr> object = Object::FromJson(NestedObject(100000), "v1", "ConfigMap");
  EXPECT_EQ(object.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(object.status().message(), HasSubstr("nested deeper than 10000 levels"));
}

TEST(ObjectTest, InvalidUtf8InAStringIsRefused) {
  const std::string json = "{\"metadata\":{\"name\":\"x\"},\"data\":{\"k\":\"\xff\xfe\"}}";
  absl::StatusOr<ObjectPtr> object = Object::FromJson(json, "v1", "ConfigMap");
  EXPECT_EQ(object.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(object.status().message(), HasSubstr("invalid UTF-8"));
  // Valid multi-byte UTF-8 passes.
  EXPECT_TRUE(Object::FromJson("{\"metadata\":{\"name\":\"x\"},\"d\":\"gr\xc3\xbc\xc3\x9f\"}", "v1",
                               "ConfigMap")
                  .ok());
}

// Numbers are converted exactly, whatever their form; found by fuzz_object_json: RapidJSON's own
// full-precision conversion hit undefined behaviour on a long run of zeros.
TEST(ObjectTest, NumbersKeepTheirValueThroughParsingAndWriting) {
  absl::StatusOr<ObjectPtr> object = Object::FromJson(
      R"({"metadata":{"name":"n"},"a":[0.0000000000000000000000000000000000000000,)"
      R"(9007199254740993,18446744073709551615,-9223372036854775808,-0,-2147483649,)"
      R"(4294967296,0.1,1.7976931348623157e308,5e-324,18446744073709551616,1.5E3]})",
      "v1", "ConfigMap");
  ASSERT_TRUE(object.ok()) << object.status();
  EXPECT_THAT((*object)->json(),
              HasSubstr(R"("a":[0.0,9007199254740993,18446744073709551615,-9223372036854775808,)"
                        R"(0,-2147483649,4294967296,0.1,1.7976931348623157e308,5e-324,)"
                        R"(18446744073709553000.0,1500.0])"));
}

TEST(ObjectTest, NumberTooBigForADoubleIsRefused) {
  absl::StatusOr<ObjectPtr> object =
      Object::FromJson(R"({"metadata":{"name":"n"},"a":1e400})", "v1", "ConfigMap");
  EXPECT_EQ(object.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(object.status().message(), HasSubstr("too big to be stored in double"));
}

// Field values extracted at decode time answer exactly as reading the JSON does, for every
// kind of value; a non-integer number is left to the JSON (its text is not in the DOM).
TEST(ObjectTest, ExtractedFieldValuesAnswerAsTheJsonDoes) {
  const std::string json =
      R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"ns"},)"
      R"("spec":{"nodeName":"node-1","hostNetwork":true,"priority":-7,"big":18446744073709551615,)"
      R"("ratio":0.1,"sci":1e3,"containers":[{"name":"a","ports":[{"containerPort":80}]},)"
      R"({"name":"b","ports":[{"containerPort":443},{"containerPort":8443}]}],"nothing":null}})";
  const std::vector<std::string> paths = {"spec.nodeName",
                                          "spec.hostNetwork",
                                          "spec.priority",
                                          "spec.big",
                                          "spec.ratio",
                                          "spec.sci",
                                          "spec.missing",
                                          "spec.nothing",
                                          "spec.containers[*].name",
                                          "spec.containers[1].ports[*].containerPort",
                                          "spec.containers",
                                          "not a path["};
  auto extract = std::make_shared<const ExtractedFieldPaths>(paths);
  EXPECT_EQ(extract->size(), paths.size() - 1);  // the malformed path is left out
  rapidjson::Document document;
  ASSERT_TRUE(ParseJson(json, &document).ok());
  absl::StatusOr<ObjectPtr> extracted =
      Object::FromJsonValue(document, document.GetAllocator(), "", "", extract);
  ASSERT_TRUE(extracted.ok()) << extracted.status();
  ObjectPtr plain = MustParseObject(json);
  for (const std::string& path : paths) {
    EXPECT_EQ((*extracted)->FieldValues(path), plain->FieldValues(path)) << path;
  }
  EXPECT_THAT((*extracted)->FieldValues("spec.nodeName"), ElementsAre("node-1"));
  EXPECT_THAT((*extracted)->FieldValues("spec.big"), ElementsAre("18446744073709551615"));
  EXPECT_THAT((*extracted)->FieldValues("spec.ratio"), ElementsAre("0.1"));  // from the JSON
  EXPECT_THAT((*extracted)->FieldValues("spec.containers[1].ports[*].containerPort"),
              ElementsAre("443", "8443"));
  EXPECT_EQ((*extracted)->json(), plain->json());
  EXPECT_GT((*extracted)->ApproximateBytes(), plain->ApproximateBytes());
}

TEST(ObjectTest, ACompressedObjectAnswersEveryReadAsThePlainOneDoes) {
  std::shared_ptr<JsonCompressor> compressor = TrainedPodCompressor();
  const std::string json = PodLikeJson(42);
  const ObjectPtr plain = MustParseObject(json);
  const ObjectPtr compressed = MustParseObject(json, "", "", compressor.get());
  ASSERT_FALSE(plain->json_compressed());
  ASSERT_TRUE(compressed->json_compressed());
  EXPECT_EQ(compressed->json(), json);
  EXPECT_EQ(compressed->json_size(), json.size());
  std::string buffer;
  EXPECT_EQ(compressed->PlainJson(&buffer), json);
  EXPECT_EQ(compressed->key(), plain->key());
  EXPECT_EQ(compressed->meta().labels, plain->meta().labels);
  // Paths neither in the metadata nor extracted are read from the (decompressed) JSON.
  for (const char* path : {"spec.containers[*].image", "spec.tolerations[*].tolerationSeconds",
                           "status.podIP", "spec.nodeName", "metadata.ownerReferences[0].uid"}) {
    EXPECT_EQ(compressed->FieldValues(path), plain->FieldValues(path)) << path;
    EXPECT_THAT(plain->FieldValues(path), ::testing::Not(IsEmpty())) << path;
  }
  // The cache counts the compressed bytes: a quarter of the plain ones or less for this Pod.
  EXPECT_LT(compressed->ApproximateBytes() - (plain->ApproximateBytes() - json.size()),
            json.size() / 4);
}

TEST(ObjectTest, SharedJsonDecompressesOnceForEveryoneHoldingItAndFreesIt) {
  std::shared_ptr<JsonCompressor> compressor = TrainedPodCompressor();
  ObjectPtr object = MustParseObject(PodLikeJson(7), "", "", compressor.get());
  ASSERT_TRUE(object->json_compressed());
  std::shared_ptr<const std::string> first = Object::SharedJson(object);
  std::shared_ptr<const std::string> second = Object::SharedJson(object);
  EXPECT_EQ(first.get(), second.get()) << "held text must be shared, not decompressed again";
  EXPECT_EQ(*first, PodLikeJson(7));
  std::weak_ptr<const std::string> text = first;
  std::weak_ptr<const Object> owner = object;
  first.reset();
  object.reset();
  second.reset();
  EXPECT_FALSE(text.expired()) << "the last texts decompressed are kept a little longer";
  EXPECT_FALSE(owner.expired()) << "the shared text keeps its object alive";
  // 4 096 more texts decompressed push it out of the ring.
  for (int i = 0; i < 4096; ++i) {
    Object::SharedJson(MustParseObject(PodLikeJson(100 + i), "", "", compressor.get()));
  }
  EXPECT_TRUE(text.expired());
  EXPECT_TRUE(owner.expired()) << "the object must not be kept alive by its own text";
}

// Streams taking and dropping one object's text at once (ThreadSanitizer checks the memo).
TEST(ObjectTest, SharedJsonFromManyThreadsAtOnceGivesTheTextEveryTime) {
  std::shared_ptr<JsonCompressor> compressor = TrainedPodCompressor();
  const std::string json = PodLikeJson(11);
  ObjectPtr object = MustParseObject(json, "", "", compressor.get());
  ASSERT_TRUE(object->json_compressed());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      std::shared_ptr<const std::string> kept;
      for (int i = 0; i < 2000; ++i) {
        std::shared_ptr<const std::string> text = Object::SharedJson(object);
        ASSERT_EQ(*text, json);
        if (i % 3 == 0) kept = std::move(text);  // sometimes held across the next call
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
}

TEST(ObjectTest, SharedJsonOfAPlainObjectIsItsOwnString) {
  ObjectPtr object = MustParseObject(PodLikeJson(7));
  std::shared_ptr<const std::string> text = Object::SharedJson(object);
  EXPECT_EQ(*text, PodLikeJson(7));
  std::string unused;
  EXPECT_EQ(text->data(), object->PlainJson(&unused).data());
  std::weak_ptr<const Object> owner = object;
  object.reset();
  EXPECT_FALSE(owner.expired());
  text.reset();
  EXPECT_TRUE(owner.expired());
}

}  // namespace
}  // namespace informer
