"""Drop-in replacement for the seed's ``arrow_ipc`` utilities and their ring buffer.

A program written against the seed works by changing its imports to this module. The
interface is the seed's; the behaviour is arrowring's where the seed's was unsafe or slow
(docs/python.md lists each difference):

- reference counts and slot states live in shared memory, so processes see each other's;
- a message is never overwritten while a reader may be opening it;
- there are no fixed slots: ``slot_size`` is kept for compatibility only, messages of any size
  up to the ring's capacity fit, and small ones take little space;
- ``get_table_ipc_size`` is exact and does not serialize the table;
- a table from ``load_pyarrow`` keeps its message alive until it is garbage-collected, even
  after ``release()``.
"""
from __future__ import annotations

import ctypes
import os
import threading
from typing import Any, Optional, Tuple

import pyarrow as pa
import pyarrow.ipc

from . import Error, Ring, RingExistsError, _core, _table_over, ipc_stream_size

__all__ = [
    "get_table_ipc_size", "table_to_ipc_bytes", "ipc_bytes_to_table", "read_table_from_buffer",
    "read_table_from_address", "write_table_to_buffer", "try_zero_copy_pyarrow", "get_global_ring_buffer",
    "attach_to_ring_buffer", "cleanup_global_ring_buffer", "get_global_ring_buffer_stats", "SharedRingBuffer",
    "RingSlot", "RingBufferHandle",
]

DEFAULT_NAME = "arrowring_global"
DEFAULT_TOTAL_SIZE = 256 * 2**20
DEFAULT_SLOT_SIZE = 10 * 2**20


# --- the seed's seven functions ---------------------------------------------------------------
def get_table_ipc_size(table: pa.Table) -> int:
    """Exact size of ``table`` as an Arrow IPC stream, measured without serializing it."""
    return ipc_stream_size(table)


