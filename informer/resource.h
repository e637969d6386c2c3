// Names of Kubernetes resources: group/version/resource and what discovery says about one.
#ifndef INFORMER_RESOURCE_H_
#define INFORMER_RESOURCE_H_

#include <string>
#include <vector>

namespace informer {

// A resource type as the REST API addresses it, e.g. {"apps", "v1", "deployments"}.
// The core group is the empty string.
struct GroupVersionResource {
  std::string group;
  std::string version;
  std::string resource;

  // "deployments.v1.apps", or "configmaps.v1" for the core group (kubectl's fully qualified form).
  std::string ToString() const;
  // "apps/v1" or "v1": the apiVersion objects of this resource carry.
  std::string ApiVersion() const;

  friend bool operator==(const GroupVersionResource& a, const GroupVersionResource& b) {
    return a.group == b.group && a.version == b.version && a.resource == b.resource;
  }
  friend bool operator<(const GroupVersionResource& a, const GroupVersionResource& b) {
    if (a.group != b.group) return a.group < b.group;
    if (a.version != b.version) return a.version < b.version;
    return a.resource < b.resource;
  }
  template <typename H>
  friend H AbslHashValue(H h, const GroupVersionResource& gvr) {
    return H::combine(std::move(h), gvr.group, gvr.version, gvr.resource);
  }
};

// What discovery knows about one resource. Filled by informer/k8s/discovery or by hand in tests.
struct ResourceInfo {
  GroupVersionResource gvr;
  std::string kind;  // "Deployment"
  bool namespaced = true;
  std::vector<std::string> verbs;        // "list", "watch", ...
  std::vector<std::string> short_names;  // "deploy"
  std::string singular_name;             // "deployment"

  bool SupportsListWatch() const;
};

}  // namespace informer

#endif  // INFORMER_RESOURCE_H_
