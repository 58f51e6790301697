#include "arrowring/ring/handle.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace arrowring {
namespace {

const Handle kHandle{0x0123456789abcdefull, 42, 4096, 1'000'000};

TEST(Handle, BinaryFormRoundTripsInAtMost64Bytes) {
  static_assert(Handle::kEncodedSize <= 64);
  auto bytes = kHandle.Encode();
  auto decoded = Handle::Decode(bytes);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, kHandle);
}

TEST(Handle, TextFormRoundTrips) {
  EXPECT_EQ(kHandle.ToString(), "arrowring:1:0123456789abcdef:42:4096:1000000");
  auto parsed = Handle::Parse(kHandle.ToString());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, kHandle);
}

TEST(Handle, MalformedInputGivesErrorsThatSayWhatIsExpected) {
  auto bytes = kHandle.Encode();
  EXPECT_EQ(Handle::Decode(std::span(bytes).first(39)).error().code, Errc::kInvalidArgument);
  bytes[0] = std::byte{'X'};
  EXPECT_EQ(Handle::Decode(bytes).error().code, Errc::kInvalidArgument);
  bytes = kHandle.Encode();
  bytes[4] = std::byte{9};
  EXPECT_EQ(Handle::Decode(bytes).error().code, Errc::kIncompatible);
  for (const char* text : {"", "arrowring", "arrowring:1:zz:1:2:3", "arrowring:2:0123456789abcdef:1:2:3",
                           "arrowring:1:0123456789abcdef:1:2", "arrowring:1:0123456789abcdef:-1:2:3",
                           "arrowring:1:0123456789abcdef:1:2:3:4", "arrowring:1:0123456789abcdef:1:2:3x"}) {
    auto parsed = Handle::Parse(text);
    ASSERT_FALSE(parsed.ok()) << text;
    EXPECT_THAT(parsed.error().message, ::testing::HasSubstr("expected arrowring:1:")) << text;
  }
}

}  // namespace
}  // namespace arrowring
