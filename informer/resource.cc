#include "informer/resource.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace informer {

std::string GroupVersionResource::ToString() const {
  if (group.empty()) return absl::StrCat(resource, ".", version);
  return absl::StrCat(resource, ".", version, ".", group);
}

std::string GroupVersionResource::ApiVersion() const {
  if (group.empty()) return version;
  return absl::StrCat(group, "/", version);
}

bool ResourceInfo::SupportsListWatch() const {
  auto has = [this](const char* verb) {
    return std::find(verbs.begin(), verbs.end(), verb) != verbs.end();
  };
  return has("list") && has("watch");
}

}  // namespace informer
