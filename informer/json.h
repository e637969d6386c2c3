// Parsing JSON that comes from outside the process (the API server, files, plugins) with the
// limits every such parser needs: no recursion, a nesting cap, valid UTF-8.
#ifndef INFORMER_JSON_H_
#define INFORMER_JSON_H_

#include <cstddef>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "rapidjson/document.h"

namespace informer {

// The deepest nesting of objects and arrays accepted: the API server's decoder (sigs.k8s.io/json,
// a fork of Go's encoding/json, whose scanner stops at maxNestingDepth 10000 with "exceeded max
// depth") refuses deeper JSON, so no stored object is deeper. It keeps the recursive walks over
// a parsed document (writing it back out, copying) within a thread's stack.
inline constexpr int kMaxJsonDepth = 10000;

// Parses `json` into `document`: iteratively (the parser's stack is on the heap), with numbers
// converted exactly, every string and key checked to be valid UTF-8 (after unescaping, so a
// \u escape of a lone surrogate is refused too), and at most kMaxJsonDepth levels.
// InvalidArgument naming the offset and the problem (the document is then null). Unlike
// Document::Parse this sets no parse error in `document`: use the status.
absl::Status ParseJson(absl::string_view json, rapidjson::Document* document);

// ParseJson in situ: strings are unescaped inside `text`, which must stay alive and unchanged
// while `document` is used. `text` must end in a NUL unless `stop_when_done`, which ends the
// parse after the first complete value (the rest of `text` is not read).
absl::Status ParseJsonInsitu(char* text, rapidjson::Document* document, bool stop_when_done);

// Whether `text` is valid UTF-8 (RFC 3629: shortest forms, no surrogates, at most U+10FFFF).
bool IsValidUtf8(absl::string_view text);

// The length of the valid UTF-8 sequence that starts at `p` (a byte >= 0x80) and ends before
// `end`, as IsValidUtf8 judges it; 0 when it is not one.
int Utf8SequenceLength(const char* p, const char* end);

// The same for JSON that informerd wrote itself (an Object's json()), where numbers are wanted
// as their original text: kParseNumbersAsStringsFlag. Iterative, capped as above.
absl::Status ParseJsonNumbersAsStrings(absl::string_view json, rapidjson::Document* document);

}  // namespace informer

#endif  // INFORMER_JSON_H_
