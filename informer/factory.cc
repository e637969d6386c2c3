#include "informer/factory.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "informer/selectable_fields.h"

namespace informer {

absl::string_view ProjectionName(Projection projection) {
  return projection == Projection::kMetadata ? "metadata" : "full";
}

absl::StatusOr<std::shared_ptr<ListerWatcher>> ListerWatcherFactory::ForMetadata(
    const ResourceInfo& resource, absl::string_view namespace_name) {
  return absl::UnimplementedError(absl::StrCat("this lister-watcher factory cannot list ",
                                               resource.gvr.ToString(),
                                               " as metadata only (PartialObjectMetadata)"));
}

SharedInformerFactory::SharedInformerFactory(std::shared_ptr<ListerWatcherFactory> lister_watchers,
                                             FactoryOptions options)
    : lister_watchers_(std::move(lister_watchers)), options_(std::move(options)) {}

SharedInformerFactory::~SharedInformerFactory() { Shutdown(); }

absl::StatusOr<std::shared_ptr<SharedIndexInformer>> SharedInformerFactory::InformerFor(
    const ResourceInfo& resource, const InformerOverrides& overrides) {
  std::shared_ptr<SharedIndexInformer> informer;
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return absl::FailedPreconditionError("the informer factory is shut down");
    auto it = informers_.find(resource.gvr);
    if (it != informers_.end()) informer = it->second;
  }
  if (informer != nullptr) {
    // Another caller asked for this resource first (P1). Indexes it already has are kept:
    // two controllers asking for the same named index is the common case, not a conflict.
    Indexers missing;
    const std::vector<std::string> names = informer->store().IndexNames();
    for (const auto& [name, fn] : overrides.indexers) {
      if (!std::binary_search(names.begin(), names.end(), name)) missing.emplace(name, fn);
    }
    if (!missing.empty()) {
      absl::Status status = informer->AddIndexers(std::move(missing));
      if (!status.ok() && status.code() != absl::StatusCode::kAlreadyExists) return status;
    }
    return informer;
  }

  InformerOptions options;
  options.resource = resource;
  options.namespace_name = overrides.namespace_name.value_or(options_.namespace_name);
  options.label_selector = overrides.label_selector.value_or(options_.label_selector);
  options.field_selector = overrides.field_selector.value_or(options_.field_selector);
  options.resync_period = overrides.resync_period.value_or(options_.default_resync);
  options.transforms = overrides.transforms.value_or(options_.transforms);
  options.indexers = overrides.indexers;
  // Field-index paths and the resource's API-server field-selector paths are extracted once
  // per object version, at decode (ExtractedFieldPaths drops repeats).
  options.extracted_field_paths = overrides.extracted_field_paths;
  for (std::string& path : SelectableFieldPaths(resource.gvr)) {
    options.extracted_field_paths.push_back(std::move(path));
  }
  options.history = options_.history;
  options.compression = options_.compression;
  options.reflector = options_.reflector;
  options.clock = options_.clock;
  // Made without the lock: a ListerWatcherFactory may do I/O.
  absl::StatusOr<std::shared_ptr<ListerWatcher>> lister_watcher =
      overrides.projection == Projection::kMetadata
          ? lister_watchers_->ForMetadata(resource, options.namespace_name)
          : lister_watchers_->ForResource(resource, options.namespace_name);
  if (!lister_watcher.ok()) return lister_watcher.status();
  auto created =
      std::make_shared<SharedIndexInformer>(*std::move(lister_watcher), std::move(options));

  absl::MutexLock lock(&mu_);
  if (shut_down_) return absl::FailedPreconditionError("the informer factory is shut down");
  auto [it, inserted] = informers_.emplace(resource.gvr, created);
  if (!inserted) {
    // A concurrent caller won the race; use theirs (P1) and drop ours unstarted.
    return it->second;
  }
  return created;
}

std::shared_ptr<SharedIndexInformer> SharedInformerFactory::Find(
    const GroupVersionResource& gvr) const {
  absl::MutexLock lock(&mu_);
  auto it = informers_.find(gvr);
  return it == informers_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<SharedIndexInformer>> SharedInformerFactory::Informers() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::shared_ptr<SharedIndexInformer>> informers;
  informers.reserve(informers_.size());
  for (const auto& [gvr, informer] : informers_) informers.push_back(informer);
  return informers;
}

void SharedInformerFactory::Start() {
  std::vector<std::shared_ptr<SharedIndexInformer>> to_start;
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return;
    for (const auto& [gvr, informer] : informers_) {
      if (started_.insert(gvr).second) to_start.push_back(informer);
    }
  }
  // Run only spawns threads; the status is FailedPrecondition only for an informer stopped
  // by hand, which then simply stays stopped.
  for (const auto& informer : to_start) informer->Run().IgnoreError();
}

absl::btree_map<GroupVersionResource, bool> SharedInformerFactory::WaitForCacheSync(
    absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::vector<std::pair<GroupVersionResource, std::shared_ptr<SharedIndexInformer>>> informers;
  absl::btree_map<GroupVersionResource, bool> synced;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [gvr, informer] : informers_) {
      // Only started informers are reported, as client-go (P6): one not started cannot
      // sync, and waiting for it would only run into the deadline.
      if (started_.contains(gvr)) informers.emplace_back(gvr, informer);
    }
  }
  for (const auto& [gvr, informer] : informers) synced[gvr] = informer->WaitForSync(deadline);
  return synced;
}

absl::StatusOr<std::shared_ptr<SharedIndexInformer>> SharedInformerFactory::Detach(
    const GroupVersionResource& gvr) {
  absl::MutexLock lock(&mu_);
  auto it = informers_.find(gvr);
  if (it == informers_.end()) {
    return absl::NotFoundError(absl::StrCat("no informer of ", gvr.ToString()));
  }
  std::shared_ptr<SharedIndexInformer> informer = std::move(it->second);
  informers_.erase(it);
  started_.erase(gvr);
  return informer;
}

void SharedInformerFactory::Shutdown() {
  std::vector<std::shared_ptr<SharedIndexInformer>> informers;
  {
    absl::MutexLock lock(&mu_);
    shut_down_ = true;
    for (const auto& [gvr, informer] : informers_) informers.push_back(informer);
  }
  // Stop blocks until each informer's threads exited (P5).
  for (const auto& informer : informers) informer->Stop();
}

}  // namespace informer
