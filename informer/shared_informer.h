// SharedIndexInformer: LIST+WATCH one resource into an indexed Store and notify handlers.
#ifndef INFORMER_SHARED_INFORMER_H_
#define INFORMER_SHARED_INFORMER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "informer/event_handler.h"
#include "informer/history.h"
#include "informer/json_compression.h"
#include "informer/lister_watcher.h"
#include "informer/reflector_options.h"
#include "informer/resource.h"
#include "informer/store.h"
#include "informer/transform.h"

namespace informer {

class Clock;  // informer/clock.h

// How one informer is set up. Defaults follow client-go.
struct InformerOptions {
  ResourceInfo resource;
  std::string namespace_name;  // "" = all namespaces
  std::string label_selector;  // sent to the server with every LIST/WATCH
  std::string field_selector;
  // How often handlers get every cached object again as OnUpdate(obj, obj) (I5); also the
  // period of handlers added without one (I11). 0 = never: then no handler resyncs (I12).
  absl::Duration resync_period = absl::ZeroDuration();
  std::vector<Transform> transforms = DefaultTransforms();
  Indexers indexers;  // in addition to kNamespaceIndex, which is always present
  // Field paths whose values each cached object keeps from its decoding, so index upkeep and
  // field selectors on them do not re-parse its JSON: the paths of the field indexes and, when
  // made by SharedInformerFactory, the resource's SelectableFieldPaths (ExtractedFieldPaths).
  std::vector<std::string> extracted_field_paths;
  HistoryOptions history;
  ReflectorOptions reflector;
  // How the cached objects' JSON is kept (compressed with a trained dictionary by default).
  JsonCompressionOptions compression;
  Clock* clock = nullptr;  // null = the real clock; tests pass a fake
};

// Counters of one informer, for metrics.
struct InformerStats {
  uint64_t lists = 0;           // LIST calls (pages count once per list)
  uint64_t relists = 0;         // lists after the first (410, broken list)
  uint64_t watches = 0;         // WATCH calls
  uint64_t watch_restarts = 0;  // re-watches after an end or error, without relist
  uint64_t events = 0;          // watch events received (bookmarks included)
  uint64_t bookmarks = 0;
  uint64_t errors = 0;            // failed LIST/WATCH calls
  uint64_t backoffs = 0;          // waits before a retry (each logged with its cause)
  uint64_t expired = 0;           // 410 Gone / Expired answers to a WATCH (each relists)
  uint64_t dead_connections = 0;  // watches ended by a silent connection's failed probe (R18)
  uint64_t dropped_events = 0;    // watch events a transform refused (I15; the watch goes on)
};

// The cache as one consistent cut: every object with the history position it reflects.
struct InformerSnapshot {
  std::vector<ObjectPtr> objects;  // sorted by key
  uint64_t history_seq = 0;        // events after this seq are not in `objects`
  std::string resource_version;    // the RV this cut reflects ("" before the first sync)
};

// Keeps a Store of one resource equal to the API server's state and tells handlers of each
// change, as client-go's SharedIndexInformer: Reflector -> RealFifo -> Store -> handlers,
// plus an EventHistory of applied changes.
//
// Thread-safety: every method may be called from any thread. Objects handed out are shared
// and immutable (I8).
class SharedIndexInformer {
 public:
  SharedIndexInformer(std::shared_ptr<ListerWatcher> lister_watcher, InformerOptions options);
  // Stops (see Stop).
  ~SharedIndexInformer();
  SharedIndexInformer(const SharedIndexInformer&) = delete;
  SharedIndexInformer& operator=(const SharedIndexInformer&) = delete;

  // Starts the reflector and processing threads. FailedPrecondition when already started or
  // stopped.
  absl::Status Run();
  // Ends every thread (blocking until they have exited), stops handler delivery and frees
  // the cache and history (I9). Idempotent. May be called from a ResourceEventHandler, but
  // not from a history listener or the watch error handler (they run on threads it joins).
  void Stop();
  bool IsStopped() const;

  // True once the items of the first LIST have all been applied (F6).
  bool HasSynced() const;
  // Waits until HasSynced, the deadline, or Stop. Returns HasSynced().
  bool WaitForSync(absl::Time deadline) const;

  // The RV of the newest LIST or WATCH event (bookmarks too) the reflector has seen (R3).
  std::string LastSyncResourceVersion() const;
  // Waits until the cache reflects at least resourceVersion `rv` (numeric comparison; U5).
  // DeadlineExceeded at `deadline`, Cancelled when stopped, InvalidArgument when `rv` is not
  // a number.
  absl::Status WaitForResourceVersion(absl::string_view rv, absl::Time deadline) const;

  // Registers a handler. When the informer already holds objects, the handler first gets
  // OnAdd for each, from one consistent snapshot, then live events with none lost or doubled
  // (I3). Without `resync_period` it takes the informer's (I11). A period below 1 s counts as
  // 1 s; below the informer's check period it lowers that period before Run and is raised to
  // it after (I12); an informer created with resync 0 never resyncs. FailedPrecondition after
  // Stop.
  absl::StatusOr<std::shared_ptr<HandlerRegistration>> AddEventHandler(
      std::shared_ptr<ResourceEventHandler> handler);
  absl::StatusOr<std::shared_ptr<HandlerRegistration>> AddEventHandler(
      std::shared_ptr<ResourceEventHandler> handler, absl::Duration resync_period);
  // Stops delivery to that handler only (I6). OK also for a registration already removed,
  // from another informer, or on a stopped informer (I17); NotFound only for null.
  absl::Status RemoveEventHandler(const std::shared_ptr<HandlerRegistration>& registration);

  // Adds indexes, also after Run (S6).
  absl::Status AddIndexers(Indexers indexers);

  // Called with every LIST/WATCH failure (client-go's SetWatchErrorHandler). Must not block.
  void SetWatchErrorHandler(std::function<void(const absl::Status&)> handler);
  // The most recent LIST/WATCH failure, OK when the last attempt succeeded. For "why is it not
  // synced?" diagnostics (U6).
  absl::Status LastError() const;
  // When the current run of failed LIST/WATCH attempts began (the informer's clock): the first
  // failure after a success, or after the start. InfiniteFuture while the last attempt
  // succeeded. ListResources and informerd_resource_stale_seconds report the cache as stale
  // since then.
  absl::Time ErrorSince() const;
  // How long that run of failures has lasted, by the informer's clock (monotonic for the real
  // one); nullopt while the last attempt succeeded.
  std::optional<absl::Duration> FailingFor() const;

  // The cache. Reads are thread-safe.
  const Store& store() const;
  // The ring of applied changes. Its listeners are called after each batch that changed the
  // cache or moved the version it reflects (a bookmark), on the processing thread.
  const EventHistory& history() const;
  // One consistent cut of store and history.
  InformerSnapshot Snapshot() const;
  // The same cut restricted to the objects of `namespaces` (empty = every object), at a cost
  // in proportion to what it returns (Store::ListNamespaces).
  InformerSnapshot Snapshot(absl::Span<const std::string> namespaces) const;
  // The same cut holding a superset of what `filter` matches in `namespaces`, taken through
  // the narrowest index (Store::Candidates): a List with `app=web` on a label index of "app"
  // copies the web objects, not the namespace. Callers still apply `filter` and `namespaces`.
  InformerSnapshot Snapshot(absl::Span<const std::string> namespaces,
                            const ObjectFilter& filter) const;

  const ResourceInfo& resource() const;
  const InformerOptions& options() const;
  InformerStats stats() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace informer

#endif  // INFORMER_SHARED_INFORMER_H_
