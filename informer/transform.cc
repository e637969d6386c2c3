#include "informer/transform.h"

#include <string>
#include <utility>

namespace informer {
namespace {

rapidjson::Value* FindObjectMember(rapidjson::Value& object, const char* name) {
  if (!object.IsObject()) return nullptr;
  auto it = object.FindMember(name);
  if (it == object.MemberEnd() || !it->value.IsObject()) return nullptr;
  return &it->value;
}

}  // namespace

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
