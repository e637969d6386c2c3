// The fast path of decoding: one pass over the compact JSON the API server sends, building the
// cached JSON by copying the input's bytes rather than through a DOM.
#ifndef INFORMER_COMPACT_JSON_H_
#define INFORMER_COMPACT_JSON_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "informer/field_path.h"
#include "informer/object.h"

namespace informer {

// What the fast path does to an object, the equivalent of Object::SetTypeMeta with these
// defaults followed by StripManagedFields when `strip_managed_fields`.
struct CompactDecodeOptions {
  absl::string_view default_api_version;  // "" = never inserted
  absl::string_view default_kind;         // "" = never inserted
  bool strip_managed_fields = false;
  // Whether to fill CompactObject::members (for extracting field paths); off, it costs nothing.
  bool record_members = false;
};

// An object decoded by the fast path: exactly what Object::FromJsonValue builds from the DOM
// (after SetTypeMeta and the transforms) for the same input.
struct CompactObject {
  std::string json;  // as RapidJSON's Writer would write the transformed DOM
  std::string api_version;
  std::string kind;
  ObjectMeta meta;
  // Where each top-level member's value is in `json` (inserted type meta included, removed
  // placeholders not, in the order of `json`), so a caller can parse only the members it needs
  // (the extracted field paths'). Filled only with CompactDecodeOptions::record_members.
  struct Member {
    std::string name;  // unescaped
    size_t begin = 0;  // the value is json[begin, end)
    size_t end = 0;
  };
  std::vector<Member> members;
};

// Decodes the JSON object `text` without a DOM. Returns false whenever the result might differ
// from the DOM path's, which the caller then takes (and which also reports every error): on
// malformed JSON, whitespace between tokens (the API server writes none), numbers other than
// 64-bit integers, nesting deeper than kMaxJsonDepth (counting `enclosing_depth` levels around
// the object), invalid UTF-8, a repeated member the DOM path reads (apiVersion, kind, metadata
// and its fields), or metadata of an unexpected shape. Escapes are kept where RapidJSON's Writer
// writes the same and rewritten where it would not (`\/`, `\u003c`, ...), so the output is
// byte-identical to the DOM path's.
bool DecodeCompactObject(absl::string_view text, const CompactDecodeOptions& options,
                         int enclosing_depth, CompactObject* out);

// The type of a watch event the fast path decodes (ERROR and BOOKMARK are left to the DOM path).
enum class CompactEventType { kAdded, kModified, kDeleted };

// DecodeCompactObject for a whole watch frame `{"type":"ADDED","object":{...}}` (the type must
// come before the object, as the API server writes it). False as above, and for event types other
// than ADDED, MODIFIED and DELETED.
bool DecodeCompactWatchEvent(absl::string_view frame, const CompactDecodeOptions& options,
                             CompactEventType* type, CompactObject* out);

// One field path for CollectCompactFieldValues: its steps and where its values go.
struct CompactFieldPath {
  const std::vector<FieldPathStep>* steps;
  std::vector<std::string>* values;
};

// Appends to each path's `values` what CollectFieldValuesExactly appends for its steps
// [first_step, end) on a DOM of `value`, reading the text once for all of them, without a DOM.
// `value` is one JSON value of a CompactObject's json (a member's [begin, end), for paths whose
// first step is that member). REQUIRES: `value` is as DecodeCompactObject writes it: compact,
// RapidJSON Writer's escapes, integer numbers only (so every value is exact).
void CollectCompactFieldValues(absl::string_view value, absl::Span<const CompactFieldPath> paths,
                               size_t first_step);

}  // namespace informer

#endif  // INFORMER_COMPACT_JSON_H_
