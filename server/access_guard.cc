#include "server/access_guard.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "informer/selector.h"
#include "server/log.h"

namespace informer {
namespace server {
namespace {

constexpr char kPeerSpiffeId[] = "peer_spiffe_id";  // GRPC_PEER_SPIFFE_ID_PROPERTY_NAME

std::string Quoted(absl::string_view text) { return absl::StrCat("\"", text, "\""); }

// The API server's Forbidden message for `attributes`.
std::string ForbiddenMessage(const Principal& principal, const k8s::AccessAttributes& a,
                             const std::string& reason) {
  std::string message;
  if (!a.path.empty()) {
    message = absl::StrCat("forbidden: User ", Quoted(principal.user.username), " cannot ", a.verb,
                           " path ", Quoted(a.path));
  } else {
    const std::string what =
        a.name.empty() ? a.resource : absl::StrCat(a.resource, " ", Quoted(a.name));
    message = absl::StrCat(
        what, " is forbidden: User ", Quoted(principal.user.username), " cannot ", a.verb,
        " resource ", Quoted(a.resource), " in API group ", Quoted(a.group),
        a.namespace_name.empty() ? std::string(" at the cluster scope")
                                 : absl::StrCat(" in the namespace ", Quoted(a.namespace_name)));
  }
  if (!reason.empty()) absl::StrAppend(&message, ": ", reason);
  return message;
}

}  // namespace

std::string NameFixedBy(absl::string_view field_selector) {
  absl::StatusOr<FieldSelector> selector = FieldSelector::Parse(field_selector);
  if (!selector.ok()) return "";
  for (const FieldSelector::Requirement& requirement : selector->requirements()) {
    if (requirement.equals && requirement.path == "metadata.name") return requirement.value;
  }
  return "";
}

AccessGuard::AccessGuard(Authenticator* authenticator, Authorizer* authorizer, Metrics* metrics,
                         AccessGuardOptions options)
    : authenticator_(authenticator),
      authorizer_(authorizer),
      metrics_(metrics),
      options_(std::move(options)) {}

absl::StatusOr<Principal> AccessGuard::AuthenticateToken(absl::string_view token,
                                                         absl::string_view method,
                                                         absl::string_view via) {
  bool cache_hit = false;
  absl::StatusOr<Principal> principal = authenticator_->Authenticate(token, &cache_hit);
  const char* result = principal.ok()                                ? "ok"
                       : absl::IsUnauthenticated(principal.status()) ? "refused"
                                                                     : "error";
  metrics_->RecordAuthentication(via, result, cache_hit);
  if (!principal.ok()) {
    Log(absl::IsUnavailable(principal.status()) ? LogLevel::kWarning : LogLevel::kInfo,
        "authentication failed",
        {{"method", std::string(method)},
         {"via", std::string(via)},
         {"cache_hit", cache_hit ? "true" : "false"},
         {"error", std::string(principal.status().message())}});
  }
  return principal;
}

absl::StatusOr<Principal> AccessGuard::Authenticate(const grpc::ServerContextBase& context,
                                                    absl::string_view method) {
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth != nullptr && auth->IsPeerAuthenticated()) {
    std::vector<grpc::string_ref> ids = auth->FindPropertyValues(kPeerSpiffeId);
    if (!ids.empty()) {
      absl::StatusOr<k8s::UserInfo> user = UserFromSpiffeId(
          absl::string_view(ids[0].data(), ids[0].size()), options_.spiffe_trust_domain);
      metrics_->RecordAuthentication("mtls", user.ok() ? "ok" : "refused", true);
      if (!user.ok()) return absl::UnauthenticatedError(user.status().message());
      Principal principal;
      principal.user = *std::move(user);
      principal.via = "mtls";
      return principal;
    }
  }
  std::string header;
  const auto& metadata = context.client_metadata();
  if (auto it = metadata.find("authorization"); it != metadata.end()) {
    header.assign(it->second.data(), it->second.size());
  }
  return AuthenticateHeader(header, method);
}

absl::StatusOr<Principal> AccessGuard::AuthenticateHeader(absl::string_view authorization,
                                                          absl::string_view method) {
  absl::string_view value = absl::StripAsciiWhitespace(authorization);
  absl::string_view token;
  if (value.size() > 7 && absl::EqualsIgnoreCase(value.substr(0, 7), "bearer ")) {
    token = absl::StripAsciiWhitespace(value.substr(7));
  } else if (!value.empty()) {
    metrics_->RecordAuthentication("token", "refused", true);
    return absl::UnauthenticatedError(
        "the authorization header is not `Bearer <token>`; send a Kubernetes ServiceAccount "
        "token with audience informerd");
  }
  return AuthenticateToken(token, method, "token");
}

absl::StatusOr<bool> AccessGuard::Decide(const Principal& principal, absl::string_view method,
                                         const k8s::AccessAttributes& attributes) {
  bool cache_hit = false;
  absl::StatusOr<k8s::AccessDecision> decision =
      authorizer_->Authorize(principal.user, attributes, &cache_hit);
  const std::string resource =
      attributes.path.empty()
          ? (attributes.group.empty() ? attributes.resource
                                      : absl::StrCat(attributes.resource, ".", attributes.group))
          : attributes.path;
  const char* outcome = !decision.ok() ? "error" : decision->allowed ? "allowed" : "denied";
  metrics_->RecordAuthorization(method, attributes.verb, outcome, cache_hit);
  // Every decision is logged; those taken from the cache (the same as one logged before) at
  // debug level unless they deny.
  const bool allowed = decision.ok() && decision->allowed;
  Log(!decision.ok()           ? LogLevel::kWarning
      : (allowed && cache_hit) ? LogLevel::kDebug
                               : LogLevel::kInfo,
      "authorization",
      {{"principal", principal.user.username},
       {"via", principal.via},
       {"method", std::string(method)},
       {"resource", resource},
       {"namespace", attributes.namespace_name},
       {"name", attributes.name},
       {"verb", attributes.verb},
       {"allowed", allowed ? "true" : "false"},
       {"cache_hit", cache_hit ? "true" : "false"},
       {"reason", decision.ok() ? decision->reason : std::string(decision.status().message())}});
  if (!decision.ok()) return decision.status();
  return decision->allowed;
}

absl::Status AccessGuard::Authorize(const Principal& principal, absl::string_view method,
                                    const std::vector<std::string>& verbs,
                                    const ReadAttributes& read) {
  k8s::AccessAttributes attributes;
  attributes.group = read.resource->gvr.group;
  attributes.version = read.resource->gvr.version;
  attributes.resource = read.resource->gvr.resource;
  attributes.namespace_name = read.namespace_name;
  attributes.name = read.name;
  attributes.label_selector = read.label_selector;
  attributes.field_selector = read.field_selector;
  for (const std::string& verb : verbs) {
    attributes.verb = verb;
    absl::StatusOr<bool> allowed = Decide(principal, method, attributes);
    if (!allowed.ok()) return allowed.status();
    if (!*allowed) return absl::PermissionDeniedError(ForbiddenMessage(principal, attributes, ""));
  }
  return absl::OkStatus();
}

bool AccessGuard::MayListClusterWide(const Principal& principal, absl::string_view method,
                                     const ResourceInfo& resource) {
  k8s::AccessAttributes attributes;
  attributes.verb = "list";
  attributes.group = resource.gvr.group;
  attributes.version = resource.gvr.version;
  attributes.resource = resource.gvr.resource;
  absl::StatusOr<bool> allowed = Decide(principal, method, attributes);
  return allowed.ok() && *allowed;
}

absl::Status AccessGuard::AuthorizePath(const Principal& principal, absl::string_view method,
                                        absl::string_view path) {
  k8s::AccessAttributes attributes;
  attributes.verb = "get";
  attributes.path = std::string(path);
  absl::StatusOr<bool> allowed = Decide(principal, method, attributes);
  if (!allowed.ok()) return allowed.status();
  if (!*allowed) return absl::PermissionDeniedError(ForbiddenMessage(principal, attributes, ""));
  return absl::OkStatus();
}

}  // namespace server
}  // namespace informer
