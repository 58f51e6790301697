"""pickle-mp-queue: the table pickled through a multiprocessing.Queue, Python's own way."""
from __future__ import annotations

from harness import FORK, consume, run_pair


def pickle_consumer(queue, warm, count, ready, warmed, done):
    ready.set()
    for i in range(warm + count):
        consume(queue.get())
        if i + 1 == warm:
            warmed.set()
    done.put(True)


def case_pickle_mp_queue(size: int, count: int) -> dict:
    queue = FORK.Queue(maxsize=4)
    return run_pair(queue.put, pickle_consumer, (queue,), size, count)
