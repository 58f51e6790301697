// Tests: attachment slots and processes (fork).
#include "arrowring/ring/ring.h"

#include <sys/mman.h>
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

TEST(Recovery, EveryAttachmentSlotCanBeTakenAndFreed) {
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

TEST(Recovery, AnAttachmentInheritedAcrossForkRefusesToWork) {
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

// A ring in MAP_SHARED memory, so that a fork child writes the parent's ring (heap memory
// would be copied on write).
Ring SharedMemoryRing(uint64_t capacity) {
  const uint64_t bytes = *Ring::RequiredBytes(capacity);
  void* memory = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) std::abort();
  std::shared_ptr<void> owner(memory, [bytes](void* p) { munmap(p, bytes); });
  return *Ring::Format(std::span(static_cast<std::byte*>(memory), bytes), capacity, {}, "shared", owner);
}

// A fork child that inherits an open write slot, a read reference and the attachment, and
// exits normally after destroying them, leaves all three to the parent.
TEST(Recovery, AForkChildDestroyingInheritedSlotsLeavesTheParentsHoldsAlone) {
  Ring ring = SharedMemoryRing(64 * kKiB);
  auto writing = ring.TryAllocate(1000);
  ASSERT_TRUE(writing.ok() && writing->has_value());
  std::memset((*writing)->data().data(), 4, 1000);
  auto committed = ring.TryAllocate(1000);
  ASSERT_TRUE(committed.ok() && committed->has_value());
  std::memset((*committed)->data().data(), 5, 1000);
  auto handle = (*committed)->Commit(1000, 0);
  ASSERT_TRUE(handle.ok());
  auto reading = ring.Acquire(*handle);
  ASSERT_TRUE(reading.ok());
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    {
      // The child's copies, destroyed here as at a normal exit.
      std::optional<WriteSlot> inherited_write = std::move(**writing);
      ReadSlot inherited_read = std::move(*reading);
      Ring inherited_ring = std::move(ring);
    }
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  const RingStats stats = ring.Stats();
  ASSERT_EQ(stats.holders.size(), 1u) << "the parent's attachment slot is still its own";
  EXPECT_EQ(stats.holders[0].write_slots, 1u);
  EXPECT_EQ(stats.holders[0].read_messages, 1u);
  EXPECT_EQ(stats.messages_aborted, 0u);
  EXPECT_EQ(reading->data()[999], std::byte{5});
  EXPECT_TRUE((*writing)->Commit(1000).ok()) << "the parent's write slot was not aborted";
  reading->Release();
  EXPECT_EQ(ring.Stats().holders[0].read_messages, 0u);
}

}  // namespace
}  // namespace arrowring
