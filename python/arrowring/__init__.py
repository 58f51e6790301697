"""arrowring: zero-copy Arrow tables between processes through named shared-memory rings.

    import arrowring as ar
    ring = ar.Ring.create("daq", capacity=256 * 2**20)          # or ar.Ring.attach("daq")
    handle = ring.publisher().publish(table)                      # -> ar.Handle
    sub = ring.subscribe("storage")
    table = sub.next(timeout=1.0)                                 # pyarrow.Table or None

Tables returned by ``next()`` and ``load()`` are zero-copy: their buffers lie in the shared
memory, and the message's space returns to the ring once the table and every array and slice
taken from it have been garbage-collected.
"""
from __future__ import annotations

import json
import os
import threading
from typing import Iterator, Optional, Union

import pyarrow as pa
import pyarrow.ipc

from . import errors
from .errors import (BadStateError, Error, IncompatibleRingError, InvalidArgumentError, NoSpaceError,
                     NoSuchRingError, RingExistsError, RingFullError, RingPermissionError, StaleHandleError,
                     TooLargeError, TooManyError, WrongRingError)
from . import _core
from ._core import Handle

__all__ = [
    "Ring", "Publisher", "Subscriber", "Message", "Handle", "load", "ipc_stream_size", "Error",
    "InvalidArgumentError", "NoSuchRingError", "RingExistsError", "RingPermissionError",
    "IncompatibleRingError", "NoSpaceError", "TooLargeError", "StaleHandleError", "WrongRingError",
    "TooManyError", "BadStateError", "RingFullError",
]
__version__ = "0.1.0"

TableLike = Union[pa.Table, pa.RecordBatch]


def ipc_stream_size(table: TableLike, options: Optional[pa.ipc.IpcWriteOptions] = None) -> int:
    """Exact bytes of ``table`` as an Arrow IPC stream, without serializing the data.

    Runs pyarrow's stream writer against ``pyarrow.MockOutputStream``, which only counts.
    """
    sink = pa.MockOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write(table)
    return sink.size()


def _as_table(data: TableLike) -> TableLike:
    if isinstance(data, (pa.Table, pa.RecordBatch)):
        return data
    raise InvalidArgumentError(f"publish takes a pyarrow.Table or pyarrow.RecordBatch, not {type(data).__name__}")


def _table_over(slot: "_core.ReadSlot") -> pa.Table:
    # pyarrow wraps the slot's buffer (zero-copy) and keeps the slot alive as its base: the
    # message is released when the last buffer of the table, or of a slice of it, is collected.
    return pa.ipc.open_stream(pa.py_buffer(slot)).read_all()


class Ring:
    """A process's attachment to a named ring. Pickles by name (re-attaches on unpickling),
    and re-attaches by itself in a child after ``fork()``."""

    def __init__(self, core: "_core.Ring"):
        self._core_ring = core
        self._pid = os.getpid()
        self._name = core.name

    @classmethod
    def create(cls, name: str, capacity: int, policy: str = "block", mode: int = 0o600,
               max_messages: int = 0) -> "Ring":
        """Creates ring ``name`` with ``capacity`` data bytes. ``policy``: what publishing into
        a full ring does — "block" (wait, lossless), "fail" (RingFullError at once) or
        "drop-oldest" (drop the oldest unheld messages, counted). ``mode``: 0o600 or 0o660."""
        return cls(_core.Ring.create(name, capacity, policy, mode, max_messages))

    @classmethod
    def attach(cls, name: str) -> "Ring":
        """Attaches to an existing ring; NoSuchRingError if there is none."""
        return cls(_core.Ring.attach(name))

    @staticmethod
    def list() -> list:
        """Names of every arrowring ring on this machine."""
        return _core.Ring.list()

    @property
    def _core(self) -> "_core.Ring":
        if os.getpid() != self._pid:  # Inherited across fork: attach anew in this process.
            self._core_ring = _core.Ring.attach(self._name)
            self._pid = os.getpid()
        return self._core_ring

    def __reduce__(self):
        return (Ring.attach, (self._name,))

    @property
    def name(self) -> str:
        return self._name

    @property
    def capacity(self) -> int:
        return self._core.capacity

    @property
    def policy(self) -> str:
        return self._core.policy

    @property
    def ring_id(self) -> int:
        return self._core.ring_id

    @property
    def data_address(self) -> int:
        """Address of this process's mapping of the data area (zero-copy checks)."""
        return self._core.data_address

    @property
    def data_size(self) -> int:
        return self._core.data_size

    def stats(self) -> dict:
        """The same object as ``arrowring stat NAME --json``."""
        return json.loads(self._core.stats_json())

    def recover(self) -> dict:
        """Reclaims what dead processes held; returns what was reclaimed."""
        return self._core.recover()

    def unlink(self) -> None:
        """Removes the ring's name; attached processes keep their mapping until they detach."""
        _core.Ring.unlink(self._name)

    def publisher(self, *, timeout: Optional[float] = 10.0, deliveries: int = 0, delivery_ttl: int = 60,
                  compression: Optional[str] = None) -> "Publisher":
        return Publisher(self, timeout=timeout, deliveries=deliveries, delivery_ttl=delivery_ttl,
                         compression=compression)

    def subscribe(self, name: str, *, spin: int = 0) -> "Subscriber":
        """Registers subscriber ``name``: it receives every message published from now on."""
        return Subscriber(self, name, spin=spin)

    def load(self, handle: Handle) -> pa.Table:
        """The table a handle names, zero-copy (consumes one of its deliveries)."""
        return _table_over(self._core.acquire(handle))

    def __repr__(self) -> str:
        return f"Ring({self._name!r}, capacity={self.capacity}, policy={self.policy!r})"


