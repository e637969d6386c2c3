#include "informer/object_decoder.h"

#include <string>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "informer/field_path.h"

namespace informer {
namespace {

constexpr char kTransformErrorPayload[] = "informer.dev/transform-error";

absl::Status TransformError(std::string message) {
  absl::Status status = absl::InvalidArgumentError(std::move(message));
  status.SetPayload(kTransformErrorPayload, absl::Cord("1"));
  return status;
}

// The key as the JSON states it right now, for error messages and the I7 check.
std::string CurrentKey(const rapidjson::Value& value) {
  if (!value.IsObject()) return "";
  auto metadata = value.FindMember("metadata");
  if (metadata == value.MemberEnd() || !metadata->value.IsObject()) return "";
  auto text = [&](const char* name) -> std::string {
    auto it = metadata->value.FindMember(name);
    if (it == metadata->value.MemberEnd() || !it->value.IsString()) return "";
    return std::string(it->value.GetString(), it->value.GetStringLength());
  };
  std::string name = text("name");
  if (name.empty()) return "";
  return ObjectKey(text("namespace"), name);
}

std::string Describe(const std::string& kind, const std::string& key) {
  if (key.empty()) return absl::StrCat(kind, " without metadata.name");
  return absl::StrFormat("%s \"%s\"", kind, key);
}

}  // namespace

ObjectDecoder::ObjectDecoder(const ResourceInfo& resource, std::vector<Transform> transforms,
                             const std::vector<std::string>& extracted_field_paths,
                             const JsonCompressionOptions* compression)
    : resource_(resource),
      api_version_(resource.gvr.ApiVersion()),
      transforms_(std::move(transforms)) {
  if (compression != nullptr && compression->enabled) {
    compressor_ = std::make_shared<JsonCompressor>(*compression, resource_.gvr.ToString());
  }
  auto extract = std::make_shared<const ExtractedFieldPaths>(extracted_field_paths);
  if (extract->size() > 0) extract_ = std::move(extract);
  // The fast path reads a path from the text of the top-level member it starts with (every
  // path that parses does start with one).
  extract_from_members_ = extract_ != nullptr;
  for (size_t i = 0; extract_ != nullptr && i < extract_->size(); ++i) {
    const std::vector<FieldPathStep>& steps = extract_->steps(i);
    if (steps.empty() || steps[0].kind != FieldPathStep::Kind::kMember) {
      extract_from_members_ = false;
    }
  }
  compact_ok_ = true;
  for (const Transform& transform : transforms_) {
    if (!transform) continue;
    using Function = absl::Status (*)(rapidjson::Value&, rapidjson::Document::AllocatorType&);
    const Function* function = transform.target<Function>();
    if (function != nullptr && *function == &StripManagedFields) {
      strip_managed_fields_ = true;
    } else {
      compact_ok_ = false;
    }
  }
}

bool ObjectDecoder::DecodeCompactEvent(absl::string_view frame, CompactEventType* type,
                                       ObjectPtr* object) const {
  if (!compact_ok_) return false;
  CompactDecodeOptions options;
  options.default_api_version = api_version_;
  options.default_kind = resource_.kind;
  options.strip_managed_fields = strip_managed_fields_;
  options.record_members = extract_from_members_;
  CompactObject decoded;
  if (!DecodeCompactWatchEvent(frame, options, type, &decoded)) return false;
  if (!extract_from_members_) {  // nothing to extract, or read from a parse of the JSON
    *object = Object::FromDecoded(std::move(decoded.json), std::move(decoded.api_version),
                                  std::move(decoded.kind), std::move(decoded.meta), extract_,
                                  nullptr, compressor_.get());
    return true;
  }
  // The paths are read from the text of the top-level member they start with (the first of a
  // repeated name, as FindMember finds it in the DOM path's document), one pass per member.
  std::vector<std::vector<std::string>> values(extract_->size());
  std::vector<bool> placed(extract_->size(), false);
  absl::InlinedVector<CompactFieldPath, 16> paths;
  for (const CompactObject::Member& member : decoded.members) {
    paths.clear();
    for (size_t i = 0; i < extract_->size(); ++i) {
      if (!placed[i] && extract_->steps(i)[0].member == member.name) {
        placed[i] = true;
        paths.push_back({&extract_->steps(i), &values[i]});
      }
    }
    if (paths.empty()) continue;
    CollectCompactFieldValues(
        absl::string_view(decoded.json).substr(member.begin, member.end - member.begin), paths, 1);
  }
  *object = Object::FromDecoded(std::move(decoded.json), std::move(decoded.api_version),
                                std::move(decoded.kind), std::move(decoded.meta), extract_, &values,
                                compressor_.get());
  return true;
}

absl::StatusOr<ObjectPtr> ObjectDecoder::Decode(
    rapidjson::Value& value, rapidjson::Document::AllocatorType& allocator) const {
  const std::string key = CurrentKey(value);
  const std::string what = Describe(resource_.kind, key);
  if (absl::Status s = Object::SetTypeMeta(value, allocator, api_version_, resource_.kind);
      !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("cannot decode ", what, ": ", s.message()));
  }
  for (size_t i = 0; i < transforms_.size(); ++i) {
    if (!transforms_[i]) continue;
    if (absl::Status s = transforms_[i](value, allocator); !s.ok()) {
      return TransformError(absl::StrCat("transform ", i, " failed on ", what, ": ", s.message()));
    }
    // A changed key would file the object under a name the API server does not know (I7).
    if (std::string now = CurrentKey(value); now != key) {
      return TransformError(
          absl::StrFormat("transform %d changed the key of %s to \"%s\"; transforms may not change "
                          "metadata.namespace or metadata.name",
                          i, what, now));
    }
  }
  absl::StatusOr<ObjectPtr> object = Object::FromJsonValue(
      value, allocator, api_version_, resource_.kind, extract_, compressor_.get());
  if (!object.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot decode ", what, ": ", object.status().message()));
  }
  return object;
}

bool IsTransformError(const absl::Status& status) {
  return status.GetPayload(kTransformErrorPayload).has_value();
}

std::string ResourceVersionOfJson(const rapidjson::Value& value) {
  if (!value.IsObject()) return "";
  auto metadata = value.FindMember("metadata");
  if (metadata == value.MemberEnd() || !metadata->value.IsObject()) return "";
  auto rv = metadata->value.FindMember("resourceVersion");
  if (rv == metadata->value.MemberEnd() || !rv->value.IsString()) return "";
  return std::string(rv->value.GetString(), rv->value.GetStringLength());
}

}  // namespace informer
