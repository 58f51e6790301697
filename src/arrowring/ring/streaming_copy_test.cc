#include "arrowring/ring/streaming_copy.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <deque>
#include <numeric>
#include <vector>

#include "arrowring/ring/test_memory.h"

namespace arrowring {
namespace {

using testing::HeapRing;
using testing::kKiB;
using testing::MustAllocate;

// Every length around the line and threshold boundaries, at every alignment of both ends:
// the bytes arrive exactly, and nothing before or after the destination range is touched.
TEST(StreamingCopy, CopiesEveryByteAtEveryAlignmentAndTouchesNothingElse) {
  std::vector<std::byte> source(3 * kStreamingCopyMinBytes + 256);
  for (size_t i = 0; i < source.size(); ++i) source[i] = static_cast<std::byte>(i * 131 + 7);
  for (bool cold : {false, true}) {
    for (size_t n : {size_t{0}, size_t{1}, size_t{63}, size_t{64}, kStreamingCopyMinBytes - 1, kStreamingCopyMinBytes,
                     kStreamingCopyMinBytes + 1, kStreamingCopyMinBytes + 63, 3 * kStreamingCopyMinBytes + 5}) {
      for (size_t to : {size_t{0}, size_t{1}, size_t{8}, size_t{33}, size_t{63}}) {
        for (size_t from : {size_t{0}, size_t{3}, size_t{64}}) {
          alignas(64) static std::byte destination[4 * 4096 + 512];
          std::memset(destination, 0xEE, sizeof(destination));
          CopyIntoRing(destination + 64 + to, source.data() + from, n, cold);
          ASSERT_EQ(std::memcmp(destination + 64 + to, source.data() + from, n), 0)
              << "n=" << n << " to=" << to << " from=" << from << " cold=" << cold;
          for (size_t i = 0; i < 64 + to; ++i) ASSERT_EQ(destination[i], std::byte{0xEE}) << "before, at " << i;
          for (size_t i = 64 + to + n; i < sizeof(destination); ++i) {
            ASSERT_EQ(destination[i], std::byte{0xEE}) << "after, at " << i;
          }
        }
      }
    }
  }
}

TEST(StreamingCopy, ALapOfAtLeastHalfTheLastLevelCacheIsColdAndNoLapYetIsNot) {
  EXPECT_FALSE(IsColdLap(0));
  EXPECT_FALSE(IsColdLap(ColdLapBytes() - 1));
  EXPECT_TRUE(IsColdLap(ColdLapBytes()));
  EXPECT_GE(ColdLapBytes(), 64 * kKiB);
}

TEST(StreamingCopy, TheLastLevelCacheIsTheOneThisCpuUsesAsLinuxDescribesIt) {
  // sysconf may count a whole package (256 MiB on an EPYC whose cores share 32 MiB slices),
  // which left 64 MiB rings written with ordinary stores at 8 GB/s instead of 14-16.
  std::FILE* file = std::fopen("/sys/devices/system/cpu/cpu0/cache/index3/size", "r");
  if (file == nullptr) GTEST_SKIP() << "no level-3 cache description in sysfs";
  unsigned long long kib = 0;
  const int fields = std::fscanf(file, "%lluK", &kib);
  std::fclose(file);
  ASSERT_EQ(fields, 1);
  EXPECT_EQ(ColdLapBytes(), std::max<uint64_t>(kib * kKiB / 2, 64 * kKiB));
}

// Publishes `size`-byte messages, each loaded by handle four messages later (a reader that
// lags a little, so the window is never empty), until the writer has wrapped `laps` times;
// returns whether the last slot was cold.
bool ColdAfterCycling(Ring& ring, uint64_t size, int laps) {
  bool cold = false;
  std::deque<Handle> in_flight;
  for (uint64_t written = 0; written < laps * ring.capacity() + size; written += size) {
    WriteSlot slot = MustAllocate(ring, size);
    cold = slot.cold();
    auto handle = slot.Commit(size, 1);
    EXPECT_TRUE(handle.ok());
    in_flight.push_back(*handle);
    if (in_flight.size() > 4) {
      EXPECT_TRUE(ring.Acquire(in_flight.front()).ok());  // released at once
      in_flight.pop_front();
    }
  }
  return cold;
}

TEST(StreamingCopy, AWriterCyclingThroughAColdSizedRingGetsColdSlotsAfterItsFirstLap) {
  const uint64_t capacity = 2 * ColdLapBytes();
  Ring ring = HeapRing(capacity, {.warm_bytes = 0});
  EXPECT_FALSE(MustAllocate(ring, 64 * kKiB).cold()) << "the first lap writes memory nobody wrote before";
  EXPECT_TRUE(ColdAfterCycling(ring, 256 * kKiB, 1));
}

TEST(StreamingCopy, AMessageOfAtLeastTheColdLapIsColdEvenOnTheFirstLap) {
  Ring ring = HeapRing(2 * ColdLapBytes(), {.warm_bytes = 0});
  EXPECT_FALSE(MustAllocate(ring, ColdLapBytes() - 4096).cold());
  EXPECT_TRUE(MustAllocate(ring, ColdLapBytes()).cold()) << "its start leaves the cache before its end is written";
}

TEST(StreamingCopy, ARetainingRingIsColdAfterItsFirstLap) {
  Ring ring = HeapRing(2 * ColdLapBytes(), {.retain = true});
  EXPECT_TRUE(ColdAfterCycling(ring, 256 * kKiB, 1));
}

TEST(StreamingCopy, WarmWritesKeepTheSameRingWarm) {
  Ring ring = HeapRing(2 * ColdLapBytes(), {.warm_bytes = 1024 * kKiB});
  EXPECT_FALSE(ColdAfterCycling(ring, 64 * kKiB, 3)) << "laps of the warm window are short";
}

TEST(StreamingCopy, ARingSmallerThanTheColdLapIsNeverCold) {
  Ring ring = HeapRing(ColdLapBytes() / 2, {.warm_bytes = 0});
  EXPECT_FALSE(ColdAfterCycling(ring, 64 * kKiB, 3));
}

}  // namespace
}  // namespace arrowring
