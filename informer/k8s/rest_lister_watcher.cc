#include "informer/k8s/rest_lister_watcher.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace informer {
namespace k8s {

RestListerWatcher::RestListerWatcher(std::shared_ptr<RestClient> client, ResourceInfo resource,
                                     std::string namespace_name, Projection projection)
    : client_(std::move(client)),
      resource_(std::move(resource)),
      path_(ResourcePath(resource_, namespace_name)),
      projection_(projection) {}

absl::StatusOr<ListPage> RestListerWatcher::List(const ListOptions& options,
                                                 const ObjectDecoder& decoder) {
  return client_->List(path_, options, decoder,
                       projection_ == Projection::kMetadata ? kAcceptMetadataList : "");
}

absl::StatusOr<std::unique_ptr<WatchStream>> RestListerWatcher::Watch(
    const ListOptions& options, const ObjectDecoder& decoder) {
  return client_->Watch(path_, options, decoder,
                        projection_ == Projection::kMetadata ? kAcceptMetadata : "");
}

RestListerWatcherFactory::RestListerWatcherFactory(std::shared_ptr<RestClient> client)
    : client_(std::move(client)) {}

absl::StatusOr<std::shared_ptr<ListerWatcher>> RestListerWatcherFactory::ForResource(
    const ResourceInfo& resource, absl::string_view namespace_name) {
  return Make(resource, namespace_name, Projection::kFull);
}

absl::StatusOr<std::shared_ptr<ListerWatcher>> RestListerWatcherFactory::ForMetadata(
    const ResourceInfo& resource, absl::string_view namespace_name) {
  return Make(resource, namespace_name, Projection::kMetadata);
}

absl::StatusOr<std::shared_ptr<ListerWatcher>> RestListerWatcherFactory::Make(
    const ResourceInfo& resource, absl::string_view namespace_name, Projection projection) {
  if (resource.gvr.version.empty() || resource.gvr.resource.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("resource \"", resource.gvr.ToString(),
                                                   "\" needs a version and a resource name"));
  }
  if (!resource.verbs.empty() && !resource.SupportsListWatch()) {
    return absl::InvalidArgumentError(
        absl::StrCat("resource \"", resource.gvr.ToString(), "\" does not support list and watch"));
  }
  return std::shared_ptr<ListerWatcher>(std::make_shared<RestListerWatcher>(
      client_, resource, std::string(namespace_name), projection));
}

}  // namespace k8s
}  // namespace informer
