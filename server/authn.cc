#include "server/authn.h"

#include <openssl/sha.h>

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "rapidjson/document.h"

namespace informer {
namespace server {
namespace {

constexpr char kSendToken[] =
    "send `authorization: Bearer <token>` with a Kubernetes ServiceAccount token whose audience "
    "is informerd (e.g. a projected token, or `kubectl create token SA --audience informerd`)";

}  // namespace

std::string Sha256Hex(absl::string_view text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

absl::Time TokenExpiry(absl::string_view token) {
  std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  if (parts.size() != 3) return absl::InfiniteFuture();
  std::string payload;
  if (!absl::WebSafeBase64Unescape(parts[1], &payload)) return absl::InfiniteFuture();
  rapidjson::Document claims;
  claims.Parse(payload.c_str(), payload.size());
  if (claims.HasParseError() || !claims.IsObject()) return absl::InfiniteFuture();
  auto exp = claims.FindMember("exp");
  if (exp == claims.MemberEnd() || !exp->value.IsNumber()) return absl::InfiniteFuture();
  return absl::FromUnixSeconds(static_cast<int64_t>(exp->value.GetDouble()));
}

absl::StatusOr<k8s::UserInfo> UserFromSpiffeId(absl::string_view id,
                                               absl::string_view trust_domain) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("client certificate SPIFFE ID \"", id, "\" ", why,
                     "; expected spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/SERVICEACCOUNT"));
  };
  absl::string_view rest = id;
  if (!absl::ConsumePrefix(&rest, "spiffe://")) return bad("is not a spiffe:// URI");
  std::vector<absl::string_view> parts = absl::StrSplit(rest, '/');
  if (parts.size() != 5 || parts[1] != "ns" || parts[3] != "sa" || parts[0].empty() ||
      parts[2].empty() || parts[4].empty()) {
    return bad("does not name a ServiceAccount");
  }
  if (!trust_domain.empty() && parts[0] != trust_domain) {
    return bad(absl::StrCat("is not in trust domain ", trust_domain));
  }
  k8s::UserInfo user;
  user.username = absl::StrCat("system:serviceaccount:", parts[2], ":", parts[4]);
  user.groups = {"system:serviceaccounts", absl::StrCat("system:serviceaccounts:", parts[2]),
                 "system:authenticated"};
  return user;
}

TokenReviewAuthenticator::TokenReviewAuthenticator(TokenReviewFn review, TokenAuthOptions options,
                                                   Clock* clock)
    : review_(std::move(review)),
      options_(std::move(options)),
      clock_(clock),
      cache_(clock, options_.max_entries) {}

absl::StatusOr<Expiring<TokenReviewAuthenticator::Outcome>> TokenReviewAuthenticator::Review(
    absl::string_view token, absl::Time token_expiry) {
  reviews_.fetch_add(1);
  absl::StatusOr<k8s::TokenReviewResult> result = review_(token, options_.audiences);
  if (!result.ok()) {
    std::string hint;
    if (absl::IsPermissionDenied(result.status())) {
      hint =
          " (informerd's own identity may not create tokenreviews: bind it to the ClusterRole "
          "system:auth-delegator)";
    }
    return absl::UnavailableError(absl::StrCat(
        "cannot check the token with the API server (TokenReview): ", result.status().message(),
        hint, "; retry"));
  }
  const absl::Time now = clock_->Now();
  Outcome outcome;
  outcome.authenticated = result->authenticated;
  outcome.error = result->error;
  if (outcome.authenticated && !options_.audiences.empty()) {
    // The API server checked the audiences it was given; make sure it said so.
    const bool meant_for_us =
        std::any_of(result->audiences.begin(), result->audiences.end(), [&](const auto& a) {
          return std::find(options_.audiences.begin(), options_.audiences.end(), a) !=
                 options_.audiences.end();
        });
    if (!meant_for_us) {
      outcome.authenticated = false;
      outcome.error = "the token's audience is not informerd's";
    }
  }
  absl::Time expires;
  if (outcome.authenticated) {
    outcome.principal.user = std::move(result->user);
    outcome.principal.expires = token_expiry;
    outcome.principal.via = "token";
    expires = std::min(now + options_.ttl, token_expiry);
  } else {
    expires = std::min(now + options_.failure_ttl, token_expiry);
  }
  return Expiring<Outcome>{std::move(outcome), expires};
}

absl::StatusOr<Principal> TokenReviewAuthenticator::Authenticate(absl::string_view token,
                                                                 bool* cache_hit) {
  *cache_hit = false;
  if (token.empty()) {
    return absl::UnauthenticatedError(absl::StrCat("no credentials: ", kSendToken));
  }
  const absl::Time expiry = TokenExpiry(token);
  if (expiry <= clock_->Now()) {
    *cache_hit = true;  // no review needed
    return absl::UnauthenticatedError(
        absl::StrCat("the token expired at ", absl::FormatTime(expiry), ": ", kSendToken));
  }
  absl::StatusOr<Outcome> outcome = cache_.Get(
      Sha256Hex(token), [&] { return Review(token, expiry); }, cache_hit);
  if (!outcome.ok()) return outcome.status();
  if (!outcome->authenticated) {
    return absl::UnauthenticatedError(absl::StrCat("the token was refused",
                                                   outcome->error.empty() ? "" : ": ",
                                                   outcome->error, "; ", kSendToken));
  }
  if (outcome->principal.expires <= clock_->Now()) {
    return absl::UnauthenticatedError(absl::StrCat("the token expired: ", kSendToken));
  }
  return outcome->principal;
}

}  // namespace server
}  // namespace informer
