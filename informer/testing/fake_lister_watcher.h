// A scripted, in-memory ListerWatcher: an API server for one resource that tests control.
#ifndef INFORMER_TESTING_FAKE_LISTER_WATCHER_H_
#define INFORMER_TESTING_FAKE_LISTER_WATCHER_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "informer/api_status.h"
#include "informer/factory.h"
#include "informer/lister_watcher.h"

namespace informer {
namespace testing {

// An API server for one resource, as the reflector sees it through LIST and WATCH:
//  - a truth map with an etcd-like global revision: Add/Update/Delete give the object the
//    next revision as its resourceVersion and send ADDED/MODIFIED/DELETED to open watches;
//  - LIST paging with continue tokens over a snapshot; RV "0" is served "from the watch
//    cache" (ignoring limit, like the real one, unless told otherwise);
//  - WATCH from an RV replays the events after it; "" and "0" start with synthetic ADDEDs;
//  - Compact: LIST/WATCH/continue at an RV older than the compaction get 410 Expired;
//  - faults: break or end open watches, ERROR events, scripted failures, bookmarks,
//    streaming lists (sendInitialEvents) on or off.
// Every object handed out is decoded with the caller's ObjectDecoder, as the REST client does,
// so transforms run.
//
// Thread-safety: every method may be called from any thread.
class FakeListerWatcher : public ListerWatcher {
 public:
  FakeListerWatcher();
  // Ends every open watch.
  ~FakeListerWatcher() override;

  // ListerWatcher.
  absl::StatusOr<ListPage> List(const ListOptions& options, const ObjectDecoder& decoder) override;
  absl::StatusOr<std::unique_ptr<WatchStream>> Watch(const ListOptions& options,
                                                     const ObjectDecoder& decoder) override;

  // --- The truth. Each change takes the next revision and is sent to open watches.
  // (They return null rather than a Status so tests can ignore the result where it cannot
  // fail.)
  // Stores `object` (its resourceVersion replaced by the new revision) and returns the stored
  // object; null when the key is present.
  ObjectPtr Add(const ObjectPtr& object);
  // Replaces the object of the same key; null when absent.
  ObjectPtr Update(const ObjectPtr& object);
  // Removes `key`; the DELETED event carries the last state with the new revision, which is
  // returned. Null when absent.
  ObjectPtr Delete(absl::string_view key);
  // The current objects by key.
  std::map<std::string, ObjectPtr> Objects() const;
  // The current revision (the RV of the newest change; starts at 1).
  uint64_t revision() const;
  // Moves the revision on by `by` without a change here, as writes to other resources move
  // etcd's global revision (bookmarks then carry an RV newer than any object).
  void BumpRevision(uint64_t by = 1);

  // --- Compaction: forgets events up to the current revision. LIST or WATCH at an older RV,
  // and continue tokens of older lists, then get 410 Expired.
  void Compact();
  uint64_t compacted_revision() const;

  // --- Faults on open watches.
  // Connection loss: undelivered events are lost and Next returns `status`.
  void BreakWatches(
      absl::Status status = WithTransportFault(absl::UnavailableError("connection reset"),
                                               TransportFault::kConnectionLost));
  // The server's timeout: what was sent is delivered, then the stream ends cleanly.
  void EndWatches();
  // An ERROR event carrying `status`, then the end of the stream.
  void SendError(ApiStatus status);
  // A BOOKMARK at the current revision to watches that allowed bookmarks.
  void SendBookmark();
  // Sends `object` as a `type` event on every open watch without changing the fake's truth
  // (e.g. a DELETED for an object no cache held, I13, or a MODIFIED at the same RV, I14).
  void EmitEvent(WatchEventType type, ObjectPtr object);

