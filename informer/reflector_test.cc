#include "informer/reflector.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "informer/api_status.h"
#include "informer/testing/fake_clock.h"
#include "informer/testing/fake_lister_watcher.h"
#include "informer/testing/objects.h"

namespace informer {
namespace {

using ::informer::testing::Eventually;
using ::informer::testing::FakeClock;
using ::informer::testing::FakeListerWatcher;
using ::informer::testing::MakeObject;
using ::informer::testing::PodsResource;
using ::testing::ElementsAre;

// Applies what the reflector sends to a map and records each call.
class RecordingStore : public ReflectorStore {
 public:
  void Add(ObjectPtr object) override { Apply("add", object); }
  void Update(ObjectPtr object) override { Apply("update", object); }
  void Delete(ObjectPtr object) override {
    absl::MutexLock lock(&mu_);
    calls_.push_back(absl::StrCat("delete ", object->key(), "@", object->meta().resource_version));
    objects_.erase(object->key());
  }
  void Replace(std::vector<ObjectPtr> objects, std::string rv) override {
    absl::MutexLock lock(&mu_);
    calls_.push_back(absl::StrCat("replace ", objects.size(), "@", rv));
    objects_.clear();
    for (const ObjectPtr& object : objects)
      objects_[object->key()] = object->meta().resource_version;
  }
  void Bookmark(std::string rv) override {
    absl::MutexLock lock(&mu_);
    calls_.push_back("bookmark " + rv);
  }

  std::vector<std::string> calls() const {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  // key -> RV.
  std::map<std::string, std::string> objects() const {
    absl::MutexLock lock(&mu_);
    return objects_;
  }
  size_t call_count() const {
    absl::MutexLock lock(&mu_);
    return calls_.size();
  }

 private:
  void Apply(const char* what, const ObjectPtr& object) {
    absl::MutexLock lock(&mu_);
    calls_.push_back(absl::StrCat(what, " ", object->key(), "@", object->meta().resource_version));
    objects_[object->key()] = object->meta().resource_version;
  }

  mutable absl::Mutex mu_;
  std::vector<std::string> calls_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> objects_ ABSL_GUARDED_BY(mu_);
};

std::map<std::string, std::string> Truth(const FakeListerWatcher& fake) {
  std::map<std::string, std::string> truth;
  for (const auto& [key, object] : fake.Objects()) truth[key] = object->meta().resource_version;
  return truth;
}

class ReflectorTest : public ::testing::Test {
 protected:
  ReflectorTest() {
    config_.clock = &clock_;
    config_.seed = 7;
    config_.options.backoff.jitter = 0;
    // Most cases here are about LIST; the streaming list (the default) has its own cases.
    config_.options.use_streaming_list = false;
    config_.on_attempt = [this](const absl::Status& status) {
      absl::MutexLock lock(&attempts_mu_);
      attempts_.push_back(status);
    };
  }
  ~ReflectorTest() override {
    if (reflector_ != nullptr) reflector_->Stop();
  }

  void Start() {
    reflector_ = std::make_unique<Reflector>(fake_, &decoder_, &store_, config_);
    reflector_->Start();
  }
  // Waits for the reflector to sleep in a backoff, checks the delay, and wakes it.
  void ExpectBackoffAndWake(absl::Duration delay) {
    ASSERT_TRUE(clock_.WaitForSleepers(1));
    EXPECT_THAT(clock_.SleeperDelays(), ElementsAre(delay));
    clock_.AdvanceToNextDeadline();
  }
  std::vector<absl::Status> attempts() {
    absl::MutexLock lock(&attempts_mu_);
    return attempts_;
  }

