#include "informer/compact_json.h"

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "absl/container/inlined_vector.h"
#include "absl/strings/numbers.h"
#include "informer/json.h"

namespace informer {
namespace {

constexpr uint64_t kOnes = 0x0101010101010101ULL;
constexpr uint64_t kHighBits = 0x8080808080808080ULL;

// Whether any byte of `word` is zero / below `n` (n <= 128): exact, as booleans.
inline uint64_t HasZeroByte(uint64_t word) { return (word - kOnes) & ~word & kHighBits; }
inline uint64_t HasByteBelow(uint64_t word, uint64_t n) {
  return (word - kOnes * n) & ~word & kHighBits;
}

// The first byte at or after `p` (before `end`) that is a quote, a backslash, a control
// character or not ASCII: what a string scan must look at; the rest it skips in blocks.
const char* SkipPlainStringBytes(const char* p, const char* end) {
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i space = _mm_set1_epi8(0x20);
  while (end - p >= 16) {
    const __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    // Signed, bytes >= 0x80 are negative: one compare finds controls and non-ASCII.
    const __m128i special =
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(block, quote), _mm_cmpeq_epi8(block, backslash)),
                     _mm_cmplt_epi8(block, space));
    const int mask = _mm_movemask_epi8(special);
    if (mask != 0) return p + __builtin_ctz(static_cast<unsigned>(mask));
    p += 16;
  }
#endif
  while (end - p >= 8) {
    uint64_t word;
    std::memcpy(&word, p, sizeof(word));
    const uint64_t special = HasZeroByte(word ^ (kOnes * '"')) |
                             HasZeroByte(word ^ (kOnes * '\\')) | HasByteBelow(word, 0x20) |
                             (word & kHighBits);
    if (special != 0) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
      // The lowest flagged byte is exact (false positives only follow a true one).
      return p + __builtin_ctzll(special) / 8;
#else
      return p;
#endif
    }
    p += 8;
  }
  return p;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Appends `code` (a Unicode scalar value) as UTF-8.
void AppendUtf8(uint32_t code, std::string* out) {
  if (code < 0x80) {
    out->push_back(static_cast<char>(code));
  } else if (code < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (code >> 6)));
    out->push_back(static_cast<char>(0x80 | (code & 0x3F)));
  } else if (code < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (code >> 12)));
    out->push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (code & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (code >> 18)));
    out->push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (code & 0x3F)));
  }
}

// The four hex digits at `p`, which the caller has checked are hex digits.
uint32_t CheckedHex4(const char* p) {
  uint32_t code = 0;
  for (int i = 0; i < 4; ++i) code = code << 4 | static_cast<uint32_t>(HexValue(p[i]));
  return code;
}

// Appends the JSON string body `body` (no quotes) unescaped. REQUIRES: its escapes are valid
// and its surrogates pair: the scanner checked them (ScanEscape), or RapidJSON's Writer wrote
// them.
void AppendUnescaped(absl::string_view body, std::string* out) {
  for (const char *p = body.data(), *end = p + body.size(); p < end;) {
    if (*p != '\\') {
      out->push_back(*p++);
      continue;
    }
    const char e = p[1];
    p += 2;
    switch (e) {
      case 'b':
        out->push_back('\b');
        break;
      case 'f':
        out->push_back('\f');
        break;
      case 'n':
        out->push_back('\n');
        break;
      case 'r':
        out->push_back('\r');
        break;
      case 't':
        out->push_back('\t');
        break;
      case 'u': {
        uint32_t code = CheckedHex4(p);
        p += 4;
        if (code >= 0xD800 && code <= 0xDBFF) {  // a surrogate pair: \uD8xx\uDCxx
          const uint32_t low = CheckedHex4(p + 2);
          p += 6;
          code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
        }
        AppendUtf8(code, out);
        break;
      }
      default:  // '"', '\\', '/'
        out->push_back(e);
    }
  }
}

