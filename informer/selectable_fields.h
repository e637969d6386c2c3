// The field paths the Kubernetes API server supports in field selectors, per resource.
#ifndef INFORMER_SELECTABLE_FIELDS_H_
#define INFORMER_SELECTABLE_FIELDS_H_

#include <string>
#include <vector>

#include "informer/resource.h"

namespace informer {

// The field-selector paths the API server itself supports for `gvr` beyond metadata.name and
// metadata.namespace (which every object answers from its parsed metadata), spelled as the
// JSON paths informerd's field selectors read: e.g. for pods spec.nodeName, status.phase, ...
// Empty for resources whose selectors are metadata only (custom resources included: their
// selectableFields live in the CRD, which discovery does not report). The informer extracts
// these paths at decode (ExtractedFieldPaths), so selectors that clients actually send are
// answered from memory. The version is ignored: no resource's set differs between versions.
std::vector<std::string> SelectableFieldPaths(const GroupVersionResource& gvr);

}  // namespace informer

#endif  // INFORMER_SELECTABLE_FIELDS_H_
