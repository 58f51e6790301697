#!/usr/bin/env python3
"""The Ray contender of bench/run.py, in a process of its own (started by contenders/ray_object_store.py).

A Ray driver owns gRPC threads that do not survive fork(), and bench/run.py forks the consumer
of every other contender; so the driver (the producer) lives here, started once per run with a
local cluster (2 CPUs, no dashboard, its own temporary folder, removed on exit). The consumer is
a Ray actor: another process on this node, like every other contender's consumer.

Protocol: one JSON line out, {"ready": true, "ray": version}; then per request line
{"size": bytes, "count": n, "warm": n} one reply line {"size_bytes", "gbps", "tables_per_s"}
(or {"error": ...}). Ends at end of input.
"""
from __future__ import annotations

import collections
import json
import os
import shutil
import sys
import tempfile
import time

os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import pyarrow as pa
import ray


def bench_table(nbytes: int) -> pa.Table:
    """About `nbytes` of data in 4 int64 columns, as bench/run.py and the C++ cases use."""
    rows = max(1, nbytes // 32)
    return pa.table({f"c{c}": np.arange(rows, dtype=np.int64) * (c + 1) for c in range(4)})


@ray.remote(num_cpus=0)
class Consumer:
    def consume(self, refs) -> int:
        # The reference comes inside a list so that this get is the consumer's own (Ray resolves
        # top-level arguments before the call); the table's buffers are zero-copy views of the
        # plasma store. Then what every consumer does: read one value per column.
        table = ray.get(refs[0])
        return sum(table.column(c).chunk(0)[0].as_py() for c in range(table.num_columns))


def measure(consumer, size: int, count: int, warm: int) -> dict:
    """ray.put of the table here, ray.get in the consumer actor; up to 4 tables in flight, as the
    arrowring rings hold 4 tables. Timing starts with the pipeline drained after the warm-up."""
    table = bench_table(size)
    pending = collections.deque()

    def produce():
        pending.append(consumer.consume.remote([ray.put(table)]))
        if len(pending) >= 4:
            ray.get(pending.popleft())

    for _ in range(warm):
        produce()
    ray.get(list(pending))
    pending.clear()
    start = time.perf_counter()
    for _ in range(count):
        produce()
    ray.get(list(pending))
    elapsed = time.perf_counter() - start
    return {"size_bytes": size, "gbps": size * count / elapsed / 1e9, "tables_per_s": count / elapsed}


def main() -> int:
    out = os.fdopen(os.dup(1), "w")  # Replies only; whatever Ray prints goes to stderr.
    os.dup2(2, 1)
    folder = tempfile.mkdtemp(prefix="arrowring-ray-")
    try:
        ray.init(num_cpus=2, include_dashboard=False, _temp_dir=folder, object_store_memory=2 * 1024**3,
                 logging_level="ERROR", log_to_driver=False)
        consumer = Consumer.remote()
        ray.get(consumer.consume.remote([ray.put(bench_table(1))]))
        print(json.dumps({"ready": True, "ray": ray.__version__}), file=out, flush=True)
        for line in sys.stdin:
            request = json.loads(line)
            try:
                reply = measure(consumer, request["size"], request["count"], request["warm"])
            except Exception as error:  # noqa: BLE001 - reported to run.py, which records it
                reply = {"error": f"{type(error).__name__}: {error}"}
            print(json.dumps(reply), file=out, flush=True)
    finally:
        ray.shutdown()
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
