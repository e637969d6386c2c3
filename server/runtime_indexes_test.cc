#include "server/runtime_indexes.h"

#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "informer/api_status.h"
#include "informer/testing/fake_lister_watcher.h"
#include "informer/testing/objects.h"
#include "server/config.h"

namespace informer {
namespace server {
namespace {

using ::informer::testing::Eventually;
using ::informer::testing::FakeListerWatcher;
using ::informer::testing::MakeObject;
using ::testing::Contains;
using ::testing::HasSubstr;

class RuntimeIndexesTest : public ::testing::Test {
 protected:
  RuntimeIndexesTest() {
    options_.resource.gvr = {"", "v1", "pods"};
    options_.resource.kind = "Pod";
    options_.resource.namespaced = true;
    options_.reflector.backoff.initial = absl::Milliseconds(1);
    options_.reflector.backoff.max = absl::Milliseconds(5);
    // Configured at start: one under its default name, one under a name of its own.
    options_.indexers =
        BuildIndexers({*ParseIndexSpec("label:tier"), *ParseIndexSpec("node=field:spec.nodeName")});
  }
  ~RuntimeIndexesTest() override {
    if (informer_ != nullptr) informer_->Stop();
  }

  void Start() {
    informer_ = std::make_shared<SharedIndexInformer>(fake_, options_);
    ASSERT_TRUE(informer_->Run().ok());
    ASSERT_TRUE(informer_->WaitForSync(absl::Now() + absl::Seconds(10)));
  }
  CachedResource Resource() const { return CachedResource{options_.resource, informer_}; }

  // Keys of the cached objects whose label `key` is `value`, computed from the whole cache.
  std::set<std::string> Truth(const std::string& key, const std::string& value) const {
    std::set<std::string> keys;
    for (const ObjectPtr& object : informer_->store().List()) {
      auto it = object->meta().labels.find(key);
      if (it != object->meta().labels.end() && it->second == value) keys.insert(object->key());
    }
    return keys;
  }
  std::set<std::string> Indexed(const std::string& index, const std::string& value) const {
    std::set<std::string> keys;
    absl::StatusOr<std::vector<ObjectPtr>> objects = informer_->store().ByIndex(index, value);
    EXPECT_TRUE(objects.ok()) << objects.status();
    if (objects.ok()) {
      for (const ObjectPtr& object : *objects) keys.insert(object->key());
    }
    return keys;
  }

