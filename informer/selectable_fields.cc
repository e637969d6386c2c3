#include "informer/selectable_fields.h"

#include <cstddef>

namespace informer {
namespace {

struct SelectableFields {
  const char* group;
  const char* resource;
  std::vector<const char*> paths;
};

// Read from the API server's registry (kubernetes/kubernetes, pkg/registry/<group>/<resource>/
// strategy.go: GetAttrs / *ToSelectableFields, and the field label conversions of
// pkg/apis/<group>/<version>/conversion.go), v1.34-era. The API server's field names are kept
// where they are the JSON path of the value; where they are not, the API server's name is still
// extracted (it gives the same answer informerd gives today, only from memory) and the comment
// says what differs. informerd compares JSON values, so some answers differ from the API
// server's by design: a missing bool is "" (the API server says "false"), a missing count is ""
// (the API server says "0").
const std::vector<SelectableFields>& Table() {
  static const auto* const table = new std::vector<SelectableFields>{
      // core/pod: ToSelectableFields. status.podIPs is accepted by the conversion but never
      // set (it always compares as ""); spec.hostNetwork is a bool.
      {"",
       "pods",
       {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
        "spec.hostNetwork", "status.phase", "status.podIP", "status.podIPs",
        "status.nominatedNodeName"}},
      // core/event: EventToSelectableFields. The API server's "source" is source.component
      // (falling back to reportingComponent); informerd reads the JSON path "source", an
      // object, so source.component is extracted as well.
      {"",
       "events",
       {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
        "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
        "involvedObject.fieldPath", "reason", "reportingComponent", "source", "source.component",
        "type"}},
      // events.k8s.io: the same storage; its wire names (regarding.*, reportingController).
      {"events.k8s.io",
       "events",
       {"regarding.kind", "regarding.namespace", "regarding.name", "regarding.uid",
        "regarding.apiVersion", "regarding.resourceVersion", "regarding.fieldPath", "reason",
        "reportingController", "type"}},
      // core/secret: SelectableFields.
      {"", "secrets", {"type"}},
      // core/node: NodeToSelectableFields (a bool).
      {"", "nodes", {"spec.unschedulable"}},
      // core/namespace: NamespaceToSelectableFields.
      {"", "namespaces", {"status.phase"}},
      // core/service: SelectableFields.
      {"", "services", {"spec.clusterIP", "spec.type"}},
      // core/replicationcontroller and apps/replicaset: *ToSelectableFields (a count).
      {"", "replicationcontrollers", {"status.replicas"}},
      {"apps", "replicasets", {"status.replicas"}},
      // batch/job: JobToSelectableFields names Status.Succeeded "status.successful"; the JSON
      // field is status.succeeded.
      {"batch", "jobs", {"status.successful", "status.succeeded"}},
      // certificates: CSRs, ClusterTrustBundles and PodCertificateRequests.
      {"certificates.k8s.io", "certificatesigningrequests", {"spec.signerName"}},
      {"certificates.k8s.io", "clustertrustbundles", {"spec.signerName"}},
      {"certificates.k8s.io",
       "podcertificaterequests",
       {"spec.signerName", "spec.podName", "spec.nodeName"}},
      // resource/resourceslice: toSelectableFields.
      {"resource.k8s.io", "resourceslices", {"spec.nodeName", "spec.driver"}},
  };
  return *table;
}

}  // namespace

std::vector<std::string> SelectableFieldPaths(const GroupVersionResource& gvr) {
  for (const SelectableFields& entry : Table()) {
    if (gvr.group == entry.group && gvr.resource == entry.resource) {
      return std::vector<std::string>(entry.paths.begin(), entry.paths.end());
    }
  }
  return {};
}

}  // namespace informer
