#include "informer/k8s/watch_decoder.h"

#include <deque>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "informer/api_status.h"

namespace informer {
namespace k8s {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

ResourceInfo ConfigMaps() {
  ResourceInfo info;
  info.gvr = {"", "v1", "configmaps"};
  info.kind = "ConfigMap";
  return info;
}

// A sample of what the API server sends: newline-terminated events, a string with escapes and
// braces (which must not confuse framing), a bookmark and an ERROR.
const char kSampleStream[] =
    R"({"type":"ADDED","object":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"a","namespace":"ns","resourceVersion":"10"},"data":{"k":"v \"}{[\\"}}})"
    "\n"
    R"({"type":"MODIFIED","object":{"metadata":{"name":"a","namespace":"ns","resourceVersion":"11","managedFields":[{"manager":"kubectl"}]}}})"
    "\n"
    R"({"type":"BOOKMARK","object":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"resourceVersion":"12","annotations":{"k8s.io/initial-events-end":"true"}}}})"
    "\n"
    R"({"type":"DELETED","object":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"a","namespace":"ns","resourceVersion":"13"}}})"
    "\n"
    R"json({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 1 (13)","reason":"Expired","code":410}})json"
    "\n";

// One line per event: "<type> <key> <rv>" or "ERROR <code> <reason>".
std::string Describe(const WatchEvent& event) {
  switch (event.type) {
    case WatchEventType::kAdded:
      return absl::StrCat("ADDED ", event.object->key(), " ",
                          event.object->meta().resource_version);
    case WatchEventType::kModified:
      return absl::StrCat("MODIFIED ", event.object->key(), " ",
                          event.object->meta().resource_version);
    case WatchEventType::kDeleted:
      return absl::StrCat("DELETED ", event.object->key(), " ",
                          event.object->meta().resource_version);
    case WatchEventType::kBookmark:
      return absl::StrCat("BOOKMARK ", event.object->meta().resource_version);
    case WatchEventType::kError:
      return absl::StrCat("ERROR ", event.error.code, " ", event.error.reason);
  }
  return "?";
}

std::vector<std::string> DescribeAll(const std::deque<WatchEvent>& events) {
  std::vector<std::string> out;
  for (const WatchEvent& event : events) out.push_back(Describe(event));
  return out;
}

class WatchDecoderTest : public ::testing::Test {
 protected:
  ObjectDecoder object_decoder_{ConfigMaps(), DefaultTransforms()};
};

TEST_F(WatchDecoderTest, DecodesEveryEventTypeOfAStream) {
  WatchDecoder decoder(&object_decoder_);
  std::deque<WatchEvent> events;
  ASSERT_TRUE(decoder.Feed(kSampleStream, &events).ok());
  EXPECT_THAT(DescribeAll(events), ElementsAre("ADDED ns/a 10", "MODIFIED ns/a 11", "BOOKMARK 12",
                                               "DELETED ns/a 13", "ERROR 410 Expired"));
  EXPECT_TRUE(decoder.Finish().ok());
  EXPECT_EQ(decoder.buffered_bytes(), 0u);
}

