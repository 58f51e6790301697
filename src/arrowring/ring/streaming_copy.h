// Copying into ring memory the writer will not read back: streaming (non-temporal) stores
// when the destination is out of cache, ordinary ones when it is in.
//
// An ordinary store to a line that is not in cache first reads the line from memory (a read
// for ownership), so a copy into cold memory moves every byte twice. Streaming stores write
// whole lines without reading them: on the 2-core EPYC VM of docs/benchmarks.md they copied
// 1 MiB messages round a 256 MiB mapping at about twice memcpy's rate, and lost to memcpy
// round a mapping that fits in cache. The writer knows which case it is in from how long its
// last lap through the ring was (WriteSlot::cold).
#pragma once

#include <cstddef>
#include <cstdint>

namespace arrowring {

/// The lap length from which a ring's bytes count as cold: half the last-level cache this
/// CPU uses (Linux's cache description in sysfs; sysconf where there is none, which may count
/// a whole package's slices), 16 MiB where the system says neither.
uint64_t ColdLapBytes();

/// Whether a writer whose last lap through the ring was `lap_bytes` long finds the bytes it
/// reserves out of cache (0, no lap yet: no).
inline bool IsColdLap(uint64_t lap_bytes) { return lap_bytes != 0 && lap_bytes >= ColdLapBytes(); }

/// Streaming stores pay off from this many bytes in one copy; shorter copies (IPC metadata,
/// bitmaps of small batches) use memcpy.
inline constexpr size_t kStreamingCopyMinBytes = 4096;

/// Copies `n` bytes from `source` to `destination` (not overlapping). With `cold` and at least
/// kStreamingCopyMinBytes, the whole 64-byte lines of the destination are written with
/// streaming stores (AVX2 where the CPU has it, SSE2 otherwise; memcpy on other
/// architectures), followed by a store fence: when this returns, the bytes are ordered before
/// any later store of this thread, such as the release that publishes them.
void CopyIntoRing(void* destination, const void* source, size_t n, bool cold);

}  // namespace arrowring
