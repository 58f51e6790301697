#!/usr/bin/env python3
"""Python loans: what `commit()` costs right after the fill, by table size (not in `make bench`).

Each round loans a batch of three int64 columns, fills every column in place through NumPy
(`batch.column(name)[:] = ...`), then times `commit()` alone (time.perf_counter_ns around the
call; no subscriber). `--validity` picks the loan's bitmaps: `default` is `pub.loan(schema,
rows)` with nullable fields (validity=True, every bitmap all valid and never handed out),
`given` hands out each bitmap (`validity()`) without a null count (the commit counts them), and
`off` is `validity=False`. The first round (first touch of the pages) is dropped; prints one
JSON line per size: median, min and max in µs.

    .venv/bin/python bench/loan_commit.py --rows 1024 1048576 16777216 --rounds 21
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import pyarrow as pa

import arrowring as ar


def measure(rows: int, rounds: int, validity: str) -> dict:
    schema = pa.schema([pa.field(name, pa.int64(), nullable=validity != "off") for name in ("a", "b", "c")])
    table_bytes = rows * 8 * 3
    name = f"loan-commit-{os.getpid()}"
    ring = ar.Ring.create(name, capacity=max(8 << 20, 3 * table_bytes))
    try:
        pub = ring.publisher()
        times = []
        for r in range(rounds + 1):
            batch = pub.loan(schema, rows, validity=validity != "off")
            for column in ("a", "b", "c"):
                batch.column(column)[:] = r
                if validity == "given":
                    batch.validity(column)
            start = time.perf_counter_ns()
            batch.commit()
            elapsed = time.perf_counter_ns() - start
            if r > 0:
                times.append(elapsed / 1e3)
        return {"rows": rows, "table_bytes": table_bytes, "validity": validity,
                "commit_us": round(statistics.median(times), 2), "min_us": round(min(times), 2),
                "max_us": round(max(times), 2), "rounds": rounds}
    finally:
        ring.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[1024, 1 << 20, 16 << 20])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--validity", choices=["default", "given", "off"], default="default")
    args = parser.parse_args()
    for rows in args.rows:
        print(json.dumps(measure(rows, args.rounds, args.validity)), flush=True)


if __name__ == "__main__":
    main()
