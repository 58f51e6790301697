// Tests: the allocator and the full-ring policies.
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

using testing::CommitUntilDropped;
using testing::HasRoomFor;
using ::testing::HasSubstr;
using testing::HeapRing;
using testing::kKiB;
using testing::MustAllocate;
using testing::Publish;
using namespace std::chrono_literals;

TEST(Allocator, ZeroAndOversizedMessagesAreErrorsNamingTheLimits) {
  Ring ring = HeapRing(64 * kKiB);
  auto zero = ring.TryAllocate(0);
  ASSERT_FALSE(zero.ok());
  EXPECT_EQ(zero.error().code, Errc::kInvalidArgument);
  auto huge = ring.TryAllocate(64 * kKiB + 1);
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.error().code, Errc::kTooLarge);
  EXPECT_THAT(huge.error().message, HasSubstr("65536"));
}

TEST(Allocator, EmptyRingHoldsOneMessageOfTheWholeCapacity) {
  Ring ring = HeapRing(64 * kKiB);
  // Move the ring's position off zero first, so the whole-capacity message must restart at 0.
  Handle small = Publish(ring, 100, 1);
  ASSERT_TRUE(ring.Acquire(small).ok());  // Acquired and released: freed.
  WriteSlot whole = MustAllocate(ring, 64 * kKiB);
  EXPECT_EQ(whole.data().size(), 64 * kKiB);
  EXPECT_FALSE(HasRoomFor(ring, 1));
}

TEST(Allocator, FailPolicyReturnsNothingAtOnceWhenFull) {
  Ring ring = HeapRing(64 * kKiB, {.policy = Policy::kFail});
  Publish(ring, 64 * kKiB, 1);
  auto slot = ring.Allocate(1, 1h);  // Would block for an hour under kBlock.
  ASSERT_TRUE(slot.ok());
  EXPECT_FALSE(slot->has_value());
}

TEST(Allocator, BlockedAllocationWakesWhenAReaderReleases) {
  Ring ring = HeapRing(64 * kKiB, {.policy = Policy::kBlock});
  Handle handle = Publish(ring, 64 * kKiB, 1);
  auto read = ring.Acquire(handle);
  ASSERT_TRUE(read.ok());
  std::optional<WriteSlot> got;
  std::thread writer([&] {
    auto slot = ring.Allocate(64 * kKiB, kWaitForever);
    if (slot.ok()) got = std::move(*slot);
  });
  read->Release();  // Frees the space and wakes the writer.
  writer.join();
  EXPECT_TRUE(got.has_value());
}

TEST(Allocator, DropOldestDropsUnheldMessagesOldestFirstAndCountsThem) {
  Ring ring = HeapRing(64 * kKiB, {.policy = Policy::kDropOldest});
  std::vector<Handle> handles;
  for (int i = 0; i < 4; ++i) handles.push_back(Publish(ring, 16 * kKiB, static_cast<uint8_t>(i)));
  Handle newest = Publish(ring, 16 * kKiB, 9);  // Needs the oldest's space.
  RingStats stats = ring.Stats();
  EXPECT_EQ(stats.messages_dropped, 1u);
  EXPECT_EQ(stats.bytes_dropped, 16 * kKiB);
  EXPECT_EQ(ring.Acquire(handles[0]).error().code, Errc::kStaleHandle);
  EXPECT_TRUE(ring.Acquire(handles[1]).ok());
  EXPECT_TRUE(ring.Acquire(newest).ok());
}

TEST(Allocator, DropOldestGoesAroundAHeldMessageAndDropsOnlyUnheldOnes) {
  Ring ring = HeapRing(64 * kKiB, {.policy = Policy::kDropOldest});
  Handle oldest = Publish(ring, 32 * kKiB, 1);
  Handle second = Publish(ring, 32 * kKiB, 2);
  auto held = ring.Acquire(oldest);  // Its one delivery happens, but we still hold it.
  ASSERT_TRUE(held.ok());
  WriteSlot slot = MustAllocate(ring, 32 * kKiB);  // Around the held one: the unheld one goes.
  EXPECT_EQ(slot.data().data(), held->data().data() + 32 * kKiB);
  std::memset(slot.data().data(), 3, slot.data().size());
  EXPECT_EQ(held->data()[0], std::byte{1});
  EXPECT_EQ(held->data()[32 * kKiB - 1], std::byte{1});
  EXPECT_EQ(ring.Stats().messages_dropped, 1u);
  EXPECT_EQ(ring.Stats().kept_messages, 1u);
  EXPECT_EQ(ring.Acquire(second).error().code, Errc::kStaleHandle);
  EXPECT_FALSE(HasRoomFor(ring, 1)) << "the held message's bytes are not free";
  held->Release();
  EXPECT_EQ(ring.Stats().kept_messages, 0u);
  EXPECT_TRUE(HasRoomFor(ring, 32 * kKiB));
}

