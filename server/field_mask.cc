#include "server/field_mask.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "informer/field_path.h"
#include "informer/json.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace informer {
namespace server {
namespace {

using Allocator = rapidjson::Document::AllocatorType;

// Adds `steps` (member names) to the tree under `node`.
void Insert(const std::vector<std::string>& steps, FieldMask::Node* node) {
  for (const std::string& step : steps) {
    if (node->whole) return;  // a shorter path already selects all of it
    node = &node->children[step];
  }
  node->whole = true;
  node->children.clear();
}

// Prunes `value` to what `node` selects; returns whether anything of it is selected.
bool Prune(rapidjson::Value& value, const FieldMask::Node& node, Allocator& allocator) {
  if (node.whole) return true;
  if (value.IsObject()) {
    rapidjson::Value kept(rapidjson::kObjectType);
    for (auto& member : value.GetObject()) {
      const std::string name(member.name.GetString(), member.name.GetStringLength());
      auto child = node.children.find(name);
      // The first of repeated keys wins, as when the object was decoded.
      if (child == node.children.end() || kept.HasMember(member.name)) continue;
      if (Prune(member.value, child->second, allocator)) {
        kept.AddMember(member.name, member.value, allocator);  // moves, copies nothing
      }
    }
    const bool any = kept.MemberCount() > 0;
    value = std::move(kept);
    return any;
  }
  if (value.IsArray()) {
    rapidjson::Value kept(rapidjson::kArrayType);
    bool any = false;
    for (auto& element : value.GetArray()) {
      if (!element.IsObject()) continue;
      any = Prune(element, node, allocator) || any;
      kept.PushBack(element, allocator);
    }
    value = std::move(kept);
    return any;
  }
  return false;  // a scalar where the path goes on: nothing under it
}

std::string Write(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace

absl::StatusOr<std::shared_ptr<const FieldMask>> FieldMask::Parse(
    const std::vector<std::string>& paths) {
  if (paths.empty()) return std::shared_ptr<const FieldMask>();
  if (paths.size() > kMaxFieldPaths) {
    return absl::InvalidArgumentError(
        absl::StrCat("fields has ", paths.size(), " paths; at most ", kMaxFieldPaths,
                     " are allowed (a shorter path selects everything under it)"));
  }
  std::shared_ptr<FieldMask> mask(new FieldMask());
  std::vector<std::string> sorted;
  for (const std::string& path : paths) {
    if (path.empty()) {
      return absl::InvalidArgumentError(
          "fields holds an empty path; name a field such as \"metadata.labels\"");
    }
    if (path.size() > kMaxFieldPathBytes) {
      return absl::InvalidArgumentError(absl::StrCat("field path \"", path.substr(0, 64),
                                                     "...\" is ", path.size(), " bytes; at most ",
                                                     kMaxFieldPathBytes, " are allowed"));
    }
    absl::StatusOr<std::vector<FieldPathStep>> steps = ParseFieldPath(path);
    if (!steps.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("field path \"", path, "\" does not parse: ", steps.status().message()));
    }
    std::vector<std::string> members;
    for (const FieldPathStep& step : *steps) {
      if (step.kind != FieldPathStep::Kind::kMember) {
        return absl::InvalidArgumentError(absl::StrCat(
            "field path \"", path,
            "\" selects array elements; a mask cannot: name the array (\"status.conditions\") "
            "or a field of its elements (\"status.conditions.type\")"));
      }
      members.push_back(step.member);
    }
    Insert(members, &mask->root_);
    sorted.push_back(path);
  }
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  mask->key_ = absl::StrJoin(sorted, ",");
  for (const char* kept : kAlwaysKeptPaths) {
    absl::StatusOr<std::vector<FieldPathStep>> steps = ParseFieldPath(kept);
    std::vector<std::string> members;
    for (const FieldPathStep& step : *steps) members.push_back(step.member);
    Insert(members, &mask->root_);
  }
  return std::shared_ptr<const FieldMask>(std::move(mask));
}

absl::StatusOr<MaskedObjectPtr> FieldMask::Apply(const Object& object, bool with_content) const {
  rapidjson::Document document;
  std::string buffer;
  if (absl::Status s = ParseJson(object.PlainJson(&buffer), &document); !s.ok()) {
    return absl::InternalError(
        absl::StrCat("cached object ", object.key(), " does not parse again: ", s.message()));
  }
  Prune(document, root_, document.GetAllocator());
  auto masked = std::make_shared<MaskedObject>();
  if (with_content) {
    // The version emptied for the comparison, then put back in its place.
    rapidjson::Value* version = nullptr;
    if (auto metadata = document.FindMember("metadata");
        metadata != document.MemberEnd() && metadata->value.IsObject()) {
      if (auto it = metadata->value.FindMember("resourceVersion");
          it != metadata->value.MemberEnd()) {
        version = &it->value;
      }
    }
    rapidjson::Value saved;
    if (version != nullptr) {
      saved = std::move(*version);
      version->SetString("");
    }
    masked->content = Write(document);
    if (version != nullptr) *version = std::move(saved);
  }
  absl::StatusOr<ObjectPtr> pruned =
      Object::FromJsonValue(document, document.GetAllocator(), "", "");
  if (!pruned.ok()) {
    return absl::InternalError(absl::StrCat("masked object ", object.key(),
                                            " is not an object: ", pruned.status().message()));
  }
  masked->object = *std::move(pruned);
  return MaskedObjectPtr(std::move(masked));
}

MaskedObjectCache::MaskedObjectCache(size_t max_entries, size_t max_bytes)
    : max_entries_(max_entries), max_bytes_(max_bytes) {}

absl::StatusOr<MaskedObjectPtr> MaskedObjectCache::Get(const FieldMask& mask,
                                                       const ObjectPtr& object) {
  Key key(object.get(), mask.key());
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(key);
    if (it != entries_.end() && it->second.source.lock() == object) {
      ++hits_;
      return it->second.masked;
    }
  }
  // Pruned outside the lock; two streams racing on one version both prune it, once.
  absl::StatusOr<MaskedObjectPtr> masked = mask.Apply(*object, /*with_content=*/true);
  if (!masked.ok()) return masked;
  const size_t bytes = (*masked)->object->ApproximateBytes() + (*masked)->content.size();
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = entries_.try_emplace(key);
  if (!inserted) {
    bytes_ -= it->second.bytes;  // a freed object's entry, or the race above
  } else {
    oldest_first_.push_back(std::move(key));
  }
  it->second = Entry{object, *masked, bytes};
  bytes_ += bytes;
  while (oldest_first_.size() > 1 && (oldest_first_.size() > max_entries_ || bytes_ > max_bytes_)) {
    auto oldest = entries_.find(oldest_first_.front());
    bytes_ -= oldest->second.bytes;
    entries_.erase(oldest);
    oldest_first_.pop_front();
  }
  return masked;
}

size_t MaskedObjectCache::size() const {
  absl::MutexLock lock(&mu_);
  return entries_.size();
}

uint64_t MaskedObjectCache::hits() const {
  absl::MutexLock lock(&mu_);
  return hits_;
}

}  // namespace server
}  // namespace informer
