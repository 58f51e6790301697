"""arrowring.compat across processes, shaped like the framework's real message path.

A supervisor makes the global ring under the framework's kind of name (``ring_`` + base64 of an
md5: '=' always, '+' here), spawned producer jobs send tables only through
``try_zero_copy_pyarrow(table, None, None)`` (they never name the ring), the handles travel
pickled to two store jobs which both load every handle they get, release it through the
framework's re-attaching ``release()``, and keep the latest table of each tag (producer and
size), as the framework's memory store does, checked intact after each newer table and at the
end. Some messages are never loaded. Many laps of the ring, three table sizes: the kept tables
cost their bytes, and no producer falls back because of them.
"""
import base64
import hashlib
import itertools
import multiprocessing
import os
import queue

import numpy as np
import pyarrow as pa
import pytest

from arrowring import compat

SIZES = [16 * 1024, 1024 * 1024, 8 * 1024 * 1024]
MESSAGES_PER_SIZE = 48  # Per producer.
PRODUCERS = 2
STORES = 2
TIMEOUT = 120  # The watchdog: no step may take longer.


def make_table(producer, i, size):
    rows = size // 16
    return pa.table({"producer": np.full(rows, producer, dtype=np.int64),
                     "value": np.arange(rows, dtype=np.int64) + i * 7})


def produce(producer, stores, acks, results):
    fallbacks = 0
    for size in SIZES:
        for i in range(MESSAGES_PER_SIZE):
            handle, ok = compat.try_zero_copy_pyarrow(make_table(producer, i, size), None, None)
            if not ok:
                fallbacks += 1
                continue
            if i % 3 == 2:
                continue  # Nobody loads this one: PUB/SUB dropped it, or no store wanted it.
            for store in stores:
                store.put((producer, i, size, handle))
            for _ in stores:
                acks.get(timeout=TIMEOUT)
    results.put(("producer", producer, fallbacks))


def store(inbox, acks, results):
    latest = {}  # tag -> (table, producer, i, size): what DAQJobStoreMemory keeps
    loaded = 0
    while True:
        item = inbox.get(timeout=TIMEOUT)
        if item is None:
            break
        producer, i, size, handle = item
        table = handle.load_pyarrow()
        handle.release()
        assert table.equals(make_table(producer, i, size)), f"message {i} of producer {producer} is wrong"
        replaced = latest.get((producer, size))
        if replaced is not None:  # kept through every message since it came
            assert replaced[0].equals(make_table(*replaced[1:])), "a kept table was overwritten"
        latest[(producer, size)] = (table, producer, i, size)
        loaded += 1
        acks[producer].put(1)
    for kept, *made in latest.values():
        assert kept.equals(make_table(*made)), "a kept table was overwritten"
    results.put(("store", os.getpid(), loaded))


def framework_ring_name():
    # The supervisor's naming; pick an id whose name has '+' but no '/' (the framework's '/'
    # names fail in Python's shared_memory too).
    for n in itertools.count():
        name = "ring_" + base64.b64encode(hashlib.md5(f"supervisor-{os.getpid()}-{n}".encode()).digest()).decode()
        if "+" in name and "/" not in name:
            return name


@pytest.fixture
def supervisor_ring(monkeypatch):
    monkeypatch.delenv(compat.shared_ring_buffer.GLOBAL_RING_ENV, raising=False)
    # The framework's slots (10 MiB) in a quarter of its benchmark's ring: 25 messages at once, and
    # three laps of the ring at 8 MiB.
    ring = compat.get_global_ring_buffer(name=framework_ring_name(), total_size=256 * 2**20, slot_size=10 * 2**20)
    ring._ensure_initialized()
    yield ring
    compat.cleanup_global_ring_buffer()
    assert not os.path.exists(f"/dev/shm/arrowring.{ring.name}")


def test_the_frameworks_message_path_delivers_every_table_with_no_fallback(supervisor_ring):
    context = multiprocessing.get_context("spawn")
    inboxes = [context.Queue() for _ in range(STORES)]
    acks = [context.Queue() for _ in range(PRODUCERS)]
    results = context.Queue()
    stores = [context.Process(target=store, args=(inbox, acks, results)) for inbox in inboxes]
    producers = [context.Process(target=produce, args=(p, inboxes, acks[p], results)) for p in range(PRODUCERS)]
    processes = stores + producers
    try:
        for process in processes:
            process.start()
        outcomes = [results.get(timeout=TIMEOUT) for _ in producers]
        for inbox in inboxes:
            inbox.put(None)
        outcomes += [results.get(timeout=TIMEOUT) for _ in stores]
    except queue.Empty:
        pytest.fail("a job stopped answering (see its traceback above)")
    finally:
        for process in processes:
            process.join(TIMEOUT)
            if process.exitcode is None:
                process.kill()
    assert [p.exitcode for p in processes] == [0] * len(processes)
    assert sorted(o[2] for o in outcomes if o[0] == "producer") == [0] * PRODUCERS, "fallbacks"
    loaded_each = PRODUCERS * len(SIZES) * (MESSAGES_PER_SIZE - MESSAGES_PER_SIZE // 3)
    assert [o[2] for o in outcomes if o[0] == "store"] == [loaded_each] * STORES
    written, read = compat.get_global_ring_buffer_stats()
    assert read > 0 and written > read / STORES
