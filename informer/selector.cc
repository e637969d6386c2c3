#include "informer/selector.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "informer/field_path.h"

namespace informer {
namespace {

// ---------------------------------------------------------------------------------------------
// Kubernetes' validation of label keys and values (k8s.io/apimachinery/pkg/util/validation).

constexpr size_t kMaxLabelNameLength = 63;
constexpr size_t kMaxSubdomainLength = 253;

bool IsAlnum(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)); }

// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, the shape of label names and non-empty values.
bool IsQualifiedNamePart(absl::string_view s) {
  if (s.empty() || !IsAlnum(s.front()) || !IsAlnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return IsAlnum(c) || c == '-' || c == '_' || c == '.'; });
}

// A DNS-1123 label: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`.
bool IsDns1123Label(absl::string_view s) {
  auto lower_alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (s.empty() || !lower_alnum(s.front()) || !lower_alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) { return lower_alnum(c) || c == '-'; });
}

// A DNS-1123 subdomain: dot-separated DNS-1123 labels, at most 253 characters.
bool IsDns1123Subdomain(absl::string_view s) {
  if (s.empty() || s.size() > kMaxSubdomainLength) return false;
  for (absl::string_view label : absl::StrSplit(s, '.')) {
    if (!IsDns1123Label(label)) return false;
  }
  return true;
}

// Empty when `key` is a valid label key (an optional DNS subdomain and '/', then a name);
// otherwise why not.
std::string LabelKeyProblem(absl::string_view key) {
  absl::string_view name = key;
  size_t slash = key.find('/');
  if (slash != absl::string_view::npos) {
    absl::string_view prefix = key.substr(0, slash);
    name = key.substr(slash + 1);
    if (name.find('/') != absl::string_view::npos) return "a label key may contain one '/' at most";
    if (prefix.empty()) return "the prefix before '/' must not be empty";
    if (!IsDns1123Subdomain(prefix)) {
      return "the prefix before '/' must be a DNS subdomain of at most 253 characters: lower-case "
             "alphanumerics, '-' and '.', starting and ending with an alphanumeric";
    }
  }
  if (name.empty()) return "the name part must not be empty";
  if (name.size() > kMaxLabelNameLength) return "the name part must be at most 63 characters";
  if (!IsQualifiedNamePart(name)) {
    return "the name part must consist of alphanumerics, '-', '_' or '.', starting and ending "
           "with an alphanumeric";
  }
  return "";
}

std::string LabelValueProblem(absl::string_view value) {
  if (value.empty()) return "";
  if (value.size() > kMaxLabelNameLength) return "a label value must be at most 63 characters";
  if (!IsQualifiedNamePart(value)) {
    return "a label value must be empty or consist of alphanumerics, '-', '_' or '.', starting "
           "and ending with an alphanumeric";
  }
  return "";
}

// ---------------------------------------------------------------------------------------------
// Label selector lexer and parser.

enum class Tok {
  kIdentifier,  // also the words "in" and "notin", which are keywords only where an operator goes
  kComma,
  kBang,
  kEquals,
  kDoubleEquals,
  kNotEquals,
  kGreater,
  kLess,
  kOpen,
  kClose,
  kEnd,
};

struct Token {
  Tok tok;
  absl::string_view text;
  size_t pos;
};

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool IsSpecial(char c) {
  return c == '=' || c == '!' || c == '(' || c == ')' || c == ',' || c == '>' || c == '<';
}

std::vector<Token> Lex(absl::string_view text) {
  std::vector<Token> tokens;
  size_t i = 0;
  while (true) {
    while (i < text.size() && IsSpace(text[i])) ++i;
    if (i == text.size()) break;
    const size_t start = i;
    const char c = text[i];
    if (!IsSpecial(c)) {
      while (i < text.size() && !IsSpecial(text[i]) && !IsSpace(text[i])) ++i;
      tokens.push_back({Tok::kIdentifier, text.substr(start, i - start), start});
      continue;
    }
    const char next = i + 1 < text.size() ? text[i + 1] : '\0';
    Tok tok;
    size_t length = 1;
    switch (c) {
      case '=':
        tok = next == '=' ? Tok::kDoubleEquals : Tok::kEquals;
        length = next == '=' ? 2 : 1;
        break;
      case '!':
        tok = next == '=' ? Tok::kNotEquals : Tok::kBang;
        length = next == '=' ? 2 : 1;
        break;
      case '(':
        tok = Tok::kOpen;
        break;
      case ')':
        tok = Tok::kClose;
        break;
      case ',':
        tok = Tok::kComma;
        break;
      case '>':
        tok = Tok::kGreater;
        break;
      default:
        tok = Tok::kLess;
        break;
    }
    tokens.push_back({tok, text.substr(start, length), start});
    i += length;
  }
  tokens.push_back({Tok::kEnd, "", text.size()});
  return tokens;
}