// Appends `value` as a JSON string the way RapidJSON's Writer escapes it: `"` and `\`, the
// control characters (\b \t \n \f \r short, the rest \u00XX with upper-case hex), nothing else.
void AppendWriterString(absl::string_view value, std::string* out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  out->push_back('"');
  for (const char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && c != '"' && c != '\\') {
      out->push_back(c);
      continue;
    }
    out->push_back('\\');
    switch (c) {
      case '"':
      case '\\':
        out->push_back(c);
        break;
      case '\b':
        out->push_back('b');
        break;
      case '\t':
        out->push_back('t');
        break;
      case '\n':
        out->push_back('n');
        break;
      case '\f':
        out->push_back('f');
        break;
      case '\r':
        out->push_back('r');
        break;
      default:
        out->append("u00");
        out->push_back(kHex[byte >> 4]);
        out->push_back(kHex[byte & 0xF]);
    }
  }
  out->push_back('"');
}

// A string token: where it is in the input and what it says.
struct StringToken {
  const char* begin = nullptr;  // the opening quote
  const char* end = nullptr;    // past the closing quote
  absl::string_view value;      // unescaped; points into the input when there are no escapes
  bool canonical = true;        // the Writer would write these very bytes
};

// The scanner behind DecodeCompactObject and DecodeCompactWatchEvent. Every method returns false
// when the fast path must give up (the caller falls back to the DOM path).
//
// Output: the bytes of the object being decoded are copied to `out_` lazily: text before
// `copied_` is already in `out_` (or deliberately left out); Flush copies up to a position.
// Edits (a rewritten string, a removed member) flush up to their start and move `copied_` past
// their end. `emit_` is false where nothing is written (outside the object, inside a removed
// member).
class Scanner {
 public:
  Scanner(absl::string_view text, const CompactDecodeOptions& options)
      : p_(text.data()), end_(text.data() + text.size()), options_(options) {}

  bool DecodeEvent(CompactEventType* type, CompactObject* out) {
    if (!Expect('{')) return false;
    bool have_type = false;
    bool have_object = false;
    if (AtEnd() || *p_ == '}') return false;
    while (true) {
      StringToken key;
      if (!ScanString(&key) || !Expect(':')) return false;
      if (key.value == "type") {
        StringToken value;
        if (have_type || AtEnd() || *p_ != '"' || !ScanString(&value)) return false;
        if (value.value == "ADDED") {
          *type = CompactEventType::kAdded;
        } else if (value.value == "MODIFIED") {
          *type = CompactEventType::kModified;
        } else if (value.value == "DELETED") {
          *type = CompactEventType::kDeleted;
        } else {
          return false;
        }
        have_type = true;
      } else if (key.value == "object") {
        if (!have_type || have_object || !DecodeObject(/*enclosing_depth=*/1, out)) return false;
        have_object = true;
      } else if (!SkipValue(1)) {
        return false;
      }
      if (AtEnd()) return false;
      const char c = *p_++;
      if (c == '}') break;
      if (c != ',') return false;
    }
    return have_object && AtEnd();
  }

  // Decodes the object at p_ into `out`; DecodeCompactObject when the object is all the input.
  bool DecodeObject(int enclosing_depth, CompactObject* out) {
    out_ = &out->json;
    out_->clear();
    out_->reserve(static_cast<size_t>(end_ - p_));
    copied_ = p_;
    emit_ = true;
    meta_ = &out->meta;
    members_ = &out->members;
    members_->clear();
    if (options_.record_members) members_->reserve(8);  // a Pod has 5 (and type meta)
    const bool ok = ParseObject(enclosing_depth);
    emit_ = false;
    if (!ok) return false;
    Flush(p_);
    // Object::SetTypeMeta puts the defaults first, in this order.
    std::string prefix;
    std::vector<CompactObject::Member> prefix_members;
    for (TypeField* field : {&api_version_, &kind_}) {
      if (field->missing && !field->default_value.empty()) {
        AppendWriterString(field->name, &prefix);
        prefix.push_back(':');
        const size_t value_begin = 1 + prefix.size();  // after the output's '{'
        AppendWriterString(field->default_value, &prefix);
        if (options_.record_members) {
          prefix_members.push_back({std::string(field->name), value_begin, 1 + prefix.size()});
        }
        prefix.push_back(',');
        field->value = field->default_value;
      }
    }
    if (!prefix.empty()) {
      out_->insert(1, prefix);
      for (CompactObject::Member& member : out->members) {
        member.begin += prefix.size();
        member.end += prefix.size();
      }
      out->members.insert(out->members.begin(), prefix_members.begin(), prefix_members.end());
    }
    out->api_version = std::string(api_version_.value);
    out->kind = std::string(kind_.value);
    return true;
  }

