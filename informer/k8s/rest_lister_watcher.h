// The ListerWatcher of one resource over the REST client, and the factory that makes them.
#ifndef INFORMER_K8S_REST_LISTER_WATCHER_H_
#define INFORMER_K8S_REST_LISTER_WATCHER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "informer/factory.h"
#include "informer/k8s/rest_client.h"
#include "informer/lister_watcher.h"
#include "informer/resource.h"

namespace informer {
namespace k8s {

// LIST and WATCH of one resource, in one namespace or all, against a real API server.
//
// Thread-safety: List and Watch may be called from any thread, concurrently.
class RestListerWatcher : public ListerWatcher {
 public:
  // `namespace_name` "" = all namespaces; ignored for cluster-scoped resources. With
  // Projection::kMetadata every LIST and WATCH asks for PartialObjectMetadata (kAcceptMetadataList,
  // kAcceptMetadata), as client-go's metadata informer does.
  RestListerWatcher(std::shared_ptr<RestClient> client, ResourceInfo resource,
                    std::string namespace_name, Projection projection = Projection::kFull);

  // See ListerWatcher::List and RestClient::List.
  absl::StatusOr<ListPage> List(const ListOptions& options, const ObjectDecoder& decoder) override;
  // See ListerWatcher::Watch and RestClient::Watch.
  absl::StatusOr<std::unique_ptr<WatchStream>> Watch(const ListOptions& options,
                                                     const ObjectDecoder& decoder) override;

  // The collection path every request goes to, e.g. /api/v1/namespaces/ns/configmaps.
  const std::string& path() const { return path_; }
  Projection projection() const { return projection_; }

 private:
  std::shared_ptr<RestClient> client_;
  const ResourceInfo resource_;
  const std::string path_;
  const Projection projection_;
};

// Makes RestListerWatchers that share one RestClient (and so its connections and credentials).
//
// Thread-safety: ForResource may be called from any thread.
class RestListerWatcherFactory : public ListerWatcherFactory {
 public:
  explicit RestListerWatcherFactory(std::shared_ptr<RestClient> client);

  // InvalidArgument when discovery says the resource cannot be listed and watched (a resource
  // without verbs, as tests build by hand, is taken on trust) or it has no version/resource.
  absl::StatusOr<std::shared_ptr<ListerWatcher>> ForResource(
      const ResourceInfo& resource, absl::string_view namespace_name) override;
  // As ForResource; the ListerWatcher asks for PartialObjectMetadata.
  absl::StatusOr<std::shared_ptr<ListerWatcher>> ForMetadata(
      const ResourceInfo& resource, absl::string_view namespace_name) override;

 private:
  absl::StatusOr<std::shared_ptr<ListerWatcher>> Make(const ResourceInfo& resource,
                                                      absl::string_view namespace_name,
                                                      Projection projection);

  std::shared_ptr<RestClient> client_;
};

}  // namespace k8s
}  // namespace informer

#endif  // INFORMER_K8S_REST_LISTER_WATCHER_H_
