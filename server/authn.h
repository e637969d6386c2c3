// Who is calling: a Kubernetes ServiceAccount token checked with TokenReview (audience
// included), or a client certificate's SPIFFE ID. One narrow Authenticator interface; the
// TokenReview one caches answers by a hash of the token and fails closed.
#ifndef SERVER_AUTHN_H_
#define SERVER_AUTHN_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "informer/clock.h"
#include "informer/k8s/reviews.h"
#include "server/review_cache.h"

namespace informer {
namespace server {

// An authenticated caller.
struct Principal {
  k8s::UserInfo user;
  // When its credential stops being valid (a token's `exp`); InfiniteFuture when unknown.
  absl::Time expires = absl::InfiniteFuture();
  // How it was authenticated: "token", "mtls", or "none" (authentication off).
  std::string via;
};

// Turns a bearer token into a Principal.
//
// Thread-safety: every method may be called from any thread.
class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // The caller `token` identifies. Unauthenticated for a missing, malformed, expired, revoked
  // or wrong-audience token (the message says which and what to send); Unavailable when it
  // cannot be checked now (never allowed then). `*cache_hit` says whether no review was
  // needed.
  virtual absl::StatusOr<Principal> Authenticate(absl::string_view token, bool* cache_hit) = 0;
};

// How TokenReviewAuthenticator checks and caches.
struct TokenAuthOptions {
  // Audiences a token must be valid for (the TokenReview's spec.audiences).
  std::vector<std::string> audiences = {"informerd"};
  // How long a successful review is kept (never past the token's expiry).
  absl::Duration ttl = absl::Minutes(1);
  // How long a failed one is kept.
  absl::Duration failure_ttl = absl::Seconds(10);
  size_t max_entries = 10000;
};

// Sends one TokenReview (k8s::ReviewToken over a RestClient, or a fake in tests).
using TokenReviewFn = std::function<absl::StatusOr<k8s::TokenReviewResult>(
    absl::string_view token, const std::vector<std::string>& audiences)>;

// The API server's delegated authentication (as k8s.io/apiserver's authenticatorfactory):
// TokenReview with the audiences, answers cached by a SHA-256 of the token (never the token)
// for TokenAuthOptions::ttl and never past the token's `exp`, concurrent identical reviews
// collapsed into one.
class TokenReviewAuthenticator : public Authenticator {
 public:
  TokenReviewAuthenticator(TokenReviewFn review, TokenAuthOptions options,
                           Clock* clock = WallClock::Get());

  absl::StatusOr<Principal> Authenticate(absl::string_view token, bool* cache_hit) override;

  // TokenReviews sent (for metrics and tests).
  uint64_t reviews() const { return reviews_.load(); }

 private:
  // A review's outcome as cached: a principal or why not.
  struct Outcome {
    bool authenticated = false;
    Principal principal;
    std::string error;
  };
  absl::StatusOr<Expiring<Outcome>> Review(absl::string_view token, absl::Time token_expiry);

  const TokenReviewFn review_;
  const TokenAuthOptions options_;
  Clock* const clock_;
  ReviewCache<Outcome> cache_;
  std::atomic<uint64_t> reviews_{0};
};

// The `exp` claim of a JWT (not verified: only to bound caching); InfiniteFuture when `token`
// is not a JWT with one.
absl::Time TokenExpiry(absl::string_view token);

// Hex SHA-256 of `text`.
std::string Sha256Hex(absl::string_view text);

// The ServiceAccount user of a SPIFFE ID `spiffe://TD/ns/NS/sa/SA`:
// system:serviceaccount:NS:SA with the groups the API server gives ServiceAccounts.
// `trust_domain` (when not empty) must match TD. InvalidArgument (saying the expected form)
// otherwise.
absl::StatusOr<k8s::UserInfo> UserFromSpiffeId(absl::string_view id,
                                               absl::string_view trust_domain);

}  // namespace server
}  // namespace informer

#endif  // SERVER_AUTHN_H_