  bool AtEnd() const { return p_ >= end_; }

 private:
  // apiVersion or kind at the top level of the object.
  struct TypeField {
    absl::string_view name;
    absl::string_view default_value;
    bool seen = false;
    bool missing = true;  // absent, null or "": the default (if any) fills it
    absl::string_view value;
  };

  bool Expect(char c) {
    if (AtEnd() || *p_ != c) return false;
    ++p_;
    return true;
  }

  void Flush(const char* to) {
    if (to > copied_) out_->append(copied_, static_cast<size_t>(to - copied_));
    copied_ = to;
  }

  // Writes a string token that is not in the Writer's form the Writer's way.
  void EmitString(const StringToken& token) {
    if (token.canonical || !emit_) return;
    Flush(token.begin);
    AppendWriterString(token.value, out_);
    copied_ = token.end;
  }

  // Scans the string at p_ (which must be a quote), checking UTF-8 and escapes.
  bool ScanString(StringToken* token) {
    if (AtEnd() || *p_ != '"') return false;
    token->begin = p_;
    token->canonical = true;
    bool escaped = false;
    const char* p = p_ + 1;
    while (true) {
      p = SkipPlainStringBytes(p, end_);
      if (p >= end_) return false;
      const auto c = static_cast<unsigned char>(*p);
      if (c == '"') break;
      if (c == '\\') {
        escaped = true;
        if (!ScanEscape(&p, &token->canonical)) return false;
        continue;
      }
      if (c < 0x20) return false;
      if (c < 0x80) {
        ++p;
        continue;
      }
      const int length = Utf8SequenceLength(p, end_);
      if (length == 0) return false;
      p += length;
    }
    token->end = p + 1;
    p_ = token->end;
    if (!escaped) {
      token->value = absl::string_view(token->begin + 1, static_cast<size_t>(p - token->begin - 1));
      return true;
    }
    Unescape(token->begin + 1, p, &token->value);
    return true;
  }

  // Reads four hex digits at `p`; -1 when they are not.
  int ReadHex4(const char* p) const {
    if (end_ - p < 4) return -1;
    int code = 0;
    for (int i = 0; i < 4; ++i) {
      const int digit = HexValue(p[i]);
      if (digit < 0) return -1;
      code = code << 4 | digit;
    }
    return code;
  }

  // Checks the escape at *p (a backslash) and moves past it; clears *canonical when the Writer
  // would write its character differently. Surrogates must pair (else RapidJSON refuses them,
  // or they unescape to invalid UTF-8, which ParseJson refuses).
  bool ScanEscape(const char** p, bool* canonical) const {
    const char* s = *p;
    if (end_ - s < 2) return false;
    switch (s[1]) {
      case '"':
      case '\\':
      case 'b':
      case 'f':
      case 'n':
      case 'r':
      case 't':
        *p = s + 2;
        return true;
      case '/':
        *canonical = false;
        *p = s + 2;
        return true;
      case 'u':
        break;
      default:
        return false;
    }
    const int code = ReadHex4(s + 2);
    if (code < 0) return false;
    if (code >= 0xD800 && code <= 0xDBFF) {
      if (end_ - s < 12 || s[6] != '\\' || s[7] != 'u') return false;
      const int low = ReadHex4(s + 8);
      if (low < 0xDC00 || low > 0xDFFF) return false;
      *canonical = false;
      *p = s + 12;
      return true;
    }
    if (code >= 0xDC00 && code <= 0xDFFF) return false;
    // The Writer's own \u escapes: control characters without a short form, upper-case hex.
    const bool writer_form = code < 0x20 && code != '\b' && code != '\t' && code != '\n' &&
                             code != '\f' && code != '\r' && s[2] == '0' && s[3] == '0' &&
                             (s[4] < 'a' || s[4] > 'f') && (s[5] < 'a' || s[5] > 'f');
    if (!writer_form) *canonical = false;
    *p = s + 6;
    return true;
  }