  FakeClock clock_;
  std::shared_ptr<FakeListerWatcher> fake_ = std::make_shared<FakeListerWatcher>();
  ObjectDecoder decoder_{PodsResource(), {}};
  RecordingStore store_;
  ReflectorConfig config_;
  std::unique_ptr<Reflector> reflector_;
  absl::Mutex attempts_mu_;
  std::vector<absl::Status> attempts_ ABSL_GUARDED_BY(attempts_mu_);
};

TEST_F(ReflectorTest, R1_InitialListUsesRvZeroThenR2WatchesFromTheListsRv) {
  fake_->Add(MakeObject("ns", "a", ""));
  fake_->Add(MakeObject("ns", "b", ""));
  config_.label_selector = "app=web";
  config_.field_selector = "spec.nodeName=n1";
  Start();
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  std::vector<ListOptions> lists = fake_->list_calls();
  ASSERT_EQ(lists.size(), 1u);
  EXPECT_EQ(lists[0].resource_version, "0");
  EXPECT_EQ(lists[0].limit, 500);
  EXPECT_EQ(lists[0].label_selector, "app=web");
  EXPECT_EQ(lists[0].field_selector, "spec.nodeName=n1");
  EXPECT_THAT(store_.calls(), ElementsAre("replace 2@3"));

  std::vector<ListOptions> watches = fake_->watch_calls();
  ASSERT_EQ(watches.size(), 1u);
  EXPECT_EQ(watches[0].resource_version, "3");
  EXPECT_TRUE(watches[0].allow_watch_bookmarks);
  EXPECT_FALSE(watches[0].send_initial_events);
  EXPECT_EQ(watches[0].label_selector, "app=web");
  EXPECT_GE(watches[0].timeout_seconds, 300);
  EXPECT_LE(watches[0].timeout_seconds, 600);
  EXPECT_EQ(reflector_->LastSyncResourceVersion(), "3");
}

TEST_F(ReflectorTest, R1_PagesWithLimitAndContinueWhenTheServerPages) {
  fake_->set_watch_cache_ignores_limit(false);
  for (int i = 0; i < 5; ++i) fake_->Add(MakeObject("ns", absl::StrCat("o", i), ""));
  config_.options.page_size = 2;
  Start();
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  std::vector<ListOptions> lists = fake_->list_calls();
  ASSERT_EQ(lists.size(), 3u);
  EXPECT_EQ(lists[0].limit, 2);
  EXPECT_TRUE(lists[0].continue_token.empty());
  for (int i = 1; i < 3; ++i) {
    EXPECT_FALSE(lists[i].continue_token.empty());
    EXPECT_EQ(lists[i].resource_version, "");  // the token carries the RV
    EXPECT_EQ(lists[i].limit, 2);
  }
  EXPECT_THAT(store_.calls(), ElementsAre("replace 5@6"));  // one Replace for all pages
  EXPECT_EQ(reflector_->stats().lists, 1u);
}

TEST_F(ReflectorTest, R10_AnExpiredContinueTokenFallsBackAtOnceToOneUnpagedListAtTheSameRv) {
  fake_->set_watch_cache_ignores_limit(false);
  for (int i = 0; i < 3; ++i) fake_->Add(MakeObject("ns", absl::StrCat("o", i), ""));
  config_.options.page_size = 1;
  bool compacted = false;
  fake_->SetListHook([&](const ListOptions& options) {
    if (!options.continue_token.empty() && !compacted) {
      compacted = true;
      fake_->Add(MakeObject("ns", "late", ""));
      fake_->Compact();
    }
  });
  Start();
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  std::vector<ListOptions> lists = fake_->list_calls();
  ASSERT_EQ(lists.size(), 3u);
  EXPECT_EQ(lists[0].resource_version, "0");
  EXPECT_EQ(lists[0].limit, 1);
  EXPECT_FALSE(lists[1].continue_token.empty());
  EXPECT_EQ(lists[2].resource_version, "0");  // the same RV
  EXPECT_EQ(lists[2].limit, 0);               // unpaged
  EXPECT_TRUE(lists[2].continue_token.empty());
  EXPECT_EQ(clock_.total_sleeps(), 0u);  // at once
  EXPECT_EQ(store_.objects(), Truth(*fake_));
  EXPECT_THAT(store_.calls(), ElementsAre("replace 4@5"));
}

TEST_F(ReflectorTest, R9_AWatchRefusedWith410RelistsAtTheLastRvUnpaged) {
  fake_->Add(MakeObject("ns", "a", ""));
  fake_->FailNextWatch(ApiStatusToStatus(ApiStatus{410, "Expired", "too old resource version"}));
  Start();
  ExpectBackoffAndWake(absl::Milliseconds(800));
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  std::vector<ListOptions> lists = fake_->list_calls();
  ASSERT_EQ(lists.size(), 2u);
  EXPECT_EQ(lists[0].resource_version, "0");
  EXPECT_EQ(lists[1].resource_version, "2");  // the watch cache serves it
  EXPECT_EQ(lists[1].limit, 0);
  InformerStats stats = reflector_->stats();
  EXPECT_EQ(stats.lists, 2u);
  EXPECT_EQ(stats.relists, 1u);
  EXPECT_EQ(stats.errors, 1u);
  EXPECT_EQ(stats.expired, 1u);
}

TEST_F(ReflectorTest, R9_AListAtAnExpiredRvRetriesAtOnceFromQuorum) {
  fake_->Add(MakeObject("ns", "a", ""));
  Start();
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  fake_->FailNextList(ApiStatusToStatus(ApiStatus{410, "Expired", "too old resource version"}));
  fake_->SendError(ApiStatus{410, "Expired", "too old resource version: 2 (5)"});
  ExpectBackoffAndWake(absl::Milliseconds(800));
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  std::vector<ListOptions> lists = fake_->list_calls();
  ASSERT_EQ(lists.size(), 3u);
  EXPECT_EQ(lists[1].resource_version, "2");
  EXPECT_EQ(lists[2].resource_version, "");  // at once: one backoff in all
  EXPECT_EQ(clock_.total_sleeps(), 1u);
}

TEST_F(ReflectorTest, R9_TooLargeResourceVersionAlsoFallsBackToQuorum) {
  fake_->Add(MakeObject("ns", "a", ""));
  Start();
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  fake_->FailNextList(
      ApiStatusToStatus(ApiStatus{504, "Timeout", "Too large resource version: 9, current: 2"}));
  fake_->SendError(ApiStatus{410, "Expired", "too old resource version: 2 (5)"});
  ExpectBackoffAndWake(absl::Milliseconds(800));
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  std::vector<ListOptions> lists = fake_->list_calls();
  ASSERT_EQ(lists.size(), 3u);
  EXPECT_EQ(lists[2].resource_version, "");
}

TEST_F(ReflectorTest, R17_WatchTimeoutIsRandomInMinToTwiceMinWithMinAtLeastFiveMinutes) {
  for (absl::Duration configured : {absl::Seconds(100), absl::Seconds(400)}) {
    fake_ = std::make_shared<FakeListerWatcher>();
    config_.options.min_watch_timeout = configured;
    const int64_t floor = std::max<int64_t>(300, absl::ToInt64Seconds(configured));
    Start();
    for (int i = 0; i < 6; ++i) {
      ASSERT_TRUE(fake_->WaitForOpenWatches(1));
      fake_->Add(MakeObject("ns", absl::StrCat("o", i), ""));
      ASSERT_TRUE(
          Eventually([&] { return store_.objects().size() >= static_cast<size_t>(i + 1); }));
      fake_->EndWatches();
      ASSERT_TRUE(fake_->WaitForWatchCalls(i + 2));
    }
    std::set<int64_t> timeouts;
    for (const ListOptions& watch : fake_->watch_calls()) {
      EXPECT_GE(watch.timeout_seconds, floor);
      EXPECT_LT(watch.timeout_seconds, 2 * floor);
      timeouts.insert(watch.timeout_seconds);
    }
    EXPECT_GT(timeouts.size(), 1u);
    reflector_->Stop();
    reflector_.reset();
  }
}

TEST_F(ReflectorTest, R2_EndedWatchRewatchesFromTheLastRvWithoutRelist) {
  Start();
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  ObjectPtr added = fake_->Add(MakeObject("ns", "a", ""));
  ASSERT_TRUE(Eventually([&] { return store_.objects().size() == 1; }));
  fake_->EndWatches();
  ASSERT_TRUE(fake_->WaitForWatchCalls(2));
  EXPECT_EQ(fake_->watch_calls()[1].resource_version, added->meta().resource_version);
  EXPECT_EQ(fake_->list_calls().size(), 1u);
  EXPECT_EQ(clock_.total_sleeps(), 0u);  // a normal end re-watches at once
  EXPECT_EQ(reflector_->stats().watch_restarts, 1u);
}

TEST_F(ReflectorTest, R3_BookmarksAdvanceTheLastRvWithoutChangingObjects) {
  fake_->Add(MakeObject("ns", "a", ""));
  Start();
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  fake_->BumpRevision(5);  // writes to other resources
  fake_->SendBookmark();
  ASSERT_TRUE(Eventually([&] { return reflector_->LastSyncResourceVersion() == "7"; }));
  EXPECT_THAT(store_.calls(), ElementsAre("replace 1@2", "bookmark 7"));
  EXPECT_EQ(store_.objects(), Truth(*fake_));
  fake_->EndWatches();
  ASSERT_TRUE(fake_->WaitForWatchCalls(2));
  EXPECT_EQ(fake_->watch_calls()[1].resource_version, "7");
  InformerStats stats = reflector_->stats();
  EXPECT_EQ(stats.bookmarks, 1u);
  EXPECT_EQ(stats.events, 1u);
}

TEST_F(ReflectorTest, R14_ALostConnectionRewatchesAtOnceFromTheLastRv) {
  Start();
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  ObjectPtr added = fake_->Add(MakeObject("ns", "a", ""));
  ASSERT_TRUE(Eventually([&] { return store_.objects().size() == 1; }));
  fake_->BreakWatches();  // a reset connection, after an event
  ASSERT_TRUE(fake_->WaitForWatchCalls(2));
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  EXPECT_EQ(fake_->watch_calls()[1].resource_version, added->meta().resource_version);
  EXPECT_EQ(fake_->list_calls().size(), 1u);
  EXPECT_EQ(clock_.total_sleeps(), 0u);  // no backoff
  EXPECT_EQ(reflector_->stats().watch_restarts, 1u);
}

TEST_F(ReflectorTest, R18_ADeadConnectionRewatchesAtOnceFromTheLastRvAndIsCounted) {
  Start();
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  ObjectPtr added = fake_->Add(MakeObject("ns", "a", ""));
  ASSERT_TRUE(Eventually([&] { return store_.objects().size() == 1; }));
  // What the HTTP client reports when a silent connection failed its probe (the end-to-end
  // test tests/contract/dead_connection_test.py shows the probe against the real server).
  fake_->BreakWatches(WithTransportFault(absl::UnavailableError("the connection is dead"),
                                         TransportFault::kConnectionDead));
  ASSERT_TRUE(fake_->WaitForWatchCalls(2));
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  EXPECT_EQ(fake_->watch_calls()[1].resource_version, added->meta().resource_version);
  EXPECT_EQ(fake_->list_calls().size(), 1u);
  EXPECT_EQ(clock_.total_sleeps(), 0u);  // no backoff
  EXPECT_EQ(reflector_->stats().dead_connections, 1u);
  EXPECT_EQ(reflector_->stats().watch_restarts, 1u);
}

TEST_F(ReflectorTest, R12_ALostConnectionWithinASecondWithoutEventsBacksOffAndRelists) {
  Start();
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  fake_->BreakWatches();
  ExpectBackoffAndWake(absl::Milliseconds(800));
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  EXPECT_EQ(fake_->list_calls().size(), 2u);
}

TEST_F(ReflectorTest, R12_AWatchRefusedForAnotherReasonBacksOffAndRelists) {
  fake_->FailNextWatch(ApiStatusToStatus(ApiStatus{500, "InternalError", "etcd leader change"}));
  Start();
  ExpectBackoffAndWake(absl::Milliseconds(800));
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  ASSERT_EQ(fake_->list_calls().size(), 2u);
  EXPECT_EQ(fake_->list_calls()[1].resource_version, fake_->watch_calls()[0].resource_version);
}

TEST_F(ReflectorTest, R13_A429OnWatchOpenBacksOffAndRewatchesWithoutRelist) {
  fake_->FailNextWatch(ApiStatusToStatus(ApiStatus{429, "TooManyRequests", "slow down"}));
  Start();
  ExpectBackoffAndWake(absl::Milliseconds(800));
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  EXPECT_EQ(fake_->list_calls().size(), 1u);
  ASSERT_EQ(fake_->watch_calls().size(), 2u);
  EXPECT_EQ(fake_->watch_calls()[1].resource_version, fake_->watch_calls()[0].resource_version);
}

TEST_F(ReflectorTest, R13_ConnectionRefusedOnWatchOpenBacksOffAndRewatchesWithoutRelist) {
  fake_->FailNextWatch(WithTransportFault(absl::UnavailableError("connection refused"),
                                          TransportFault::kConnectionRefused));
  Start();
  ExpectBackoffAndWake(absl::Milliseconds(800));
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  EXPECT_EQ(fake_->list_calls().size(), 1u);
  EXPECT_EQ(fake_->watch_calls().size(), 2u);
}

TEST_F(ReflectorTest, R13_A429ErrorEventBacksOffAndRewatchesWithoutRelist) {
  fake_->Add(MakeObject("ns", "a", ""));
  Start();
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  fake_->SendError(ApiStatus{429, "TooManyRequests", "slow down"});
  ExpectBackoffAndWake(absl::Milliseconds(800));
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  EXPECT_EQ(fake_->list_calls().size(), 1u);
  EXPECT_EQ(fake_->watch_calls()[1].resource_version, "2");
}

TEST_F(ReflectorTest, R5_FailingListsBackOffExponentiallyAndNeverSpin) {
  for (int i = 0; i < 3; ++i) fake_->FailNextList(absl::UnavailableError("apiserver down"));
  Start();
  ExpectBackoffAndWake(absl::Milliseconds(800));
  ExpectBackoffAndWake(absl::Milliseconds(1600));
  ExpectBackoffAndWake(absl::Milliseconds(3200));
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  EXPECT_EQ(fake_->list_calls().size(), 4u);
  EXPECT_EQ(clock_.total_sleeps(), 3u);  // one sleep per failure, no extra attempts
  // The first LIST failure was not expired: the retries still ask the watch cache.
  EXPECT_EQ(fake_->list_calls()[3].resource_version, "0");
  EXPECT_EQ(reflector_->stats().errors, 3u);
}

TEST_F(ReflectorTest, R11_RelistsAtAnRvPageOnlyWhenTheServerPagedTheFirstList) {
  fake_->set_watch_cache_ignores_limit(false);  // the watch cache is off: RV "0" pages
  for (int i = 0; i < 3; ++i) fake_->Add(MakeObject("ns", absl::StrCat("o", i), ""));
  config_.options.page_size = 2;
  Start();
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  fake_->SendError(ApiStatus{410, "Expired", "too old resource version"});
  ExpectBackoffAndWake(absl::Milliseconds(800));
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  std::vector<ListOptions> lists = fake_->list_calls();
  ASSERT_GE(lists.size(), 3u);
  EXPECT_EQ(lists[2].resource_version, "4");
  EXPECT_EQ(lists[2].limit, 2);  // paged, since the server pages
}

TEST_F(ReflectorTest, R12_AVeryShortWatchBacksOffAndRelists) {
  Start();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(fake_->WaitForOpenWatches(1));
    fake_->EndWatches();
    ASSERT_TRUE(clock_.WaitForSleepers(1));
    clock_.AdvanceToNextDeadline();
  }
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  EXPECT_EQ(clock_.total_sleeps(), 3u);
  EXPECT_EQ(fake_->list_calls().size(), 4u);
}

TEST_F(ReflectorTest, R6_R9_AnErrorEventWith410RelistsAtTheLastRv) {
  fake_->Add(MakeObject("ns", "a", ""));
  Start();
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  fake_->SendError(ApiStatus{410, "Expired", "too old resource version: 2 (5)"});
  ExpectBackoffAndWake(absl::Milliseconds(800));
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  ASSERT_EQ(fake_->list_calls().size(), 2u);
  EXPECT_EQ(fake_->list_calls()[1].resource_version, "2");
}

TEST_F(ReflectorTest, R12_ANon410ErrorEventBacksOffAndRelists) {
  fake_->Add(MakeObject("ns", "a", ""));
  Start();
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  // What the API server sends for an object it can no longer decode (unsafe-deleted later).
  fake_->SendError(ApiStatus{500, "InternalError", "StoreReadError: corrupt object"});
  ExpectBackoffAndWake(absl::Milliseconds(800));
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  EXPECT_EQ(fake_->list_calls().size(), 2u);
  std::vector<absl::Status> seen = attempts();
  EXPECT_TRUE(std::any_of(seen.begin(), seen.end(), [](const absl::Status& s) {
    return s.code() == absl::StatusCode::kInternal;
  }));
}

TEST_F(ReflectorTest, R16_TheStreamingListIsTheDefault) {
  EXPECT_TRUE(ReflectorOptions().use_streaming_list);
}

TEST_F(ReflectorTest, R16_R7_EventsDuringTheInitialEventsAndABookmarkWithoutTheAnnotation) {
  fake_->set_streaming_list_supported(true);
  config_.options.use_streaming_list = true;
  fake_->ScriptNextStreamingList(
      {WatchEvent{WatchEventType::kAdded, MakeObject("ns", "a", "3"), {}},
       WatchEvent{WatchEventType::kAdded, MakeObject("ns", "b", "4"), {}},
       WatchEvent{WatchEventType::kBookmark, FakeListerWatcher::MakeBookmarkObject(5, false), {}},
       WatchEvent{WatchEventType::kModified, MakeObject("ns", "a", "6"), {}},
       WatchEvent{WatchEventType::kDeleted, MakeObject("ns", "b", "7"), {}},
       WatchEvent{WatchEventType::kBookmark, FakeListerWatcher::MakeBookmarkObject(8, true), {}}},
      /*end_after=*/false);
  Start();
  ASSERT_TRUE(Eventually([&] { return store_.call_count() == 1; }));
  EXPECT_THAT(store_.calls(), ElementsAre("replace 1@8"));
  EXPECT_EQ(store_.objects(), (std::map<std::string, std::string>{{"ns/a", "6"}}));
}

TEST_F(ReflectorTest, R16_AStreamThatEndsBeforeTheBookmarkIsRetriedAtOnce) {
  fake_->set_streaming_list_supported(true);
  config_.options.use_streaming_list = true;
  fake_->Add(MakeObject("ns", "a", ""));
  fake_->ScriptNextStreamingList(
      {WatchEvent{WatchEventType::kAdded, MakeObject("ns", "a", "2"), {}}}, /*end_after=*/true);
  Start();
  ASSERT_TRUE(Eventually([&] { return store_.call_count() == 1; }));
  EXPECT_EQ(fake_->watch_calls().size(), 2u);
  EXPECT_TRUE(fake_->watch_calls()[1].send_initial_events);
  EXPECT_TRUE(fake_->list_calls().empty());
  EXPECT_EQ(clock_.total_sleeps(), 0u);
}

TEST_F(ReflectorTest, R16_A410DuringTheStreamFallsBackToListFromQuorum) {
  fake_->set_streaming_list_supported(true);
  config_.options.use_streaming_list = true;
  fake_->Add(MakeObject("ns", "a", ""));
  fake_->ScriptNextStreamingList(
      {WatchEvent{WatchEventType::kError, nullptr, ApiStatus{410, "Expired", "too old"}}},
      /*end_after=*/false);
  Start();
  // The scripted stream is open until its error is read: wait for the LIST's Replace.
  ASSERT_TRUE(Eventually([&] { return store_.call_count() == 1; }));
  ASSERT_EQ(fake_->list_calls().size(), 1u);
  EXPECT_EQ(fake_->list_calls()[0].resource_version, "");
  EXPECT_THAT(store_.calls(), ElementsAre("replace 1@2"));
}

TEST_F(ReflectorTest, R16_A429RetriesTheStreamAfterABackoff) {
  fake_->set_streaming_list_supported(true);
  config_.options.use_streaming_list = true;
  fake_->Add(MakeObject("ns", "a", ""));
  fake_->FailNextWatch(ApiStatusToStatus(ApiStatus{429, "TooManyRequests", "slow down"}));
  Start();
  ExpectBackoffAndWake(absl::Milliseconds(800));
  ASSERT_TRUE(Eventually([&] { return store_.call_count() == 1; }));
  EXPECT_TRUE(fake_->list_calls().empty());
  ASSERT_EQ(fake_->watch_calls().size(), 2u);
  EXPECT_TRUE(fake_->watch_calls()[1].send_initial_events);
}

TEST_F(ReflectorTest, R16_AReStreamAsksForTheLastRv) {
  fake_->set_streaming_list_supported(true);
  config_.options.use_streaming_list = true;
  fake_->Add(MakeObject("ns", "a", ""));
  Start();
  ASSERT_TRUE(Eventually([&] { return store_.call_count() == 1; }));
  fake_->SendError(ApiStatus{500, "InternalError", "boom"});
  ExpectBackoffAndWake(absl::Milliseconds(800));
  ASSERT_TRUE(fake_->WaitForWatchCalls(2));
  EXPECT_EQ(fake_->watch_calls()[0].resource_version, "");
  EXPECT_EQ(fake_->watch_calls()[1].resource_version, "2");
  EXPECT_TRUE(fake_->watch_calls()[1].send_initial_events);
}

TEST_F(ReflectorTest, R7_StreamingListReplacesAtTheInitialEventsEndBookmarkAndKeepsWatching) {
  fake_->set_streaming_list_supported(true);
  fake_->Add(MakeObject("ns", "a", ""));
  fake_->Add(MakeObject("ns", "b", ""));
  config_.options.use_streaming_list = true;
  Start();
  ASSERT_TRUE(Eventually([&] { return store_.call_count() == 1; }));
  EXPECT_THAT(store_.calls(), ElementsAre("replace 2@3"));
  EXPECT_TRUE(fake_->list_calls().empty());
  std::vector<ListOptions> watches = fake_->watch_calls();
  ASSERT_EQ(watches.size(), 1u);
  EXPECT_TRUE(watches[0].send_initial_events);
  EXPECT_EQ(watches[0].resource_version_match, "NotOlderThan");
  EXPECT_EQ(watches[0].resource_version, "");
  EXPECT_TRUE(watches[0].allow_watch_bookmarks);
  // The same stream carries on as the watch.
  fake_->Add(MakeObject("ns", "c", ""));
  ASSERT_TRUE(Eventually([&] { return store_.objects().size() == 3; }));
  EXPECT_EQ(fake_->watch_calls().size(), 1u);
  EXPECT_EQ(reflector_->LastSyncResourceVersion(), "4");
}

TEST_F(ReflectorTest, R7_FallsBackToListWhenTheServerRefusesStreaming) {
  fake_->Add(MakeObject("ns", "a", ""));
  config_.options.use_streaming_list = true;
  Start();
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  EXPECT_EQ(fake_->list_calls().size(), 1u);
  std::vector<ListOptions> watches = fake_->watch_calls();
  ASSERT_EQ(watches.size(), 2u);
  EXPECT_TRUE(watches[0].send_initial_events);
  EXPECT_FALSE(watches[1].send_initial_events);
  EXPECT_EQ(watches[1].resource_version, "2");
  EXPECT_THAT(store_.calls(), ElementsAre("replace 1@2"));
  EXPECT_EQ(clock_.total_sleeps(), 0u);
  InformerStats stats = reflector_->stats();
  EXPECT_EQ(stats.lists, 1u);  // the refused streaming attempt is not a list
  EXPECT_EQ(stats.watches, 2u);
  EXPECT_EQ(stats.relists, 0u);
}

TEST_F(ReflectorTest, R8_ChangesWhileTheWatchIsDownArriveAfterTheRewatch) {
  for (int i = 0; i < 4; ++i) fake_->Add(MakeObject("ns", absl::StrCat("o", i), ""));
  Start();
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  fake_->Add(MakeObject("ns", "o5", ""));
  ASSERT_TRUE(Eventually([&] { return store_.objects().size() == 5; }));
  // The connection goes, and the re-watch is throttled: the watch stays down for a backoff.
  fake_->FailNextWatch(ApiStatusToStatus(ApiStatus{429, "TooManyRequests", "slow down"}));
  fake_->BreakWatches();
  ASSERT_TRUE(clock_.WaitForSleepers(1));
  // While disconnected.
  fake_->Update(MakeObject("ns", "o1", ""));
  fake_->Delete("ns/o2");
  fake_->Add(MakeObject("ns", "o9", ""));
  clock_.AdvanceToNextDeadline();
  ASSERT_TRUE(Eventually([&] { return store_.objects() == Truth(*fake_); }));
  EXPECT_EQ(fake_->list_calls().size(), 1u);
}

TEST_F(ReflectorTest, StopInterruptsABlockedWatchWithin100ms) {
  config_.clock = nullptr;  // real time
  Start();
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  const absl::Time start = absl::Now();
  reflector_->Stop();
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(100));
  EXPECT_EQ(fake_->open_watches(), 0);
}

TEST_F(ReflectorTest, StopCancelsAListInFlight) {
  config_.clock = nullptr;  // real time
  absl::Notification list_started;
  std::atomic<bool> cancel_seen{false};
  // A LIST that hangs, as against an unresponsive API server, until its cancel fires.
  fake_->SetListHook([&](const ListOptions& options) {
    list_started.Notify();
    if (options.cancel == nullptr) return;
    cancel_seen = options.cancel->WaitForNotificationWithTimeout(absl::Seconds(10));
  });
  Start();
  ASSERT_TRUE(list_started.WaitForNotificationWithTimeout(absl::Seconds(10)));
  const absl::Time start = absl::Now();
  reflector_->Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  EXPECT_TRUE(cancel_seen);
  EXPECT_THAT(store_.calls(), ElementsAre());  // the cancelled LIST's page is dropped
}

TEST_F(ReflectorTest, StopInterruptsABackoffSleepWithin100ms) {
  fake_->FailNextList(absl::UnavailableError("down"));
  Start();
  ASSERT_TRUE(clock_.WaitForSleepers(1));
  const absl::Time start = absl::Now();
  reflector_->Stop();
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(100));
  EXPECT_EQ(fake_->list_calls().size(), 1u);
}

TEST_F(ReflectorTest, AttemptsReportFailuresThenRecovery) {
  fake_->FailNextList(ApiStatusToStatus(ApiStatus{403, "Forbidden", "pods is forbidden"}));
  Start();
  ExpectBackoffAndWake(absl::Milliseconds(800));
  ASSERT_TRUE(Eventually([&] { return attempts().size() >= 3; }));
  std::vector<absl::Status> seen = attempts();
  EXPECT_EQ(seen[0].code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(seen[1].code(), absl::StatusCode::kOk);  // the LIST
  EXPECT_EQ(seen[2].code(), absl::StatusCode::kOk);  // the WATCH
}

}  // namespace
}  // namespace informer
