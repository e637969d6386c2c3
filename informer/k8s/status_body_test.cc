#include "informer/k8s/status_body.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "informer/api_status.h"

namespace informer {
namespace k8s {
namespace {

using ::testing::HasSubstr;

TEST(StatusBodyTest, ExpiredListBodyIsOutOfRangeAndResourceExpired) {
  absl::Status status = StatusFromHttpResponse(
      410,
      R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)"
      R"("message":"The provided continue parameter is too old to display a consistent list )"
      R"(result. You can start a new list without the continue parameter.","reason":"Expired",)"
      R"("code":410})");
  EXPECT_EQ(status.code(), absl::StatusCode::kOutOfRange);
  EXPECT_TRUE(IsResourceExpired(status));
  std::optional<ApiStatus> api = GetApiStatus(status);
  ASSERT_TRUE(api.has_value());
  EXPECT_EQ(api->code, 410);
  EXPECT_EQ(api->reason, "Expired");
  EXPECT_THAT(api->message, HasSubstr("continue parameter is too old"));
}

TEST(StatusBodyTest, ForbiddenBodyIsPermissionDeniedWithTheServerMessage) {
  absl::Status status = StatusFromHttpResponse(
      403,
      R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)"
      R"("message":"secrets is forbidden: User \"restricted\" cannot list resource \"secrets\" )"
      R"(in API group \"\" at the cluster scope","reason":"Forbidden",)"
      R"("details":{"kind":"secrets"},"code":403})");
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_FALSE(IsResourceExpired(status));
  EXPECT_THAT(std::string(status.message()), HasSubstr("cannot list resource \"secrets\""));
  EXPECT_EQ(GetApiStatus(status)->reason, "Forbidden");
}

TEST(StatusBodyTest, NotFoundAndUnauthorizedAndTooManyRequests) {
  EXPECT_EQ(StatusFromHttpResponse(
                404, R"({"kind":"Status","reason":"NotFound","message":"x not found","code":404})")
                .code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(
      StatusFromHttpResponse(401, R"({"kind":"Status","reason":"Unauthorized","code":401})").code(),
      absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(StatusFromHttpResponse(429, R"({"kind":"Status","reason":"TooManyRequests"})").code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(StatusBodyTest, HttpCodeWinsOverTheBodyCode) {
  absl::Status status =
      StatusFromHttpResponse(503, R"({"kind":"Status","reason":"ServiceUnavailable","code":0})");
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(GetApiStatus(status)->code, 503);
}

TEST(StatusBodyTest, NonStatusBodyKeepsTheHttpCodeAndQuotesTheBody) {
  absl::Status status = StatusFromHttpResponse(502, "<html>Bad Gateway</html>\n");
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  std::optional<ApiStatus> api = GetApiStatus(status);
  ASSERT_TRUE(api.has_value());
  EXPECT_EQ(api->reason, "BadGateway");
  EXPECT_EQ(api->message, "<html>Bad Gateway</html>");
}

TEST(StatusBodyTest, GoneWithoutBodyIsStillResourceExpired) {
  EXPECT_TRUE(IsResourceExpired(StatusFromHttpResponse(410, "")));
}

TEST(StatusBodyTest, LongBodiesAreTruncated) {
  absl::Status status = StatusFromHttpResponse(500, std::string(10000, 'e'));
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_LT(GetApiStatus(status)->message.size(), 300u);
}

TEST(StatusBodyTest, ApiStatusFromJsonUsesTheBodyCodeWhenPresent) {
  rapidjson::Document document;
  document.Parse(R"({"kind":"Status","code":410,"reason":"Gone","message":"m"})");
  ApiStatus status = ApiStatusFromJson(document, 500);
  EXPECT_EQ(status.code, 410);
  EXPECT_EQ(status.reason, "Gone");
  document.Parse(R"({"kind":"Status","reason":"InternalError"})");
  EXPECT_EQ(ApiStatusFromJson(document, 500).code, 500);
  document.Parse(R"("not an object")");
  EXPECT_EQ(ApiStatusFromJson(document, 500).code, 500);
}

}  // namespace
}  // namespace k8s
}  // namespace informer