TEST(Allocator, DescriptorTableBoundsMessagesInFlight) {
  Ring ring = HeapRing(64 * kKiB, {.policy = Policy::kFail, .max_messages = 64});
  for (int i = 0; i < 64; ++i) Publish(ring, 1, 1);
  EXPECT_FALSE(HasRoomFor(ring, 1));
  EXPECT_EQ(ring.Stats().free_messages, 0u);
}

// Memory efficiency with mixed sizes: a message costs its size rounded up to 64 bytes; the
// only other loss is the tail skipped when a message would wrap, at most one message's size.
TEST(Allocator, MixedSizesFillTheRingUpToOneMessageOfWrapWaste) {
  constexpr uint64_t kCapacity = 1024 * kKiB;
  const uint64_t sizes[] = {1, 100, 5000, 70000, 64, 3000};
  for (int rotation = 0; rotation < 6; ++rotation) {
    Ring ring = HeapRing(kCapacity, {.policy = Policy::kFail});
    // First cycle some messages through so the fill starts mid-ring and must wrap.
    for (int i = 0; i <= rotation; ++i) ring.Acquire(Publish(ring, 150'000, 1)).ok();
    uint64_t reserved = 0, payload = 0;
    for (int i = 0;; ++i) {
      const uint64_t size = sizes[(i + rotation) % 6];
      auto slot = ring.TryAllocate(size);
      ASSERT_TRUE(slot.ok());
      if (!slot->has_value()) break;
      reserved += (*slot)->data().size();
      payload += size;
      ASSERT_TRUE((*slot)->Commit(size).ok());
    }
    RingStats stats = ring.Stats();
    EXPECT_EQ(stats.committed_bytes, reserved);
    EXPECT_GE(reserved, kCapacity - 70'000 - 64) << "rotation " << rotation;
    EXPECT_LE(reserved - payload, stats.committed_messages * 63);
  }
}

TEST(AllocatorUntilDropped, SpacePressureGoesAroundAHeldMessageAndDropsTheOldestUnheld) {
  Ring ring = HeapRing(16 * kKiB, {.policy = Policy::kDropOldest});
  const uint64_t first = CommitUntilDropped(ring, 4 * kKiB, 1);
  auto held = ring.AcquireSequence(first);
  ASSERT_TRUE(held.ok());
  std::vector<uint64_t> others;
  for (int i = 0; i < 3; ++i) others.push_back(CommitUntilDropped(ring, 4 * kKiB, 2));
  const uint64_t next = CommitUntilDropped(ring, 4 * kKiB, 3);  // Goes around the held message.
  EXPECT_EQ(held->data()[0], std::byte{1});
  EXPECT_EQ(held->data()[4 * kKiB - 1], std::byte{1});
  EXPECT_TRUE(ring.AcquireSequence(first).ok()) << "a held message stays loadable";
  EXPECT_EQ(ring.AcquireSequence(others[0]).error().code, Errc::kStaleHandle);
  EXPECT_EQ(ring.Stats().messages_dropped, 1u);
  EXPECT_TRUE(ring.AcquireSequence(next).ok());
  held->Release();
  CommitUntilDropped(ring, 4 * kKiB, 4);
  EXPECT_EQ(ring.AcquireSequence(first).error().code, Errc::kStaleHandle);
}

TEST(AllocatorUntilDropped, MessageLimitIsExactAndDropsTheOldest) {
  Ring ring = HeapRing(64 * kKiB, {.policy = Policy::kDropOldest, .max_messages = 3});
  EXPECT_EQ(ring.Stats().max_messages, 3u);
  std::vector<uint64_t> seqs;
  for (int i = 0; i < 4; ++i) seqs.push_back(CommitUntilDropped(ring, 128, static_cast<uint8_t>(i)));
  const RingStats stats = ring.Stats();
  EXPECT_EQ(stats.committed_messages, 3u);
  EXPECT_EQ(stats.messages_dropped, 1u);
  EXPECT_EQ(ring.AcquireSequence(seqs[0]).error().code, Errc::kStaleHandle);
  EXPECT_TRUE(ring.AcquireSequence(seqs[3]).ok());
}

}  // namespace
}  // namespace arrowring
