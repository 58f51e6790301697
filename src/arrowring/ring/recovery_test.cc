// Tests: attachment slots and processes (fork).
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

}  // namespace
}  // namespace arrowring
