// Tests: ring::Stats.
#include "arrowring/ring/ring.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "arrowring/ring/layout.h"
#include "arrowring/ring/test_memory.h"

namespace arrowring {
namespace {

using testing::HeapRing;
using testing::kKiB;
using testing::MustAllocate;
using testing::Publish;

TEST(Stats, StatsCountWritesReadsAndOccupancy) {
  Ring ring = HeapRing(64 * kKiB);
  Handle handle = Publish(ring, 1000, 1);
  WriteSlot open = MustAllocate(ring, 2000);
  auto read = ring.Acquire(handle);
  RingStats stats = ring.Stats();
  EXPECT_EQ(stats.messages_written, 1u);
  EXPECT_EQ(stats.bytes_written, 1000u);
  EXPECT_EQ(stats.messages_read, 1u);
  EXPECT_EQ(stats.bytes_read, 1000u);
  EXPECT_EQ(stats.committed_bytes, 1024u);
  EXPECT_EQ(stats.writing_bytes, 2048u);
  EXPECT_EQ(stats.free_bytes, 64 * kKiB - 3072);
  EXPECT_EQ(stats.high_water_bytes, 3072u);
  ASSERT_EQ(stats.holders.size(), 1u);
  EXPECT_TRUE(stats.holders[0].alive);
  EXPECT_EQ(stats.holders[0].write_slots, 1u);
  EXPECT_EQ(stats.holders[0].write_bytes, 2048u);
  EXPECT_EQ(stats.holders[0].read_bytes, 1000u);
}

}  // namespace
}  // namespace arrowring
