// Pages over consistent snapshots: the first page of a query keeps its snapshot under an
// opaque token, and later pages are cut from that same snapshot.
#ifndef SERVER_PAGER_H_
#define SERVER_PAGER_H_

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "informer/object.h"

namespace informer {
namespace server {

// Bounds of the pager. Defaults suit a client whose gRPC receive limit is the default 4 MiB.
struct PagerOptions {
  int32_t default_limit = 500;                     // limit 0 means this
  int32_t max_limit = 10000;                       // a larger limit is InvalidArgument
  size_t max_page_bytes = size_t{3} << 20;         // a page stops early past this much JSON
  absl::Duration snapshot_ttl = absl::Minutes(5);  // since the snapshot's last page request
  // Snapshots kept at once, in total and per caller (--max_page_snapshots,
  // --max_page_snapshots_per_caller). A first page that needs a snapshot past either cap first
  // drops the caller's own least recently used finished snapshot (its last page was served), and
  // is refused with ResourceExhausted when it has none: one caller never evicts another's.
  size_t max_snapshots = 1024;
  size_t max_snapshots_per_caller = 64;
};

// One page of a paged answer.
struct Page {
  std::vector<ObjectPtr> objects;
  std::string resource_version;  // of the snapshot
  std::string next_page_token;   // empty on the last page
  int64_t total_count = 0;       // objects over every page
};

// Keeps the snapshots of paged queries between their pages.
//
// A token names the server process, the snapshot, the offset and a hash of the query, so a
// token from another query is InvalidArgument and one whose snapshot was dropped (TTL, LRU
// bound, or a server restart) is Aborted with "restart the list".
//
// Thread-safety: every method may be called from any thread.
class Pager {
 public:
  explicit Pager(PagerOptions options = {});

  // The first page of `objects` (already filtered and sorted) for the query identified by
  // `query` (any text that differs between queries, e.g. resource + namespace + selectors).
  // Keeps the snapshot only when more pages remain, counted against `caller` (a CallerKey) and
  // filed under `resource` (for DropResource).
  // InvalidArgument for a limit out of range; ResourceExhausted naming the cap and its flag when
  // the snapshot cannot be kept (PagerOptions::max_snapshots*).
  absl::StatusOr<Page> First(absl::string_view query, std::vector<ObjectPtr> objects,
                             std::string resource_version, int32_t limit, absl::Time now,
                             const std::string& caller = "", const std::string& resource = "");

  // The page after the one that returned `token`. InvalidArgument for a malformed token, one
  // this process never issued, or one issued for a different query; Aborted when its snapshot
  // is gone (expired, evicted, or from before a restart); InvalidArgument for a bad limit.
  absl::StatusOr<Page> Next(absl::string_view query, absl::string_view token, int32_t limit,
                            absl::Time now);

  // Drops every snapshot of `resource` (its cache stopped: an idle on-demand informer), so
  // none keeps its objects alive; their tokens then get Aborted ("restart the list").
  void DropResource(absl::string_view resource);

  // Snapshots currently kept, in total and by `caller` (for metrics and tests).
  size_t snapshot_count() const;
  size_t snapshot_count(const std::string& caller) const;
  // First pages refused for want of room (for metrics).
  uint64_t refused() const;

 private:
  struct Snapshot {
    uint64_t id = 0;
    uint64_t query_hash = 0;
    std::vector<ObjectPtr> objects;
    std::string resource_version;
    absl::Time last_used;
    std::string caller;     // who holds it (CallerKey)
    std::string resource;   // whose objects it holds (First's `resource`)
    bool finished = false;  // its last page was served
  };
  using LruList = std::list<std::shared_ptr<Snapshot>>;

  absl::StatusOr<int32_t> CheckLimit(int32_t limit) const;
  // Cuts the page at `offset` and, when more remain, the token of the next one.
  Page Cut(const Snapshot& snapshot, size_t offset, int32_t limit) const;
  std::string Token(uint64_t snapshot_id, size_t offset, uint64_t query_hash) const;
  void ExpireLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EraseLocked(LruList::iterator it) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops the least recently used finished snapshot of `caller`; false when it has none.
  bool DropFinishedLocked(const std::string& caller) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const PagerOptions options_;
  const uint64_t instance_;  // random per process, so tokens from an earlier one are recognized
  mutable absl::Mutex mu_;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  // Least recently used first.
  LruList lru_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, LruList::iterator> by_id_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, size_t> per_caller_ ABSL_GUARDED_BY(mu_);
  uint64_t refused_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace server
}  // namespace informer

#endif  // SERVER_PAGER_H_
