// The cached Kubernetes object: immutable, shared, never copied per reader.
#ifndef INFORMER_OBJECT_H_
#define INFORMER_OBJECT_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "informer/field_path.h"
#include "rapidjson/document.h"

namespace informer {

// metadata.ownerReferences[i].
struct OwnerReference {
  std::string api_version;
  std::string kind;
  std::string name;
  std::string uid;
  bool controller = false;
};

// The parsed `metadata` of an object: what keys, indexes and selectors need without re-parsing.
struct ObjectMeta {
  std::string namespace_name;  // empty for cluster-scoped objects
  std::string name;
  std::string uid;
  std::string resource_version;
  int64_t generation = 0;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::vector<OwnerReference> owner_references;
  std::string deletion_timestamp;  // RFC 3339; empty when not being deleted
};

// Field paths whose values are extracted once per object version, when the object is decoded,
// so that Object::FieldValues answers them from memory instead of re-parsing the JSON: the
// paths of the informer's field indexes (index upkeep reads them for the old and the new
// object of every change) and so also field selectors on those paths. Shared by every object
// of one informer.
//
// Thread-safety: immutable.
class ExtractedFieldPaths {
 public:
  static constexpr size_t kMaxPaths = 64;
  // Paths that do not parse, repeats and paths beyond kMaxPaths are left out (they are read
  // from the JSON as before).
  explicit ExtractedFieldPaths(const std::vector<std::string>& paths);

  size_t size() const { return paths_.size(); }
  const std::string& path(size_t i) const { return paths_[i]; }
  const std::vector<FieldPathStep>& steps(size_t i) const { return steps_[i]; }

 private:
  std::vector<std::string> paths_;
  std::vector<std::vector<FieldPathStep>> steps_;
};

// An object as cached: its JSON exactly as the API server sent it (after transforms), with
// `kind` and `apiVersion` always present, plus parsed metadata.
//
// Thread-safety: immutable after construction; share it as ObjectPtr from any thread (I8).
class Object {
 public:
  // Builds an Object from a parsed JSON object. Sets `apiVersion` and `kind` from
  // `default_api_version`/`default_kind` when the JSON lacks them (U1). `value` may be modified
  // (that is how the fields get inserted). Returns InvalidArgument when `value` is not an
  // object or has no metadata.name.
  // `extract`, when given, names the field paths whose values are extracted now from `value`
  // (see ExtractedFieldPaths).
  static absl::StatusOr<std::shared_ptr<const Object>> FromJsonValue(
      rapidjson::Value& value, rapidjson::Document::AllocatorType& allocator,
      absl::string_view default_api_version, absl::string_view default_kind,
      std::shared_ptr<const ExtractedFieldPaths> extract = nullptr);

  // Inserts `apiVersion`/`kind` as the first members of `value` when they are absent or empty
  // and the defaults are not empty (U1); members already present keep their place.
  // InvalidArgument when `value` is not an object or one of them is present but not a string.
  static absl::Status SetTypeMeta(rapidjson::Value& value,
                                  rapidjson::Document::AllocatorType& allocator,
                                  absl::string_view default_api_version,
                                  absl::string_view default_kind);

  // Parses `json` and calls FromJsonValue. InvalidArgument on malformed JSON, with the offset.
  static absl::StatusOr<std::shared_ptr<const Object>> FromJson(
      absl::string_view json, absl::string_view default_api_version = "",
      absl::string_view default_kind = "");

  // Builds an Object from what a decoder that did not build a DOM (DecodeCompactObject) read:
  // `json` is the compact JSON FromJsonValue would have written, `meta`, `api_version` and
  // `kind` what it would have read. The values of `extract`'s paths are taken from
  // `extracted_values` (one vector per path, each read exactly, as CollectFieldValuesExactly
  // reads it; moved from) or, when that is null, from a parse of `json`.
  static std::shared_ptr<const Object> FromDecoded(
      std::string json, std::string api_version, std::string kind, ObjectMeta meta,
      std::shared_ptr<const ExtractedFieldPaths> extract = nullptr,
      std::vector<std::vector<std::string>>* extracted_values = nullptr);

  // The compact JSON text of the whole object.
  const std::string& json() const { return json_; }
  const std::string& api_version() const { return api_version_; }
  const std::string& kind() const { return kind_; }
  const ObjectMeta& meta() const { return meta_; }
  // "namespace/name", or "name" for cluster-scoped objects (K1).
  const std::string& key() const { return key_; }
  // The resourceVersion parsed as an integer; 0 when it is not one.
  uint64_t resource_version_number() const { return resource_version_number_; }

  // Every value found at a field path such as "spec.nodeName", "metadata.labels.app" or
  // "metadata.ownerReferences[*].uid" (`[*]` fans out over an array, `[2]` picks one
  // element). Scalars are rendered as the API server would in a field selector: strings
  // as-is, numbers in decimal, booleans "true"/"false". Missing paths give no values.
  // metadata.name/namespace/labels/annotations and the extracted paths (ExtractedFieldPaths)
  // are answered from memory; any other path parses the JSON.
  std::vector<std::string> FieldValues(absl::string_view path) const;

  // Approximate heap bytes held by this object (for metrics and the history ring bound).
  size_t ApproximateBytes() const;

 private:
  Object() = default;

  // Sets key_ and resource_version_number_ from meta_, and the values of `extract`'s paths
  // from `value` (the object's DOM; null when it could not be had).
  void Finish(const rapidjson::Value* value, std::shared_ptr<const ExtractedFieldPaths> extract);

  std::string json_;
  std::string api_version_;
  std::string kind_;
  std::string key_;
  uint64_t resource_version_number_ = 0;
  ObjectMeta meta_;
  // Values at extract_->path(i) when bit i of extracted_mask_ is set (a path that reached a
  // non-integer number is not extracted: its text is read from json_).
  std::shared_ptr<const ExtractedFieldPaths> extract_;
  std::vector<std::vector<std::string>> extracted_;
  uint64_t extracted_mask_ = 0;
};

using ObjectPtr = std::shared_ptr<const Object>;

// The key of an object: "namespace/name" or "name" (K1).
std::string ObjectKey(absl::string_view namespace_name, absl::string_view name);

// A deletion observed only through a relist: the key and the last state we knew (K2).
// client-go's cache.DeletedFinalStateUnknown.
struct DeletedFinalStateUnknown {
  std::string key;
  ObjectPtr obj;  // last known state; never null
};

// What a Delta or a delete notification carries: the object, or a tombstone.
using DeltaObject = std::variant<ObjectPtr, DeletedFinalStateUnknown>;

// The key of either alternative (K1, K2).
const std::string& KeyOf(const DeltaObject& object);
// The object itself, or the tombstone's last known state.
const ObjectPtr& ObjectOf(const DeltaObject& object);

}  // namespace informer

#endif  // INFORMER_OBJECT_H_
