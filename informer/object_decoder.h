// Turns JSON from the API server into cached Objects: type meta, transforms, freeze.
#ifndef INFORMER_OBJECT_DECODER_H_
#define INFORMER_OBJECT_DECODER_H_

#include <vector>

#include "absl/status/statusor.h"
#include "informer/object.h"
#include "informer/resource.h"
#include "informer/transform.h"
#include "rapidjson/document.h"

namespace informer {

// Decodes objects of one resource. The ListerWatcher calls it on each item of a LIST and
// each object of a WATCH event, so every object is parsed once and transformed once.
//
// Thread-safety: immutable after construction; Decode may run on any thread.
class ObjectDecoder {
 public:
  ObjectDecoder(const ResourceInfo& resource, std::vector<Transform> transforms);

  // Sets apiVersion/kind when absent, runs the transforms in order, checks the key did not
  // change, and freezes the result. InvalidArgument naming the object on any failure.
  absl::StatusOr<ObjectPtr> Decode(rapidjson::Value& value,
                                   rapidjson::Document::AllocatorType& allocator) const;

  const ResourceInfo& resource() const { return resource_; }

 private:
  ResourceInfo resource_;
  std::string api_version_;
  std::vector<Transform> transforms_;
};

}  // namespace informer

#endif  // INFORMER_OBJECT_DECODER_H_
