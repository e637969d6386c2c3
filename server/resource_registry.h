// The resources informerd caches, found by kubectl-style names.
#ifndef SERVER_RESOURCE_REGISTRY_H_
#define SERVER_RESOURCE_REGISTRY_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "informer/factory.h"
#include "informer/resource.h"
#include "informer/shared_informer.h"

namespace informer {
namespace server {

// Why a resource is cached (ListResources' started_by).
enum class StartedBy {
  kConfig,    // named in the configuration; cached as long as informerd runs
  kOnDemand,  // started by a read (--on_demand); stops when idle
};

// One cached resource: what discovery said about it, the informer that caches it, whether
// that holds whole objects or only their metadata (PartialObjectMetadata), and why it is cached.
struct CachedResource {
  ResourceInfo info;
  std::shared_ptr<SharedIndexInformer> informer;
  Projection projection = Projection::kFull;
  StartedBy started_by = StartedBy::kConfig;
};

// Resolves names as kubectl does, against the cached resources only (a resource the API server
// serves but informerd does not cache is an error naming what is cached): a plural (`pods`),
// singular (`pod`), short name (`po`) or kind (`Pod`), case-insensitively, optionally
// qualified as `RESOURCE.GROUP` or `RESOURCE.VERSION.GROUP` (`RESOURCE.VERSION` for the core
// group). Tiers as kubectl: the first of plural, singular, short name, kind with a match wins.
//
// Thread-safety: every method may be called from any thread.
class ResourceRegistry {
 public:
  // Adds a resource. AlreadyExists when its group/version/resource is registered already.
  absl::Status Add(CachedResource resource);

  // The resource `name` designates. InvalidArgument when it is empty, names nothing cached
  // (the message lists the cached names) or is ambiguous (the message lists the choices; a core
  // group match wins over others, as for kubectl).
  absl::StatusOr<CachedResource> Resolve(absl::string_view name) const;
  // The resource registered under exactly `gvr`; NotFound otherwise.
  absl::StatusOr<CachedResource> Find(const GroupVersionResource& gvr) const;
  // Unregisters `gvr` (an on-demand resource stopped when idle). NotFound when not registered.
  absl::Status Remove(const GroupVersionResource& gvr);

  // Every registered resource, sorted by group, version, resource.
  std::vector<CachedResource> All() const;

 private:
  mutable absl::Mutex mu_;
  std::vector<CachedResource> resources_ ABSL_GUARDED_BY(mu_);  // sorted by gvr
};

}  // namespace server
}  // namespace informer

#endif  // SERVER_RESOURCE_REGISTRY_H_
