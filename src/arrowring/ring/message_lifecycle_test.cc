// Tests: the message state machine: commit, abort, acquire, release, deliveries, handles.
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
using testing::HeapRing;
using testing::kKiB;
using testing::MustAllocate;
using testing::Publish;
using namespace std::chrono_literals;

TEST(MessageLifecycle, CommittedBytesAreReadThroughTheHandle) {
  Ring ring = HeapRing(64 * kKiB);
  WriteSlot slot = MustAllocate(ring, 1000);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(slot.data().data()) % 64, 0u);
  EXPECT_GE(slot.data().size(), 1000u);
  for (int i = 0; i < 1000; ++i) slot.data()[i] = static_cast<std::byte>(i * 7);
  auto handle = slot.Commit(1000);
  ASSERT_TRUE(handle.ok());
  EXPECT_EQ(handle->size, 1000u);
  EXPECT_EQ(handle->ring_id, ring.ring_id());

  auto read = ring.Acquire(*handle);
  ASSERT_TRUE(read.ok()) << read.error().ToString();
  ASSERT_EQ(read->data().size(), 1000u);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(read->data()[i], static_cast<std::byte>(i * 7));
  EXPECT_GT(read->commit_time_ns(), 0u);
}

TEST(MessageLifecycle, MessageIsInvisibleUntilCommitted) {
  Ring ring = HeapRing(64 * kKiB);
  WriteSlot slot = MustAllocate(ring, 100);
  EXPECT_FALSE(ring.HandleOf(slot.sequence()).has_value());
  const uint64_t seq = slot.sequence();
  ASSERT_TRUE(slot.Commit(100).ok());
  EXPECT_TRUE(ring.HandleOf(seq).has_value());
}

TEST(MessageLifecycle, CommitRejectsZeroAndMoreThanReserved) {
  Ring ring = HeapRing(64 * kKiB);
  WriteSlot slot = MustAllocate(ring, 100);
  EXPECT_EQ(slot.Commit(0).error().code, Errc::kInvalidArgument);
  EXPECT_EQ(slot.Commit(101).error().code, Errc::kInvalidArgument);
  EXPECT_TRUE(slot.Commit(60).ok());
  EXPECT_EQ(slot.Commit(60).error().code, Errc::kBadState);
}

TEST(MessageLifecycle, DestroyingAnUncommittedSlotAbortsAndFreesTheSpace) {
  Ring ring = HeapRing(64 * kKiB, {.policy = Policy::kFail});
  {
    WriteSlot slot = MustAllocate(ring, 64 * kKiB);
    EXPECT_FALSE(HasRoomFor(ring, 1));
  }
  EXPECT_EQ(ring.Stats().messages_aborted, 1u);
  EXPECT_TRUE(HasRoomFor(ring, 64 * kKiB));
}

TEST(MessageLifecycle, MovedSlotsKeepOneOwner) {
  Ring ring = HeapRing(64 * kKiB);
  WriteSlot first = MustAllocate(ring, 10);
  WriteSlot second = std::move(first);
  EXPECT_EQ(first.Commit(10).error().code, Errc::kBadState);  // NOLINT(bugprone-use-after-move)
  auto handle = second.Commit(10);
  ASSERT_TRUE(handle.ok());
  auto read = ring.Acquire(*handle);
  ASSERT_TRUE(read.ok());
  ReadSlot moved = std::move(*read);
  EXPECT_EQ(moved.data().size(), 10u);
}

TEST(MessageLifecycle, ReleasedMessageHandleBecomesStaleOnceSpaceIsReused) {
  Ring ring = HeapRing(64 * kKiB);
  Handle handle = Publish(ring, 4 * kKiB, 0xAA);
  {
    auto read = ring.Acquire(handle);
    ASSERT_TRUE(read.ok());
  }  // The one delivery: freed.
  // Reuse all of the space with other bytes.
  Handle other = Publish(ring, 64 * kKiB, 0x55, 1);
  auto stale = ring.Acquire(handle);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code, Errc::kStaleHandle);
  auto fresh = ring.Acquire(other);
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->data()[0], std::byte{0x55});
}

TEST(MessageLifecycle, HoldingAReadSlotKeepsItsSpaceUntilReleased) {
  Ring ring = HeapRing(64 * kKiB, {.policy = Policy::kBlock});
  Handle handle = Publish(ring, 48 * kKiB, 1);
  auto read = ring.Acquire(handle);
  ASSERT_TRUE(read.ok());
  EXPECT_FALSE(HasRoomFor(ring, 32 * kKiB));
  auto timed_out = ring.Allocate(32 * kKiB, 0ms);
  ASSERT_TRUE(timed_out.ok());
  EXPECT_FALSE(timed_out->has_value());
  read->Release();
  EXPECT_TRUE(HasRoomFor(ring, 64 * kKiB));
}