  // Unescapes the checked string body [begin, end) into a buffer of its own.
  void Unescape(const char* begin, const char* end, absl::string_view* value) {
    unescaped_.push_back(std::make_unique<std::string>());
    std::string& text = *unescaped_.back();
    text.reserve(static_cast<size_t>(end - begin));
    AppendUnescaped(absl::string_view(begin, static_cast<size_t>(end - begin)), &text);
    *value = text;
  }

  // Scans an integer that both paths write alike: JSON number syntax without fraction or
  // exponent, not "-0", within int64 (negative) or uint64.
  bool ScanInteger(absl::string_view* text) {
    const char* begin = p_;
    const char* p = p_;
    if (p < end_ && *p == '-') ++p;
    if (p >= end_) return false;
    if (*p == '0') {
      ++p;
    } else if (*p >= '1' && *p <= '9') {
      while (p < end_ && *p >= '0' && *p <= '9') ++p;
    } else {
      return false;
    }
    if (p < end_ && (*p == '.' || *p == 'e' || *p == 'E')) return false;
    *text = absl::string_view(begin, static_cast<size_t>(p - begin));
    if (*text == "-0") return false;
    if (p - begin > 18) {
      if (*begin == '-') {
        int64_t value;
        if (!absl::SimpleAtoi(*text, &value)) return false;
      } else {
        uint64_t value;
        if (!absl::SimpleAtoi(*text, &value)) return false;
      }
    }
    p_ = p;
    return true;
  }

  bool ScanLiteral(absl::string_view literal) {
    if (static_cast<size_t>(end_ - p_) < literal.size() ||
        std::memcmp(p_, literal.data(), literal.size()) != 0) {
      return false;
    }
    p_ += literal.size();
    return true;
  }

  bool AtNull() const { return end_ - p_ >= 4 && std::memcmp(p_, "null", 4) == 0; }

  // A scalar at p_: string (rewritten if needed), integer or literal.
  bool SkipScalar() {
    switch (*p_) {
      case '"': {
        StringToken token;
        if (!ScanString(&token)) return false;
        EmitString(token);
        return true;
      }
      case 't':
        return ScanLiteral("true");
      case 'f':
        return ScanLiteral("false");
      case 'n':
        return ScanLiteral("null");
      default:
        absl::string_view number;
        return ScanInteger(&number);
    }
  }

  // A member's key and colon; the key is rewritten if needed.
  bool ScanKey() {
    StringToken key;
    if (!ScanString(&key) || !Expect(':')) return false;
    EmitString(key);
    return true;
  }

  // Checks any value at p_ with `enclosing_depth` containers around it, without recursion.
  bool SkipValue(int enclosing_depth) {
    const size_t base = stack_.size();
    int depth = enclosing_depth;
    while (true) {
      // A value starts here.
      if (AtEnd()) return false;
      const char c = *p_;
      if (c == '{' || c == '[') {
        if (++depth > kMaxJsonDepth) return false;
        ++p_;
        if (AtEnd()) return false;
        if (*p_ == (c == '{' ? '}' : ']')) {
          ++p_;
          --depth;
        } else {
          stack_.push_back(c);
          if (c == '{' && !ScanKey()) return false;
          continue;
        }
      } else if (!SkipScalar()) {
        return false;
      }
      // After a value: close containers until one goes on or the value is complete.
      while (true) {
        if (stack_.size() == base) return true;
        if (AtEnd()) return false;
        const char open = stack_.back();
        const char next = *p_++;
        if (next == ',') {
          if (open == '{' && !ScanKey()) return false;
          break;
        }
        if (next != (open == '{' ? '}' : ']')) return false;
        stack_.pop_back();
        --depth;
      }
    }
  }

  // Leaves the member that started at `member_start` (its key and colon already scanned) out
  // of the output, with the comma that separates it; `skip_value` scans its value.
  template <typename SkipFn>
  bool RemoveMember(const char* member_start, bool emitted_any, SkipFn skip_value) {
    // With a member before it, the comma before it goes; else the one after it (if any).
    Flush(emitted_any ? member_start - 1 : member_start);
    emit_ = false;
    const bool ok = skip_value();
    emit_ = true;
    if (!ok) return false;
    copied_ = (!emitted_any && !AtEnd() && *p_ == ',') ? p_ + 1 : p_;
    return true;
  }

