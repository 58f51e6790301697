"""What the suite and its contenders share: paths, units, the table every contender moves and
what each consumer does with it, how many tables to move, the C++ cases (arrowring-bench-case),
and the producer here / forked consumer pair that every Python contender runs in."""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import pathlib
import subprocess
import time

import numpy as np
import pyarrow as pa
import pyarrow.ipc


ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
CLI = pathlib.Path(os.environ.get("ARROWRING_BUILD_DIR", ROOT / "build")) / "bin" / "arrowring-bench-case"
KiB, MiB = 1024, 1024 * 1024
FORK = mp.get_context("fork")


def bench_table(nbytes: int) -> pa.Table:
    """About `nbytes` of data in 4 int64 columns, as the C++ cases use."""
    rows = max(1, nbytes // 32)
    return pa.table({f"c{c}": np.arange(rows, dtype=np.int64) * (c + 1) for c in range(4)})


def consume(table: pa.Table) -> int:
    """What every consumer does with a table: read one value per column."""
    return sum(table.column(c).chunk(0)[0].as_py() for c in range(table.num_columns))


def count_for(size: int, budget: int, cap: int) -> int:
    return max(3, min(cap, budget // size))


def warmup_for(size: int) -> int:
    return max(2, min(64, (4 * size + 4 * 64 * KiB) // size + 1))


def ring_capacity_for(size: int, tables: int = 4) -> int:
    """The arrowring rings' capacity for `tables` tables of `size` (bench_cases.cc RingCapacityFor)."""
    return max(MiB, (size + 64 * KiB) * tables)


def ipc_stream_size(table: pa.Table) -> int:
    """The exact size of `table` as an IPC stream, without writing it (what a loaning sender needs)."""
    mock = pa.MockOutputStream()
    with pa.ipc.new_stream(mock, table.schema) as writer:
        writer.write_table(table)
    return mock.size()


def cpp_case(*args) -> dict:
    out = subprocess.run([str(CLI), *map(str, args)], capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise RuntimeError(f"arrowring-bench-case {' '.join(map(str, args))}: {out.stderr.strip()}")
    return json.loads(out.stdout)


def throughput(size: int, count: int, seconds: float) -> dict:
    return {"size_bytes": size, "gbps": size * count / seconds / 1e9, "tables_per_s": count / seconds}


# --- Python contenders: a producer here, a forked consumer ------------------------------------
def run_pair(produce, consumer_target, consumer_args, size, count, warm=None) -> dict:
    """Starts the consumer, runs the warm-up, then times `count` tables end to end."""
    warm = warm or warmup_for(size)
    ready, warmed, done = FORK.Event(), FORK.Event(), FORK.Queue()
    child = FORK.Process(target=consumer_target, args=(*consumer_args, warm, count, ready, warmed, done), daemon=True)
    child.start()
    if not ready.wait(60):
        raise RuntimeError("consumer did not start")
    table = bench_table(size)
    for _ in range(warm):
        produce(table)
    if not warmed.wait(300):
        raise RuntimeError("consumer did not finish the warm-up")
    start = time.perf_counter()
    for _ in range(count):
        produce(table)
    done.get(timeout=900)
    elapsed = time.perf_counter() - start
    child.join(60)
    return throughput(size, count, elapsed)
