// Drives a SharedIndexInformer through a scripted API server with a seeded random workload of
// changes and faults, then checks that the cache, what the handlers were told, and the event
// history all equal the server's truth (R4, R6, R8, I1, I3, F3).
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "informer/api_status.h"
#include "informer/shared_informer.h"
#include "informer/testing/fake_lister_watcher.h"
#include "informer/testing/objects.h"
#include "informer/testing/recording_handler.h"

namespace informer {
namespace {

using ::informer::testing::Eventually;
using ::informer::testing::FakeListerWatcher;
using ::informer::testing::MakeObject;
using ::informer::testing::RecordingHandler;
using ::testing::IsEmpty;

using State = std::map<std::string, std::string>;  // key -> resourceVersion

State Truth(const FakeListerWatcher& fake) {
  State truth;
  for (const auto& [key, object] : fake.Objects()) truth[key] = object->meta().resource_version;
  return truth;
}

State StoreState(const Store& store) {
  State state;
  for (const ObjectPtr& object : store.List())
    state[object->key()] = object->meta().resource_version;
  return state;
}

State ReplayHistory(const EventHistory& history) {
  std::vector<HistoryEvent> events;
  absl::Status status = history.ReadAfter(0, size_t{1} << 30, &events);
  EXPECT_TRUE(status.ok()) << status;
  State state;
  uint64_t seq = 0;
  for (const HistoryEvent& event : events) {
    EXPECT_EQ(event.seq, ++seq) << "history has a gap";
    const std::string& key = event.object->key();
    switch (event.type) {
      case EventType::kAdded:
        EXPECT_EQ(state.count(key), 0u) << "history adds " << key << " twice";
        state[key] = event.object->meta().resource_version;
        break;
      case EventType::kModified:
        EXPECT_EQ(state.count(key), 1u) << "history modifies unknown " << key;
        state[key] = event.object->meta().resource_version;
        break;
      case EventType::kDeleted:
        EXPECT_EQ(state.erase(key), 1u) << "history deletes unknown " << key;
        break;
    }
  }
  return state;
}

struct ChaosConfig {
  uint64_t seed = 1;
  int steps = 400;
  bool streaming_list = false;
  bool server_pages = true;
};

void RunChaos(const ChaosConfig& config) {
  SCOPED_TRACE(absl::StrCat("seed ", config.seed, config.streaming_list ? " streaming" : ""));
  std::mt19937_64 rng(config.seed);
  auto fake = std::make_shared<FakeListerWatcher>();
  fake->set_watch_cache_ignores_limit(!config.server_pages);
  fake->set_streaming_list_supported(config.streaming_list);
  fake->set_expired_watch_as_error_event(config.seed % 2 == 0);
  for (int i = 0; i < 20; ++i)
    ASSERT_NE(fake->Add(MakeObject("ns", absl::StrCat("o", i), "")), nullptr);

  InformerOptions options;
  options.resource.gvr = {"", "v1", "pods"};
  options.resource.kind = "Pod";
  options.reflector.page_size = 7;
  options.reflector.use_streaming_list = config.streaming_list;
  options.reflector.backoff.initial = absl::Microseconds(200);
  options.reflector.backoff.max = absl::Milliseconds(2);
  SharedIndexInformer informer(fake, options);
  auto early = std::make_shared<RecordingHandler>();
  ASSERT_TRUE(informer.AddEventHandler(early).ok());
  ASSERT_TRUE(informer.Run().ok());
  ASSERT_TRUE(informer.WaitForSync(absl::Now() + absl::Seconds(20)));

  std::shared_ptr<RecordingHandler> late;
  std::set<std::string> deleted;  // keys whose last truth change was a delete
  int next_name = 20;
  auto random_key = [&]() -> std::string {
    State truth = Truth(*fake);
    if (truth.empty()) return "";
    auto it = truth.begin();
    std::advance(it, rng() % truth.size());
    return it->first;
  };
  int forced_relists = 0;  // 410s delivered to an open watch: each must cause a relist
  // Faults act on the open watch; wait (briefly) for the reflector to have one, so they are
  // not wasted on a reconnect in progress.
  auto watch_open = [&] { return fake->WaitForOpenWatches(1, absl::Milliseconds(200)); };
  std::string last_change_rv = absl::StrCat(fake->revision());
  for (int step = 0; step < config.steps; ++step) {
    const int dice = static_cast<int>(rng() % 100);
    if (dice < 35) {
      std::string key = random_key();
      if (!key.empty()) {
        const std::string name = key.substr(key.find('/') + 1);
        ObjectPtr updated =
            fake->Update(MakeObject("ns", name, "", {{"step", absl::StrCat(step)}}));
        ASSERT_NE(updated, nullptr);
        last_change_rv = updated->meta().resource_version;
      }
    } else if (dice < 52) {
      const std::string name = absl::StrCat("o", next_name++ % 40);
      if (ObjectPtr added = fake->Add(MakeObject("ns", name, "")); added != nullptr) {
        deleted.erase("ns/" + name);
        last_change_rv = added->meta().resource_version;
      }
    } else if (dice < 68) {
      std::string key = random_key();
      if (key.empty()) continue;
      ObjectPtr removed = fake->Delete(key);
      ASSERT_NE(removed, nullptr);
      deleted.insert(key);
      last_change_rv = removed->meta().resource_version;
    } else if (dice < 73) {
      watch_open();
      fake->BreakWatches();  // drops what was in flight (R8)
    } else if (dice < 76) {
      watch_open();
      fake->EndWatches();  // the server's watch timeout (R2)
    } else if (dice < 80) {
      watch_open();
      fake->Compact();  // a reflector behind the compaction gets 410 (R4)
      if (rng() % 2 == 0) fake->BreakWatches();
    } else if (dice < 83) {
      if (watch_open()) ++forced_relists;
      fake->SendError(ApiStatus{410, "Expired", "too old resource version"});  // R6
    } else if (dice < 85) {
      watch_open();
      fake->SendError(ApiStatus{500, "InternalError", "etcd leader changed"});  // R6
    } else if (dice < 89) {
      watch_open();
      fake->BumpRevision(rng() % 3 + 1);
      fake->SendBookmark();  // R3
    } else if (dice < 91) {
      if (watch_open()) ++forced_relists;
      fake->FailNextWatch(ApiStatusToStatus(ApiStatus{410, "Gone", "too old resource version"}));
      fake->BreakWatches();
    } else if (dice < 92) {
      fake->FailNextList(absl::UnavailableError("apiserver restarting"));
      fake->BreakWatches();
    } else if (dice < 93 && late == nullptr) {
      late = std::make_shared<RecordingHandler>();  // I3, mid-stream
      ASSERT_TRUE(informer.AddEventHandler(late).ok());
    } else {
      absl::SleepFor(absl::Microseconds(100));  // let the pipeline catch up now and then
    }
  }
  if (late == nullptr) {
    late = std::make_shared<RecordingHandler>();
    ASSERT_TRUE(informer.AddEventHandler(late).ok());
  }

  const State truth = Truth(*fake);
  // Everything the server did is reflected eventually: no event lost across breaks,
  // compactions and relists (R8), and the cache says so (U5).
  absl::Status caught_up =
      informer.WaitForResourceVersion(last_change_rv, absl::Now() + absl::Seconds(30));
  ASSERT_TRUE(caught_up.ok()) << caught_up << "; last error: " << informer.LastError();
  EXPECT_EQ(StoreState(informer.store()), truth);
  ASSERT_TRUE(Eventually([&] { return early->state() == truth && late->state() == truth; }));
  EXPECT_EQ(early->state(), truth);
  EXPECT_EQ(late->state(), truth);
  EXPECT_THAT(early->anomalies(), IsEmpty());  // no duplicate add, no delete of the unknown
  EXPECT_THAT(late->anomalies(), IsEmpty());
  for (const std::string& key : deleted) {
    EXPECT_EQ(early->state().count(key), 0u) << "delete of " << key << " was lost";
  }
  EXPECT_EQ(ReplayHistory(informer.history()), truth);
  // The faults really happened to the pipeline, not to an idle fake.
  InformerStats stats = informer.stats();
  EXPECT_GT(stats.watch_restarts, 0u);
  EXPECT_GE(stats.relists, forced_relists > 0 ? 1u : 0u);
  EXPECT_GT(stats.errors, 0u);
  informer.Stop();
}

TEST(InformerChaosTest, CacheHandlersAndHistoryConvergeToTheTruth) {
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    ChaosConfig config;
    config.seed = seed;
    config.server_pages = seed % 3 != 0;
    RunChaos(config);
    if (HasFatalFailure()) return;
  }
}

TEST(InformerChaosTest, WithStreamingListsConvergeToTheTruth) {
  for (uint64_t seed = 101; seed <= 103; ++seed) {
    ChaosConfig config;
    config.seed = seed;
    config.streaming_list = true;
    RunChaos(config);
    if (HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace informer
