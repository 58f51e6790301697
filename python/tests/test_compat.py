"""arrowring.compat in one process: the framework's module interface and its fixed behaviour."""
import gc
import logging
import pickle
import sys
import types

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.ipc
import pytest

import arrowring as ar
from arrowring import compat
from arrowring.compat import shared_ring_buffer as srb


def table(rows=1000, value=0):
    return pa.table({"a": np.arange(rows) + value, "b": [str(i) for i in range(rows)]})


def test_the_seven_functions():
    t = table()
    size = compat.get_table_ipc_size(t)
    data = compat.table_to_ipc_bytes(t)
    assert size == len(data)
    assert compat.ipc_bytes_to_table(data).equals(t)
    buffer = bytearray(size + 100)
    assert compat.write_table_to_buffer(t, memoryview(buffer)) == size
    assert compat.read_table_from_buffer(memoryview(buffer), size).equals(t)
    arrow_buffer = pa.py_buffer(buffer)
    assert compat.read_table_from_address(arrow_buffer.address, size, arrow_buffer).equals(t)
    with pytest.raises(ValueError, match=f"needs {size} bytes"):
        compat.write_table_to_buffer(t, memoryview(bytearray(size - 1)))
    with pytest.raises(ValueError, match="read-only"):  # Not an abort inside Arrow.
        compat.write_table_to_buffer(t, memoryview(bytes(size)))


@pytest.fixture
def four_slots(ring_name):
    """The framework's own test geometry: 4 slots of 1 KiB."""
    ring = compat.SharedMemoryRingBuffer(ring_name, total_size=4 * 1024, slot_size=1024, create=True)
    ring._ensure_initialized()
    yield ring
    ring.cleanup()


def occupancy(ring):
    o = ring.get_slot_occupancy()
    return o["free"], o["writing"], o["ready"]


def test_geometry_attributes_are_the_frameworks(ring_name):
    ring = compat.SharedMemoryRingBuffer(ring_name, total_size=10 * 1024 + 5, slot_size=1024)
    assert (ring.name, ring.slot_count, ring.slot_size, ring.total_size) == (ring_name, 10, 1024, 10 * 1024)
    assert ar.Ring.list().count(ring_name) == 0, "nothing is made before first use"
    with pytest.raises(ar.InvalidArgumentError, match="slot_size"):
        compat.SharedMemoryRingBuffer(ring_name, total_size=100, slot_size=1024)


def test_a_slot_goes_free_writing_ready_free(four_slots):
    assert occupancy(four_slots) == (4, 0, 0)
    slot = four_slots.allocate(128)
    assert slot.max_size == 128 and len(slot.view) == 128
    assert occupancy(four_slots) == (3, 1, 0)
    four_slots.mark_ready(slot.index, 64)
    assert occupancy(four_slots) == (3, 0, 1)
    four_slots.release(slot.index)  # Releasing a ready slot nobody reads frees it.
    assert occupancy(four_slots) == (4, 0, 0)


def test_a_full_ring_counts_in_slots_and_keeps_messages_until_their_bytes_are_needed(four_slots):
    slots = [four_slots.allocate(128) for _ in range(4)]
    for slot in slots:
        four_slots.mark_ready(slot.index, 64)
    assert occupancy(four_slots) == (0, 0, 4)
    newest = four_slots.allocate(128)
    assert newest is not None
    assert occupancy(four_slots) == (0, 1, 3), "the framework's slot view"
    assert four_slots.acquire_for_read(slots[0].index), "retained: its bytes were not needed"
    four_slots.release(slots[0].index)
    four_slots.release(newest.index)
    big = four_slots.allocate(8000)  # needs the bytes of the oldest messages (the ring has 8 KiB)
    assert big is not None
    assert not four_slots.acquire_for_read(slots[0].index), "the oldest gave way for space"


