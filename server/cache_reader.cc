#include "server/cache_reader.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "informer/clock.h"

namespace informer {
namespace server {
namespace {

// The start of a selector for an error message: a long one (up to --max_selector_bytes, or
// hostile) is not echoed whole.
std::string QuoteStart(absl::string_view text) {
  constexpr size_t kMaxQuoted = 200;
  if (text.size() <= kMaxQuoted) return std::string(text);
  return absl::StrCat(text.substr(0, kMaxQuoted), "...");
}

// Identifies a query for page tokens: equal for the pages of one list, different otherwise.
std::string QueryKey(const ResolvedTarget& target, const ListQuery& query) {
  return absl::StrCat(target.resource.info.gvr.ToString(), "\n", target.filter.namespace_name, "\n",
                      target.filter.labels.ToString(), "\n", target.filter.fields.ToString(), "\n",
                      query.index_name, "\n", query.index_value, "\n", query.caller, "\n",
                      absl::StrJoin(query.namespaces, ","));
}

// Only the objects of `namespaces` (all when it is empty).
std::vector<ObjectPtr> InNamespaces(std::vector<ObjectPtr> objects,
                                    const std::vector<std::string>& namespaces) {
  if (namespaces.empty()) return objects;
  const absl::flat_hash_set<std::string> allowed(namespaces.begin(), namespaces.end());
  std::vector<ObjectPtr> out;
  for (ObjectPtr& object : objects) {
    if (allowed.contains(object->meta().namespace_name)) out.push_back(std::move(object));
  }
  return out;
}

std::vector<ObjectPtr> Filtered(std::vector<ObjectPtr> objects, const ObjectFilter& filter) {
  if (filter.MatchesEverything()) return objects;
  std::vector<ObjectPtr> out;
  for (ObjectPtr& object : objects) {
    if (filter.Matches(*object)) out.push_back(std::move(object));
  }
  return out;
}

}  // namespace

absl::Status NotSyncedError(const SharedIndexInformer& informer) {
  const absl::Status last_error = informer.LastError();
  return absl::UnavailableError(
      absl::StrCat(informer.resource().gvr.ToString(), " has not finished its initial sync yet",
                   last_error.ok() ? "" : absl::StrCat(" (last error: ", last_error.message(), ")"),
                   "; retry with backoff, or pass min_resource_version to wait"));
}

CacheReader::CacheReader(const ResourceRegistry* registry, Pager* pager,
                         ResourceVersionWaiter* waiter, SelectorLimits selector_limits)
    : registry_(registry), pager_(pager), waiter_(waiter), selector_limits_(selector_limits) {}

absl::StatusOr<ResolvedTarget> CacheReader::Resolve(const ReadTarget& target) const {
  absl::StatusOr<CachedResource> resource = registry_->Resolve(target.resource);
  if (!resource.ok()) return resource.status();
  ResolvedTarget resolved;
  resolved.resource = *std::move(resource);
  const ResourceInfo& info = resolved.resource.info;
  if (!target.namespace_name.empty()) {
    if (!info.namespaced) {
      return absl::InvalidArgumentError(
          absl::StrCat(info.gvr.ToString(), " is cluster-scoped; leave namespace empty"));
    }
    const std::string& cached_namespace = resolved.resource.informer->options().namespace_name;
    if (!cached_namespace.empty() && cached_namespace != target.namespace_name) {
      return absl::InvalidArgumentError(
          absl::StrCat(info.gvr.ToString(), " is cached only for namespace \"", cached_namespace,
                       "\", not \"", target.namespace_name, "\""));
    }
  }
  resolved.filter.namespace_name = target.namespace_name;
  absl::StatusOr<LabelSelector> labels =
      LabelSelector::Parse(target.label_selector, selector_limits_);
  if (!labels.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "label_selector \"", QuoteStart(target.label_selector), "\": ", labels.status().message()));
  }
  resolved.filter.labels = *std::move(labels);
  absl::StatusOr<FieldSelector> fields =
      FieldSelector::Parse(target.field_selector, selector_limits_);
  if (!fields.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "field_selector \"", QuoteStart(target.field_selector), "\": ", fields.status().message()));
  }
  resolved.filter.fields = *std::move(fields);
  return resolved;
}

void CacheReader::WhenFresh(const CachedResource& resource, const std::string& min_resource_version,
                            const CallContext& context,
                            std::function<void(absl::Status)> then) const {
  if (min_resource_version.empty()) {
    then(resource.informer->HasSynced() ? absl::OkStatus() : NotSyncedError(*resource.informer));
    return;
  }
  waiter_->Wait(resource.informer, min_resource_version, context.deadline, context.cancelled,
                std::move(then), context.caller);
}