class LabelParser {
 public:
  explicit LabelParser(absl::string_view text) : text_(text), tokens_(Lex(text)) {}

  absl::StatusOr<std::vector<LabelSelector::Requirement>> Parse() {
    std::vector<LabelSelector::Requirement> requirements;
    if (Peek().tok == Tok::kEnd) return requirements;
    while (true) {
      absl::StatusOr<LabelSelector::Requirement> requirement = ParseRequirement();
      if (!requirement.ok()) return requirement.status();
      requirements.push_back(*std::move(requirement));
      const Token& after = Next();
      if (after.tok == Tok::kEnd) return requirements;
      if (after.tok != Tok::kComma) return Error(after, "',' or end of string");
      if (Peek().tok != Tok::kIdentifier && Peek().tok != Tok::kBang) {
        return Error(Peek(), "a label key or '!' after ','");
      }
    }
  }

 private:
  const Token& Peek() const { return tokens_[next_]; }
  const Token& Next() {
    const Token& token = tokens_[next_];
    if (token.tok != Tok::kEnd) ++next_;
    return token;
  }

  absl::Status Error(const Token& at, absl::string_view expected) const {
    std::string found = at.tok == Tok::kEnd ? "" : absl::StrFormat(", found '%s'", at.text);
    return absl::InvalidArgumentError(absl::StrFormat(
        "label selector \"%s\": expected %s at position %d%s", text_, expected, at.pos, found));
  }
  absl::Status Invalid(const Token& at, absl::string_view what, absl::string_view problem) const {
    return absl::InvalidArgumentError(
        absl::StrFormat("label selector \"%s\": invalid %s \"%s\" at position %d: %s", text_, what,
                        at.text, at.pos, problem));
  }

  absl::StatusOr<std::string> Value(const Token& token) const {
    if (std::string problem = LabelValueProblem(token.text); !problem.empty()) {
      return Invalid(token, "label value", problem);
    }
    return std::string(token.text);
  }

  absl::StatusOr<LabelSelector::Requirement> ParseRequirement() {
    using Op = LabelSelector::Operator;
    LabelSelector::Requirement requirement;
    const bool negated = Peek().tok == Tok::kBang;
    if (negated) Next();
    const Token& key = Next();
    if (key.tok != Tok::kIdentifier) return Error(key, "a label key");
    if (std::string problem = LabelKeyProblem(key.text); !problem.empty()) {
      return Invalid(key, "label key", problem);
    }
    requirement.key = std::string(key.text);
    if (negated) {
      requirement.op = Op::kDoesNotExist;
      return requirement;
    }
    if (Peek().tok == Tok::kEnd || Peek().tok == Tok::kComma) {
      requirement.op = Op::kExists;
      return requirement;
    }
    const Token& op = Next();
    switch (op.tok) {
      case Tok::kEquals:
      case Tok::kDoubleEquals:
        requirement.op = Op::kEquals;
        break;
      case Tok::kNotEquals:
        requirement.op = Op::kNotEquals;
        break;
      case Tok::kGreater:
        requirement.op = Op::kGreaterThan;
        break;
      case Tok::kLess:
        requirement.op = Op::kLessThan;
        break;
      case Tok::kIdentifier:
        if (op.text == "in") {
          requirement.op = Op::kIn;
          break;
        }
        if (op.text == "notin") {
          requirement.op = Op::kNotIn;
          break;
        }
        [[fallthrough]];
      default:
        return Error(op, "'=', '==', '!=', 'in', 'notin', '>', '<', ',' or end of string");
    }
    absl::Status status = requirement.op == Op::kIn || requirement.op == Op::kNotIn
                              ? ParseValueSet(&requirement.values)
                              : ParseExactValue(requirement.op, &requirement.values);
    if (!status.ok()) return status;
    std::sort(requirement.values.begin(), requirement.values.end());
    requirement.values.erase(std::unique(requirement.values.begin(), requirement.values.end()),
                             requirement.values.end());
    return requirement;
  }

