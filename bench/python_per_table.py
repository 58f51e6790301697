"""What one small table costs each side of arrowring-python in one process, with no hand-off:
``publish``, ``next``, and the consumer's own reading of one value per column (``consume``,
what every Python contender's consumer does). Their sum bounds the forked pair's rate from
above, in the same run."""
from __future__ import annotations

import os
import time

import arrowring as ar

from harness import KiB, MiB, bench_table, consume

BATCH = 200  # published, then taken: the ring holds them all


def measure(size: int = KiB, tables: int = 20_000) -> dict:
    name = f"bench-per-table-{os.getpid()}"
    ring = ar.Ring.create(name, capacity=64 * MiB)
    try:
        sub, publisher, table = ring.subscribe("reader"), ring.publisher(), bench_table(size)
        publish_s = next_s = consume_s = 0.0
        for _ in range(tables // BATCH):
            start = time.perf_counter()
            for _ in range(BATCH):
                publisher.publish(table)
            published = time.perf_counter()
            taken = [sub.next(timeout=0) for _ in range(BATCH)]
            read = time.perf_counter()
            for got in taken:
                consume(got)
            consumed = time.perf_counter()
            del taken
            publish_s, next_s, consume_s = (publish_s + published - start, next_s + read - published,
                                            consume_s + consumed - read)
        sub.close()
        count = tables // BATCH * BATCH
        return {"size_bytes": size, "publish_us": round(publish_s / count * 1e6, 3),
                "next_us": round(next_s / count * 1e6, 3), "consume_us": round(consume_s / count * 1e6, 3)}
    finally:
        ring.unlink()
