#include "informer/testing/fake_lister_watcher.h"

#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "informer/api_status.h"
#include "informer/reflector.h"
#include "informer/testing/objects.h"

namespace informer {
namespace testing {
namespace {

using ::informer::testing::PodsResource;
using ::testing::ElementsAre;

std::vector<std::string> Keys(const std::vector<ObjectPtr>& objects) {
  std::vector<std::string> keys;
  for (const ObjectPtr& object : objects) keys.push_back(object->key());
  return keys;
}

// Reads events until the stream ends or `count` were read.
std::vector<std::string> ReadEvents(WatchStream& stream, int count) {
  std::vector<std::string> out;
  for (int i = 0; i < count; ++i) {
    auto next = stream.Next();
    if (!next.ok()) {
      out.push_back("error:" + std::string(next.status().message()));
      break;
    }
    if (!next->has_value()) {
      out.push_back("end");
      break;
    }
    const WatchEvent& event = **next;
    static const char* kNames[] = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"};
    std::string text = kNames[static_cast<int>(event.type)];
    if (event.object != nullptr) {
      text += " " + event.object->key() + "@" + event.object->meta().resource_version;
    } else {
      text += " " + std::to_string(event.error.code);
    }
    out.push_back(text);
  }
  return out;
}

class FakeListerWatcherTest : public ::testing::Test {
 protected:
  FakeListerWatcher fake_;
  ObjectDecoder decoder_{PodsResource(), {}};
};

TEST_F(FakeListerWatcherTest, ChangesTakeConsecutiveRevisions) {
  EXPECT_EQ(fake_.revision(), 1u);
  ObjectPtr a = fake_.Add(MakeObject("ns", "a", "999"));
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->meta().resource_version, "2");
  EXPECT_EQ(fake_.Update(MakeObject("ns", "a", ""))->meta().resource_version, "3");
  EXPECT_EQ(fake_.Delete("ns/a")->meta().resource_version, "4");
  EXPECT_NE(fake_.Add(MakeObject("ns", "b", "")), nullptr);
  EXPECT_EQ(fake_.Add(MakeObject("ns", "b", "")), nullptr);      // exists
  EXPECT_EQ(fake_.Update(MakeObject("ns", "zz", "")), nullptr);  // absent
  EXPECT_EQ(fake_.Delete("ns/zz"), nullptr);
  EXPECT_EQ(fake_.Objects().size(), 1u);
}

TEST_F(FakeListerWatcherTest, ListPagesWithContinueTokensOverOneSnapshot) {
  for (const char* name : {"a", "b", "c", "d", "e"}) fake_.Add(MakeObject("ns", name, ""));
  ListOptions options;
  options.limit = 2;
  auto first = fake_.List(options, decoder_);
  ASSERT_TRUE(first.ok());
  EXPECT_THAT(Keys(first->items), ElementsAre("ns/a", "ns/b"));
  EXPECT_EQ(first->resource_version, "6");
  fake_.Delete("ns/c");  // after the snapshot: the pages still show it
  options.continue_token = first->continue_token;
  auto second = fake_.List(options, decoder_);
  ASSERT_TRUE(second.ok());
  EXPECT_THAT(Keys(second->items), ElementsAre("ns/c", "ns/d"));
  options.continue_token = second->continue_token;
  auto third = fake_.List(options, decoder_);
  ASSERT_TRUE(third.ok());
  EXPECT_THAT(Keys(third->items), ElementsAre("ns/e"));
  EXPECT_TRUE(third->continue_token.empty());
}

TEST_F(FakeListerWatcherTest, ListAtRvZeroIgnoresLimitLikeTheWatchCache) {
  for (const char* name : {"a", "b", "c"}) fake_.Add(MakeObject("ns", name, ""));
  ListOptions options;
  options.resource_version = "0";
  options.limit = 1;
  auto page = fake_.List(options, decoder_);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->items.size(), 3u);
  EXPECT_TRUE(page->continue_token.empty());
  fake_.set_watch_cache_ignores_limit(false);
  page = fake_.List(options, decoder_);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->items.size(), 1u);
}

TEST_F(FakeListerWatcherTest, CompactionExpiresOldListsWatchesAndContinueTokens) {
  fake_.Add(MakeObject("ns", "a", ""));
  fake_.Add(MakeObject("ns", "b", ""));
  ListOptions paged;
  paged.limit = 1;
  auto first = fake_.List(paged, decoder_);
  ASSERT_TRUE(first.ok());
  fake_.Add(MakeObject("ns", "c", ""));
  fake_.Compact();
  EXPECT_EQ(fake_.compacted_revision(), 4u);

  paged.continue_token = first->continue_token;
  auto expired_continue = fake_.List(paged, decoder_);
  EXPECT_TRUE(IsResourceExpired(expired_continue.status()));
  ListOptions old;
  old.resource_version = "2";
  EXPECT_TRUE(IsResourceExpired(fake_.List(old, decoder_).status()));
  EXPECT_TRUE(IsResourceExpired(fake_.Watch(old, decoder_).status()));
  old.resource_version = "4";
  EXPECT_TRUE(fake_.Watch(old, decoder_).ok());

  fake_.set_expired_watch_as_error_event(true);
  old.resource_version = "2";
  auto stream = fake_.Watch(old, decoder_);
  ASSERT_TRUE(stream.ok());
  EXPECT_THAT(ReadEvents(**stream, 5), ElementsAre("ERROR 410", "end"));
}