TEST_F(WatchDecoderTest, U1_U3_ObjectsGetTypeMetaLoseManagedFieldsKeepEscapes) {
  WatchDecoder decoder(&object_decoder_);
  std::deque<WatchEvent> events;
  ASSERT_TRUE(decoder.Feed(kSampleStream, &events).ok());
  ASSERT_GE(events.size(), 2u);
  EXPECT_THAT(events[0].object->json(), HasSubstr(R"("k":"v \"}{[\\")"));
  // MODIFIED lacked kind/apiVersion (U1) and carried managedFields (U3).
  EXPECT_EQ(events[1].object->kind(), "ConfigMap");
  EXPECT_EQ(events[1].object->api_version(), "v1");
  EXPECT_THAT(events[1].object->json(), ::testing::Not(HasSubstr("managedFields")));
}

TEST_F(WatchDecoderTest, R3_R7_BookmarkCarriesResourceVersionAndAnnotations) {
  WatchDecoder decoder(&object_decoder_);
  std::deque<WatchEvent> events;
  ASSERT_TRUE(decoder.Feed(kSampleStream, &events).ok());
  const WatchEvent& bookmark = events[2];
  ASSERT_EQ(bookmark.type, WatchEventType::kBookmark);
  EXPECT_EQ(bookmark.object->meta().resource_version, "12");
  EXPECT_EQ(bookmark.object->meta().annotations.at("k8s.io/initial-events-end"), "true");
  EXPECT_EQ(bookmark.object->kind(), "ConfigMap");
}

TEST_F(WatchDecoderTest, R6_ErrorEventIsResourceExpiredWhenConverted) {
  WatchDecoder decoder(&object_decoder_);
  std::deque<WatchEvent> events;
  ASSERT_TRUE(decoder.Feed(kSampleStream, &events).ok());
  const WatchEvent& error = events.back();
  ASSERT_EQ(error.type, WatchEventType::kError);
  EXPECT_EQ(error.object, nullptr);
  EXPECT_THAT(error.error.message, HasSubstr("too old resource version"));
  absl::Status status = ApiStatusToStatus(error.error);
  EXPECT_EQ(status.code(), absl::StatusCode::kOutOfRange);
  EXPECT_TRUE(IsResourceExpired(status));
}

// Every way of cutting the sample into two or three chunks decodes to the same events.
TEST_F(WatchDecoderTest, EveryChunkBoundarySplitDecodesTheSameEvents) {
  const std::string stream = kSampleStream;
  WatchDecoder reference(&object_decoder_);
  std::deque<WatchEvent> expected_events;
  ASSERT_TRUE(reference.Feed(stream, &expected_events).ok());
  const std::vector<std::string> expected = DescribeAll(expected_events);

  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    WatchDecoder decoder(&object_decoder_);
    std::deque<WatchEvent> events;
    ASSERT_TRUE(decoder.Feed(stream.substr(0, cut), &events).ok()) << "cut " << cut;
    ASSERT_TRUE(decoder.Feed(stream.substr(cut), &events).ok()) << "cut " << cut;
    ASSERT_EQ(DescribeAll(events), expected) << "cut " << cut;
    ASSERT_TRUE(decoder.Finish().ok());
  }
  // Three pieces: a coarse grid of first cuts times every second cut.
  for (size_t first = 0; first <= stream.size(); first += 31) {
    for (size_t second = first; second <= stream.size(); ++second) {
      WatchDecoder decoder(&object_decoder_);
      std::deque<WatchEvent> events;
      ASSERT_TRUE(decoder.Feed(stream.substr(0, first), &events).ok());
      ASSERT_TRUE(decoder.Feed(stream.substr(first, second - first), &events).ok());
      ASSERT_TRUE(decoder.Feed(stream.substr(second), &events).ok());
      ASSERT_EQ(DescribeAll(events), expected) << "cuts " << first << "," << second;
    }
  }
}

TEST_F(WatchDecoderTest, OneByteAtATimeDecodesTheSameEvents) {
  const std::string stream = kSampleStream;
  WatchDecoder decoder(&object_decoder_);
  std::deque<WatchEvent> events;
  for (char c : stream) ASSERT_TRUE(decoder.Feed(absl::string_view(&c, 1), &events).ok());
  EXPECT_EQ(events.size(), 5u);
  EXPECT_EQ(Describe(events[3]), "DELETED ns/a 13");
}

TEST_F(WatchDecoderTest, EventsWithoutNewlinesOrPrettyPrintedStillFrame) {
  WatchDecoder decoder(&object_decoder_);
  std::deque<WatchEvent> events;
  const std::string stream =
      R"({"type":"ADDED","object":{"metadata":{"name":"x","resourceVersion":"1"}}})"
      R"({"type":"ADDED","object":{"metadata":{"name":"y","resourceVersion":"2"}}})"
      "\r\n  {\n  \"type\": \"DELETED\",\n  \"object\": {\"metadata\": {\"name\": \"x\", "
      "\"resourceVersion\": \"3\"}}\n}\n";
  ASSERT_TRUE(decoder.Feed(stream, &events).ok());
  EXPECT_THAT(DescribeAll(events), ElementsAre("ADDED x 1", "ADDED y 2", "DELETED x 3"));
}

