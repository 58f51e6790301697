#include "arrowring/ring/spin.h"

#include <unistd.h>

#include <gtest/gtest.h>

namespace arrowring {
namespace {

using std::chrono::nanoseconds;
constexpr uint64_t kStart = 1'000'000'000;

TEST(SpinBudget, StartsAtTheLimit) {
  SpinBudget budget({nanoseconds(20'000), true});
  EXPECT_EQ(budget.budget(), nanoseconds(20'000));
}

TEST(SpinBudget, HalvesWhileMessagesArriveAfterTheLimitThenStopsPolling) {
  SpinBudget budget({nanoseconds(32'000), true});
  budget.Observe(kStart, kStart + 1'000'000);
  EXPECT_EQ(budget.budget(), nanoseconds(16'000));
  for (int i = 0; i < 4; ++i) budget.Observe(kStart, kStart + 1'000'000);
  EXPECT_EQ(budget.budget(), nanoseconds(1'000));  // 1/32 of the limit: the last step.
  budget.Observe(kStart, kStart + 1'000'000);
  EXPECT_EQ(budget.budget(), nanoseconds(0));
}

TEST(SpinBudget, OneMessageWithinTheLimitRestoresTheWholeBudgetEvenAfterPollingStopped) {
  SpinBudget budget({nanoseconds(32'000), true});
  for (int i = 0; i < 10; ++i) budget.Observe(kStart, kStart + 1'000'000);
  ASSERT_EQ(budget.budget(), nanoseconds(0));
  budget.Observe(kStart, kStart + 31'000);
  EXPECT_EQ(budget.budget(), nanoseconds(32'000));
}

TEST(SpinBudget, ACommitTimeBeforeTheWaitCountsAsImmediate) {
  SpinBudget budget({nanoseconds(32'000), true});
  budget.Observe(kStart, kStart + 1'000'000);
  budget.Observe(kStart, 0);  // Any shared word value is harmless: it only steers the budget.
  EXPECT_EQ(budget.budget(), nanoseconds(32'000));
}

TEST(SpinBudget, AFixedPolicyAlwaysPollsTheWholeLimit) {
  SpinBudget budget({nanoseconds(32'000), false});
  for (int i = 0; i < 10; ++i) budget.Observe(kStart, kStart + 1'000'000);
  EXPECT_EQ(budget.budget(), nanoseconds(32'000));
}

TEST(SpinPolicy, NonePollsNever) { EXPECT_EQ(SpinBudget(SpinPolicy::None()).budget(), nanoseconds(0)); }

TEST(SpinPolicy, DefaultPollsOnlyWhenSeveralCpusAreOnline) {
  const SpinPolicy policy = SpinPolicy::Default();
  if (sysconf(_SC_NPROCESSORS_ONLN) > 1) {
    EXPECT_EQ(policy.limit, kDefaultSpinLimit);
    EXPECT_TRUE(policy.adaptive);
  } else {
    EXPECT_EQ(policy.limit, nanoseconds(0));
  }
}

}  // namespace
}  // namespace arrowring
