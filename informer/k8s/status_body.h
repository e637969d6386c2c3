// Kubernetes `Status` bodies (error responses, ERROR watch events) to ApiStatus/absl::Status.
#ifndef INFORMER_K8S_STATUS_BODY_H_
#define INFORMER_K8S_STATUS_BODY_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "informer/api_status.h"
#include "rapidjson/document.h"

namespace informer {
namespace k8s {

// The ApiStatus of a parsed `{"kind":"Status","code":410,"reason":"Expired",...}` object.
// `http_code` fills in a missing or zero `code`; a value that is not an object yields just
// `http_code`.
ApiStatus ApiStatusFromJson(const rapidjson::Value& value, int http_code);

// The error for a non-2xx response: ApiStatusToStatus of its Status body when it has one,
// else of the HTTP code with the start of the body as the message (a proxy's HTML page, say).
absl::Status StatusFromHttpResponse(int http_code, absl::string_view body);

}  // namespace k8s
}  // namespace informer

#endif  // INFORMER_K8S_STATUS_BODY_H_
