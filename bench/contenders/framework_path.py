"""The framework's message path: the seed's approach (seed-python: fixed 10 MB slots in
shared memory, the table serialized twice, pickled bytes above a slot), the same path on
arrowring.compat (compat-python), and the flow with no table in it (framework-flow-floor)."""
from __future__ import annotations

import os
from multiprocessing import shared_memory

import pyarrow as pa
import pyarrow.ipc

from arrowring import compat

from harness import FORK, MiB, bench_table, consume, run_pair, warmup_for


SEED_SLOT = 10 * 1000 * 1000  # The seed's fixed 10 MB slots.


def seed_consumer(shm_name, slots, to_consumer, free, warm, count, ready, warmed, done):
    shm = shared_memory.SharedMemory(name=shm_name)
    whole = pa.py_buffer(shm.buf)
    ready.set()
    for i in range(warm + count):
        kind, a, b = to_consumer.get()
        if kind == "slot":  # The seed: zero-copy read of a slot with foreign_buffer.
            table = pa.ipc.open_stream(pa.foreign_buffer(whole.address + a * SEED_SLOT, b, base=whole)).read_all()
            consume(table)
            del table
            free.put(a)
        else:  # The seed's fallback for tables larger than a slot: pickled bytes.
            consume(pa.ipc.open_stream(a).read_all())
        if i + 1 == warm:
            warmed.set()
    del whole
    shm.close()
    done.put(True)


def case_seed_python(size: int, count: int) -> dict:
    slots = 4
    shm = shared_memory.SharedMemory(create=True, size=slots * SEED_SLOT)
    to_consumer, free = FORK.Queue(), FORK.Queue()
    for i in range(slots):
        free.put(i)
    whole = pa.py_buffer(shm.buf)

    def produce(table):
        sink = pa.BufferOutputStream()  # get_table_ipc_size: serialize once to measure
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        needed = sink.getvalue().size
        if needed > SEED_SLOT:  # too big for a slot: the slow fallback, serialized again
            to_consumer.put(("pickle", sink.getvalue().to_pybytes(), None))
            return
        index = free.get()
        slot = pa.py_buffer(shm.buf[index * SEED_SLOT:(index + 1) * SEED_SLOT])  # writable (a slice is not)
        out = pa.FixedSizeBufferWriter(slot)  # and serialize again, into the slot
        with pa.ipc.new_stream(out, table.schema) as writer:
            writer.write_table(table)
        to_consumer.put(("slot", index, out.tell()))

    try:
        return run_pair(produce, seed_consumer, (shm.name, slots, to_consumer, free), size, count)
    finally:
        del whole
        shm.close()
        shm.unlink()


def compat_consumer(to_consumer, credits, warm, count, ready, warmed, done):
    ready.set()
    for i in range(warm + count):
        handle = to_consumer.get()  # Pickled, as the framework sends it.
        table = handle.load_pyarrow()
        handle.release()
        consume(table)
        del table
        credits.release()
        if i + 1 == warm:
            warmed.set()
    done.put(True)


def case_compat_python(size: int, count: int) -> dict:
    """The framework's message path on arrowring.compat: try_zero_copy_pyarrow, the handle
    pickled to the consumer, load_pyarrow + release there (the framework's benchmark geometry:
    10 MiB slots). Credits keep the producer within the ring, as the framework's consumers keep
    up in its benchmark; a fallback would be an error here."""
    ring = compat.get_global_ring_buffer(f"bench-compat-{os.getpid()}-{size}", total_size=4 * 10 * MiB,
                                         slot_size=10 * MiB)
    to_consumer, credits = FORK.Queue(), FORK.Semaphore(3)

    def produce(table):
        credits.acquire()
        handle, ok = compat.try_zero_copy_pyarrow(table, None, None)
        if not ok:
            raise RuntimeError("arrowring.compat fell back to copying in the benchmark")
        to_consumer.put(handle)

    try:
        # The warm-up goes once round the ring: its first lap pays tmpfs page faults, which a
        # long-running framework pays once (the seed's slots are warm after their first use).
        lap = (ring.slot_count + 1) * ring.slot_size // size + 1
        return run_pair(produce, compat_consumer, (to_consumer, credits), size, count, warm=max(lap, warmup_for(size)))
    finally:
        compat.cleanup_global_ring_buffer()


def flow_floor_consumer(to_consumer, credits, warm, count, ready, warmed, done):
    ready.set()
    for i in range(warm + count):
        to_consumer.get()  # The pickled handle, unpickled: nothing is loaded.
        credits.release()
        if i + 1 == warm:
            warmed.set()
    done.put(True)


def case_framework_flow_floor(size: int, count: int) -> dict:
    """The framework's message path with no table in it: the same handle (one real compat handle,
    made once) pickled through the same multiprocessing.Queue under the same 3 credits, and
    nothing written or loaded. What every table of the flow pays whatever moves its bytes: a
    bound on any contender of this row, the seed's approach included."""
    ring = compat.get_global_ring_buffer(f"bench-flow-{os.getpid()}-{size}", total_size=4 * 10 * MiB,
                                         slot_size=10 * MiB)
    to_consumer, credits = FORK.Queue(), FORK.Semaphore(3)
    try:
        handle, ok = compat.try_zero_copy_pyarrow(bench_table(size), None, None)
        if not ok:
            raise RuntimeError("arrowring.compat fell back to copying in the benchmark")

        def produce(_table):
            credits.acquire()
            to_consumer.put(handle)

        return run_pair(produce, flow_floor_consumer, (to_consumer, credits), size, count)
    finally:
        compat.cleanup_global_ring_buffer()
