#include "informer/shared_informer.h"

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "informer/api_status.h"
#include "informer/testing/fake_clock.h"
#include "informer/testing/fake_lister_watcher.h"
#include "informer/testing/objects.h"
#include "informer/testing/recording_handler.h"

namespace informer {
namespace {

using ::informer::testing::Eventually;
using ::informer::testing::FakeClock;
using ::informer::testing::FakeListerWatcher;
using ::informer::testing::MakeObject;
using ::informer::testing::PodsResource;
using ::informer::testing::RecordingHandler;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::map<std::string, std::string> Truth(const FakeListerWatcher& fake) {
  std::map<std::string, std::string> truth;
  for (const auto& [key, object] : fake.Objects()) truth[key] = object->meta().resource_version;
  return truth;
}

std::map<std::string, std::string> StoreState(const Store& store) {
  std::map<std::string, std::string> state;
  for (const ObjectPtr& object : store.List())
    state[object->key()] = object->meta().resource_version;
  return state;
}

// Rebuilds key -> RV from history events after seq 0.
std::map<std::string, std::string> Replay(const EventHistory& history) {
  std::vector<HistoryEvent> events;
  EXPECT_TRUE(history.ReadAfter(0, 1 << 30, &events).ok());
  std::map<std::string, std::string> state;
  for (const HistoryEvent& event : events) {
    if (event.type == EventType::kDeleted) {
      state.erase(event.object->key());
    } else {
      state[event.object->key()] = event.object->meta().resource_version;
    }
  }
  return state;
}

class SharedInformerTest : public ::testing::Test {
 protected:
  SharedInformerTest() {
    options_.resource = PodsResource();
    options_.reflector.backoff.initial = absl::Milliseconds(1);
    options_.reflector.backoff.max = absl::Milliseconds(5);
  }
  void Make() { informer_ = std::make_unique<SharedIndexInformer>(fake_, options_); }
  void RunAndSync() {
    if (informer_ == nullptr) Make();
    ASSERT_TRUE(informer_->Run().ok());
    ASSERT_TRUE(informer_->WaitForSync(absl::Now() + absl::Seconds(10)));
  }
  std::shared_ptr<RecordingHandler> AddHandlerWithoutPeriod() {
    auto handler = std::make_shared<RecordingHandler>();
    auto registration = informer_->AddEventHandler(handler);
    EXPECT_TRUE(registration.ok()) << registration.status();
    if (registration.ok()) registrations_.push_back(*registration);
    return handler;
  }
  std::shared_ptr<RecordingHandler> AddHandler(absl::Duration resync = absl::ZeroDuration()) {
    auto handler = std::make_shared<RecordingHandler>();
    auto registration = informer_->AddEventHandler(handler, resync);
    EXPECT_TRUE(registration.ok()) << registration.status();
    if (registration.ok()) registrations_.push_back(*registration);
    return handler;
  }
  // Waits until the store equals the fake's truth.
  bool Converged() {
    return Eventually([&] { return StoreState(informer_->store()) == Truth(*fake_); });
  }

  FakeClock clock_;  // must outlive informer_ when a test passes it in
  std::shared_ptr<FakeListerWatcher> fake_ = std::make_shared<FakeListerWatcher>();
  InformerOptions options_;
  std::unique_ptr<SharedIndexInformer> informer_;
  std::vector<std::shared_ptr<HandlerRegistration>> registrations_;
};

TEST_F(SharedInformerTest, I1_I2_WatchEventsReachStoreHandlersAndHistory) {
  fake_->Add(MakeObject("ns", "a", ""));  // 2
  Make();
  auto handler = AddHandler();
  RunAndSync();
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  fake_->Add(MakeObject("ns", "b", ""));  // 3
  ASSERT_TRUE(handler->WaitForCalls(2));
  fake_->Update(MakeObject("ns", "a", ""));  // 4
  ASSERT_TRUE(handler->WaitForCalls(3));
  fake_->Delete("ns/b");  // 5
  ASSERT_TRUE(handler->WaitForCalls(4));
  EXPECT_THAT(handler->calls(),
              ElementsAre("add ns/a@2 initial", "add ns/b@3", "update ns/a@2->4", "delete ns/b@5"));
  EXPECT_TRUE(Converged());

  std::vector<HistoryEvent> events;
  ASSERT_TRUE(informer_->history().ReadAfter(0, 100, &events).ok());
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].type, EventType::kAdded);
  EXPECT_EQ(events[0].resource_version, "2");
  ASSERT_EQ(events[2].type, EventType::kModified);
  EXPECT_EQ(events[2].old_object->meta().resource_version, "2");
  EXPECT_EQ(events[3].type, EventType::kDeleted);
  EXPECT_EQ(events[3].resource_version, "5");
  EXPECT_FALSE(events[3].final_state_unknown);
}

