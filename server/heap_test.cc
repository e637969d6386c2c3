#include "server/heap.h"

#include <cstdlib>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace informer {
namespace server {
namespace {

using ::testing::HasSubstr;

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
  HeapTrimmer trimmer(absl::Seconds(10), uint64_t{32} << 20, uint64_t{32} << 20);
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

TEST(HeapTrimmerTest, HandsBackMemoryFreedAfterTheLastTrimWithoutResidentGrowth) {
  // Held while the trimmer first looks: nothing free to hand back.
  std::vector<void*> held;
  for (size_t i = 0; i < kBurst / kChunk; ++i) {
    held.push_back(std::malloc(kChunk));
    static_cast<char*>(held.back())[0] = 1;
  }
  void* pin = std::malloc(kChunk);
  HeapTrimmer trimmer(absl::Seconds(10), uint64_t{32} << 20, uint64_t{32} << 20);
  const absl::Time now = absl::UnixEpoch();
  trimmer.MaybeTrim(now);  // may trim what earlier tests left
  const uint64_t trims = trimmer.stats().trims;
  const uint64_t released = trimmer.stats().released_bytes;
  // Freed later (the subscribers closed): resident memory did not grow, free memory did.
  for (void* chunk : held) std::free(chunk);
  if (FreeHeapBytes() < kBurst / 2) {
    std::free(pin);
    GTEST_SKIP() << "not glibc's malloc (a sanitizer's allocator?): nothing to measure";
  }
  EXPECT_TRUE(trimmer.MaybeTrim(now + absl::Seconds(10)));
  EXPECT_EQ(trimmer.stats().trims, trims + 1);
  EXPECT_GT(trimmer.stats().released_bytes - released, kBurst / 2);
  std::free(pin);
}

TEST(HeapTrimmerTest, OnceEnoughIsFreeASmallerGrowthIsHandedBackToo) {
  // Much free already (over min_free), trimmed once; then a quarter of that freed again, as when
  // a thousand subscribers of ~25 KiB each close: under min_free by itself, over min_growth.
  void* first_pin = FreedBelowALiveChunk();
  if (FreeHeapBytes() < kBurst / 2) {
    std::free(first_pin);
    GTEST_SKIP() << "not glibc's malloc (a sanitizer's allocator?): nothing to measure";
  }
  HeapTrimmer trimmer(absl::Seconds(10), /*min_free_bytes=*/kBurst / 2,
                      /*min_growth_bytes=*/kBurst / 8);
  const absl::Time now = absl::UnixEpoch();
  ASSERT_TRUE(trimmer.MaybeTrim(now));
  std::vector<void*> held;
  for (size_t i = 0; i < kBurst / 4 / kChunk; ++i) {
    held.push_back(std::malloc(kChunk));
    static_cast<char*>(held.back())[0] = 1;
  }
  void* second_pin = std::malloc(kChunk);
  trimmer.MaybeTrim(now + absl::Seconds(10));  // may trim: the re-used pages are resident again
  const uint64_t trims = trimmer.stats().trims;
  for (void* chunk : held) std::free(chunk);
  EXPECT_TRUE(trimmer.MaybeTrim(now + absl::Seconds(20)));
  EXPECT_EQ(trimmer.stats().trims, trims + 1);
  EXPECT_GT(trimmer.stats().trim_time, absl::ZeroDuration());
  std::free(first_pin);
  std::free(second_pin);
}

TEST(HeapTrimmerTest, AZeroIntervalNeverTrims) {
  HeapTrimmer trimmer(absl::ZeroDuration(), 0, 0);
  EXPECT_FALSE(trimmer.MaybeTrim(absl::UnixEpoch()));
  EXPECT_EQ(trimmer.stats().trims, 0u);
}

TEST(MallocArenasTest, CapsUnlessZeroOrTheEnvironmentSaysOtherwise) {
  const MallocArenaLimit zero = LimitMallocArenas(0);
  EXPECT_FALSE(zero.applied);
  EXPECT_THAT(zero.reason, HasSubstr("0 asked"));
  ASSERT_EQ(setenv("MALLOC_ARENA_MAX", "8", 1), 0);
  const MallocArenaLimit from_environment = LimitMallocArenas(2);
  unsetenv("MALLOC_ARENA_MAX");
  EXPECT_FALSE(from_environment.applied);
  EXPECT_THAT(from_environment.reason, HasSubstr("MALLOC_ARENA_MAX"));
  // Under ASan (and the other sanitizers) malloc is the sanitizer's, which refuses mallopt.
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  EXPECT_TRUE(LimitMallocArenas(2).applied);
#endif
}

}  // namespace
}  // namespace server
}  // namespace informer
