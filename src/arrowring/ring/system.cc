#include "arrowring/ring/internal/system.h"

#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <string>

namespace arrowring::sys {

namespace {

struct ProcessStat {
  char state = 0;           // field 3: R, S, D, Z (zombie), X (dead), ...
  uint64_t start_time = 0;  // field 22
};

ProcessStat ReadProcessStat(uint64_t pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%llu/stat", static_cast<unsigned long long>(pid));
  FILE* file = std::fopen(path, "re");
  if (file == nullptr) return {};
  char buffer[1024];
  const size_t length = std::fread(buffer, 1, sizeof buffer - 1, file);
  std::fclose(file);
  buffer[length] = '\0';
  // Field 2 is "(comm)" and may contain spaces or parentheses: count fields after the last ')'.
  const char* cursor = std::strrchr(buffer, ')');
  if (cursor == nullptr || cursor[1] != ' ') return {};
  ProcessStat stat;
  stat.state = cursor[2];
  ++cursor;  // The space before field 3; each step below moves to the space before the next.
  for (int field = 3; field < 22; ++field) {
    cursor = std::strchr(cursor + 1, ' ');
    if (cursor == nullptr) return {};
  }
  stat.start_time = std::strtoull(cursor + 1, nullptr, 10);
  return stat;
}

}  // namespace

uint64_t ProcessStartTime(uint64_t pid) { return ReadProcessStat(pid).start_time; }

bool ProcessAlive(uint64_t pid, uint64_t start_time) {
  if (pid == 0 || pid > static_cast<uint64_t>(INT_MAX)) return false;
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) return false;
  const ProcessStat stat = ReadProcessStat(pid);
  // A zombie has released its mappings and holds nothing, though its parent has not reaped it.
  if (stat.state == 'Z' || stat.state == 'X') return false;
  if (start_time == 0 || stat.start_time == 0) return true;
  return stat.start_time == start_time;
}

void FutexWait(const std::atomic<uint32_t>* word, uint32_t expected, std::chrono::nanoseconds timeout) {
  struct timespec relative;
  struct timespec* relative_ptr = nullptr;
  if (timeout != std::chrono::nanoseconds::max()) {
    if (timeout.count() <= 0) return;
    relative.tv_sec = static_cast<time_t>(timeout.count() / 1'000'000'000);
    relative.tv_nsec = static_cast<long>(timeout.count() % 1'000'000'000);
    relative_ptr = &relative;
  }
  // Not FUTEX_PRIVATE_FLAG: waiters and wakers are in different processes.
  ::syscall(SYS_futex, reinterpret_cast<const uint32_t*>(word), FUTEX_WAIT, expected, relative_ptr, nullptr, 0);
}

void FutexWakeAll(const std::atomic<uint32_t>* word) {
  ::syscall(SYS_futex, reinterpret_cast<const uint32_t*>(word), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

uint64_t RealtimeNs() {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(now.tv_nsec);
}

uint32_t MonotonicSeconds() {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<uint32_t>(now.tv_sec);
}

uint64_t CurrentPid() { return static_cast<uint64_t>(::getpid()); }

namespace {
std::atomic<uint64_t> fork_generation{0};
const bool fork_handler_installed = [] {
  return pthread_atfork(nullptr, nullptr, [] { fork_generation.fetch_add(1, std::memory_order_relaxed); }) == 0;
}();
}  // namespace

uint64_t ForkGeneration() {
  (void)fork_handler_installed;
  return fork_generation.load(std::memory_order_relaxed);
}

}  // namespace arrowring::sys
