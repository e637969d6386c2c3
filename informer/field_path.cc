#include "informer/field_path.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace informer {
namespace {

// True when the steps start with `metadata.labels` or `metadata.annotations`.
bool StartsWithKeyedMap(const std::vector<FieldPathStep>& steps) {
  return steps.size() >= 2 && steps[0].kind == FieldPathStep::Kind::kMember &&
         steps[0].member == "metadata" && steps[1].kind == FieldPathStep::Kind::kMember &&
         (steps[1].member == "labels" || steps[1].member == "annotations");
}

bool IsKeyedMap(const std::vector<FieldPathStep>& steps) {
  return steps.size() == 2 && StartsWithKeyedMap(steps);
}

// Renders a scalar as a field selector compares it. `inexact`, when not null, is set when a
// double was rendered: its text may differ from the JSON's (a DOM that parsed numbers keeps no
// text).
void VisitScalar(const rapidjson::Value& value, absl::FunctionRef<void(absl::string_view)> visit,
                 bool* inexact) {
  if (value.IsString()) {
    visit(absl::string_view(value.GetString(), value.GetStringLength()));
  } else if (value.IsBool()) {
    visit(value.GetBool() ? "true" : "false");
  } else if (value.IsInt64()) {
    visit(absl::AlphaNum(value.GetInt64()).Piece());
  } else if (value.IsUint64()) {
    visit(absl::AlphaNum(value.GetUint64()).Piece());
  } else if (value.IsNumber()) {
    visit(absl::StrFormat("%.17g", value.GetDouble()));
    if (inexact != nullptr) *inexact = true;
  }
  // null, objects and arrays have no field-selector rendering.
}

void Collect(const rapidjson::Value& value, const std::vector<FieldPathStep>& steps, size_t i,
             absl::FunctionRef<void(absl::string_view)> visit, bool* inexact) {
  if (i == steps.size()) {
    VisitScalar(value, visit, inexact);
    return;
  }
  const FieldPathStep& step = steps[i];
  switch (step.kind) {
    case FieldPathStep::Kind::kMember: {
      if (!value.IsObject()) return;
      auto it = value.FindMember(
          rapidjson::Value(rapidjson::StringRef(step.member.data(), step.member.size())));
      if (it == value.MemberEnd()) return;
      Collect(it->value, steps, i + 1, visit, inexact);
      return;
    }
    case FieldPathStep::Kind::kIndex:
      if (!value.IsArray() || step.index >= value.Size()) return;
      Collect(value[static_cast<rapidjson::SizeType>(step.index)], steps, i + 1, visit, inexact);
      return;
    case FieldPathStep::Kind::kEach:
      if (!value.IsArray()) return;
      for (const rapidjson::Value& element : value.GetArray()) {
        Collect(element, steps, i + 1, visit, inexact);
      }
      return;
  }
}

}  // namespace

bool ParseFieldPath(absl::string_view path, std::vector<FieldPathStep>* out,
                    FieldPathError* error) {
  std::vector<FieldPathStep> steps;
  auto fail = [error](size_t pos, const char* expected) {
    error->position = pos;
    error->expected = expected;
    return false;
  };
  if (path.empty()) return fail(0, "a field name");
  size_t pos = 0;
  while (true) {
    if (IsKeyedMap(steps)) {
      // The rest of the path is one label or annotation key, dots and all.
      if (pos >= path.size()) return fail(pos, "a key");
      FieldPathStep step;
      step.member = std::string(path.substr(pos));
      steps.push_back(std::move(step));
      *out = std::move(steps);
      return true;
    }
    size_t start = pos;
    while (pos < path.size() && path[pos] != '.' && path[pos] != '[' && path[pos] != ']') ++pos;
    if (pos == start) return fail(pos, "a field name");
    FieldPathStep member;
    member.member = std::string(path.substr(start, pos - start));
    steps.push_back(std::move(member));
    while (pos < path.size() && path[pos] == '[') {
      ++pos;  // past the '['
      size_t close = path.find(']', pos);
      if (close == absl::string_view::npos) return fail(path.size(), "']'");
      absl::string_view inside = path.substr(pos, close - pos);
      FieldPathStep step;
      if (inside == "*") {
        step.kind = FieldPathStep::Kind::kEach;
      } else {
        uint64_t index = 0;
        bool digits =
            !inside.empty() && inside.find_first_not_of("0123456789") == absl::string_view::npos;
        if (!digits || !absl::SimpleAtoi(inside, &index)) {
          return fail(pos, "'*' or an array index");
        }
        step.kind = FieldPathStep::Kind::kIndex;
        step.index = static_cast<size_t>(index);
      }
      steps.push_back(std::move(step));
      pos = close + 1;
    }
    if (pos == path.size()) {
      *out = std::move(steps);
      return true;
    }
    if (path[pos] != '.') return fail(pos, "'.' or '['");
    ++pos;
    if (pos == path.size()) return fail(pos, IsKeyedMap(steps) ? "a key" : "a field name");
  }
}

absl::StatusOr<std::vector<FieldPathStep>> ParseFieldPath(absl::string_view path) {
  std::vector<FieldPathStep> steps;
  FieldPathError error;
  if (!ParseFieldPath(path, &steps, &error)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "field path \"%s\": expected %s at position %d", path, error.expected, error.position));
  }
  return steps;
}

void CollectFieldValues(const rapidjson::Value& root, const std::vector<FieldPathStep>& steps,
                        std::vector<std::string>* out) {
  Collect(
      root, steps, 0, [out](absl::string_view value) { out->emplace_back(value); }, nullptr);
}

bool CollectFieldValuesExactly(const rapidjson::Value& root,
                               const std::vector<FieldPathStep>& steps,
                               std::vector<std::string>* out) {
  return VisitFieldValuesExactly(root, steps,
                                 [out](absl::string_view value) { out->emplace_back(value); });
}

bool VisitFieldValuesExactly(const rapidjson::Value& root, const std::vector<FieldPathStep>& steps,
                             absl::FunctionRef<void(absl::string_view)> visit) {
  bool inexact = false;
  Collect(root, steps, 0, visit, &inexact);
  return !inexact;
}

absl::StatusOr<FieldPath> FieldPath::Parse(absl::string_view text) {
  absl::StatusOr<std::vector<FieldPathStep>> steps = ParseFieldPath(text);
  if (!steps.ok()) return steps.status();
  return FieldPath(std::string(text), *std::move(steps));
}

FieldPath::FieldPath(std::string text, std::vector<FieldPathStep> steps)
    : text_(std::move(text)), steps_(std::move(steps)) {
  // The same cases Object answers from its parsed metadata.
  if (steps_.size() == 2 && steps_[0].kind == FieldPathStep::Kind::kMember &&
      steps_[0].member == "metadata" && steps_[1].kind == FieldPathStep::Kind::kMember) {
    if (steps_[1].member == "name") source_ = Source::kName;
    if (steps_[1].member == "namespace") source_ = Source::kNamespace;
  } else if (steps_.size() == 3 && StartsWithKeyedMap(steps_)) {
    source_ = steps_[1].member == "labels" ? Source::kLabel : Source::kAnnotation;
  }
}

const std::string& FieldPath::key() const {
  static const std::string* const kEmpty = new std::string();
  if (source_ == Source::kLabel || source_ == Source::kAnnotation) return steps_[2].member;
  return *kEmpty;
}

}  // namespace informer
