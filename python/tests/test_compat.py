"""arrowring.compat: the seed's module, with shared reference counts."""
import gc
import multiprocessing
import pickle

import numpy as np
import pyarrow as pa
import pyarrow.compute
import pyarrow.ipc
import pytest

import arrowring as ar
from arrowring import compat


def table(rows=1000):
    return pa.table({"a": np.arange(rows), "b": [str(i) for i in range(rows)]})


def test_the_seven_functions():
    t = table()
    size = compat.get_table_ipc_size(t)
    data = compat.table_to_ipc_bytes(t)
    assert size == len(data)
    assert compat.ipc_bytes_to_table(data).equals(t)
    buffer = bytearray(size + 100)
    assert compat.write_table_to_buffer(t, memoryview(buffer)) == size
    view = memoryview(buffer)
    read = compat.read_table_from_buffer(view, size)
    assert read.equals(t)
    arrow_buffer = pa.py_buffer(buffer)
    assert compat.read_table_from_address(arrow_buffer.address, size, arrow_buffer).equals(t)
    with pytest.raises(ValueError, match=f"needs {size} bytes"):
        compat.write_table_to_buffer(t, memoryview(bytearray(size - 1)))
    with pytest.raises(ValueError, match="read-only"):  # Not an abort inside Arrow.
        compat.write_table_to_buffer(t, memoryview(bytes(size)))


@pytest.fixture
def global_ring(ring_name):
    ring = compat.get_global_ring_buffer(ring_name, total_size=8 * 2**20, slot_size=2**20)
    yield ring
    compat.cleanup_global_ring_buffer()


def test_ring_api_slot_life_cycle(global_ring):
    assert global_ring.slot_count == 8 and global_ring.slot_size == 2**20
    slot = global_ring.allocate(5000)
    assert slot is not None and slot.max_size == 5000 and len(slot.view) == 5000
    assert global_ring.get_slot_occupancy()["writing"] == 1
    written = compat.write_table_to_buffer(table(100), slot.view)
    global_ring.mark_ready(slot.index, written)
    assert global_ring.get_slot_occupancy()["ready"] == 1
    assert global_ring.acquire_for_read(slot.index, written)
    got = compat.read_table_from_buffer(global_ring.get_slot_view(slot.index), written)
    assert got.equals(table(100))
    assert global_ring.get_slot_address(slot.index) == global_ring._ring.data_address + slot.offset
    del got
    global_ring.release(slot.index)
    assert global_ring.get_stats() == (written, written)
    assert global_ring.get_slot_occupancy()["ready"] == 0
    assert not global_ring.acquire_for_read(slot.index, written), "freed after its one reader"
    unused = global_ring.allocate(100)
    unused.release()
    assert global_ring.get_slot_occupancy()["writing"] == 0
    assert compat.get_global_ring_buffer_stats()["messages_aborted"] == 1


def test_slots_larger_than_slot_size_fit_without_a_fallback(global_ring):
    handle, ok = compat.try_zero_copy_pyarrow(table(300_000), store_config=None, tag="big")
    assert ok and handle.data_size > global_ring.slot_size


def test_try_zero_copy_says_no_when_it_cannot(global_ring):
    handle, ok = compat.try_zero_copy_pyarrow(table(2_000_000), store_config=None, tag=None)
    assert (handle, ok) == (None, False)


def load_in_child(handle_bytes, results):
    handle = pickle.loads(handle_bytes)
    t = handle.load_pyarrow()
    results.put((t.num_rows, int(pa.compute.sum(t["a"]).as_py())))
    handle.release()


def test_handles_work_across_processes_with_shared_reference_counts(global_ring):
    import pyarrow.compute  # noqa: F401
    handle, ok = compat.try_zero_copy_pyarrow(table(), store_config={"s": 1}, tag="t")
    assert ok and handle.tag == "t"
    assert global_ring.get_slot_occupancy()["ready"] == 1
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    child = context.Process(target=load_in_child, args=(pickle.dumps(handle), results))
    child.start()
    assert results.get(timeout=60) == (1000, sum(range(1000)))
    child.join(60)
    assert child.exitcode == 0
    # The child's read reference counted in this process too: the message is gone.
    stats = compat.get_global_ring_buffer_stats()
    assert stats["messages_read"] == 1 and stats["committed_bytes"] == 0
    with pytest.raises(ar.StaleHandleError):
        handle.load_pyarrow()


def test_a_loaded_table_outlives_release(global_ring):
    handle, ok = compat.try_zero_copy_pyarrow(table(), None, None)
    loaded = handle.load_pyarrow()
    handle.release()
    compat.try_zero_copy_pyarrow(table(100_000), None, None)  # Wants space: must not take loaded's.
    assert loaded.equals(table())
    del loaded
    gc.collect()
    assert global_ring.get_slot_occupancy()["ready"] == 1  # Only the newer message remains.


def test_attach_to_ring_buffer_shares_the_ring(global_ring):
    other = compat.attach_to_ring_buffer(global_ring.name, global_ring.total_size, global_ring.slot_size)
    assert other.name == global_ring.name
    with pytest.raises(ar.NoSuchRingError):
        compat.attach_to_ring_buffer("no-such-global-ring")
