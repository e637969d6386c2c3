#include "informer/delta_fifo.h"

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
using ::testing::IsEmpty;

// "Type:key@rv" for each delta, so expectations read as a sequence.
std::vector<std::string> Describe(const Deltas& deltas) {
  std::vector<std::string> out;
  for (const Delta& delta : deltas) {
    std::string text = std::string(DeltaTypeName(delta.type)) + ":" + KeyOf(delta.object);
    if (std::holds_alternative<DeletedFinalStateUnknown>(delta.object)) text += "(tombstone)";
    out.push_back(text + "@" + delta.resource_version);
  }
  return out;
}

DeltaFifoOptions KnownObjects(const Store* store) {
  DeltaFifoOptions options;
  options.known_objects = store;
  return options;
}

// Pops one key and returns its deltas.
Deltas PopOne(DeltaFifo& fifo, bool* is_in_initial_list = nullptr) {
  Deltas popped;
  absl::Status status = fifo.Pop([&](const Deltas& deltas, bool initial) {
    popped = deltas;
    if (is_in_initial_list != nullptr) *is_in_initial_list = initial;
    return absl::OkStatus();
  });
  EXPECT_TRUE(status.ok()) << status;
  return popped;
}

TEST(DeltaFifoTest, F1_DeltasKeepArrivalOrderAndKeysPopInFirstQueuedOrder) {
  DeltaFifo fifo;
  fifo.Add(MakeObject("ns", "b", "1"));
  fifo.Add(MakeObject("ns", "a", "2"));
  fifo.Update(MakeObject("ns", "b", "3"));
  fifo.Delete(MakeObject("ns", "b", "4"));
  fifo.Update(MakeObject("ns", "a", "5"));

  EXPECT_THAT(fifo.ListKeys(), ElementsAre("ns/b", "ns/a"));
  EXPECT_THAT(Describe(PopOne(fifo)),
              ElementsAre("Added:ns/b@1", "Updated:ns/b@3", "Deleted:ns/b@4"));
  EXPECT_THAT(Describe(PopOne(fifo)), ElementsAre("Added:ns/a@2", "Updated:ns/a@5"));
  EXPECT_EQ(fifo.Size(), 0u);
}

TEST(DeltaFifoTest, F1_KeyQueuedAgainAfterPopGoesToTheBack) {
  DeltaFifo fifo;
  fifo.Add(MakeObject("ns", "a", "1"));
  fifo.Add(MakeObject("ns", "b", "2"));
  PopOne(fifo);
  fifo.Update(MakeObject("ns", "a", "3"));
  EXPECT_THAT(fifo.ListKeys(), ElementsAre("ns/b", "ns/a"));
}

TEST(DeltaFifoTest, F2_ConsecutiveDeletesCollapseKeepingTheLater) {
  DeltaFifo fifo;
  fifo.Add(MakeObject("ns", "a", "1"));
  fifo.Delete(MakeObject("ns", "a", "2"));
  fifo.Delete(MakeObject("ns", "a", "3"));
  EXPECT_THAT(Describe(fifo.GetDeltas("ns/a")), ElementsAre("Added:ns/a@1", "Deleted:ns/a@3"));
}

TEST(DeltaFifoTest, F2_TombstoneAfterARealDeleteKeepsTheRealFinalState) {
  // As client-go's isDeletionDup: a tombstone knows less than the watch's DELETED.
  DeltaFifo fifo;
  fifo.Add(MakeObject("ns", "a", "1"));
  fifo.Delete(MakeObject("ns", "a", "2"));
  fifo.Replace({}, "5");
  Deltas deltas = fifo.GetDeltas("ns/a");
  EXPECT_THAT(Describe(deltas), ElementsAre("Added:ns/a@1", "Deleted:ns/a@2"));
  EXPECT_TRUE(std::holds_alternative<ObjectPtr>(deltas.back().object));
}

TEST(DeltaFifoTest, F2_NonConsecutiveDeletesAreKept) {
  DeltaFifo fifo;
  fifo.Add(MakeObject("ns", "a", "1"));
  fifo.Delete(MakeObject("ns", "a", "2"));
  fifo.Add(MakeObject("ns", "a", "3"));
  fifo.Delete(MakeObject("ns", "a", "4"));
  EXPECT_THAT(Describe(fifo.GetDeltas("ns/a")),
              ElementsAre("Added:ns/a@1", "Deleted:ns/a@2", "Added:ns/a@3", "Deleted:ns/a@4"));
}

