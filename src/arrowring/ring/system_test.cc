#include "arrowring/ring/internal/system.h"

#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace arrowring::sys {
namespace {

// Field 22 of /proc/self/stat, read independently (our comm has no spaces).
uint64_t StartTimeByAwk() {
  std::ifstream stat("/proc/self/stat");
  std::string field;
  for (int i = 1; i <= 22 && stat >> field; ++i) {
  }
  return std::stoull(field);
}

TEST(ProcessStartTime, IsFieldTwentyTwoOfProcStat) { EXPECT_EQ(ProcessStartTime(CurrentPid()), StartTimeByAwk()); }

TEST(ProcessStartTime, DoesNotChangeWhileTheProcessGrows) {
  const uint64_t before = ProcessStartTime(CurrentPid());
  std::vector<std::vector<char>> memory;
  for (int i = 0; i < 16; ++i) memory.emplace_back(1 << 20, 'x');  // Grows vsize.
  EXPECT_EQ(ProcessStartTime(CurrentPid()), before);
  EXPECT_TRUE(ProcessAlive(CurrentPid(), before));
}

TEST(ProcessAlive, ZombiesAndReusedPidsCountAsDead) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(0);
  // Not yet reaped: a zombie. Wait for it to become one without reaping it.
  siginfo_t info{};
  ASSERT_EQ(waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOWAIT), 0);
  EXPECT_FALSE(ProcessAlive(static_cast<uint64_t>(child), 0));
  waitpid(child, nullptr, 0);
  EXPECT_FALSE(ProcessAlive(static_cast<uint64_t>(child), 0));
  // Our pid with another start time is another process.
  EXPECT_FALSE(ProcessAlive(CurrentPid(), ProcessStartTime(CurrentPid()) + 1));
  EXPECT_FALSE(ProcessAlive(0, 0));
}

}  // namespace
}  // namespace arrowring::sys