TEST_F(SharedInformerTest, F8_I16_ABurstAcrossObjectsReachesHandlersAndHistoryInServerOrder) {
  Make();
  auto handler = AddHandler();
  RunAndSync();
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  fake_->Add(MakeObject("ns", "a", ""));     // 2
  fake_->Add(MakeObject("ns", "b", ""));     // 3
  fake_->Update(MakeObject("ns", "a", ""));  // 4
  fake_->Update(MakeObject("ns", "b", ""));  // 5
  ASSERT_TRUE(handler->WaitForCalls(4));
  EXPECT_THAT(handler->calls(),
              ElementsAre("add ns/a@2", "add ns/b@3", "update ns/a@2->4", "update ns/b@3->5"));
  std::vector<HistoryEvent> events;
  ASSERT_TRUE(informer_->history().ReadAfter(0, 100, &events).ok());
  std::vector<std::string> versions;
  for (const HistoryEvent& event : events) versions.push_back(event.resource_version);
  EXPECT_THAT(versions, ElementsAre("2", "3", "4", "5"));
  // I16: the cache's RV is that of the last applied event.
  ASSERT_TRUE(informer_->WaitForResourceVersion("5", absl::Now() + absl::Seconds(5)).ok());
  EXPECT_EQ(informer_->Snapshot().resource_version, "5");
}

TEST_F(SharedInformerTest, F9_F10_ARelistReportsVanishedObjectsFirstThenTheListInOrder) {
  for (const char* name : {"a", "b", "c"}) fake_->Add(MakeObject("ns", name, ""));  // 2..4
  Make();
  auto handler = AddHandler();
  RunAndSync();
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  const uint64_t seq_before = informer_->history().last_seq();
  // Changes the watch never sees: they happen just before the relist serves its LIST.
  fake_->SetListHook([&](const ListOptions&) {
    if (fake_->Objects().count("ns/b") == 0) return;
    fake_->Delete("ns/b");                     // 5
    fake_->Update(MakeObject("ns", "c", ""));  // 6
    fake_->Add(MakeObject("ns", "d", ""));     // 7
  });
  fake_->FailNextWatch(ApiStatusToStatus(ApiStatus{410, "Expired", "too old resource version"}));
  fake_->BreakWatches();
  ASSERT_TRUE(Converged());
  ASSERT_TRUE(handler->WaitForCalls(7));
  std::vector<std::string> calls = handler->calls();
  std::vector<std::string> relist(calls.begin() + 3, calls.end());
  // The vanished object first (a tombstone), then every listed object in list order; the
  // unchanged ns/a as an update too, since no handler resyncs (I10).
  EXPECT_THAT(relist, ElementsAre("delete ns/b@3 tombstone", "update ns/a@2->2", "update ns/c@4->6",
                                  "add ns/d@7"));
  EXPECT_THAT(handler->anomalies(), IsEmpty());

  std::vector<HistoryEvent> events;
  ASSERT_TRUE(informer_->history().ReadAfter(seq_before, 100, &events).ok());
  ASSERT_EQ(events.size(), 3u);  // the unchanged ns/a adds nothing
  EXPECT_TRUE(events.back().completes_version);
  for (const HistoryEvent& event : events) {
    EXPECT_EQ(event.resource_version, "7");  // the LIST's RV
    EXPECT_TRUE(event.from_relist);
    EXPECT_EQ(event.relist_from, 4u);  // what the cache reflected before
    if (&event != &events.back()) EXPECT_FALSE(event.completes_version);
    if (event.type == EventType::kDeleted) {
      EXPECT_TRUE(event.final_state_unknown);
      EXPECT_EQ(event.object->key(), "ns/b");
    }
  }
  EXPECT_EQ(Replay(informer_->history()), Truth(*fake_));
  EXPECT_GE(informer_->stats().relists, 1u);
}

