#include "informer/transform.h"

#include <string>
#include <utility>

#include "absl/strings/string_view.h"

namespace informer {
namespace {

rapidjson::Value* FindObjectMember(rapidjson::Value& object, const char* name) {
  if (!object.IsObject()) return nullptr;
  auto it = object.FindMember(name);
  if (it == object.MemberEnd() || !it->value.IsObject()) return nullptr;
  return &it->value;
}

bool StringMemberIs(const rapidjson::Value& object, const char* name, absl::string_view value) {
  auto it = object.FindMember(name);
  return it != object.MemberEnd() && it->value.IsString() &&
         absl::string_view(it->value.GetString(), it->value.GetStringLength()) == value;
}

void EraseAll(rapidjson::Value& object, const char* name) {
  // EraseMember removes one member per call; JSON with a repeated key keeps the others.
  while (object.EraseMember(name)) {
  }
}

}  // namespace

absl::Status ProjectToMetadata(rapidjson::Value& object,
                               rapidjson::Document::AllocatorType& allocator) {
  if (!object.IsObject()) return absl::InvalidArgumentError("object is not a JSON object");
  rapidjson::Value projected(rapidjson::kObjectType);
  projected.AddMember("kind", "PartialObjectMetadata", allocator);
  projected.AddMember("apiVersion", "meta.k8s.io/v1", allocator);
  // The first metadata wins: the key the decoder read came from it.
  for (auto& member : object.GetObject()) {
    const absl::string_view name(member.name.GetString(), member.name.GetStringLength());
    if (name == "metadata" && !projected.HasMember("metadata")) {
      projected.AddMember(member.name, member.value, allocator);  // moves, copies nothing
    }
  }
  object = std::move(projected);
  return absl::OkStatus();
}

absl::Status RedactSecretData(rapidjson::Value& object,
                              rapidjson::Document::AllocatorType& allocator) {
  if (!object.IsObject() || !StringMemberIs(object, "kind", "Secret") ||
      !StringMemberIs(object, "apiVersion", "v1")) {
    return absl::OkStatus();
  }
  EraseAll(object, "data");
  EraseAll(object, "stringData");
  return StripAnnotations({kLastAppliedAnnotation})(object, allocator);
}

absl::Status StripManagedFields(rapidjson::Value& object,
                                rapidjson::Document::AllocatorType& allocator) {
  if (rapidjson::Value* metadata = FindObjectMember(object, "metadata")) {
    // EraseMember keeps the order of the other members (RemoveMember would not).
    metadata->EraseMember("managedFields");
  }
  return absl::OkStatus();
}

Transform StripAnnotations(std::vector<std::string> keys) {
  return [keys = std::move(keys)](rapidjson::Value& object,
                                  rapidjson::Document::AllocatorType& allocator) {
    rapidjson::Value* metadata = FindObjectMember(object, "metadata");
    if (metadata == nullptr) return absl::OkStatus();
    rapidjson::Value* annotations = FindObjectMember(*metadata, "annotations");
    if (annotations == nullptr) return absl::OkStatus();
    for (const std::string& key : keys) {
      // EraseMember removes one member per call; JSON with a repeated key keeps the others.
      while (annotations->EraseMember(key)) {
      }
    }
    return absl::OkStatus();
  };
}

std::vector<Transform> DefaultTransforms() { return {Transform(StripManagedFields)}; }

}  // namespace informer