TEST(DeltaFifoTest, F3_ReplaceQueuesReplacedAndTombstonesKnownKeysMissingFromTheList) {
  Store known;
  known.Add(MakeObject("ns", "kept", "1"));
  known.Add(MakeObject("ns", "gone", "2"));
  DeltaFifo fifo(KnownObjects(&known));
  fifo.Replace({MakeObject("ns", "kept", "7"), MakeObject("ns", "new", "8")}, "10");

  EXPECT_THAT(fifo.ListKeys(), ElementsAre("ns/kept", "ns/new", "ns/gone"));
  EXPECT_THAT(Describe(fifo.GetDeltas("ns/kept")), ElementsAre("Replaced:ns/kept@10"));
  EXPECT_THAT(Describe(fifo.GetDeltas("ns/new")), ElementsAre("Replaced:ns/new@10"));
  Deltas gone = fifo.GetDeltas("ns/gone");
  ASSERT_THAT(Describe(gone), ElementsAre("Deleted:ns/gone(tombstone)@10"));
  const auto& tombstone = std::get<DeletedFinalStateUnknown>(gone[0].object);
  EXPECT_EQ(tombstone.key, "ns/gone");
  EXPECT_EQ(tombstone.obj->meta().resource_version, "2");  // the last known state
}

TEST(DeltaFifoTest, F3_ReplaceTombstonesQueuedKeysMissingFromTheList) {
  DeltaFifo fifo;  // no known objects: only the queue tells what existed
  fifo.Add(MakeObject("ns", "queued", "3"));
  fifo.Update(MakeObject("ns", "queued", "4"));
  fifo.Replace({MakeObject("ns", "listed", "5")}, "9");
  Deltas queued = fifo.GetDeltas("ns/queued");
  ASSERT_THAT(Describe(queued), ElementsAre("Added:ns/queued@3", "Updated:ns/queued@4",
                                            "Deleted:ns/queued(tombstone)@9"));
  EXPECT_EQ(std::get<DeletedFinalStateUnknown>(queued[2].object).obj->meta().resource_version, "4");
}

TEST(DeltaFifoTest, F3_LegacyModeQueuesSyncInsteadOfReplaced) {
  DeltaFifoOptions options;
  options.emit_replaced = false;
  DeltaFifo fifo(options);
  fifo.Replace({MakeObject("ns", "a", "1")}, "3");
  EXPECT_THAT(Describe(fifo.GetDeltas("ns/a")), ElementsAre("Sync:ns/a@3"));
}

TEST(DeltaFifoTest, F4_ResyncQueuesSyncOnlyForKnownKeysWithNothingQueued) {
  Store known;
  known.Add(MakeObject("ns", "idle", "1"));
  known.Add(MakeObject("ns", "busy", "2"));
  DeltaFifo fifo(KnownObjects(&known));
  fifo.Update(MakeObject("ns", "busy", "3"));
  fifo.Resync();
  EXPECT_THAT(fifo.ListKeys(), ElementsAre("ns/busy", "ns/idle"));
  EXPECT_THAT(Describe(fifo.GetDeltas("ns/busy")), ElementsAre("Updated:ns/busy@3"));
  EXPECT_THAT(Describe(fifo.GetDeltas("ns/idle")), ElementsAre("Sync:ns/idle@1"));
}

TEST(DeltaFifoTest, F4_ResyncWithoutKnownObjectsQueuesNothing) {
  DeltaFifo fifo;
  fifo.Resync();
  EXPECT_EQ(fifo.Size(), 0u);
}