TEST_F(SharedInformerTest, I10_ARelistOfUnchangedObjectsReachesHandlersAsUpdatesButNotTheHistory) {
  fake_->Add(MakeObject("ns", "a", ""));
  Make();
  auto handler = AddHandler();
  RunAndSync();
  ASSERT_TRUE(handler->WaitForCalls(1));
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  fake_->FailNextWatch(ApiStatusToStatus(ApiStatus{410, "Expired", "gone"}));
  fake_->BreakWatches();
  ASSERT_TRUE(fake_->WaitForListCalls(2));
  // With resync off, client-go hands every handler the unchanged object as an update.
  ASSERT_TRUE(handler->WaitForCalls(2));
  EXPECT_THAT(handler->calls(), ElementsAre("add ns/a@2 initial", "update ns/a@2->2"));
  // Subscribers only get real changes: nothing for the history.
  EXPECT_EQ(informer_->history().last_seq(), 1u);
}

TEST_F(SharedInformerTest, I2_OnlyTheFirstListIsInitial) {
  fake_->Add(MakeObject("ns", "a", ""));
  Make();
  auto handler = AddHandler();
  RunAndSync();
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  fake_->Add(MakeObject("ns", "b", ""));
  ASSERT_TRUE(handler->WaitForCalls(2));
  EXPECT_THAT(handler->calls(), ElementsAre("add ns/a@2 initial", "add ns/b@3"));
}

TEST_F(SharedInformerTest, I3_LateHandlerGetsAConsistentReplayThenLiveEventsNoneLostOrDoubled) {
  for (int i = 0; i < 50; ++i) fake_->Add(MakeObject("ns", absl::StrCat("o", i), ""));
  RunAndSync();
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  std::thread writer([&] {
    for (int i = 0; i < 300; ++i) {
      const std::string name = absl::StrCat("o", i % 60);
      if (fake_->Update(MakeObject("ns", name, "")) == nullptr) {
        fake_->Add(MakeObject("ns", name, ""));
      }
      if (i % 7 == 0) fake_->Delete(absl::StrCat("ns/o", (i * 3) % 60));
    }
  });
  absl::SleepFor(absl::Milliseconds(2));
  auto late = AddHandler();
  writer.join();
  ASSERT_TRUE(Converged());
  ASSERT_TRUE(Eventually([&] { return late->state() == Truth(*fake_); }));
  EXPECT_THAT(late->anomalies(), IsEmpty());
  // The replay came first and was marked initial.
  std::vector<std::string> calls = late->calls();
  ASSERT_FALSE(calls.empty());
  EXPECT_TRUE(absl::EndsWith(calls[0], "initial"));
  EXPECT_TRUE(Eventually([&] { return registrations_[0]->HasSynced(); }));
}

TEST_F(SharedInformerTest, I5_I11_HandlersResyncAtTheirOwnPeriodOrTheInformers) {
  options_.clock = &clock_;
  options_.resync_period = absl::Seconds(10);
  fake_->Add(MakeObject("ns", "a", ""));
  Make();
  auto resyncing = AddHandlerWithoutPeriod();     // takes the informer's 10 s (I11)
  auto quiet = AddHandler(absl::ZeroDuration());  // asked for none
  RunAndSync();
  ASSERT_TRUE(resyncing->WaitForCalls(1));
  ASSERT_TRUE(clock_.WaitForSleepers(1));  // the resync loop
  clock_.Advance(absl::Seconds(10));
  ASSERT_TRUE(resyncing->WaitForCalls(2));
  EXPECT_THAT(resyncing->calls(), ElementsAre("add ns/a@2 initial", "update ns/a@2->2"));
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_EQ(quiet->call_count(), 1u);
  EXPECT_EQ(informer_->history().last_seq(), 1u);  // a resync changes nothing
}

