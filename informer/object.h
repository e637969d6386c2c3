// The cached Kubernetes object: immutable, shared, never copied per reader.
#ifndef INFORMER_OBJECT_H_
#define INFORMER_OBJECT_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "informer/field_path.h"
#include "informer/json_compression.h"
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
// so that Object::FieldValues and field selectors answer them from memory instead of re-parsing
// the JSON: the paths of the informer's field indexes (index upkeep reads them for the old and
// the new object of every change) and the field-selector paths the API server supports for the
// resource (SelectableFieldPaths). Shared by every object of one informer.
//
// Thread-safety: immutable.
class ExtractedFieldPaths {
 public:
  static constexpr size_t kMaxPaths = 64;
  // What Find returns for a path that is not extracted.
  static constexpr size_t kNotExtracted = ~size_t{0};

  // Paths that do not parse, repeats, paths answered from the parsed metadata anyway
  // (metadata.name, metadata.namespace, metadata.labels.*, metadata.annotations.*) and paths
  // beyond kMaxPaths are left out (they are read as before).
  explicit ExtractedFieldPaths(const std::vector<std::string>& paths);

  size_t size() const { return paths_.size(); }
  const std::string& path(size_t i) const { return paths_[i].text(); }
  const std::vector<FieldPathStep>& steps(size_t i) const { return paths_[i].steps(); }
  // The index of `path` (its exact text), or kNotExtracted.
  size_t Find(absl::string_view path) const;

 private:
  std::vector<FieldPath> paths_;
  absl::flat_hash_map<std::string, size_t> index_;  // text -> index in paths_
};

// The values of one object's extracted paths packed in one allocation (a table of offsets, then
// the characters), so that extraction costs few bytes per object: nothing at all when no path
// has a value.
//
// Thread-safety: immutable after Build.
class PackedFieldValues {
 public:
  // Collects the values path by path: Add each value of path 0, EndPath, then path 1, ...
  class Builder {
   public:
    void Add(absl::string_view value);
    // Forgets the values added since the last EndPath (a path found not extractable).
    void DropPath();
    void EndPath();
    PackedFieldValues Build() const;

   private:
    absl::InlinedVector<uint32_t, 16> path_ends_;   // values added when each path ended
    absl::InlinedVector<uint32_t, 16> value_ends_;  // end of each value in chars_
    absl::InlinedVector<char, 256> chars_;
  };

  // Calls `visit` with each value of path `i` (the view lives as long as this object).
  // REQUIRES: `i` is below the number of paths built.
  void Visit(size_t i, absl::FunctionRef<void(absl::string_view)> visit) const;
  // Heap bytes held.
  size_t bytes() const { return bytes_; }

 private:
  // uint32 path count P, P uint32 path ends (in values), V uint32 value ends (in chars), chars;
  // null when no path has a value.
  std::unique_ptr<char[]> data_;
  size_t bytes_ = 0;
};