TEST(DeltaFifoTest, F5_PopHandsEveryDeltaOfOneKeyAtOnce) {
  DeltaFifo fifo;
  fifo.Add(MakeObject("ns", "a", "1"));
  fifo.Update(MakeObject("ns", "a", "2"));
  int calls = 0;
  ASSERT_TRUE(fifo.Pop([&](const Deltas& deltas, bool) {
                    ++calls;
                    EXPECT_EQ(deltas.size(), 2u);
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(fifo.Size(), 0u);
}

TEST(DeltaFifoTest, F5_ErrorRequeuesTheDeltasBehindOtherKeysAndLaterDeltasFollowThem) {
  DeltaFifo fifo;
  fifo.Add(MakeObject("ns", "a", "1"));
  fifo.Add(MakeObject("ns", "b", "2"));
  absl::Status status =
      fifo.Pop([](const Deltas&, bool) { return absl::UnavailableError("handler not ready"); });
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(fifo.ListKeys(), ElementsAre("ns/b", "ns/a"));
  fifo.Update(MakeObject("ns", "a", "3"));
  PopOne(fifo);
  EXPECT_THAT(Describe(PopOne(fifo)), ElementsAre("Added:ns/a@1", "Updated:ns/a@3"));
}

TEST(DeltaFifoTest, F5_EnqueueWaitsWhileAKeyIsBeingProcessed) {
  // Process runs under the FIFO's lock, so nothing can supersede the popped deltas mid-way.
  DeltaFifo fifo;
  fifo.Add(MakeObject("ns", "a", "1"));
  absl::Notification in_process;
  absl::Notification release;
  std::thread popper([&] {
    fifo.Pop([&](const Deltas&, bool) {
          in_process.Notify();
          release.WaitForNotification();
          return absl::InternalError("requeue");
        })
        .IgnoreError();
  });
  in_process.WaitForNotification();
  absl::Notification added;
  std::thread adder([&] {
    fifo.Update(MakeObject("ns", "a", "2"));
    added.Notify();
  });
  EXPECT_FALSE(added.WaitForNotificationWithTimeout(absl::Milliseconds(50)));
  release.Notify();
  popper.join();
  adder.join();
  // Requeued first, then the update appended to the same key.
  EXPECT_THAT(Describe(fifo.GetDeltas("ns/a")), ElementsAre("Added:ns/a@1", "Updated:ns/a@2"));
}

TEST(DeltaFifoTest, F6_HasSyncedOnceTheFirstReplacesItemsArePopped) {
  DeltaFifo fifo;
  EXPECT_FALSE(fifo.HasSynced());
  fifo.Replace({MakeObject("ns", "a", "1"), MakeObject("ns", "b", "2")}, "5");
  EXPECT_FALSE(fifo.HasSynced());
  bool initial = false;
  PopOne(fifo, &initial);
  EXPECT_TRUE(initial);
  EXPECT_FALSE(fifo.HasSynced());
  PopOne(fifo, &initial);
  EXPECT_TRUE(initial);
  EXPECT_TRUE(fifo.HasSynced());
  // Later items are not part of the initial list (I2).
  fifo.Add(MakeObject("ns", "c", "6"));
  PopOne(fifo, &initial);
  EXPECT_FALSE(initial);
}

TEST(DeltaFifoTest, F6_EmptyFirstReplaceSyncsAtOnce) {
  DeltaFifo fifo;
  fifo.Replace({}, "5");
  EXPECT_TRUE(fifo.HasSynced());
}

TEST(DeltaFifoTest, F6_RequeuedInitialItemKeepsHasSyncedFalse) {
  DeltaFifo fifo;
  fifo.Replace({MakeObject("ns", "a", "1")}, "5");
  fifo.Pop([](const Deltas&, bool) { return absl::InternalError("retry"); }).IgnoreError();
  EXPECT_FALSE(fifo.HasSynced());
  PopOne(fifo);
  EXPECT_TRUE(fifo.HasSynced());
}

TEST(DeltaFifoTest, F7_CloseUnblocksAWaitingPop) {
  DeltaFifo fifo;
  absl::Status status;
  std::thread popper(
      [&] { status = fifo.Pop([](const Deltas&, bool) { return absl::OkStatus(); }); });
  absl::SleepFor(absl::Milliseconds(10));
  fifo.Close();
  popper.join();
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(fifo.IsClosed());
}

TEST(DeltaFifoTest, F7_PopAfterCloseReturnsAtOnceAndDropsTheQueue) {
  DeltaFifo fifo;
  fifo.Add(MakeObject("ns", "a", "1"));
  fifo.Close();
  bool called = false;
  absl::Status status = fifo.Pop([&](const Deltas&, bool) {
    called = true;
    return absl::OkStatus();
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled);
  EXPECT_FALSE(called);
  EXPECT_EQ(fifo.Size(), 0u);
}

TEST(DeltaFifoTest, DeleteOfAKeyNeitherQueuedNorKnownIsDropped) {
  Store known;
  DeltaFifo fifo(KnownObjects(&known));
  fifo.Delete(MakeObject("ns", "ghost", "3"));
  EXPECT_EQ(fifo.Size(), 0u);
  known.Add(MakeObject("ns", "real", "1"));
  fifo.Delete(MakeObject("ns", "real", "4"));
  EXPECT_THAT(Describe(fifo.GetDeltas("ns/real")), ElementsAre("Deleted:ns/real@4"));
}

TEST(DeltaFifoTest, DrainedResourceVersionIsTheNewestEnqueuedOnceTheQueueIsEmpty) {
  std::vector<std::string> drained;
  DeltaFifoOptions options;
  options.on_drained = [&](const std::string& rv) { drained.push_back(rv); };
  DeltaFifo fifo(options);
  fifo.Replace({MakeObject("ns", "a", "3")}, "10");
  fifo.Add(MakeObject("ns", "b", "11"));
  EXPECT_THAT(drained, IsEmpty());
  EXPECT_EQ(fifo.NewestResourceVersion(), "11");
  PopOne(fifo);
  EXPECT_THAT(drained, IsEmpty());  // ns/b is still queued
  PopOne(fifo);
  EXPECT_THAT(drained, ElementsAre("11"));
  // A bookmark with nothing queued moves it at once.
  fifo.Bookmark("15");
  EXPECT_THAT(drained, ElementsAre("11", "15"));
  EXPECT_EQ(fifo.DrainedResourceVersion(), "15");
  // An older RV never moves it back.
  fifo.Bookmark("12");
  EXPECT_EQ(fifo.DrainedResourceVersion(), "15");
}

}  // namespace
}  // namespace informer