  // The value after `=`, `==`, `!=`, `>` or `<`; empty when the requirement ends right there.
  absl::Status ParseExactValue(LabelSelector::Operator op, std::vector<std::string>* values) {
    const bool numeric =
        op == LabelSelector::Operator::kGreaterThan || op == LabelSelector::Operator::kLessThan;
    const Token& token = Peek();
    if (token.tok != Tok::kIdentifier) {
      if (numeric) return Error(token, "an integer");
      if (token.tok != Tok::kEnd && token.tok != Tok::kComma) return Error(token, "a label value");
      values->push_back("");
      return absl::OkStatus();
    }
    Next();
    int64_t number = 0;
    if (numeric && !absl::SimpleAtoi(token.text, &number)) return Error(token, "an integer");
    absl::StatusOr<std::string> value = Value(token);
    if (!value.ok()) return value.status();
    values->push_back(*std::move(value));
    return absl::OkStatus();
  }

  // `( v1, v2, ... )`. Empty entries are the empty value, as in Kubernetes: `()`, `(a,)`,
  // `(,a)` and `(a,,b)` all contain "".
  absl::Status ParseValueSet(std::vector<std::string>* values) {
    if (Peek().tok != Tok::kOpen) return Error(Peek(), "'('");
    Next();
    bool expect_value = true;
    while (true) {
      const Token& token = Peek();
      if (expect_value) {
        switch (token.tok) {
          case Tok::kIdentifier: {
            Next();
            absl::StatusOr<std::string> value = Value(token);
            if (!value.ok()) return value.status();
            values->push_back(*std::move(value));
            expect_value = false;
            continue;
          }
          case Tok::kComma:
            Next();
            values->push_back("");
            continue;
          case Tok::kClose:
            Next();
            // `()` or a trailing comma: the empty value.
            values->push_back("");
            return absl::OkStatus();
          case Tok::kEnd:
            return Error(token, "a label value or ')'");
          default:
            return Error(token, "a label value, ',' or ')'");
        }
      }
      switch (token.tok) {
        case Tok::kComma:
          Next();
          expect_value = true;
          continue;
        case Tok::kClose:
          Next();
          return absl::OkStatus();
        case Tok::kEnd:
          return Error(token, "')'");
        default:
          return Error(token, "',' or ')'");
      }
    }
  }

  absl::string_view text_;
  std::vector<Token> tokens_;
  size_t next_ = 0;
};

const char* OperatorText(LabelSelector::Operator op) {
  switch (op) {
    case LabelSelector::Operator::kEquals:
      return "=";
    case LabelSelector::Operator::kNotEquals:
      return "!=";
    case LabelSelector::Operator::kIn:
      return " in ";
    case LabelSelector::Operator::kNotIn:
      return " notin ";
    case LabelSelector::Operator::kGreaterThan:
      return ">";
    case LabelSelector::Operator::kLessThan:
      return "<";
    case LabelSelector::Operator::kExists:
    case LabelSelector::Operator::kDoesNotExist:
      break;
  }
  return "";
}