void CacheReader::List(const ListQuery& query, const CallContext& context,
                       std::function<void(absl::StatusOr<Page>)> done) const {
  absl::StatusOr<ResolvedTarget> target = Resolve(query.target);
  if (!target.ok()) return done(target.status());
  std::string key = QueryKey(*target, query);
  if (!query.page_token.empty()) {
    return done(pager_->Next(key, query.page_token, query.limit, MonotonicNow()));
  }
  const CachedResource resource = target->resource;  // the lambda below takes `target`
  WhenFresh(resource, query.min_resource_version, context,
            [this, target = *std::move(target), key = std::move(key), limit = query.limit,
             namespaces = query.namespaces, caller = context.caller,
             done = std::move(done)](absl::Status fresh) mutable {
              if (!fresh.ok()) return done(fresh);
              // Only the namespaces asked for are copied (a namespace is one range of keys), or
              // fewer objects still when an index entry holds every match (Store::Candidates).
              std::vector<std::string> scope = namespaces;
              if (!target.filter.namespace_name.empty()) scope = {target.filter.namespace_name};
              // (Filtered checks the namespace of what an index entry gave.)
              InformerSnapshot cut = target.resource.informer->Snapshot(scope, target.filter);
              done(pager_->First(
                  key, InNamespaces(Filtered(std::move(cut.objects), target.filter), namespaces),
                  std::move(cut.resource_version), limit, MonotonicNow(), caller,
                  target.resource.info.gvr.ToString()));
            });
}

void CacheReader::ByIndex(const ListQuery& query, const CallContext& context,
                          std::function<void(absl::StatusOr<Page>)> done) const {
  absl::StatusOr<ResolvedTarget> target = Resolve(query.target);
  if (!target.ok()) return done(target.status());
  if (query.index_name.empty()) {
    return done(absl::InvalidArgumentError(
        absl::StrCat("index_name is empty; indexes of ", target->resource.info.gvr.ToString(), ": ",
                     absl::StrJoin(target->resource.informer->store().IndexNames(), ", "))));
  }
  std::string key = QueryKey(*target, query);
  if (!query.page_token.empty()) {
    return done(pager_->Next(key, query.page_token, query.limit, MonotonicNow()));
  }
  const CachedResource resource = target->resource;  // the lambda below takes `target`
  WhenFresh(
      resource, query.min_resource_version, context,
      [this, target = *std::move(target), key = std::move(key), query, caller = context.caller,
       done = std::move(done)](absl::Status fresh) mutable {
        if (!fresh.ok()) return done(fresh);
        const SharedIndexInformer& informer = *target.resource.informer;
        absl::StatusOr<std::vector<ObjectPtr>> objects =
            informer.store().ByIndex(query.index_name, query.index_value);
        if (!objects.ok()) {
          return done(absl::InvalidArgumentError(absl::StrCat(
              "unknown index \"", query.index_name, "\" of ", target.resource.info.gvr.ToString(),
              "; its indexes: ", absl::StrJoin(informer.store().IndexNames(), ", "),
              " (add one with the server's --index flag)")));
        }
        done(pager_->First(
            key, InNamespaces(Filtered(*std::move(objects), target.filter), query.namespaces),
            /*resource_version=*/"", query.limit, MonotonicNow(), caller,
            target.resource.info.gvr.ToString()));
      });
}

void CacheReader::Get(const GetQuery& query, const CallContext& context,
                      std::function<void(absl::StatusOr<ObjectPtr>)> done) const {
  absl::StatusOr<CachedResource> resource = registry_->Resolve(query.resource);
  if (!resource.ok()) return done(resource.status());
  const ResourceInfo& info = resource->info;
  if (query.name.empty()) return done(absl::InvalidArgumentError("name is empty"));
  if (info.namespaced && query.namespace_name.empty()) {
    return done(absl::InvalidArgumentError(
        absl::StrCat(info.gvr.ToString(), " is namespaced; set namespace")));
  }
  if (!info.namespaced && !query.namespace_name.empty()) {
    return done(absl::InvalidArgumentError(
        absl::StrCat(info.gvr.ToString(), " is cluster-scoped; leave namespace empty")));
  }
  const CachedResource cached = *resource;  // the lambda below takes `resource`
  WhenFresh(
      cached, query.min_resource_version, context,
      [resource = *std::move(resource), query, done = std::move(done)](absl::Status fresh) mutable {
        if (!fresh.ok()) return done(fresh);
        const std::string key = ObjectKey(query.namespace_name, query.name);
        ObjectPtr object = resource.informer->store().GetByKey(key);
        if (object == nullptr) {
          return done(absl::NotFoundError(absl::StrCat(
              resource.info.gvr.ToString(), " \"", key, "\" is not in the cache (as of ",
              "resourceVersion ", resource.informer->LastSyncResourceVersion(), ")")));
        }
        done(std::move(object));
      });
}

std::vector<ResourceSummary> CacheReader::ListResources() const {
  std::vector<ResourceSummary> out;
  for (const CachedResource& resource : registry_->All()) {
    const SharedIndexInformer& informer = *resource.informer;
    ResourceSummary summary;
    summary.info = resource.info;
    summary.synced = informer.HasSynced();
    summary.object_count = static_cast<int64_t>(informer.store().Size());
    summary.resource_version = informer.LastSyncResourceVersion();
    summary.index_names = informer.store().IndexNames();
    summary.namespace_name = informer.options().namespace_name;
    summary.label_selector = informer.options().label_selector;
    summary.field_selector = informer.options().field_selector;
    summary.projection = resource.projection;
    summary.started_by = resource.started_by;
    const absl::Status last_error = informer.LastError();
    if (!last_error.ok()) summary.last_error = std::string(last_error.message());
    if (const std::optional<absl::Duration> failing = informer.FailingFor()) {
      summary.stale = true;
      summary.stale_for = *failing;
    }
    out.push_back(std::move(summary));
  }
  return out;
}

}  // namespace server
}  // namespace informer
