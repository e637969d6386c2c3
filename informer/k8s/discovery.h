// Discovery: which resources the API server serves, and kubectl-style name resolution.
#ifndef INFORMER_K8S_DISCOVERY_H_
#define INFORMER_K8S_DISCOVERY_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "informer/k8s/rest_client.h"
#include "informer/resource.h"

namespace informer {
namespace k8s {

// One API group as discovery describes it.
struct ApiGroupInfo {
  std::string name;                   // "" for the core group
  std::vector<std::string> versions;  // in the server's order of preference
  std::string preferred_version;
};

// The resources an API server serves, fetched from /api and /apis: with aggregated discovery
// (apidiscovery.k8s.io/v2, or v2beta1) when the server offers it, else the legacy way, one
// request per group-version. Subresources (pods/status) are left out.
//
// Thread-safety: every method may be called from any thread; Refresh swaps the whole view at
// once, so readers see the old or the new one, never a mix.
class Discovery {
 public:
  // `min_refresh_interval` bounds how often ResolveOrRefresh may refresh, so that clients
  // asking for unknown names cannot turn each request into a full discovery.
  explicit Discovery(std::shared_ptr<RestClient> client,
                     absl::Duration min_refresh_interval = absl::Seconds(1));

  // Fetches everything again, so that CRDs created since are found. Errors (as RestClient)
  // when /api or /apis cannot be read; then the previous view is kept. A legacy group-version
  // that fails (an aggregated API whose backend is down) is skipped and listed by
  // FailedGroupVersions, as client-go does.
  absl::Status Refresh();

  // Every resource in every version, sorted by group, version, resource.
  std::vector<ResourceInfo> Resources() const;
  // One entry per group and resource: its preferred version (or, when the preferred version
  // does not serve it, the most preferred version that does).
  std::vector<ResourceInfo> PreferredResources() const;
  // Every group, core first, then in the server's order.
  std::vector<ApiGroupInfo> Groups() const;
  // Group-versions the last Refresh could not read, or that aggregated discovery marked stale.
  std::vector<std::string> FailedGroupVersions() const;
  // Whether the last Refresh used aggregated discovery.
  bool aggregated() const;

  // Resolves a name as kubectl does: a plural (`pods`), singular (`pod`), short name (`po`) or
  // kind (`Pod`), case-insensitively, optionally qualified by group (`deployments.apps`) or
  // version and group (`deployments.v1.apps`). Without a version, the group's preferred
  // version. When groups other than the core group both match, InvalidArgument listing the
  // qualified names to choose from; a core-group match wins over others (as `events` is the
  // core one for kubectl). NotFound with a hint when nothing matches.
  absl::StatusOr<ResourceInfo> Resolve(absl::string_view name) const;
  // Resolve, and when the name is unknown, Refresh once and try again (unless the last
  // refresh is more recent than min_refresh_interval).
  absl::StatusOr<ResourceInfo> ResolveOrRefresh(absl::string_view name);
  // The resource with exactly this group, version and resource; NotFound otherwise.
  absl::StatusOr<ResourceInfo> Find(const GroupVersionResource& gvr) const;

 private:
  struct View {
    std::vector<ResourceInfo> resources;  // sorted
    std::vector<ApiGroupInfo> groups;
    std::vector<std::string> failed;
    bool aggregated = false;
  };

  absl::StatusOr<bool> FetchAggregated(View* view);
  absl::Status FetchLegacy(View* view);
  std::shared_ptr<const View> view() const;

  std::shared_ptr<RestClient> client_;
  const absl::Duration min_refresh_interval_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const View> view_ ABSL_GUARDED_BY(mu_);
  absl::Time last_refresh_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace k8s
}  // namespace informer

#endif  // INFORMER_K8S_DISCOVERY_H_