  // Runs `member(key, member_start, &emitted)` on each member of the object at p_, which has
  // `enclosing_depth` containers around it. `member` scans the value and sets `emitted` false
  // when it removed the member.
  template <typename MemberFn>
  bool ParseMembers(int enclosing_depth, MemberFn member) {
    if (enclosing_depth + 1 > kMaxJsonDepth || !Expect('{')) return false;
    if (AtEnd()) return false;
    if (*p_ == '}') {
      ++p_;
      return true;
    }
    bool emitted_any = false;
    while (true) {
      const char* member_start = p_;
      StringToken key;
      if (!ScanString(&key) || !Expect(':') || AtEnd()) return false;
      bool emitted = true;
      if (!member(key, member_start, emitted_any, &emitted)) return false;
      emitted_any = emitted_any || emitted;
      if (AtEnd()) return false;
      const char c = *p_++;
      if (c == '}') return true;
      if (c != ',') return false;
    }
  }

  // A string member of metadata (or an owner reference): string, or null for absent.
  bool ReadOptionalString(const StringToken& key, uint32_t bit, uint32_t* seen, std::string* out) {
    if ((*seen & bit) != 0) return false;
    *seen |= bit;
    EmitString(key);
    if (AtNull()) return ScanLiteral("null");
    StringToken value;
    if (*p_ != '"' || !ScanString(&value)) return false;
    EmitString(value);
    *out = std::string(value.value);  // sized as the DOM path sizes it (ApproximateBytes)
    return true;
  }

  bool ParseObject(int enclosing_depth) {
    api_version_ = TypeField();
    api_version_.name = "apiVersion";
    api_version_.default_value = options_.default_api_version;
    kind_ = TypeField();
    kind_.name = "kind";
    kind_.default_value = options_.default_kind;
    have_metadata_ = false;
    depth_ = enclosing_depth;
    auto member = [&](const StringToken& key, const char* member_start, bool emitted_any,
                      bool* emitted) {
      if (!TopLevelMember(key, member_start, emitted_any, emitted)) return false;
      if (*emitted && options_.record_members) {
        members_->push_back({std::string(key.value), value_begin_, OutputOffset(p_)});
      }
      return true;
    };
    return ParseMembers(enclosing_depth, member) && have_metadata_ && !meta_->name.empty();
  }

  // Where input position `at` (not before copied_) lands in the output.
  size_t OutputOffset(const char* at) const {
    return out_->size() + static_cast<size_t>(at - copied_);
  }

  // Writes a top-level member's key and notes where its value starts in the output.
  void EmitTopLevelKey(const StringToken& key) {
    EmitString(key);
    value_begin_ = OutputOffset(p_);
  }

  // One member of the object: metadata, apiVersion and kind read, the rest checked.
  bool TopLevelMember(const StringToken& key, const char* member_start, bool emitted_any,
                      bool* emitted) {
    const int depth = depth_ + 1;
    if (key.value == "metadata") {
      if (have_metadata_ || *p_ != '{') return false;
      have_metadata_ = true;
      EmitTopLevelKey(key);
      return ParseMetadata(depth);
    }
    TypeField* field = key.value == "apiVersion" ? &api_version_
                       : key.value == "kind"     ? &kind_
                                                 : nullptr;
    if (field == nullptr) {
      EmitTopLevelKey(key);
      return SkipValue(depth);
    }
    if (field->seen) return false;
    field->seen = true;
    const bool empty = AtNull() || (end_ - p_ >= 2 && p_[0] == '"' && p_[1] == '"');
    if (empty && !field->default_value.empty()) {
      // SetTypeMeta drops the placeholder and puts the default first.
      *emitted = false;
      return RemoveMember(member_start, emitted_any, [&] { return SkipScalar(); });
    }
    EmitTopLevelKey(key);
    if (AtNull()) return ScanLiteral("null");  // absent; no default
    StringToken value;
    if (*p_ != '"' || !ScanString(&value)) return false;  // not a string: SetTypeMeta fails
    EmitString(value);
    field->missing = value.value.empty();
    field->value = value.value;
    return true;
  }

