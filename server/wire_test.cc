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

// Encodes `event` and compares it, byte for byte, with serialising what ToProto makes of it.
void ExpectEncodesLikeToProto(const SubscriptionEvent& event) {
  pb::SubscribeResponse expected;
  ToProto(event, &expected);
  std::string expected_bytes;
  ASSERT_TRUE(expected.SerializeToString(&expected_bytes));
  const std::string encoded = Flatten(EncodeSubscribeResponse(event));
  EXPECT_EQ(encoded, expected_bytes);
  pb::SubscribeResponse parsed;
  ASSERT_TRUE(parsed.ParseFromString(encoded));
  std::string difference;
  google::protobuf::util::MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&difference);
  EXPECT_TRUE(differencer.Compare(expected, parsed)) << difference;
}

TEST(WireTest, EveryKindOfEventEncodesAsToProtoWould) {
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
    ExpectEncodesLikeToProto(event);
  }
  event.type = SubscriptionEventType::kModified;
  event.old_object = before;  // include_old_object
  event.coalesced = true;
  ExpectEncodesLikeToProto(event);
  event = SubscriptionEvent();
  event.type = SubscriptionEventType::kDeleted;
  event.object = before;
  event.final_state_unknown = true;
  event.resource_version = "99";
  ExpectEncodesLikeToProto(event);
  for (SubscriptionEventType type :
       {SubscriptionEventType::kBookmark, SubscriptionEventType::kSynced}) {
    event = SubscriptionEvent();
    event.type = type;
    event.resource_version = "100";
    ExpectEncodesLikeToProto(event);
  }
  // A large object: its lengths take multi-byte varints.
  SubscriptionEvent big;
  big.type = SubscriptionEventType::kAdded;
  big.object = MakeObject("ns", "big", "5", {},
                          absl::StrCat(R"("data":{"blob":")", std::string(300000, 'x'), R"("})"));
  ExpectEncodesLikeToProto(big);
}

TEST(WireTest, AnObjectWithoutNamespaceOrUidEncodesAsToProtoWould) {
  SubscriptionEvent event;
  event.type = SubscriptionEventType::kAdded;
  event.object = MakeObject("", "cluster-scoped", "3");
  ExpectEncodesLikeToProto(event);
}

TEST(WireTest, TheObjectsJsonIsSharedNotCopiedAndKeptAliveByTheResponse) {
  ObjectPtr object =
      MakeObject("ns", "a", "1", {},
                 absl::StrCat(R"("data":{"k":")", std::string(kReferencedJsonBytes, 'v'), R"("})"));
  std::weak_ptr<const Object> watch = object;
  SubscriptionEvent event;
  event.type = SubscriptionEventType::kAdded;
  event.object = object;
  grpc::ByteBuffer response = EncodeSubscribeResponse(event);
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  bool shared = false;
  std::string unused;
  const absl::string_view json = object->PlainJson(&unused);
  for (const grpc::Slice& slice : slices) {
    shared |=
        reinterpret_cast<const char*>(slice.begin()) == json.data() && slice.size() == json.size();
  }
  EXPECT_TRUE(shared) << "no slice points at the object's JSON";
  slices.clear();
  event.object = nullptr;
  object = nullptr;
  EXPECT_FALSE(watch.expired()) << "the response's slice must keep the object alive";
  response.Clear();
  EXPECT_TRUE(watch.expired()) << "the response released, the object must be freed";
}

TEST(WireTest, ASmallObjectsJsonIsCopiedSoTheResponseDoesNotHoldTheObject) {
  ObjectPtr object = MakeObject("ns", "a", "1", {}, R"("data":{"k":"v"})");
  ASSERT_LT(object->json().size(), kReferencedJsonBytes);
  std::weak_ptr<const Object> watch = object;
  grpc::ByteBuffer response = EncodeGetResponse(object);
  object = nullptr;
  EXPECT_TRUE(watch.expired()) << "a small object's JSON should have been copied";
  pb::GetResponse parsed;
  ASSERT_TRUE(parsed.ParseFromString(Flatten(response)));
  EXPECT_EQ(parsed.object().name(), "a");
}

