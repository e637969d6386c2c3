// The fast path of decoding: one pass over the compact JSON the API server sends, building the
// cached JSON by copying the input's bytes rather than through a DOM.
#ifndef INFORMER_COMPACT_JSON_H_
#define INFORMER_COMPACT_JSON_H_

#include <string>

#include "absl/strings/string_view.h"
#include "informer/object.h"

namespace informer {

// What the fast path does to an object, the equivalent of Object::SetTypeMeta with these
// defaults followed by StripManagedFields when `strip_managed_fields`.
struct CompactDecodeOptions {
  absl::string_view default_api_version;  // "" = never inserted
  absl::string_view default_kind;         // "" = never inserted
  bool strip_managed_fields = false;
};

// An object decoded by the fast path: exactly what Object::FromJsonValue builds from the DOM
// (after SetTypeMeta and the transforms) for the same input.
struct CompactObject {
  std::string json;  // as RapidJSON's Writer would write the transformed DOM
  std::string api_version;
  std::string kind;
  ObjectMeta meta;
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

}  // namespace informer

#endif  // INFORMER_COMPACT_JSON_H_
