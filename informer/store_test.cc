#include "informer/store.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "informer/testing/objects.h"
#include "rapidjson/document.h"

namespace informer {
namespace {

using ::informer::testing::MakeObject;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::vector<std::string> Keys(const std::vector<ObjectPtr>& objects) {
  std::vector<std::string> keys;
  for (const ObjectPtr& object : objects) keys.push_back(object->key());
  return keys;
}

std::vector<std::string> Keys(const absl::StatusOr<std::vector<ObjectPtr>>& objects) {
  EXPECT_TRUE(objects.ok()) << objects.status();
  return objects.ok() ? Keys(*objects) : std::vector<std::string>();
}

std::vector<std::string> Values(const absl::StatusOr<std::vector<std::string>>& values) {
  EXPECT_TRUE(values.ok()) << values.status();
  return values.ok() ? *values : std::vector<std::string>();
}

// A filter parsed from selectors (both must parse).
ObjectFilter FilterOf(absl::string_view namespace_name, absl::string_view labels,
                      absl::string_view fields = "") {
  ObjectFilter filter;
  filter.namespace_name = std::string(namespace_name);
  filter.labels = *LabelSelector::Parse(labels);
  filter.fields = *FieldSelector::Parse(fields);
  return filter;
}

std::vector<std::string> Matching(const std::vector<ObjectPtr>& objects,
                                  const ObjectFilter& filter) {
  std::vector<std::string> keys;
  for (const ObjectPtr& object : objects) {
    if (filter.Matches(*object)) keys.push_back(object->key());
  }
  return keys;
}

// Forty objects, thirty in namespace "big" and ten in "small": app=web (20 of them), app=db
// (4) or no app label; nodes n0-n9, four objects each.
Store* CandidateStore() {
  auto* store =
      new Store({{"by-app", LabelIndexFunc("app")}, {"node", FieldPathIndexFunc("spec.nodeName")}});
  for (int i = 0; i < 40; ++i) {
    std::map<std::string, std::string> labels;
    if (i % 10 < 5) labels["app"] = "web";
    if (i % 10 == 5) labels["app"] = "db";
    store->Add(MakeObject(i < 30 ? "big" : "small", absl::StrCat("o", i), absl::StrCat(i + 1),
                          labels, absl::StrCat(R"("spec":{"nodeName":"n)", i % 10, R"("})")));
  }
  return store;
}

TEST(StoreTest, CandidatesComeFromTheSmallestIndexEntryThatHoldsEveryMatch) {
  std::unique_ptr<Store> store(CandidateStore());
  // app=db: the label index's entry (4 objects), not the whole store or a namespace.
  EXPECT_THAT(Keys(store->Candidates({}, FilterOf("", "app=db"))),
              ElementsAre("big/o15", "big/o25", "big/o5", "small/o35"));
  EXPECT_THAT(Keys(store->Candidates({"big"}, FilterOf("big", "app in (db)"))),
              ElementsAre("big/o15", "big/o25", "big/o5", "small/o35"));
  // A field-path index the same way.
  EXPECT_THAT(Keys(store->Candidates({}, FilterOf("", "", "spec.nodeName=n3"))),
              ElementsAre("big/o13", "big/o23", "big/o3", "small/o33"));
  // Two requirements with indexes: the smaller entry (spec.nodeName=n0: 4, app=web: 20).
  EXPECT_EQ(store->Candidates({}, FilterOf("", "app=web", "spec.nodeName=n0")).size(), 4u);
  // app=web (20) is fewer than "big" (30), but more than "small" (10): the smaller side.
  EXPECT_EQ(store->Candidates({"big"}, FilterOf("big", "app=web")).size(), 20u);
  EXPECT_THAT(Keys(store->Candidates({"small"}, FilterOf("small", "app=web"))),
              ::testing::Each(::testing::StartsWith("small/")));
  EXPECT_EQ(store->Candidates({"small"}, FilterOf("small", "app=web")).size(), 10u);
  // A value no object has: nothing to copy at all.
  EXPECT_THAT(store->Candidates({}, FilterOf("", "app=none")), IsEmpty());
  // Nothing an index can answer: the range (namespaces) or everything.
  for (const char* labels : {"app!=web", "app in (web,db)", "app", "!app", "tier=x"}) {
    EXPECT_EQ(store->Candidates({}, FilterOf("", labels)).size(), 40u) << labels;
  }
  // An empty field value also matches objects without the field, which the index lacks.
  EXPECT_EQ(store->Candidates({"big"}, FilterOf("big", "", "spec.nodeName=")).size(), 30u);
}

TEST(StoreTest, CandidatesNeverLoseAMatch) {
  std::unique_ptr<Store> store(CandidateStore());
  const std::vector<ObjectPtr> all = store->List();
  for (const char* ns : {"", "big", "small"}) {
    for (const char* labels : {"", "app=web", "app==db", "app in (web)", "app=none", "app!=web",
                               "app=web,tier!=x", "app"}) {
      for (const char* fields :
           {"", "spec.nodeName=n0", "spec.nodeName=n1,metadata.name=o11", "spec.nodeName!=n0"}) {
        const ObjectFilter filter = FilterOf(ns, labels, fields);
        std::vector<std::string> scope;
        if (*ns != '\0') scope.push_back(ns);
        EXPECT_EQ(Matching(store->Candidates(scope, filter), filter), Matching(all, filter))
            << "namespace " << ns << ", labels " << labels << ", fields " << fields;
      }
    }
  }
}

ObjectPtr Pod(const std::string& ns, const std::string& name, const std::string& rv,
              const std::string& node, std::map<std::string, std::string> labels = {}) {
  return MakeObject(ns, name, rv, labels, absl::StrCat(R"("spec":{"nodeName":")", node, "\"}"));
}

TEST(StoreTest, S1_BehavesAsAMapKeyedByNamespaceAndName) {
  Store store;
  store.Add(MakeObject("b", "x", "1"));
  store.Add(MakeObject("a", "y", "2"));
  store.Add(MakeObject("", "cluster", "3"));
  EXPECT_EQ(store.Size(), 3u);
  EXPECT_THAT(store.ListKeys(), ElementsAre("a/y", "b/x", "cluster"));
  EXPECT_THAT(Keys(store.List()), ElementsAre("a/y", "b/x", "cluster"));
  ASSERT_NE(store.GetByKey("b/x"), nullptr);
  EXPECT_EQ(store.GetByKey("b/x")->meta().resource_version, "1");
  EXPECT_EQ(store.GetByKey("x"), nullptr);

  store.Update(MakeObject("b", "x", "9"));
  EXPECT_EQ(store.GetByKey("b/x")->meta().resource_version, "9");
  EXPECT_EQ(store.Size(), 3u);

  store.Add(MakeObject("b", "x", "10"));  // Add of an existing key replaces it, as client-go
  EXPECT_EQ(store.GetByKey("b/x")->meta().resource_version, "10");

  store.Delete("b/x");
  EXPECT_EQ(store.GetByKey("b/x"), nullptr);
  EXPECT_THAT(store.ListKeys(), ElementsAre("a/y", "cluster"));
}

TEST(StoreTest, S1_DeleteOfMissingKeyIsANoOp) {
  Store store;
  store.Add(MakeObject("a", "x", "1"));
  store.Delete("a/missing");
  store.Delete("");
  EXPECT_THAT(store.ListKeys(), ElementsAre("a/x"));
  EXPECT_THAT(Values(store.ListIndexFuncValues(kNamespaceIndex)), ElementsAre("a"));
}

TEST(StoreTest, S1_UpdateOfMissingKeyAdds) {
  Store store;
  store.Update(MakeObject("a", "x", "1"));
  EXPECT_THAT(store.ListKeys(), ElementsAre("a/x"));
  EXPECT_THAT(Keys(store.ByIndex(kNamespaceIndex, "a")), ElementsAre("a/x"));
}

TEST(StoreTest, S1_NullObjectsAreIgnored) {
  Store store;
  store.Add(nullptr);
  store.Replace({nullptr, MakeObject("a", "x", "1")});
  EXPECT_THAT(store.ListKeys(), ElementsAre("a/x"));
}

TEST(StoreTest, ListNamespacesReturnsOnlyThoseNamespacesInKeyOrder) {
  Store store;
  for (const char* ns : {"a", "ab", "b", "c"}) {
    for (const char* name : {"x", "y"}) store.Add(MakeObject(ns, name, "1"));
  }
  store.Add(MakeObject("", "cluster-scoped", "1"));
  auto keys = [](const std::vector<ObjectPtr>& objects) {
    std::vector<std::string> out;
    for (const ObjectPtr& object : objects) out.push_back(object->key());
    return out;
  };
  // "a" is not a prefix match for "ab"; duplicates and order of the request do not matter.
  EXPECT_THAT(keys(store.ListNamespaces({"c", "a", "c"})), ElementsAre("a/x", "a/y", "c/x", "c/y"));
  EXPECT_THAT(keys(store.ListNamespaces({"ab"})), ElementsAre("ab/x", "ab/y"));
  EXPECT_THAT(keys(store.ListNamespaces({"missing"})), IsEmpty());
  EXPECT_EQ(store.ListNamespaces({}).size(), 9u);  // empty = every object
}

TEST(StoreTest, NamespaceIndexIsAlwaysPresent) {
  Store store({{"node", FieldPathIndexFunc("spec.nodeName")}});
  EXPECT_THAT(store.IndexNames(), ElementsAre("namespace", "node"));
  store.Add(MakeObject("a", "x", "1"));
  store.Add(MakeObject("", "c", "1"));
  EXPECT_THAT(Keys(store.ByIndex(kNamespaceIndex, "a")), ElementsAre("a/x"));
  // client-go indexes cluster-scoped objects under the empty namespace.
  EXPECT_THAT(Keys(store.ByIndex(kNamespaceIndex, "")), ElementsAre("c"));
}

TEST(StoreTest, GivenNamespaceIndexIsKept) {
  Store store({{kNamespaceIndex, [](const Object&) { return std::vector<std::string>{"mine"}; }}});
  store.Add(MakeObject("a", "x", "1"));
  EXPECT_THAT(Values(store.ListIndexFuncValues(kNamespaceIndex)), ElementsAre("mine"));
}

TEST(StoreTest, S2_ReplaceSwapsContentAndRebuildsIndexes) {
  Store store({{"node", FieldPathIndexFunc("spec.nodeName")}});
  store.Add(Pod("a", "old", "1", "n1"));
  store.Add(Pod("a", "kept", "1", "n1"));
  store.Replace({Pod("b", "new", "5", "n2"), Pod("a", "kept", "6", "n3")});
  EXPECT_THAT(store.ListKeys(), ElementsAre("a/kept", "b/new"));
  EXPECT_EQ(store.GetByKey("a/kept")->meta().resource_version, "6");
  EXPECT_THAT(Values(store.ListIndexFuncValues("node")), ElementsAre("n2", "n3"));
  EXPECT_THAT(Values(store.ListIndexFuncValues(kNamespaceIndex)), ElementsAre("a", "b"));
  EXPECT_THAT(Keys(store.ByIndex("node", "n1")), IsEmpty());
  EXPECT_THAT(Keys(store.ByIndex("node", "n3")), ElementsAre("a/kept"));
}

TEST(StoreTest, S2_ReplaceWithEmptyListClears) {
  Store store;
  store.Add(MakeObject("a", "x", "1"));
  store.Replace({});
  EXPECT_EQ(store.Size(), 0u);
  EXPECT_THAT(Values(store.ListIndexFuncValues(kNamespaceIndex)), IsEmpty());
}

TEST(StoreTest, S2_ReplaceWithRepeatedKeyKeepsTheLaterObject) {
  Store store;
  store.Replace({MakeObject("a", "x", "1"), MakeObject("a", "x", "2")});
  EXPECT_EQ(store.Size(), 1u);
  EXPECT_EQ(store.GetByKey("a/x")->meta().resource_version, "2");
}

TEST(StoreTest, S2_ReplaceKeepsTheGivenObjects) {
  Store store;
  ObjectPtr object = MakeObject("a", "x", "1");
  store.Replace({object});
  EXPECT_EQ(store.GetByKey("a/x"), object);  // shared, not copied (I8)
}

// Replace builds its indexes without the lock; an index added meanwhile must still cover the
// replaced objects. The index function itself adds the index, mid-Replace, to force the race
// (it may call the store only because Replace runs index functions without the lock).
TEST(StoreTest, S2_ReplaceRacingAddIndexersIndexesEverything) {
  Store* store_ptr = nullptr;
  bool add_during_replace = false;
  Store store({{"trigger", [&](const Object& object) {
                  if (add_during_replace) {
                    add_during_replace = false;
                    EXPECT_TRUE(store_ptr->AddIndexers({{"late", LabelIndexFunc("app")}}).ok());
                  }
                  return std::vector<std::string>{object.meta().name};
                }}});
  store_ptr = &store;
  store.Add(MakeObject("a", "old", "1", {{"app", "web"}}));
  add_during_replace = true;
  store.Replace(
      {MakeObject("a", "x", "2", {{"app", "web"}}), MakeObject("b", "y", "2", {{"app", "db"}})});
  EXPECT_FALSE(add_during_replace);  // the hook ran
  EXPECT_THAT(Keys(store.ByIndex("late", "web")), ElementsAre("a/x"));
  EXPECT_THAT(Values(store.ListIndexFuncValues("late")), ElementsAre("db", "web"));
  EXPECT_THAT(Values(store.ListIndexFuncValues("trigger")), ElementsAre("x", "y"));
}

TEST(StoreTest, S3_ObjectWithNoIndexValuesIsInNoValue) {
  Store store({{"none", [](const Object&) { return std::vector<std::string>(); }}});
  store.Add(MakeObject("a", "x", "1"));
  EXPECT_THAT(Values(store.ListIndexFuncValues("none")), IsEmpty());
  EXPECT_THAT(Keys(store.ByIndex("none", "")), IsEmpty());
  EXPECT_THAT(store.ListKeys(), ElementsAre("a/x"));
}

TEST(StoreTest, S3_IndexFunctionWithSeveralValues) {
  IndexFunc containers = FieldPathIndexFunc("spec.containers[*].image");
  Store store({{"image", containers}});
  store.Add(MakeObject("a", "p1", "1", {},
                       R"("spec":{"containers":[{"image":"nginx"},{"image":"envoy"}]})"));
  store.Add(MakeObject("a", "p2", "1", {}, R"("spec":{"containers":[{"image":"nginx"}]})"));
  store.Add(MakeObject("a", "p3", "1", {}, R"("spec":{"containers":[]})"));
  EXPECT_THAT(Keys(store.ByIndex("image", "nginx")), ElementsAre("a/p1", "a/p2"));
  EXPECT_THAT(Keys(store.ByIndex("image", "envoy")), ElementsAre("a/p1"));
  EXPECT_THAT(Keys(store.ByIndex("image", "absent")), IsEmpty());
  EXPECT_THAT(Values(store.IndexKeys("image", "nginx")), ElementsAre("a/p1", "a/p2"));
  EXPECT_THAT(Values(store.ListIndexFuncValues("image")), ElementsAre("envoy", "nginx"));
}

TEST(StoreTest, S3_IndexReturnsObjectsSharingAnyValue) {
  Store store({{"image", FieldPathIndexFunc("spec.containers[*].image")}});
  store.Add(MakeObject("a", "p1", "1", {}, R"("spec":{"containers":[{"image":"nginx"}]})"));
  store.Add(MakeObject("a", "p2", "1", {}, R"("spec":{"containers":[{"image":"envoy"}]})"));
  store.Add(MakeObject("a", "p3", "1", {}, R"("spec":{"containers":[{"image":"redis"}]})"));
  ObjectPtr probe = MakeObject("z", "not-stored", "1", {},
                               R"("spec":{"containers":[{"image":"envoy"},{"image":"nginx"}]})");
  EXPECT_THAT(Keys(store.Index("image", *probe)), ElementsAre("a/p1", "a/p2"));
  EXPECT_EQ(store.Index("nope", *probe).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(StoreTest, S3_DuplicateValuesFromOneObjectIndexOnce) {
  Store store({{"dup", [](const Object&) { return std::vector<std::string>{"v", "v"}; }}});
  store.Add(MakeObject("a", "x", "1"));
  EXPECT_THAT(Values(store.IndexKeys("dup", "v")), ElementsAre("a/x"));
  store.Delete("a/x");
  EXPECT_THAT(Values(store.ListIndexFuncValues("dup")), IsEmpty());
}

TEST(StoreTest, LabelIndexFuncSkipsObjectsWithoutTheLabel) {
  Store store({{"app", LabelIndexFunc("app")}});
  store.Add(MakeObject("a", "x", "1", {{"app", "web"}}));
  store.Add(MakeObject("a", "y", "1", {{"other", "web"}}));
  EXPECT_THAT(Values(store.ListIndexFuncValues("app")), ElementsAre("web"));
  EXPECT_THAT(Keys(store.ByIndex("app", "web")), ElementsAre("a/x"));
}

TEST(StoreTest, S4_UpdateRemovesStaleIndexValues) {
  Store store({{"app", LabelIndexFunc("app")}});
  store.Add(MakeObject("a", "x", "1", {{"app", "web"}}));
  store.Add(MakeObject("a", "y", "1", {{"app", "db"}}));
  store.Update(MakeObject("a", "x", "2", {{"app", "api"}}));
  EXPECT_THAT(Keys(store.ByIndex("app", "web")), IsEmpty());
  EXPECT_THAT(Keys(store.ByIndex("app", "api")), ElementsAre("a/x"));
  EXPECT_THAT(Values(store.ListIndexFuncValues("app")), ElementsAre("api", "db"));

  store.Update(MakeObject("a", "y", "2"));  // label removed
  EXPECT_THAT(Values(store.ListIndexFuncValues("app")), ElementsAre("api"));
}

TEST(StoreTest, S4_DeleteDropsEmptiedValues) {
  Store store({{"app", LabelIndexFunc("app")}});
  store.Add(MakeObject("a", "x", "1", {{"app", "web"}}));
  store.Add(MakeObject("b", "y", "1", {{"app", "web"}}));
  store.Delete("a/x");
  EXPECT_THAT(Values(store.ListIndexFuncValues("app")), ElementsAre("web"));
  EXPECT_THAT(Values(store.ListIndexFuncValues(kNamespaceIndex)), ElementsAre("b"));
  store.Delete("b/y");
  EXPECT_THAT(Values(store.ListIndexFuncValues("app")), IsEmpty());
  EXPECT_THAT(Values(store.ListIndexFuncValues(kNamespaceIndex)), IsEmpty());
}

TEST(StoreTest, S4_UpdateKeepsSharedValuesOfOtherObjects) {
  Store store({{"app", LabelIndexFunc("app")}});
  store.Add(MakeObject("a", "x", "1", {{"app", "web"}}));
  store.Add(MakeObject("a", "y", "1", {{"app", "web"}}));
  store.Update(MakeObject("a", "x", "2", {{"app", "db"}}));
  EXPECT_THAT(Keys(store.ByIndex("app", "web")), ElementsAre("a/y"));
  EXPECT_THAT(Keys(store.ByIndex("app", "db")), ElementsAre("a/x"));
}

// A Pod whose spec has `node` (none when empty) and containers with `images`, decoded as an
// informer decodes it: the values at `extract`'s paths kept in memory (none when null).
ObjectPtr PodWithImages(const std::string& ns, const std::string& name, const std::string& rv,
                        const std::map<std::string, std::string>& labels, const std::string& node,
                        const std::vector<std::string>& images,
                        std::shared_ptr<const ExtractedFieldPaths> extract) {
  std::string containers;
  for (const std::string& image : images) {
    if (!containers.empty()) containers += ",";
    absl::StrAppend(&containers, R"({"image":)", ::informer::testing::JsonString(image), "}");
  }
  std::string json =
      absl::StrCat(R"({"apiVersion":"v1","kind":"Pod","metadata":{)",
                   ::informer::testing::MetadataJson(ns, name, rv, labels),
                   R"(},"spec":{"schedulerName":"s-)", rv, R"(","containers":[)", containers, "]");
  if (!node.empty())
    absl::StrAppend(&json, R"(,"nodeName":)", ::informer::testing::JsonString(node));
  json += "}}";
  rapidjson::Document document;
  document.Parse(json.data(), json.size());
  absl::StatusOr<ObjectPtr> object =
      Object::FromJsonValue(document, document.GetAllocator(), "", "", std::move(extract));
  EXPECT_TRUE(object.ok()) << object.status();
  return object.ok() ? *object : nullptr;
}

// Each index's values, each with its keys.
std::map<std::string, std::map<std::string, std::vector<std::string>>> IndexContents(
    const Store& store, const std::vector<std::string>& index_names) {
  std::map<std::string, std::map<std::string, std::vector<std::string>>> contents;
  for (const std::string& index_name : index_names) {
    auto& index = contents[index_name];
    for (const std::string& value : Values(store.ListIndexFuncValues(index_name))) {
      index[value] = Values(store.IndexKeys(index_name, value));
    }
  }
  return contents;
}

// Index upkeep reads built-in index values from memory (metadata, extracted field values) as
// views, and merges the old and the new object's sorted values: through adds, updates that
// move, keep, repeat and reorder values, and deletes, every index holds, after every step, what
// the objects stored then say, whether their values were extracted at decode or are read from
// their JSON.
TEST(StoreTest, IndexesFromExtractedValuesHoldWhatTheObjectsSay) {
  const std::vector<std::string> index_names = {kNamespaceIndex, "app", "image", "node",
                                                "scheduler"};
  auto indexers = [] {
    return Indexers{{"app", LabelIndexFunc("app")},
                    {"image", FieldPathIndexFunc("spec.containers[*].image")},
                    {"node", FieldPathIndexFunc("spec.nodeName")},
                    // Not extracted: read from the JSON in both stores.
                    {"scheduler", FieldPathIndexFunc("spec.schedulerName")}};
  };
  auto extract = std::make_shared<const ExtractedFieldPaths>(
      std::vector<std::string>{"spec.containers[*].image", "spec.nodeName"});
  Store extracted_store(indexers());
  Store json_store(indexers());
  struct Step {
    std::string ns, name, rv;
    std::map<std::string, std::string> labels;
    std::string node;
    std::vector<std::string> images;
    bool is_delete = false;
  };
  const std::vector<Step> steps = {
      {"a", "p1", "1", {{"app", "web"}}, "n1", {"b", "a", "b"}},
      {"a", "p2", "1", {{"app", "web"}}, "n1", {"a"}},
      {"b", "p3", "1", {}, "", {}},
      {"a", "p1", "2", {{"app", "db"}}, "n2", {"a", "c"}},
      {"a", "p2", "2", {{"app", "web"}}, "n1", {"c", "c"}},
      {"b", "p3", "2", {{"app", "web"}}, "n2", {"d", "a"}},
      {"a", "p1", "3", {{"app", "db"}}, "n2", {"c", "a", "b"}},
      {"a", "p1", "", {}, "", {}, /*is_delete=*/true},
  };
  std::map<std::string, Step> stored;  // key -> the step that stored it: the truth
  for (size_t i = 0; i < steps.size(); ++i) {
    const Step& step = steps[i];
    const std::string key = ObjectKey(step.ns, step.name);
    if (step.is_delete) {
      extracted_store.Delete(key);
      json_store.Delete(key);
      stored.erase(key);
    } else {
      ObjectPtr extracted =
          PodWithImages(step.ns, step.name, step.rv, step.labels, step.node, step.images, extract);
      ASSERT_NE(extracted, nullptr);
      absl::StatusOr<FieldPath> images = FieldPath::Parse("spec.containers[*].image");
      ASSERT_TRUE(images.ok());
      ASSERT_TRUE(extracted->VisitFieldValuesInMemory(*images, [](absl::string_view) {}))
          << "the image values of step " << i << " were not extracted";
      extracted_store.Update(extracted);
      json_store.Update(
          PodWithImages(step.ns, step.name, step.rv, step.labels, step.node, step.images, nullptr));
      stored[key] = step;
    }
    // What each index must hold, from the steps alone.
    std::map<std::string, std::map<std::string, std::vector<std::string>>> expected;
    for (const std::string& index_name : index_names) expected[index_name];
    for (const auto& [stored_key, object] : stored) {  // in key order: IndexKeys sorts too
      auto add = [&expected, &stored_key = stored_key](const std::string& index,
                                                       const std::string& value) {
        std::vector<std::string>& keys = expected[index][value];
        if (keys.empty() || keys.back() != stored_key) keys.push_back(stored_key);
      };
      add(kNamespaceIndex, object.ns);
      if (auto it = object.labels.find("app"); it != object.labels.end()) add("app", it->second);
      for (const std::string& image : object.images) add("image", image);
      if (!object.node.empty()) add("node", object.node);
      add("scheduler", absl::StrCat("s-", object.rv));
    }
    EXPECT_EQ(IndexContents(extracted_store, index_names), expected) << "after step " << i;
    EXPECT_EQ(IndexContents(json_store, index_names), expected) << "after step " << i;
  }
}

TEST(StoreTest, IndexUpkeepCallsIndexFunctionsOnlyForTheChangedObject) {
  std::atomic<int> calls{0};
  Store store({{"counted", [&calls](const Object& object) {
                  ++calls;
                  return std::vector<std::string>{object.meta().name};
                }}});
  for (int i = 0; i < 100; ++i) store.Add(MakeObject("a", absl::StrCat("o", i), "1"));
  calls = 0;
  store.Update(MakeObject("a", "o5", "2"));
  EXPECT_EQ(calls.load(), 2);  // old and new state of one object, not the 100 stored
  calls = 0;
  store.Delete("a/o6");
  EXPECT_EQ(calls.load(), 1);
}

TEST(StoreTest, S5_UnknownIndexIsInvalidArgumentNamingKnownIndexes) {
  Store store({{"node", FieldPathIndexFunc("spec.nodeName")}});
  store.Add(MakeObject("a", "x", "1"));
  absl::StatusOr<std::vector<ObjectPtr>> by_index = store.ByIndex("nodes", "n1");
  ASSERT_FALSE(by_index.ok());
  EXPECT_EQ(by_index.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(by_index.status().message(), HasSubstr("\"nodes\""));
  EXPECT_THAT(by_index.status().message(), HasSubstr("namespace, node"));
  EXPECT_EQ(store.IndexKeys("nodes", "n1").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store.ListIndexFuncValues("nodes").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(StoreTest, S6_AddIndexersIndexesExistingObjects) {
  Store store;
  store.Add(Pod("a", "x", "1", "n1"));
  store.Add(Pod("b", "y", "1", "n2"));
  ASSERT_TRUE(store.AddIndexers({{"node", FieldPathIndexFunc("spec.nodeName")}}).ok());
  EXPECT_THAT(Keys(store.ByIndex("node", "n1")), ElementsAre("a/x"));
  EXPECT_THAT(Values(store.ListIndexFuncValues("node")), ElementsAre("n1", "n2"));
  EXPECT_THAT(store.IndexNames(), ElementsAre("namespace", "node"));
  // And keeps it up to date afterwards.
  store.Update(Pod("a", "x", "2", "n2"));
  EXPECT_THAT(Keys(store.ByIndex("node", "n2")), ElementsAre("a/x", "b/y"));
}

// AddIndexers on a live store (the AddIndex RPC): writers, a relisting writer (Replace) and
// readers run while two indexes are added; every read of an index is exact (each object it
// returns has the value), and at the end each index equals the one computed from the store.
// The core's tests also run under ThreadSanitizer.
TEST(StoreTest, S6_AddIndexersOnALiveStoreUnderConcurrentWritesReplacesAndReads) {
  Store store;
  auto object = [](int i, int round) {
    return MakeObject("ns", absl::StrCat("p", i), absl::StrCat(round),
                      {{"app", absl::StrCat("v", (i + round) % 4)}});
  };
  for (int i = 0; i < 100; ++i) store.Add(object(i, 0));
  std::atomic<bool> stop{false};
  std::atomic<int> reads{0};
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < 2; ++w) {
    threads.emplace_back([&, w] {
      for (int round = 1; !stop.load(); ++round) {
        const int i = (round * 7 + w * 31) % 120;
        if (round % 11 == 0) {
          store.Delete(absl::StrCat("ns/p", i));
        } else {
          store.Update(object(i, round));
        }
      }
    });
  }
  threads.emplace_back([&] {
    for (int round = 1; !stop.load(); ++round) {
      std::vector<ObjectPtr> objects;
      for (int i = 0; i < 100; i += 1 + round % 3) objects.push_back(object(i, round));
      store.Replace(std::move(objects));
    }
  });
  threads.emplace_back([&] {
    while (!stop.load()) {
      for (const char* index : {"label", "field"}) {
        const std::string value = absl::StrCat("v", reads.load() % 4);
        absl::StatusOr<std::vector<ObjectPtr>> objects = store.ByIndex(index, value);
        if (!objects.ok()) continue;  // not added yet
        for (const ObjectPtr& o : *objects) {
          if (o->meta().labels.at("app") != value) wrong.fetch_add(1);
        }
        reads.fetch_add(1);
      }
    }
  });
  absl::SleepFor(absl::Milliseconds(50));
  ASSERT_TRUE(store.AddIndexers({{"label", LabelIndexFunc("app")}}).ok());
  absl::SleepFor(absl::Milliseconds(20));
  ASSERT_TRUE(store.AddIndexers({{"field", FieldPathIndexFunc("metadata.labels.app")}}).ok());
  // Readers and writers overlap for at least 100 ms and 20 reads of both indexes, however
  // little CPU the threads get on a loaded machine (a fixed window saw 0 reads under load).
  const int reads_with_both_indexes = reads.load() + 20;
  absl::SleepFor(absl::Milliseconds(100));
  while (reads.load() < reads_with_both_indexes) absl::SleepFor(absl::Milliseconds(1));
  stop.store(true);
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
  for (int v = 0; v < 4; ++v) {
    const std::string value = absl::StrCat("v", v);
    std::vector<std::string> truth;
    for (const ObjectPtr& o : store.List()) {
      if (o->meta().labels.at("app") == value) truth.push_back(o->key());
    }
    EXPECT_EQ(Keys(store.ByIndex("label", value)), truth) << value;
    EXPECT_EQ(Keys(store.ByIndex("field", value)), truth) << value;
  }
}

TEST(StoreTest, S6_AddIndexersNameClashIsAlreadyExistsAndAddsNothing) {
  Store store({{"node", FieldPathIndexFunc("spec.nodeName")}});
  store.Add(Pod("a", "x", "1", "n1"));
  absl::Status status = store.AddIndexers(
      {{"app", LabelIndexFunc("app")}, {"node", FieldPathIndexFunc("metadata.name")}});
  EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(status.message(), HasSubstr("\"node\""));
  EXPECT_THAT(store.IndexNames(), ElementsAre("namespace", "node"));
  EXPECT_THAT(Keys(store.ByIndex("node", "n1")), ElementsAre("a/x"));

  EXPECT_EQ(store.AddIndexers({{kNamespaceIndex, LabelIndexFunc("x")}}).code(),
            absl::StatusCode::kAlreadyExists);
}

TEST(StoreTest, AddIndexersRejectsEmptyFunction) {
  Store store;
  EXPECT_EQ(store.AddIndexers({{"empty", IndexFunc()}}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(store.IndexNames(), ElementsAre("namespace"));
}

TEST(StoreTest, WithReadLockSeesTheItems) {
  Store store;
  store.Add(MakeObject("a", "x", "1"));
  size_t seen = 0;
  store.WithReadLock(
      [&seen](const absl::btree_map<std::string, ObjectPtr>& items) { seen = items.size(); });
  EXPECT_EQ(seen, 1u);
}

// Writers move objects between label values (and delete, re-add and replace) while readers
// check every answer for consistency: each object ByIndex returns carries that value, List and
// the namespace index always hold every object that is never deleted, and no answer has a key
// twice. At the end, List and every index agree exactly.
TEST(StoreTest, S7_ReadersNeverSeeHalfAppliedUpdates) {
  constexpr int kStable = 16;  // only ever updated: always present
  constexpr int kChurn = 8;    // deleted and re-added
  constexpr int kWriterSteps = 4000;
  const std::vector<std::string> kColours = {"red", "green", "blue"};
  auto name = [](int i) { return i < kStable ? absl::StrCat("s", i) : absl::StrCat("c", i); };
  // Objects made ahead of time so that the writers spend their time in the store.
  std::vector<std::vector<ObjectPtr>> versions(kStable + kChurn);
  for (int i = 0; i < kStable + kChurn; ++i) {
    for (size_t c = 0; c < kColours.size(); ++c) {
      versions[i].push_back(
          MakeObject("ns", name(i), absl::StrCat(c + 1), {{"colour", kColours[c]}}));
    }
  }
  std::vector<std::string> stable_keys;
  for (int i = 0; i < kStable; ++i) stable_keys.push_back(versions[i][0]->key());
  std::sort(stable_keys.begin(), stable_keys.end());

  Store store({{"colour", LabelIndexFunc("colour")}});
  for (int i = 0; i < kStable + kChurn; ++i) store.Add(versions[i][0]);

  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::atomic<long> checks{0};
  auto contains_all_stable = [&](std::vector<std::string> keys) {
    if (!std::is_sorted(keys.begin(), keys.end())) return false;
    if (std::adjacent_find(keys.begin(), keys.end()) != keys.end()) return false;
    return std::includes(keys.begin(), keys.end(), stable_keys.begin(), stable_keys.end());
  };
  std::atomic<int> readers_running{0};
  auto reader = [&] {
    ++readers_running;
    while (!done.load()) {
      for (const std::string& colour : kColours) {
        absl::StatusOr<std::vector<ObjectPtr>> objects = store.ByIndex("colour", colour);
        if (!objects.ok()) {
          ++failures;
          continue;
        }
        for (const ObjectPtr& object : *objects) {
          auto it = object->meta().labels.find("colour");
          if (it == object->meta().labels.end() || it->second != colour) ++failures;
        }
        std::vector<std::string> keys = Keys(*objects);
        if (std::adjacent_find(keys.begin(), keys.end()) != keys.end()) ++failures;
      }
      if (!contains_all_stable(Keys(store.List()))) ++failures;
      absl::StatusOr<std::vector<ObjectPtr>> in_ns = store.ByIndex(kNamespaceIndex, "ns");
      if (!in_ns.ok() || !contains_all_stable(Keys(*in_ns))) ++failures;
      absl::StatusOr<std::vector<std::string>> values = store.ListIndexFuncValues("colour");
      // Stable objects always have a colour, so some colour is always listed.
      if (!values.ok() || values->empty()) ++failures;
      ++checks;
    }
  };
  auto writer = [&](int seed) {
    // Start writing only once every reader is reading, so the two really overlap.
    while (readers_running.load() < 3) std::this_thread::yield();
    for (int step = 0; step < kWriterSteps; ++step) {
      int c = (step + seed) % kColours.size();
      if (seed == 0 && step % 1000 == 999) {
        std::vector<ObjectPtr> all;
        for (int i = 0; i < kStable + kChurn; ++i) all.push_back(versions[i][c]);
        store.Replace(all);
      } else if (step % 2 == 0) {
        int i = kStable + (step / 2 + seed) % kChurn;
        if (step % 4 == 0) {
          store.Delete(versions[i][0]->key());
        } else {
          store.Add(versions[i][c]);
        }
      } else {
        store.Update(versions[(step * 7 + seed) % kStable][c]);
      }
    }
  };
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) readers.emplace_back(reader);
  std::thread w1(writer, 0), w2(writer, 1);
  w1.join();
  w2.join();
  done = true;
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(checks.load(), 0);

  // Quiescent: List and every index agree exactly.
  std::map<std::string, std::vector<std::string>> expected;
  for (const ObjectPtr& object : store.List()) {
    expected[object->meta().labels.at("colour")].push_back(object->key());
  }
  std::vector<std::string> present;
  for (const auto& [colour, keys] : expected) present.push_back(colour);
  for (const std::string& colour : kColours) {
    EXPECT_EQ(Values(store.IndexKeys("colour", colour)), expected[colour]) << colour;
  }
  EXPECT_EQ(Values(store.ListIndexFuncValues("colour")), present);
  EXPECT_EQ(Keys(store.ByIndex(kNamespaceIndex, "ns")), store.ListKeys());
}

TEST(StoreTest, ApproximateBytesIsTheSumOverStoredObjectsThroughEveryChange) {
  Store store;
  auto sum = [&store] {
    size_t bytes = 0;
    for (const ObjectPtr& object : store.List()) bytes += object->ApproximateBytes();
    return bytes;
  };
  EXPECT_EQ(store.ApproximateBytes(), 0u);
  store.Add(MakeObject("ns", "a", "1"));
  store.Add(MakeObject("ns", "b", "1", {{"app", "web"}}));
  EXPECT_GT(store.ApproximateBytes(), 0u);
  EXPECT_EQ(store.ApproximateBytes(), sum());
  const size_t before = store.ApproximateBytes();
  store.Update(MakeObject("ns", "a", "2", {{"app", "a-much-longer-label-value"}}));
  EXPECT_GT(store.ApproximateBytes(), before);
  EXPECT_EQ(store.ApproximateBytes(), sum());
  store.Delete("ns/b");
  store.Delete("ns/missing");
  EXPECT_EQ(store.ApproximateBytes(), sum());
  store.Replace({MakeObject("ns", "c", "3"), MakeObject("ns", "d", "3")});
  EXPECT_EQ(store.ApproximateBytes(), sum());
  store.Replace({});
  EXPECT_EQ(store.ApproximateBytes(), 0u);
}

}  // namespace
}  // namespace informer
