#include "informer/history.h"

#include <atomic>
#include <map>
#include <string>
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

// Events that all point at one object of about 64 KiB: the ring counts each event's bytes,
// so a few hundred events exercise byte bounds of MiBs without allocating them.
class ProportionalBoundTest : public ::testing::Test {
 protected:
  HistoryEvent BigEvent(uint64_t rv) {
    HistoryEvent event;
    event.object = big_;
    event.resource_version = absl::StrCat(rv);
    return event;
  }
  size_t one() const { return big_->ApproximateBytes() + sizeof(HistoryEvent) + 8; }
  // Appends `n` events and returns the ring's bytes.
  size_t Fill(EventHistory* history, int n) {
    for (int i = 0; i < n; ++i) history->Append(BigEvent(100 + i));
    return history->bytes();
  }

  const ObjectPtr big_ =
      MakeObject("ns", "big", "1", {},
                 absl::StrCat(R"("data":{"blob":")", std::string(64 << 10, 'x'), R"("})"));
  static constexpr size_t kMiB = size_t{1} << 20;
};

TEST_F(ProportionalBoundTest, DefaultRingHoldsAQuarterOfTheCacheBytes) {
  EventHistory history;  // default options
  history.SetCacheBytes(400 * kMiB);
  EXPECT_EQ(history.byte_limit(), 100 * kMiB);
  // 3000 × 64 KiB = 188 MiB offered: under the old fixed 256 MiB bound all of it stayed.
  const size_t bytes = Fill(&history, 3000);
  EXPECT_LE(bytes, 100 * kMiB);
  EXPECT_GT(bytes, 100 * kMiB - one());
  EXPECT_LT(history.size(), 3000u);
  EXPECT_EQ(history.last_seq(), 3000u);
}

TEST_F(ProportionalBoundTest, SmallCacheStillGetsTheSixteenMiBFloor) {
  EventHistory history;
  history.SetCacheBytes(1 * kMiB);  // a quarter would be 256 KiB: too short a window
  EXPECT_EQ(history.byte_limit(), 16 * kMiB);
  const size_t bytes = Fill(&history, 1000);  // 63 MiB offered
  EXPECT_LE(bytes, 16 * kMiB);
  EXPECT_GT(bytes, 16 * kMiB - one());
}

TEST_F(ProportionalBoundTest, ShrinkingCacheEvictsWithoutWaitingForAnAppend) {
  EventHistory history;
  history.SetCacheBytes(400 * kMiB);
  ASSERT_GT(Fill(&history, 1000), 60 * kMiB);
  const uint64_t first_before = history.first_seq();
  history.SetCacheBytes(40 * kMiB);  // a quarter is 10 MiB; the floor 16 MiB wins
  EXPECT_LE(history.bytes(), 16 * kMiB);
  EXPECT_GT(history.first_seq(), first_before);
  EXPECT_EQ(history.last_seq(), 1000u);
  EXPECT_GE(history.size(), 1u);
}

TEST_F(ProportionalBoundTest, AbsoluteCapsStillBoundALargeCache) {
  EventHistory by_bytes(HistoryOptions{1000, 2 * kMiB});
  by_bytes.SetCacheBytes(size_t{64} << 30);  // a quarter of 64 GiB is far above the cap
  EXPECT_EQ(by_bytes.byte_limit(), 2 * kMiB);
  EXPECT_LE(Fill(&by_bytes, 100), 2 * kMiB);

  EventHistory by_count(HistoryOptions{10, size_t{1} << 30});
  by_count.SetCacheBytes(size_t{64} << 30);
  Fill(&by_count, 100);
  EXPECT_EQ(by_count.size(), 10u);
}

TEST_F(ProportionalBoundTest, ZeroFractionKeepsOnlyTheFixedBounds) {
  HistoryOptions options;
  options.cache_fraction = 0;
  EventHistory history(options);
  history.SetCacheBytes(1 * kMiB);
  EXPECT_EQ(history.byte_limit(), options.max_bytes);
  Fill(&history, 500);  // 31 MiB: above the floor, below the 256 MiB cap
  EXPECT_EQ(history.size(), 500u);
}

