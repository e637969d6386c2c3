// Kubernetes API errors (the `Status` kind) carried inside absl::Status.
#ifndef INFORMER_API_STATUS_H_
#define INFORMER_API_STATUS_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace informer {

// A decoded `{"kind":"Status",...}` body, or the HTTP status of a failed request.
struct ApiStatus {
  int code = 0;         // HTTP status code, e.g. 410
  std::string reason;   // "Expired", "Gone", "NotFound", "Forbidden", ...
  std::string message;  // the server's human-readable message
};

// Converts an API error into an absl::Status whose code follows the HTTP code
// (400 InvalidArgument, 401 Unauthenticated, 403 PermissionDenied, 404 NotFound,
// 409 Aborted, 410 OutOfRange, 429 ResourceExhausted, 5xx Unavailable/Internal,
// 504 DeadlineExceeded) and which carries the ApiStatus as a payload.
absl::Status ApiStatusToStatus(const ApiStatus& api_status);

// The ApiStatus inside `status`, if it came from the API server.
std::optional<ApiStatus> GetApiStatus(const absl::Status& status);

// True when the error means "your resourceVersion or continue token is too old; relist":
// HTTP 410 Gone, reason Expired/Gone, or the message "too old resource version".
bool IsResourceExpired(const absl::Status& status);

}  // namespace informer

#endif  // INFORMER_API_STATUS_H_
