// The API server's delegated authentication and authorization: one TokenReview or
// SubjectAccessReview (authentication.k8s.io/v1, authorization.k8s.io/v1) per call, over
// RestClient. No caching here: callers (informerd's server/auth) cache the answers.
#ifndef INFORMER_K8S_REVIEWS_H_
#define INFORMER_K8S_REVIEWS_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "informer/k8s/rest_client.h"

namespace informer {
namespace k8s {

// Who a caller is (authentication.k8s.io/v1 UserInfo).
struct UserInfo {
  std::string username;
  std::string uid;
  std::vector<std::string> groups;
  std::map<std::string, std::vector<std::string>> extra;
};

// What a TokenReview said about one token.
struct TokenReviewResult {
  bool authenticated = false;
  UserInfo user;
  // The audiences the token is valid for, of those asked (empty when none were asked).
  std::vector<std::string> audiences;
  std::string error;  // why not, when not authenticated
};

// The attributes of one request to authorize (authorization.k8s.io/v1 ResourceAttributes, or
// NonResourceAttributes when `path` is set).
struct AccessAttributes {
  std::string verb;  // get, list, watch
  std::string group;
  std::string version;
  std::string resource;
  std::string namespace_name;  // "" = cluster-wide
  std::string name;            // "" = any
  std::string label_selector;  // raw selectors, passed as the review's selectors
  std::string field_selector;
  std::string path;  // a non-resource URL such as /metrics; then only `verb` counts
};

// What a SubjectAccessReview decided.
struct AccessDecision {
  bool allowed = false;
  bool denied = false;  // an explicit deny (no other authorizer is asked)
  std::string reason;
  std::string evaluation_error;
};

// POSTs a TokenReview of `token` for `audiences`. Errors: the API server's (e.g.
// PermissionDenied when our identity may not create tokenreviews: bind
// system:auth-delegator), Unavailable when it cannot be reached, Internal for an answer that is
// not a TokenReview.
absl::StatusOr<TokenReviewResult> ReviewToken(RestClient& client, absl::string_view token,
                                              const std::vector<std::string>& audiences);

// POSTs a SubjectAccessReview of `attributes` for `user`. Errors as ReviewToken.
absl::StatusOr<AccessDecision> ReviewAccess(RestClient& client, const UserInfo& user,
                                            const AccessAttributes& attributes);

// The JSON bodies of the two reviews (for tests).
std::string TokenReviewJson(absl::string_view token, const std::vector<std::string>& audiences);
std::string SubjectAccessReviewJson(const UserInfo& user, const AccessAttributes& attributes);

}  // namespace k8s
}  // namespace informer

#endif  // INFORMER_K8S_REVIEWS_H_
