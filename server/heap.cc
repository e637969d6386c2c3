#include "server/heap.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "absl/time/clock.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace informer {
namespace server {
namespace {

// Resident bytes of this process (/proc/self/statm), 0 when unreadable.
uint64_t ResidentBytes() {
  FILE* statm = std::fopen("/proc/self/statm", "r");
  if (statm == nullptr) return 0;
  unsigned long long size = 0, resident = 0;
  const int read = std::fscanf(statm, "%llu %llu", &size, &resident);
  std::fclose(statm);
  if (read != 2) return 0;
  return static_cast<uint64_t>(resident) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

// malloc_trim, given the resident bytes before it: how much they fell by, and (when asked) the
// resident bytes after.
uint64_t TrimFrom(uint64_t resident_before, uint64_t* resident_after) {
#if defined(__GLIBC__)
  malloc_trim(0);
  const uint64_t after = ResidentBytes();
#else
  const uint64_t after = resident_before;
#endif
  if (resident_after != nullptr) *resident_after = after;
  return resident_before > after ? resident_before - after : 0;
}

}  // namespace

HeapBytes ReadHeapBytes() {
  HeapBytes bytes;
#if defined(__GLIBC__)
  const struct mallinfo2 info = mallinfo2();
  bytes.free = info.fordblks;
  bytes.in_use = info.uordblks + info.hblkhd;
#endif
  return bytes;
}

uint64_t FreeHeapBytes() { return ReadHeapBytes().free; }

MallocArenaLimit LimitMallocArenas(uint64_t arenas) {
  MallocArenaLimit limit;
  if (arenas == 0) {
    limit.reason = "0 asked: glibc's default";
    return limit;
  }
  if (std::getenv("MALLOC_ARENA_MAX") != nullptr) {
    limit.reason = "MALLOC_ARENA_MAX is set in the environment";
    return limit;
  }
#if defined(__GLIBC__)
  limit.applied = mallopt(M_ARENA_MAX, static_cast<int>(std::min<uint64_t>(arenas, 1024))) == 1;
  if (!limit.applied) limit.reason = "mallopt refused it";
#else
  limit.reason = "not glibc's malloc";
#endif
  return limit;
}

uint64_t ReleaseFreeHeap() { return TrimFrom(ResidentBytes(), nullptr); }

bool HeapTrimmer::MaybeTrim(absl::Time now) {
  if (interval_ <= absl::ZeroDuration() || now < next_check_) return false;
  next_check_ = now + interval_;
  const HeapBytes heap = ReadHeapBytes();
  stats_.free_bytes = heap.free;
  stats_.in_use_bytes = heap.in_use;
  const uint64_t resident = ResidentBytes();
  free_floor_ = std::min(free_floor_, stats_.free_bytes);
  resident_floor_ = std::min(resident_floor_, resident);
  const bool freed = stats_.free_bytes >= free_floor_ + min_growth_bytes_;
  const bool refaulted = resident >= resident_floor_ + min_growth_bytes_;
  if (stats_.free_bytes < min_free_bytes_ || !(freed || refaulted)) return false;
  ++stats_.trims;
  const absl::Time started = absl::Now();
  stats_.released_bytes += TrimFrom(resident, &resident_floor_);
  stats_.trim_time += absl::Now() - started;
  free_floor_ = FreeHeapBytes();
  return true;
}

}  // namespace server
}  // namespace informer
