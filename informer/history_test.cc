#include "informer/history.h"

#include <atomic>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "informer/testing/objects.h"

namespace informer {
namespace {

using ::informer::testing::MakeObject;

HistoryEvent Event(absl::string_view name, uint64_t rv, EventType type = EventType::kAdded) {
  HistoryEvent event;
  event.type = type;
  event.object = MakeObject("ns", name, absl::StrCat(rv));
  event.resource_version = absl::StrCat(rv);
  return event;
}

std::vector<uint64_t> Seqs(const std::vector<HistoryEvent>& events) {
  std::vector<uint64_t> seqs;
  for (const HistoryEvent& event : events) seqs.push_back(event.seq);
  return seqs;
}

TEST(EventHistoryTest, AppendAssignsConsecutiveSeqsFromOne) {
  EventHistory history;
  EXPECT_EQ(history.last_seq(), 0u);
  EXPECT_EQ(history.first_seq(), 1u);
  EXPECT_EQ(history.Append(Event("a", 10)), 1u);
  EXPECT_EQ(history.Append(Event("b", 11)), 2u);
  EXPECT_EQ(history.last_seq(), 2u);
  EXPECT_EQ(history.first_seq(), 1u);
  EXPECT_EQ(history.size(), 2u);
}

TEST(EventHistoryTest, EvictsTheOldestPastTheCountBound) {
  EventHistory history(HistoryOptions{3, size_t{1} << 30});
  for (int i = 0; i < 5; ++i) history.Append(Event(absl::StrCat("o", i), 10 + i));
  EXPECT_EQ(history.size(), 3u);
  EXPECT_EQ(history.first_seq(), 3u);
  EXPECT_EQ(history.last_seq(), 5u);
}

TEST(EventHistoryTest, EvictsTheOldestPastTheByteBoundButKeepsTheNewest) {
  HistoryEvent probe = Event("a", 1);
  const size_t one = probe.object->ApproximateBytes();
  EventHistory history(HistoryOptions{1000, one * 2 + one / 2});
  for (int i = 0; i < 6; ++i) history.Append(Event("a", 10 + i));
  EXPECT_LE(history.bytes(), one * 2 + one / 2);
  EXPECT_LT(history.size(), 6u);
  EXPECT_GE(history.size(), 1u);
  EXPECT_EQ(history.last_seq(), 6u);

  EventHistory tiny(HistoryOptions{1000, 1});
  tiny.Append(Event("a", 1));
  tiny.Append(Event("b", 2));
  EXPECT_EQ(tiny.size(), 1u);  // never empty after an append
  EXPECT_EQ(tiny.first_seq(), 2u);
}

TEST(EventHistoryTest, ReadAfterReturnsLaterEventsInOrderUpToTheLimit) {
  EventHistory history;
  for (int i = 0; i < 5; ++i) history.Append(Event(absl::StrCat("o", i), 10 + i));
  std::vector<HistoryEvent> out;
  ASSERT_TRUE(history.ReadAfter(1, 2, &out).ok());
  EXPECT_THAT(Seqs(out), ::testing::ElementsAre(2, 3));
  out.clear();
  ASSERT_TRUE(history.ReadAfter(3, 100, &out).ok());
  EXPECT_THAT(Seqs(out), ::testing::ElementsAre(4, 5));
  out.clear();
  ASSERT_TRUE(history.ReadAfter(5, 100, &out).ok());
  EXPECT_TRUE(out.empty());
  ASSERT_TRUE(history.ReadAfter(0, 100, &out).ok());
  EXPECT_EQ(out.size(), 5u);
}

TEST(EventHistoryTest, ReadAfterIsOutOfRangeWhenTheReaderFellBehindTheRing) {
  EventHistory history(HistoryOptions{2, size_t{1} << 30});
  for (int i = 0; i < 5; ++i) history.Append(Event(absl::StrCat("o", i), 10 + i));
  std::vector<HistoryEvent> out;
  EXPECT_EQ(history.ReadAfter(2, 10, &out).code(), absl::StatusCode::kOutOfRange);
  EXPECT_TRUE(history.ReadAfter(3, 10, &out).ok());  // 4 and 5 are retained
  EXPECT_THAT(Seqs(out), ::testing::ElementsAre(4, 5));
}

TEST(EventHistoryTest, ReadAfterAPositionFromTheFutureIsOutOfRange) {
  EventHistory history;
  history.Append(Event("a", 10));
  std::vector<HistoryEvent> out;
  EXPECT_EQ(history.ReadAfter(7, 10, &out).code(), absl::StatusCode::kOutOfRange);
}

TEST(EventHistoryTest, SeqForResourceVersionFindsTheNewestEventWithExactlyThatRv) {
  EventHistory history;
  history.Append(Event("a", 10));
  history.Append(Event("b", 20));  // a relist: two events with the list's RV
  history.Append(Event("c", 20));
  history.Append(Event("d", 30));
  EXPECT_EQ(*history.SeqForResourceVersion("10"), 1u);
  EXPECT_EQ(*history.SeqForResourceVersion("20"), 3u);
  EXPECT_EQ(*history.SeqForResourceVersion("30"), 4u);
}

TEST(EventHistoryTest, SeqForResourceVersionNewerThanEveryEventIsTheLastSeq) {
  EventHistory history;
  history.Append(Event("a", 10));
  history.Append(Event("b", 20));
  EXPECT_EQ(*history.SeqForResourceVersion("99"), 2u);  // e.g. from a bookmark
  // Between two events: the client has seen everything up to the older one.
  EXPECT_EQ(*history.SeqForResourceVersion("15"), 1u);
}

TEST(EventHistoryTest, SeqForResourceVersionOlderThanTheOldestRetainedIsOutOfRange) {
  EventHistory history(HistoryOptions{2, size_t{1} << 30});
  history.Append(Event("a", 10));
  history.Append(Event("b", 20));
  history.Append(Event("c", 30));  // evicts rv 10
  EXPECT_EQ(history.SeqForResourceVersion("10").status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(history.SeqForResourceVersion("5").status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(*history.SeqForResourceVersion("20"), 2u);
}

TEST(EventHistoryTest, SeqForResourceVersionRejectsWhatIsNotANumber) {
  EventHistory history;
  history.Append(Event("a", 10));
  EXPECT_EQ(history.SeqForResourceVersion("abc").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(history.SeqForResourceVersion("").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(EventHistoryTest, SeqForResourceVersionOnAnEmptyHistoryIsTheLastSeq) {
  EventHistory history;
  EXPECT_EQ(*history.SeqForResourceVersion("42"), 0u);
}

TEST(EventHistoryTest, ListenersAreCalledAfterEachAppendWithoutTheLockHeld) {
  EventHistory history;
  std::vector<uint64_t> seen;
  history.AddListener([&] {
    // Reading the history from the listener would deadlock if a lock were held.
    seen.push_back(history.last_seq());
  });
  history.Append(Event("a", 10));
  history.Append(Event("b", 11));
  EXPECT_THAT(seen, ::testing::ElementsAre(1, 2));
}

TEST(EventHistoryTest, AppendWithoutNotifyDefersListenersToNotifyListeners) {
  EventHistory history;
  int calls = 0;
  history.AddListener([&] { ++calls; });
  history.AppendWithoutNotify(Event("a", 10));
  history.AppendWithoutNotify(Event("b", 11));
  EXPECT_EQ(calls, 0);
  history.NotifyListeners();
  EXPECT_EQ(calls, 1);
}

TEST(EventHistoryTest, RemoveListenerWaitsUntilTheListenerIsNotRunning) {
  EventHistory history;
  absl::Notification entered;
  absl::Notification release;
  std::atomic<bool> finished{false};
  std::atomic<int> calls{0};
  const EventHistory::ListenerId id = history.AddListener([&] {
    ++calls;
    entered.Notify();
    release.WaitForNotification();
    finished = true;
  });
  std::thread appender([&] { history.Append(Event("a", 10)); });
  entered.WaitForNotification();
  absl::Notification removed;
  std::thread remover([&] {
    history.RemoveListener(id);
    removed.Notify();
  });
  EXPECT_FALSE(removed.WaitForNotificationWithTimeout(absl::Milliseconds(30)));
  release.Notify();
  remover.join();
  EXPECT_TRUE(finished);
  appender.join();
  history.Append(Event("b", 11));
  EXPECT_EQ(calls, 1);  // never called after RemoveListener returned
}

TEST(EventHistoryTest, AListenerMayRemoveItself) {
  EventHistory history;
  int calls = 0;
  EventHistory::ListenerId id = 0;
  id = history.AddListener([&] {
    ++calls;
    history.RemoveListener(id);
  });
  history.Append(Event("a", 10));
  history.Append(Event("b", 11));
  EXPECT_EQ(calls, 1);
}

TEST(EventHistoryTest, ClearDropsEventsButKeepsNumbering) {
  EventHistory history;
  history.Append(Event("a", 10));
  history.Append(Event("b", 11));
  history.Clear();
  EXPECT_EQ(history.size(), 0u);
  EXPECT_EQ(history.bytes(), 0u);
  EXPECT_EQ(history.last_seq(), 2u);
  EXPECT_EQ(history.first_seq(), 3u);
  std::vector<HistoryEvent> out;
  EXPECT_EQ(history.ReadAfter(0, 10, &out).code(), absl::StatusCode::kOutOfRange);
}

}  // namespace
}  // namespace informer