  bool ParseMetadata(int enclosing_depth) {
    enum : uint32_t {
      kName = 1,
      kNamespace = 2,
      kUid = 4,
      kResourceVersion = 8,
      kGeneration = 16,
      kLabels = 32,
      kAnnotations = 64,
      kOwnerReferences = 128,
      kDeletionTimestamp = 256,
      kManagedFields = 512,
    };
    uint32_t seen = 0;
    const int depth = enclosing_depth + 1;
    ObjectMeta* meta = meta_;
    auto member = [&](const StringToken& key, const char* member_start, bool emitted_any,
                      bool* emitted) {
      const absl::string_view name = key.value;
      if (name == "name") return ReadOptionalString(key, kName, &seen, &meta->name);
      if (name == "namespace") {
        return ReadOptionalString(key, kNamespace, &seen, &meta->namespace_name);
      }
      if (name == "uid") return ReadOptionalString(key, kUid, &seen, &meta->uid);
      if (name == "resourceVersion") {
        return ReadOptionalString(key, kResourceVersion, &seen, &meta->resource_version);
      }
      if (name == "deletionTimestamp") {
        return ReadOptionalString(key, kDeletionTimestamp, &seen, &meta->deletion_timestamp);
      }
      if (name == "generation") {
        if ((seen & kGeneration) != 0) return false;
        seen |= kGeneration;
        EmitString(key);
        if (AtNull()) return ScanLiteral("null");
        absl::string_view text;
        return ScanInteger(&text) && absl::SimpleAtoi(text, &meta->generation);
      }
      if (name == "labels" || name == "annotations") {
        const uint32_t bit = name == "labels" ? kLabels : kAnnotations;
        if ((seen & bit) != 0) return false;
        seen |= bit;
        EmitString(key);
        if (AtNull()) return ScanLiteral("null");
        return ParseStringMap(depth, name == "labels" ? &meta->labels : &meta->annotations);
      }
      if (name == "ownerReferences") {
        if ((seen & kOwnerReferences) != 0) return false;
        seen |= kOwnerReferences;
        EmitString(key);
        if (AtNull()) return ScanLiteral("null");
        return ParseOwnerReferences(depth, &meta->owner_references);
      }
      if (name == "managedFields" && options_.strip_managed_fields) {
        // StripManagedFields erases the first only; a second would stay.
        if ((seen & kManagedFields) != 0) return false;
        seen |= kManagedFields;
        *emitted = false;
        return RemoveMember(member_start, emitted_any, [&] { return SkipValue(depth); });
      }
      EmitString(key);
      return SkipValue(depth);
    };
    return ParseMembers(enclosing_depth, member);
  }

  bool ParseStringMap(int enclosing_depth, std::map<std::string, std::string>* map) {
    auto member = [&](const StringToken& key, const char*, bool, bool*) {
      EmitString(key);
      StringToken value;
      if (*p_ != '"' || !ScanString(&value)) return false;
      EmitString(value);
      // Last wins, as ReadStringMap does with a repeated key.
      (*map)[std::string(key.value)] = std::string(value.value);
      return true;
    };
    return ParseMembers(enclosing_depth, member);
  }

  bool ParseOwnerReferences(int enclosing_depth, std::vector<OwnerReference>* refs) {
    if (enclosing_depth + 1 > kMaxJsonDepth || !Expect('[') || AtEnd()) return false;
    if (*p_ == ']') {
      ++p_;
      return true;
    }
    while (true) {
      if (AtEnd() || *p_ != '{') return false;
      OwnerReference ref;
      uint32_t seen = 0;
      auto member = [&](const StringToken& key, const char*, bool, bool*) {
        const absl::string_view name = key.value;
        if (name == "apiVersion") return ReadOptionalString(key, 1, &seen, &ref.api_version);
        if (name == "kind") return ReadOptionalString(key, 2, &seen, &ref.kind);
        if (name == "name") return ReadOptionalString(key, 4, &seen, &ref.name);
        if (name == "uid") return ReadOptionalString(key, 8, &seen, &ref.uid);
        EmitString(key);
        if (name != "controller") return SkipValue(enclosing_depth + 2);
        if ((seen & 16) != 0) return false;
        seen |= 16;
        if (ScanLiteral("true")) {
          ref.controller = true;
          return true;
        }
        return ScanLiteral("false") || ScanLiteral("null");
      };
      if (!ParseMembers(enclosing_depth + 1, member)) return false;
      refs->push_back(std::move(ref));
      if (AtEnd()) return false;
      const char c = *p_++;
      if (c == ']') return true;
      if (c != ',') return false;
    }
  }

