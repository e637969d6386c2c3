#include "informerd/object.h"

#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "rapidjson/error/en.h"

namespace informerd {
namespace {

// The string member `name` of `obj`, or "" when absent or not a string.
std::string StringMember(const rapidjson::Value& obj, const char* name) {
  if (!obj.IsObject()) return "";
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd() || !it->value.IsString()) return "";
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

}  // namespace

std::string ObjectKey(absl::string_view namespace_name, absl::string_view name) {
  if (namespace_name.empty()) return std::string(name);
  return absl::StrCat(namespace_name, "/", name);
}

absl::Status Object::Parse() {
  if (json_.empty()) {
    doc_.SetObject();
    return absl::OkStatus();
  }
  doc_.Parse(json_.data(), json_.size());
  if (doc_.HasParseError()) {
    return absl::InvalidArgumentError(
        absl::StrCat("object JSON does not parse at offset ", doc_.GetErrorOffset(), ": ",
                     rapidjson::GetParseError_En(doc_.GetParseError())));
  }
  if (!doc_.IsObject()) return absl::InvalidArgumentError("object JSON is not a JSON object");
  return absl::OkStatus();
}

absl::StatusOr<ObjectPtr> Object::FromProto(const informer::v1::Object& proto) {
  std::shared_ptr<Object> obj(new Object());
  obj->namespace_name_ = proto.namespace_();
  obj->name_ = proto.name();
  obj->uid_ = proto.uid();
  obj->resource_version_ = proto.resource_version();
  obj->key_ = ObjectKey(obj->namespace_name_, obj->name_);
  obj->json_ = proto.json();
  if (absl::Status s = obj->Parse(); !s.ok()) return s;
  return ObjectPtr(std::move(obj));
}

absl::StatusOr<ObjectPtr> Object::FromJson(absl::string_view json) {
  std::shared_ptr<Object> obj(new Object());
  obj->json_ = std::string(json);
  if (absl::Status s = obj->Parse(); !s.ok()) return s;
  auto meta = obj->doc_.FindMember("metadata");
  if (meta == obj->doc_.MemberEnd() || StringMember(meta->value, "name").empty()) {
    return absl::InvalidArgumentError("object JSON has no metadata.name");
  }
  obj->namespace_name_ = StringMember(meta->value, "namespace");
  obj->name_ = StringMember(meta->value, "name");
  obj->uid_ = StringMember(meta->value, "uid");
  obj->resource_version_ = StringMember(meta->value, "resourceVersion");
  obj->key_ = ObjectKey(obj->namespace_name_, obj->name_);
  return ObjectPtr(std::move(obj));
}

const std::string& KeyOf(const DeletedObject& deleted) {
  if (const auto* tombstone = std::get_if<DeletedFinalStateUnknown>(&deleted)) {
    return tombstone->key;
  }
  return std::get<ObjectPtr>(deleted)->key();
}

const ObjectPtr& ObjectOf(const DeletedObject& deleted) {
  if (const auto* tombstone = std::get_if<DeletedFinalStateUnknown>(&deleted)) {
    return tombstone->obj;
  }
  return std::get<ObjectPtr>(deleted);
}

bool ResourceVersionNewer(absl::string_view a, absl::string_view b) {
  uint64_t x = 0, y = 0;
  if (!absl::SimpleAtoi(a, &x) || !absl::SimpleAtoi(b, &y)) return a != b;
  return x > y;
}

}  // namespace informerd
