// Transforms: edits applied to each object once, before it is stored (I7).
#ifndef INFORMER_TRANSFORM_H_
#define INFORMER_TRANSFORM_H_

#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "rapidjson/document.h"

namespace informer {

// Edits one object's parsed JSON in place. Must not change metadata.namespace or
// metadata.name (the decoder rejects a transform that changes the key, I7).
using Transform = std::function<absl::Status(rapidjson::Value& object,
                                             rapidjson::Document::AllocatorType& allocator)>;

// Removes metadata.managedFields (U3). The default transform.
absl::Status StripManagedFields(rapidjson::Value& object,
                                rapidjson::Document::AllocatorType& allocator);

// Removes each listed annotation key, e.g. "kubectl.kubernetes.io/last-applied-configuration".
Transform StripAnnotations(std::vector<std::string> keys);

// The transforms an informer gets unless told otherwise: {StripManagedFields}.
std::vector<Transform> DefaultTransforms();

}  // namespace informer

#endif  // INFORMER_TRANSFORM_H_
