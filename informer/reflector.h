// Reflector: LIST then WATCH one resource, feeding every change into a ReflectorStore.
#ifndef INFORMER_REFLECTOR_H_
#define INFORMER_REFLECTOR_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "informer/backoff.h"
#include "informer/clock.h"
#include "informer/lister_watcher.h"
#include "informer/object.h"
#include "informer/object_decoder.h"
#include "informer/reflector_options.h"
#include "informer/shared_informer.h"

namespace informer {

// Where a Reflector puts what it sees (client-go's reflector store; the DeltaFifo in an
// informer). Calls come from the reflector's thread, in the order the server sent them.
class ReflectorStore {
 public:
  virtual ~ReflectorStore() = default;
  // A watch event.
  virtual void Add(ObjectPtr object) = 0;
  virtual void Update(ObjectPtr object) = 0;
  virtual void Delete(ObjectPtr object) = 0;
  // A complete (re)list: every object of the resource as of `resource_version`.
  virtual void Replace(std::vector<ObjectPtr> objects, std::string resource_version) = 0;
  // A bookmark: the server has sent everything up to `resource_version` (R3).
  virtual void Bookmark(std::string resource_version) = 0;
};

// The annotation of the bookmark that ends a streaming list's initial events (R7).
inline constexpr char kInitialEventsEndAnnotation[] = "k8s.io/initial-events-end";

// How a Reflector is set up.
struct ReflectorConfig {
  ReflectorOptions options;
  std::string label_selector;  // sent with every LIST and WATCH
  std::string field_selector;
  Clock* clock = nullptr;  // null = RealClock
  // Called after every LIST or WATCH attempt: OK when it succeeded, else the failure (U6).
  // Runs on the reflector's thread; must not block or call the Reflector.
  std::function<void(const absl::Status&)> on_attempt;
  uint64_t seed = 0;  // randomness of watch timeouts and backoff jitter; 0 = random
  std::string name;   // the resource, for log lines (e.g. "pods.v1")
};

// Keeps a ReflectorStore in step with the server, as client-go v0.36's Reflector:
//  - a streaming list (WATCH with sendInitialEvents) by default, falling back to LIST by its
//    rules (R7, R16); LIST paged with RV "0" first, unpaged at a known RV (R1, R11), falling
//    back to one unpaged LIST when a continue token expires (R10);
//  - WATCH from the last RV with bookmarks and a random timeout of at least 5 min (R2, R17);
//  - the error policy: a clean close or a lost connection re-watches at once (R14); 429 and
//    connection refused back off and re-watch (R13); 410 relists at the last RV, then from ""
//    when that is gone too (R9); any other failure backs off and relists (R12);
//  - client-go's backoff, with its periodic reset (R15).
// Every recovery is logged at info with its cause and counted (stats()).
//
// Thread-safety: Start and Stop may be called from any thread (Stop also concurrently with
// the run loop); the accessors too.
class Reflector {
 public:
  // `lister_watcher`, `decoder` and `store` must outlive the Reflector.
  Reflector(std::shared_ptr<ListerWatcher> lister_watcher, const ObjectDecoder* decoder,
            ReflectorStore* store, ReflectorConfig config);
  // Stops.
  ~Reflector();
  Reflector(const Reflector&) = delete;
  Reflector& operator=(const Reflector&) = delete;

  // Starts the list/watch loop on its own thread. Does nothing when started or stopped.
  void Start();
  // Ends the loop: a sleeping backoff or a blocked WATCH returns at once, a LIST in flight
  // within about a second (through ListOptions::cancel; its pages are dropped). Blocks until
  // the thread exited. Idempotent.
  void Stop();

  // The RV of the newest LIST or watch event seen, bookmarks included (R3); "" before any.
  std::string LastSyncResourceVersion() const;
  // Counters (the list/watch fields of InformerStats).
  InformerStats stats() const;

 private:
  // What ended one watch.
  enum class WatchEnd {
    kStopped,              // Stop was called
    kRewatch,              // ended cleanly or lost its connection: re-watch at once (R14)
    kRewatchAfterBackoff,  // 429 or connection refused: re-watch after a backoff (R13)
    kRelist,               // anything else (410 included): back off, then relist (R9, R12)
  };

  void Run();
  // Lists the resource (streaming list or LIST, R16) and Replaces the store; on a streaming
  // list `*stream` is its watch, to be kept as the ongoing one.
  absl::Status List(std::shared_ptr<WatchStream>* stream);
  // The RV a relist asks for: "" after Expired/TooLarge, "0" before anything is known, else
  // the last RV (client-go's relistResourceVersion).
  std::string RelistResourceVersion() const;
  // LIST (all pages) at `resource_version` and Replace. Sets `resource_version_` on success.
  absl::Status ListAll(const std::string& resource_version);
  // Streaming list: a WATCH with sendInitialEvents whose initial events end in a Replace;
  // on success `*stream` is that watch.
  absl::Status StreamingList(std::shared_ptr<WatchStream>* stream);
  // Opens a WATCH from the last RV (or uses `stream` when given) and handles its events.
  WatchEnd Watch(std::shared_ptr<WatchStream> stream);
  // Handles one event; returns false with `*end` set when the watch must end.
  bool HandleEvent(const WatchEvent& event, WatchEnd* end);

  ListOptions BaseOptions() const;
  int64_t RandomWatchTimeoutSeconds();
  // Logs `why`, then sleeps for the next backoff delay; false when stopped meanwhile.
  bool BackOff(absl::string_view why, const absl::Status& cause);
  // One info line about a recovery of this resource.
  void LogRecovery(absl::string_view message, const absl::Status& cause,
                   std::vector<std::pair<std::string, std::string>> fields = {});
  void SetResourceVersion(const std::string& resource_version);
  void ReportAttempt(const absl::Status& status);
  // Publishes the open watch so Stop can interrupt it (null to clear).
  void SetCurrentWatch(std::shared_ptr<WatchStream> stream);
  void CountStat(uint64_t InformerStats::*field);

  const std::shared_ptr<ListerWatcher> lister_watcher_;
  const ObjectDecoder* const decoder_;
  ReflectorStore* const store_;
  const ReflectorConfig config_;
  Clock* const clock_;
  absl::Notification stop_;
  absl::Mutex stop_mu_;  // serialises Stop calls, so each returns only after the thread exited

  // Run-thread state.
  Backoff backoff_;
  std::mt19937_64 rng_;
  bool listed_once_ = false;
  // The last RV is gone (Expired/TooLarge): relists ask for "" until a list succeeds (R9).
  bool rv_unavailable_ = false;
  // The server paged an RV "0" list (its watch cache is off): relists at an RV page too (R11).
  bool server_pages_ = false;

  mutable absl::Mutex mu_;
  std::thread thread_ ABSL_GUARDED_BY(mu_);
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  std::shared_ptr<WatchStream> current_watch_ ABSL_GUARDED_BY(mu_);
  std::string resource_version_ ABSL_GUARDED_BY(mu_);
  InformerStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace informer

#endif  // INFORMER_REFLECTOR_H_