  const char* p_;
  const char* const end_;
  const CompactDecodeOptions& options_;
  std::string* out_ = nullptr;
  const char* copied_ = nullptr;
  bool emit_ = false;
  ObjectMeta* meta_ = nullptr;
  std::vector<CompactObject::Member>* members_ = nullptr;
  TypeField api_version_;
  TypeField kind_;
  bool have_metadata_ = false;
  int depth_ = 0;           // containers around the object being decoded
  size_t value_begin_ = 0;  // where the current top-level member's value starts in the output
  std::string stack_;       // open containers of SkipValue: '{' or '['
  // Strings with escapes, unescaped (rare); each owns its bytes, so views of them stay valid.
  std::vector<std::unique_ptr<std::string>> unescaped_;
};

// The first quote or backslash at or after `p`. REQUIRES: there is one before `end`.
const char* FindQuoteOrBackslash(const char* p, const char* end) {
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  while (end - p >= 16) {
    const __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const int mask = _mm_movemask_epi8(
        _mm_or_si128(_mm_cmpeq_epi8(block, quote), _mm_cmpeq_epi8(block, backslash)));
    if (mask != 0) return p + __builtin_ctz(static_cast<unsigned>(mask));
    p += 16;
  }
#endif
  while (*p != '"' && *p != '\\') ++p;
  return p;
}

// Reads values out of JSON as DecodeCompactObject writes it (see CollectCompactFieldValues):
// the input was checked when it was decoded, so nothing here checks it again.
class CompactValueReader {
 public:
  explicit CompactValueReader(absl::string_view value)
      : begin_(value.data()), end_(value.data() + value.size()) {}

  void Collect(absl::Span<const CompactFieldPath> paths, size_t first_step) {
    if (begin_ >= end_) return;
    Paths all;
    for (const CompactFieldPath& path : paths) all.push_back(&path);
    Collect(begin_, all, first_step);
  }

 private:
  using Paths = absl::InlinedVector<const CompactFieldPath*, 16>;

  // CollectFieldValues's recursion over the steps, for every path of `paths` at once (one pass
  // over the value that starts at `p`); each has steps [0, i) behind it.
  void Collect(const char* p, const Paths& paths, size_t i) {
    Paths deeper;  // the paths with a step i
    for (const CompactFieldPath* path : paths) {
      if (path->steps->size() == i) {
        AppendScalar(p, path->values);
      } else {
        deeper.push_back(path);
      }
    }
    if (deeper.empty()) return;
    if (*p == '{') {
      CollectMembers(p, deeper, i);
    } else if (*p == '[') {
      CollectElements(p, deeper, i);
    }
  }

  // Step i of `paths` on the object at `p`: member steps go into the first member of their name
  // (as FindMember finds it); index steps find nothing.
  void CollectMembers(const char* p, Paths pending, size_t i) {
    if (p[1] == '}') return;
    ++p;
    Paths matched;
    while (!pending.empty()) {
      const char* key_end = SkipString(p);
      matched.clear();
      for (size_t k = 0; k < pending.size();) {
        const FieldPathStep& step = (*pending[k]->steps)[i];
        if (step.kind == FieldPathStep::Kind::kMember && KeyEquals(p, key_end, step.member)) {
          matched.push_back(pending[k]);
          pending.erase(pending.begin() + static_cast<ptrdiff_t>(k));
        } else {
          ++k;
        }
      }
      p = key_end + 1;  // past the ':'
      if (!matched.empty()) Collect(p, matched, i + 1);
      p = SkipValue(p);
      if (*p != ',') return;
      ++p;
    }
  }

