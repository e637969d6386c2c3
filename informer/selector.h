// Label and field selectors in Kubernetes' own syntax.
#ifndef INFORMER_SELECTOR_H_
#define INFORMER_SELECTOR_H_

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "informer/field_path.h"
#include "informer/object.h"

namespace informer {

// Caps on a selector's text, checked before any of it is parsed, so a hostile selector costs a
// scan of its bytes at most. The defaults are far above what controllers send (kubectl and
// client-go selectors are a few terms) and keep the per-object matching cost of a List or
// Subscribe small.
struct SelectorLimits {
  // Longest selector text, in bytes (--max_selector_bytes).
  size_t max_bytes = size_t{16} << 10;
  // Most comma-separated terms, counting each value of an `in (...)` set as one
  // (--max_selector_terms).
  size_t max_terms = 256;
};

// InvalidArgument naming the limit and its flag when `text` breaks `limits`; `what` names the
// selector ("label selector", "field selector"). Runs in time linear in the text's bytes.
absl::Status CheckSelectorLimits(absl::string_view text, const SelectorLimits& limits,
                                 absl::string_view what);

// A label selector: `a=b,c==d,e!=f,g in (x,y),h notin (z),i,!j`, plus the set-based
// comparison `k>1`/`k<1` that the API server accepts. The empty selector matches everything.
//
// Thread-safety: immutable after Parse.
class LabelSelector {
 public:
  enum class Operator {
    kEquals,
    kNotEquals,
    kIn,
    kNotIn,
    kExists,
    kDoesNotExist,
    kGreaterThan,
    kLessThan
  };
  struct Requirement {
    std::string key;
    Operator op = Operator::kExists;
    std::vector<std::string> values;  // sorted
  };

  // Matches everything.
  LabelSelector() = default;

  // Parses the syntax above. InvalidArgument with the position and what was expected on bad
  // syntax or an invalid label key/value (per Kubernetes' validation rules), or when the text
  // breaks `limits` (checked first).
  static absl::StatusOr<LabelSelector> Parse(absl::string_view text,
                                             const SelectorLimits& limits = SelectorLimits());

  bool Matches(const std::map<std::string, std::string>& labels) const;
  bool Matches(const Object& object) const { return Matches(object.meta().labels); }
  bool Empty() const { return requirements_.empty(); }
  const std::vector<Requirement>& requirements() const { return requirements_; }
  // Canonical text form (requirements sorted by key), parseable again.
  std::string ToString() const;

 private:
  std::vector<Requirement> requirements_;
};

// A field selector: `metadata.name=x,spec.nodeName!=y` (also `==`). Any field path the
// Object::FieldValues syntax accepts may be used (the API server supports only a few fields per
// resource; informerd filters its own cache, so it supports all). A path with no value compares
// as the empty string, as the API server does.
//
// Thread-safety: immutable after Parse.
class FieldSelector {
 public:
  struct Requirement {
    std::string path;
    bool equals = true;  // false for !=
    std::string value;
  };

  // Matches everything.
  FieldSelector() = default;

  // InvalidArgument with the position on bad syntax (e.g. a missing operator or an empty path),
  // or when the text breaks `limits` (checked first).
  static absl::StatusOr<FieldSelector> Parse(absl::string_view text,
                                             const SelectorLimits& limits = SelectorLimits());

  // Reads each requirement's path from the object (from memory for metadata and extracted
  // paths, see Object::VisitFieldValues); allocates nothing then.
  bool Matches(const Object& object) const;
  bool Empty() const { return requirements_.empty(); }
  const std::vector<Requirement>& requirements() const { return requirements_; }
  std::string ToString() const;

 private:
  std::vector<Requirement> requirements_;
  std::vector<FieldPath> paths_;  // requirements_[i].path, parsed
};

// Both selectors, plus an optional namespace: what List and Subscribe filter by.
struct ObjectFilter {
  std::string namespace_name;  // empty = all namespaces
  LabelSelector labels;
  FieldSelector fields;

  bool Matches(const Object& object) const;
  bool MatchesEverything() const;
};

}  // namespace informer

#endif  // INFORMER_SELECTOR_H_