TEST_F(SharedInformerTest, I13_ADeleteOfAnObjectTheCacheNeverHeldStillReachesHandlers) {
  Make();
  auto handler = AddHandler();
  RunAndSync();
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  fake_->EmitEvent(WatchEventType::kDeleted, MakeObject("ns", "never-seen", "9"));
  ASSERT_TRUE(handler->WaitForCalls(1));
  EXPECT_THAT(handler->calls(), ElementsAre("delete ns/never-seen@9"));
  // Subscribers never held it: nothing for the history.
  EXPECT_EQ(informer_->history().last_seq(), 0u);
}

// A transform that refuses objects named "bad".
absl::Status RefuseBad(rapidjson::Value& object, rapidjson::Document::AllocatorType&) {
  if (object["metadata"]["name"] == "bad") return absl::InvalidArgumentError("no bad objects");
  return absl::OkStatus();
}

TEST_F(SharedInformerTest, I15_ATransformErrorDropsOneWatchEventAndTheWatchGoesOn) {
  options_.transforms = {Transform(RefuseBad)};
  fake_->Add(MakeObject("ns", "a", ""));
  Make();
  auto handler = AddHandler();
  RunAndSync();
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  const size_t watches_before = fake_->watch_calls().size();
  ObjectPtr bad = fake_->Add(MakeObject("ns", "bad", ""));
  ObjectPtr c = fake_->Add(MakeObject("ns", "c", ""));
  ASSERT_TRUE(handler->WaitForCalls(2));
  EXPECT_THAT(handler->calls(), ElementsAre("add ns/a@2 initial", "add ns/c@4"));
  EXPECT_EQ(informer_->store().GetByKey("ns/bad"), nullptr);
  EXPECT_NE(informer_->store().GetByKey("ns/c"), nullptr);
  EXPECT_EQ(informer_->stats().dropped_events, 1u);
  EXPECT_EQ(informer_->LastSyncResourceVersion(), c->meta().resource_version);
  EXPECT_EQ(bad->meta().resource_version, "3");
  // The same watch goes on: no relist, no re-watch.
  EXPECT_EQ(fake_->list_calls().size(), 1u);
  EXPECT_EQ(fake_->watch_calls().size(), watches_before);
  EXPECT_TRUE(informer_->LastError().ok());
}

TEST_F(SharedInformerTest, I15_ATransformErrorOnAListFailsTheList) {
  options_.transforms = {Transform(RefuseBad)};
  fake_->Add(MakeObject("ns", "a", ""));
  fake_->Add(MakeObject("ns", "bad", ""));
  Make();
  ASSERT_TRUE(informer_->Run().ok());
  ASSERT_TRUE(Eventually([&] { return !informer_->LastError().ok(); }));
  EXPECT_FALSE(informer_->HasSynced());
  EXPECT_EQ(informer_->LastError().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(informer_->LastError().message()), HasSubstr("no bad objects"));
  EXPECT_EQ(informer_->store().GetByKey("ns/a"), nullptr);  // nothing of a failed list
}

TEST_F(SharedInformerTest, I14_AnUpdateThatKeepsTheResourceVersionCountsAsASync) {
  options_.clock = &clock_;
  options_.resync_period = absl::Hours(1);
  fake_->Add(MakeObject("ns", "a", ""));
  Make();
  auto due = AddHandler(absl::Seconds(1));  // lowers the check period to 1 s
  auto not_due = AddHandler(absl::Hours(1));
  RunAndSync();
  ASSERT_TRUE(due->WaitForCalls(1));
  ASSERT_TRUE(not_due->WaitForCalls(1));
  ASSERT_TRUE(clock_.WaitForSleepers(1));
  clock_.Advance(absl::Seconds(1));   // the check: only `due` is due
  ASSERT_TRUE(due->WaitForCalls(2));  // its resync
  // A MODIFIED that carries the resourceVersion the cache holds: a sync, whatever its type.
  // (EmitEvent reaches open watches only; the watch opens after the list that synced.)
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  fake_->EmitEvent(WatchEventType::kModified, fake_->Objects().at("ns/a"));
  ASSERT_TRUE(due->WaitForCalls(3));
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_EQ(not_due->call_count(), 1u);
}

