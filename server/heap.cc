#include "server/heap.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

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

}  // namespace

uint64_t FreeHeapBytes() {
#if defined(__GLIBC__)
  return mallinfo2().fordblks;
#else
  return 0;
#endif
}

uint64_t ReleaseFreeHeap() {
#if defined(__GLIBC__)
  const uint64_t before = ResidentBytes();
  malloc_trim(0);
  const uint64_t after = ResidentBytes();
  return before > after ? before - after : 0;
#else
  return 0;
#endif
}

bool HeapTrimmer::MaybeTrim(absl::Time now) {
  if (interval_ <= absl::ZeroDuration() || now < next_check_) return false;
  next_check_ = now + interval_;
  stats_.free_bytes = FreeHeapBytes();
  const uint64_t resident = ResidentBytes();
  free_floor_ = std::min(free_floor_, stats_.free_bytes);
  resident_floor_ = std::min(resident_floor_, resident);
  const bool freed = stats_.free_bytes >= free_floor_ + min_free_bytes_;
  const bool refaulted = resident >= resident_floor_ + min_free_bytes_;
  if (stats_.free_bytes < min_free_bytes_ || !(freed || refaulted)) return false;
  ++stats_.trims;
  stats_.released_bytes += ReleaseFreeHeap();
  free_floor_ = FreeHeapBytes();
  resident_floor_ = ResidentBytes();
  return true;
}

}  // namespace server
}  // namespace informer
