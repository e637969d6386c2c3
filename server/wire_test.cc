#include "server/wire.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "informer/testing/objects.h"
#include "informer/v1/informer.pb.h"
#include "server/convert.h"

namespace informer {
namespace server {
namespace {

namespace pb = ::informer::v1;
using ::informer::testing::MakeObject;

std::string Flatten(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  EXPECT_TRUE(buffer.Dump(&slices).ok());
  std::string out;
  for (const grpc::Slice& slice : slices) {
    out.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return out;
}

// Encodes `event`, parses it back and compares it with what ToProto makes of it.
void ExpectEncodesLikeToProto(const SubscriptionEvent& event, ObjectWireCache* cache) {
  pb::SubscribeResponse parsed;
  ASSERT_TRUE(parsed.ParseFromString(Flatten(EncodeSubscribeResponse(event, cache))));
  pb::SubscribeResponse expected;
  ToProto(event, &expected);
  std::string difference;
  google::protobuf::util::MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&difference);
  EXPECT_TRUE(differencer.Compare(expected, parsed)) << difference;
}

TEST(WireTest, EveryKindOfEventEncodesAsToProtoWould) {
  ObjectWireCache cache;
  ObjectPtr now = MakeObject("ns", "a", "12", {{"app", "web"}}, R"("spec":{"note":"ünïcode"})");
  ObjectPtr before = MakeObject("ns", "a", "11", {{"app", "db"}});
  SubscriptionEvent event;
  for (SubscriptionEventType type :
       {SubscriptionEventType::kAdded, SubscriptionEventType::kModified,
        SubscriptionEventType::kDeleted}) {
    event = SubscriptionEvent();
    event.type = type;
    event.object = now;
    event.resource_version = "12";
    ExpectEncodesLikeToProto(event, &cache);
  }
  event.type = SubscriptionEventType::kModified;
  event.old_object = before;  // include_old_object
  event.coalesced = true;
  ExpectEncodesLikeToProto(event, &cache);
  event = SubscriptionEvent();
  event.type = SubscriptionEventType::kDeleted;
  event.object = before;
  event.final_state_unknown = true;
  event.resource_version = "99";
  ExpectEncodesLikeToProto(event, &cache);
  for (SubscriptionEventType type :
       {SubscriptionEventType::kBookmark, SubscriptionEventType::kSynced}) {
    event = SubscriptionEvent();
    event.type = type;
    event.resource_version = "100";
    ExpectEncodesLikeToProto(event, &cache);
  }
  // A large object: its length takes a multi-byte varint.
  SubscriptionEvent big;
  big.type = SubscriptionEventType::kAdded;
  big.object = MakeObject("ns", "big", "5", {},
                          absl::StrCat(R"("data":{"blob":")", std::string(300000, 'x'), R"("})"));
  ExpectEncodesLikeToProto(big, &cache);
}

TEST(WireTest, AVersionIsSerialisedOnceAndShared) {
  ObjectWireCache cache;
  ObjectPtr object = MakeObject("ns", "a", "1");
  grpc::Slice first = cache.Get(object);
  grpc::Slice second = cache.Get(object);
  EXPECT_EQ(first.begin(), second.begin());  // the same bytes, not a copy
  EXPECT_EQ(cache.size(), 1u);
  ObjectPtr newer = MakeObject("ns", "a", "2");
  EXPECT_NE(cache.Get(newer).begin(), first.begin());
  EXPECT_EQ(cache.size(), 2u);
}

TEST(WireTest, AFreedObjectsEntryIsNeverReturnedForAnother) {
  ObjectWireCache cache;
  for (int i = 0; i < 100; ++i) {
    // Freed at once, so the next object is likely to reuse its address.
    ObjectPtr object = MakeObject("ns", absl::StrCat("o", i), absl::StrCat(i));
    pb::Object parsed;
    grpc::Slice bytes = cache.Get(object);
    ASSERT_TRUE(parsed.ParseFromArray(bytes.begin(), static_cast<int>(bytes.size())));
    EXPECT_EQ(parsed.name(), absl::StrCat("o", i));
  }
}

TEST(WireTest, TheCacheKeepsItsBounds) {
  ObjectWireCache by_count(/*max_entries=*/3, /*max_bytes=*/size_t{1} << 30);
  std::vector<ObjectPtr> objects;
  for (int i = 0; i < 10; ++i) {
    objects.push_back(MakeObject("ns", absl::StrCat("o", i), "1"));
    by_count.Get(objects.back());
  }
  EXPECT_EQ(by_count.size(), 3u);
  ObjectWireCache by_bytes(/*max_entries=*/1000, /*max_bytes=*/1);
  for (const ObjectPtr& object : objects) by_bytes.Get(object);
  EXPECT_EQ(by_bytes.size(), 1u);  // always the newest
}

}  // namespace
}  // namespace server
}  // namespace informer