TEST_F(SharedInformerTest, I12_AnInformerCreatedWithResyncZeroNeverResyncs) {
  options_.clock = &clock_;
  fake_->Add(MakeObject("ns", "a", ""));
  Make();
  auto asks = AddHandler(absl::Seconds(2));
  RunAndSync();
  ASSERT_TRUE(asks->WaitForCalls(1));
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(clock_.WaitForSleepers(1));
    clock_.Advance(absl::Seconds(3));
  }
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_EQ(asks->call_count(), 1u);
}

TEST_F(SharedInformerTest, I12_PeriodsBelowOneSecondCountAsOneSecond) {
  options_.clock = &clock_;
  options_.resync_period = absl::Seconds(30);
  fake_->Add(MakeObject("ns", "a", ""));
  Make();
  auto fast = AddHandler(absl::Milliseconds(10));  // lowers the check period to 1 s
  RunAndSync();
  ASSERT_TRUE(fast->WaitForCalls(1));
  ASSERT_TRUE(clock_.WaitForSleepers(1));
  clock_.Advance(absl::Milliseconds(500));
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_EQ(fast->call_count(), 1u);  // not at 10 ms
  ASSERT_TRUE(clock_.WaitForSleepers(1));
  clock_.Advance(absl::Milliseconds(600));
  ASSERT_TRUE(fast->WaitForCalls(2));
}

TEST_F(SharedInformerTest, I6_I17_RemovedHandlerStopsGettingEventsOthersDoNot) {
  fake_->Add(MakeObject("ns", "a", ""));
  Make();
  auto removed = AddHandler();
  auto kept = AddHandler();
  RunAndSync();
  ASSERT_TRUE(removed->WaitForCalls(1));
  ASSERT_TRUE(Eventually([&] { return registrations_[0]->HasSynced(); }));
  ASSERT_TRUE(informer_->RemoveEventHandler(registrations_[0]).ok());
  // I17: removing it again succeeds, as client-go.
  EXPECT_TRUE(informer_->RemoveEventHandler(registrations_[0]).ok());
  fake_->Add(MakeObject("ns", "b", ""));
  ASSERT_TRUE(kept->WaitForCalls(2));
  EXPECT_EQ(removed->call_count(), 1u);
  EXPECT_TRUE(registrations_[0]->HasSynced());
}

TEST_F(SharedInformerTest, I7_TransformsRunOnceBeforeTheStore) {
  fake_->Add(MakeObject("ns", "a", "", {},
                        R"("metadata2":1,"spec":{"x":1},"status":{"phase":"Running"})"));
  std::atomic<int> runs{0};
  options_.transforms = {[&](rapidjson::Value& object, rapidjson::Document::AllocatorType&) {
    ++runs;
    object.RemoveMember("status");
    return absl::OkStatus();
  }};
  RunAndSync();
  ObjectPtr stored = informer_->store().GetByKey("ns/a");
  ASSERT_NE(stored, nullptr);
  EXPECT_TRUE(stored->FieldValues("status.phase").empty());
  EXPECT_EQ(stored->FieldValues("spec.x").size(), 1u);
  EXPECT_EQ(runs, 1);
}

