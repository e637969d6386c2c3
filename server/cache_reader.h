// Reads of the cache for List, Get, ByIndex and ListResources: resolution, validation, waits for
// min_resource_version and paging, with no gRPC in it.
#ifndef SERVER_CACHE_READER_H_
#define SERVER_CACHE_READER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "informer/object.h"
#include "informer/selector.h"
#include "server/pager.h"
#include "server/resource_registry.h"
#include "server/rv_waiter.h"

namespace informer {
namespace server {

// What a read names and how it filters (the common fields of the read requests).
struct ReadTarget {
  std::string resource;  // kubectl-style
  std::string namespace_name;
  std::string label_selector;
  std::string field_selector;
};

// A resolved, validated ReadTarget.
struct ResolvedTarget {
  CachedResource resource;
  ObjectFilter filter;
};

// A List or ByIndex call.
struct ListQuery {
  ReadTarget target;
  std::string index_name;  // ByIndex only
  std::string index_value;
  int32_t limit = 0;
  std::string page_token;
  std::string min_resource_version;
  // Who asks (the authenticated user and uid; "" with authentication off): page tokens are
  // bound to it, so another caller's token is InvalidArgument.
  std::string caller;
  // When not empty, only objects of these namespaces (a cluster-wide read narrowed to what the
  // caller may read).
  std::vector<std::string> namespaces;
};

// A Get call.
struct GetQuery {
  std::string resource;
  std::string namespace_name;
  std::string name;
  std::string min_resource_version;
};

// When a call gives up waiting, and how to tell it went away.
struct CallContext {
  // On the monotonic clock (informer::MonotonicNow), like every wait's deadline in informerd.
  absl::Time deadline = absl::InfiniteFuture();
  CancelledFn cancelled;
  // Who calls, for the per-caller caps of waits and page snapshots (a CallerKey).
  std::string caller;
};

// What ListResources reports about one resource.
struct ResourceSummary {
  ResourceInfo info;
  bool synced = false;
  int64_t object_count = 0;
  std::string resource_version;
  std::vector<std::string> index_names;
  std::string namespace_name;
  std::string label_selector;
  std::string field_selector;
  std::string last_error;
  // The last attempt failed, since `stale_for` (ListResourcesResponse's stale, stale_seconds).
  bool stale = false;
  absl::Duration stale_for = absl::ZeroDuration();
  Projection projection = Projection::kFull;
  StartedBy started_by = StartedBy::kConfig;
};

// Thread-safety: every method may be called from any thread. Callbacks run on the calling
// thread or on the waiter's.
class CacheReader {
 public:
  // The pointers must outlive the reader. List snapshots are recorded in `cuts`, so a
  // Subscribe from a List's resourceVersion resumes exactly after it.
  CacheReader(const ResourceRegistry* registry, Pager* pager, ResourceVersionWaiter* waiter,
              SelectorLimits selector_limits = SelectorLimits());

  // Resolves the resource and parses the selectors. InvalidArgument for an unknown resource, a
  // bad selector (the message shows where), a namespace on a cluster-scoped resource or
  // outside the namespace the resource is cached for.
  absl::StatusOr<ResolvedTarget> Resolve(const ReadTarget& target) const;

  // The first page of matching objects (or the page after query.page_token) from one
  // snapshot. Errors as Resolve and Pager, Unavailable when not synced, DeadlineExceeded
  // when min_resource_version is not reached by the deadline.
  void List(const ListQuery& query, const CallContext& context,
            std::function<void(absl::StatusOr<Page>)> done) const;
  // As List, over the objects of one index value. InvalidArgument naming the resource's indexes
  // for an unknown index.
  void ByIndex(const ListQuery& query, const CallContext& context,
               std::function<void(absl::StatusOr<Page>)> done) const;
  // One object. NotFound when the cache does not hold it; InvalidArgument when the namespace
  // is missing for a namespaced resource or present for a cluster-scoped one.
  void Get(const GetQuery& query, const CallContext& context,
           std::function<void(absl::StatusOr<ObjectPtr>)> done) const;

  // Every cached resource, sorted by group, version, resource.
  std::vector<ResourceSummary> ListResources() const;

 private:
  // Calls `then` once the resource may be read: at once when synced and no version is asked
  // for; after the wait otherwise. Unavailable when not synced and no version is asked for.
  void WhenFresh(const CachedResource& resource, const std::string& min_resource_version,
                 const CallContext& context, std::function<void(absl::Status)> then) const;

  const ResourceRegistry* registry_;
  Pager* pager_;
  ResourceVersionWaiter* waiter_;
  const SelectorLimits selector_limits_;
};

// The Unavailable status for a resource that has not synced yet, with its last error.
absl::Status NotSyncedError(const SharedIndexInformer& informer);

}  // namespace server
}  // namespace informer

#endif  // SERVER_CACHE_READER_H_