def test_a_slot_being_read_is_never_overwritten_and_never_stops_the_writer(four_slots):
    slots = [four_slots.allocate(128) for _ in range(4)]
    for number, slot in enumerate(slots):
        slot.view[:] = bytes([number + 1]) * 128
        four_slots.mark_ready(slot.index)
    assert four_slots.acquire_for_read(slots[0].index)
    for _ in range(100):  # many laps of the ring around the held message
        slot = four_slots.allocate(1000)
        assert slot is not None, "a held message costs its own bytes, no more"
        slot.view[:] = b"\xff" * 1000
        four_slots.mark_ready(slot.index)
    assert bytes(four_slots.get_slot_view(slots[0].index)) == b"\x01" * 128
    assert not four_slots.acquire_for_read(slots[1].index), "unheld ones gave way"
    four_slots.release(slots[0].index)


def test_reading_counts_references_as_the_framework_does(four_slots):
    slot = four_slots.allocate(128)
    four_slots.mark_ready(slot.index, 64)
    assert four_slots.acquire_for_read(slot.index, 64)
    assert occupancy(four_slots) == (3, 0, 1)
    four_slots.release(slot.index)  # Back to ready: still loadable by others.
    assert occupancy(four_slots) == (3, 0, 1)
    assert four_slots.acquire_for_read(slot.index, 64)
    four_slots.release(slot.index)
    four_slots.release(slot.index)  # A release without a reference frees it.
    assert occupancy(four_slots) == (4, 0, 0)
    assert not four_slots.acquire_for_read(slot.index)
    four_slots.release(slot.index)  # Releasing a free slot does nothing.


def test_stats_count_bytes_written_and_read(four_slots):
    assert four_slots.get_stats() == (0, 0)
    for i in range(3):
        slot = four_slots.allocate(256)
        four_slots.mark_ready(slot.index, 100 + i)
        assert four_slots.acquire_for_read(slot.index, 50 + i)
    assert four_slots.get_stats() == (303, 153)


def test_views_write_and_read_the_same_ring_bytes(four_slots):
    slot = four_slots.allocate(100)
    slot.view[:5] = b"hello"
    assert four_slots.get_slot_address(slot.index) == four_slots._ensure_initialized().data_address + slot.offset
    four_slots.mark_ready(slot.index, 5)
    assert four_slots.acquire_for_read(slot.index, 5)
    view = four_slots.get_slot_view(slot.index)
    assert bytes(view) == b"hello" and view.readonly
    four_slots.release(slot.index)
    with pytest.raises(ar.StaleHandleError, match="acquire_for_read first"):
        four_slots.get_slot_address(slot.index)


def test_releasing_an_unmarked_slot_aborts_it(four_slots):
    slot = four_slots.allocate(100)
    slot.release()
    assert occupancy(four_slots) == (4, 0, 0)
    with pytest.raises(ar.BadStateError, match="not being written"):
        four_slots.mark_ready(slot.index)


def test_messages_may_exceed_slot_size_up_to_the_ring(four_slots):
    slot = four_slots.allocate(3000)
    assert slot is not None and len(slot.view) == 3000
    slot.release()
    assert four_slots.allocate(100 * 1024) is None


def test_an_index_from_a_previous_ring_of_the_same_name_is_stale(ring_name):
    first = compat.SharedMemoryRingBuffer(ring_name, 4096, 1024)
    slot = first.allocate(10)
    first.mark_ready(slot.index)
    first.cleanup()
    second = compat.SharedMemoryRingBuffer(ring_name, 4096, 1024)
    other = second.allocate(10)
    second.mark_ready(other.index)
    assert other.index != slot.index
    assert not second.acquire_for_read(slot.index)
    second.cleanup()


# --- names -----------------------------------------------------------------------------------
FRAMEWORK_NAMES = ["ring_Zm9vYmFy+Kw==", "ring_a+b=c", "enrgdaq_ring_buffer", "ring_ABCxyz0189-_.+="]


@pytest.mark.parametrize("suffix", FRAMEWORK_NAMES)
def test_every_name_the_framework_makes_works(ring_name, suffix):
    name = ring_name + suffix
    ring = compat.SharedMemoryRingBuffer(name, 1 << 20, 1 << 16)
    handle_slot = ring.allocate(10)
    ring.mark_ready(handle_slot.index)
    assert name in ar.Ring.list()
    assert ar.Ring.attach(name).name == name
    ring.cleanup()
    assert name not in ar.Ring.list()


