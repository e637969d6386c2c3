// Returning the memory malloc keeps after it is freed.
//
// glibc's malloc returns freed memory to the system only from the top of each arena; what is
// freed below a live allocation stays in the process. informerd's load makes that common: a
// Subscribe start or a relist allocates and frees a burst the size of the cache on gRPC's and
// the hub's threads, between allocations that live on (streams, new object versions), so after
// 1000 subscribers synced 100 000 objects the arenas held ~140 MB free (malloc_stats). The
// HeapTrimmer checks every so often and hands free pages back (malloc_trim), so RSS follows
// what is in use. With another allocator (or without glibc) it does nothing.
#ifndef SERVER_HEAP_H_
#define SERVER_HEAP_H_

#include <cstdint>

#include "absl/time/time.h"

namespace informer {
namespace server {

// What malloc holds: bytes free in its arenas (mallinfo2's fordblks) and bytes in use
// (uordblks + hblkhd: allocated from the arenas or mmapped); zeros without glibc.
struct HeapBytes {
  uint64_t free = 0;
  uint64_t in_use = 0;
};
HeapBytes ReadHeapBytes();

// What LimitMallocArenas did.
struct MallocArenaLimit {
  bool applied = false;  // mallopt(M_ARENA_MAX) was called
  // Why not, when not: 0 asked, MALLOC_ARENA_MAX set in the environment (it wins), or no glibc.
  const char* reason = "";
};

// Caps glibc's malloc arenas at `arenas` (mallopt M_ARENA_MAX) unless it is 0 or the
// environment sets MALLOC_ARENA_MAX. glibc makes an arena per thread that finds the others busy
// (up to 8 per core): each keeps its own free memory, and a Subscribe start's burst freed in one
// arena does not serve the next stream's allocations made in another, so resident memory per
// stream grows with the arenas (bench/soak.py: 62.7 KiB per subscriber with glibc's default on two
// cores, 38.0 KiB with 2 arenas, for ~13 % more CPU per event). Call before the server's threads
// start.
MallocArenaLimit LimitMallocArenas(uint64_t arenas);

// Free bytes malloc holds in its arenas (ReadHeapBytes().free).
uint64_t FreeHeapBytes();

// Hands free arena pages back to the system (malloc_trim(0)); returns how much the process's
// resident memory fell by (0 when it did not, or without glibc).
uint64_t ReleaseFreeHeap();

// Counters of a HeapTrimmer, for /metrics.
struct HeapTrimStats {
  uint64_t free_bytes = 0;      // at the last check
  uint64_t in_use_bytes = 0;    // at the last check
  uint64_t trims = 0;           // ReleaseFreeHeap calls
  uint64_t released_bytes = 0;  // resident memory they gave back
  absl::Duration trim_time;     // spent in them
};

// Calls ReleaseFreeHeap when, at a check at least `interval` after the last, at least
// `min_free_bytes` is free in the arenas and, since the last trim, the free bytes grew by
// `min_growth_bytes` (memory was freed) or the resident bytes did (free pages handed back were
// used and freed again): each measured from its lowest since. A trim does not lower the free
// figure (the chunks stay free; their pages are handed back), so without either there is
// nothing new. Not thread-safe: one caller (the server's monitor).
class HeapTrimmer {
 public:
  HeapTrimmer(absl::Duration interval, uint64_t min_free_bytes, uint64_t min_growth_bytes)
      : interval_(interval), min_free_bytes_(min_free_bytes), min_growth_bytes_(min_growth_bytes) {}

  // Checks when due by `now` (monotonic); true when it trimmed. Never with a zero interval.
  bool MaybeTrim(absl::Time now);
  const HeapTrimStats& stats() const { return stats_; }

 private:
  const absl::Duration interval_;
  const uint64_t min_free_bytes_;
  const uint64_t min_growth_bytes_;
  absl::Time next_check_ = absl::InfinitePast();
  // After the last trim, or the lowest since.
  uint64_t free_floor_ = 0;
  uint64_t resident_floor_ = 0;
  HeapTrimStats stats_;
};

}  // namespace server
}  // namespace informer

#endif  // SERVER_HEAP_H_
