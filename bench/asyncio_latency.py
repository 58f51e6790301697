#!/usr/bin/env python3
"""`make bench`, asyncio row: the latency `await sub.next_async()` adds over a blocking `next()`.

A publisher in another process publishes a one-row table, waits for the consumer's
acknowledgement, pauses 1 ms (so that the consumer is asleep again: the case an event loop is
in) and publishes the next. The consumer measures, for each message, CLOCK_REALTIME at receipt
minus the message's commit time (`Message.commit_time_ns`), in three ways, interleaved round
by round so machine drift hits all alike:

  next(spin=0)   a thread blocked in next(), sleeping on the ring's futex at once;
  next()         the default: polls up to 100 µs, then sleeps (the pause outlasts the polling);
  next_async()   a coroutine awaiting next_message_async() in an asyncio event loop: the
                 notifier thread wakes on the futex, writes its eventfd, the loop wakes on it.

"added" is next_async's median minus next(spin=0)'s: the eventfd hop and the loop's turn.
Writes bench/results/asyncio-latency.json and .md (separate from bench/run.py's results).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import pathlib
import statistics
import sys
import time

import pyarrow as pa

import arrowring as ar

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
FORK = mp.get_context("fork")
MODES = ["next(spin=0)", "next()", "next_async()"]


def publisher(name: str, count: int, acks) -> None:
    ring = ar.Ring.attach(name)
    pub = ring.publisher()
    table = pa.table({"value": pa.array([0], pa.int64())})
    for _ in range(count):
        time.sleep(0.001)  # load pattern, not synchronization: the consumer is asleep again
        pub.publish(table)
        acks.recv()


def measure(ring: ar.Ring, mode: str, count: int) -> list:
    """Latencies in µs of `count` messages received in `mode`."""
    reader, writer = FORK.Pipe(duplex=False)
    spin = 0.0 if mode == "next(spin=0)" else None
    with ring.subscribe(f"latency-{os.getpid()}", spin=spin) as sub:
        producer = FORK.Process(target=publisher, args=(ring.name, count, reader))
        producer.start()
        latencies = []
        try:
            if mode == "next_async()":
                async def consume():
                    for _ in range(count):
                        message = await sub.next_message_async(timeout=10)
                        latencies.append((time.time_ns() - message.commit_time_ns) / 1e3)
                        writer.send(True)
                asyncio.run(consume())
            else:
                for _ in range(count):
                    message = sub.next_message(timeout=10)
                    latencies.append((time.time_ns() - message.commit_time_ns) / 1e3)
                    writer.send(True)
        finally:
            producer.join()
    return latencies


def percentile(values: list, q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(quick: bool) -> dict:
    rounds, per_round = (3, 100) if quick else (5, 400)
    name = f"bench-asyncio-{os.getpid()}"
    ring = ar.Ring.create(name, capacity=4 * 2**20)
    samples = {mode: [] for mode in MODES}
    try:
        for _ in range(rounds):
            for mode in MODES:
                samples[mode].extend(measure(ring, mode, per_round))
    finally:
        ring.unlink()
    rows = {mode: {"p50_us": round(statistics.median(v), 1), "p99_us": round(percentile(v, 0.99), 1),
                   "samples": len(v)} for mode, v in samples.items()}
    return {"suite": "quick" if quick else "full", "rows": rows,
            "added_p50_us": round(rows["next_async()"]["p50_us"] - rows["next(spin=0)"]["p50_us"], 1),
            "python": sys.version.split()[0], "cpus": os.cpu_count(),
            "load_average_1min": round(os.getloadavg()[0], 2)}


def report(result: dict) -> str:
    lines = ["## asyncio: latency of a one-row table, commit to receipt (µs)", "",
             "| consumer | p50 | p99 | samples |", "|---|---:|---:|---:|"]
    for mode, row in result["rows"].items():
        lines.append(f"| `{mode}` | {row['p50_us']} | {row['p99_us']} | {row['samples']} |")
    lines += ["", f"`await next_async()` adds {result['added_p50_us']} µs at the median over a thread "
              "blocked in `next(spin=0)` (the eventfd and one turn of the event loop). "
              f"{result['suite']} run, {result['cpus']} CPUs, load average {result['load_average_1min']} "
              "at the end (other work on the machine shows in the tails).", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer messages (a few seconds)")
    parser.add_argument("--results", type=pathlib.Path, default=RESULTS)
    args = parser.parse_args()
    result = run(args.quick)
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "asyncio-latency.json").write_text(json.dumps(result, indent=1))
    (args.results / "asyncio-latency.md").write_text(report(result))
    print(report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
