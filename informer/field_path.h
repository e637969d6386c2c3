// Field paths such as "spec.nodeName" or "metadata.ownerReferences[*].uid": parsing and lookup.
#ifndef INFORMER_FIELD_PATH_H_
#define INFORMER_FIELD_PATH_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "rapidjson/document.h"

namespace informer {

// One step of a field path: a member name, an array element, or every array element.
struct FieldPathStep {
  enum class Kind { kMember, kIndex, kEach };
  Kind kind = Kind::kMember;
  std::string member;  // kMember only
  size_t index = 0;    // kIndex only
};

// Parses `a.b[2].c[*]`. Member names are the text between dots; they may not contain '.', '['
// or ']'. After `metadata.labels.` or `metadata.annotations.` the rest of the path is one key
// (label keys contain dots and slashes, e.g. `metadata.labels.app.kubernetes.io/name`).
// InvalidArgument with the position on an empty path, an empty member, or a bad bracket.
absl::StatusOr<std::vector<FieldPathStep>> ParseFieldPath(absl::string_view path);

// Where and why a field path failed to parse.
struct FieldPathError {
  size_t position = 0;   // byte offset in the path
  std::string expected;  // e.g. "a field name"
};

// ParseFieldPath for callers that embed the path in a larger text (a field selector): on failure
// returns false and fills `error` instead of building a message.
bool ParseFieldPath(absl::string_view path, std::vector<FieldPathStep>* steps,
                    FieldPathError* error);

// Appends to `out` every scalar reached from `root` by `steps`: strings as-is, numbers in
// their JSON text (or decimal), booleans "true"/"false". Null, objects, arrays and missing
// members give nothing.
void CollectFieldValues(const rapidjson::Value& root, const std::vector<FieldPathStep>& steps,
                        std::vector<std::string>* out);
// As CollectFieldValues on a DOM whose numbers were parsed (ParseJson), for values extracted at
// decode time: false when it reached a non-integer number, whose JSON text the DOM no longer
// has (the caller then reads that path from the JSON text instead).
bool CollectFieldValuesExactly(const rapidjson::Value& root,
                               const std::vector<FieldPathStep>& steps,
                               std::vector<std::string>* out);
// CollectFieldValuesExactly without a vector: calls `visit` with each value, in order (the view
// is valid only during the call). False when it reached a non-integer number; values visited
// before that must then be discarded by the caller.
bool VisitFieldValuesExactly(const rapidjson::Value& root, const std::vector<FieldPathStep>& steps,
                             absl::FunctionRef<void(absl::string_view)> visit);

// A field path parsed once and read from many objects (a field index, a field selector's term),
// with where an Object keeps its values: in the parsed metadata or in the JSON (possibly
// extracted at decode, see ExtractedFieldPaths).
//
// Thread-safety: immutable.
class FieldPath {
 public:
  // Where the values of a path live in an Object.
  enum class Source {
    kJson,        // the object's JSON (or the values extracted from it at decode)
    kName,        // metadata.name
    kNamespace,   // metadata.namespace
    kLabel,       // metadata.labels.<key()>
    kAnnotation,  // metadata.annotations.<key()>
  };

  // InvalidArgument as ParseFieldPath.
  static absl::StatusOr<FieldPath> Parse(absl::string_view text);
  // From steps that ParseFieldPath made of `text`.
  FieldPath(std::string text, std::vector<FieldPathStep> steps);

  const std::string& text() const { return text_; }
  const std::vector<FieldPathStep>& steps() const { return steps_; }
  Source source() const { return source_; }
  // The label or annotation key (kLabel, kAnnotation); empty otherwise.
  const std::string& key() const;

 private:
  std::string text_;
  std::vector<FieldPathStep> steps_;
  Source source_ = Source::kJson;
};

}  // namespace informer

#endif  // INFORMER_FIELD_PATH_H_
