#include "informer/real_fifo.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "informer/testing/objects.h"

namespace informer {
namespace {

using ::informer::testing::MakeObject;
using ::testing::ElementsAre;

// "Kind:key@rv" for each item ("Replace[a,b]@rv" for a relist), so batches read as a sequence.
std::vector<std::string> Describe(const std::vector<QueueItem>& batch) {
  std::vector<std::string> out;
  for (const QueueItem& item : batch) {
    std::string text = QueueItemKindName(item.kind);
    if (item.object != nullptr) text += ":" + item.object->key();
    if (item.kind == QueueItem::Kind::kReplace) {
      text += "[";
      for (size_t i = 0; i < item.objects.size(); ++i) {
        text += (i > 0 ? "," : "") + item.objects[i]->key();
      }
      text += "]";
    }
    out.push_back(text + "@" + item.resource_version);
  }
  return out;
}

// Pops one batch and returns it described.
std::vector<std::string> PopBatch(RealFifo& fifo, bool* is_in_initial_list = nullptr) {
  std::vector<std::string> popped;
  absl::Status status = fifo.Pop([&](std::vector<QueueItem>& batch, bool initial) {
    popped = Describe(batch);
    if (is_in_initial_list != nullptr) *is_in_initial_list = initial;
    return absl::OkStatus();
  });
  EXPECT_TRUE(status.ok()) << status;
  return popped;
}

TEST(RealFifoTest, F8_EventsOfDifferentObjectsPopInServerOrder) {
  RealFifo fifo;
  fifo.Replace({}, "1");
  PopBatch(fifo);
  fifo.Add(MakeObject("ns", "a", "2"));
  fifo.Add(MakeObject("ns", "b", "3"));
  fifo.Update(MakeObject("ns", "a", "4"));
  // A1, B1 in one batch; the repeated key A ends it, so A2 follows B1, never before it.
  EXPECT_THAT(PopBatch(fifo), ElementsAre("Added:ns/a@2", "Added:ns/b@3"));
  EXPECT_THAT(PopBatch(fifo), ElementsAre("Updated:ns/a@4"));
}

TEST(RealFifoTest, F9_F10_ARelistIsOneItemHoldingTheWholeList) {
  RealFifo fifo;
  fifo.Replace({MakeObject("ns", "a", "1"), MakeObject("ns", "b", "1")}, "5");
  fifo.Add(MakeObject("ns", "c", "6"));
  EXPECT_THAT(PopBatch(fifo), ElementsAre("Replace[ns/a,ns/b]@5"));
  EXPECT_THAT(PopBatch(fifo), ElementsAre("Added:ns/c@6"));
}

TEST(RealFifoTest, F11_AResyncIsOneStepAtItsTurnAndQueuedOnce) {
  RealFifo fifo;
  fifo.Replace({}, "1");
  PopBatch(fifo);
  fifo.Update(MakeObject("ns", "a", "2"));
  fifo.Resync();
  fifo.Resync();  // one is queued already
  fifo.Update(MakeObject("ns", "b", "3"));
  EXPECT_THAT(PopBatch(fifo), ElementsAre("Updated:ns/a@2"));
  EXPECT_THAT(PopBatch(fifo), ElementsAre("Resync@"));
  EXPECT_THAT(PopBatch(fifo), ElementsAre("Updated:ns/b@3"));
  EXPECT_EQ(fifo.Size(), 0u);
}

TEST(RealFifoTest, F12_BatchesHoldAtMostTheKeyLimitAndNeverSpanTheInitialList) {
  RealFifo fifo(/*max_batch_keys=*/2);
  fifo.Replace({MakeObject("ns", "a", "1")}, "2");
  fifo.Add(MakeObject("ns", "x", "3"));
  fifo.Add(MakeObject("ns", "y", "4"));
  fifo.Add(MakeObject("ns", "z", "5"));
  fifo.Bookmark("6");
  bool initial = false;
  // The initial list is a batch of its own: what follows it is never popped as initial.
  EXPECT_THAT(PopBatch(fifo, &initial), ElementsAre("Replace[ns/a]@2"));
  EXPECT_TRUE(initial);
  EXPECT_TRUE(fifo.HasSynced());
  EXPECT_THAT(PopBatch(fifo, &initial), ElementsAre("Added:ns/x@3", "Added:ns/y@4"));
  EXPECT_FALSE(initial);
  // A bookmark has no key: it joins the batch.
  EXPECT_THAT(PopBatch(fifo), ElementsAre("Added:ns/z@5", "Bookmark@6"));
}

TEST(RealFifoTest, F6_EventsBeforeAnyListCountAsSyncedAsClientGo) {
  RealFifo fifo;
  fifo.Add(MakeObject("ns", "early", "1"));
  EXPECT_TRUE(fifo.HasSynced());
}

TEST(RealFifoTest, F13_AProcessErrorDropsTheBatch) {
  RealFifo fifo;
  fifo.Replace({}, "1");
  PopBatch(fifo);
  fifo.Add(MakeObject("ns", "a", "2"));
  absl::Status status =
      fifo.Pop([](std::vector<QueueItem>&, bool) { return absl::InternalError("handler failed"); });
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(fifo.Size(), 0u);  // not requeued
}

TEST(RealFifoTest, F6_SyncedOnceTheInitialListIsAppliedNotWhenPopped) {
  RealFifo fifo;
  fifo.Replace({MakeObject("ns", "a", "1")}, "2");
  EXPECT_FALSE(fifo.HasSynced());
  absl::Status status = fifo.Pop([&](std::vector<QueueItem>&, bool initial) {
    EXPECT_TRUE(initial);
    EXPECT_FALSE(fifo.HasSynced());  // popped, not yet applied
    return absl::OkStatus();
  });
  EXPECT_TRUE(status.ok());
  EXPECT_TRUE(fifo.HasSynced());
}

TEST(RealFifoTest, F7_CloseWakesABlockedPopAndDropsWhatIsQueued) {
  RealFifo fifo;
  absl::Notification popped;
  std::thread popper([&] {
    absl::Status status = fifo.Pop([](std::vector<QueueItem>&, bool) { return absl::OkStatus(); });
    EXPECT_EQ(status.code(), absl::StatusCode::kCancelled);
    popped.Notify();
  });
  fifo.Close();
  popper.join();
  EXPECT_TRUE(popped.HasBeenNotified());
  fifo.Add(MakeObject("ns", "a", "1"));
  EXPECT_EQ(fifo.Size(), 0u);
  EXPECT_TRUE(fifo.IsClosed());
}

TEST(RealFifoTest, ThePopperDoesNotHoldTheQueueWhileItProcesses) {
  RealFifo fifo;
  fifo.Replace({}, "1");
  absl::Notification processing;
  absl::Notification release;
  std::thread popper([&] {
    absl::Status status = fifo.Pop([&](std::vector<QueueItem>&, bool) {
      processing.Notify();
      release.WaitForNotification();
      return absl::OkStatus();
    });
    EXPECT_TRUE(status.ok());
  });
  processing.WaitForNotification();
  fifo.Add(MakeObject("ns", "a", "2"));  // would deadlock if Pop held the lock
  EXPECT_EQ(fifo.Size(), 1u);
  release.Notify();
  popper.join();
}

}  // namespace
}  // namespace informer