  // Step i of `paths` on the array at `p`: [*] steps into every element, [n] into the n-th;
  // member steps find nothing.
  void CollectElements(const char* p, const Paths& paths, size_t i) {
    if (p[1] == ']') return;
    ++p;
    Paths matched;
    for (size_t index = 0;; ++index) {
      matched.clear();
      bool more = false;  // whether a path may match a later element
      for (const CompactFieldPath* path : paths) {
        const FieldPathStep& step = (*path->steps)[i];
        if (step.kind == FieldPathStep::Kind::kEach ||
            (step.kind == FieldPathStep::Kind::kIndex && step.index == index)) {
          matched.push_back(path);
        }
        more = more || step.kind == FieldPathStep::Kind::kEach ||
               (step.kind == FieldPathStep::Kind::kIndex && step.index > index);
      }
      if (!matched.empty()) Collect(p, matched, i + 1);
      if (!more) return;
      p = SkipValue(p);
      if (*p != ',') return;
      ++p;
    }
  }

  // Where the string that starts at `p` (a quote) ends: just past its closing quote.
  const char* SkipString(const char* p) const {
    for (++p;;) {
      p = FindQuoteOrBackslash(p, end_);
      if (*p == '"') return p + 1;
      p += 2;  // an escape; \u00XX's hex digits are neither
    }
  }

  // Where the value that starts at `p` ends.
  const char* SkipValue(const char* p) const {
    int depth = 0;
    do {
      switch (*p) {
        case '"':
          p = SkipString(p);
          continue;
        case '{':
        case '[':
          ++depth;
          break;
        case '}':
        case ']':
          --depth;
          break;
        default:
          if (depth == 0) {  // a literal or a number
            while (p < end_ && *p != ',' && *p != '}' && *p != ']') ++p;
            return p;
          }
          break;
      }
      ++p;
    } while (depth > 0);
    return p;
  }

  // Whether the string [begin, end) (quotes included) is `name` once unescaped.
  static bool KeyEquals(const char* begin, const char* end, absl::string_view name) {
    const absl::string_view raw(begin + 1, static_cast<size_t>(end - begin - 2));
    if (raw.find('\\') == absl::string_view::npos) return raw == name;
    std::string unescaped;
    AppendUnescaped(raw, &unescaped);
    return unescaped == name;
  }

  // CollectFieldValues's rendering of the scalar at `p`: strings unescaped, numbers (integers
  // here) in their text, true/false; nothing for null, objects and arrays.
  void AppendScalar(const char* p, std::vector<std::string>* out) const {
    switch (*p) {
      case '"': {
        const char* end = SkipString(p);
        const absl::string_view raw(p + 1, static_cast<size_t>(end - p - 2));
        if (raw.find('\\') == absl::string_view::npos) {
          out->emplace_back(raw);
        } else {
          std::string unescaped;
          AppendUnescaped(raw, &unescaped);
          out->emplace_back(unescaped);  // a copy sized as the DOM path's (ApproximateBytes)
        }
        return;
      }
      case 't':
        out->emplace_back("true");
        return;
      case 'f':
        out->emplace_back("false");
        return;
      case 'n':
      case '{':
      case '[':
        return;
      default:  // a number
        out->emplace_back(p, static_cast<size_t>(SkipValue(p) - p));
        return;
    }
  }

  const char* begin_;
  const char* end_;
};

}  // namespace

void CollectCompactFieldValues(absl::string_view value, absl::Span<const CompactFieldPath> paths,
                               size_t first_step) {
  CompactValueReader(value).Collect(paths, first_step);
}

bool DecodeCompactObject(absl::string_view text, const CompactDecodeOptions& options,
                         int enclosing_depth, CompactObject* out) {
  Scanner scanner(text, options);
  return scanner.DecodeObject(enclosing_depth, out) && scanner.AtEnd();
}

bool DecodeCompactWatchEvent(absl::string_view frame, const CompactDecodeOptions& options,
                             CompactEventType* type, CompactObject* out) {
  Scanner scanner(frame, options);
  return scanner.DecodeEvent(type, out);
}

}  // namespace informer