TEST_F(ProportionalBoundTest, FloorAboveTheCapIsCappedByMaxBytes) {
  EventHistory history(HistoryOptions{1000, 4 * kMiB});  // min_bytes 16 MiB > max_bytes
  history.SetCacheBytes(0);
  EXPECT_EQ(history.byte_limit(), 4 * kMiB);
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

// A relist's changes, all at the list's version, led from `from` (Commit as the informer does).
std::vector<HistoryEvent> Relist(uint64_t from, uint64_t to, std::vector<std::string> names) {
  std::vector<HistoryEvent> changes;
  for (const std::string& name : names) {
    HistoryEvent change = Event(name, to, EventType::kModified);
    change.completes_version = false;
    change.from_relist = true;
    change.relist_from = from;
    changes.push_back(std::move(change));
  }
  if (!changes.empty()) changes.back().completes_version = true;
  return changes;
}

uint64_t After(const EventHistory& history, absl::string_view rv) {
  absl::StatusOr<EventHistory::ResumePoint> point = history.ResumeAfter(rv);
  EXPECT_TRUE(point.ok()) << rv << ": " << point.status();
  return point.ok() ? point->after_seq : ~uint64_t{0};
}

TEST(EventHistoryTest, ResumeAfterPlacesAVersionAfterTheNewestChangeAtOrBelowIt) {
  EventHistory history;
  history.Append(Event("a", 10));
  history.Append(Event("b", 20));
  history.Append(Event("d", 30));
  EXPECT_EQ(After(history, "10"), 1u);
  EXPECT_EQ(After(history, "15"), 1u);  // between two changes: it has everything up to 10
  EXPECT_EQ(After(history, "20"), 2u);
  EXPECT_EQ(After(history, "30"), 3u);
  EXPECT_FALSE(history.ResumeAfter("30")->ahead);
}

TEST(EventHistoryTest, ResumeAfterTheHeadIsAheadAndPlacedAtTheEnd) {
  EventHistory history;
  history.Append(Event("a", 10));
  history.Commit({}, "25");  // a bookmark moves the head without a change
  EXPECT_EQ(history.head().version, 25u);
  EXPECT_EQ(history.head().resource_version, "25");
  EXPECT_EQ(After(history, "25"), 1u);
  EXPECT_FALSE(history.ResumeAfter("25")->ahead);
  EXPECT_EQ(After(history, "99"), 1u);  // from a replica that is ahead of this one
  EXPECT_TRUE(history.ResumeAfter("99")->ahead);
}

TEST(EventHistoryTest, ResumeAfterAnEvictedChangeOrBeforeTheFirstVersionIsOutOfRange) {
  EventHistory history(HistoryOptions{2, size_t{1} << 30, 0});
  history.Append(Event("a", 10));
  EXPECT_EQ(history.ResumeAfter("9").status().code(), absl::StatusCode::kOutOfRange);
  history.Append(Event("b", 20));
  history.Append(Event("c", 30));  // evicts rv 10
  EXPECT_EQ(history.ResumeAfter("5").status().code(), absl::StatusCode::kOutOfRange);
  // Evicted changes at 10 and below; a client at 15 lacks only what is retained.
  EXPECT_EQ(After(history, "15"), 1u);
  EXPECT_EQ(After(history, "20"), 2u);
  std::vector<HistoryEvent> out;
  EXPECT_TRUE(history.ReadAfter(After(history, "15"), 10, &out).ok());
  EXPECT_EQ(out.size(), 2u);
}

TEST(EventHistoryTest, ResumeAfterRefusesAVersionInsideARelistButPlacesItsEnds) {
  EventHistory history;
  history.Append(Event("a", 10));
  history.Commit(Relist(10, 50, {"b", "c"}), "50");  // seqs 2, 3
  history.Append(Event("d", 60));
  EXPECT_EQ(After(history, "10"), 1u);  // the relist leads exactly from 10
  absl::Status inside = history.ResumeAfter("30").status();
  EXPECT_EQ(inside.code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(std::string(inside.message()), ::testing::HasSubstr("relist"));
  EXPECT_EQ(After(history, "50"), 3u);
  EXPECT_EQ(After(history, "55"), 3u);
}

TEST(EventHistoryTest, CommitAppendsABatchAsOneStepAndMovesTheHead) {
  EventHistory history;
  std::vector<uint64_t> seen_last;
  history.AddListener([&] { seen_last.push_back(history.last_seq()); });
  EXPECT_EQ(history.Commit(Relist(0, 7, {"a", "b", "c"}), "7"), 3u);
  history.NotifyListeners();
  EXPECT_THAT(seen_last, ::testing::ElementsAre(3));
  std::vector<HistoryEvent> out;
  ASSERT_TRUE(history.ReadAfter(0, 10, &out).ok());
  ASSERT_EQ(out.size(), 3u);
  EXPECT_FALSE(out[0].completes_version);
  EXPECT_TRUE(out[2].completes_version);
  EXPECT_EQ(out[2].version, 7u);
  EXPECT_EQ(history.head_version(), 7u);
  history.Commit({}, "5");  // never backwards
  EXPECT_EQ(history.head_version(), 7u);
}

TEST(EventHistoryTest, ResumeAfterRejectsWhatIsNotANumber) {
  EventHistory history;
  history.Append(Event("a", 10));
  EXPECT_EQ(history.ResumeAfter("abc").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(history.ResumeAfter("").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(EventHistoryTest, ResumeAfterOnAHistoryThatNeverListedIsOutOfRange) {
  EventHistory history;
  EXPECT_EQ(history.ResumeAfter("42").status().code(), absl::StatusCode::kOutOfRange);
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

TEST(EventHistoryTest, CommitDefersListenersToNotifyListeners) {
  EventHistory history;
  int calls = 0;
  history.AddListener([&] { ++calls; });
  history.Commit({Event("a", 10)}, "10");
  history.Commit({Event("b", 11)}, "11");
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

TEST(EventHistoryTest, AppendParsesTheResourceVersionOnce) {
  EventHistory history;
  history.Append(Event("a", 42));
  HistoryEvent not_a_number = Event("b", 1);
  not_a_number.resource_version = "x1";
  history.Append(std::move(not_a_number));
  std::vector<HistoryEvent> out;
  ASSERT_TRUE(history.ReadAfter(0, 10, &out).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].version, 42u);
  EXPECT_EQ(out[1].version, 0u);
}

TEST(EventHistoryTest, ANamedListenerIsCalledOnlyForChangesToItsName) {
  EventHistory history(HistoryOptions{4, size_t{1} << 30, 0});
  int every = 0;
  int named = 0;
  history.AddListener([&] { ++every; });
  history.AddListener([&] { ++named; }, "mine");
  for (int i = 0; i < 20; ++i) history.Append(Event(absl::StrCat("other", i), 200 + i));
  EXPECT_EQ(every, 20);
  EXPECT_EQ(named, 0);  // however far the ring moves on
  history.Append(Event("mine", 300));
  history.Append(Event("mine", 301, EventType::kDeleted));
  EXPECT_EQ(named, 2);
  EXPECT_EQ(every, 22);
}

TEST(EventHistoryTest, NamedListenersOfTheNamesChangedAreCalledOncePerNotify) {
  EventHistory history;
  std::map<std::string, int> calls;
  for (const char* name : {"a", "b", "c"}) {
    history.AddListener([&calls, name] { ++calls[name]; }, name);
  }
  history.Commit({Event("a", 10), Event("a", 11), Event("c", 12), Event("d", 13)}, "13");
  history.NotifyListeners();
  EXPECT_THAT(calls, ::testing::ElementsAre(::testing::Pair("a", 1), ::testing::Pair("c", 1)));
}

TEST(EventHistoryTest, ReadNamedAfterScansPastItsLimitToTheEndOfAVersion) {
  EventHistory history;
  history.Append(Event("a", 10));
  history.Commit(Relist(10, 20, {"b", "mine", "c"}), "20");  // seqs 2-4
  std::vector<HistoryEvent> out;
  absl::StatusOr<EventHistory::NamedRead> read = history.ReadNamedAfter(1, 1, "mine", &out);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_THAT(Seqs(out), ::testing::ElementsAre(3));
  EXPECT_EQ(read->through_seq, 4u);
  EXPECT_EQ(read->through_version, 20u);
}

TEST(EventHistoryTest, ReadNamedAfterReturnsOnlyThatNameAndWhereItStopped) {
  EventHistory history;
  history.Append(Event("a", 10));     // seq 1
  history.Append(Event("mine", 11));  // seq 2
  history.Append(Event("b", 12));     // seq 3
  history.Append(Event("mine", 13));  // seq 4
  history.Append(Event("c", 14));     // seq 5
  std::vector<HistoryEvent> out;
  absl::StatusOr<EventHistory::NamedRead> read = history.ReadNamedAfter(1, 100, "mine", &out);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_THAT(Seqs(out), ::testing::ElementsAre(2, 4));
  EXPECT_EQ(read->through_seq, 5u);
  EXPECT_EQ(read->through_version, 14u);
  out.clear();
  read = history.ReadNamedAfter(1, 2, "mine", &out);  // looks at seqs 2 and 3 only
  ASSERT_TRUE(read.ok());
  EXPECT_THAT(Seqs(out), ::testing::ElementsAre(2));
  EXPECT_EQ(read->through_seq, 3u);
  EXPECT_EQ(read->through_version, 12u);
  out.clear();
  read = history.ReadNamedAfter(5, 100, "mine", &out);  // nothing new
  ASSERT_TRUE(read.ok());
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(read->through_seq, 5u);
  EXPECT_EQ(read->through_version, 0u);
  EXPECT_EQ(history.ReadNamedAfter(6, 100, "mine", &out).status().code(),
            absl::StatusCode::kOutOfRange);
  EventHistory small(HistoryOptions{2, size_t{1} << 30, 0});
  for (int i = 0; i < 4; ++i) small.Append(Event("x", 20 + i));
  EXPECT_EQ(small.ReadNamedAfter(0, 100, "x", &out).status().code(), absl::StatusCode::kOutOfRange);
}

TEST(EventHistoryTest, EvictedThroughTracksTheNewestEvictedChangeOfAName) {
  EventHistory history(HistoryOptions{3, size_t{1} << 30, 0});
  history.Append(Event("a", 10));  // seq 1
  history.Append(Event("b", 11));  // seq 2
  // No listener of "a": everything before the ring counts (none evicted yet).
  EXPECT_EQ(history.EvictedThrough("a"), 0u);
  const EventHistory::ListenerId id = history.AddListener([] {}, "a");
  EXPECT_EQ(history.EvictedThrough("a"), 0u);
  history.Append(Event("c", 12));  // seq 3
  history.Append(Event("c", 13));  // seq 4: evicts seq 1 ("a")
  EXPECT_EQ(history.EvictedThrough("a"), 1u);
  history.Append(Event("c", 14));  // seq 5: evicts seq 2 ("b")
  history.Append(Event("a", 15));  // seq 6: evicts seq 3 ("c")
  EXPECT_EQ(history.EvictedThrough("a"), 1u);
  history.Append(Event("c", 16));  // seq 7
  history.Append(Event("c", 17));  // seq 8
  history.Append(Event("c", 18));  // seq 9: evicts seq 6 ("a")
  EXPECT_EQ(history.EvictedThrough("a"), 6u);
  history.RemoveListener(id);
  // Unregistered names answer conservatively: everything before the oldest retained event.
  EXPECT_EQ(history.EvictedThrough("a"), 6u);
  history.AddListener([] {}, "b");
  EXPECT_EQ(history.EvictedThrough("b"), 6u);
  history.Clear();
  EXPECT_EQ(history.EvictedThrough("b"), 6u);  // none of b's changes were cleared
  EXPECT_EQ(history.EvictedThrough("a"), 9u);
}

}  // namespace
}  // namespace informer