TEST_F(WatchDecoderTest, FiveMegabyteObjectArrivingInSmallChunks) {
  const std::string big_value(5 << 20, 'x');
  const std::string stream = absl::StrCat(
      R"({"type":"ADDED","object":{"metadata":{"name":"big","namespace":"ns","resourceVersion":"7"},"data":{"blob":")",
      big_value, "\"}}}\n",
      R"({"type":"DELETED","object":{"metadata":{"name":"big","namespace":"ns","resourceVersion":"8"}}})",
      "\n");
  WatchDecoder decoder(&object_decoder_);
  std::deque<WatchEvent> events;
  constexpr size_t kChunk = 16 << 10;  // what a socket read typically returns
  for (size_t pos = 0; pos < stream.size(); pos += kChunk) {
    ASSERT_TRUE(decoder.Feed(absl::string_view(stream).substr(pos, kChunk), &events).ok());
  }
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(Describe(events[0]), "ADDED ns/big 7");
  EXPECT_GT(events[0].object->json().size(), big_value.size());
  EXPECT_EQ(Describe(events[1]), "DELETED ns/big 8");
  EXPECT_EQ(decoder.buffered_bytes(), 0u);
}

TEST_F(WatchDecoderTest, IncompleteEventIsBufferedAndFinishReportsDataLoss) {
  WatchDecoder decoder(&object_decoder_);
  std::deque<WatchEvent> events;
  ASSERT_TRUE(decoder.Feed(R"({"type":"ADDED","object":{"metadata":{"na)", &events).ok());
  EXPECT_TRUE(events.empty());
  EXPECT_GT(decoder.buffered_bytes(), 0u);
  EXPECT_EQ(decoder.Finish().code(), absl::StatusCode::kDataLoss);
}

TEST_F(WatchDecoderTest, MalformedJsonIsAnErrorAndStaysAnError) {
  WatchDecoder decoder(&object_decoder_);
  std::deque<WatchEvent> events;
  absl::Status status =
      decoder.Feed(R"({"type":"ADDED","object":{"metadata":{"name":x}}})", &events);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("malformed watch event"));
  // A valid event afterwards does not resurrect the stream.
  EXPECT_EQ(decoder.Feed(R"({"type":"ADDED","object":{"metadata":{"name":"y"}}})", &events).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(events.empty());
}

TEST_F(WatchDecoderTest, GarbageBetweenEventsIsAnError) {
  WatchDecoder decoder(&object_decoder_);
  std::deque<WatchEvent> events;
  EXPECT_EQ(decoder.Feed("<html>502 Bad Gateway</html>", &events).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(WatchDecoderTest, MismatchedBracketsAreAnError) {
  WatchDecoder decoder(&object_decoder_);
  std::deque<WatchEvent> events;
  EXPECT_EQ(decoder.Feed(R"({"type":"ADDED","object":{"metadata":{"name":"y"]}})", &events).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(WatchDecoderTest, UnknownTypeMissingObjectAndNamelessObjectAreErrors) {
  for (const char* bad : {
           R"({"type":"SURPRISE","object":{"metadata":{"name":"y"}}})",
           R"({"type":"ADDED"})",
           R"({"object":{"metadata":{"name":"y"}}})",
           R"({"type":"ADDED","object":{"metadata":{}}})",
           R"(["type","ADDED"])",
       }) {
    WatchDecoder decoder(&object_decoder_);
    std::deque<WatchEvent> events;
    EXPECT_EQ(decoder.Feed(bad, &events).code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_TRUE(events.empty()) << bad;
  }
}

TEST_F(WatchDecoderTest, I15_ATransformErrorDropsThatEventAndTheStreamGoesOn) {
  ObjectDecoder refusing(ConfigMaps(),
                         {[](rapidjson::Value& object, rapidjson::Document::AllocatorType&) {
                           if (object["metadata"]["name"] == "bad") {
                             return absl::InvalidArgumentError("no bad objects");
                           }
                           return absl::OkStatus();
                         }});
  WatchDecoder decoder(&refusing);
  std::deque<WatchEvent> events;
  ASSERT_TRUE(
      decoder
          .Feed(
              R"({"type":"ADDED","object":{"metadata":{"name":"a","namespace":"ns","resourceVersion":"10"}}})"
              R"({"type":"MODIFIED","object":{"metadata":{"name":"bad","namespace":"ns","resourceVersion":"11"}}})"
              R"({"type":"ADDED","object":{"metadata":{"name":"c","namespace":"ns","resourceVersion":"12"}}})",
              &events)
          .ok());
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(Describe(events[0]), "ADDED ns/a 10");
  EXPECT_EQ(events[1].type, WatchEventType::kModified);
  EXPECT_EQ(events[1].object, nullptr);
  EXPECT_THAT(events[1].dropped.message(), HasSubstr("no bad objects"));
  EXPECT_THAT(events[1].dropped.message(), HasSubstr("ns/bad"));
  EXPECT_EQ(events[1].dropped_resource_version, "11");
  EXPECT_EQ(Describe(events[2]), "ADDED ns/c 12");
  EXPECT_TRUE(decoder.Finish().ok());
}

TEST_F(WatchDecoderTest, EventsBeforeAnErrorInTheSameChunkAreKept) {
  WatchDecoder decoder(&object_decoder_);
  std::deque<WatchEvent> events;
  absl::Status status =
      decoder.Feed(R"({"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"1"}}})"
                   "\n{\"type\":",
                   &events);
  ASSERT_TRUE(status.ok());
  status = decoder.Feed("42}\n", &events);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(DescribeAll(events), ElementsAre("ADDED a 1"));
}

// --- The frame cap (--max_watch_frame_bytes): an event over it fails the stream, whether it
// arrives whole in one chunk or a piece at a time, and the decoder lets go of its buffer.

TEST_F(WatchDecoderTest, EventOverTheFrameCapInOneChunkFailsTheStream) {
  WatchDecoder decoder(&object_decoder_, /*max_frame_bytes=*/64);
  std::deque<WatchEvent> events;
  const std::string small =
      R"({"type":"ADDED","object":{"metadata":{"name":"a","namespace":"ns","resourceVersion":"1"}}})";
  ASSERT_LE(small.size(), 100u);
  WatchDecoder roomy(&object_decoder_, /*max_frame_bytes=*/small.size());
  EXPECT_TRUE(roomy.Feed(small, &events).ok());  // exactly at the cap: fine
  absl::Status status = decoder.Feed(small, &events);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("larger than the cap of 64 bytes"));
  EXPECT_THAT(status.message(), HasSubstr("--max_watch_frame_bytes"));
  EXPECT_EQ(decoder.Feed("{}", &events).code(), absl::StatusCode::kInvalidArgument);  // sticky
}

TEST_F(WatchDecoderTest, IncompleteEventOverTheFrameCapFailsBeforeItEnds) {
  WatchDecoder decoder(&object_decoder_, /*max_frame_bytes=*/1000);
  std::deque<WatchEvent> events;
  ASSERT_TRUE(decoder.Feed(R"({"type":"ADDED","object":{"data":")", &events).ok());
  absl::Status status;
  for (int i = 0; i < 100 && status.ok(); ++i) {
    status = decoder.Feed(std::string(100, 'x'), &events);
  }
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("still incomplete after"));
  EXPECT_EQ(decoder.buffered_bytes(), 0u);
  EXPECT_TRUE(events.empty());
}

TEST_F(WatchDecoderTest, EventNestedDeeperThanTheApiServerAllowsFailsTheStream) {
  WatchDecoder decoder(&object_decoder_);
  std::deque<WatchEvent> events;
  std::string event = R"({"type":"ADDED","object":{"metadata":{"name":"a"},"x":)";
  event.append(100000, '[');
  event.append(100000, ']');
  event += "}}\n";
  absl::Status status = decoder.Feed(event, &events);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("nested deeper than 10000 levels"));
}

}  // namespace
}  // namespace k8s
}  // namespace informer
