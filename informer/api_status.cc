#include "informer/api_status.h"

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace informer {
namespace {

// The payload key under which an ApiStatus travels inside absl::Status.
constexpr char kApiStatusPayload[] = "type.informerd.dev/kubernetes.Status";

absl::StatusCode CodeForHttp(int http_code) {
  switch (http_code) {
    case 400:
      return absl::StatusCode::kInvalidArgument;
    case 401:
      return absl::StatusCode::kUnauthenticated;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kNotFound;
    case 405:
      return absl::StatusCode::kUnimplemented;
    case 409:
      return absl::StatusCode::kAborted;
    case 410:
      return absl::StatusCode::kOutOfRange;
    case 422:
      return absl::StatusCode::kInvalidArgument;
    case 429:
      return absl::StatusCode::kResourceExhausted;
    case 500:
      return absl::StatusCode::kInternal;
    case 501:
      return absl::StatusCode::kUnimplemented;
    case 503:
      return absl::StatusCode::kUnavailable;
    case 504:
      return absl::StatusCode::kDeadlineExceeded;
    default:
      if (http_code >= 500) return absl::StatusCode::kUnavailable;
      if (http_code >= 400) return absl::StatusCode::kFailedPrecondition;
      return absl::StatusCode::kUnknown;
  }
}

}  // namespace

absl::Status ApiStatusToStatus(const ApiStatus& api_status) {
  std::string message =
      absl::StrCat("kubernetes API: ", api_status.code, api_status.reason.empty() ? "" : " ",
                   api_status.reason, api_status.message.empty() ? "" : ": ", api_status.message);
  absl::Status status(CodeForHttp(api_status.code), message);
  // Payload: "<code>\n<reason>\n<message>".
  status.SetPayload(
      kApiStatusPayload,
      absl::Cord(absl::StrCat(api_status.code, "\n", api_status.reason, "\n", api_status.message)));
  return status;
}

std::optional<ApiStatus> GetApiStatus(const absl::Status& status) {
  auto payload = status.GetPayload(kApiStatusPayload);
  if (!payload.has_value()) return std::nullopt;
  std::vector<std::string> parts = absl::StrSplit(std::string(*payload), absl::MaxSplits('\n', 2));
  if (parts.size() != 3) return std::nullopt;
  ApiStatus api_status;
  if (!absl::SimpleAtoi(parts[0], &api_status.code)) return std::nullopt;
  api_status.reason = parts[1];
  api_status.message = parts[2];
  return api_status;
}

bool IsResourceExpired(const absl::Status& status) {
  std::optional<ApiStatus> api_status = GetApiStatus(status);
  if (!api_status.has_value()) return false;
  if (api_status->code == 410) return true;
  if (api_status->reason == "Expired" || api_status->reason == "Gone") return true;
  return absl::StrContains(absl::AsciiStrToLower(api_status->message), "too old resource version");
}

bool IsTooManyRequests(const absl::Status& status) {
  std::optional<ApiStatus> api_status = GetApiStatus(status);
  return api_status.has_value() &&
         (api_status->code == 429 || api_status->reason == "TooManyRequests");
}

bool IsTooLargeResourceVersion(const absl::Status& status) {
  std::optional<ApiStatus> api_status = GetApiStatus(status);
  return api_status.has_value() && absl::StrContains(absl::AsciiStrToLower(api_status->message),
                                                     "too large resource version");
}

namespace {
constexpr char kTransportFaultPayload[] = "informer.dev/transport-fault";
}  // namespace

absl::Status WithTransportFault(absl::Status status, TransportFault fault) {
  if (status.ok() || fault == TransportFault::kNone) return status;
  status.SetPayload(kTransportFaultPayload,
                    absl::Cord(fault == TransportFault::kConnectionRefused ? "refused"
                               : fault == TransportFault::kConnectionDead  ? "dead"
                                                                           : "lost"));
  return status;
}

TransportFault GetTransportFault(const absl::Status& status) {
  absl::optional<absl::Cord> payload = status.GetPayload(kTransportFaultPayload);
  if (!payload.has_value()) return TransportFault::kNone;
  if (*payload == "refused") return TransportFault::kConnectionRefused;
  if (*payload == "dead") return TransportFault::kConnectionDead;
  return TransportFault::kConnectionLost;
}

}  // namespace informer
