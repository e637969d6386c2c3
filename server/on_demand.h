// On-demand caching (--on_demand): a read of a resource the API server serves but informerd does
// not cache starts its informer, once for every caller; one that nobody reads or follows for
// --on_demand_idle_timeout stops and frees its cache.
#ifndef SERVER_ON_DEMAND_H_
#define SERVER_ON_DEMAND_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "informer/resource.h"
#include "server/resource_registry.h"

namespace informer {
namespace server {

// Which resources may be cached on demand, and for how long unread (docs/configuration.md,
// "On demand"). Off by default.
struct OnDemandConfig {
  bool enabled = false;
  // Patterns of the resources a read may start: `*` (every resource), `RESOURCE` (a core-group
  // plural, e.g. `configmaps`), `RESOURCE.GROUP` (`deployments.apps`) or `*.GROUP` (every
  // resource of a group, e.g. `*.example.com`).
  std::vector<std::string> allow = {"*"};
  // Patterns as `allow`; a resource matching one is never started on demand, whatever `allow`
  // says.
  std::vector<std::string> deny;
  // An on-demand cache without subscribers and without reads this long stops and frees its
  // objects and history; the next read starts it again. Configured resources never stop.
  absl::Duration idle_timeout = absl::Minutes(10);
};

// InvalidArgument saying the accepted forms when `pattern` is not one of OnDemandConfig::allow's.
absl::Status ValidateOnDemandPattern(absl::string_view pattern);
// Whether `pattern` (valid) matches `gvr`.
bool OnDemandPatternMatches(absl::string_view pattern, const GroupVersionResource& gvr);
// OK when `config` lets a read start caching `gvr`; NotFound saying which setting refuses it
// otherwise (as a read of an uncached resource is NotFound without on-demand caching).
absl::Status CheckOnDemandPolicy(const OnDemandConfig& config, const GroupVersionResource& gvr);

// What OnDemandCache needs from the server around it.
struct OnDemandHooks {
  // The resource `name` designates by discovery (kubectl's rules over every served resource,
  // refreshing discovery when the name is unknown). NotFound when nothing is served under it.
  std::function<absl::StatusOr<ResourceInfo>(absl::string_view name)> discover;
  // Creates and runs the informer of `info`, registers it and returns it: started_by kOnDemand,
  // or kConfig when it is a configured resource that had not resolved yet (then it never
  // idles out). Called at most once per resource at a time.
  std::function<absl::StatusOr<CachedResource>(const ResourceInfo& info)> start;
  // Makes the informer factory forget `resource`'s informer (the cache has unregistered it
  // already), so a read after this starts a new one. Must be quick: it runs under the lock.
  std::function<void(const CachedResource& resource)> detach;
  // Stops `resource`'s informer, detached before, and lets go of it, freeing its cache and
  // history. Runs without the lock (stopping waits for the informer's threads).
  std::function<void(const CachedResource& resource)> stop;
  // Streams open now on `gvr` (an informer with subscribers is never idle).
  std::function<int64_t(const GroupVersionResource& gvr)> subscribers;
};

// The resources a read names, cached or to be started on demand; starts each at most once
// however many first reads race, and stops on-demand ones left idle.
//
// Thread-safety: every method may be called from any thread. `discover` and `stop` are called
// without its locks held; `start`, `detach` and `subscribers` under the lock that makes a start
// happen once (so they must not call back into it).
class OnDemandCache {
 public:
  // `registry` must outlive it.
  OnDemandCache(OnDemandConfig config, ResourceRegistry* registry, OnDemandHooks hooks);

  const OnDemandConfig& config() const { return config_; }

  // The resource `name` designates, for access checks before anything starts: the cached one,
  // or (on demand enabled) the one discovery knows and the policy allows. Errors: the
  // registry's (InvalidArgument, NotFound) when on demand is off; NotFound when discovery
  // knows no such resource or the policy refuses it; InvalidArgument when it cannot be listed
  // and watched; discovery's errors.
  absl::StatusOr<ResourceInfo> Find(absl::string_view name) const;

  // The cached resource `name` designates, its informer started now when it was not cached
  // (on demand enabled; exactly once for concurrent callers). Marks it read at `now` (on the
  // monotonic clock). `*started` (optional) is set when this call started it. Errors as Find,
  // plus those of the start hook.
  absl::StatusOr<CachedResource> Acquire(absl::string_view name, absl::Time now,
                                         bool* started = nullptr);

  // Marks `gvr` read at `now` (Acquire does; Subscribe streams count through the hook).
  void Touch(const GroupVersionResource& gvr, absl::Time now);

  // Marks a read of `gvr` that may wait (for the initial sync, or a resourceVersion) as in
  // progress until the returned hold is destroyed: the resource never idles out under it,
  // however long its sync takes, and counts as read when the hold goes (MonotonicNow).
  std::shared_ptr<void> HoldWhileReading(const GroupVersionResource& gvr);

  // Stops every on-demand resource without subscribers and unread since `now` -
  // idle_timeout (unregisters and detaches it under the lock, stops it after); returns them.
  // Configured resources are never stopped.
  std::vector<GroupVersionResource> StopIdle(absl::Time now);

 private:
  const OnDemandConfig config_;
  ResourceRegistry* const registry_;
  const OnDemandHooks hooks_;
  // Held exclusively across a start or an idle stop, shared by a read resolving a cached
  // resource: a resource starts once, and a read that found it marks it read before an idle
  // stop can look at it.
  mutable absl::Mutex start_mu_;
  absl::Mutex mu_ ABSL_ACQUIRED_AFTER(start_mu_);
  // Last read of each resource started on demand.
  absl::flat_hash_map<GroupVersionResource, absl::Time> last_read_ ABSL_GUARDED_BY(mu_);
  // Reads in progress that may wait (HoldWhileReading), by resource.
  absl::flat_hash_map<GroupVersionResource, int> reading_ ABSL_GUARDED_BY(mu_);
};

}  // namespace server
}  // namespace informer

#endif  // SERVER_ON_DEMAND_H_
