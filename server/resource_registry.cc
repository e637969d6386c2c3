#include "server/resource_registry.h"

#include <algorithm>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace informer {
namespace server {
namespace {

// Whether `qualifier` (the text after the first '.', lowercase) selects `gvr`: empty, the
// group, "version.group", or for the core group the version alone.
bool QualifierMatches(const GroupVersionResource& gvr, absl::string_view qualifier) {
  if (qualifier.empty()) return true;
  const std::string group = absl::AsciiStrToLower(gvr.group);
  const std::string version = absl::AsciiStrToLower(gvr.version);
  if (gvr.group.empty()) return qualifier == version;
  return qualifier == group || qualifier == absl::StrCat(version, ".", group);
}

bool NameMatchesTier(const ResourceInfo& info, absl::string_view name, int tier) {
  switch (tier) {
    case 0:
      return absl::AsciiStrToLower(info.gvr.resource) == name;
    case 1:
      return !info.singular_name.empty() && absl::AsciiStrToLower(info.singular_name) == name;
    case 2:
      for (const std::string& short_name : info.short_names) {
        if (absl::AsciiStrToLower(short_name) == name) return true;
      }
      return false;
    default:
      return !info.kind.empty() && absl::AsciiStrToLower(info.kind) == name;
  }
}

}  // namespace

absl::Status ResourceRegistry::Add(CachedResource resource) {
  absl::MutexLock lock(&mu_);
  for (const CachedResource& existing : resources_) {
    if (existing.info.gvr == resource.info.gvr) {
      return absl::AlreadyExistsError(
          absl::StrCat(resource.info.gvr.ToString(), " is registered already"));
    }
  }
  resources_.push_back(std::move(resource));
  std::sort(
      resources_.begin(), resources_.end(),
      [](const CachedResource& a, const CachedResource& b) { return a.info.gvr < b.info.gvr; });
  return absl::OkStatus();
}

absl::StatusOr<CachedResource> ResourceRegistry::Resolve(absl::string_view raw_name) const {
  const std::string name = absl::AsciiStrToLower(absl::StripAsciiWhitespace(raw_name));
  if (name.empty()) {
    return absl::InvalidArgumentError(
        "resource is empty; name one as kubectl does, e.g. \"pods\" or \"deployments.apps\"");
  }
  const size_t dot = name.find('.');
  const std::string base = name.substr(0, dot);
  const std::string qualifier = dot == std::string::npos ? "" : name.substr(dot + 1);

  absl::MutexLock lock(&mu_);
  std::vector<const CachedResource*> matches;
  for (int tier = 0; tier < 4 && matches.empty(); ++tier) {
    for (const CachedResource& resource : resources_) {
      if (QualifierMatches(resource.info.gvr, qualifier) &&
          NameMatchesTier(resource.info, base, tier)) {
        matches.push_back(&resource);
      }
    }
  }
  if (matches.empty()) {
    std::vector<std::string> cached;
    for (const CachedResource& resource : resources_) {
      cached.push_back(resource.info.gvr.ToString());
    }
    return absl::NotFoundError(
        absl::StrCat("resource \"", raw_name, "\" is not cached by this informerd (cached: ",
                     cached.empty() ? "none" : absl::StrJoin(cached, ", "),
                     "); name one of those, or add it to the server's --resources"));
  }
  // One entry per group: the first (configured) version among the matches.
  std::map<std::string, const CachedResource*> per_group;
  for (const CachedResource* match : matches) per_group.emplace(match->info.gvr.group, match);
  if (per_group.size() == 1) {
    const CachedResource* only = per_group.begin()->second;
    // Several versions of one group: ambiguous unless the name gave a version.
    size_t versions = 0;
    for (const CachedResource* match : matches) {
      if (match->info.gvr.group == only->info.gvr.group) ++versions;
    }
    if (versions == 1) return *only;
  } else if (auto core = per_group.find(""); core != per_group.end()) {
    return *core->second;
  }
  std::vector<std::string> choices;
  for (const CachedResource* match : matches) choices.push_back(match->info.gvr.ToString());
  return absl::InvalidArgumentError(
      absl::StrCat("resource \"", raw_name, "\" is ambiguous: it names ",
                   absl::StrJoin(choices, " and "), "; qualify it as RESOURCE.VERSION.GROUP"));
}

absl::StatusOr<CachedResource> ResourceRegistry::Find(const GroupVersionResource& gvr) const {
  absl::MutexLock lock(&mu_);
  for (const CachedResource& resource : resources_) {
    if (resource.info.gvr == gvr) return resource;
  }
  return absl::NotFoundError(absl::StrCat(gvr.ToString(), " is not cached"));
}

absl::Status ResourceRegistry::Remove(const GroupVersionResource& gvr) {
  absl::MutexLock lock(&mu_);
  for (auto it = resources_.begin(); it != resources_.end(); ++it) {
    if (it->info.gvr == gvr) {
      resources_.erase(it);
      return absl::OkStatus();
    }
  }
  return absl::NotFoundError(absl::StrCat(gvr.ToString(), " is not cached"));
}

std::vector<CachedResource> ResourceRegistry::All() const {
  absl::MutexLock lock(&mu_);
  return resources_;
}

}  // namespace server
}  // namespace informer
