#include "informer/json.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace informer {
namespace {

using ::testing::HasSubstr;

TEST(JsonTest, Utf8ValidationFollowsRfc3629) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii, longer than eight bytes"));
  EXPECT_TRUE(IsValidUtf8("gr\xc3\xbc\xc3\x9f \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf"));
  EXPECT_FALSE(IsValidUtf8("\xff"));                   // never a UTF-8 byte
  EXPECT_FALSE(IsValidUtf8("abcdefgh\x80"));           // a lone continuation byte
  EXPECT_FALSE(IsValidUtf8("\xc0\x80"));               // overlong NUL
  EXPECT_FALSE(IsValidUtf8("\xe0\x80\xaf"));           // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));           // a surrogate (U+D800)
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));       // past U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xe2\x82"));               // truncated at the end
  EXPECT_FALSE(IsValidUtf8("\xe2\x28\xa1 and more"));  // a bad continuation
}

TEST(JsonTest, InvalidUtf8IsRefusedWithItsOffset) {
  rapidjson::Document document;
  absl::Status status = ParseJson("{\"k\":\"ok\",\"v\":\"\xc3\x28\"}", &document);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("invalid UTF-8"));
  EXPECT_TRUE(document.IsNull());
}

TEST(JsonTest, EscapedLoneSurrogatesAreRefused) {
  // RapidJSON turns \udd83 (a low surrogate with no high one before it) into the bytes
  // ED B6 83, which are not UTF-8; found by fuzz_object_json.
  rapidjson::Document document;
  absl::Status status = ParseJson(R"({"k":"\udd83x"})", &document);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("invalid UTF-8"));
  EXPECT_TRUE(ParseJson(R"({"k":"\ud83d\ude00"})", &document).ok());  // a proper pair
}

TEST(JsonTest, InsituParseStopsAtTheEndOfTheFirstValue) {
  std::string text = "{\"a\":[1,2.5,\"x\"]}{\"b\":\xff";  // what follows is not looked at
  rapidjson::Document document;
  ASSERT_TRUE(ParseJsonInsitu(&text[0], &document, /*stop_when_done=*/true).ok());
  ASSERT_TRUE(document.IsObject());
  EXPECT_EQ(document["a"][1].GetDouble(), 2.5);
  EXPECT_EQ(document["a"][0].GetInt(), 1);
}

TEST(JsonTest, NumbersAsStringsKeepTheirText) {
  rapidjson::Document document;
  ASSERT_TRUE(ParseJsonNumbersAsStrings(R"({"n":1.50})", &document).ok());
  EXPECT_STREQ(document["n"].GetString(), "1.50");
}

}  // namespace
}  // namespace informer