def table_to_ipc_bytes(table: pa.Table) -> bytes:
    """Serializes ``table`` to IPC stream bytes (the copying fallback)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def ipc_bytes_to_table(data: bytes) -> pa.Table:
    """Deserializes a table from IPC stream bytes (the copying fallback)."""
    return pa.ipc.open_stream(data).read_all()


def read_table_from_buffer(buffer: memoryview, size: int) -> pa.Table:
    """Reads a table zero-copy from the first ``size`` bytes of ``buffer``; the table keeps
    ``buffer`` alive."""
    return pa.ipc.open_stream(pa.py_buffer(buffer)[:size]).read_all()


def read_table_from_address(address: int, size: int, base: object) -> pa.Table:
    """Reads a table zero-copy from raw memory; ``base`` is kept alive as long as the table."""
    return pa.ipc.open_stream(pa.foreign_buffer(address, size, base=base)).read_all()


def write_table_to_buffer(table: pa.Table, buffer: memoryview) -> int:
    """Writes ``table`` as an IPC stream into ``buffer``; returns the bytes written.

    Raises ValueError, naming both sizes, when the buffer is too small (checked before anything
    is written, so the buffer is left as it was)."""
    view = memoryview(buffer)
    if view.readonly:  # Arrow's FixedSizeBufferWriter would abort the process on it.
        raise ValueError("write_table_to_buffer needs a writable buffer; this one is read-only")
    needed = get_table_ipc_size(table)
    available = view.nbytes
    if needed > available:
        raise ValueError(f"the table needs {needed} bytes as an Arrow IPC stream but the buffer holds {available}")
    sink = pa.FixedSizeBufferWriter(pa.py_buffer(buffer))
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    written = sink.tell()
    sink.close()
    return written


def try_zero_copy_pyarrow(table: pa.Table, store_config: Any, tag: Any) -> Tuple[Optional["RingBufferHandle"], bool]:
    """Writes ``table`` into the global ring for zero-copy transfer: ``(handle, True)``, or
    ``(None, False)`` when it cannot (no global ring, larger than the ring, ring full), so the
    caller takes its copying fallback."""
    ring = _global_ring
    if ring is None:
        return None, False
    try:
        size = get_table_ipc_size(table)
        slot = ring.allocate(size)
        if slot is None:
            return None, False
        try:
            written = write_table_to_buffer(table, slot.view)
            ring.mark_ready(slot.index, written)
        except Exception:
            slot.release()
            return None, False
        handle = RingBufferHandle(ring.name, slot.index, written, True, ring.total_size, ring.slot_size)
        handle.store_config, handle.tag = store_config, tag
        return handle, True
    except Error:
        return None, False


# --- the ring --------------------------------------------------------------------------------
def _memory(address: int, size: int) -> memoryview:
    return memoryview((ctypes.c_char * size).from_address(address)).cast("B")


class RingSlot:
    """A reservation returned by ``SharedRingBuffer.allocate``: write into ``view``, then
    ``mark_ready(index, bytes_written)``, or ``release()`` to give the space back."""

    def __init__(self, ring: "SharedRingBuffer", index: int, offset: int, max_size: int, view: memoryview):
        self._ring, self.index, self.offset, self.max_size, self.view = ring, index, offset, max_size, view

    def release(self) -> None:
        self._ring._abort(self.index)


class SharedRingBuffer:
    """The seed's ring object, on an arrowring ring shared by every process that attaches it."""

    def __init__(self, ring: Ring, total_size: int, slot_size: int, owner: bool):
        self._ring = ring
        self._seed = _core.SeedRing(ring._core)
        self._pid = os.getpid()
        self._owner = owner
        self._lock = threading.Lock()
        self._ready_sizes: dict = {}
        self.name = ring.name
        self.total_size = total_size
        self.slot_size = slot_size
        self.slot_count = max(1, total_size // max(1, slot_size))

    def _core(self) -> "_core.SeedRing":
        if os.getpid() != self._pid:  # After fork: a fresh attachment for this process.
            self._ring = Ring.attach(self.name)
            self._seed = _core.SeedRing(self._ring._core)
            self._pid = os.getpid()
        return self._seed

    def allocate(self, size: int) -> Optional[RingSlot]:
        """A slot of ``size`` bytes (any size up to the ring's capacity), or None when full."""
        with self._lock:
            got = self._core().allocate(size)
        if got is None:
            return None
        index, address = got
        return RingSlot(self, index, address - self._ring.data_address, size, _memory(address, size))

    def _abort(self, index: int) -> None:
        with self._lock:
            self._core().abort(index)

    def mark_ready(self, index: int, bytes_written: int) -> None:
        """Publishes slot ``index`` with its first ``bytes_written`` bytes. It is freed once one
        reader has acquired and released it (the seed's semantics)."""
        with self._lock:
            self._core().mark_ready(index, bytes_written)

    def acquire_for_read(self, index: int, bytes: int) -> bool:
        """Takes a read reference to slot ``index`` (shared across processes); False if it holds
        no ready message any more."""
        with self._lock:
            try:
                self._core().acquire_for_read(index, bytes)
            except Error:
                return False
            self._ready_sizes[index] = bytes
            return True

    def release(self, index: int) -> None:
        """Releases this process's read reference to slot ``index``."""
        with self._lock:
            self._core().release(index)
            self._ready_sizes.pop(index, None)

    def get_slot_view(self, index: int) -> memoryview:
        """The bytes of slot ``index``, which this process has acquired for reading."""
        return _memory(self.get_slot_address(index), self._ready_sizes[index])

    def get_slot_address(self, index: int) -> int:
        handle = self._ring._core.handle_of(index)
        if handle is None or index not in self._ready_sizes:
            raise KeyError(f"slot {index} is not acquired for reading in this process")
        return self._ring.data_address + handle.offset

    def get_stats(self) -> Tuple[int, int]:
        """(bytes written, bytes read) since the ring was created, across all processes."""
        return tuple(self._core().get_stats())

    def get_slot_occupancy(self) -> dict:
        """Messages by state: ``free`` (descriptors available), ``writing``, ``ready``."""
        return self._core().get_slot_occupancy()

    def cleanup(self) -> None:
        """Removes the ring if this process created it."""
        if self._owner:
            try:
                self._ring.unlink()
            except Error:
                pass
            self._owner = False


_global_ring: Optional[SharedRingBuffer] = None
_global_lock = threading.Lock()


def get_global_ring_buffer(name: str = DEFAULT_NAME, total_size: int = DEFAULT_TOTAL_SIZE,
                           slot_size: int = DEFAULT_SLOT_SIZE) -> SharedRingBuffer:
    """This process's global ring: created if no ring of that name exists, else attached."""
    global _global_ring
    with _global_lock:
        if _global_ring is None or _global_ring.name != name:
            try:
                _global_ring = SharedRingBuffer(Ring.create(name, total_size), total_size, slot_size, owner=True)
            except RingExistsError:
                _global_ring = SharedRingBuffer(Ring.attach(name), total_size, slot_size, owner=False)
        return _global_ring


def attach_to_ring_buffer(name: str, total_size: int = DEFAULT_TOTAL_SIZE,
                          slot_size: int = DEFAULT_SLOT_SIZE) -> SharedRingBuffer:
    """Attaches to an existing ring and makes it this process's global ring."""
    global _global_ring
    with _global_lock:
        _global_ring = SharedRingBuffer(Ring.attach(name), total_size, slot_size, owner=False)
        return _global_ring


def cleanup_global_ring_buffer() -> None:
    """Forgets the global ring, removing it if this process created it."""
    global _global_ring
    with _global_lock:
        if _global_ring is not None:
            _global_ring.cleanup()
        _global_ring = None


def get_global_ring_buffer_stats() -> Optional[dict]:
    """Statistics of the global ring (the keys of ``arrowring stat --json``), or None."""
    ring = _global_ring
    return None if ring is None else ring._ring.stats()


_attached: dict = {}


def _ring_named(name: str) -> Ring:
    ring = _attached.get(name)
    if ring is None or ring._pid != os.getpid():
        ring = _attached[name] = Ring.attach(name)
    return ring


class RingBufferHandle:
    """Names a message in a ring by ring name and slot index, to pass between processes (it
    pickles). ``load_pyarrow()`` returns the table zero-copy; the table holds the message until it
    is garbage-collected, so ``release()`` can never free memory a table still uses."""

    def __init__(self, buffer_name: str, slot_index: int, data_size: int, is_pyarrow: bool = True,
                 total_size: int = DEFAULT_TOTAL_SIZE, slot_size: int = DEFAULT_SLOT_SIZE):
        self.buffer_name, self.slot_index, self.data_size = buffer_name, slot_index, data_size
        self.is_pyarrow, self.total_size, self.slot_size = is_pyarrow, total_size, slot_size
        self.store_config = None
        self.tag = None
        self._table_ref = None

    def load_pyarrow(self) -> pa.Table:
        """The table, zero-copy. Consumes the message's one delivery: the message is freed when
        this table (and every slice of it) has been garbage-collected."""
        ring = _ring_named(self.buffer_name)
        handle = ring._core.handle_of(self.slot_index)
        if handle is None or handle.size != self.data_size:
            from .errors import StaleHandleError
            raise StaleHandleError(f"slot {self.slot_index} of ring {self.buffer_name!r} no longer holds this message")
        return _table_over(ring._core.acquire(handle))

    def release(self) -> None:
        """Kept for compatibility. The space is released when the loaded table is collected."""

    def __repr__(self) -> str:
        return (f"RingBufferHandle(buffer_name={self.buffer_name!r}, slot_index={self.slot_index}, "
                f"data_size={self.data_size})")
