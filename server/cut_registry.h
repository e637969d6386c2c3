// Positions of the cuts the service handed out (List snapshots, SYNCED events), so a client
// that resumes from such a resourceVersion resumes exactly there.
#ifndef SERVER_CUT_REGISTRY_H_
#define SERVER_CUT_REGISTRY_H_

#include <cstdint>
#include <map>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "informer/shared_informer.h"

namespace informer {
namespace server {

// A cut is a history position that is exact in resourceVersion terms: every change at or
// before its seq has a resourceVersion <= its own, and every change after it a greater one.
// The informer's history is not in resourceVersion order (the DeltaFIFO applies one key's
// changes together), so only some positions are cuts; the snapshots the service hands out
// (List, SYNCED) are. Remembering them lets a client resume from such a resourceVersion even
// when the first retained change is newer than it (e.g. List at RV 100, a change at 101,
// then Subscribe from 100), which the history alone cannot tell from "too old".
//
// Thread-safety: every method may be called from any thread.
class CutRegistry {
 public:
  // One recorded cut.
  struct Cut {
    uint64_t resource_version = 0;
    uint64_t seq = 0;
  };

  // At most this many cuts are kept per informer (the oldest versions go first).
  explicit CutRegistry(size_t max_per_informer = 4096);

  // Records that `informer`'s history position `seq` is a cut at `resource_version`
  // (ignored when it is not a number).
  void Record(const SharedIndexInformer* informer, absl::string_view resource_version,
              uint64_t seq);

  // The recorded cut of `informer` with the largest resourceVersion <= `resource_version`.
  std::optional<Cut> Floor(const SharedIndexInformer* informer, uint64_t resource_version) const;

  // Forgets everything about `informer` (it stopped).
  void Forget(const SharedIndexInformer* informer);

 private:
  const size_t max_per_informer_;
  mutable absl::Mutex mu_;
  // informer -> resourceVersion -> seq
  absl::flat_hash_map<const SharedIndexInformer*, std::map<uint64_t, uint64_t>> cuts_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace server
}  // namespace informer

#endif  // SERVER_CUT_REGISTRY_H_