  // --- Scripted failures: the next List / Watch calls fail with these, in order.
  void FailNextList(absl::Status status);
  void FailNextWatch(absl::Status status);
  // Whether WATCH accepts sendInitialEvents (R7); refused with a 422 when false (default).
  void set_streaming_list_supported(bool supported);
  // Whether LIST at RV "0" ignores limit, as the real watch cache does (default true).
  void set_watch_cache_ignores_limit(bool ignores);
  // The next streaming-list WATCH sends exactly `events` (objects as given; a bookmark made
  // with MakeBookmarkObject) instead of the current objects and the end bookmark, and then
  // ends when `end_after` is set, else stays open for live events. For R16's edge cases.
  void ScriptNextStreamingList(std::vector<WatchEvent> events, bool end_after);
  // A bookmark object at `resource_version`, with the initial-events-end annotation when asked.
  static ObjectPtr MakeBookmarkObject(uint64_t resource_version, bool initial_events_end);
  // Whether a WATCH at a compacted RV opens and then sends an ERROR 410 event (true, what a
  // real watch cache does) instead of failing the call (false, the default).
  void set_expired_watch_as_error_event(bool as_event);
  // Called at the start of every List, without the fake's lock, so a test can change the
  // truth between pages.
  void SetListHook(std::function<void(const ListOptions&)> hook);

  // --- Observation.
  std::vector<ListOptions> list_calls() const;
  std::vector<ListOptions> watch_calls() const;
  // Watch streams open now (not ended, broken or stopped).
  int open_watches() const;
  // Waits (real time) until at least `count` watches are open.
  bool WaitForOpenWatches(int count, absl::Duration timeout = absl::Seconds(10)) const;
  // Waits (real time) until at least `count` Watch calls were made.
  bool WaitForWatchCalls(int count, absl::Duration timeout = absl::Seconds(10)) const;
  // Waits (real time) until at least `count` List calls were made.
  bool WaitForListCalls(int count, absl::Duration timeout = absl::Seconds(10)) const;

  // The shared state of the fake and its streams (defined in the .cc).
  struct Core;

 private:
  std::shared_ptr<Core> core_;
};

// Polls `condition` every millisecond of real time until it holds or `timeout` passes; returns
// its last value. For tests that wait on another thread's progress.
bool Eventually(const std::function<bool()>& condition, absl::Duration timeout = absl::Seconds(10));

// Hands out one FakeListerWatcher per (resource, namespace) and records the requests.
//
// Thread-safety: every method may be called from any thread.
class FakeListerWatcherFactory : public ListerWatcherFactory {
 public:
  absl::StatusOr<std::shared_ptr<ListerWatcher>> ForResource(
      const ResourceInfo& resource, absl::string_view namespace_name) override;
  // The same fake as ForResource (its objects go through the informer's transforms, which
  // project them), recorded as "<gvr>@<namespace> metadata".
  absl::StatusOr<std::shared_ptr<ListerWatcher>> ForMetadata(
      const ResourceInfo& resource, absl::string_view namespace_name) override;

  // The fake made for `gvr` and `namespace_name`, or null.
  std::shared_ptr<FakeListerWatcher> Get(const GroupVersionResource& gvr,
                                         absl::string_view namespace_name = "") const;
  // Every ForResource call as "<gvr>@<namespace>" (ForMetadata: "<gvr>@<namespace> metadata").
  std::vector<std::string> requests() const;
  // ForResource for `gvr` fails with `status` from now on.
  void FailFor(const GroupVersionResource& gvr, absl::Status status);

 private:
  absl::StatusOr<std::shared_ptr<ListerWatcher>> Make(const ResourceInfo& resource,
                                                      absl::string_view namespace_name,
                                                      absl::string_view suffix);

  mutable absl::Mutex mu_;
  std::map<std::pair<std::string, std::string>, std::shared_ptr<FakeListerWatcher>> fakes_
      ABSL_GUARDED_BY(mu_);
  std::map<std::string, absl::Status> failures_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> requests_ ABSL_GUARDED_BY(mu_);
};

}  // namespace testing
}  // namespace informer

#endif  // INFORMER_TESTING_FAKE_LISTER_WATCHER_H_
