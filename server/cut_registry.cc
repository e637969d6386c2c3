#include "server/cut_registry.h"

#include "absl/strings/numbers.h"

namespace informer {
namespace server {

CutRegistry::CutRegistry(size_t max_per_informer) : max_per_informer_(max_per_informer) {}

void CutRegistry::Record(const SharedIndexInformer* informer, absl::string_view resource_version,
                         uint64_t seq) {
  uint64_t rv = 0;
  if (!absl::SimpleAtoi(resource_version, &rv)) return;
  absl::MutexLock lock(&mu_);
  std::map<uint64_t, uint64_t>& cuts = cuts_[informer];
  cuts[rv] = seq;
  while (cuts.size() > max_per_informer_) cuts.erase(cuts.begin());
}

std::optional<CutRegistry::Cut> CutRegistry::Floor(const SharedIndexInformer* informer,
                                                   uint64_t resource_version) const {
  absl::MutexLock lock(&mu_);
  auto it = cuts_.find(informer);
  if (it == cuts_.end()) return std::nullopt;
  auto cut = it->second.upper_bound(resource_version);
  if (cut == it->second.begin()) return std::nullopt;
  --cut;
  return Cut{cut->first, cut->second};
}

void CutRegistry::Forget(const SharedIndexInformer* informer) {
  absl::MutexLock lock(&mu_);
  cuts_.erase(informer);
}

}  // namespace server
}  // namespace informer
