// What a caller may read: the API server's RBAC (or whatever authorizers it runs) asked with
// SubjectAccessReview. One narrow Authorizer interface; the SubjectAccessReview one caches
// decisions briefly and fails closed.
#ifndef SERVER_AUTHZ_H_
#define SERVER_AUTHZ_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "informer/clock.h"
#include "informer/k8s/reviews.h"
#include "server/review_cache.h"

namespace informer {
namespace server {

// Decides whether a user may do something.
//
// Thread-safety: every method may be called from any thread.
class Authorizer {
 public:
  virtual ~Authorizer() = default;
  // The decision for `user` doing `attributes`. Unavailable when it cannot be decided now
  // (the call is then refused, never allowed). `*cache_hit` says whether no review was needed.
  virtual absl::StatusOr<k8s::AccessDecision> Authorize(const k8s::UserInfo& user,
                                                        const k8s::AccessAttributes& attributes,
                                                        bool* cache_hit) = 0;
};

// How SubjectAccessReviewAuthorizer caches (k8s.io/apiserver's delegating authorizer keeps
// allows 5 min and denies 30 s; informerd keeps both short so a removed RoleBinding takes
// effect quickly).
struct AccessReviewOptions {
  absl::Duration allow_ttl = absl::Seconds(20);
  absl::Duration deny_ttl = absl::Seconds(5);
  size_t max_entries = 100000;
};

// Sends one SubjectAccessReview (k8s::ReviewAccess over a RestClient, or a fake in tests).
using AccessReviewFn = std::function<absl::StatusOr<k8s::AccessDecision>(
    const k8s::UserInfo& user, const k8s::AccessAttributes& attributes)>;

// The API server's delegated authorization: SubjectAccessReview per distinct (user, groups,
// extra, attributes), decisions cached (allow_ttl / deny_ttl), concurrent identical reviews
// collapsed into one.
class SubjectAccessReviewAuthorizer : public Authorizer {
 public:
  SubjectAccessReviewAuthorizer(AccessReviewFn review, AccessReviewOptions options,
                                Clock* clock = WallClock::Get());

  absl::StatusOr<k8s::AccessDecision> Authorize(const k8s::UserInfo& user,
                                                const k8s::AccessAttributes& attributes,
                                                bool* cache_hit) override;

  // SubjectAccessReviews sent (for metrics and tests).
  uint64_t reviews() const { return reviews_.load(); }

 private:
  const AccessReviewFn review_;
  const AccessReviewOptions options_;
  Clock* const clock_;
  ReviewCache<k8s::AccessDecision> cache_;
  std::atomic<uint64_t> reviews_{0};
};

}  // namespace server
}  // namespace informer

#endif  // SERVER_AUTHZ_H_
