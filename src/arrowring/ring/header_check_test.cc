// Tests: format and header verification.
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

TEST(HeaderCheck, FormatRefusesBadMemoryAndOpenRefusesGarbage) {
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
  header->layout_version = 99 << 16;
  EXPECT_THAT(Ring::Open(span).error().message, HasSubstr("layout version 99.0"));
  header->layout_version = 3;  // before major.minor
  EXPECT_THAT(Ring::Open(span).error().message, HasSubstr("layout version 3, this build"));
  header->layout_version = layout::kLayoutVersion;
  header->capacity = 8192;
  EXPECT_EQ(Ring::Open(span).error().code, Errc::kIncompatible);
  header->capacity = 4096;
  EXPECT_EQ(Ring::Open(span.first(bytes - 64)).error().code, Errc::kIncompatible);
  EXPECT_TRUE(Ring::Open(span).ok());
}

// A newer minor of the same major only adds fields in words reserved (zero) here: a reader of
// this minor opens it, and uses it as before.
TEST(RingLayoutVersion, NewerMinorOfTheSameMajorOpensAndWorks) {
  auto required = Ring::RequiredBytes(64 * 1024);
  ASSERT_TRUE(required.ok());
  auto memory = std::shared_ptr<void>(std::aligned_alloc(64, *required), std::free);
  std::span<std::byte> span(static_cast<std::byte*>(memory.get()), *required);
  ASSERT_TRUE(Ring::Format(span, 64 * 1024).ok());
  auto* header = reinterpret_cast<layout::RingHeader*>(span.data());
  header->layout_version = layout::kLayoutMajor << 16 | (layout::kLayoutMinor + 7);
  header->reserved_identity[0] = 0xABCD;  // what a later minor might have written there
  header->reserved_counters[0].store(42);
  auto ring = Ring::Open(span);
  ASSERT_TRUE(ring.ok()) << ring.error().message;
  auto slot = ring->TryAllocate(100);
  ASSERT_TRUE(slot.ok() && slot->has_value());
  auto handle = (*slot)->Commit(100);
  ASSERT_TRUE(handle.ok());
  EXPECT_TRUE(ring->Acquire(*handle).ok());
  header->layout_version = (layout::kLayoutMajor + 1) << 16;
  EXPECT_EQ(Ring::Open(span).error().code, Errc::kIncompatible);
}

}  // namespace
}  // namespace arrowring
