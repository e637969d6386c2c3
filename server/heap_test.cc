#include "server/heap.h"

#include <cstdlib>
#include <vector>

#include "gtest/gtest.h"

namespace informer {
namespace server {
namespace {

constexpr size_t kChunk = 1024;
constexpr size_t kBurst = size_t{96} << 20;

// Allocates kBurst in 1 KiB chunks and frees them all but one above them, which keeps glibc
// from returning them itself (it only trims the top of an arena). Returns the pinning chunk.
void* FreedBelowALiveChunk() {
  std::vector<void*> chunks;
  chunks.reserve(kBurst / kChunk);
  for (size_t i = 0; i < kBurst / kChunk; ++i) {
    chunks.push_back(std::malloc(kChunk));
    static_cast<char*>(chunks.back())[0] = 1;  // resident
  }
  void* pin = std::malloc(kChunk);
  for (void* chunk : chunks) std::free(chunk);
  return pin;
}

TEST(HeapTrimmerTest, HandsBackMemoryFreedBelowLiveChunksOnceAndAgainOnlyAfterMoreIsFreed) {
  void* first_pin = FreedBelowALiveChunk();
  if (FreeHeapBytes() < kBurst / 2) {
    std::free(first_pin);
    GTEST_SKIP() << "not glibc's malloc (a sanitizer's allocator?): nothing to measure";
  }
  HeapTrimmer trimmer(absl::Seconds(10), uint64_t{32} << 20);
  absl::Time now = absl::UnixEpoch();
  ASSERT_TRUE(trimmer.MaybeTrim(now));
  EXPECT_EQ(trimmer.stats().trims, 1u);
  EXPECT_GT(trimmer.stats().released_bytes, kBurst / 2);
  // Not before the interval, and not again for memory it already handed back.
  EXPECT_FALSE(trimmer.MaybeTrim(now + absl::Seconds(1)));
  EXPECT_FALSE(trimmer.MaybeTrim(now + absl::Seconds(11)));
  EXPECT_EQ(trimmer.stats().trims, 1u);
  // More freed: trimmed at the next check.
  void* second_pin = FreedBelowALiveChunk();
  EXPECT_TRUE(trimmer.MaybeTrim(now + absl::Seconds(22)));
  EXPECT_EQ(trimmer.stats().trims, 2u);
  std::free(first_pin);
  std::free(second_pin);
}

TEST(HeapTrimmerTest, AZeroIntervalNeverTrims) {
  HeapTrimmer trimmer(absl::ZeroDuration(), 0);
  EXPECT_FALSE(trimmer.MaybeTrim(absl::UnixEpoch()));
  EXPECT_EQ(trimmer.stats().trims, 0u);
}

}  // namespace
}  // namespace server
}  // namespace informer
