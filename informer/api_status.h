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

// True for the API server's 429 Too Many Requests (R13).
bool IsTooManyRequests(const absl::Status& status);

// True for "Too large resource version": the server (its watch cache) has not reached the RV
// asked for yet (R9).
bool IsTooLargeResourceVersion(const absl::Status& status);

// What the transport says went wrong below HTTP, for the reflector's policy (R13, R14).
enum class TransportFault {
  kNone,               // not a transport failure (or not known to be one)
  kConnectionRefused,  // nothing listens at the server's address
  kConnectionLost,     // the connection was reset or closed mid-response (a probable EOF)
  kConnectionDead,     // the connection went silent and did not answer a probe (R18)
};
// Marks `status` (a transport failure) with `fault`; returns it.
absl::Status WithTransportFault(absl::Status status, TransportFault fault);
// The fault `status` was marked with, kNone when none.
TransportFault GetTransportFault(const absl::Status& status);

}  // namespace informer

#endif  // INFORMER_API_STATUS_H_