def test_a_name_that_can_never_work_says_which_character(ring_name):
    for name, shown in ((ring_name + "a/b", "'/'"), (ring_name + "a\nb", "'\\x0a'")):
        with pytest.raises(ar.InvalidArgumentError, match=shown.replace("\\", "\\\\")):
            compat.SharedMemoryRingBuffer(name, 4096, 1024).allocate(1)
        with pytest.raises(ar.InvalidArgumentError):
            ar.Ring.create(name, capacity=4096)


# --- the global ring and the send path -------------------------------------------------------
@pytest.fixture
def global_ring(ring_name, monkeypatch):
    monkeypatch.delenv(srb.GLOBAL_RING_ENV, raising=False)
    ring = compat.get_global_ring_buffer(ring_name + "_g+=", total_size=8 * 2**20, slot_size=2**20)
    yield ring
    compat.cleanup_global_ring_buffer()


def test_the_global_ring_is_a_lazy_singleton_that_ignores_later_arguments(global_ring):
    assert compat.get_global_ring_buffer() is global_ring
    assert compat.get_global_ring_buffer("another", 1, 1) is global_ring
    assert compat.get_global_ring_buffer_stats() == (0, 0)
    attached = compat.attach_to_ring_buffer(global_ring.name, global_ring.total_size, global_ring.slot_size)
    assert attached is not global_ring and compat.get_global_ring_buffer() is global_ring


def test_the_process_that_names_the_global_ring_creates_and_removes_it(global_ring):
    # The framework's supervisor names it; its jobs may be killed at shutdown, so the
    # supervisor must own it, not whichever job wrote first.
    assert global_ring.name in ar.Ring.list() and global_ring._owner
    compat.cleanup_global_ring_buffer()
    assert global_ring.name not in ar.Ring.list()


def test_install_says_what_to_do_when_the_framework_is_not_importable(monkeypatch):
    monkeypatch.setitem(sys.modules, "enrgdaq", None)  # import enrgdaq raises ImportError
    with pytest.raises(RuntimeError, match="needs the framework importable"):
        compat.install()


def test_global_stats_are_a_pair_and_zero_without_a_ring(monkeypatch):
    monkeypatch.setattr(srb, "_global_ring_buffer", None)
    assert compat.get_global_ring_buffer_stats() == (0, 0)


def test_attach_to_a_missing_ring_fails_at_first_use():
    ring = compat.attach_to_ring_buffer("no-such-compat-ring")
    with pytest.raises(ar.NoSuchRingError):
        ring.acquire_for_read(0)


def test_one_handle_loads_in_several_readers_and_release_goes_through_new_objects(global_ring):
    handle, ok = compat.try_zero_copy_pyarrow(table(), None, "tag")
    assert ok and isinstance(handle, compat.RingBufferHandle)
    first = handle.load_pyarrow()
    second = handle.load_pyarrow()
    handle.release()  # Each release attaches a new object, as the framework's handle does.
    handle.release()
    third = pickle.loads(pickle.dumps(handle)).load_pyarrow()
    assert first.equals(table()) and second.equals(table()) and third.equals(table())
    written, read = compat.get_global_ring_buffer_stats()
    assert written == handle.data_size and read == 3 * handle.data_size


def test_each_handle_names_its_own_message(global_ring):
    handles = [compat.try_zero_copy_pyarrow(table(100, value=i), None, None)[0] for i in range(5)]
    assert len({h.slot_index for h in handles}) == 5
    for i, handle in enumerate(handles):
        assert handle.load_pyarrow().equals(table(100, value=i))


def test_allocate_says_why_it_returns_none(four_slots, caplog):
    assert four_slots.allocate(1 << 20) is None
    assert "does not fit ring" in caplog.text and four_slots.name in caplog.text


def test_tables_point_into_the_ring(global_ring):
    handle, ok = compat.try_zero_copy_pyarrow(table(), None, None)
    loaded = handle.load_pyarrow()
    attachment = global_ring._ensure_initialized()
    start, end = attachment.data_address, attachment.data_address + attachment.ring.capacity
    assert all(start <= b.address < end for b in loaded["a"].chunks[0].buffers() if b is not None)


