// The few operating-system facilities the ring needs: process identity, futexes, clocks.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace arrowring::sys {

/// Start time of process `pid` in clock ticks since boot (/proc/<pid>/stat field 22);
/// 0 when the process does not exist or cannot be inspected.
uint64_t ProcessStartTime(uint64_t pid);

/// Whether the process that registered as (pid, start_time) still runs. A pid that now
/// belongs to another process (different start time) counts as dead; start_time 0 means
/// unknown and trusts the pid alone.
bool ProcessAlive(uint64_t pid, uint64_t start_time);

/// Sleeps while *word == expected, at most `timeout` (futex; the word may live in memory
/// shared between processes). Spurious returns are possible; callers re-check.
void FutexWait(const std::atomic<uint32_t>* word, uint32_t expected, std::chrono::nanoseconds timeout);
/// Wakes every thread, in any process, sleeping in FutexWait on `word`.
void FutexWakeAll(const std::atomic<uint32_t>* word);

uint64_t RealtimeNs();
/// CLOCK_MONOTONIC seconds: the same clock in every process of the machine.
uint32_t MonotonicSeconds();
uint64_t CurrentPid();

/// Number of forks this process descends from (bumped in every fork child through
/// pthread_atfork): lets objects notice they were inherited across fork() without a getpid
/// syscall on hot paths.
uint64_t ForkGeneration();

}  // namespace arrowring::sys
