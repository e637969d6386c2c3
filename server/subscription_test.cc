#include "server/subscription.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include "informer/api_status.h"
#include "informer/testing/fake_lister_watcher.h"
#include "informer/testing/objects.h"

namespace informer {
namespace server {
namespace {

using ::informer::testing::Eventually;
using ::informer::testing::FakeListerWatcher;
using ::informer::testing::MakeObject;
using ::informer::testing::PodsResource;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

using Type = SubscriptionEventType;

// "TYPE key" for compact assertions.
std::string Describe(const SubscriptionEvent& event) {
  static const char* const kNames[] = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "SYNCED"};
  std::string out = kNames[static_cast<int>(event.type)];
  if (event.object != nullptr) absl::StrAppend(&out, " ", event.object->key());
  return out;
}

// A client's view: key -> RV, built by applying events as a controller would.
using View = std::map<std::string, std::string>;

void Apply(const SubscriptionEvent& event, View* view) {
  switch (event.type) {
    case Type::kAdded:
    case Type::kModified:
      (*view)[event.object->key()] = event.object->meta().resource_version;
      break;
    case Type::kDeleted:
      view->erase(event.object->key());
      break;
    default:
      break;
  }
}

class SubscriptionTest : public ::testing::Test {
 protected:
  SubscriptionTest() {
    options_.resource = PodsResource();
    options_.reflector.backoff.initial = absl::Milliseconds(1);
    options_.reflector.backoff.max = absl::Milliseconds(5);
  }
  ~SubscriptionTest() override {
    if (informer_ != nullptr) informer_->Stop();
  }

  void Start() {
    informer_ = std::make_shared<SharedIndexInformer>(fake_, options_);
    ASSERT_TRUE(informer_->Run().ok());
    ASSERT_TRUE(informer_->WaitForSync(absl::Now() + absl::Seconds(10)));
  }

  // Waits until the cache equals the fake API server's truth.
  // The store is updated before the history commits a change: wait for both, so a Next after
  // this sees every change in the ring too. The newest change is the server's revision, not the
  // newest surviving object's version: a delete is a change no object carries.
  void WaitApplied() {
    ASSERT_TRUE(Eventually([&] {
      return CacheView() == Truth() && informer_->history().head_version() >= fake_->revision();
    }));
  }

  View Truth() const {
    View view;
    for (const auto& [key, object] : fake_->Objects()) {
      view[key] = object->meta().resource_version;
    }
    return view;
  }
  View CacheView() const {
    View view;
    for (const ObjectPtr& object : informer_->store().List()) {
      view[object->key()] = object->meta().resource_version;
    }
    return view;
  }

  std::string AddPod(const std::string& name, std::map<std::string, std::string> labels = {}) {
    ObjectPtr added = fake_->Add(MakeObject("ns", name, "0", labels));
    EXPECT_NE(added, nullptr) << name;
    return added != nullptr ? added->meta().resource_version : "";
  }
  std::string UpdatePod(const std::string& name, std::map<std::string, std::string> labels = {},
                        const std::string& extra = "") {
    ObjectPtr updated = fake_->Update(MakeObject("ns", name, "0", labels, extra));
    EXPECT_NE(updated, nullptr) << name;
    return updated != nullptr ? updated->meta().resource_version : "";
  }
  std::string DeletePod(const std::string& name) {
    ObjectPtr deleted = fake_->Delete(absl::StrCat("ns/", name));
    EXPECT_NE(deleted, nullptr) << name;
    return deleted != nullptr ? deleted->meta().resource_version : "";
  }

  absl::StatusOr<std::unique_ptr<Subscription>> Subscribe(SubscriptionRequest request = {}) {
    return Subscription::Create(informer_, std::move(request), limits_, now_);
  }

  // Every event due now, until Next says nothing is.
  std::vector<SubscriptionEvent> Drain(Subscription& subscription) {
    std::vector<SubscriptionEvent> events;
    for (int i = 0; i < 100000; ++i) {
      SubscriptionEvent event;
      absl::StatusOr<bool> next = subscription.Next(now_, &event);
      EXPECT_TRUE(next.ok()) << next.status();
      if (!next.ok() || !*next) break;
      events.push_back(std::move(event));
    }
    return events;
  }
  std::vector<std::string> Described(const std::vector<SubscriptionEvent>& events) {
    std::vector<std::string> out;
    for (const SubscriptionEvent& event : events) out.push_back(Describe(event));
    return out;
  }

