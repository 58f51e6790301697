// Tests: names of policies.
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

TEST(Policy, NamesRoundTrip) {
  for (Policy policy : {Policy::kBlock, Policy::kFail, Policy::kDropOldest}) {
    EXPECT_EQ(*ParsePolicy(PolicyName(policy)), policy);
  }
  EXPECT_THAT(ParsePolicy("sometimes").error().message, HasSubstr("block, fail or drop-oldest"));
}

}  // namespace
}  // namespace arrowring
