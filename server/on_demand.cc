#include "server/on_demand.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "informer/clock.h"

namespace informer {
namespace server {
namespace {

constexpr char kPatternForms[] =
    "use `*`, RESOURCE (a core-group plural, e.g. configmaps), RESOURCE.GROUP (e.g. "
    "deployments.apps) or *.GROUP (e.g. *.example.com)";

}  // namespace

absl::Status ValidateOnDemandPattern(absl::string_view pattern) {
  if (pattern == "*") return absl::OkStatus();
  const size_t dot = pattern.find('.');
  const absl::string_view resource = pattern.substr(0, dot);
  const absl::string_view group =
      dot == absl::string_view::npos ? absl::string_view() : pattern.substr(dot + 1);
  const bool bad_resource =
      resource.empty() || (resource != "*" && absl::StrContains(resource, '*'));
  const bool bad_group = absl::StrContains(group, '*') ||
                         (dot != absl::string_view::npos && group.empty()) ||
                         (resource == "*" && group.empty());
  if (bad_resource || bad_group || pattern != absl::AsciiStrToLower(pattern)) {
    return absl::InvalidArgumentError(
        absl::StrCat("on-demand pattern \"", pattern, "\" is not valid: ", kPatternForms));
  }
  return absl::OkStatus();
}

bool OnDemandPatternMatches(absl::string_view pattern, const GroupVersionResource& gvr) {
  if (pattern == "*") return true;
  const size_t dot = pattern.find('.');
  const absl::string_view resource = pattern.substr(0, dot);
  const absl::string_view group =
      dot == absl::string_view::npos ? absl::string_view() : pattern.substr(dot + 1);
  return (resource == "*" || resource == gvr.resource) && group == gvr.group;
}

absl::Status CheckOnDemandPolicy(const OnDemandConfig& config, const GroupVersionResource& gvr) {
  for (const std::string& pattern : config.deny) {
    if (OnDemandPatternMatches(pattern, gvr)) {
      return absl::NotFoundError(
          absl::StrCat(gvr.ToString(), " is not cached by this informerd, and its on-demand ",
                       "caching is denied by the server's on_demand_deny (\"", pattern,
                       "\"); ask its operator to configure it"));
    }
  }
  for (const std::string& pattern : config.allow) {
    if (OnDemandPatternMatches(pattern, gvr)) return absl::OkStatus();
  }
  return absl::NotFoundError(
      absl::StrCat(gvr.ToString(), " is not cached by this informerd, and the server's ",
                   "on_demand_allow does not allow caching it on demand; ask its operator to "
                   "configure it"));
}

OnDemandCache::OnDemandCache(OnDemandConfig config, ResourceRegistry* registry, OnDemandHooks hooks)
    : config_(std::move(config)), registry_(registry), hooks_(std::move(hooks)) {}

absl::StatusOr<ResourceInfo> OnDemandCache::Find(absl::string_view name) const {
  absl::StatusOr<CachedResource> cached = registry_->Resolve(name);
  if (cached.ok()) return cached->info;
  if (!config_.enabled || !absl::IsNotFound(cached.status())) return cached.status();
  absl::StatusOr<ResourceInfo> info = hooks_.discover(name);
  if (absl::IsNotFound(info.status())) {
    return absl::NotFoundError(absl::StrCat(
        "resource \"", name, "\" is neither cached by this informerd nor served by ",
        "the API server (", info.status().message(), "); check the name, or install its CRD"));
  }
  if (!info.ok()) return info.status();
  if (registry_->Find(info->gvr).ok()) return info;  // cached meanwhile
  if (absl::Status allowed = CheckOnDemandPolicy(config_, info->gvr); !allowed.ok()) {
    return allowed;
  }
  if (!info->SupportsListWatch()) {
    return absl::InvalidArgumentError(
        absl::StrCat(info->gvr.ToString(),
                     " cannot be cached: the API server does not allow list and watch on it"));
  }
  return info;
}

absl::StatusOr<CachedResource> OnDemandCache::Acquire(absl::string_view name, absl::Time now,
                                                      bool* started) {
  if (started != nullptr) *started = false;
  {
    absl::ReaderMutexLock lock(&start_mu_);
    absl::StatusOr<CachedResource> cached = registry_->Resolve(name);
    if (cached.ok()) {
      Touch(cached->info.gvr, now);
      return cached;
    }
    if (!config_.enabled || !absl::IsNotFound(cached.status())) return cached.status();
  }
  // Discovery may refresh (HTTP): not under the lock.
  absl::StatusOr<ResourceInfo> info = Find(name);
  if (!info.ok()) return info.status();
  absl::MutexLock lock(&start_mu_);
  if (absl::StatusOr<CachedResource> cached = registry_->Find(info->gvr); cached.ok()) {
    Touch(cached->info.gvr, now);
    return cached;
  }
  absl::StatusOr<CachedResource> resource = hooks_.start(*info);
  if (!resource.ok()) return resource.status();
  if (resource->started_by == StartedBy::kOnDemand) {
    // Only what started on demand may idle out (the start hook may start a configured
    // resource whose name had not resolved yet).
    absl::MutexLock state_lock(&mu_);
    last_read_[resource->info.gvr] = now;
  }
  if (started != nullptr) *started = true;
  return resource;
}

void OnDemandCache::Touch(const GroupVersionResource& gvr, absl::Time now) {
  absl::MutexLock lock(&mu_);
  auto it = last_read_.find(gvr);
  if (it != last_read_.end() && it->second < now) it->second = now;
}

std::shared_ptr<void> OnDemandCache::HoldWhileReading(const GroupVersionResource& gvr) {
  {
    absl::MutexLock lock(&mu_);
    ++reading_[gvr];
  }
  return std::shared_ptr<void>(nullptr, [this, gvr](void*) {
    absl::MutexLock lock(&mu_);
    if (--reading_[gvr] <= 0) reading_.erase(gvr);
    auto it = last_read_.find(gvr);
    const absl::Time now = MonotonicNow();
    if (it != last_read_.end() && it->second < now) it->second = now;
  });
}

std::vector<GroupVersionResource> OnDemandCache::StopIdle(absl::Time now) {
  std::vector<GroupVersionResource> stopped;
  if (!config_.enabled) return stopped;
  std::vector<CachedResource> detached;
  {
    absl::MutexLock lock(&start_mu_);
    std::vector<GroupVersionResource> idle;
    {
      absl::MutexLock state_lock(&mu_);
      for (const auto& [gvr, last_read] : last_read_) {
        if (now - last_read >= config_.idle_timeout && !reading_.contains(gvr)) {
          idle.push_back(gvr);
        }
      }
    }
    for (const GroupVersionResource& gvr : idle) {
      if (hooks_.subscribers(gvr) > 0) {
        // Followed: as good as read now.
        Touch(gvr, now);
        continue;
      }
      // Unregistered and detached under the lock: a read from now on starts a new informer.
      absl::StatusOr<CachedResource> resource = registry_->Find(gvr);
      if (resource.ok()) {
        registry_->Remove(gvr).IgnoreError();
        hooks_.detach(*resource);
        detached.push_back(*std::move(resource));
      }
      absl::MutexLock state_lock(&mu_);
      last_read_.erase(gvr);
      stopped.push_back(gvr);
    }
  }
  // Stopping waits for the informer's threads: not under the lock every read shares.
  for (const CachedResource& resource : detached) hooks_.stop(resource);
  return stopped;
}

}  // namespace server
}  // namespace informer