TEST_F(SharedInformerTest, I7_ATransformThatChangesTheKeyFailsTheListAndSaysWhy) {
  fake_->Add(MakeObject("ns", "a", ""));
  options_.transforms = {[](rapidjson::Value& object, rapidjson::Document::AllocatorType& alloc) {
    object["metadata"]["name"].SetString("renamed", alloc);
    return absl::OkStatus();
  }};
  Make();
  ASSERT_TRUE(informer_->Run().ok());
  EXPECT_FALSE(informer_->WaitForSync(absl::Now() + absl::Milliseconds(50)));
  EXPECT_EQ(informer_->LastError().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SharedInformerTest, I8_HandlersAndTheStoreShareOneImmutableObject) {
  fake_->Add(MakeObject("ns", "a", ""));
  Make();
  struct Capture : public RecordingHandler {
    void OnAdd(const ObjectPtr& object, bool initial) override {
      {
        absl::MutexLock lock(&mu);
        seen = object;
      }
      RecordingHandler::OnAdd(object, initial);  // counted only once `seen` is set
    }
    absl::Mutex mu;
    ObjectPtr seen;
  };
  auto capture = std::make_shared<Capture>();
  ASSERT_TRUE(informer_->AddEventHandler(capture).ok());
  RunAndSync();
  ASSERT_TRUE(capture->WaitForCalls(1));
  absl::MutexLock lock(&capture->mu);
  EXPECT_EQ(capture->seen.get(), informer_->store().GetByKey("ns/a").get());
  static_assert(std::is_same_v<ObjectPtr, std::shared_ptr<const Object>>);
}

TEST_F(SharedInformerTest, I9_U2_StopEndsEveryThreadAndFreesTheCache) {
  for (int i = 0; i < 10; ++i) fake_->Add(MakeObject("ns", absl::StrCat("o", i), ""));
  Make();
  auto handler = AddHandler();
  RunAndSync();
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  EXPECT_EQ(informer_->store().Size(), 10u);
  const absl::Time start = absl::Now();
  informer_->Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  EXPECT_TRUE(informer_->IsStopped());
  EXPECT_EQ(informer_->store().Size(), 0u);
  EXPECT_EQ(informer_->history().size(), 0u);
  EXPECT_EQ(fake_->open_watches(), 0);
  EXPECT_EQ(informer_->Run().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(informer_->AddEventHandler(std::make_shared<RecordingHandler>()).status().code(),
            absl::StatusCode::kFailedPrecondition);
  informer_->Stop();  // idempotent
  // No thread is left to deliver anything.
  const size_t calls = handler->call_count();
  fake_->Add(MakeObject("ns", "late", ""));
  absl::SleepFor(absl::Milliseconds(10));
  EXPECT_EQ(handler->call_count(), calls);
}

TEST_F(SharedInformerTest, I9_StopBeforeRunAndDestructionWithoutStopAreClean) {
  Make();
  AddHandler();
  informer_->Stop();
  EXPECT_EQ(informer_->Run().code(), absl::StatusCode::kFailedPrecondition);
  auto other = std::make_unique<SharedIndexInformer>(fake_, options_);
  ASSERT_TRUE(other->Run().ok());
  ASSERT_TRUE(other->WaitForSync(absl::Now() + absl::Seconds(10)));
  other.reset();  // the destructor stops it
  EXPECT_EQ(fake_->open_watches(), 0);
}

TEST_F(SharedInformerTest, F6_HasSyncedAndWaitForSyncAfterTheFirstList) {
  Make();
  EXPECT_FALSE(informer_->HasSynced());
  EXPECT_FALSE(informer_->WaitForSync(absl::Now() + absl::Milliseconds(5)));
  ASSERT_TRUE(informer_->Run().ok());
  EXPECT_EQ(informer_->Run().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(informer_->WaitForSync(absl::Now() + absl::Seconds(10)));  // an empty list
  EXPECT_TRUE(informer_->HasSynced());
  EXPECT_EQ(informer_->LastSyncResourceVersion(), "1");
}

TEST_F(SharedInformerTest, U5_WaitForResourceVersionWaitsUntilTheCacheReflectsIt) {
  fake_->Add(MakeObject("ns", "a", ""));  // 2
  RunAndSync();
  EXPECT_TRUE(informer_->WaitForResourceVersion("2", absl::Now()).ok());
  EXPECT_TRUE(informer_->WaitForResourceVersion("1", absl::Now()).ok());
  EXPECT_EQ(informer_->WaitForResourceVersion("3", absl::Now() + absl::Milliseconds(5)).code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(informer_->WaitForResourceVersion("x1", absl::Now()).code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  std::thread writer([&] {
    absl::SleepFor(absl::Milliseconds(5));
    fake_->Add(MakeObject("ns", "b", ""));  // 3
  });
  EXPECT_TRUE(informer_->WaitForResourceVersion("3", absl::Now() + absl::Seconds(10)).ok());
  EXPECT_NE(informer_->store().GetByKey("ns/b"), nullptr);  // the write is visible
  writer.join();
  // A bookmark moves it without any object change.
  fake_->BumpRevision(10);
  fake_->SendBookmark();
  EXPECT_TRUE(informer_->WaitForResourceVersion("13", absl::Now() + absl::Seconds(10)).ok());
  EXPECT_EQ(informer_->Snapshot().resource_version, "13");
  std::thread stopper([&] {
    absl::SleepFor(absl::Milliseconds(5));
    informer_->Stop();
  });
  EXPECT_EQ(informer_->WaitForResourceVersion("99", absl::Now() + absl::Seconds(10)).code(),
            absl::StatusCode::kCancelled);
  stopper.join();
}

TEST_F(SharedInformerTest, U6_LastErrorAndTheWatchErrorHandlerNameTheCause) {
  fake_->FailNextList(ApiStatusToStatus(ApiStatus{403, "Forbidden", "pods is forbidden"}));
  fake_->FailNextList(ApiStatusToStatus(ApiStatus{403, "Forbidden", "pods is forbidden"}));
  Make();
  absl::Mutex mu;
  std::vector<absl::Status> seen;
  informer_->SetWatchErrorHandler([&](const absl::Status& status) {
    absl::MutexLock lock(&mu);
    seen.push_back(status);
  });
  EXPECT_TRUE(informer_->LastError().ok());
  ASSERT_TRUE(informer_->Run().ok());
  ASSERT_TRUE(informer_->WaitForSync(absl::Now() + absl::Seconds(10)));
  {
    absl::MutexLock lock(&mu);
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[0].code(), absl::StatusCode::kPermissionDenied);
    EXPECT_TRUE(absl::StrContains(seen[0].message(), "forbidden"));
  }
  EXPECT_TRUE(Eventually([&] { return informer_->LastError().ok(); }));  // then it succeeded
  EXPECT_EQ(informer_->stats().errors, 2u);
}

TEST_F(SharedInformerTest, U6_ErrorSinceIsTheFirstFailureOfTheCurrentRunAndClearsOnSuccess) {
  options_.clock = &clock_;
  fake_->FailNextList(ApiStatusToStatus(ApiStatus{403, "Forbidden", "pods is forbidden"}));
  fake_->FailNextList(ApiStatusToStatus(ApiStatus{403, "Forbidden", "pods is forbidden"}));
  Make();
  EXPECT_EQ(informer_->ErrorSince(), absl::InfiniteFuture());
  const absl::Time first = clock_.Now();
  ASSERT_TRUE(informer_->Run().ok());
  // The first failure; the reflector backs off on the clock (beside the idle resync check).
  // (The reflector counts the failure before the informer records it: wait for the record.)
  ASSERT_TRUE(Eventually([&] { return informer_->ErrorSince() != absl::InfiniteFuture(); }));
  EXPECT_EQ(informer_->stats().errors, 1u);
  EXPECT_EQ(informer_->ErrorSince(), first);
  ASSERT_TRUE(clock_.WaitForSleepers(2));
  clock_.Advance(absl::Minutes(5));
  // The second failure keeps the start of the run.
  ASSERT_TRUE(Eventually([&] { return informer_->stats().errors == 2; }));
  EXPECT_EQ(informer_->ErrorSince(), first);
  ASSERT_TRUE(clock_.WaitForSleepers(2));
  clock_.Advance(absl::Minutes(5));
  // Then the LIST succeeds: fresh again.
  ASSERT_TRUE(Eventually([&] { return informer_->ErrorSince() == absl::InfiniteFuture(); }));
  EXPECT_TRUE(informer_->LastError().ok());
}

TEST_F(SharedInformerTest, HistoryHoldsAQuarterOfTheCacheBytesAsTheCacheChanges) {
  options_.history.min_bytes = 0;  // small objects: let the quarter itself be the bound
  const std::string payload = absl::StrCat(R"("data":{"blob":")", std::string(1024, 'x'), R"("})");
  for (int i = 0; i < 40; ++i) fake_->Add(MakeObject("ns", absl::StrCat("o", i), "", {}, payload));
  RunAndSync();
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 40; ++i) {
      fake_->Update(MakeObject("ns", absl::StrCat("o", i), "", {}, payload));
    }
  }
  ASSERT_TRUE(Converged());
  ASSERT_TRUE(Eventually([&] { return informer_->history().last_seq() == 40u + 120u; }));

  size_t cache_bytes = 0;
  for (const ObjectPtr& object : informer_->store().List())
    cache_bytes += object->ApproximateBytes();
  EXPECT_EQ(informer_->store().ApproximateBytes(), cache_bytes);
  // A kModified event counts its object and old_object: two Pods of about 1.3 KiB.
  const size_t one_event = 2 * informer_->store().GetByKey("ns/o0")->ApproximateBytes() + 256;
  const size_t history_bytes = informer_->history().bytes();
  EXPECT_EQ(informer_->history().byte_limit(), cache_bytes / 4);
  EXPECT_LE(history_bytes, cache_bytes / 4);
  EXPECT_GT(history_bytes + one_event, cache_bytes / 4);  // filled up to the bound, not below
  EXPECT_LT(informer_->history().size(), 160u);
}

TEST_F(SharedInformerTest, SnapshotIsOneConsistentCutOfStoreAndHistory) {
  for (int i = 0; i < 20; ++i) fake_->Add(MakeObject("ns", absl::StrCat("o", i), ""));
  RunAndSync();
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  std::thread writer([&] {
    for (int i = 0; i < 200; ++i) fake_->Update(MakeObject("ns", absl::StrCat("o", i % 20), ""));
  });
  for (int round = 0; round < 20; ++round) {
    InformerSnapshot snapshot = informer_->Snapshot();
    std::vector<HistoryEvent> events;
    ASSERT_TRUE(informer_->history().ReadAfter(0, 1 << 20, &events).ok());
    std::map<std::string, std::string> replayed;
    for (const HistoryEvent& event : events) {
      if (event.seq > snapshot.history_seq) break;
      replayed[event.object->key()] = event.object->meta().resource_version;
    }
    std::map<std::string, std::string> objects;
    for (const ObjectPtr& object : snapshot.objects) {
      objects[object->key()] = object->meta().resource_version;
    }
    ASSERT_EQ(objects, replayed) << "round " << round;
  }
  writer.join();
}

TEST_F(SharedInformerTest, NamespaceIndexIsAlwaysPresentAndIndexersCanBeAddedAfterRun) {
  options_.indexers["byApp"] = LabelIndexFunc("app");
  fake_->Add(MakeObject("ns1", "a", "", {{"app", "web"}}));
  fake_->Add(MakeObject("ns2", "b", "", {{"app", "db"}}));
  RunAndSync();
  EXPECT_THAT(*informer_->store().IndexKeys(kNamespaceIndex, "ns1"), ElementsAre("ns1/a"));
  EXPECT_THAT(*informer_->store().IndexKeys("byApp", "db"), ElementsAre("ns2/b"));
  ASSERT_TRUE(informer_->AddIndexers({{"byName", FieldPathIndexFunc("metadata.name")}}).ok());
  EXPECT_THAT(*informer_->store().IndexKeys("byName", "b"), ElementsAre("ns2/b"));
  EXPECT_EQ(informer_->AddIndexers({{"byApp", LabelIndexFunc("x")}}).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(informer_->resource().gvr.resource, "pods");
}

}  // namespace
}  // namespace informer
