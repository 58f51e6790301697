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

using ::testing::HasSubstr;
using testing::HeapRing;
using namespace std::chrono_literals;

constexpr uint64_t kKiB = 1024;

WriteSlot MustAllocate(Ring& ring, uint64_t size) {
  auto slot = ring.TryAllocate(size);
  EXPECT_TRUE(slot.ok()) << slot.error().ToString();
  EXPECT_TRUE(slot->has_value()) << "no room for " << size << " bytes";
  return std::move(**slot);
}

Handle Publish(Ring& ring, uint64_t size, uint8_t fill, uint32_t deliveries = 1) {
  WriteSlot slot = MustAllocate(ring, size);
  std::memset(slot.data().data(), fill, size);
  auto handle = slot.Commit(size, deliveries);
  EXPECT_TRUE(handle.ok());
  return *handle;
}

bool HasRoomFor(Ring& ring, uint64_t size) {
  auto slot = ring.TryAllocate(size);
  return slot.ok() && slot->has_value();
}

TEST(Ring, CommittedBytesAreReadThroughTheHandle) {
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

TEST(Ring, MessageIsInvisibleUntilCommitted) {
  Ring ring = HeapRing(64 * kKiB);
  WriteSlot slot = MustAllocate(ring, 100);
  EXPECT_FALSE(ring.HandleOf(slot.sequence()).has_value());
  const uint64_t seq = slot.sequence();
  ASSERT_TRUE(slot.Commit(100).ok());
  EXPECT_TRUE(ring.HandleOf(seq).has_value());
}

TEST(Ring, ZeroAndOversizedMessagesAreErrorsNamingTheLimits) {
  Ring ring = HeapRing(64 * kKiB);
  auto zero = ring.TryAllocate(0);
  ASSERT_FALSE(zero.ok());
  EXPECT_EQ(zero.error().code, Errc::kInvalidArgument);
  auto huge = ring.TryAllocate(64 * kKiB + 1);
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.error().code, Errc::kTooLarge);
  EXPECT_THAT(huge.error().message, HasSubstr("65536"));
}

TEST(Ring, EmptyRingHoldsOneMessageOfTheWholeCapacity) {
  Ring ring = HeapRing(64 * kKiB);
  // Move the ring's position off zero first, so the whole-capacity message must restart at 0.
  Handle small = Publish(ring, 100, 1);
  ASSERT_TRUE(ring.Acquire(small).ok());  // Acquired and released: freed.
  WriteSlot whole = MustAllocate(ring, 64 * kKiB);
  EXPECT_EQ(whole.data().size(), 64 * kKiB);
  EXPECT_FALSE(HasRoomFor(ring, 1));
}

TEST(Ring, CommitRejectsZeroAndMoreThanReserved) {
  Ring ring = HeapRing(64 * kKiB);
  WriteSlot slot = MustAllocate(ring, 100);
  EXPECT_EQ(slot.Commit(0).error().code, Errc::kInvalidArgument);
  EXPECT_EQ(slot.Commit(101).error().code, Errc::kInvalidArgument);
  EXPECT_TRUE(slot.Commit(60).ok());
  EXPECT_EQ(slot.Commit(60).error().code, Errc::kBadState);
}

TEST(Ring, DestroyingAnUncommittedSlotAbortsAndFreesTheSpace) {
  Ring ring = HeapRing(64 * kKiB, {.policy = Policy::kFail});
  {
    WriteSlot slot = MustAllocate(ring, 64 * kKiB);
    EXPECT_FALSE(HasRoomFor(ring, 1));
  }
  EXPECT_EQ(ring.Stats().messages_aborted, 1u);
  EXPECT_TRUE(HasRoomFor(ring, 64 * kKiB));
}

TEST(Ring, MovedSlotsKeepOneOwner) {
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

TEST(Ring, ReleasedMessageHandleBecomesStaleOnceSpaceIsReused) {
  Ring ring = HeapRing(64 * kKiB);
  Handle handle = Publish(ring, 4 * kKiB, 0xAA);
  { auto read = ring.Acquire(handle); ASSERT_TRUE(read.ok()); }  // The one delivery: freed.
  // Reuse all of the space with other bytes.
  Handle other = Publish(ring, 64 * kKiB, 0x55, 1);
  auto stale = ring.Acquire(handle);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code, Errc::kStaleHandle);
  auto fresh = ring.Acquire(other);
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->data()[0], std::byte{0x55});
}