bool RequirementMatches(const LabelSelector::Requirement& requirement,
                        const std::map<std::string, std::string>& labels) {
  using Op = LabelSelector::Operator;
  auto it = labels.find(requirement.key);
  const bool has = it != labels.end();
  auto in_values = [&] {
    return std::binary_search(requirement.values.begin(), requirement.values.end(), it->second);
  };
  switch (requirement.op) {
    case Op::kExists:
      return has;
    case Op::kDoesNotExist:
      return !has;
    case Op::kEquals:
    case Op::kIn:
      return has && in_values();
    case Op::kNotEquals:
    case Op::kNotIn:
      // As Kubernetes: objects without the key match.
      return !has || !in_values();
    case Op::kGreaterThan:
    case Op::kLessThan: {
      int64_t label_value = 0;
      int64_t bound = 0;
      if (!has || requirement.values.size() != 1 || !absl::SimpleAtoi(it->second, &label_value) ||
          !absl::SimpleAtoi(requirement.values[0], &bound)) {
        return false;
      }
      return requirement.op == Op::kGreaterThan ? label_value > bound : label_value < bound;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Field selectors.

absl::Status FieldError(absl::string_view text, size_t pos, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrFormat("field selector \"%s\": %s at position %d", text, what, pos));
}

// Undoes `\\`, `\,` and `\=` in a value that starts at `offset` in `text`.
absl::StatusOr<std::string> UnescapeFieldValue(absl::string_view text, absl::string_view value,
                                               size_t offset) {
  std::string out;
  out.reserve(value.size());
  for (size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c == '\\') {
      if (i + 1 == value.size()) {
        return FieldError(text, offset + i, "unterminated escape sequence '\\'");
      }
      const char escaped = value[i + 1];
      if (escaped != '\\' && escaped != ',' && escaped != '=') {
        return FieldError(text, offset + i,
                          absl::StrFormat("invalid escape sequence '\\%c' (only \\\\, \\, and "
                                          "\\= are allowed)",
                                          escaped));
      }
      out.push_back(escaped);
      ++i;
      continue;
    }
    if (c == '=' || c == ',') {
      return FieldError(text, offset + i,
                        absl::StrFormat("unescaped '%c' in value (write '\\%c')", c, c));
    }
    out.push_back(c);
  }
  return out;
}

std::string EscapeFieldValue(absl::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == ',' || c == '=') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

}  // namespace

absl::Status CheckSelectorLimits(absl::string_view text, const SelectorLimits& limits,
                                 absl::string_view what) {
  if (text.size() > limits.max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrFormat("the %s is %d bytes long, over the limit of %d bytes "
                        "(--max_selector_bytes); select by fewer terms or by an index",
                        what, text.size(), limits.max_bytes));
  }
  const size_t terms = static_cast<size_t>(std::count(text.begin(), text.end(), ',')) + 1;
  if (terms > limits.max_terms) {
    return absl::InvalidArgumentError(
        absl::StrFormat("the %s has %d comma-separated terms, over the limit of %d "
                        "(--max_selector_terms); select by fewer terms or by an index",
                        what, terms, limits.max_terms));
  }
  return absl::OkStatus();
}

absl::StatusOr<LabelSelector> LabelSelector::Parse(absl::string_view text,
                                                   const SelectorLimits& limits) {
  if (absl::Status s = CheckSelectorLimits(text, limits, "label selector"); !s.ok()) return s;
  absl::StatusOr<std::vector<Requirement>> requirements = LabelParser(text).Parse();
  if (!requirements.ok()) return requirements.status();
  LabelSelector selector;
  selector.requirements_ = *std::move(requirements);
  std::stable_sort(selector.requirements_.begin(), selector.requirements_.end(),
                   [](const Requirement& a, const Requirement& b) { return a.key < b.key; });
  return selector;
}

bool LabelSelector::Matches(const std::map<std::string, std::string>& labels) const {
  for (const Requirement& requirement : requirements_) {
    if (!RequirementMatches(requirement, labels)) return false;
  }
  return true;
}

std::string LabelSelector::ToString() const {
  std::vector<std::string> parts;
  parts.reserve(requirements_.size());
  for (const Requirement& requirement : requirements_) {
    switch (requirement.op) {
      case Operator::kExists:
        parts.push_back(requirement.key);
        break;
      case Operator::kDoesNotExist:
        parts.push_back(absl::StrCat("!", requirement.key));
        break;
      case Operator::kIn:
      case Operator::kNotIn:
        parts.push_back(absl::StrCat(requirement.key, OperatorText(requirement.op), "(",
                                     absl::StrJoin(requirement.values, ","), ")"));
        break;
      default:
        parts.push_back(absl::StrCat(requirement.key, OperatorText(requirement.op),
                                     requirement.values.empty() ? "" : requirement.values[0]));
    }
  }
  return absl::StrJoin(parts, ",");
}

