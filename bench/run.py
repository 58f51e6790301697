#!/usr/bin/env python3
"""`make bench`: arrowring against the memcpy bound and the alternatives, in one run.

Every contender runs in this process tree, interleaved repetition by repetition (A B C ... A B C)
so that drift of the machine hits all alike; each figure is the median over repetitions. The C++
cases run through `build/bin/arrowring-bench-case`; the Python contenders run here, each with a forked
consumer process. Writes bench/results/latest.json (and a dated copy), latest.md and PNG plots.

This file is the entry point (`make bench`); the suite itself is suite.py, the Python contenders
are in contenders/, their shared machinery in harness.py, what is measured in plan.py, and
report.py and plots.py render a results dict.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import sys
import time

# numpy's OpenBLAS otherwise keeps a thread spinning per core after import (7% of a producer's
# samples in perf), taking CPU from whichever contender runs on this 2-core machine.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import summary  # bench/summary.py: the README's at-a-glance table
from contenders.iceoryx2_python import iceoryx2_files, remove_new_iceoryx2_files
from harness import CLI, RESULTS, ROOT
from plots import plots
from report import report
from suite import run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the reduced suite (about a minute here)")
    parser.add_argument("--results", type=pathlib.Path, default=RESULTS,
                        help="folder for latest.json, latest.md and the plots (default: bench/results)")
    args = parser.parse_args()
    results = args.results
    if not CLI.exists():
        print(f"{CLI} missing: run `make build`", file=sys.stderr)
        return 1
    started = time.perf_counter()
    iceoryx2_before = iceoryx2_files()
    try:
        result, samples = run(args.quick)
    finally:
        remove_new_iceoryx2_files(iceoryx2_before)
    result["duration_s"] = round(time.perf_counter() - started, 1)
    results.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=1)
    (results / "latest.json").write_text(text)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    (results / f"{stamp}-{result['suite']}.json").write_text(text)
    (results / "latest.md").write_text(report(result))
    plots(result, samples, results)
    if results == RESULTS:  # the committed results: the README's summary follows them
        summary.update(ROOT / "README.md", result)
    print(report(result))
    print(f"wrote {results}/latest.json, latest.md, throughput.png, latency.png in {result['duration_s']} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