TEST(Ring, HoldingAReadSlotKeepsItsSpaceUntilReleased) {
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

TEST(Ring, MessageWaitsForAllOfItsDeliveries) {
  Ring ring = HeapRing(64 * kKiB);
  Handle handle = Publish(ring, 40 * kKiB, 3, /*deliveries=*/2);
  { auto read = ring.Acquire(handle); ASSERT_TRUE(read.ok()); }
  EXPECT_FALSE(HasRoomFor(ring, 40 * kKiB)) << "one delivery is still due";
  { auto read = ring.Acquire(handle); ASSERT_TRUE(read.ok()); }
  EXPECT_TRUE(HasRoomFor(ring, 40 * kKiB));
}

TEST(Ring, EveryAcquisitionCountsAsADeliveryEvenWhileAlreadyHeld) {
  Ring ring = HeapRing(64 * kKiB);
  Handle handle = Publish(ring, 40 * kKiB, 3, /*deliveries=*/2);
  auto first = ring.Acquire(handle);
  auto second = ring.Acquire(handle);
  ASSERT_TRUE(first.ok() && second.ok());
  first->Release();
  second->Release();
  EXPECT_TRUE(HasRoomFor(ring, 64 * kKiB));
}

TEST(Ring, SeveralReferencesInOneProcessAreReleasedInAnyOrder) {
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

TEST(Ring, FailPolicyReturnsNothingAtOnceWhenFull) {
  Ring ring = HeapRing(64 * kKiB, {.policy = Policy::kFail});
  Publish(ring, 64 * kKiB, 1);
  auto slot = ring.Allocate(1, 1h);  // Would block for an hour under kBlock.
  ASSERT_TRUE(slot.ok());
  EXPECT_FALSE(slot->has_value());
}

TEST(Ring, BlockedAllocationWakesWhenAReaderReleases) {
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

TEST(Ring, DropOldestDropsUnheldMessagesOldestFirstAndCountsThem) {
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

TEST(Ring, DropOldestNeverDropsAMessageSomeoneHolds) {
  Ring ring = HeapRing(64 * kKiB, {.policy = Policy::kDropOldest});
  Handle oldest = Publish(ring, 32 * kKiB, 1);
  Publish(ring, 32 * kKiB, 2);
  auto held = ring.Acquire(oldest);  // Its one delivery happens, but we still hold it.
  ASSERT_TRUE(held.ok());
  EXPECT_FALSE(HasRoomFor(ring, 32 * kKiB));
  EXPECT_EQ(held->data()[0], std::byte{1});
  EXPECT_EQ(ring.Stats().messages_dropped, 0u);
}

TEST(Ring, HandleOfAnotherRingIsRefused) {
  Ring ring = HeapRing(64 * kKiB);
  Ring other = HeapRing(64 * kKiB);
  Handle handle = Publish(other, 100, 1);
  auto read = ring.Acquire(handle);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.error().code, Errc::kWrongRing);
}

TEST(Ring, AlteredHandleIsRefusedAndLeavesTheMessageIntact) {
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

TEST(Ring, DescriptorTableBoundsMessagesInFlight) {
  Ring ring = HeapRing(64 * kKiB, {.policy = Policy::kFail, .max_messages = 64});
  for (int i = 0; i < 64; ++i) Publish(ring, 1, 1);
  EXPECT_FALSE(HasRoomFor(ring, 1));
  EXPECT_EQ(ring.Stats().free_messages, 0u);
}

// Memory efficiency with mixed sizes: a message costs its size rounded up to 64 bytes; the
// only other loss is the tail skipped when a message would wrap, at most one message's size.
TEST(Ring, MixedSizesFillTheRingUpToOneMessageOfWrapWaste) {
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

TEST(Ring, StatsCountWritesReadsAndOccupancy) {
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

TEST(Ring, FormatRefusesBadMemoryAndOpenRefusesGarbage) {
  std::vector<std::byte> small(100);
  EXPECT_EQ(Ring::Format(small, 4096).error().code, Errc::kInvalidArgument);
  EXPECT_EQ(Ring::Open(small).error().code, Errc::kIncompatible);
  EXPECT_EQ(Ring::RequiredBytes(0).error().code, Errc::kInvalidArgument);

  const uint64_t bytes = *Ring::RequiredBytes(4096);
  std::shared_ptr<void> memory(std::aligned_alloc(64, bytes), std::free);
  std::span<std::byte> span(static_cast<std::byte*>(memory.get()), bytes);
  std::memset(span.data(), 0x5A, bytes);
  auto garbage = Ring::Open(span);
  ASSERT_FALSE(garbage.ok());
  EXPECT_THAT(garbage.error().message, HasSubstr("not an arrowring ring: magic 0x5a5a5a5a5a5a5a5a"));

  ASSERT_TRUE(Ring::Format(span, 4096).ok());
  auto* header = reinterpret_cast<layout::RingHeader*>(span.data());
  header->layout_version = 99;
  EXPECT_THAT(Ring::Open(span).error().message, HasSubstr("layout version 99"));
  header->layout_version = layout::kLayoutVersion;
  header->capacity = 8192;
  EXPECT_EQ(Ring::Open(span).error().code, Errc::kIncompatible);
  header->capacity = 4096;
  EXPECT_EQ(Ring::Open(span.first(bytes - 64)).error().code, Errc::kIncompatible);
  EXPECT_TRUE(Ring::Open(span).ok());
}

TEST(Ring, EveryAttachmentSlotCanBeTakenAndFreed) {
  const uint64_t bytes = *Ring::RequiredBytes(4096);
  std::shared_ptr<void> memory(std::aligned_alloc(64, bytes), std::free);
  std::span<std::byte> span(static_cast<std::byte*>(memory.get()), bytes);
  std::vector<Ring> rings;
  rings.push_back(*Ring::Format(span, 4096));
  while (rings.size() < layout::kMaxAttachments) rings.push_back(*Ring::Open(span));
  auto one_more = Ring::Open(span);
  ASSERT_FALSE(one_more.ok());
  EXPECT_EQ(one_more.error().code, Errc::kTooManyAttachments);
  rings.pop_back();
  EXPECT_TRUE(Ring::Open(span).ok());
}

TEST(Ring, AnAttachmentInheritedAcrossForkRefusesToWork) {
  Ring ring = HeapRing(64 * kKiB);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto slot = ring.TryAllocate(10);
    _exit(!slot.ok() && slot.error().code == Errc::kBadState ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_TRUE(ring.TryAllocate(10).ok()) << "the parent's attachment still works";
}

TEST(Policy, NamesRoundTrip) {
  for (Policy policy : {Policy::kBlock, Policy::kFail, Policy::kDropOldest}) {
    EXPECT_EQ(*ParsePolicy(PolicyName(policy)), policy);
  }
  EXPECT_THAT(ParsePolicy("sometimes").error().message, HasSubstr("block, fail or drop-oldest"));
}

// Commits a message of `size` bytes filled with `fill`; returns its sequence number.
uint64_t CommitUntilDropped(Ring& ring, uint64_t size, uint8_t fill) {
  auto slot = ring.TryAllocate(size);
  EXPECT_TRUE(slot.ok() && slot->has_value());
  std::memset((*slot)->data().data(), fill, size);
  const uint64_t seq = (*slot)->sequence();
  EXPECT_TRUE((*slot)->Commit(size, WriteSlot::kUntilDropped).ok());
  return seq;
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

TEST(UntilDropped, SpacePressureDropsTheOldestUnheldNeverAHeldOne) {
  Ring ring = HeapRing(16 * kKiB, {.policy = Policy::kDropOldest});
  const uint64_t first = CommitUntilDropped(ring, 4 * kKiB, 1);
  auto held = ring.AcquireSequence(first);
  ASSERT_TRUE(held.ok());
  for (int i = 0; i < 3; ++i) CommitUntilDropped(ring, 4 * kKiB, 2);
  auto blocked = ring.TryAllocate(4 * kKiB);
  ASSERT_TRUE(blocked.ok());
  EXPECT_FALSE(blocked->has_value()) << "the oldest message is being read: nothing may be dropped";
  EXPECT_EQ(held->data()[0], std::byte{1});
  held->Release();
  const uint64_t next = CommitUntilDropped(ring, 4 * kKiB, 3);
  EXPECT_EQ(ring.AcquireSequence(first).error().code, Errc::kStaleHandle);
  EXPECT_EQ(ring.Stats().messages_dropped, 1u);
  EXPECT_TRUE(ring.AcquireSequence(next).ok());
}

TEST(UntilDropped, MessageLimitIsExactAndDropsTheOldest) {
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
  EXPECT_EQ(ring.AcquireSequence((*writing)->sequence()).error().code, Errc::kStaleHandle)
      << "still being written";
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
