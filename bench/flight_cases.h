// Rings across machines: ring -> RingServer -> Flight DoGet over 127.0.0.1 -> Puller -> ring,
// against plain Flight from memory (its bound), in throughput and one table at a time. Built
// with the bridge (ARROWRING_BUILD_BRIDGE); without it every case returns NotImplemented.
#pragma once

#include <cstdint>

#include <arrow/result.h>

#include "bench_cases.h"

namespace arrowring::bench {

/// Rings across machines, over 127.0.0.1: a producer publishes `count` tables of
/// `table_bytes` (4 int64 columns) into a ring; a RingServer (its own process) streams them
/// through Flight DoGet to a Puller (a thread of this process) that republishes each into a
/// second ring and acknowledges it; a consumer process reads that ring. Timed from the first
/// publish to the last table read, after one untimed lap of the rings. Needs the bridge
/// (ARROWRING_BUILD_BRIDGE): NotImplemented otherwise.
arrow::Result<Throughput> MeasureFlightBridge(int64_t table_bytes, int64_t count);

/// The bound of the above: one DoGet stream of `count` copies of the same in-memory table from
/// a minimal Flight server (its own process; Flight's RecordBatchStream, no ring, no tags, no
/// acknowledgements) read by a client here that reads one value per column of each table.
arrow::Result<Throughput> MeasureFlightPlain(int64_t table_bytes, int64_t count);

struct FlightLatency {
  int64_t table_bytes = 0;
  double bridge_p50_us = 0, bridge_p99_us = 0;  // publish -> read through the bridge
  double local_p50_us = 0, local_p99_us = 0;    // the same without it: one ring
};
/// What the bridge adds to one table's trip: tables of `table_bytes` published one at a time,
/// each once the consumer process answered the previous one (a byte on a pipe), `count` times
/// through ring -> RingServer -> Flight over 127.0.0.1 -> Puller -> ring, and the same through
/// one ring; the time from Publish to the answer, per table.
arrow::Result<FlightLatency> MeasureFlightLatency(int64_t table_bytes, int64_t count);

}  // namespace arrowring::bench
