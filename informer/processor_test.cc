#include "informer/processor.h"

#include <atomic>
#include <memory>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "informer/testing/objects.h"
#include "informer/testing/recording_handler.h"

namespace informer {
namespace {

using ::informer::testing::MakeObject;
using ::informer::testing::RecordingHandler;
using ::testing::ElementsAre;

const absl::Time kStart = absl::FromUnixSeconds(1000);

// Polls `condition` for up to ten seconds.
bool Eventually(const std::function<bool()>& condition) {
  for (int i = 0; i < 10000 && !condition(); ++i) absl::SleepFor(absl::Milliseconds(1));
  return condition();
}

std::shared_ptr<ProcessorListener> Listener(
    std::shared_ptr<ResourceEventHandler> handler, absl::Duration resync = absl::ZeroDuration(),
    std::function<bool()> synced = [] { return true; }) {
  return std::make_shared<ProcessorListener>(std::move(handler), resync, kStart, std::move(synced));
}

TEST(ProcessorTest, I4_ASlowHandlerDelaysNoOther) {
  auto slow = std::make_shared<RecordingHandler>();
  absl::Notification release;
  slow->set_on_call([&] { release.WaitForNotification(); });
  auto fast = std::make_shared<RecordingHandler>();
  SharedProcessor processor;
  auto slow_listener = Listener(slow);
  auto fast_listener = Listener(fast);
  ASSERT_TRUE(processor.AddListener(slow_listener).ok());
  ASSERT_TRUE(processor.AddListener(fast_listener).ok());
  slow_listener->Start();
  fast_listener->Start();
  for (int i = 1; i <= 3; ++i) {
    processor.Distribute(
        HandlerNotification::Add(MakeObject("ns", "o" + std::to_string(i), "1"), false), false);
  }
  ASSERT_TRUE(fast->WaitForCalls(3));
  ASSERT_TRUE(Eventually([&] { return slow->call_count() == 1; }));  // stuck in its first call
  EXPECT_EQ(slow_listener->pending(), 2u);  // the rest waits in its own buffer
  release.Notify();
  ASSERT_TRUE(slow->WaitForCalls(3));
  EXPECT_EQ(slow->calls(), fast->calls());  // same order for both
}

TEST(ProcessorTest, I4_EachHandlerGetsItsCallsInOrder) {
  auto handler = std::make_shared<RecordingHandler>();
  SharedProcessor processor;
  auto listener = Listener(handler);
  ASSERT_TRUE(processor.AddListener(listener).ok());
  ObjectPtr v1 = MakeObject("ns", "a", "1");
  ObjectPtr v2 = MakeObject("ns", "a", "2");
  processor.Distribute(HandlerNotification::Add(v1, true), false);
  processor.Distribute(HandlerNotification::Update(v1, v2), false);
  processor.Distribute(HandlerNotification::Delete(DeletedFinalStateUnknown{"ns/a", v2}), false);
  listener->Start();  // buffered before the thread started: nothing lost
  ASSERT_TRUE(handler->WaitForCalls(3));
  EXPECT_THAT(handler->calls(),
              ElementsAre("add ns/a@1 initial", "update ns/a@1->2", "delete ns/a@2 tombstone"));
}

TEST(ProcessorTest, I6_HasSyncedWaitsForTheInformerAndTheInitialAddsToBeHandled) {
  auto handler = std::make_shared<RecordingHandler>();
  absl::Notification release;
  handler->set_on_call([&] { release.WaitForNotification(); });
  std::atomic<bool> upstream{false};
  auto listener = Listener(handler, absl::ZeroDuration(), [&] { return upstream.load(); });
  listener->Add(HandlerNotification::Add(MakeObject("ns", "a", "1"), true));
  listener->Add(HandlerNotification::Add(MakeObject("ns", "b", "1"), false));
  EXPECT_FALSE(listener->HasSynced());
  upstream = true;
  EXPECT_FALSE(listener->HasSynced());  // the initial add is not handled yet
  listener->Start();
  release.Notify();
  ASSERT_TRUE(handler->WaitForCalls(2));
  ASSERT_TRUE(Eventually([&] { return listener->HasSynced(); }));
  listener->Stop();
  EXPECT_TRUE(listener->HasSynced());  // stays meaningful after removal
}

TEST(ProcessorTest, I5_ResyncGoesOnlyToHandlersWhoseOwnPeriodIsDue) {
  auto every10 = std::make_shared<RecordingHandler>();
  auto every30 = std::make_shared<RecordingHandler>();
  auto never = std::make_shared<RecordingHandler>();
  SharedProcessor processor;
  auto l10 = Listener(every10, absl::Seconds(10));
  auto l30 = Listener(every30, absl::Seconds(30));
  auto l0 = Listener(never);
  for (auto& l : {l10, l30, l0}) {
    ASSERT_TRUE(processor.AddListener(l).ok());
    l->Start();
  }
  EXPECT_EQ(processor.NextResync(), kStart + absl::Seconds(10));
  EXPECT_FALSE(processor.ShouldResync(kStart + absl::Seconds(5)));
  ASSERT_TRUE(processor.ShouldResync(kStart + absl::Seconds(10)));
  ObjectPtr a = MakeObject("ns", "a", "1");
  processor.Distribute(HandlerNotification::Update(a, a), /*is_sync=*/true);
  processor.Distribute(HandlerNotification::Add(MakeObject("ns", "b", "2"), false), false);
  ASSERT_TRUE(every10->WaitForCalls(2));
  ASSERT_TRUE(every30->WaitForCalls(1));
  ASSERT_TRUE(never->WaitForCalls(1));
  EXPECT_THAT(every10->calls(), ElementsAre("update ns/a@1->1", "add ns/b@2"));
  EXPECT_THAT(every30->calls(), ElementsAre("add ns/b@2"));
  EXPECT_THAT(never->calls(), ElementsAre("add ns/b@2"));
  EXPECT_EQ(processor.NextResync(), kStart + absl::Seconds(20));
  // At 30 s both are due.
  ASSERT_TRUE(processor.ShouldResync(kStart + absl::Seconds(30)));
  processor.Distribute(HandlerNotification::Update(a, a), true);
  ASSERT_TRUE(every30->WaitForCalls(2));
  ASSERT_TRUE(every10->WaitForCalls(3));
  EXPECT_EQ(never->call_count(), 1u);
}

TEST(ProcessorTest, I6_RemovedHandlerGetsNothingMoreAndOthersCarryOn) {
  auto removed = std::make_shared<RecordingHandler>();
  auto kept = std::make_shared<RecordingHandler>();
  SharedProcessor processor;
  auto l1 = Listener(removed);
  auto l2 = Listener(kept);
  ASSERT_TRUE(processor.AddListener(l1).ok());
  ASSERT_TRUE(processor.AddListener(l2).ok());
  l1->Start();
  l2->Start();
  processor.Distribute(HandlerNotification::Add(MakeObject("ns", "a", "1"), false), false);
  ASSERT_TRUE(removed->WaitForCalls(1));
  ASSERT_TRUE(processor.RemoveListener(l1.get()).ok());
  // I17: removing it again succeeds, as client-go.
  EXPECT_TRUE(processor.RemoveListener(l1.get()).ok());
  processor.Distribute(HandlerNotification::Add(MakeObject("ns", "b", "1"), false), false);
  ASSERT_TRUE(kept->WaitForCalls(2));
  EXPECT_EQ(removed->call_count(), 1u);
  EXPECT_EQ(processor.size(), 1u);
}

TEST(ProcessorTest, AHandlerMayRemoveItselfWithoutDeadlock) {
  SharedProcessor processor;
  auto handler = std::make_shared<RecordingHandler>();
  auto listener = Listener(handler);
  handler->set_on_call([&] { EXPECT_TRUE(processor.RemoveListener(listener.get()).ok()); });
  ASSERT_TRUE(processor.AddListener(listener).ok());
  listener->Start();
  processor.Distribute(HandlerNotification::Add(MakeObject("ns", "a", "1"), false), false);
  ASSERT_TRUE(Eventually([&] { return processor.size() == 0; }));
  processor.Distribute(HandlerNotification::Add(MakeObject("ns", "b", "1"), false), false);
  EXPECT_EQ(handler->call_count(), 1u);
}

TEST(ProcessorTest, StopEndsEveryListenerAndRefusesNewOnes) {
  SharedProcessor processor;
  auto handler = std::make_shared<RecordingHandler>();
  auto listener = Listener(handler);
  ASSERT_TRUE(processor.AddListener(listener).ok());
  listener->Start();
  processor.Stop();
  listener->Add(HandlerNotification::Add(MakeObject("ns", "a", "1"), false));
  EXPECT_EQ(listener->pending(), 0u);
  EXPECT_EQ(processor.AddListener(Listener(handler)).code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace informer