  std::shared_ptr<FakeListerWatcher> fake_ = std::make_shared<FakeListerWatcher>();
  InformerOptions options_;
  std::shared_ptr<SharedIndexInformer> informer_;
};

TEST_F(RuntimeIndexesTest, OffByDefaultIsFailedPreconditionNamingTheFlag) {
  Start();
  RuntimeIndexes indexes{RuntimeIndexLimits{}};
  absl::StatusOr<AddedIndex> added = indexes.Add(Resource(), "label:app");
  EXPECT_EQ(added.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(added.status().message(), HasSubstr("--allow_runtime_indexes"));
  EXPECT_EQ(indexes.refused(), 1u);
  EXPECT_FALSE(informer_->store().ByIndex("label:app", "web").ok());
}

TEST_F(RuntimeIndexesTest, AnAddedIndexHoldsTheCachedObjectsAndFollowsChanges) {
  fake_->Add(MakeObject("ns", "a", "0", {{"app", "web"}}));
  fake_->Add(MakeObject("ns", "b", "0", {{"app", "db"}}));
  fake_->Add(MakeObject("ns", "c", "0"));
  Start();
  RuntimeIndexes indexes{RuntimeIndexLimits{true, 8}};
  absl::StatusOr<AddedIndex> added = indexes.Add(Resource(), "label:app");
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(added->name, "label:app");
  EXPECT_TRUE(added->created);
  EXPECT_EQ(Indexed("label:app", "web"), (std::set<std::string>{"ns/a"}));
  EXPECT_THAT(informer_->store().IndexNames(), Contains("label:app"));
  fake_->Update(MakeObject("ns", "c", "0", {{"app", "web"}}));
  fake_->Delete("ns/a");
  ASSERT_TRUE(Eventually([&] { return informer_->store().GetByKey("ns/a") == nullptr; }));
  EXPECT_EQ(Indexed("label:app", "web"), (std::set<std::string>{"ns/c"}));
  EXPECT_EQ(Indexed("label:app", "web"), Truth("app", "web"));
  // A field index under a name of its own.
  fake_->Update(MakeObject("ns", "b", "0", {{"app", "db"}}, R"("spec":{"nodeName":"n1"})"));
  ASSERT_TRUE(Eventually(
      [&] { return informer_->store().GetByKey("ns/b")->json().find("n1") != std::string::npos; }));
  added = indexes.Add(Resource(), "by-node=field:spec.nodeName");
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(Indexed("by-node", "n1"), (std::set<std::string>{"ns/b"}));
  EXPECT_EQ(indexes.count(), 2u);
}

TEST_F(RuntimeIndexesTest, ANewInformerOfTheResourceGetsTheIndexesAddedToTheOldOne) {
  fake_->Add(MakeObject("ns", "a", "0", {{"app", "web"}}, R"("spec":{"nodeName":"n1"})"));
  fake_->Add(MakeObject("ns", "b", "0", {{"app", "db"}}));
  Start();
  RuntimeIndexes indexes{RuntimeIndexLimits{true, 8}};
  ASSERT_TRUE(indexes.Add(Resource(), "label:app").ok());
  ASSERT_TRUE(indexes.Add(Resource(), "by-node=field:spec.nodeName").ok());
  // Stopped (an idle on-demand cache) and started again as a new informer.
  informer_->Stop();
  informer_ = std::make_shared<SharedIndexInformer>(fake_, options_);
  ASSERT_TRUE(indexes.Reapply(Resource()).ok());
  ASSERT_TRUE(informer_->Run().ok());
  ASSERT_TRUE(informer_->WaitForSync(absl::Now() + absl::Seconds(10)));
  EXPECT_EQ(Indexed("label:app", "web"), (std::set<std::string>{"ns/a"}));
  EXPECT_EQ(Indexed("by-node", "n1"), (std::set<std::string>{"ns/a"}));
  EXPECT_EQ(indexes.count(), 2u);  // the same two indexes, not new ones
  // Again on a store that has them: nothing to do.
  EXPECT_TRUE(indexes.Reapply(Resource()).ok());
  // Another resource had none.
  CachedResource other = Resource();
  other.info.gvr = {"", "v1", "configmaps"};
  EXPECT_TRUE(indexes.Reapply(other).ok());
}

TEST_F(RuntimeIndexesTest, TheSameIndexAgainIsOkAndNotCreated) {
  Start();
  RuntimeIndexes indexes{RuntimeIndexLimits{true, 8}};
  ASSERT_TRUE(indexes.Add(Resource(), "owner=field:metadata.ownerReferences[*].uid").ok());
  absl::StatusOr<AddedIndex> again =
      indexes.Add(Resource(), "owner=field:metadata.ownerReferences[*].uid");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->created);
  // One configured at start under its default name is the same index.
  again = indexes.Add(Resource(), "label:tier");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->created);
  EXPECT_EQ(indexes.count(), 1u);
}

TEST_F(RuntimeIndexesTest, ANameTakenByAnotherDefinitionIsAlreadyExists) {
  Start();
  RuntimeIndexes indexes{RuntimeIndexLimits{true, 8}};
  ASSERT_TRUE(indexes.Add(Resource(), "app=label:app").ok());
  absl::StatusOr<AddedIndex> other = indexes.Add(Resource(), "app=label:application");
  EXPECT_EQ(other.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(other.status().message(), HasSubstr("as label:app"));
  // Configured at start under a name of its own: its definition is not compared.
  other = indexes.Add(Resource(), "node=field:spec.nodeName");
  EXPECT_EQ(other.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(other.status().message(), HasSubstr("choose another name"));
  // The built-in index's name is refused as --index refuses it.
  other = indexes.Add(Resource(), "namespace=label:ns");
  EXPECT_EQ(other.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(other.status().message(), HasSubstr("built-in"));
}

TEST_F(RuntimeIndexesTest, ABadSpecIsInvalidArgument) {
  Start();
  RuntimeIndexes indexes{RuntimeIndexLimits{true, 8}};
  for (const char* spec : {"", "app", "field:spec..x", "label:", "field:a[x]"}) {
    absl::StatusOr<AddedIndex> added = indexes.Add(Resource(), spec);
    EXPECT_EQ(added.status().code(), absl::StatusCode::kInvalidArgument) << spec;
  }
}

TEST_F(RuntimeIndexesTest, PastTheCapPerResourceIsResourceExhausted) {
  Start();
  RuntimeIndexes indexes{RuntimeIndexLimits{true, 2}};
  ASSERT_TRUE(indexes.Add(Resource(), "label:a").ok());
  ASSERT_TRUE(indexes.Add(Resource(), "label:b").ok());
  absl::StatusOr<AddedIndex> third = indexes.Add(Resource(), "label:c");
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(third.status().message(), HasSubstr("--max_runtime_indexes"));
  // The same one again is not a new one.
  EXPECT_TRUE(indexes.Add(Resource(), "label:a").ok());
  EXPECT_EQ(indexes.refused(), 1u);
}

// AddIndexers on a live, synced store while the watch applies changes, relists replace the
// store, and readers query indexes: the index is exact at every read (every object it returns
// has the value) and, once the writers stop, equals the index computed from the whole cache.
TEST_F(RuntimeIndexesTest, AddedUnderConcurrentIngestionRelistsAndReadsTheIndexIsExact) {
  constexpr int kObjects = 200;
  for (int i = 0; i < kObjects; ++i) {
    fake_->Add(MakeObject("ns", absl::StrCat("p", i), "0", {{"app", absl::StrCat("v", i % 5)}}));
  }
  Start();
  RuntimeIndexes indexes{RuntimeIndexLimits{true, 8}};
  std::atomic<bool> stop{false};
  std::atomic<int> reads{0};
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < 2; ++w) {
    threads.emplace_back([&, w] {
      for (int round = 0; !stop.load(); ++round) {
        const std::string name = absl::StrCat("p", (round * 7 + w * 13) % (kObjects + 20));
        const std::string key = "ns/" + name;
        const std::map<std::string, std::string> labels = {
            {"app", absl::StrCat("v", (round + w) % 5)}};
        if (fake_->Objects().count(key) == 0) {
          fake_->Add(MakeObject("ns", name, "0", labels));
        } else if (round % 9 == 0) {
          fake_->Delete(key);
        } else {
          fake_->Update(MakeObject("ns", name, "0", labels));
        }
      }
    });
  }
  threads.emplace_back([&] {
    // Relists every 40 ms: the store is replaced while an index may be being added.
    while (!stop.load()) {
      absl::SleepFor(absl::Milliseconds(40));
      fake_->Compact();
      fake_->SendError(ApiStatus{410, "Expired", "too old resource version"});
    }
  });
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      while (!stop.load()) {
        for (const char* index : {"label:app", "by-app"}) {
          const std::string value = absl::StrCat("v", (reads.load() + r) % 5);
          absl::StatusOr<std::vector<ObjectPtr>> objects = informer_->store().ByIndex(index, value);
          if (!objects.ok()) continue;  // not added yet
          for (const ObjectPtr& object : *objects) {
            auto it = object->meta().labels.find("app");
            if (it == object->meta().labels.end() || it->second != value) wrong.fetch_add(1);
          }
          reads.fetch_add(1);
        }
      }
    });
  }
  absl::SleepFor(absl::Milliseconds(100));
  absl::StatusOr<AddedIndex> added = indexes.Add(Resource(), "label:app");
  ASSERT_TRUE(added.ok()) << added.status();
  absl::SleepFor(absl::Milliseconds(50));
  added = indexes.Add(Resource(), "by-app=field:metadata.labels.app");
  ASSERT_TRUE(added.ok()) << added.status();
  absl::SleepFor(absl::Milliseconds(300));
  stop.store(true);
  for (std::thread& thread : threads) thread.join();
  EXPECT_GT(reads.load(), 10);
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(informer_->stats().relists, 0u);
  // Once the cache has every change, each index equals the truth of the whole cache.
  auto cache_is_truth = [&] {
    std::map<std::string, std::string> truth;
    for (const auto& [key, object] : fake_->Objects()) {
      truth[key] = object->meta().resource_version;
    }
    std::map<std::string, std::string> cached;
    for (const ObjectPtr& object : informer_->store().List()) {
      cached[object->key()] = object->meta().resource_version;
    }
    return truth == cached;
  };
  ASSERT_TRUE(Eventually(cache_is_truth));
  for (int v = 0; v < 5; ++v) {
    const std::string value = absl::StrCat("v", v);
    EXPECT_EQ(Indexed("label:app", value), Truth("app", value)) << value;
    EXPECT_EQ(Indexed("by-app", value), Truth("app", value)) << value;
  }
}

}  // namespace
}  // namespace server
}  // namespace informer
