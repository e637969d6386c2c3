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

// The annotation `kubectl apply` keeps the whole applied manifest in: for a Secret, its data.
inline constexpr char kLastAppliedAnnotation[] = "kubectl.kubernetes.io/last-applied-configuration";

// Reduces the object to PartialObjectMetadata: drops every top-level member but `metadata`
// and sets `kind: PartialObjectMetadata`, `apiVersion: meta.k8s.io/v1`, as the API server
// serves objects asked for with `as=PartialObjectMetadata`. Those pass unchanged; a full object
// (a server that ignored the Accept header) keeps nothing but its metadata.
absl::Status ProjectToMetadata(rapidjson::Value& object,
                               rapidjson::Document::AllocatorType& allocator);

// For a core Secret (`kind: Secret`, `apiVersion: v1`): removes `data`, `stringData` and the
// kLastAppliedAnnotation annotation (which holds the data of a Secret created by `kubectl
// apply`). Leaves every other object as it is.
absl::Status RedactSecretData(rapidjson::Value& object,
                              rapidjson::Document::AllocatorType& allocator);

// The transforms an informer gets unless told otherwise: {StripManagedFields}.
std::vector<Transform> DefaultTransforms();

}  // namespace informer

#endif  // INFORMER_TRANSFORM_H_
