// What informerd caches of each resource: whole objects or only their metadata, the transforms
// applied before anything is stored, and, for Secrets, why (docs/security.md, "Secrets").
#ifndef SERVER_PROJECTION_H_
#define SERVER_PROJECTION_H_

#include <string>
#include <vector>

#include "informer/factory.h"
#include "informer/resource.h"
#include "informer/transform.h"
#include "server/config.h"

namespace informer {
namespace server {

// How one resource is cached.
struct CachePlan {
  // kMetadata: LIST and WATCH ask for PartialObjectMetadata; only metadata is ever held.
  Projection projection = Projection::kFull;
  // Applied to every object before it is stored, in order.
  std::vector<Transform> transforms;
  // Whether the resource is the core group's Secrets.
  bool secrets = false;
  // Secrets only: what is cached of them and why, for the startup log.
  std::string secrets_reason;
};

// Whether `gvr` is core/v1 Secrets.
bool IsCoreSecrets(const GroupVersionResource& gvr);

// The plan for `info`, with its settings `resource` (null = none) under `config`:
//  - the projection is the resource's own; unset, metadata for core Secrets, else full;
//  - transforms: StripManagedFields when config.strip_managed_fields; with metadata,
//    ProjectToMetadata (also for a server that ignored the Accept header) and, for Secrets,
//    stripping the last-applied annotation (it holds a Secret's data); with full and without
//    config.allow_secret_data, RedactSecretData on every object (defence in depth: whatever
//    the resource, a core Secret never keeps data, stringData or that annotation).
// REQUIRES: ValidateConfig(config) is OK (so allow_secret_data implies access control).
CachePlan PlanCaching(const ResourceInfo& info, const ResourceConfig* resource,
                      const ServerConfig& config);

}  // namespace server
}  // namespace informer

#endif  // SERVER_PROJECTION_H_