  std::shared_ptr<FakeListerWatcher> fake_ = std::make_shared<FakeListerWatcher>();
  InformerOptions options_;
  std::shared_ptr<SharedIndexInformer> informer_;
  SubscriberLimits limits_;
  absl::Time now_ = absl::FromUnixSeconds(1000000);
};

TEST_F(SubscriptionTest, FreshStartSendsMatchingObjectsThenSyncedThenLiveChanges) {
  AddPod("a");
  AddPod("b");
  Start();
  absl::StatusOr<std::unique_ptr<Subscription>> subscription = Subscribe();
  ASSERT_TRUE(subscription.ok()) << subscription.status();
  std::vector<SubscriptionEvent> initial = Drain(**subscription);
  EXPECT_THAT(Described(initial), ElementsAre("ADDED ns/a", "ADDED ns/b", "SYNCED"));
  // No position is complete before SYNCED; SYNCED carries the cut's version.
  EXPECT_EQ(initial[0].resource_version, "");
  EXPECT_EQ(initial[2].resource_version, informer_->Snapshot().resource_version);

  const std::string rv = AddPod("c");
  WaitApplied();
  std::vector<SubscriptionEvent> live = Drain(**subscription);
  EXPECT_THAT(Described(live), ElementsAre("ADDED ns/c"));
  EXPECT_EQ(live[0].resource_version, rv);
  EXPECT_EQ((*subscription)->resume_resource_version(), rv);
}

TEST_F(SubscriptionTest, ChangesBetweenCutAndFirstReadAreNeitherLostNorRepeated) {
  AddPod("a");
  Start();
  absl::StatusOr<std::unique_ptr<Subscription>> subscription = Subscribe();
  ASSERT_TRUE(subscription.ok());
  // Changes land after the cut but before the subscriber reads anything.
  UpdatePod("a", {{"v", "2"}});
  AddPod("b");
  DeletePod("a");
  WaitApplied();
  View view;
  std::vector<SubscriptionEvent> events = Drain(**subscription);
  for (const SubscriptionEvent& event : events) Apply(event, &view);
  // Keys apply in the informer's queue order, so only each key's own order is fixed.
  std::vector<std::string> described = Described(events);
  ASSERT_EQ(described.size(), 5u);
  EXPECT_THAT(std::vector<std::string>(described.begin(), described.begin() + 2),
              ElementsAre("ADDED ns/a", "SYNCED"));
  EXPECT_THAT(std::vector<std::string>(described.begin() + 2, described.end()),
              ::testing::UnorderedElementsAre("MODIFIED ns/a", "ADDED ns/b", "DELETED ns/a"));
  EXPECT_EQ(view, Truth());
}

TEST_F(SubscriptionTest, ResumeFromResourceVersionReplaysOnlyLaterChanges) {
  Start();
  AddPod("a");
  const std::string after_a = AddPod("b");
  UpdatePod("a", {{"v", "2"}});
  DeletePod("b");
  WaitApplied();
  SubscriptionRequest request;
  request.resource_version = after_a;
  absl::StatusOr<std::unique_ptr<Subscription>> subscription = Subscribe(request);
  ASSERT_TRUE(subscription.ok()) << subscription.status();
  // In server order (F8).
  EXPECT_THAT(Described(Drain(**subscription)), ElementsAre("MODIFIED ns/a", "DELETED ns/b"));
}

TEST_F(SubscriptionTest, ResumeFromAListResourceVersionOlderThanLaterChangesIsExact) {
  AddPod("a");
  fake_->BumpRevision(3);  // the LIST's version is newer than any object's
  Start();
  // The cut of a List: its version is the LIST's, older than any change that follows.
  InformerSnapshot cut = informer_->Snapshot();
  AddPod("b");
  WaitApplied();
  SubscriptionRequest request;
  request.resource_version = cut.resource_version;
  absl::StatusOr<std::unique_ptr<Subscription>> subscription = Subscribe(request);
  ASSERT_TRUE(subscription.ok()) << subscription.status();
  EXPECT_THAT(Described(Drain(**subscription)), ElementsAre("ADDED ns/b"));
}

TEST_F(SubscriptionTest, ResumeFromSyncedResourceVersionIsExact) {
  AddPod("a");
  Start();
  absl::StatusOr<std::unique_ptr<Subscription>> first = Subscribe();
  ASSERT_TRUE(first.ok());
  std::vector<SubscriptionEvent> initial = Drain(**first);
  const std::string synced_rv = initial.back().resource_version;
  AddPod("b");
  WaitApplied();
  SubscriptionRequest request;
  request.resource_version = synced_rv;
  absl::StatusOr<std::unique_ptr<Subscription>> resumed = Subscribe(request);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_THAT(Described(Drain(**resumed)), ElementsAre("ADDED ns/b"));
}

TEST_F(SubscriptionTest, ResourceVersionOlderThanTheHistoryRingIsOutOfRange) {
  options_.history.max_events = 3;
  Start();
  const std::string early = AddPod("a");
  for (int i = 0; i < 6; ++i) UpdatePod("a", {{"v", absl::StrCat(i)}});
  WaitApplied();
  SubscriptionRequest request;
  request.resource_version = early;
  absl::StatusOr<std::unique_ptr<Subscription>> subscription = Subscribe(request);
  EXPECT_EQ(subscription.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(subscription.status().message(), HasSubstr("too old"));
  EXPECT_THAT(subscription.status().message(), HasSubstr("resubscribe"));
}

TEST_F(SubscriptionTest, VersionFromBeforeTheInformersFirstListIsOutOfRange) {
  AddPod("a");
  fake_->BumpRevision(10);  // other resources moved etcd's revision on
  Start();
  SubscriptionRequest request;
  request.resource_version = "1";
  EXPECT_EQ(Subscribe(request).status().code(), absl::StatusCode::kOutOfRange);
  // The first list's own version is placed: nothing happened since.
  request.resource_version = informer_->Snapshot().resource_version;
  absl::StatusOr<std::unique_ptr<Subscription>> at_list = Subscribe(request);
  ASSERT_TRUE(at_list.ok()) << at_list.status();
  AddPod("b");
  WaitApplied();
  EXPECT_THAT(Described(Drain(**at_list)), ElementsAre("ADDED ns/b"));
}

TEST_F(SubscriptionTest, AResumeFromAPositionAheadOfThisServerSkipsWhatItHasUntilItArrives) {
  options_.reflector.backoff.initial = absl::Milliseconds(300);
  options_.reflector.backoff.max = absl::Milliseconds(300);
  AddPod("a");
  Start();
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  AddPod("c");
  WaitApplied();
  // This server's watch goes down (its re-watch is throttled) while three pods are added:
  // another replica, ahead of it, has sent the client b0 and b1.
  fake_->FailNextWatch(ApiStatusToStatus(ApiStatus{429, "TooManyRequests", "slow down"}));
  fake_->BreakWatches();
  std::vector<std::string> versions;
  for (int i = 0; i < 3; ++i) versions.push_back(AddPod(absl::StrCat("b", i)));
  SubscriptionRequest request;
  request.resource_version = versions[1];
  absl::StatusOr<std::unique_ptr<Subscription>> subscription = Subscribe(request);
  ASSERT_TRUE(subscription.ok()) << subscription.status();
  std::vector<SubscriptionEvent> events;
  ASSERT_TRUE(Eventually([&] {
    for (SubscriptionEvent& event : Drain(**subscription)) events.push_back(std::move(event));
    return !events.empty();
  }));
  EXPECT_THAT(Described(events), ElementsAre("ADDED ns/b2"));
  EXPECT_EQ(events[0].resource_version, versions[2]);
}

TEST_F(SubscriptionTest, ResourceVersionThatIsNotANumberIsInvalidArgument) {
  Start();
  SubscriptionRequest request;
  request.resource_version = "abc";
  EXPECT_EQ(Subscribe(request).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SubscriptionTest, ResourceVersionTogetherWithKnownObjectsIsInvalidArgument) {
  Start();
  SubscriptionRequest request;
  request.resource_version = "1";
  request.known_objects["ns/a"] = "1";
  absl::StatusOr<std::unique_ptr<Subscription>> subscription = Subscribe(request);
  EXPECT_EQ(subscription.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(subscription.status().message(), HasSubstr("not both"));
}

TEST_F(SubscriptionTest, NotSyncedInformerIsFailedPrecondition) {
  fake_->FailNextList(absl::PermissionDeniedError("pods is forbidden"));
  fake_->FailNextList(absl::PermissionDeniedError("pods is forbidden"));
  options_.reflector.backoff.initial = absl::Seconds(10);
  options_.reflector.backoff.max = absl::Seconds(10);
  informer_ = std::make_shared<SharedIndexInformer>(fake_, options_);
  ASSERT_TRUE(informer_->Run().ok());
  ASSERT_TRUE(fake_->WaitForListCalls(1));
  EXPECT_EQ(Subscribe().status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(SubscriptionTest, KnownObjectsGetOnlyWhatChangedAndDeletionsOfWhatIsGone) {
  const std::string same = AddPod("same", {{"app", "web"}});
  AddPod("changed", {{"app", "web"}});
  AddPod("left", {{"app", "web"}});
  AddPod("new", {{"app", "web"}});
  Start();
  UpdatePod("changed", {{"app", "web"}}, R"("spec":{"x":1})");
  UpdatePod("left", {{"app", "db"}});  // no longer matches
  WaitApplied();
  SubscriptionRequest request;
  absl::StatusOr<LabelSelector> web = LabelSelector::Parse("app=web");
  ASSERT_TRUE(web.ok());
  request.filter.labels = *web;
  request.known_objects["ns/same"] = same;
  request.known_objects["ns/changed"] = same;  // an older version than the cache's
  request.known_objects["ns/left"] = same;
  request.known_objects["ns/gone"] = "3";
  absl::StatusOr<std::unique_ptr<Subscription>> subscription = Subscribe(request);
  ASSERT_TRUE(subscription.ok()) << subscription.status();
  std::vector<SubscriptionEvent> events = Drain(**subscription);
  EXPECT_THAT(Described(events), ElementsAre("MODIFIED ns/changed", "ADDED ns/new",
                                             "DELETED ns/gone", "DELETED ns/left", "SYNCED"));
  // The key no longer cached has only its identity and the client's version.
  EXPECT_TRUE(events[2].final_state_unknown);
  EXPECT_EQ(events[2].object->meta().name, "gone");
  EXPECT_EQ(events[2].object->meta().namespace_name, "ns");
  EXPECT_EQ(events[2].object->kind(), "Pod");
  EXPECT_EQ(events[2].object->meta().resource_version, "3");
  // The one that stopped matching: the server cannot know which state the client holds (nor
  // that the cached object is the one it held), so it names the key only, never the cached
  // object (issue 13, 15).
  EXPECT_TRUE(events[3].final_state_unknown);
  EXPECT_EQ(events[3].object->meta().resource_version, same);
  EXPECT_TRUE(events[3].object->meta().labels.empty());
}

#ifdef __GLIBC__
// Heap bytes in use (malloc's own count, not RSS, which freed memory need not lower): in the
// arenas and in blocks mapped on their own (large ones, such as a big map's table).
int64_t HeapInUse() {
  const struct mallinfo2 info = mallinfo2();
  return static_cast<int64_t>(info.uordblks + info.hblkhd);
}

// A reconnecting client's known_objects can hold the whole cache; the subscription needs it
// only to diff its start (issue 16: a Subscribe's memory after its initial objects is its own
// pending events). 30 000 objects the client already holds: nothing to send, and once created
// the subscription holds no copy of the map.
TEST_F(SubscriptionTest, AKnownObjectsStartKeepsNoCopyOfTheMap) {
  constexpr int kObjects = 30000;
  for (int i = 0; i < kObjects; ++i) fake_->Add(MakeObject("ns", absl::StrCat("pod-", i), "0"));
  Start();
  WaitApplied();
  const View truth = Truth();
  const int64_t before_map = HeapInUse();
  SubscriptionRequest request;
  for (const auto& [key, rv] : truth) request.known_objects.emplace(key, rv);
  const int64_t map_bytes = HeapInUse() - before_map;
  if (map_bytes < (int64_t{1} << 20)) GTEST_SKIP() << "malloc does not count (sanitizer?)";
  absl::StatusOr<std::unique_ptr<Subscription>> subscription = Subscribe(std::move(request));
  ASSERT_TRUE(subscription.ok()) << subscription.status();
  std::vector<SubscriptionEvent> events = Drain(**subscription);
  EXPECT_THAT(Described(events), ElementsAre("SYNCED"));
  // Kept, the map would still be in use (its entries moved into the subscription).
  EXPECT_LT(HeapInUse() - before_map, map_bytes / 4) << "the map took " << map_bytes << " bytes";
}

// What a subscriber holds once it has its initial objects is its own state, with no queue
// storage while nothing waits for it (issue 16: a thousand such subscribers, each of which a
// std::deque would give ~600 bytes per empty queue, four queues each).
TEST_F(SubscriptionTest, ASyncedSubscriptionWithNothingToSendHoldsNoQueueStorage) {
  for (int i = 0; i < 100; ++i) AddPod(absl::StrCat("pod-", i));
  Start();
  WaitApplied();
  constexpr int kSubscriptions = 200;
  std::vector<std::unique_ptr<Subscription>> subscriptions;
  subscriptions.reserve(kSubscriptions);
  const int64_t before = HeapInUse();
  for (int i = 0; i < kSubscriptions; ++i) {
    absl::StatusOr<std::unique_ptr<Subscription>> subscription = Subscribe();
    ASSERT_TRUE(subscription.ok()) << subscription.status();
    ASSERT_EQ(Drain(**subscription).size(), 101u);  // 100 objects and SYNCED
    subscriptions.push_back(std::move(*subscription));
  }
  const int64_t per_subscription = (HeapInUse() - before) / kSubscriptions;
  if (per_subscription <= 0) GTEST_SKIP() << "malloc does not count (sanitizer?)";
  // The subscription object and its history listener (~930 bytes); four empty deques would
  // add ~2.3 KiB (3 182 bytes measured before).
  EXPECT_LT(per_subscription, 1536);
}
#endif

TEST_F(SubscriptionTest, KnownObjectsDeletionOfAKeyRecreatedWithoutTheLabelIsKeyOnly) {
  const std::string held = AddPod("x", {{"app", "x"}});
  Start();
  DeletePod("x");
  AddPod("x", {{"app", "y"}});  // a new object, another uid, not matching
  WaitApplied();
  SubscriptionRequest request;
  absl::StatusOr<LabelSelector> selector = LabelSelector::Parse("app=x");
  ASSERT_TRUE(selector.ok());
  request.filter.labels = *selector;
  request.known_objects["ns/x"] = held;
  absl::StatusOr<std::unique_ptr<Subscription>> subscription = Subscribe(request);
  ASSERT_TRUE(subscription.ok()) << subscription.status();
  std::vector<SubscriptionEvent> events = Drain(**subscription);
  ASSERT_THAT(Described(events), ElementsAre("DELETED ns/x", "SYNCED"));
  EXPECT_TRUE(events[0].final_state_unknown);
  EXPECT_EQ(events[0].object->meta().resource_version, held);
  EXPECT_TRUE(events[0].object->meta().uid.empty());  // not the new object's
}

TEST_F(SubscriptionTest, SelectorIsEvaluatedOnOldAndNewState) {
  AddPod("enters", {{"app", "db"}});
  AddPod("leaves", {{"app", "web"}});
  AddPod("stays", {{"app", "web"}});
  AddPod("never", {{"app", "db"}});
  Start();
  SubscriptionRequest request;
  request.filter.labels = *LabelSelector::Parse("app=web");
  absl::StatusOr<std::unique_ptr<Subscription>> subscription = Subscribe(request);
  ASSERT_TRUE(subscription.ok());
  EXPECT_THAT(Described(Drain(**subscription)),
              ElementsAre("ADDED ns/leaves", "ADDED ns/stays", "SYNCED"));
  UpdatePod("enters", {{"app", "web"}});
  UpdatePod("leaves", {{"app", "db"}});
  UpdatePod("stays", {{"app", "web"}, {"v", "2"}});
  UpdatePod("never", {{"app", "cache"}});
  WaitApplied();
  std::vector<SubscriptionEvent> events = Drain(**subscription);
  EXPECT_THAT(Described(events),
              ElementsAre("ADDED ns/enters", "DELETED ns/leaves", "MODIFIED ns/stays"));
  // The object that stopped matching is sent in its new state, as the API server does.
  EXPECT_EQ(events[1].object->meta().labels.at("app"), "db");
}

TEST_F(SubscriptionTest, NamespaceFilterKeepsOtherNamespacesOut) {
  Start();
  ASSERT_NE(fake_->Add(MakeObject("other", "x", "0")), nullptr);
  AddPod("a");
  WaitApplied();
  SubscriptionRequest request;
  request.filter.namespace_name = "ns";
  absl::StatusOr<std::unique_ptr<Subscription>> subscription = Subscribe(request);
  ASSERT_TRUE(subscription.ok());
  EXPECT_THAT(Described(Drain(**subscription)), ElementsAre("ADDED ns/a", "SYNCED"));
}

TEST_F(SubscriptionTest, ModifiedCarriesTheOldObjectOnlyWhenAsked) {
  AddPod("a", {{"v", "1"}});
  Start();
  SubscriptionRequest with_old;
  with_old.include_old_object = true;
  absl::StatusOr<std::unique_ptr<Subscription>> asked = Subscribe(with_old);
  absl::StatusOr<std::unique_ptr<Subscription>> plain = Subscribe();
  ASSERT_TRUE(asked.ok() && plain.ok());
  Drain(**asked);
  Drain(**plain);
  UpdatePod("a", {{"v", "2"}});
  WaitApplied();
  std::vector<SubscriptionEvent> events = Drain(**asked);
  ASSERT_EQ(events.size(), 1u);
  ASSERT_NE(events[0].old_object, nullptr);
  EXPECT_EQ(events[0].old_object->meta().labels.at("v"), "1");
  EXPECT_EQ(events[0].object->meta().labels.at("v"), "2");
  std::vector<SubscriptionEvent> plain_events = Drain(**plain);
  ASSERT_EQ(plain_events.size(), 1u);
  EXPECT_EQ(plain_events[0].old_object, nullptr);
}

TEST_F(SubscriptionTest, DeletedCarriesTheLastKnownState) {
  AddPod("a", {{"v", "1"}});
  Start();
  absl::StatusOr<std::unique_ptr<Subscription>> subscription = Subscribe();
  ASSERT_TRUE(subscription.ok());
  Drain(**subscription);
  UpdatePod("a", {{"v", "2"}});
  const std::string deleted_rv = DeletePod("a");
  WaitApplied();
  std::vector<SubscriptionEvent> events = Drain(**subscription);
  ASSERT_THAT(Described(events), ElementsAre("MODIFIED ns/a", "DELETED ns/a"));
  EXPECT_EQ(events[1].object->meta().labels.at("v"), "2");
  EXPECT_EQ(events[1].resource_version, deleted_rv);
}

TEST_F(SubscriptionTest, RelistDeletionArrivesAsDeletedWithFinalStateUnknown) {
  // The watch must stay down while the test deletes and compacts (microseconds); with the
  // fixture's 1 ms backoff a loaded machine could re-watch first and see a plain DELETED.
  options_.reflector.backoff.initial = absl::Milliseconds(250);
  options_.reflector.backoff.max = absl::Milliseconds(250);
  AddPod("a");
  AddPod("b");
  Start();
  absl::StatusOr<std::unique_ptr<Subscription>> subscription = Subscribe();
  ASSERT_TRUE(subscription.ok());
  Drain(**subscription);
  // The watch breaks, "a" is deleted while it is down, and the history is compacted so the
  // reflector must relist and infer the deletion. The watch must be open first: a first watch
  // starting after the delete would replay it as a plain DELETED.
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  const int watches = fake_->watch_calls().size();
  fake_->BreakWatches();
  DeletePod("a");
  fake_->Compact();
  ASSERT_TRUE(fake_->WaitForWatchCalls(watches + 1));
  WaitApplied();
  View view = {{"ns/a", "x"}, {"ns/b", "x"}};
  // The store may show the deletion an instant before the history does: read until it comes.
  std::vector<SubscriptionEvent> events;
  auto deleted = [&events] {
    return std::any_of(events.begin(), events.end(), [](const SubscriptionEvent& event) {
      return event.type == Type::kDeleted && event.object->key() == "ns/a";
    });
  };
  ASSERT_TRUE(Eventually([&] {
    for (SubscriptionEvent& event : Drain(**subscription)) events.push_back(std::move(event));
    return deleted();
  }));
  for (const SubscriptionEvent& event : events) Apply(event, &view);
  for (const SubscriptionEvent& event : events) {
    if (event.type == Type::kDeleted) {
      EXPECT_TRUE(event.final_state_unknown);
    }
  }
  EXPECT_EQ(view.count("ns/a"), 0u);
}

TEST_F(SubscriptionTest, U4_SlowSubscriberGetsLatestStatePerKeyWithDeletionsKept) {
  limits_.soft_limit = 5;
  AddPod("a");
  AddPod("b");
  AddPod("c");
  Start();
  absl::StatusOr<std::unique_ptr<Subscription>> subscription = Subscribe();
  ASSERT_TRUE(subscription.ok());
  View view;
  for (const SubscriptionEvent& event : Drain(**subscription)) Apply(event, &view);
  // 30 changes while the subscriber reads nothing.
  for (int i = 0; i < 10; ++i) {
    UpdatePod("a", {{"v", absl::StrCat(i)}});
    UpdatePod("b", {{"v", absl::StrCat(i)}});
  }
  DeletePod("c");
  for (int i = 0; i < 9; ++i) UpdatePod("a", {{"w", absl::StrCat(i)}});
  WaitApplied();
  std::vector<SubscriptionEvent> events = Drain(**subscription);
  for (const SubscriptionEvent& event : events) Apply(event, &view);
  EXPECT_THAT(Described(events), ElementsAre("MODIFIED ns/a", "MODIFIED ns/b", "DELETED ns/c"));
  for (const SubscriptionEvent& event : events) EXPECT_TRUE(event.coalesced);
  EXPECT_EQ(view, Truth());
  EXPECT_EQ((*subscription)->stats().events_coalesced, 27u);
  EXPECT_EQ((*subscription)->stats().coalesce_rounds, 1u);
  // The position moves only with the group's last event: resuming inside it replays it.
  EXPECT_EQ(events[0].resource_version, events[1].resource_version);
  EXPECT_NE(events[1].resource_version, events[2].resource_version);
  EXPECT_EQ(events[2].resource_version, fake_->Objects().begin()->second->meta().resource_version);
}

TEST_F(SubscriptionTest, CoalescingDropsAnUnsentAddAndItsDeleteButKeepsADeleteOfWhatWasHeld) {
  limits_.soft_limit = 2;
  AddPod("held");
  Start();
  absl::StatusOr<std::unique_ptr<Subscription>> subscription = Subscribe();
  ASSERT_TRUE(subscription.ok());
  View view;
  for (const SubscriptionEvent& event : Drain(**subscription)) Apply(event, &view);
  AddPod("a");
  UpdatePod("a", {{"v", "2"}});
  DeletePod("a");  // created and deleted after the position: never held, so no event
  AddPod("a");     // recreated: a new object the subscriber lacks
  DeletePod("held");
  WaitApplied();
  std::vector<SubscriptionEvent> events = Drain(**subscription);
  EXPECT_THAT(Described(events), ElementsAre("ADDED ns/a", "DELETED ns/held"));
  for (const SubscriptionEvent& event : events) Apply(event, &view);
  EXPECT_EQ(view, Truth());
}

TEST_F(SubscriptionTest, ARelistIsAGroupWhosePositionMovesOnlyAtItsLastEvent) {
  options_.reflector.backoff.initial = absl::Milliseconds(250);
  options_.reflector.backoff.max = absl::Milliseconds(250);
  AddPod("a");
  AddPod("b");
  AddPod("c");
  Start();
  absl::StatusOr<std::unique_ptr<Subscription>> subscription = Subscribe();
  ASSERT_TRUE(subscription.ok());
  std::vector<SubscriptionEvent> initial = Drain(**subscription);
  const std::string before = initial.back().resource_version;
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));
  const int watches = fake_->watch_calls().size();
  // The watch fails with a 410 while three changes happen: one relist brings all three.
  fake_->FailNextWatch(ApiStatusToStatus(ApiStatus{410, "Expired", "too old"}));
  fake_->BreakWatches();
  DeletePod("a");
  UpdatePod("b", {{"v", "2"}});
  AddPod("d");
  fake_->Compact();
  ASSERT_TRUE(fake_->WaitForWatchCalls(watches + 2));
  WaitApplied();
  std::vector<SubscriptionEvent> events;
  ASSERT_TRUE(Eventually([&] {
    for (SubscriptionEvent& event : Drain(**subscription)) events.push_back(std::move(event));
    return events.size() >= 3;
  }));
  ASSERT_THAT(Described(events), ElementsAre("DELETED ns/a", "MODIFIED ns/b", "ADDED ns/d"));
  const std::string list_rv = informer_->Snapshot().resource_version;
  EXPECT_EQ(events[0].resource_version, before);
  EXPECT_EQ(events[1].resource_version, before);
  EXPECT_EQ(events[2].resource_version, list_rv);
  // Inside the relist, this server cannot place a version; at its ends it can.
  SubscriptionRequest request;
  request.resource_version = absl::StrCat(std::stoull(list_rv) - 1);
  EXPECT_EQ(Subscribe(request).status().code(), absl::StatusCode::kOutOfRange);
  request.resource_version = before;
  absl::StatusOr<std::unique_ptr<Subscription>> resumed = Subscribe(request);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_THAT(Described(Drain(**resumed)),
              ElementsAre("DELETED ns/a", "MODIFIED ns/b", "ADDED ns/d"));
}

TEST_F(SubscriptionTest, EveryPositionSentResumesExactlyEvenWhileCoalescing) {
  limits_.soft_limit = 4;
  for (int i = 0; i < 6; ++i) AddPod(absl::StrCat("p", i));
  Start();
  absl::StatusOr<std::unique_ptr<Subscription>> subscription = Subscribe();
  ASSERT_TRUE(subscription.ok());
  std::vector<SubscriptionEvent> stream = Drain(**subscription);
  // Bursts that coalesce, and single changes that do not.
  for (int round = 0; round < 4; ++round) {
    for (int i = 0; i < 12; ++i) {
      const std::string name = absl::StrCat("p", (i * 5 + round) % 8);
      if (fake_->Objects().count("ns/" + name) > 0 && i % 4 == 3) {
        DeletePod(name);
      } else if (fake_->Objects().count("ns/" + name) > 0) {
        UpdatePod(name, {{"r", absl::StrCat(round, "-", i)}});
      } else {
        AddPod(name);
      }
    }
    WaitApplied();
    for (SubscriptionEvent& event : Drain(**subscription)) stream.push_back(std::move(event));
    AddPod(absl::StrCat("single", round));
    WaitApplied();
    for (SubscriptionEvent& event : Drain(**subscription)) stream.push_back(std::move(event));
  }
  ASSERT_GT((*subscription)->stats().coalesce_rounds, 0u);
  // At every event that closes a group, resuming from its position and applying what follows
  // gives the truth: nothing lost, nothing repeated.
  View view;
  int checked = 0;
  for (size_t i = 0; i < stream.size(); ++i) {
    Apply(stream[i], &view);
    // An event that repeats the previous position belongs to an open group; the group closes
    // at the event that carries a new one.
    const bool closes = i == 0 || stream[i].resource_version != stream[i - 1].resource_version;
    if (!closes || stream[i].resource_version.empty()) continue;
    SubscriptionRequest request;
    request.resource_version = stream[i].resource_version;
    absl::StatusOr<std::unique_ptr<Subscription>> resumed = Subscribe(request);
    ASSERT_TRUE(resumed.ok()) << i << ": " << resumed.status();
    View resumed_view = view;
    for (const SubscriptionEvent& event : Drain(**resumed)) {
      if (event.type == Type::kAdded) {
        EXPECT_EQ(resumed_view.count(event.object->key()), 0u) << "ADDED for a held key, at " << i;
      } else if (event.type == Type::kModified || event.type == Type::kDeleted) {
        EXPECT_EQ(resumed_view.count(event.object->key()), 1u)
            << "change of an unheld key, at " << i;
      }
      Apply(event, &resumed_view);
    }
    EXPECT_EQ(resumed_view, Truth())
        << "resumed from event " << i << " at " << stream[i].resource_version;
    ++checked;
  }
  EXPECT_GT(checked, 4);
  EXPECT_EQ(view, Truth());
}

TEST_F(SubscriptionTest, ASubscriberEndedBecauseTheRingMovedOnIsToldToUseKnownObjects) {
  options_.history.max_events = 4;
  limits_.soft_limit = 1000;
  limits_.hard_limit = 1000;
  Start();
  absl::StatusOr<std::unique_ptr<Subscription>> subscription = Subscribe();
  ASSERT_TRUE(subscription.ok());
  Drain(**subscription);
  for (int i = 0; i < 10; ++i) AddPod(absl::StrCat("p", i));
  WaitApplied();
  SubscriptionEvent event;
  absl::StatusOr<bool> next = (*subscription)->Next(now_, &event);
  EXPECT_EQ(next.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(next.status().message(), HasSubstr("known_objects"));
  // No position to resume from: one would only get OUT_OF_RANGE.
  EXPECT_EQ((*subscription)->resume_resource_version(), "");
}

TEST_F(SubscriptionTest, PastTheHardLimitTheSubscriptionEndsResourceExhaustedAndResumesLossless) {
  limits_.soft_limit = 2;
  limits_.hard_limit = 3;
  AddPod("a");
  Start();
  absl::StatusOr<std::unique_ptr<Subscription>> subscription = Subscribe();
  ASSERT_TRUE(subscription.ok());
  View view;
  for (const SubscriptionEvent& event : Drain(**subscription)) Apply(event, &view);
  for (int i = 0; i < 8; ++i) AddPod(absl::StrCat("p", i));  // 8 distinct keys: no coalescing
  WaitApplied();
  SubscriptionEvent event;
  absl::StatusOr<bool> next = (*subscription)->Next(now_, &event);
  ASSERT_EQ(next.status().code(), absl::StatusCode::kResourceExhausted);
  const std::string resume = (*subscription)->resume_resource_version();
  EXPECT_THAT(next.status().message(), HasSubstr(absl::StrCat("\"", resume, "\"")));
  // A subscriber that keeps up resumes from there and loses nothing.
  limits_.hard_limit = 100;
  SubscriptionRequest request;
  request.resource_version = resume;
  absl::StatusOr<std::unique_ptr<Subscription>> resumed = Subscribe(request);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  for (const SubscriptionEvent& e : Drain(**resumed)) Apply(e, &view);
  EXPECT_EQ(view, Truth());
}

TEST_F(SubscriptionTest, ResumedSubscriberIsNotEndedForTheBacklogItStartsWith) {
  limits_.soft_limit = 2;
  limits_.hard_limit = 3;
  Start();
  const std::string start = AddPod("start");
  for (int i = 0; i < 10; ++i) AddPod(absl::StrCat("p", i));  // 10 keys behind, past the limit
  WaitApplied();
  SubscriptionRequest request;
  request.resource_version = start;
  absl::StatusOr<std::unique_ptr<Subscription>> subscription = Subscribe(request);
  ASSERT_TRUE(subscription.ok()) << subscription.status();
  View view = {{"ns/start", start}};
  for (const SubscriptionEvent& event : Drain(**subscription)) Apply(event, &view);
  EXPECT_EQ(view, Truth());
  // Caught up, the limit applies again.
  for (int i = 0; i < 10; ++i) AddPod(absl::StrCat("q", i));
  WaitApplied();
  SubscriptionEvent event;
  EXPECT_EQ((*subscription)->Next(now_, &event).status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST_F(SubscriptionTest, SubscriberThatFellOutOfTheRingEndsResourceExhausted) {
  options_.history.max_events = 4;
  limits_.soft_limit = 1000;
  limits_.hard_limit = 1000;
  Start();
  absl::StatusOr<std::unique_ptr<Subscription>> subscription = Subscribe();
  ASSERT_TRUE(subscription.ok());
  Drain(**subscription);
  for (int i = 0; i < 10; ++i) AddPod(absl::StrCat("p", i));
  WaitApplied();
  SubscriptionEvent event;
  absl::StatusOr<bool> next = (*subscription)->Next(now_, &event);
  EXPECT_EQ(next.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(next.status().message(), HasSubstr("history ring"));
}

// One subscriber per kind of selector: a label selector (it reads every change) and a
// metadata.name selector (it skips the other names' changes without translating them).
class SelectiveSubscriberTest : public SubscriptionTest,
                                public ::testing::WithParamInterface<bool> {};

TEST_P(SelectiveSubscriberTest, IsNotCoalescedForChangesItWouldNotBeSent) {
  const bool by_name = GetParam();
  limits_.soft_limit = 5;
  AddPod("mine", {{"app", "mine"}});
  Start();
  SubscriptionRequest request;
  if (by_name) {
    request.filter.fields = *FieldSelector::Parse("metadata.name=mine");
  } else {
    request.filter.labels = *LabelSelector::Parse("app=mine");
  }
  absl::StatusOr<std::unique_ptr<Subscription>> subscription = Subscribe(std::move(request));
  ASSERT_TRUE(subscription.ok());
  EXPECT_EQ((*subscription)->only_name(), by_name ? "mine" : "");
  EXPECT_THAT(Described(Drain(**subscription)), ElementsAre("ADDED ns/mine", "SYNCED"));
  // 20 changes behind in the history, past the soft limit, but only two for this subscriber.
  for (int i = 0; i < 10; ++i) AddPod(absl::StrCat("other", i));
  const std::string first = UpdatePod("mine", {{"app", "mine"}, {"v", "1"}});
  for (int i = 0; i < 8; ++i) UpdatePod(absl::StrCat("other", i), {{"v", "1"}});
  const std::string second = UpdatePod("mine", {{"app", "mine"}, {"v", "2"}});
  WaitApplied();
  std::vector<SubscriptionEvent> events = Drain(**subscription);
  ASSERT_THAT(Described(events), ElementsAre("MODIFIED ns/mine", "MODIFIED ns/mine"));
  for (const SubscriptionEvent& event : events) EXPECT_FALSE(event.coalesced);
  EXPECT_EQ(events[0].object->meta().resource_version, first);
  EXPECT_EQ(events[1].object->meta().resource_version, second);
  EXPECT_EQ((*subscription)->stats().coalesce_rounds, 0u);
  EXPECT_EQ((*subscription)->Lag(), 0u);
}

INSTANTIATE_TEST_SUITE_P(LabelOrName, SelectiveSubscriberTest, ::testing::Bool());

TEST_F(SubscriptionTest, NamedSubscriberOutlivesTheRingUntilAChangeOfItsNameLeavesIt) {
  options_.history.max_events = 4;
  limits_.soft_limit = 1000;
  limits_.hard_limit = 1000;
  AddPod("mine");
  Start();
  SubscriptionRequest request;
  request.filter.fields = *FieldSelector::Parse("metadata.name=mine");
  absl::StatusOr<std::unique_ptr<Subscription>> subscription = Subscribe(std::move(request));
  ASSERT_TRUE(subscription.ok());
  Drain(**subscription);
  // As its stream does: a listener of that name makes the ring track that name's evictions.
  auto& history = const_cast<EventHistory&>(informer_->history());
  const EventHistory::ListenerId listener = history.AddListener([] {}, "mine");
  for (int i = 0; i < 10; ++i) AddPod(absl::StrCat("p", i));
  WaitApplied();
  SubscriptionEvent event;
  absl::StatusOr<bool> next = (*subscription)->Next(now_, &event);
  ASSERT_TRUE(next.ok()) << next.status();  // what left the ring was not for it
  EXPECT_FALSE(*next);
  const std::string rv = UpdatePod("mine", {{"v", "1"}});
  WaitApplied();
  std::vector<SubscriptionEvent> events = Drain(**subscription);
  ASSERT_THAT(Described(events), ElementsAre("MODIFIED ns/mine"));
  EXPECT_EQ(events[0].object->meta().resource_version, rv);
  // A change of its name that leaves the ring unread ends it, as it ends any subscriber.
  UpdatePod("mine", {{"v", "2"}});
  for (int i = 0; i < 10; ++i) AddPod(absl::StrCat("q", i));
  WaitApplied();
  next = (*subscription)->Next(now_, &event);
  EXPECT_EQ(next.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(next.status().message(), HasSubstr("history ring"));
  history.RemoveListener(listener);
}

TEST_F(SubscriptionTest, BookmarkAfterTheIntervalCarriesThePositionEvenWhenNothingMatches) {
  Start();
  SubscriptionRequest request;
  request.filter.labels = *LabelSelector::Parse("app=nothing");
  absl::StatusOr<std::unique_ptr<Subscription>> subscription = Subscribe(request);
  ASSERT_TRUE(subscription.ok());
  EXPECT_THAT(Described(Drain(**subscription)), ElementsAre("SYNCED"));
  AddPod("a");
  const std::string last = AddPod("b");
  WaitApplied();
  EXPECT_THAT(Drain(**subscription), IsEmpty());  // not due yet
  now_ += limits_.bookmark_interval;
  std::vector<SubscriptionEvent> events = Drain(**subscription);
  ASSERT_THAT(Described(events), ElementsAre("BOOKMARK"));
  EXPECT_EQ(events[0].resource_version, last);
  EXPECT_EQ((*subscription)->resume_resource_version(), last);
  // Resuming from the bookmark replays nothing before it and loses nothing after it.
  SubscriptionRequest resume = request;
  resume.resource_version = last;
  absl::StatusOr<std::unique_ptr<Subscription>> resumed = Subscribe(resume);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_THAT(Drain(**resumed), IsEmpty());
  UpdatePod("a", {{"app", "nothing"}});
  WaitApplied();
  EXPECT_THAT(Described(Drain(**resumed)), ElementsAre("ADDED ns/a"));
}

// --- Projections (fields) ---

// A client's view of masked objects: key -> masked content (the masked JSON without its
// resourceVersion), which is what a masked subscriber can know.
using MaskedView = std::map<std::string, std::string>;

std::string ContentOf(const FieldMask& mask, const ObjectPtr& object) {
  absl::StatusOr<MaskedObjectPtr> masked = mask.Apply(*object, /*with_content=*/true);
  EXPECT_TRUE(masked.ok()) << masked.status();
  return masked.ok() ? (*masked)->content : "";
}

void ApplyMasked(const FieldMask& mask, const SubscriptionEvent& event, MaskedView* view) {
  switch (event.type) {
    case Type::kAdded:
    case Type::kModified:
      // What is sent is already masked: masking it again changes nothing.
      (*view)[event.object->key()] = ContentOf(mask, event.object);
      break;
    case Type::kDeleted:
      view->erase(event.object->key());
      break;
    default:
      break;
  }
}

TEST_F(SubscriptionTest, AMaskedSubscriberGetsPrunedObjectsAndNoChangeItCannotSee) {
  AddPod("a", {{"app", "web"}});
  Start();
  SubscriptionRequest request;
  request.fields = *FieldMask::Parse({"metadata.labels"});
  request.include_old_object = true;
  MaskedObjectCache cache;
  absl::StatusOr<std::unique_ptr<Subscription>> subscription =
      Subscription::Create(informer_, request, limits_, now_, &cache);
  ASSERT_TRUE(subscription.ok()) << subscription.status();
  std::vector<SubscriptionEvent> initial = Drain(**subscription);
  ASSERT_THAT(Described(initial), ElementsAre("ADDED ns/a", "SYNCED"));
  EXPECT_EQ(initial[0].object->json(),
            R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","namespace":"ns",)"
            R"("uid":"uid-ns/a","resourceVersion":")" +
                initial[0].object->meta().resource_version + R"(","labels":{"app":"web"}}})");
  const std::string synced = initial[1].resource_version;

  // Only the spec changes: nothing is sent, and the next bookmark is past both changes.
  UpdatePod("a", {{"app", "web"}}, R"("spec":{"n":1})");
  const std::string spec_only = UpdatePod("a", {{"app", "web"}}, R"("spec":{"n":2})");
  WaitApplied();
  EXPECT_THAT(Drain(**subscription), IsEmpty());
  EXPECT_EQ((*subscription)->stats().events_unchanged, 2u);
  now_ += limits_.bookmark_interval;
  std::vector<SubscriptionEvent> bookmark = Drain(**subscription);
  ASSERT_THAT(Described(bookmark), ElementsAre("BOOKMARK"));
  EXPECT_EQ(bookmark[0].resource_version, spec_only);

  // A label changes: MODIFIED at its own version, pruned, with the pruned old object.
  const std::string labelled = UpdatePod("a", {{"app", "db"}}, R"("spec":{"n":2})");
  WaitApplied();
  std::vector<SubscriptionEvent> live = Drain(**subscription);
  ASSERT_THAT(Described(live), ElementsAre("MODIFIED ns/a"));
  EXPECT_EQ(live[0].resource_version, labelled);
  EXPECT_THAT(live[0].object->json(), HasSubstr(R"("labels":{"app":"db"})"));
  EXPECT_THAT(live[0].object->json(), Not(HasSubstr("spec")));
  ASSERT_NE(live[0].old_object, nullptr);
  EXPECT_THAT(live[0].old_object->json(), HasSubstr(R"("labels":{"app":"web"})"));
  EXPECT_THAT(live[0].old_object->json(), Not(HasSubstr("spec")));

  // Resuming from SYNCED (before the skipped changes) gets exactly the label change; from the
  // bookmark, the same; from the label change, nothing.
  for (const std::string& from : {synced, spec_only}) {
    SubscriptionRequest resume = request;
    resume.resource_version = from;
    absl::StatusOr<std::unique_ptr<Subscription>> resumed =
        Subscription::Create(informer_, resume, limits_, now_, &cache);
    ASSERT_TRUE(resumed.ok()) << resumed.status();
    std::vector<SubscriptionEvent> replay = Drain(**resumed);
    ASSERT_THAT(Described(replay), ElementsAre("MODIFIED ns/a")) << from;
    EXPECT_EQ(replay[0].resource_version, labelled);
    // The two subscribers with the same mask shared the pruned object.
    EXPECT_EQ(replay[0].object, live[0].object);
  }
  SubscriptionRequest resume = request;
  resume.resource_version = labelled;
  absl::StatusOr<std::unique_ptr<Subscription>> resumed =
      Subscription::Create(informer_, resume, limits_, now_, &cache);
  ASSERT_TRUE(resumed.ok());
  EXPECT_THAT(Drain(**resumed), IsEmpty());
  EXPECT_GT(cache.hits(), 0u);
}

TEST_F(SubscriptionTest, AnUnmaskedSubscriberStillGetsEveryChange) {
  AddPod("a", {{"app", "web"}});
  Start();
  absl::StatusOr<std::unique_ptr<Subscription>> subscription = Subscribe();
  ASSERT_TRUE(subscription.ok());
  Drain(**subscription);
  UpdatePod("a", {{"app", "web"}}, R"("spec":{"n":1})");
  WaitApplied();
  std::vector<SubscriptionEvent> live = Drain(**subscription);
  ASSERT_THAT(Described(live), ElementsAre("MODIFIED ns/a"));
  EXPECT_THAT(live[0].object->json(), HasSubstr(R"("spec":{"n":1})"));
}

TEST_F(SubscriptionTest, SubscribersWithTheSameMaskPruneEachChangeOnce) {
  constexpr int kSubscribers = 10;
  constexpr int kChanges = 50;
  AddPod("a", {{"app", "0"}});
  Start();
  MaskedObjectCache cache;
  std::vector<std::unique_ptr<Subscription>> subscriptions;
  for (int i = 0; i < kSubscribers; ++i) {
    SubscriptionRequest request;
    // Equal masks written differently share one key.
    request.fields =
        *FieldMask::Parse(i % 2 == 0 ? std::vector<std::string>{"metadata.labels", "spec.n"}
                                     : std::vector<std::string>{"spec.n", "metadata.labels"});
    absl::StatusOr<std::unique_ptr<Subscription>> subscription =
        Subscription::Create(informer_, request, limits_, now_, &cache);
    ASSERT_TRUE(subscription.ok());
    Drain(**subscription);
    subscriptions.push_back(*std::move(subscription));
  }
  for (int i = 1; i <= kChanges; ++i) UpdatePod("a", {{"app", absl::StrCat(i)}});
  WaitApplied();
  std::vector<ObjectPtr> first;
  for (int s = 0; s < kSubscribers; ++s) {
    std::vector<SubscriptionEvent> events = Drain(*subscriptions[s]);
    ASSERT_EQ(events.size(), static_cast<size_t>(kChanges));
    for (int i = 0; i < kChanges; ++i) {
      if (s == 0) first.push_back(events[i].object);
      // The very same pruned object (so the wire cache serialises it once, too).
      EXPECT_EQ(events[i].object, first[i]);
    }
  }
  // Each change is pruned once (its previous state was pruned as the change before): every
  // other lookup, two per change per subscriber, is a hit.
  EXPECT_GE(cache.hits(), static_cast<uint64_t>(2 * kChanges * kSubscribers - kChanges - 1));
}

TEST_F(SubscriptionTest, EveryMaskedPositionResumesExactlyEvenWhileCoalescing) {
  limits_.soft_limit = 4;
  for (int i = 0; i < 6; ++i) AddPod(absl::StrCat("p", i), {{"app", "a"}});
  Start();
  std::shared_ptr<const FieldMask> mask = *FieldMask::Parse({"metadata.labels"});
  SubscriptionRequest request;
  request.fields = mask;
  MaskedObjectCache cache;
  absl::StatusOr<std::unique_ptr<Subscription>> subscription =
      Subscription::Create(informer_, request, limits_, now_, &cache);
  ASSERT_TRUE(subscription.ok());
  std::vector<SubscriptionEvent> stream = Drain(**subscription);
  // Mostly changes the mask cannot see (spec), some label changes, adds and deletes; in
  // bursts that coalesce and single changes that do not.
  std::map<std::string, int> spec;
  for (int round = 0; round < 5; ++round) {
    for (int i = 0; i < 12; ++i) {
      const std::string name = absl::StrCat("p", (i * 5 + round) % 8);
      const bool exists = fake_->Objects().count("ns/" + name) > 0;
      if (exists && i % 6 == 5) {
        DeletePod(name);
      } else if (exists && i % 3 == 1) {
        UpdatePod(name, {{"app", absl::StrCat(round, "-", i)}},
                  absl::StrCat(R"("spec":{"n":)", spec[name], "}"));
      } else if (exists) {
        // Keep the labels, change the spec.
        ObjectPtr current = fake_->Objects().at("ns/" + name);
        UpdatePod(name, current->meta().labels, absl::StrCat(R"("spec":{"n":)", ++spec[name], "}"));
      } else {
        AddPod(name, {{"app", "a"}});
      }
    }
    WaitApplied();
    for (SubscriptionEvent& event : Drain(**subscription)) stream.push_back(std::move(event));
    if (fake_->Objects().count("ns/p0") > 0) {
      UpdatePod("p0", fake_->Objects().at("ns/p0")->meta().labels,
                absl::StrCat(R"("spec":{"n":)", ++spec["p0"], "}"));
    } else {
      AddPod("p0", {{"app", "a"}});
    }
    WaitApplied();
    for (SubscriptionEvent& event : Drain(**subscription)) stream.push_back(std::move(event));
    now_ += limits_.bookmark_interval;
    for (SubscriptionEvent& event : Drain(**subscription)) stream.push_back(std::move(event));
  }
  ASSERT_GT((*subscription)->stats().coalesce_rounds, 0u);
  ASSERT_GT((*subscription)->stats().events_unchanged, 5u);
  MaskedView truth;
  for (const auto& [key, object] : fake_->Objects()) truth[key] = ContentOf(*mask, object);
  // At every position that closes a group (bookmarks too), resuming and applying what follows
  // gives the masked truth: nothing lost, nothing repeated, no skipped change misplaced.
  MaskedView view;
  int checked = 0;
  for (size_t i = 0; i < stream.size(); ++i) {
    ApplyMasked(*mask, stream[i], &view);
    const bool closes = i == 0 || stream[i].resource_version != stream[i - 1].resource_version;
    if (!closes || stream[i].resource_version.empty()) continue;
    SubscriptionRequest resume = request;
    resume.resource_version = stream[i].resource_version;
    absl::StatusOr<std::unique_ptr<Subscription>> resumed =
        Subscription::Create(informer_, resume, limits_, now_, &cache);
    ASSERT_TRUE(resumed.ok()) << i << ": " << resumed.status();
    MaskedView resumed_view = view;
    for (const SubscriptionEvent& event : Drain(**resumed)) {
      if (event.type == Type::kAdded) {
        EXPECT_EQ(resumed_view.count(event.object->key()), 0u) << "ADDED for a held key, at " << i;
      } else if (event.type == Type::kModified) {
        ASSERT_EQ(resumed_view.count(event.object->key()), 1u) << "change of an unheld key";
        // (A coalesced MODIFIED may end where the client is: changes there and back.)
        if (!event.coalesced)
          EXPECT_NE(resumed_view[event.object->key()], ContentOf(*mask, event.object))
              << "a MODIFIED the mask cannot see, at " << i;
      }
      ApplyMasked(*mask, event, &resumed_view);
    }
    EXPECT_EQ(resumed_view, truth)
        << "resumed from event " << i << " at " << stream[i].resource_version;
    ++checked;
  }
  EXPECT_GT(checked, 6);
  EXPECT_EQ(view, truth);
}

TEST_F(SubscriptionTest, LagCountsChangesNotYetDelivered) {
  Start();
  absl::StatusOr<std::unique_ptr<Subscription>> subscription = Subscribe();
  ASSERT_TRUE(subscription.ok());
  Drain(**subscription);
  EXPECT_EQ((*subscription)->Lag(), 0u);
  AddPod("a");
  AddPod("b");
  WaitApplied();
  EXPECT_EQ((*subscription)->Lag(), 2u);
  SubscriptionEvent event;
  ASSERT_TRUE((*subscription)->Next(now_, &event).value());
  EXPECT_EQ((*subscription)->Lag(), 1u);
}

TEST_F(SubscriptionTest, StoppedInformerEndsTheSubscriptionUnavailable) {
  Start();
  absl::StatusOr<std::unique_ptr<Subscription>> subscription = Subscribe();
  ASSERT_TRUE(subscription.ok());
  Drain(**subscription);
  informer_->Stop();
  SubscriptionEvent event;
  EXPECT_EQ((*subscription)->Next(now_, &event).status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace server
}  // namespace informer