def test_messages_nobody_loads_never_stop_the_ring(global_ring):
    big = table(60_000)  # ~1 MiB: eight laps of the 8-slot ring.
    for i in range(64):
        handle, ok = compat.try_zero_copy_pyarrow(big, None, None)
        assert ok, f"message {i} fell back"
    assert handle.load_pyarrow().equals(big)


def test_a_loaded_table_costs_only_its_own_bytes_and_is_never_overwritten(global_ring, caplog):
    handle, _ = compat.try_zero_copy_pyarrow(table(1000, value=7), None, None)
    loaded = handle.load_pyarrow()
    handle.release()
    outcomes = [compat.try_zero_copy_pyarrow(table(60_000), None, None)[1] for _ in range(40)]
    assert all(outcomes), "the writer goes around the kept table, lap after lap"
    assert loaded.equals(table(1000, value=7))
    assert "no room" not in caplog.text


def test_tables_kept_until_the_ring_is_full_fall_back_with_one_warning(global_ring, caplog):
    kept = []
    outcomes = []
    for _ in range(20):  # ~1 MiB each into a 9 MiB ring, every one kept
        handle, ok = compat.try_zero_copy_pyarrow(table(60_000), None, None)
        outcomes.append(ok)
        if ok:
            kept.append(handle.load_pyarrow())
            handle.release()
    assert outcomes[0] and not all(outcomes), "kept tables fill the ring: the rest fall back"
    assert "loaded from it and still alive" in caplog.text and caplog.records[0].levelno == logging.WARNING
    assert len([r for r in caplog.records if "still alive" in r.message]) == 1, "rate-limited"
    assert all(t.equals(table(60_000)) for t in kept)
    del kept
    gc.collect()
    assert compat.try_zero_copy_pyarrow(table(60_000), None, None)[1], "free again once the tables are gone"


def test_a_table_larger_than_the_ring_falls_back_with_a_warning(global_ring, caplog):
    assert compat.try_zero_copy_pyarrow(table(2_000_000), None, None) == (None, False)
    assert "does not fit ring" in caplog.text


def test_a_stale_handle_says_what_happened(global_ring):
    handle, _ = compat.try_zero_copy_pyarrow(table(), None, None)
    global_ring.release(handle.slot_index)  # Freed without being read.
    with pytest.raises(ar.StaleHandleError, match="no longer holds"):
        handle.load_pyarrow()


def test_handles_encode_with_msgspec_like_the_frameworks(global_ring):
    handle, _ = compat.try_zero_copy_pyarrow(table(), None, None)
    decoded = msgspec.msgpack.decode(msgspec.msgpack.encode(handle), type=compat.RingBufferHandle)
    assert decoded == handle and decoded.load_pyarrow().equals(table())


class FrameworkShapedHandle(msgspec.Struct):
    """The framework's handle, as its models module declares it, calling the modules by name."""
    buffer_name: str
    slot_index: int
    data_size: int
    is_pyarrow: bool = True
    total_size: int = 256 * 1024 * 1024
    slot_size: int = 10 * 1024 * 1024

    def load_pyarrow(self):
        from enrgdaq.utils.arrow_ipc import read_table_from_address
        from enrgdaq.utils.shared_ring_buffer import attach_to_ring_buffer
        ring_buffer = attach_to_ring_buffer(name=self.buffer_name, total_size=self.total_size,
                                            slot_size=self.slot_size)
        ring_buffer.acquire_for_read(self.slot_index, self.data_size)
        address = ring_buffer.get_slot_address(self.slot_index)
        return read_table_from_address(address, self.data_size, base=ring_buffer)

    def release(self):
        from enrgdaq.utils.shared_ring_buffer import attach_to_ring_buffer
        attach_to_ring_buffer(name=self.buffer_name, total_size=self.total_size,
                              slot_size=self.slot_size).release(self.slot_index)