// Objects of both sides of kReferencedJsonBytes, a cluster-scoped one and one large enough for
// multi-byte length varints.
std::vector<ObjectPtr> MixedObjects() {
  return {
      MakeObject("ns", "small", "7", {{"app", "web"}}),
      MakeObject("ns", "medium", "8", {},
                 absl::StrCat(R"("data":{"k":")", std::string(kReferencedJsonBytes, 'm'), R"("})")),
      MakeObject("", "cluster-scoped", "9"),
      MakeObject("ns", "big", "10", {},
                 absl::StrCat(R"("data":{"blob":")", std::string(300000, 'x'), R"("})"))};
}

// Byte equality with protobuf's own serialisation of `expected`.
void ExpectSameBytes(const google::protobuf::Message& expected, const grpc::ByteBuffer& encoded) {
  std::string expected_bytes;
  ASSERT_TRUE(expected.SerializeToString(&expected_bytes));
  EXPECT_EQ(Flatten(encoded), expected_bytes);
}

// MixedObjects and two objects kept compressed, one on each side of kReferencedJsonBytes.
std::vector<ObjectPtr> MixedAndCompressedObjects() {
  static const std::shared_ptr<JsonCompressor> compressor = testing::TrainedPodCompressor();
  std::vector<ObjectPtr> objects = MixedObjects();
  objects.push_back(testing::MustParseObject(testing::PodLikeJson(1), "", "", compressor.get()));
  objects.push_back(testing::MustParseObject(
      absl::StrCat(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"s","namespace":"n"},)",
                   R"("spec":{"nodeName":")", std::string(300, 'n'), R"("}})"),
      "", "", compressor.get()));
  EXPECT_TRUE(objects[objects.size() - 2]->json_compressed());
  EXPECT_TRUE(objects.back()->json_compressed());
  EXPECT_GE(objects[objects.size() - 2]->json_size(), kReferencedJsonBytes);
  EXPECT_LT(objects.back()->json_size(), kReferencedJsonBytes);
  return objects;
}

TEST(WireTest, CompressedObjectsEncodeAsToProtoWould) {
  std::vector<ObjectPtr> objects = MixedAndCompressedObjects();
  for (const ObjectPtr& object : objects) {
    pb::GetResponse expected;
    ToProto(*object, expected.mutable_object());
    ExpectSameBytes(expected, EncodeGetResponse(object));
    SubscriptionEvent event;
    event.type = SubscriptionEventType::kModified;
    event.object = object;
    event.old_object = objects.front();
    ExpectEncodesLikeToProto(event);
  }
  pb::ListResponse expected;
  for (const ObjectPtr& object : objects) ToProto(*object, expected.add_objects());
  expected.set_resource_version("77");
  ExpectSameBytes(expected, EncodeListResponse(objects, "77", "", 0));
}

TEST(WireTest, GetResponsesEncodeAsToProtoWould) {
  for (const ObjectPtr& object : MixedObjects()) {
    pb::GetResponse expected;
    ToProto(*object, expected.mutable_object());
    ExpectSameBytes(expected, EncodeGetResponse(object));
  }
  ExpectSameBytes(pb::GetResponse(), EncodeGetResponse(nullptr));
}

TEST(WireTest, ListAndByIndexResponsesEncodeAsToProtoWould) {
  for (const std::vector<ObjectPtr>& objects : {std::vector<ObjectPtr>(), MixedObjects()}) {
    for (int64_t total : {int64_t{0}, int64_t{4}, int64_t{1} << 40}) {
      for (const char* token : {"", "next-page-token"}) {
        pb::ListResponse list;
        pb::ByIndexResponse by_index;
        for (const ObjectPtr& object : objects) {
          ToProto(*object, list.add_objects());
          ToProto(*object, by_index.add_objects());
        }
        list.set_resource_version("123");
        list.set_next_page_token(token);
        list.set_total_count(total);
        by_index.set_next_page_token(token);
        by_index.set_total_count(total);
        ExpectSameBytes(list, EncodeListResponse(objects, "123", token, total));
        ExpectSameBytes(by_index, EncodeByIndexResponse(objects, token, total));
      }
    }
  }
  // A list of many small objects: their bytes are one long run handed to a slice, not copied.
  std::vector<ObjectPtr> many;
  pb::ListResponse expected;
  for (int i = 0; i < 1000; ++i) {
    many.push_back(MakeObject("ns", absl::StrCat("cm-", i), absl::StrCat(i + 1)));
    ToProto(*many.back(), expected.add_objects());
  }
  expected.set_resource_version("1000");
  ExpectSameBytes(expected, EncodeListResponse(many, "1000", "", 0));
}

}  // namespace
}  // namespace server
}  // namespace informer
