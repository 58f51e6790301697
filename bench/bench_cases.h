// The ring, IPC and loan cases of arrowring's benchmarks: each measures one thing across real
// processes and returns numbers; bench/run.py (`make bench`) runs them through
// arrowring-bench-case (bench_case_main.cc). The machine's floors are in floor_cases.h, the
// Flight cases in flight_cases.h, and what the cases share in case_support.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <arrow/result.h>

#include "arrowring/ring/ring.h"
#include "arrowring/ring/spin.h"

namespace arrowring::bench {

struct Throughput {
  int64_t tables = 0;
  int64_t table_bytes = 0;  // data bytes of one table
  double seconds = 0;
  // The ring at the end (throughput cases): the writer's last lap, and how many messages
  // readers kept outside the window over the run (RingStats).
  uint64_t writer_lap_bytes = 0, messages_kept = 0;
  // CPU time per timed table (throughput cases): the producer's process, and each consumer's
  // on average — with the machine's CPUs, what bounds a fan-out.
  double producer_cpu_us = 0, consumer_cpu_us = 0;
  double gbps() const { return seconds > 0 ? static_cast<double>(tables * table_bytes) / seconds / 1e9 : 0; }
  double tables_per_s() const { return seconds > 0 ? static_cast<double>(tables) / seconds : 0; }
};

/// The first lap through a fresh ring: create a ring of one table's room (`prefault`:
/// RingOptions::prefault), publish one table of `table_bytes` (every page touched for the
/// first time), then the same table again `repeats` times (the steady rate: pages mapped).
struct FirstLap {
  int64_t table_bytes = 0;
  double create_s = 0, first_s = 0, steady_s = 0;  // steady: the fastest repeat
};
arrow::Result<FirstLap> MeasureFirstLap(int64_t table_bytes, bool prefault, int repeats = 3);

/// A producer publishes `count` tables of `table_bytes` data bytes (4 int64 columns) into a
/// ring; `subscribers` processes each receive every table zero-copy and read one value per
/// column, or with `checksum` sum every byte. Time: first publish to the last table received,
/// after one untimed lap of the ring. The ring holds `ring_tables` tables. Consumers wait as
/// `wait` says (the library's default unless told otherwise).
/// `warm_bytes`: the ring's RingOptions::warm_bytes; `retain`: its RingOptions::retain. `keep[s]`: what subscriber s
/// keeps, as stores and caches do: "" nothing, "per-tag" the latest table of each of 5 tags (one table in 50 is
/// tagged), "first-200" every 10th of the first 200 tables, kept to the end.
arrow::Result<Throughput> MeasureThroughput(int64_t table_bytes, int64_t count, bool checksum, int subscribers = 1,
                                            int ring_tables = 4, SpinPolicy wait = SpinPolicy::Default(),
                                            uint64_t warm_bytes = RingOptions::kWarmDefault,
                                            const std::vector<std::string>& keep = {}, bool retain = false);

struct Latency {
  std::vector<double> samples_us;  // one-way publish -> receive, per message
  double p50_us = 0, p99_us = 0, p999_us = 0, msgs_per_s = 0;
};

/// Sets p50/p99/p99.9 from `samples_us` (nearest rank).
void Percentiles(Latency& latency);

/// One-way latency between two processes: a 1-row table (`raw` false) or a raw 64-byte ring
/// message (`raw` true), each receiver waiting as `wait` says (SpinPolicy::None: straight to
/// the futex; {1 s, fixed}: spinning; SpinPolicy::Default: the library's default).
/// Messages are paced by a reply on a second ring, so each is measured without queueing;
/// msgs_per_s comes from a separate back-to-back burst.
arrow::Result<Latency> MeasureLatency(bool raw, SpinPolicy wait, int64_t count);

struct IpcSize {
  int64_t table_bytes = 0;
  double exact_us = 0;      // IpcStreamSize
  double serialize_us = 0;  // serialize into a growing buffer and take its size (the seed's way)
};
arrow::Result<IpcSize> MeasureIpcSize(int64_t table_bytes, int repetitions);

/// A producer that generates its values (4 int64 columns, the same fill in both) and
/// publishes `count` tables of `table_bytes` to one subscriber process, end to end: `loaned`
/// fills a Publisher::Loan in ring memory and commits it; otherwise it fills an Arrow table
/// of its own (buffers reused) and Publish copies it into the ring. Timed as MeasureThroughput.
arrow::Result<Throughput> MeasureLoanThroughput(int64_t table_bytes, int64_t count, bool loaned);

struct LoanCost {
  int64_t table_bytes = 0;
  double loan_us = 0;    // median Publisher::Loan (reserve + lay out)
  double commit_us = 0;  // median LoanedBatch::Commit (framing + commit)
  double commit_max_us = 0;
};
/// Loan and Commit() alone, `repetitions` times, for a 4-int64-column table that is filled
/// before each commit (`fill`: the producer's caches hold the data, not the ring's headers)
/// or left as it is.
arrow::Result<LoanCost> MeasureLoanCommit(int64_t table_bytes, int repetitions, bool fill = true);

/// Peak RSS of a consumer process that receives `count` tables of `table_bytes` zero-copy and
/// reads one value per column.
arrow::Result<int64_t> MeasureConsumerPeakRss(int64_t table_bytes, int64_t count);

}  // namespace arrowring::bench
