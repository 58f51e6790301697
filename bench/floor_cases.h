// The machine's floors, measured in the same run as the ring: copies in one process (memcpy,
// warm and into memory out of cache, with plain or streaming stores) and the one-way hand-off
// between two processes with no ring and no Arrow. bench/run.py holds every ring figure
// against them.
#pragma once

#include <cstdint>

#include <arrow/result.h>

#include "bench_cases.h"

namespace arrowring::bench {

/// Single-thread memcpy bandwidth in GB/s for blocks of `bytes`.
double MeasureMemcpy(int64_t bytes, double min_seconds);

/// The largest CPU cache of this machine in bytes (sysfs; 32 MiB when it cannot be read).
int64_t LastLevelCacheBytes();

/// memcpy bandwidth in GB/s into cold memory: blocks of `bytes` from one warm source, each
/// copy to the next block of a `target_bytes` target (raised to at least 4x the last-level
/// cache), cycling round it, so every write goes to lines that left the cache a lap ago —
/// DRAM-bound, as a producer writing round a large ring is. Every page is faulted in first.
double MeasureColdMemcpy(int64_t bytes, int64_t target_bytes, double min_seconds, int64_t* used_target_bytes = nullptr,
                         bool streaming = false);

/// The machine's floor for a one-way hand-off between two processes, measured like
/// MeasureLatency (paced by a reply, then a back-to-back burst) but with no ring and no Arrow:
/// an 8-byte stamp and a 32-bit sequence word in shared memory. The sender stores the stamp,
/// bumps the word and FUTEX_WAKEs if the receiver said it sleeps; the receiver sleeps in
/// FUTEX_WAIT on the word (`spin` false) or polls it first, up to 10 million times (`spin` true).
arrow::Result<Latency> MeasureHandoffFloor(bool spin, int64_t count);

}  // namespace arrowring::bench