TEST(MessageLifecycle, MessageWaitsForAllOfItsDeliveries) {
  Ring ring = HeapRing(64 * kKiB);
  Handle handle = Publish(ring, 40 * kKiB, 3, /*deliveries=*/2);
  {
    auto read = ring.Acquire(handle);
    ASSERT_TRUE(read.ok());
  }
  EXPECT_FALSE(HasRoomFor(ring, 40 * kKiB)) << "one delivery is still due";
  {
    auto read = ring.Acquire(handle);
    ASSERT_TRUE(read.ok());
  }
  EXPECT_TRUE(HasRoomFor(ring, 40 * kKiB));
}

TEST(MessageLifecycle, EveryAcquisitionCountsAsADeliveryEvenWhileAlreadyHeld) {
  Ring ring = HeapRing(64 * kKiB);
  Handle handle = Publish(ring, 40 * kKiB, 3, /*deliveries=*/2);
  auto first = ring.Acquire(handle);
  auto second = ring.Acquire(handle);
  ASSERT_TRUE(first.ok() && second.ok());
  first->Release();
  second->Release();
  EXPECT_TRUE(HasRoomFor(ring, 64 * kKiB));
}

TEST(MessageLifecycle, SeveralReferencesInOneProcessAreReleasedInAnyOrder) {
  Ring ring = HeapRing(64 * kKiB);
  Handle a = Publish(ring, 10 * kKiB, 1);
  Handle b = Publish(ring, 10 * kKiB, 2);
  auto a1 = ring.Acquire(a);
  auto a2 = ring.Acquire(a);
  auto b1 = ring.Acquire(b);
  ASSERT_TRUE(a1.ok() && a2.ok() && b1.ok());
  EXPECT_EQ(ring.Stats().holders.at(0).read_messages, 2u);
  a1->Release();
  b1->Release();
  EXPECT_FALSE(HasRoomFor(ring, 64 * kKiB)) << "a is still held";
  EXPECT_EQ(a2->data()[0], std::byte{1});
  std::thread([slot = std::move(*a2)]() mutable { slot.Release(); }).join();
  EXPECT_TRUE(HasRoomFor(ring, 64 * kKiB));
}

TEST(MessageLifecycle, HandleOfAnotherRingIsRefused) {
  Ring ring = HeapRing(64 * kKiB);
  Ring other = HeapRing(64 * kKiB);
  Handle handle = Publish(other, 100, 1);
  auto read = ring.Acquire(handle);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.error().code, Errc::kWrongRing);
}

TEST(MessageLifecycle, AlteredHandleIsRefusedAndLeavesTheMessageIntact) {
  Ring ring = HeapRing(64 * kKiB);
  Handle handle = Publish(ring, 100, 1);
  Handle forged = handle;
  forged.size = 64 * kKiB;
  EXPECT_EQ(ring.Acquire(forged).error().code, Errc::kInvalidArgument);
  Handle future = handle;
  future.sequence = 1000;
  EXPECT_EQ(ring.Acquire(future).error().code, Errc::kInvalidArgument);
  EXPECT_TRUE(ring.Acquire(handle).ok());
}

TEST(UntilDropped, MessageStaysReadableByAnyNumberOfAcquisitions) {
  Ring ring = HeapRing(64 * kKiB, {.policy = Policy::kDropOldest});
  const uint64_t seq = CommitUntilDropped(ring, 1000, 0x42);
  for (int i = 0; i < 5; ++i) {
    auto read = ring.AcquireSequence(seq);
    ASSERT_TRUE(read.ok()) << read.error().ToString();
    EXPECT_EQ(read->data().size(), 1000u);
    EXPECT_EQ(read->data()[999], std::byte{0x42});
  }
  EXPECT_EQ(ring.Stats().committed_messages, 1u) << "releasing every reader keeps it";
}

