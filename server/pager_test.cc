#include "server/pager.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "informer/testing/objects.h"

namespace informer {
namespace server {
namespace {

using ::informer::testing::MakeObject;
using ::testing::HasSubstr;

std::vector<ObjectPtr> Pods(int n) {
  std::vector<ObjectPtr> out;
  for (int i = 0; i < n; ++i) out.push_back(MakeObject("ns", absl::StrCat("p", 100 + i), "1"));
  return out;
}

std::vector<std::string> Names(const Page& page) {
  std::vector<std::string> out;
  for (const ObjectPtr& object : page.objects) out.push_back(object->meta().name);
  return out;
}

const absl::Time kNow = absl::FromUnixSeconds(1000);

TEST(PagerTest, PagesCoverTheSnapshotExactlyOnceInOrder) {
  Pager pager;
  absl::StatusOr<Page> page = pager.First("q", Pods(5), "42", 2, kNow);
  ASSERT_TRUE(page.ok());
  std::vector<std::string> seen = Names(*page);
  EXPECT_EQ(page->resource_version, "42");
  EXPECT_EQ(page->total_count, 5);
  while (!page->next_page_token.empty()) {
    page = pager.Next("q", page->next_page_token, 2, kNow);
    ASSERT_TRUE(page.ok()) << page.status();
    EXPECT_EQ(page->resource_version, "42");
    for (const std::string& name : Names(*page)) seen.push_back(name);
  }
  EXPECT_THAT(seen, ::testing::ElementsAre("p100", "p101", "p102", "p103", "p104"));
}

TEST(PagerTest, SinglePageKeepsNoSnapshot) {
  Pager pager;
  absl::StatusOr<Page> page = pager.First("q", Pods(3), "1", 0, kNow);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->objects.size(), 3u);
  EXPECT_EQ(page->next_page_token, "");
  EXPECT_EQ(pager.snapshot_count(), 0u);
}

TEST(PagerTest, LimitZeroMeansTheDefault) {
  PagerOptions options;
  options.default_limit = 2;
  Pager pager(options);
  absl::StatusOr<Page> page = pager.First("q", Pods(3), "1", 0, kNow);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->objects.size(), 2u);
}

TEST(PagerTest, LimitOutOfRangeIsInvalidArgument) {
  Pager pager;
  EXPECT_EQ(pager.First("q", Pods(1), "1", -1, kNow).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::Status too_big = pager.First("q", Pods(1), "1", 10001, kNow).status();
  EXPECT_EQ(too_big.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(too_big.message(), HasSubstr("1..10000"));
}

TEST(PagerTest, PageStopsEarlyPastTheByteBoundButNeverEmpty) {
  PagerOptions options;
  options.max_page_bytes = 1;  // every object is larger
  Pager pager(options);
  absl::StatusOr<Page> page = pager.First("q", Pods(3), "1", 10, kNow);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->objects.size(), 1u);
  EXPECT_NE(page->next_page_token, "");
}

TEST(PagerTest, TokenFromAnotherQueryIsInvalidArgument) {
  Pager pager;
  absl::StatusOr<Page> page = pager.First("pods?app=web", Pods(3), "1", 1, kNow);
  ASSERT_TRUE(page.ok());
  absl::Status status = pager.Next("pods?app=db", page->next_page_token, 1, kNow).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("different query"));
}

TEST(PagerTest, MalformedTokenIsInvalidArgument) {
  Pager pager;
  EXPECT_EQ(pager.Next("q", "not a token", 1, kNow).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(pager.Next("q", "cDE6MTox", 1, kNow).status().code(),  // "p1:1:1"
            absl::StatusCode::kInvalidArgument);
}

TEST(PagerTest, ExpiredSnapshotIsAbortedWithRestartAdvice) {
  PagerOptions options;
  options.snapshot_ttl = absl::Minutes(1);
  Pager pager(options);
  absl::StatusOr<Page> page = pager.First("q", Pods(3), "1", 1, kNow);
  ASSERT_TRUE(page.ok());
  absl::Status status = pager.Next("q", page->next_page_token, 1, kNow + absl::Minutes(2)).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  EXPECT_THAT(status.message(), HasSubstr("restart the list"));
}

TEST(PagerTest, DroppingAResourceFreesItsSnapshotsAndItsTokensAreAborted) {
  Pager pager;
  std::vector<ObjectPtr> pods = Pods(5);
  std::weak_ptr<const Object> first = pods[0];
  absl::StatusOr<Page> dropped =
      pager.First("q", std::move(pods), "42", 2, kNow, "caller", "pods.v1");
  absl::StatusOr<Page> kept = pager.First("r", Pods(5), "42", 2, kNow, "caller", "configmaps.v1");
  ASSERT_TRUE(dropped.ok() && kept.ok());
  dropped->objects.clear();
  EXPECT_EQ(pager.snapshot_count(), 2u);
  pager.DropResource("pods.v1");
  EXPECT_EQ(pager.snapshot_count(), 1u);
  EXPECT_TRUE(first.expired());  // nothing holds the dropped snapshot's objects
  absl::StatusOr<Page> next = pager.Next("q", dropped->next_page_token, 2, kNow);
  EXPECT_EQ(next.status().code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(pager.Next("r", kept->next_page_token, 2, kNow).ok());
}

TEST(PagerTest, EachPageRequestExtendsTheSnapshotsLife) {
  PagerOptions options;
  options.snapshot_ttl = absl::Minutes(1);
  Pager pager(options);
  absl::StatusOr<Page> page = pager.First("q", Pods(3), "1", 1, kNow);
  page = pager.Next("q", page->next_page_token, 1, kNow + absl::Seconds(50));
  ASSERT_TRUE(page.ok());
  page = pager.Next("q", page->next_page_token, 1, kNow + absl::Seconds(100));
  EXPECT_TRUE(page.ok()) << page.status();
}

TEST(PagerTest, TokenFromAnotherServerProcessIsAborted) {
  Pager first;
  Pager second;  // a restarted informerd
  absl::StatusOr<Page> page = first.First("q", Pods(3), "1", 1, kNow);
  ASSERT_TRUE(page.ok());
  absl::Status status = second.Next("q", page->next_page_token, 1, kNow).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  EXPECT_THAT(status.message(), HasSubstr("restart the list"));
}

TEST(PagerTest, PastTheTotalBoundANewListIsRefusedNotAnotherCallersEvicted) {
  PagerOptions options;
  options.max_snapshots = 1;
  Pager pager(options);
  absl::StatusOr<Page> first = pager.First("q", Pods(3), "1", 1, kNow, "ip:10.0.0.1");
  ASSERT_TRUE(first.ok());
  absl::StatusOr<Page> second = pager.First("q", Pods(3), "2", 1, kNow, "ip:10.0.0.2");
  EXPECT_EQ(second.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(second.status().message(), HasSubstr("--max_page_snapshots)"));
  // The first caller's list goes on.
  EXPECT_TRUE(pager.Next("q", first->next_page_token, 1, kNow).ok());
  // A list that fits one page needs no snapshot and is answered.
  EXPECT_TRUE(pager.First("q", Pods(1), "3", 1, kNow, "ip:10.0.0.2").ok());
  EXPECT_EQ(pager.refused(), 1u);
}

TEST(PagerTest, ALimitOneLoopOfOneCallerCannotEvictAnothersTokens) {
  PagerOptions options;
  options.max_snapshots = 100;
  options.max_snapshots_per_caller = 4;
  Pager pager(options);
  absl::StatusOr<Page> victim = pager.First("q", Pods(3), "1", 1, kNow, "user:victim");
  ASSERT_TRUE(victim.ok());
  int refused = 0;
  for (int i = 0; i < 1000; ++i) {
    absl::StatusOr<Page> page = pager.First("q", Pods(3), "1", 1, kNow, "user:hostile");
    if (absl::IsResourceExhausted(page.status())) {
      ++refused;
      EXPECT_THAT(page.status().message(), HasSubstr("--max_page_snapshots_per_caller"));
    }
  }
  EXPECT_EQ(refused, 1000 - 4);
  EXPECT_EQ(pager.snapshot_count("user:hostile"), 4u);
  EXPECT_EQ(pager.snapshot_count("user:victim"), 1u);
  absl::StatusOr<Page> next = pager.Next("q", victim->next_page_token, 1, kNow);
  EXPECT_TRUE(next.ok()) << next.status();
}

TEST(PagerTest, ACallersOwnFinishedListsMakeRoomForItsNextOne) {
  PagerOptions options;
  options.max_snapshots_per_caller = 1;
  Pager pager(options);
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<Page> page = pager.First("q", Pods(2), "1", 1, kNow, "a");
    ASSERT_TRUE(page.ok()) << i << ": " << page.status();
    ASSERT_TRUE(pager.Next("q", page->next_page_token, 1, kNow).ok());  // the last page
  }
  EXPECT_EQ(pager.snapshot_count("a"), 1u);
  // An unfinished one is not dropped: the next list waits for it to end or expire.
  absl::StatusOr<Page> open = pager.First("q", Pods(3), "1", 1, kNow, "a");
  ASSERT_TRUE(open.ok());
  EXPECT_EQ(pager.First("q", Pods(3), "1", 1, kNow, "a").status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(
      pager.First("q", Pods(3), "1", 1, kNow + options.snapshot_ttl + absl::Seconds(1), "a").ok());
}

TEST(PagerTest, RetryingTheLastPageGivesTheSameAnswer) {
  Pager pager;
  absl::StatusOr<Page> page = pager.First("q", Pods(2), "1", 1, kNow);
  ASSERT_TRUE(page.ok());
  const std::string token = page->next_page_token;
  absl::StatusOr<Page> last = pager.Next("q", token, 1, kNow);
  absl::StatusOr<Page> again = pager.Next("q", token, 1, kNow);
  ASSERT_TRUE(last.ok() && again.ok());
  EXPECT_EQ(Names(*last), Names(*again));
}

}  // namespace
}  // namespace server
}  // namespace informer
