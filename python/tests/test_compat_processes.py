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
import signal
import traceback

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


class reporting:
    """Runs `job(*args)` in a child and, if it fails, puts its real error on the results queue
    (its last argument) before exiting non-zero: the test says the job's own words instead of
    waiting out a queue.Empty. (A class: spawn pickles the target.)"""

    def __init__(self, job):
        self.job = job

    def __call__(self, *args):
        try:
            self.job(*args)
        except BaseException:
            args[-1].put(("error", f"{self.job.__name__} in process {os.getpid()}", traceback.format_exc()))
            raise


def result(results):
    """The next result a job put; a job's failure raises here with that job's traceback."""
    try:
        item = results.get(timeout=TIMEOUT)
    except queue.Empty:
        pytest.fail(f"watchdog: no job answered within {TIMEOUT} s")
    if item[0] == "error":
        pytest.fail(f"{item[1]} failed:\n{item[2]}")
    return item


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


@pytest.mark.parametrize("start_method", ["spawn", "fork"])
def test_the_frameworks_message_path_delivers_every_table_with_no_fallback(supervisor_ring, start_method):
    context = multiprocessing.get_context(start_method)
    inboxes = [context.Queue() for _ in range(STORES)]
    acks = [context.Queue() for _ in range(PRODUCERS)]
    results = context.Queue()
    stores = [context.Process(target=reporting(store), args=(inbox, acks, results)) for inbox in inboxes]
    producers = [context.Process(target=reporting(produce), args=(p, inboxes, acks[p], results))
                 for p in range(PRODUCERS)]
    processes = stores + producers
    try:
        for process in processes:
            process.start()
        outcomes = [result(results) for _ in producers]
        for inbox in inboxes:
            inbox.put(None)
        outcomes += [result(results) for _ in stores]
    finally:
        for process in processes:
            process.join(TIMEOUT)
            if process.exitcode is None:
                process.kill()
                process.join()
    assert [p.exitcode for p in processes] == [0] * len(processes)
    assert sorted(o[2] for o in outcomes if o[0] == "producer") == [0] * PRODUCERS, "fallbacks"
    loaded_each = PRODUCERS * len(SIZES) * (MESSAGES_PER_SIZE - MESSAGES_PER_SIZE // 3)
    assert [o[2] for o in outcomes if o[0] == "store"] == [loaded_each] * STORES
    written, read = compat.get_global_ring_buffer_stats()
    assert read > 0 and written > read / STORES


def failing_job(results):
    assert 1 + 1 == 3, "the job's own words"


@pytest.mark.parametrize("start_method", ["spawn", "fork"])
def test_a_failing_assert_in_a_job_is_reported_with_its_own_error(start_method):
    context = multiprocessing.get_context(start_method)
    results = context.Queue()
    process = context.Process(target=reporting(failing_job), args=(results,))
    process.start()
    with pytest.raises(pytest.fail.Exception, match="the job's own words"):
        result(results)
    process.join(TIMEOUT)
    assert process.exitcode == 1


def holding_job(handle, expected, commands, results):
    """Loads `handle`, keeps the table, says so, then on each command checks it is intact
    ("check") or cleans up its global ring as a process on its way out does ("cleanup")."""
    table = handle.load_pyarrow()
    handle.release()  # the framework's release: the table keeps its own reference
    results.put(("holding", os.getpid()))
    while (command := commands.get(timeout=TIMEOUT)) != "stop":
        if command == "cleanup":
            compat.cleanup_global_ring_buffer()  # a fork child's is the supervisor's, inherited
            results.put(("cleaned", os.getpid()))
            continue
        assert table.equals(expected), "a held table changed"
        results.put(("intact", os.getpid()))


def holders_of(ring, pid):
    return [h for h in ring._stats()["holders"] if h["pid"] == pid]


@pytest.mark.parametrize("start_method", ["spawn", "fork"])
def test_a_job_killed_while_it_holds_a_table_gives_its_space_back(supervisor_ring, start_method):
    context = multiprocessing.get_context(start_method)
    expected = make_table(0, 0, SIZES[-1])
    handle, ok = compat.try_zero_copy_pyarrow(expected, None, None)
    assert ok
    commands, results = context.Queue(), context.Queue()
    job = context.Process(target=reporting(holding_job), args=(handle, expected, commands, results))
    job.start()
    try:
        assert result(results) == ("holding", job.pid)
        assert [h["kind"] for h in holders_of(supervisor_ring, job.pid)] == ["read"]
        os.kill(job.pid, signal.SIGKILL)  # as the framework's shutdown kills its jobs
        job.join(TIMEOUT)
        assert job.exitcode == -signal.SIGKILL
    finally:
        if job.exitcode is None:
            job.kill()
            job.join()
    # Laps of the ring with nobody loading: the dead job's message is reclaimed, no fallback.
    laps = 2 * supervisor_ring.total_size // SIZES[-1] + 1
    for i in range(laps):
        assert compat.try_zero_copy_pyarrow(make_table(1, i, SIZES[-1]), None, None)[1], f"fell back at {i}"
    assert holders_of(supervisor_ring, job.pid) == []
    stats = supervisor_ring._stats()
    assert stats["messages_written"] == laps + 1


@pytest.mark.parametrize("start_method", ["spawn", "fork"])
def test_supervisor_cleanup_while_jobs_hold_tables_leaves_their_tables_intact(supervisor_ring, start_method):
    context = multiprocessing.get_context(start_method)
    expected = [make_table(0, i, SIZES[1]) for i in range(2)]
    handles = []
    for table in expected:
        handle, ok = compat.try_zero_copy_pyarrow(table, None, None)
        assert ok
        handles.append(handle)
    jobs, commands, results = [], [], context.Queue()
    for handle, table in zip(handles, expected):
        inbox = context.Queue()
        commands.append(inbox)
        jobs.append(context.Process(target=reporting(holding_job), args=(handle, table, inbox, results)))
    try:
        for job in jobs:
            job.start()
        assert sorted(result(results) for _ in jobs) == sorted(("holding", job.pid) for job in jobs)
        name = supervisor_ring.name
        # A job's own cleanup leaves the ring to the supervisor that made it (a forked job
        # inherits the supervisor's global ring object, creator flag included).
        for inbox in commands:
            inbox.put("cleanup")
        assert sorted(result(results) for _ in jobs) == sorted(("cleaned", job.pid) for job in jobs)
        assert os.path.exists(f"/dev/shm/arrowring.{name}"), "a job's cleanup removed the supervisor's ring"
        compat.cleanup_global_ring_buffer()  # the supervisor leaves first
        assert not os.path.exists(f"/dev/shm/arrowring.{name}"), "cleanup removes the ring's name"
        for inbox in commands:
            inbox.put("check")
        assert sorted(result(results) for _ in jobs) == sorted(("intact", job.pid) for job in jobs)
        for inbox in commands:
            inbox.put("stop")
    finally:
        for job, inbox in zip(jobs, commands):
            if job.is_alive():
                inbox.put("stop")  # after a failure on the way: it ends now, not at its watchdog
        for job in jobs:
            job.join(TIMEOUT)
            if job.exitcode is None:
                job.kill()
                job.join()
    assert [job.exitcode for job in jobs] == [0] * len(jobs)