absl::StatusOr<FieldSelector> FieldSelector::Parse(absl::string_view text,
                                                   const SelectorLimits& limits) {
  if (absl::Status s = CheckSelectorLimits(text, limits, "field selector"); !s.ok()) return s;
  FieldSelector selector;
  size_t start = 0;
  while (start <= text.size()) {
    // A term ends at the first ',' not escaped by a backslash.
    size_t end = start;
    while (end < text.size() && text[end] != ',') end += text[end] == '\\' ? 2 : 1;
    end = std::min(end, text.size());
    absl::string_view term = text.substr(start, end - start);
    if (!absl::StripAsciiWhitespace(term).empty()) {
      // The first operator splits the term; paths cannot contain '=' or '!='.
      size_t op_pos = absl::string_view::npos;
      size_t op_length = 0;
      Requirement requirement;
      for (size_t i = 0; i < term.size(); ++i) {
        if (term.substr(i, 2) == "!=") {
          requirement.equals = false;
          op_length = 2;
        } else if (term.substr(i, 2) == "==") {
          op_length = 2;
        } else if (term[i] == '=') {
          op_length = 1;
        } else {
          continue;
        }
        op_pos = i;
        break;
      }
      if (op_pos == absl::string_view::npos) {
        return FieldError(text, end,
                          absl::StrFormat("expected '=', '==' or '!=' (in term \"%s\")", term));
      }
      absl::string_view raw_path = term.substr(0, op_pos);
      absl::string_view path = absl::StripAsciiWhitespace(raw_path);
      const size_t path_pos = start + (path.empty() ? op_pos : (path.data() - term.data()));
      if (path.empty()) return FieldError(text, path_pos, "expected a field path");
      // "a! =b" would print as "a!=b", which means something else (found by fuzz_selector).
      if (path.back() == '!') {
        return FieldError(text, path_pos + path.size() - 1,
                          "'!' to be followed directly by '=' (a field path does not end in '!')");
      }
      std::vector<FieldPathStep> steps;
      FieldPathError path_error;
      if (!ParseFieldPath(path, &steps, &path_error)) {
        return FieldError(text, path_pos + path_error.position,
                          absl::StrCat("expected ", path_error.expected, " in the field path"));
      }
      requirement.path = std::string(path);
      const size_t value_pos = op_pos + op_length;
      absl::StatusOr<std::string> value =
          UnescapeFieldValue(text, term.substr(value_pos), start + value_pos);
      if (!value.ok()) return value.status();
      requirement.value = *std::move(value);
      selector.requirements_.push_back(std::move(requirement));
    }
    start = end + 1;
  }
  std::stable_sort(selector.requirements_.begin(), selector.requirements_.end(),
                   [](const Requirement& a, const Requirement& b) {
                     if (a.path != b.path) return a.path < b.path;
                     if (a.equals != b.equals) return a.equals;
                     return a.value < b.value;
                   });
  // Parsed once here, so matching an object neither parses nor allocates.
  selector.paths_.reserve(selector.requirements_.size());
  for (const Requirement& requirement : selector.requirements_) {
    absl::StatusOr<FieldPath> path = FieldPath::Parse(requirement.path);
    if (!path.ok()) return path.status();  // parsed above already: cannot happen
    selector.paths_.push_back(*std::move(path));
  }
  return selector;
}

bool FieldSelector::Matches(const Object& object) const {
  for (size_t i = 0; i < requirements_.size(); ++i) {
    const Requirement& requirement = requirements_[i];
    bool any = false;
    bool found = false;
    object.VisitFieldValues(paths_[i], [&](absl::string_view value) {
      any = true;
      found = found || value == requirement.value;
    });
    // A missing field compares as "", as the API server does.
    if (!any) found = requirement.value.empty();
    if (found != requirement.equals) return false;
  }
  return true;
}

std::string FieldSelector::ToString() const {
  std::vector<std::string> parts;
  parts.reserve(requirements_.size());
  for (const Requirement& requirement : requirements_) {
    parts.push_back(absl::StrCat(
        requirement.path, requirement.equals ? "=" : "!=", EscapeFieldValue(requirement.value)));
  }
  return absl::StrJoin(parts, ",");
}

bool ObjectFilter::Matches(const Object& object) const {
  if (!namespace_name.empty() && object.meta().namespace_name != namespace_name) return false;
  return labels.Matches(object) && fields.Matches(object);
}

bool ObjectFilter::MatchesEverything() const {
  return namespace_name.empty() && labels.Empty() && fields.Empty();
}

}  // namespace informer
