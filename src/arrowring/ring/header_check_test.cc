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

}  // namespace
}  // namespace arrowring
