// The seam between the informer pipeline and the API server: LIST and WATCH of one resource.
#ifndef INFORMER_LISTER_WATCHER_H_
#define INFORMER_LISTER_WATCHER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "informer/api_status.h"
#include "informer/object.h"
#include "informer/object_decoder.h"

namespace informer {

// Query parameters of a LIST or WATCH, as the API server names them.
struct ListOptions {
  std::string label_selector;
  std::string field_selector;
  // "" = most recent (quorum read); "0" = any (served from the watch cache); else an RV.
  std::string resource_version;
  std::string resource_version_match;  // "", "NotOlderThan" or "Exact"
  int64_t limit = 0;                   // LIST page size; 0 = unpaged
  std::string continue_token;          // LIST: from the previous page
  bool allow_watch_bookmarks = false;  // WATCH
  int64_t timeout_seconds = 0;         // WATCH: server-side timeout; 0 = server default
  bool send_initial_events = false;    // WATCH: streaming list (R7)
  // LIST and WATCH: once notified, an in-flight LIST, or a WATCH still opening or being read,
  // fails with Cancelled within about a second (the Reflector passes its stop signal, so Stop
  // is not held up by a slow or hung API server). Not owned.
  const absl::Notification* cancel = nullptr;
};

// One page of a LIST.
struct ListPage {
  std::vector<ObjectPtr> items;
  std::string resource_version;  // the list's metadata.resourceVersion
  std::string continue_token;    // empty on the last page
};

enum class WatchEventType { kAdded, kModified, kDeleted, kBookmark, kError };

// One event of a WATCH stream.
struct WatchEvent {
  WatchEventType type = WatchEventType::kAdded;
  // kAdded/kModified/kDeleted: the object. kBookmark: an object carrying only
  // metadata.resourceVersion and annotations (e.g. k8s.io/initial-events-end). kError: null.
  ObjectPtr object;
  ApiStatus error;  // kError only: the Status the server sent inside the stream (R6)
  // kAdded/kModified/kDeleted whose object a transform refused (I15): `object` is null and
  // `dropped` says why; `dropped_resource_version` is the event's RV. The reflector logs and
  // counts it, moves its RV past it and keeps watching, as client-go does.
  absl::Status dropped;
  std::string dropped_resource_version;
};

// An open WATCH. Thread-safety: Next is called by one thread; Stop may be called from any
// thread at any time.
class WatchStream {
 public:
  virtual ~WatchStream() = default;

  // Blocks for the next event. Returns std::nullopt when the stream ended cleanly (the
  // server's timeout, or Stop()); an error status when the connection broke or the stream was
  // malformed. Never returns events after it returned nullopt or an error.
  virtual absl::StatusOr<std::optional<WatchEvent>> Next() = 0;

  // Makes a blocked Next return std::nullopt within 100 ms. Idempotent.
  virtual void Stop() = 0;
};

// LIST and WATCH of one resource (possibly restricted to a namespace). Errors from the server
// are absl::Status built by ApiStatusToStatus (so IsResourceExpired works on them).
//
// Thread-safety: List and Watch may be called from any thread, concurrently.
class ListerWatcher {
 public:
  virtual ~ListerWatcher() = default;

  // One page of a LIST; every item decoded with `decoder`.
  virtual absl::StatusOr<ListPage> List(const ListOptions& options,
                                        const ObjectDecoder& decoder) = 0;

  // Opens a WATCH. Fails when the server refuses it (e.g. 410 for a too old RV); later
  // failures arrive through WatchStream::Next. Objects decoded with `decoder`, which must
  // outlive the stream.
  virtual absl::StatusOr<std::unique_ptr<WatchStream>> Watch(const ListOptions& options,
                                                             const ObjectDecoder& decoder) = 0;
};

}  // namespace informer

#endif  // INFORMER_LISTER_WATCHER_H_
