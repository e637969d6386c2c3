#include "informer/k8s/status_body.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "informer/json.h"
#include "informer/k8s/json_util.h"

namespace informer {
namespace k8s {
namespace {

// Longest piece of a non-Status error body quoted in the message.
constexpr size_t kMaxQuotedBody = 256;

// The reason phrase for codes an API server or a proxy in front of it commonly returns.
const char* HttpReason(int code) {
  switch (code) {
    case 400:
      return "BadRequest";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 405:
      return "MethodNotAllowed";
    case 406:
      return "NotAcceptable";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 413:
      return "RequestEntityTooLarge";
    case 415:
      return "UnsupportedMediaType";
    case 422:
      return "Invalid";
    case 429:
      return "TooManyRequests";
    case 500:
      return "InternalError";
    case 502:
      return "BadGateway";
    case 503:
      return "ServiceUnavailable";
    case 504:
      return "Timeout";
    default:
      return "";
  }
}

}  // namespace

ApiStatus ApiStatusFromJson(const rapidjson::Value& value, int http_code) {
  ApiStatus status;
  status.code = http_code;
  if (!value.IsObject()) return status;
  auto code = value.FindMember("code");
  if (code != value.MemberEnd() && code->value.IsInt() && code->value.GetInt() != 0) {
    status.code = code->value.GetInt();
  }
  status.reason = StringMember(value, "reason");
  status.message = StringMember(value, "message");
  return status;
}

absl::Status StatusFromHttpResponse(int http_code, absl::string_view body) {
  rapidjson::Document document;
  if (ParseJson(body, &document).ok() && document.IsObject() &&
      StringMember(document, "kind") == "Status") {
    // The HTTP code is authoritative: a Status body may omit or disagree with it.
    ApiStatus status = ApiStatusFromJson(document, http_code);
    status.code = http_code;
    return ApiStatusToStatus(status);
  }
  ApiStatus status;
  status.code = http_code;
  status.reason = HttpReason(http_code);
  absl::string_view quoted = absl::StripAsciiWhitespace(body.substr(0, kMaxQuotedBody));
  status.message = std::string(quoted);
  if (body.size() > kMaxQuotedBody) absl::StrAppend(&status.message, "...");
  return ApiStatusToStatus(status);
}

}  // namespace k8s
}  // namespace informer
