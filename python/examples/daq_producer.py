"""The demo's producer in Python: event tables generated straight into ring memory (a loan),
published with no copy — what `arrowring demo`'s C++ producer does (cli/demo.cc).

    python python/examples/daq_producer.py RING [--events N] [--batch ROWS]

Each table holds `--batch` events of the demo's schema: event_id, timestamp_ns, channel and a
1024-sample int16 waveform whose sample k of event e is (31 e + 7 k) & 0x3FFF, so a subscriber
can check every value (`arrowring cat RING`, or expected_waveforms() below).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import pyarrow as pa

import arrowring as ar

SAMPLES = 1024
EVENTS = pa.schema([
    pa.field("event_id", pa.int64(), nullable=False),
    pa.field("timestamp_ns", pa.int64(), nullable=False),
    pa.field("channel", pa.int16(), nullable=False),
    pa.field("waveform", pa.list_(pa.field("item", pa.int16(), nullable=False), SAMPLES), nullable=False),
])


def expected_waveforms(first: int, count: int) -> np.ndarray:
    """The samples of events first .. first+count-1, shape (count, SAMPLES)."""
    events = np.arange(first, first + count, dtype=np.int64)[:, None]
    return ((events * 31 + np.arange(SAMPLES, dtype=np.int64) * 7) & 0x3FFF).astype(np.int16)


def publish_events(publisher: ar.Publisher, first: int, count: int) -> ar.Handle:
    """Generates events first .. first+count-1 into a loan and publishes it (no copy)."""
    with publisher.loan(EVENTS, count, validity=False) as batch:
        events = np.arange(first, first + count, dtype=np.int64)
        batch.column("event_id")[:] = events
        batch.column("timestamp_ns")[:] = time.time_ns() + np.arange(count)
        batch.column("channel")[:] = events % 64
        batch.column("waveform")[:] = expected_waveforms(first, count)
    return batch.handle


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ring", help="an existing ring (arrowring create RING --capacity 64MiB)")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1_000, help="events per table")
    args = parser.parse_args(argv)
    publisher = ar.Ring.attach(args.ring).publisher()
    for first in range(0, args.events, args.batch):
        publish_events(publisher, first, min(args.batch, args.events - first))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
