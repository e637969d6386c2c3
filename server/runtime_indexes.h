// Indexes registered at run time (AddIndex): the checks, the cap per resource, and the
// registration on a resource's live store, which then serves every caller's ByIndex.
#ifndef SERVER_RUNTIME_INDEXES_H_
#define SERVER_RUNTIME_INDEXES_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "server/limits.h"
#include "server/resource_registry.h"

namespace informer {
namespace server {

// What AddIndex did.
struct AddedIndex {
  std::string name;        // the index's name, as ByIndex takes it
  std::string definition;  // `label:KEY` or `field:PATH`
  bool created = false;    // false: it existed already with this definition
};

// Thread-safety: every method may be called from any thread.
class RuntimeIndexes {
 public:
  explicit RuntimeIndexes(RuntimeIndexLimits limits) : limits_(limits) {}

  // Registers the index `spec` (`label:KEY`, `field:PATH`, optionally `NAME=` before either, as
  // --index takes it) on `resource`'s store, indexing the objects cached now; from then on
  // every change keeps it up to date and ByIndex serves it to every caller. OK with created
  // false when an index of that name and definition exists (configured at start under its
  // default name `label:KEY`/`field:PATH`, or added before).
  // FailedPrecondition when runtime indexes are off (--allow_runtime_indexes); InvalidArgument
  // for a spec that does not parse (a bad field path); AlreadyExists when the name is taken by
  // another definition (or by an index configured at start under a name of its own, whose
  // definition is not compared); ResourceExhausted past --max_runtime_indexes for the resource.
  absl::StatusOr<AddedIndex> Add(const CachedResource& resource, absl::string_view spec);

  // Registers on `resource`'s store (a new informer of a resource whose earlier one was stopped:
  // an on-demand cache started again after an idle stop) every index added at run time to that
  // resource before, so a client's ByIndex keeps working across the restart. Call before the
  // informer runs. Returns the first failure (the indexes before it are registered).
  absl::Status Reapply(const CachedResource& resource);

  // Runtime indexes registered, and AddIndex calls refused by a limit or the switch (metrics).
  size_t count() const;
  uint64_t refused() const;

 private:
  const RuntimeIndexLimits limits_;
  mutable absl::Mutex mu_;
  // Resource (gvr) -> index name -> definition, of the indexes added at run time.
  absl::flat_hash_map<std::string, absl::flat_hash_map<std::string, std::string>> added_
      ABSL_GUARDED_BY(mu_);
  size_t count_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t refused_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace server
}  // namespace informer

#endif  // SERVER_RUNTIME_INDEXES_H_