TEST(UntilDropped, CommittedDirectlyItOwesNoDeliveryAndGoesOnlyWhenDropOldestNeedsItsSpace) {
  Ring ring = HeapRing(64 * kKiB, {.policy = Policy::kDropOldest});
  WriteSlot slot = MustAllocate(ring, 40 * kKiB);
  std::memset(slot.data().data(), 0x5a, 40 * kKiB);
  auto handle = slot.Commit(40 * kKiB, WriteSlot::kUntilDropped);
  ASSERT_TRUE(handle.ok()) << handle.error().ToString();
  EXPECT_EQ(ring.PendingDeliveries(handle->sequence), WriteSlot::kUntilDropped);
  for (int i = 0; i < 3; ++i) {  // Acquisitions through the handle consume nothing.
    auto read = ring.Acquire(*handle);
    ASSERT_TRUE(read.ok()) << read.error().ToString();
    EXPECT_EQ(read->data()[40 * kKiB - 1], std::byte{0x5a});
  }
  EXPECT_EQ(ring.PendingDeliveries(handle->sequence), WriteSlot::kUntilDropped);
  // Room for another 40 KiB only where it lies: drop-oldest drops it, counted, and its
  // handle goes stale.
  WriteSlot next = MustAllocate(ring, 40 * kKiB);
  EXPECT_EQ(ring.Stats().messages_dropped, 1u);
  EXPECT_EQ(ring.Acquire(*handle).error().code, Errc::kStaleHandle);
  EXPECT_FALSE(ring.PendingDeliveries(handle->sequence).has_value());
}

TEST(Retire, FreesAnUnheldMessageNowAndAHeldOneAtItsLastRelease) {
  Ring ring = HeapRing(64 * kKiB, {.policy = Policy::kDropOldest});
  const uint64_t unheld = CommitUntilDropped(ring, 100, 1);
  ASSERT_TRUE(ring.Retire(unheld).ok());
  EXPECT_EQ(ring.AcquireSequence(unheld).error().code, Errc::kStaleHandle);
  EXPECT_EQ(ring.Retire(unheld).error().code, Errc::kStaleHandle);

  const uint64_t held = CommitUntilDropped(ring, 100, 2);
  auto reader = ring.AcquireSequence(held);
  ASSERT_TRUE(reader.ok());
  ASSERT_TRUE(ring.Retire(held).ok());
  EXPECT_EQ(ring.Stats().committed_messages, 1u) << "still being read";
  EXPECT_EQ(reader->data()[0], std::byte{2});
  reader->Release();
  EXPECT_EQ(ring.Stats().committed_messages, 0u);
  EXPECT_EQ(ring.Stats().messages_dropped, 0u) << "retired, not dropped";
}

TEST(AcquireSequence, ViewsAndCountsTheLengthAskedFor) {
  Ring ring = HeapRing(64 * kKiB, {.policy = Policy::kDropOldest});
  const uint64_t seq = CommitUntilDropped(ring, 200, 7);
  auto part = ring.AcquireSequence(seq, 150);
  ASSERT_TRUE(part.ok());
  EXPECT_EQ(part->data().size(), 150u);
  EXPECT_EQ(ring.Stats().bytes_read, 150u);
  EXPECT_EQ(ring.AcquireSequence(seq, 201).error().code, Errc::kInvalidArgument);
  EXPECT_EQ(ring.AcquireSequence(seq + 1).error().code, Errc::kStaleHandle) << "not allocated yet";
  auto writing = ring.TryAllocate(10);
  ASSERT_TRUE(writing.ok() && writing->has_value());
  EXPECT_EQ(ring.AcquireSequence((*writing)->sequence()).error().code, Errc::kStaleHandle) << "still being written";
}

TEST(Duplicate, KeepsTheMessageAfterTheOriginalIsReleasedAndCountsNothing) {
  Ring ring = HeapRing(64 * kKiB);
  auto slot = ring.TryAllocate(100);
  ASSERT_TRUE(slot.ok() && slot->has_value());
  std::memset((*slot)->data().data(), 9, 100);
  auto handle = (*slot)->Commit(100, 1);
  ASSERT_TRUE(handle.ok());
  auto original = ring.Acquire(*handle);
  ASSERT_TRUE(original.ok());
  const RingStats before = ring.Stats();
  auto copy = original->Duplicate();
  ASSERT_TRUE(copy.ok());
  EXPECT_EQ(copy->data().data(), original->data().data()) << "the same bytes, not a copy";
  EXPECT_EQ(ring.Stats().messages_read, before.messages_read);
  original->Release();
  EXPECT_EQ(ring.Stats().committed_messages, 1u) << "the duplicate still holds it";
  EXPECT_EQ(copy->data()[99], std::byte{9});
  copy->Release();
  EXPECT_EQ(ring.Stats().committed_messages, 0u);
  EXPECT_EQ(copy->Duplicate().error().code, Errc::kBadState);
}

}  // namespace
}  // namespace arrowring
