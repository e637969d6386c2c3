// SharedInformerFactory: one informer per resource, started and stopped together.
#ifndef INFORMER_FACTORY_H_
#define INFORMER_FACTORY_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "informer/lister_watcher.h"
#include "informer/resource.h"
#include "informer/shared_informer.h"

namespace informer {

// What an informer's LIST and WATCH ask the API server for.
enum class Projection {
  kFull,      // the objects as the API server serves them
  kMetadata,  // PartialObjectMetadata (meta.k8s.io/v1): kind, apiVersion and metadata only
};
// "full" or "metadata", as the config file and ListResources name them.
absl::string_view ProjectionName(Projection projection);

// Makes ListerWatchers; implemented over the REST client by informer/k8s.
class ListerWatcherFactory {
 public:
  virtual ~ListerWatcherFactory() = default;
  // A ListerWatcher for `resource`, limited to `namespace_name` ("" = all namespaces).
  virtual absl::StatusOr<std::shared_ptr<ListerWatcher>> ForResource(
      const ResourceInfo& resource, absl::string_view namespace_name) = 0;
  // As ForResource, but its LIST and WATCH return every object as PartialObjectMetadata (as
  // client-go's metadata informer asks). This default is Unimplemented: a factory that can
  // ask for it overrides it.
  virtual absl::StatusOr<std::shared_ptr<ListerWatcher>> ForMetadata(
      const ResourceInfo& resource, absl::string_view namespace_name);
};

// Defaults applied to every informer of a factory (P4).
struct FactoryOptions {
  std::string namespace_name;  // "" = all namespaces
  std::string label_selector;
  std::string field_selector;
  absl::Duration default_resync = absl::ZeroDuration();
  std::vector<Transform> transforms = DefaultTransforms();
  HistoryOptions history;
  ReflectorOptions reflector;
  JsonCompressionOptions compression;
  Clock* clock = nullptr;
};

// Per-resource overrides of FactoryOptions; unset fields take the factory's value (P4).
struct InformerOverrides {
  std::optional<std::string> namespace_name;
  std::optional<std::string> label_selector;
  std::optional<std::string> field_selector;
  std::optional<absl::Duration> resync_period;
  Indexers indexers;
  // InformerOptions::extracted_field_paths (the field indexes' paths); the factory adds the
  // resource's SelectableFieldPaths.
  std::vector<std::string> extracted_field_paths;
  // kMetadata: the informer lists and watches through ListerWatcherFactory::ForMetadata.
  Projection projection = Projection::kFull;
  // Replaces the factory's transforms for this informer when set.
  std::optional<std::vector<Transform>> transforms;
};

// Thread-safety: every method may be called from any thread.
class SharedInformerFactory {
 public:
  SharedInformerFactory(std::shared_ptr<ListerWatcherFactory> lister_watchers,
                        FactoryOptions options);
  // Shuts down.
  ~SharedInformerFactory();

  // The informer of `resource`, created on first request; the same one after (P1). Overrides
  // apply only when it is created (indexers are added either way). FailedPrecondition after
  // Shutdown.
  absl::StatusOr<std::shared_ptr<SharedIndexInformer>> InformerFor(
      const ResourceInfo& resource, const InformerOverrides& overrides = {});
  // The informer of `gvr`, or null when none was requested.
  std::shared_ptr<SharedIndexInformer> Find(const GroupVersionResource& gvr) const;
  // Every informer, sorted by GroupVersionResource.
  std::vector<std::shared_ptr<SharedIndexInformer>> Informers() const;

  // Runs the informers not yet started; safe to call again (P2).
  void Start();
  // Per started resource: whether it synced before `timeout` (P3); informers not started are
  // not in the answer (P6).
  absl::btree_map<GroupVersionResource, bool> WaitForCacheSync(absl::Duration timeout);
  // Forgets the informer of `gvr` and returns it, still running: a later InformerFor makes a
  // new one. The caller stops it (Stop frees its cache and history once no one else holds it),
  // e.g. after releasing its own locks, since Stop waits for the informer's threads. NotFound
  // when there is none.
  absl::StatusOr<std::shared_ptr<SharedIndexInformer>> Detach(const GroupVersionResource& gvr);
  // Stops every informer and waits for them (P5). Idempotent.
  void Shutdown();

 private:
  std::shared_ptr<ListerWatcherFactory> lister_watchers_;
  FactoryOptions options_;
  mutable absl::Mutex mu_;
  absl::btree_map<GroupVersionResource, std::shared_ptr<SharedIndexInformer>> informers_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<GroupVersionResource> started_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace informer

#endif  // INFORMER_FACTORY_H_