class Publisher:
    """Publishes tables: exact size without serializing, one write straight into ring memory."""

    def __init__(self, ring: Ring, *, timeout: Optional[float] = 10.0, deliveries: int = 0,
                 delivery_ttl: int = 60, compression: Optional[str] = None):
        self.ring = ring
        self.timeout = timeout
        self.deliveries = deliveries
        self.delivery_ttl = delivery_ttl
        self._options = pa.ipc.IpcWriteOptions(compression=compression)

    def publish(self, data: TableLike, timeout: Optional[float] = ...) -> Handle:
        """Publishes a Table or RecordBatch and returns its handle. Waits for room as the ring's
        policy says (``timeout`` seconds, None: forever); RingFullError when there is none,
        TooLargeError when it can never fit."""
        return self._publish(_as_table(data), self.timeout if timeout is ... else timeout, wait=True)

    def try_publish(self, data: TableLike) -> Handle:
        """As publish, but never waits."""
        return self._publish(_as_table(data), 0, wait=False)

    def _publish(self, data: TableLike, timeout: Optional[float], wait: bool) -> Handle:
        size = ipc_stream_size(data, self._options)
        core = self.ring._core
        if size > core.capacity:
            raise TooLargeError(f"the table is {size} bytes as an Arrow IPC stream; ring {self.ring.name!r} holds "
                                f"at most {core.capacity}: use a bigger ring or the copying fallback")
        slot = core.allocate(size, timeout) if wait else core.try_allocate(size)
        if slot is None:
            raise RingFullError(f"ring {self.ring.name!r} has no room for {size} bytes"
                                f"{'' if not wait else f' after waiting {timeout} s'} (policy {core.policy})")
        try:
            written = _write_stream(slot, data, self._options)
            return slot.commit(written, self.deliveries, self.delivery_ttl)
        finally:
            if slot.open:
                slot.abort()


def _write_stream(slot: "_core.WriteSlot", data: TableLike, options: pa.ipc.IpcWriteOptions) -> int:
    # Every view of the slot must be gone before commit (the core refuses otherwise: a live
    # writable view would let anyone change a published message), also when writing fails.
    sink = writer = None
    try:
        sink = pa.FixedSizeBufferWriter(pa.py_buffer(slot))  # Zero-copy view of the ring space.
        writer = pa.ipc.new_stream(sink, data.schema, options=options)
        writer.write(data)
        writer.close()
        written = sink.tell()
        sink.close()
        return written
    finally:
        del writer, sink


class Message:
    """A received message: the table, its handle, and how many messages were dropped
    (drop-oldest) before this subscriber took them, since its previous message."""

    __slots__ = ("table", "handle", "missed", "commit_time_ns")

    def __init__(self, table: pa.Table, handle: Handle, missed: int, commit_time_ns: int):
        self.table, self.handle, self.missed, self.commit_time_ns = table, handle, missed, commit_time_ns


class Subscriber:
    """A named subscriber; leaves the ring when closed or collected."""

    def __init__(self, ring: Ring, name: str, *, spin: int = 0):
        self.ring = ring
        self.spin = spin
        self._subscription = ring._core.subscribe(name)
        self._pid = os.getpid()

    @property
    def name(self) -> str:
        return self._subscription.name

    @property
    def missed(self) -> int:
        """Messages dropped before this subscriber took them, in total."""
        return self._subscription.missed

    def next_message(self, timeout: Optional[float] = None) -> Optional[Message]:
        """The next message, or None once ``timeout`` seconds pass without one (None: wait)."""
        if os.getpid() != self._pid:
            raise BadStateError("this subscriber belongs to the parent process; subscribe again after fork()")
        got = self._subscription.next(timeout, self.spin)
        if got is None:
            return None
        slot, missed = got
        handle, commit_time_ns = slot.handle, slot.commit_time_ns
        return Message(_table_over(slot), handle, missed, commit_time_ns)

    def next(self, timeout: Optional[float] = None) -> Optional[pa.Table]:
        """The next table (zero-copy), or None once ``timeout`` seconds pass without one."""
        message = self.next_message(timeout)
        return None if message is None else message.table

    def __iter__(self) -> Iterator[pa.Table]:
        while True:
            yield self.next()

    def close(self) -> None:
        """Leaves the ring: messages still due to this subscriber are released."""
        if os.getpid() == self._pid:
            self._subscription.leave()

    def __enter__(self) -> "Subscriber":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_rings_by_id: dict = {}
_rings_lock = threading.Lock()


def load(handle: Handle) -> pa.Table:
    """The table ``handle`` names, zero-copy, finding its ring by the id the handle carries."""
    with _rings_lock:
        ring = _rings_by_id.get(handle.ring_id)
        if ring is None or ring._pid != os.getpid():
            ring = None
            for name in Ring.list():
                try:
                    candidate = Ring.attach(name)
                except Error:
                    continue
                _rings_by_id[candidate.ring_id] = candidate
                if candidate.ring_id == handle.ring_id:
                    ring = candidate
        if ring is None:
            raise NoSuchRingError(f"no ring on this machine has the id of handle {handle}")
    return ring.load(handle)
