// Turns JSON from the API server into cached Objects: type meta, transforms, freeze.
#ifndef INFORMER_OBJECT_DECODER_H_
#define INFORMER_OBJECT_DECODER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "informer/compact_json.h"
#include "informer/json_compression.h"
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
  // `extracted_field_paths`: field paths whose values each decoded object keeps in memory
  // (ExtractedFieldPaths; the informer's field-index paths). `compression`, when given and
  // enabled, keeps the objects' JSON compressed with a dictionary trained on the first of them
  // (JsonCompressor); without it every object keeps its JSON plain.
  ObjectDecoder(const ResourceInfo& resource, std::vector<Transform> transforms,
                const std::vector<std::string>& extracted_field_paths = {},
                const JsonCompressionOptions* compression = nullptr);

  // Sets apiVersion/kind when absent, runs the transforms in order, checks the key did not
  // change, and freezes the result. InvalidArgument naming the object on any failure; when a
  // transform failed (or changed the key, I7) the error is also a transform error
  // (IsTransformError): a WATCH drops that one event and goes on, a LIST fails (I15).
  absl::StatusOr<ObjectPtr> Decode(rapidjson::Value& value,
                                   rapidjson::Document::AllocatorType& allocator) const;

  // The fast path: decodes the watch frame `frame` (a whole `{"type":...,"object":{...}}`)
  // without a DOM, to the same object as parsing it and calling Decode on its object. False when
  // it cannot (see DecodeCompactWatchEvent: anything unusual, every error, ERROR and BOOKMARK
  // events) or when the transforms are other than StripManagedFields; the caller then takes the
  // DOM path, which also reports the error.
  bool DecodeCompactEvent(absl::string_view frame, CompactEventType* type, ObjectPtr* object) const;

  const ResourceInfo& resource() const { return resource_; }

 private:
  ResourceInfo resource_;
  std::string api_version_;
  std::vector<Transform> transforms_;
  std::shared_ptr<const ExtractedFieldPaths> extract_;  // null when there is nothing to extract
  // Null when compression is off. Thread-safe itself: Decode's constness is the decoder's.
  std::shared_ptr<JsonCompressor> compressor_;
  // Whether the transforms are ones the fast path does itself (none, or StripManagedFields).
  bool compact_ok_ = false;
  bool strip_managed_fields_ = false;
  // Whether the fast path reads extract_'s paths from the text of the top-level members they
  // start with (CollectCompactFieldValues); false when there is nothing to extract.
  bool extract_from_members_ = false;
};

// Whether `status`, an error of ObjectDecoder::Decode, is a transform's failure (I15).
bool IsTransformError(const absl::Status& status);

// metadata.resourceVersion of an object's JSON, "" when absent.
std::string ResourceVersionOfJson(const rapidjson::Value& value);

}  // namespace informer

#endif  // INFORMER_OBJECT_DECODER_H_
