#include "informer/k8s/discovery.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "informer/clock.h"
#include "informer/json.h"
#include "informer/k8s/json_util.h"
#include "rapidjson/document.h"

namespace informer {
namespace k8s {
namespace {

// Aggregated discovery first (v2, then v2beta1 for 1.26-1.29 servers), plain JSON otherwise.
constexpr char kAggregatedAccept[] =
    "Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
    "application/json";

using JsonValue = rapidjson::Value;

const JsonValue* ArrayMember(const JsonValue& object, const char* name) {
  if (!object.IsObject()) return nullptr;
  auto it = object.FindMember(name);
  if (it == object.MemberEnd() || !it->value.IsArray()) return nullptr;
  return &it->value;
}

absl::StatusOr<rapidjson::Document> ParseJson(const std::string& body, absl::string_view what) {
  rapidjson::Document document;
  if (absl::Status s = informer::ParseJson(body, &document); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("discovery: ", what, ": ", s.message()));
  }
  if (!document.IsObject()) {
    return absl::InvalidArgumentError(absl::StrCat("discovery: ", what, " is not a JSON object"));
  }
  return document;
}

// kubectl's fallback when an old server sends no singularName.
std::string SingularOf(const ResourceInfo& info) {
  return info.singular_name.empty() ? absl::AsciiStrToLower(info.kind) : info.singular_name;
}

// Parses an APIResourceList (legacy discovery of one group-version) into `out`.
void AddLegacyResources(const JsonValue& list, const std::string& group, const std::string& version,
                        std::vector<ResourceInfo>* out) {
  const JsonValue* resources = ArrayMember(list, "resources");
  if (resources == nullptr) return;
  for (const JsonValue& resource : resources->GetArray()) {
    ResourceInfo info;
    info.gvr = {group, version, StringMember(resource, "name")};
    if (info.gvr.resource.empty() || absl::StrContains(info.gvr.resource, '/')) continue;
    info.kind = StringMember(resource, "kind");
    auto namespaced = resource.FindMember("namespaced");
    info.namespaced = namespaced != resource.MemberEnd() && namespaced->value.IsBool() &&
                      namespaced->value.GetBool();
    info.verbs = StringArrayMember(resource, "verbs");
    info.short_names = StringArrayMember(resource, "shortNames");
    info.singular_name = StringMember(resource, "singularName");
    info.singular_name = SingularOf(info);
    out->push_back(std::move(info));
  }
}

// Parses one APIGroupDiscovery (an item of an APIGroupDiscoveryList) into `view` parts.
void AddAggregatedGroup(const JsonValue& item, std::vector<ResourceInfo>* resources,
                        std::vector<ApiGroupInfo>* groups, std::vector<std::string>* failed) {
  ApiGroupInfo group;
  auto metadata = item.FindMember("metadata");
  if (metadata != item.MemberEnd()) group.name = StringMember(metadata->value, "name");
  const JsonValue* versions = ArrayMember(item, "versions");
  if (versions == nullptr) return;
  for (const JsonValue& version_item : versions->GetArray()) {
    const std::string version = StringMember(version_item, "version");
    if (version.empty()) continue;
    group.versions.push_back(version);
    const std::string group_version =
        group.name.empty() ? version : absl::StrCat(group.name, "/", version);
    if (StringMember(version_item, "freshness") == "Stale") failed->push_back(group_version);
    const JsonValue* list = ArrayMember(version_item, "resources");
    if (list == nullptr) continue;
    for (const JsonValue& resource : list->GetArray()) {
      ResourceInfo info;
      info.gvr = {group.name, version, StringMember(resource, "resource")};
      if (info.gvr.resource.empty()) continue;
      auto kind = resource.FindMember("responseKind");
      if (kind != resource.MemberEnd()) info.kind = StringMember(kind->value, "kind");
      info.namespaced = StringMember(resource, "scope") == "Namespaced";
      info.verbs = StringArrayMember(resource, "verbs");
      info.short_names = StringArrayMember(resource, "shortNames");
      info.singular_name = StringMember(resource, "singularResource");
      info.singular_name = SingularOf(info);
      resources->push_back(std::move(info));
    }
  }
  if (group.versions.empty()) return;
  group.preferred_version = group.versions.front();  // versions come in preference order
  groups->push_back(std::move(group));
}

bool IsAggregated(const HttpResponse& response, const JsonValue& document) {
  return absl::StrContains(response.content_type, "as=APIGroupDiscoveryList") ||
         StringMember(document, "kind") == "APIGroupDiscoveryList";
}

// The groups' order of preference when several match a name: core first, then the server's.
size_t GroupRank(const std::vector<ApiGroupInfo>& groups, const std::string& name) {
  for (size_t i = 0; i < groups.size(); ++i) {
    if (groups[i].name == name) return i;
  }
  return groups.size();
}

const ApiGroupInfo* FindGroup(const std::vector<ApiGroupInfo>& groups, const std::string& name) {
  for (const ApiGroupInfo& group : groups) {
    if (group.name == name) return &group;
  }
  return nullptr;
}

bool HasVersion(const ApiGroupInfo& group, const std::string& version) {
  return std::find(group.versions.begin(), group.versions.end(), version) != group.versions.end();
}

// The position of `version` in the group's preference order.
size_t VersionRank(const ApiGroupInfo* group, const std::string& version) {
  if (group == nullptr) return 0;
  auto it = std::find(group->versions.begin(), group->versions.end(), version);
  return static_cast<size_t>(it - group->versions.begin());
}

// "deployments.apps", or "configmaps" for the core group: the name to qualify a choice with.
std::string QualifiedName(const ResourceInfo& info) {
  return info.gvr.group.empty() ? info.gvr.resource
                                : absl::StrCat(info.gvr.resource, ".", info.gvr.group);
}

}  // namespace

Discovery::Discovery(std::shared_ptr<RestClient> client, absl::Duration min_refresh_interval)
    : client_(std::move(client)),
      min_refresh_interval_(min_refresh_interval),
      view_(std::make_shared<const View>()) {}

std::shared_ptr<const Discovery::View> Discovery::view() const {
  absl::MutexLock lock(&mu_);
  return view_;
}

absl::StatusOr<bool> Discovery::FetchAggregated(View* view) {
  for (const char* path : {"/api", "/apis"}) {
    HttpRequest request;
    request.path = path;
    request.headers.push_back(kAggregatedAccept);
    absl::StatusOr<HttpResponse> response = client_->Do(request);
    if (!response.ok()) return response.status();
    absl::StatusOr<rapidjson::Document> document = ParseJson(response->body, path);
    if (!document.ok()) return document.status();
    if (!IsAggregated(*response, *document)) return false;
    const JsonValue* items = ArrayMember(*document, "items");
    if (items == nullptr) continue;
    for (const JsonValue& item : items->GetArray()) {
      AddAggregatedGroup(item, &view->resources, &view->groups, &view->failed);
    }
  }
  return true;
}

absl::Status Discovery::FetchLegacy(View* view) {
  // The core group: /api lists its versions, /api/<version> its resources.
  absl::StatusOr<std::string> core = client_->Get("/api");
  if (!core.ok()) return core.status();
  absl::StatusOr<rapidjson::Document> core_document = ParseJson(*core, "/api");
  if (!core_document.ok()) return core_document.status();
  ApiGroupInfo core_group;
  core_group.versions = StringArrayMember(*core_document, "versions");
  std::vector<std::pair<std::string, std::string>> group_versions;  // (group, version)
  for (const std::string& version : core_group.versions) group_versions.emplace_back("", version);
  if (!core_group.versions.empty()) {
    core_group.preferred_version = core_group.versions.front();
    view->groups.push_back(core_group);
  }

  absl::StatusOr<std::string> apis = client_->Get("/apis");
  if (!apis.ok()) return apis.status();
  absl::StatusOr<rapidjson::Document> groups_document = ParseJson(*apis, "/apis");
  if (!groups_document.ok()) return groups_document.status();
  if (const JsonValue* groups = ArrayMember(*groups_document, "groups")) {
    for (const JsonValue& item : groups->GetArray()) {
      ApiGroupInfo group;
      group.name = StringMember(item, "name");
      if (const JsonValue* versions = ArrayMember(item, "versions")) {
        for (const JsonValue& version : versions->GetArray()) {
          std::string name = StringMember(version, "version");
          if (name.empty()) continue;
          group.versions.push_back(name);
          group_versions.emplace_back(group.name, name);
        }
      }
      auto preferred = item.FindMember("preferredVersion");
      if (preferred != item.MemberEnd()) {
        group.preferred_version = StringMember(preferred->value, "version");
      }
      if (group.preferred_version.empty() && !group.versions.empty()) {
        group.preferred_version = group.versions.front();
      }
      if (group.name.empty() || group.versions.empty()) continue;
      view->groups.push_back(std::move(group));
    }
  }

  for (const auto& [group, version] : group_versions) {
    const std::string path = group.empty() ? absl::StrCat("/api/", version)
                                           : absl::StrCat("/apis/", group, "/", version);
    const std::string group_version = group.empty() ? version : absl::StrCat(group, "/", version);
    absl::StatusOr<std::string> body = client_->Get(path);
    if (!body.ok()) {
      view->failed.push_back(group_version);
      continue;
    }
    absl::StatusOr<rapidjson::Document> list = ParseJson(*body, path);
    if (!list.ok()) {
      view->failed.push_back(group_version);
      continue;
    }
    AddLegacyResources(*list, group, version, &view->resources);
  }
  return absl::OkStatus();
}

absl::Status Discovery::Refresh() {
  {
    absl::MutexLock lock(&mu_);
    last_refresh_ = MonotonicNow();
  }
  auto next = std::make_shared<View>();
  absl::StatusOr<bool> aggregated = FetchAggregated(next.get());
  if (!aggregated.ok()) return aggregated.status();
  if (*aggregated) {
    next->aggregated = true;
  } else {
    *next = View();
    if (absl::Status s = FetchLegacy(next.get()); !s.ok()) return s;
  }
  // Core first, then the server's order (aggregated /api and /apis already come that way).
  std::stable_sort(next->groups.begin(), next->groups.end(),
                   [](const ApiGroupInfo& a, const ApiGroupInfo& b) {
                     return a.name.empty() && !b.name.empty();
                   });
  std::sort(next->resources.begin(), next->resources.end(),
            [](const ResourceInfo& a, const ResourceInfo& b) { return a.gvr < b.gvr; });
  absl::MutexLock lock(&mu_);
  view_ = std::move(next);
  return absl::OkStatus();
}

std::vector<ResourceInfo> Discovery::Resources() const { return view()->resources; }

std::vector<ResourceInfo> Discovery::PreferredResources() const {
  std::shared_ptr<const View> current = view();
  // (group, resource) -> the entry with the best version rank.
  std::map<std::pair<std::string, std::string>, const ResourceInfo*> best;
  for (const ResourceInfo& info : current->resources) {
    const ApiGroupInfo* group = FindGroup(current->groups, info.gvr.group);
    auto key = std::make_pair(info.gvr.group, info.gvr.resource);
    auto it = best.find(key);
    if (it == best.end() ||
        VersionRank(group, info.gvr.version) < VersionRank(group, it->second->gvr.version)) {
      best[key] = &info;
    }
  }
  std::vector<ResourceInfo> out;
  for (const auto& entry : best) out.push_back(*entry.second);
  std::sort(out.begin(), out.end(),
            [](const ResourceInfo& a, const ResourceInfo& b) { return a.gvr < b.gvr; });
  return out;
}

std::vector<ApiGroupInfo> Discovery::Groups() const { return view()->groups; }

std::vector<std::string> Discovery::FailedGroupVersions() const { return view()->failed; }

bool Discovery::aggregated() const { return view()->aggregated; }

absl::StatusOr<ResourceInfo> Discovery::Find(const GroupVersionResource& gvr) const {
  std::shared_ptr<const View> current = view();
  for (const ResourceInfo& info : current->resources) {
    if (info.gvr == gvr) return info;
  }
  return absl::NotFoundError(
      absl::StrCat("the server does not serve ", gvr.ToString(), " (", gvr.ApiVersion(), ")"));
}

absl::StatusOr<ResourceInfo> Discovery::Resolve(absl::string_view raw_name) const {
  std::shared_ptr<const View> current = view();
  const std::string name = absl::AsciiStrToLower(absl::StripAsciiWhitespace(raw_name));
  if (name.empty()) return absl::InvalidArgumentError("empty resource name");

  // "resource", "resource.group" or "resource.version.group".
  const size_t dot = name.find('.');
  const std::string resource_part = name.substr(0, dot);
  std::optional<std::string> group_filter;
  std::optional<std::string> version_filter;
  if (dot != std::string::npos) {
    const std::string rest = name.substr(dot + 1);
    const size_t second_dot = rest.find('.');
    const ApiGroupInfo* versioned = second_dot == std::string::npos
                                        ? nullptr
                                        : FindGroup(current->groups, rest.substr(second_dot + 1));
    const ApiGroupInfo* core = FindGroup(current->groups, "");
    if (versioned != nullptr && HasVersion(*versioned, rest.substr(0, second_dot))) {
      version_filter = rest.substr(0, second_dot);
      group_filter = versioned->name;
    } else if (FindGroup(current->groups, rest) != nullptr) {
      group_filter = rest;
    } else if (core != nullptr && HasVersion(*core, rest)) {
      group_filter = "";  // "pods.v1": the core group at a version
      version_filter = rest;
    } else {
      return absl::NotFoundError(
          absl::StrCat("the server has no API group \"", rest, "\" (in \"", raw_name,
                       "\"); qualify a resource as RESOURCE.GROUP or RESOURCE.VERSION.GROUP, e.g. "
                       "deployments.apps"));
    }
  }

  auto matches_filters = [&](const ResourceInfo& info) {
    return (!group_filter.has_value() || info.gvr.group == *group_filter) &&
           (!version_filter.has_value() || info.gvr.version == *version_filter);
  };
  // kubectl's order: plural, singular, short name, kind; the first tier with a match wins.
  using Matcher = bool (*)(const ResourceInfo&, const std::string&);
  const Matcher tiers[] = {
      [](const ResourceInfo& info, const std::string& n) { return info.gvr.resource == n; },
      [](const ResourceInfo& info, const std::string& n) { return info.singular_name == n; },
      [](const ResourceInfo& info, const std::string& n) {
        for (const std::string& short_name : info.short_names) {
          if (absl::AsciiStrToLower(short_name) == n) return true;
        }
        return false;
      },
      [](const ResourceInfo& info, const std::string& n) {
        return absl::AsciiStrToLower(info.kind) == n;
      },
  };
  std::vector<const ResourceInfo*> matches;
  for (Matcher matcher : tiers) {
    for (const ResourceInfo& info : current->resources) {
      if (matches_filters(info) && matcher(info, resource_part)) matches.push_back(&info);
    }
    if (!matches.empty()) break;
  }
  if (matches.empty()) {
    std::vector<std::string> similar;
    std::set<std::string> seen;
    for (const ResourceInfo& info : current->resources) {
      if (similar.size() >= 5) break;
      if (absl::StrContains(info.gvr.resource, resource_part) ||
          absl::StrContains(absl::AsciiStrToLower(info.kind), resource_part)) {
        if (seen.insert(QualifiedName(info)).second) similar.push_back(QualifiedName(info));
      }
    }
    return absl::NotFoundError(absl::StrCat(
        "the server doesn't have a resource type \"", raw_name, "\"",
        similar.empty() ? "" : absl::StrCat(" (did you mean ", absl::StrJoin(similar, ", "), "?)"),
        "; `kubectl api-resources` lists what it serves, and a CRD created just now needs a "
        "discovery refresh"));
  }

  // Per group, the most preferred version among the matches.
  std::map<std::string, const ResourceInfo*> per_group;
  for (const ResourceInfo* info : matches) {
    const ApiGroupInfo* group = FindGroup(current->groups, info->gvr.group);
    auto it = per_group.find(info->gvr.group);
    if (it == per_group.end() ||
        VersionRank(group, info->gvr.version) < VersionRank(group, it->second->gvr.version)) {
      per_group[info->gvr.group] = info;
    }
  }
  if (per_group.size() == 1) return *per_group.begin()->second;
  if (auto core = per_group.find(""); core != per_group.end()) return *core->second;
  std::vector<const ResourceInfo*> choices;
  for (const auto& entry : per_group) choices.push_back(entry.second);
  std::sort(choices.begin(), choices.end(), [&](const ResourceInfo* a, const ResourceInfo* b) {
    return GroupRank(current->groups, a->gvr.group) < GroupRank(current->groups, b->gvr.group);
  });
  std::vector<std::string> names;
  for (const ResourceInfo* info : choices) names.push_back(QualifiedName(*info));
  return absl::InvalidArgumentError(absl::StrCat("\"", raw_name, "\" is ambiguous: it names ",
                                                 absl::StrJoin(names, " and "),
                                                 "; qualify it with the group"));
}

absl::StatusOr<ResourceInfo> Discovery::ResolveOrRefresh(absl::string_view name) {
  absl::StatusOr<ResourceInfo> resolved = Resolve(name);
  if (!absl::IsNotFound(resolved.status())) return resolved;
  {
    absl::MutexLock lock(&mu_);
    if (MonotonicNow() - last_refresh_ < min_refresh_interval_) return resolved;
  }
  if (absl::Status s = Refresh(); !s.ok()) return s;
  return Resolve(name);
}

}  // namespace k8s
}  // namespace informer
