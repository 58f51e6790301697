"""arrowring-python: arrowring's Python API at both ends (Ring.publisher().publish, a forked
subscriber's next())."""
from __future__ import annotations

import os

import arrowring as ar

from harness import KiB, MiB, consume, run_pair


def arrowring_python_consumer(name, warm, count, ready, warmed, done):
    sub = ar.Ring.attach(name).subscribe("consumer")
    ready.set()
    for i in range(warm + count):
        consume(sub.next(timeout=60))
        if i + 1 == warm:
            warmed.set()
    done.put(True)


def case_arrowring_python(size: int, count: int) -> dict:
    name = f"bench-py-{os.getpid()}-{size}"
    ring = ar.Ring.create(name, capacity=max(MiB, 4 * (size + 64 * KiB)))
    try:
        publisher = ring.publisher(timeout=60)
        return run_pair(publisher.publish, arrowring_python_consumer, (name,), size, count)
    finally:
        ring.unlink()
