// Who may read what, for each call: authenticates the caller (mTLS identity or bearer token),
// asks the Authorizer for every verb the call needs, words refusals as the API server does,
// and logs and counts every decision.
#ifndef SERVER_ACCESS_GUARD_H_
#define SERVER_ACCESS_GUARD_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/grpcpp.h"
#include "informer/k8s/reviews.h"
#include "informer/resource.h"
#include "server/authn.h"
#include "server/authz.h"
#include "server/metrics.h"

namespace informer {
namespace server {

// Settings of the guard.
struct AccessGuardOptions {
  // Trust domain a client certificate's SPIFFE ID must be in; "" = any.
  std::string spiffe_trust_domain;
};

// The two halves of access control, as InformerServer takes them (main builds them over the
// API server; tests may pass fakes).
struct AccessControl {
  std::shared_ptr<Authenticator> authenticator;
  std::shared_ptr<Authorizer> authorizer;
};

// What one call reads: the review attributes without the verb.
struct ReadAttributes {
  const ResourceInfo* resource = nullptr;
  std::string namespace_name;  // "" = cluster-wide
  std::string name;            // Get's name, or the metadata.name a field selector fixes
  std::string label_selector;
  std::string field_selector;
};

// The metadata.name `field_selector` fixes (`metadata.name=x`), or "" when it allows several
// names (or does not parse; the call fails on it later).
std::string NameFixedBy(absl::string_view field_selector);

// Thread-safety: every method may be called from any thread; Authenticate and Authorize block
// while a review is sent (cache hits do not).
class AccessGuard {
 public:
  // The pointers must outlive the guard.
  AccessGuard(Authenticator* authenticator, Authorizer* authorizer, Metrics* metrics,
              AccessGuardOptions options = {});

  // The caller of `context`: the ServiceAccount of its client certificate's SPIFFE ID when it
  // presented one (no TokenReview), else the holder of its `authorization: Bearer` token.
  // Errors as Authenticator::Authenticate; Unauthenticated for a certificate whose SPIFFE ID
  // names no ServiceAccount.
  absl::StatusOr<Principal> Authenticate(const grpc::ServerContextBase& context,
                                         absl::string_view method);
  // Authenticates an `Authorization` HTTP header's value ("Bearer TOKEN").
  absl::StatusOr<Principal> AuthenticateHeader(absl::string_view authorization,
                                               absl::string_view method);

  // OK when `principal` may do every verb in `verbs` on `read`; PermissionDenied worded as the
  // API server's Forbidden (`User "U" cannot list resource "configmaps" in API group "" in
  // the namespace "b"`) for the first verb refused; Unavailable when it cannot be decided.
  absl::Status Authorize(const Principal& principal, absl::string_view method,
                         const std::vector<std::string>& verbs, const ReadAttributes& read);
  // Whether `principal` may list `resource` in every namespace; false also when it cannot be
  // decided now. Logged and counted as Authorize.
  bool MayListClusterWide(const Principal& principal, absl::string_view method,
                          const ResourceInfo& resource);
  // OK when `principal` may `get` the non-resource URL `path` (e.g. /metrics).
  absl::Status AuthorizePath(const Principal& principal, absl::string_view method,
                             absl::string_view path);

 private:
  absl::StatusOr<Principal> AuthenticateToken(absl::string_view token, absl::string_view method,
                                              absl::string_view via);
  // One verb: the decision, logged and counted.
  absl::StatusOr<bool> Decide(const Principal& principal, absl::string_view method,
                              const k8s::AccessAttributes& attributes);

  Authenticator* const authenticator_;
  Authorizer* const authorizer_;
  Metrics* const metrics_;
  const AccessGuardOptions options_;
};

}  // namespace server
}  // namespace informer

#endif  // SERVER_ACCESS_GUARD_H_
