#include "server/projection.h"

namespace informer {
namespace server {

bool IsCoreSecrets(const GroupVersionResource& gvr) {
  return gvr.group.empty() && gvr.version == "v1" && gvr.resource == "secrets";
}

CachePlan PlanCaching(const ResourceInfo& info, const ResourceConfig* resource,
                      const ServerConfig& config) {
  CachePlan plan;
  plan.secrets = IsCoreSecrets(info.gvr);
  const bool configured = resource != nullptr && resource->projection.has_value();
  plan.projection = configured     ? *resource->projection
                    : plan.secrets ? Projection::kMetadata
                                   : Projection::kFull;
  if (config.strip_managed_fields) plan.transforms.push_back(StripManagedFields);
  if (plan.projection == Projection::kMetadata) {
    plan.transforms.push_back(ProjectToMetadata);
    if (plan.secrets) plan.transforms.push_back(StripAnnotations({kLastAppliedAnnotation}));
  } else if (!config.allow_secret_data) {
    plan.transforms.push_back(RedactSecretData);
  }
  if (!plan.secrets) return plan;
  if (plan.projection == Projection::kMetadata) {
    plan.secrets_reason =
        configured ? "metadata only (PartialObjectMetadata, without the last-applied annotation): "
                     "projection: metadata is configured"
                   : "metadata only (PartialObjectMetadata, without the last-applied annotation): "
                     "the default for Secrets; to cache their data set projection: full on the "
                     "resource and allow_secret_data: true, with --auth";
  } else if (config.allow_secret_data) {
    plan.secrets_reason =
        "full Secrets WITH their data: projection: full and allow_secret_data: true, with "
        "authentication and authorization on (every read is checked by SubjectAccessReview)";
  } else {
    plan.secrets_reason =
        "Secrets without data, stringData and the last-applied annotation (redacted): "
        "projection: full without allow_secret_data: true";
  }
  return plan;
}

}  // namespace server
}  // namespace informer