@pytest.fixture
def framework_modules(monkeypatch):
    """An importable ``enrgdaq`` package with its ``daq.models`` holding the framework's handle."""
    for name in ("enrgdaq", "enrgdaq.utils", "enrgdaq.daq", "enrgdaq.daq.models",
                 "enrgdaq.utils.arrow_ipc", "enrgdaq.utils.shared_ring_buffer"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    package, utils, daq, models = (types.ModuleType(n) for n in
                                   ("enrgdaq", "enrgdaq.utils", "enrgdaq.daq", "enrgdaq.daq.models"))
    package.__path__, utils.__path__, daq.__path__ = [], [], []
    models.RingBufferHandle = FrameworkShapedHandle
    for module in (package, utils, daq, models):
        monkeypatch.setitem(sys.modules, module.__name__, module)
    yield
    for name in compat.FRAMEWORK_MODULES:
        sys.modules.pop(name, None)


def test_install_runs_the_frameworks_own_handle_on_arrowring(framework_modules, global_ring):
    compat.install()
    from enrgdaq.utils.arrow_ipc import try_zero_copy_pyarrow
    handle, ok = try_zero_copy_pyarrow(table(), None, None)
    assert ok and type(handle) is FrameworkShapedHandle
    loaded = handle.load_pyarrow()
    handle.release()
    assert loaded.equals(table())
    handle.release()  # The framework's second release frees it, once the table is gone too.
    del loaded
    gc.collect()
    with pytest.raises(ar.StaleHandleError):
        handle.load_pyarrow()


def test_install_refuses_after_the_framework_loaded_its_own_modules(framework_modules):
    sys.modules["enrgdaq.utils.arrow_ipc"] = types.ModuleType("enrgdaq.utils.arrow_ipc")
    with pytest.raises(RuntimeError, match="call it first"):
        compat.install()


def test_a_sender_waits_for_a_store_that_is_loading_and_nothing_is_lost(global_ring):
    import queue
    import threading
    import time
    handles, loaded, errors = queue.Queue(), [], []

    def slow_store():  # loads every handle, with work between loads: far slower than the sender
        while (item := handles.get(timeout=60)) is not None:
            number, handle = item
            try:
                got = handle.load_pyarrow()
                handle.release()
                loaded.append(got.equals(table(60_000, value=number)))
            except Exception as error:  # noqa: BLE001 - reported below
                errors.append(repr(error))
            time.sleep(0.005)  # the store's own work on the table

    store = threading.Thread(target=slow_store)
    store.start()
    outcomes = []
    for number in range(60):  # ~1 MiB each: seven laps of the 9 MiB ring
        handle, ok = compat.try_zero_copy_pyarrow(table(60_000, value=number), None, None)
        outcomes.append(ok)
        handles.put((number, handle))
    handles.put(None)
    store.join(timeout=120)
    assert all(outcomes), "no fallback: the sender waited while the store was loading"
    assert errors == [] and loaded == [True] * 60, "every handle loaded, every table right"


def test_handles_lost_on_the_way_are_retired_together_and_the_rest_all_load(global_ring):
    import queue
    import threading
    handles, results, lost = queue.Queue(), [], []

    def store():  # never sees the first 50 handles (a bus that dropped them), loads the rest
        while (item := handles.get(timeout=60)) is not None:
            number, handle = item
            if number < 50:
                lost.append(handle)
                continue
            got = handle.load_pyarrow()
            handle.release()
            results.append(got.equals(table(100, value=number)))

    loader = threading.Thread(target=store)
    loader.start()
    outcomes = []
    for number in range(1200):  # the window holds 512: the lost ones reach the head
        handle, ok = compat.try_zero_copy_pyarrow(table(100, value=number), None, None)
        outcomes.append(ok)
        handles.put((number, handle))
    handles.put(None)
    loader.join(timeout=60)
    assert not loader.is_alive(), "the store waited on senders stuck behind lost handles"
    assert all(outcomes) and results == [True] * 1150
    with pytest.raises(ar.StaleHandleError):
        lost[0].load_pyarrow()  # waived once the store loaded past it, then given way for space


def test_a_sender_judges_only_its_own_handles_lost_not_another_producers_still_on_its_way(global_ring):
    """One process's handles reach a store in the order it sent them, but another producer's
    can come after later ones were loaded (that producer was descheduled between its commit
    and its send): a sender waives its own passed messages, never another producer's."""
    attachment = global_ring._ensure_initialized()
    ring = attachment.ring
    other = ring.try_allocate(64)  # another producer's message: committed owing a load, not sent from here
    others = other.sequence
    other.commit(64, 1, 60)
    mine, _ = compat.try_zero_copy_pyarrow(table(100, value=1), None, None)
    later, _ = compat.try_zero_copy_pyarrow(table(100, value=2), None, None)
    assert later.load_pyarrow().equals(table(100, value=2))  # readers passed both earlier messages

    waive_lost = srb.SharedMemoryRingBuffer._waive_lost
    assert not waive_lost(ring, attachment, 1000.0)
    assert waive_lost(ring, attachment, 1000.0 + srb.LOST_AFTER_S)
    assert ring.pending_deliveries(mine.slot_index & ((1 << 40) - 1)) == 0, "its own: lost on the way, waived"
    assert ring.pending_deliveries(others) == 1, "another producer's: maybe on its way, still owed"
    assert attachment.owed == [] and attachment.passed_since == {}


def test_a_message_sent_through_allocate_and_mark_ready_is_judged_lost_like_any_other(global_ring):
    attachment = global_ring._ensure_initialized()
    ring = attachment.ring
    slot = global_ring.allocate(256)  # the framework's own two-step send; its handle never arrives
    global_ring.mark_ready(slot.index, 64)
    later, _ = compat.try_zero_copy_pyarrow(table(100, value=2), None, None)
    assert later.load_pyarrow().equals(table(100, value=2))
    waive_lost = srb.SharedMemoryRingBuffer._waive_lost
    assert not waive_lost(ring, attachment, 1000.0)
    assert waive_lost(ring, attachment, 1000.0 + srb.LOST_AFTER_S)
    assert ring.pending_deliveries(slot.index & ((1 << 40) - 1)) == 0


def test_a_process_on_its_way_out_waives_the_loads_its_messages_still_owe(global_ring):
    """Nobody else judges its handles lost: at exit it waives them (still loadable until their
    space is needed) rather than leave them holding writers back until the loads lapse."""
    from arrowring.compat import _attachments
    attachment = global_ring._ensure_initialized()
    sent, _ = compat.try_zero_copy_pyarrow(table(100, value=1), None, None)
    sequence = sent.slot_index & ((1 << 40) - 1)
    assert attachment.owed == [sequence] and attachment.ring.pending_deliveries(sequence) == 1
    _attachments._waive_owed_at_exit()
    assert attachment.owed == [] and attachment.ring.pending_deliveries(sequence) == 0
    assert sent.load_pyarrow().equals(table(100, value=1)), "waived, not freed"


def test_a_handle_readers_passed_is_waited_for_then_waived_and_still_loads_while_its_bytes_are_there(global_ring):
    """Several producers' handles reach a store out of sequence order: one still being sent
    while a later one is loaded is on its way, not lost. A passed message holds the writer
    back for LOST_AFTER_S from when a sender first saw it passed; then its load is waived, not
    freed: the writer may take its space, oldest first, but a handle that comes late loads."""
    in_flight, _ = compat.try_zero_copy_pyarrow(table(100, value=1), None, None)
    lost, _ = compat.try_zero_copy_pyarrow(table(100, value=2), None, None)
    later, _ = compat.try_zero_copy_pyarrow(table(100, value=3), None, None)
    assert later.load_pyarrow().equals(table(100, value=3))  # readers passed the first two
    attachment = global_ring._ensure_initialized()
    ring = attachment.ring

    def owed(handle):
        return ring.pending_deliveries(handle.slot_index & ((1 << 40) - 1))

    waive_lost = srb.SharedMemoryRingBuffer._waive_lost
    first_seen = 1000.0
    assert not waive_lost(ring, attachment, first_seen)
    assert not waive_lost(ring, attachment, first_seen + srb.LOST_AFTER_S - 0.01)
    assert owed(in_flight) == owed(lost) == 1, "passed, but not for long: still owed"
    assert in_flight.load_pyarrow().equals(table(100, value=1)), "it arrives"
    assert waive_lost(ring, attachment, first_seen + srb.LOST_AFTER_S)
    assert owed(lost) == 0 and attachment.passed_since == {}
    assert lost.load_pyarrow().equals(table(100, value=2)), "waived, not freed: a late handle loads"
