#include "server/authz.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace informer {
namespace server {
namespace {

// Equal for equal (user, attributes), different otherwise: every part is length-prefixed.
std::string CacheKey(const k8s::UserInfo& user, const k8s::AccessAttributes& a) {
  std::string key;
  auto add = [&key](absl::string_view part) { absl::StrAppend(&key, part.size(), ":", part); };
  add(user.username);
  add(user.uid);
  std::vector<std::string> groups = user.groups;
  std::sort(groups.begin(), groups.end());
  for (const std::string& group : groups) add(group);
  add("|");
  for (const auto& [name, values] : user.extra) {
    add(name);
    for (const std::string& value : values) add(value);
  }
  add("|");
  for (const std::string* part : {&a.verb, &a.group, &a.version, &a.resource, &a.namespace_name,
                                  &a.name, &a.label_selector, &a.field_selector, &a.path}) {
    add(*part);
  }
  return key;
}

}  // namespace

SubjectAccessReviewAuthorizer::SubjectAccessReviewAuthorizer(AccessReviewFn review,
                                                             AccessReviewOptions options,
                                                             Clock* clock)
    : review_(std::move(review)),
      options_(options),
      clock_(clock),
      cache_(clock, options.max_entries) {}

absl::StatusOr<k8s::AccessDecision> SubjectAccessReviewAuthorizer::Authorize(
    const k8s::UserInfo& user, const k8s::AccessAttributes& attributes, bool* cache_hit) {
  bool shared = false;
  absl::StatusOr<k8s::AccessDecision> decision = cache_.Get(
      CacheKey(user, attributes),
      [&]() -> absl::StatusOr<Expiring<k8s::AccessDecision>> {
        reviews_.fetch_add(1);
        absl::StatusOr<k8s::AccessDecision> d = review_(user, attributes);
        if (!d.ok()) {
          std::string hint;
          if (absl::IsPermissionDenied(d.status())) {
            hint =
                " (informerd's own identity may not create subjectaccessreviews: bind it to the "
                "ClusterRole system:auth-delegator)";
          }
          return absl::UnavailableError(
              absl::StrCat("cannot check access with the API server (SubjectAccessReview): ",
                           d.status().message(), hint, "; retry"));
        }
        const absl::Duration ttl = d->allowed ? options_.allow_ttl : options_.deny_ttl;
        return Expiring<k8s::AccessDecision>{*d, clock_->Now() + ttl};
      },
      &shared);
  *cache_hit = shared;
  return decision;
}

}  // namespace server
}  // namespace informer