// An object as cached: its JSON exactly as the API server sent it (after transforms), with
// `kind` and `apiVersion` always present, plus parsed metadata. The JSON is kept compressed
// with the resource's dictionary when the informer's JsonCompressor gives one (see
// json_compression.h); every accessor gives the same text either way.
//
// Thread-safety: immutable after construction; share it as ObjectPtr from any thread (I8).
class Object {
 public:
  // Builds an Object from a parsed JSON object. Sets `apiVersion` and `kind` from
  // `default_api_version`/`default_kind` when the JSON lacks them (U1). `value` may be modified
  // (that is how the fields get inserted). Returns InvalidArgument when `value` is not an
  // object or has no metadata.name.
  // `extract`, when given, names the field paths whose values are extracted now from `value`
  // (see ExtractedFieldPaths). `compressor`, when given, says whether and how the JSON is kept
  // compressed.
  static absl::StatusOr<std::shared_ptr<const Object>> FromJsonValue(
      rapidjson::Value& value, rapidjson::Document::AllocatorType& allocator,
      absl::string_view default_api_version, absl::string_view default_kind,
      std::shared_ptr<const ExtractedFieldPaths> extract = nullptr,
      JsonCompressor* compressor = nullptr);

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
      absl::string_view default_kind = "", JsonCompressor* compressor = nullptr);

  // Builds an Object from what a decoder that did not build a DOM (DecodeCompactObject) read:
  // `json` is the compact JSON FromJsonValue would have written, `meta`, `api_version` and
  // `kind` what it would have read. The values of `extract`'s paths are taken from
  // `extracted_values` (one vector per path, each read exactly, as CollectFieldValuesExactly
  // reads it; copied into the object's PackedFieldValues) or, when that is null, from a parse of
  // `json`. `compressor` as for FromJsonValue.
  static std::shared_ptr<const Object> FromDecoded(
      std::string json, std::string api_version, std::string kind, ObjectMeta meta,
      std::shared_ptr<const ExtractedFieldPaths> extract = nullptr,
      std::vector<std::vector<std::string>>* extracted_values = nullptr,
      JsonCompressor* compressor = nullptr);

  // The compact JSON text of the whole object, copied (decompressed when kept compressed).
  // Serving paths use SharedJson, which copies nothing for an object kept plain.
  std::string json() const;
  // The JSON text without a copy when kept plain; else decompressed into `*buffer`. The view
  // lives as long as the object and `*buffer`.
  absl::string_view PlainJson(std::string* buffer) const;
  // Its length in bytes, without decompressing.
  size_t json_size() const { return json_size_; }
  // Bytes the JSON takes as kept: json_size(), or its compressed frame's.
  size_t json_stored_size() const { return json_.size(); }
  // Whether the JSON is kept compressed.
  bool json_compressed() const { return dictionary_ != nullptr; }
  // The JSON text of `object`, alive as long as the pointer: the object's own string (the
  // pointer shares the object's ownership) when kept plain; else the decompressed text, one
  // copy shared by every caller while any holds it, and kept after by a ring of the last 4 096
  // texts decompressed (16 MiB at most), so a change fanned out to many streams is decompressed
  // once, not once per stream. REQUIRES: `object` is not null.
  static std::shared_ptr<const std::string> SharedJson(const std::shared_ptr<const Object>& object);
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
  // are answered from memory; any other path parses the JSON. A malformed path gives nothing.
  std::vector<std::string> FieldValues(absl::string_view path) const;
  // The same for a parsed path.
  std::vector<std::string> FieldValues(const FieldPath& path) const;
  // The same values, passed one by one to `visit` (views valid during the call only), without
  // allocating when they are answered from memory: what field selectors and indexes use.
  void VisitFieldValues(const FieldPath& path,
                        absl::FunctionRef<void(absl::string_view)> visit) const;
  // VisitFieldValues when the values are in memory (metadata or extracted values; the views
  // then live as long as this object) and true; false, visiting nothing, when they would have
  // to be read from the JSON.
  bool VisitFieldValuesInMemory(const FieldPath& path,
                                absl::FunctionRef<void(absl::string_view)> visit) const;

  // Approximate heap bytes held by this object (for metrics and the history ring bound).
  // Computed once, when the object is built: the store reads it on every change.
  size_t ApproximateBytes() const { return approximate_bytes_; }

 private:
  Object() = default;

  // Sets key_ and resource_version_number_ from meta_, the values of `extract`'s paths from
  // `value` (the object's DOM) when both are given (values already set are kept otherwise), and
  // approximate_bytes_. REQUIRES: json_ and the rest of the object are final.
  void Finish(const rapidjson::Value* value, std::shared_ptr<const ExtractedFieldPaths> extract);
  // SharedJson of a compressed object: the text someone holds, or a new one decompressed (then
  // `*decompressed` is set).
  static std::shared_ptr<const std::string> DecompressShared(
      const std::shared_ptr<const Object>& object, bool* decompressed);
  // Keeps json_ compressed when `compressor` gives a dictionary and the result is smaller.
  void MaybeCompress(JsonCompressor* compressor);
  // Extracts the values of `extract`'s paths from `value`, the object's JSON.
  void ExtractFieldValues(const rapidjson::Value& value,
                          std::shared_ptr<const ExtractedFieldPaths> extract);
  // The index of `path` among the extracted paths when its values are in extracted_, else
  // ExtractedFieldPaths::kNotExtracted.
  size_t ExtractedIndex(const FieldPath& path) const;
  // What ApproximateBytes returns; REQUIRES: every other member is set.
  size_t ComputeApproximateBytes() const;

  // The JSON text, or its zstd frame when dictionary_ is set.
  std::string json_;
  size_t json_size_ = 0;  // of the plain text
  std::shared_ptr<const JsonDictionary> dictionary_;
  // SharedJson's decompressed text while someone holds it (reset when the last holder lets go).
  mutable absl::Mutex shared_json_mu_;
  mutable std::weak_ptr<const std::string> shared_json_ ABSL_GUARDED_BY(shared_json_mu_);
  std::string api_version_;
  std::string kind_;
  std::string key_;
  uint64_t resource_version_number_ = 0;
  ObjectMeta meta_;
  // Values at extract_->path(i) when bit i of extracted_mask_ is set (a path that reached a
  // non-integer number is not extracted: its text is read from json_).
  std::shared_ptr<const ExtractedFieldPaths> extract_;
  PackedFieldValues extracted_;
  uint64_t extracted_mask_ = 0;
  size_t approximate_bytes_ = 0;
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