TEST_F(FakeListerWatcherTest, WatchReplaysEventsAfterTheRvThenStreamsLiveOnes) {
  fake_.Add(MakeObject("ns", "a", ""));     // 2
  fake_.Update(MakeObject("ns", "a", ""));  // 3
  ListOptions options;
  options.resource_version = "2";
  options.allow_watch_bookmarks = true;
  auto stream = fake_.Watch(options, decoder_);
  ASSERT_TRUE(stream.ok());
  EXPECT_EQ(fake_.open_watches(), 1);
  fake_.Delete("ns/a");  // 4
  fake_.SendBookmark();
  fake_.EndWatches();
  EXPECT_THAT(ReadEvents(**stream, 10),
              ElementsAre("MODIFIED ns/a@3", "DELETED ns/a@4", "BOOKMARK #bookmark@4", "end"));
  EXPECT_EQ(fake_.open_watches(), 0);
}

TEST_F(FakeListerWatcherTest, WatchFromEmptyRvStartsWithSyntheticAdds) {
  fake_.Add(MakeObject("ns", "a", ""));
  auto stream = fake_.Watch(ListOptions{}, decoder_);
  ASSERT_TRUE(stream.ok());
  fake_.EndWatches();
  EXPECT_THAT(ReadEvents(**stream, 10), ElementsAre("ADDED ns/a@2", "end"));
}

TEST_F(FakeListerWatcherTest, BreakLosesUndeliveredEventsAndFails) {
  ListOptions options;
  options.resource_version = "1";
  auto stream = fake_.Watch(options, decoder_);
  ASSERT_TRUE(stream.ok());
  fake_.Add(MakeObject("ns", "a", ""));
  fake_.BreakWatches();
  EXPECT_THAT(ReadEvents(**stream, 10), ElementsAre("error:connection reset"));
}

TEST_F(FakeListerWatcherTest, SendErrorDeliversAnErrorEventThenEnds) {
  ListOptions options;
  options.resource_version = "1";
  auto stream = fake_.Watch(options, decoder_);
  ASSERT_TRUE(stream.ok());
  fake_.SendError(ApiStatus{500, "InternalError", "boom"});
  EXPECT_THAT(ReadEvents(**stream, 10), ElementsAre("ERROR 500", "end"));
}

TEST_F(FakeListerWatcherTest, StopEndsABlockedNext) {
  ListOptions options;
  options.resource_version = "1";
  auto stream = fake_.Watch(options, decoder_);
  ASSERT_TRUE(stream.ok());
  std::thread stopper([&] {
    absl::SleepFor(absl::Milliseconds(10));
    (*stream)->Stop();
  });
  EXPECT_THAT(ReadEvents(**stream, 10), ElementsAre("end"));
  stopper.join();
}

TEST_F(FakeListerWatcherTest, StreamingListSendsAddsThenTheInitialEventsEndBookmark) {
  fake_.Add(MakeObject("ns", "a", ""));
  ListOptions options;
  options.send_initial_events = true;
  options.resource_version_match = "NotOlderThan";
  EXPECT_EQ(fake_.Watch(options, decoder_).status().code(), absl::StatusCode::kInvalidArgument);
  fake_.set_streaming_list_supported(true);
  auto stream = fake_.Watch(options, decoder_);
  ASSERT_TRUE(stream.ok());
  auto first = (*stream)->Next();
  ASSERT_TRUE(first.ok() && first->has_value());
  EXPECT_EQ((*first)->type, WatchEventType::kAdded);
  auto second = (*stream)->Next();
  ASSERT_TRUE(second.ok() && second->has_value());
  EXPECT_EQ((*second)->type, WatchEventType::kBookmark);
  EXPECT_EQ((*second)->object->meta().annotations.at(kInitialEventsEndAnnotation), "true");
}

TEST_F(FakeListerWatcherTest, ScriptedFailuresComeInOrderAndCallsAreRecorded) {
  fake_.FailNextList(absl::UnavailableError("one"));
  fake_.FailNextWatch(absl::PermissionDeniedError("two"));
  ListOptions options;
  options.label_selector = "app=x";
  EXPECT_EQ(fake_.List(options, decoder_).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(fake_.List(options, decoder_).ok());
  EXPECT_EQ(fake_.Watch(options, decoder_).status().code(), absl::StatusCode::kPermissionDenied);
  ASSERT_EQ(fake_.list_calls().size(), 2u);
  EXPECT_EQ(fake_.list_calls()[0].label_selector, "app=x");
  EXPECT_EQ(fake_.watch_calls().size(), 1u);
}

TEST_F(FakeListerWatcherTest, ObjectsAreDecodedWithTheCallersTransforms) {
  fake_.Add(MakeObject("ns", "a", "", {}, R"("spec":{"secret":"x"})"));
  Transform drop_spec = [](rapidjson::Value& object, rapidjson::Document::AllocatorType&) {
    object.RemoveMember("spec");
    return absl::OkStatus();
  };
  ObjectDecoder decoder(PodsResource(), {drop_spec});
  auto page = fake_.List(ListOptions{}, decoder);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->items.size(), 1u);
  EXPECT_TRUE(page->items[0]->FieldValues("spec.secret").empty());
}

}  // namespace
}  // namespace testing
}  // namespace informer
