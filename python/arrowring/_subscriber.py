"""Subscriber: a named, durable reader of every message published after it joined."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, AsyncIterator, Iterator, List, Optional, Tuple

import pyarrow as pa

from . import _async, _core, _stream
from ._core import Handle
from ._ipc import StreamReader
from .errors import BadStateError, Error, InvalidArgumentError

if TYPE_CHECKING:
    from ._ring import Ring


class Message:
    """A received message: the table, its handle, and how many messages were dropped
    (drop-oldest) before this subscriber took them, since its previous message."""

    __slots__ = ("table", "handle", "missed", "commit_time_ns")

    def __init__(self, table: pa.Table, handle: Handle, missed: int, commit_time_ns: int):
        self.table, self.handle, self.missed, self.commit_time_ns = table, handle, missed, commit_time_ns


class Subscriber:
    """A named subscriber; leaves the ring when closed or collected."""

    def __init__(self, ring: Ring, name: str, *, start: str = "new", spin: Optional[float] = None,
                 adaptive: bool = True):
        self.ring = ring
        self._subscription = ring._core.subscribe(name, start)
        if spin is not None:
            try:
                self._subscription.set_spin(spin, adaptive)
            except BaseException:
                self._subscription.leave()  # The name is free again for a corrected call.
                raise
        self._reader = StreamReader()  # keeps the decoded schema between messages
        self._pid = os.getpid()
        self._unread: Optional[Message] = None  # taken by a reader() whose schema it did not have
        self._pending: Optional[Error] = None  # met by next_many after it had taken tables: raised next
        self._notifier: Optional[_core.CommitNotifier] = None  # made by the first await
        self._awaiting = False

    @property
    def name(self) -> str:
        return self._subscription.name

    @property
    def spin(self) -> Tuple[float, bool]:
        """How ``next`` waits: (longest polling in seconds before sleeping, adaptive)."""
        return self._subscription.spin

    @property
    def missed(self) -> int:
        """Messages dropped before this subscriber took them, in total."""
        return self._subscription.missed

    def next_message(self, timeout: Optional[float] = None) -> Optional[Message]:
        """The next message, or None once ``timeout`` seconds pass without one (None: wait)."""
        self._check_before_taking()
        if self._unread is not None:
            message, self._unread = self._unread, None
            return message
        got = self._subscription.next(timeout)
        if got is None:
            return None
        slot, missed = got
        handle, commit_time_ns = slot.handle, slot.commit_time_ns
        return Message(self._reader.read(slot, self.ring.name), handle, missed, commit_time_ns)

    def next(self, timeout: Optional[float] = None) -> Optional[pa.Table]:
        """The next table (zero-copy), or None once ``timeout`` seconds pass without one."""
        message = self.next_message(timeout)
        return None if message is None else message.table

    def next_many(self, max_tables: int, timeout: Optional[float] = None) -> List[pa.Table]:
        """Up to ``max_tables`` next tables (zero-copy), in order: waits up to ``timeout`` seconds
        for the first (None: wait), then takes those already published without waiting; [] when
        none came. With the C++ layer's reader one call takes them all. An error met after some
        tables were taken (a CorruptError: that message is skipped) is raised by the next call,
        so no table is lost."""
        self._check_before_taking()
        if isinstance(max_tables, bool) or not isinstance(max_tables, int) or max_tables < 1:
            raise InvalidArgumentError(f"next_many takes a positive number of tables, not {max_tables!r}")
        tables: List[pa.Table] = []
        if self._unread is not None:
            tables.append(self._unread.table)
            self._unread, timeout = None, 0
        if len(tables) < max_tables:
            native = self._reader.read_many(self._subscription, max_tables - len(tables), timeout, self.ring.name)
            if native is not None:
                taken, self._pending = native
                return tables + taken
        while len(tables) < max_tables:
            try:
                message = self.next_message(0 if tables else timeout)
            except Error as error:
                if not tables:
                    raise
                self._pending = error
                break
            if message is None:
                break
            tables.append(message.table)
        return tables

    def _check_before_taking(self) -> None:
        """Raises what stops this subscriber taking a message now: it belongs to the parent of
        a fork, or next_many met an error after the tables it returned."""
        if os.getpid() != self._pid:
            raise BadStateError("this subscriber belongs to the parent process; subscribe again after fork()")
        if self._pending is not None:
            error, self._pending = self._pending, None
            raise error

    def __iter__(self) -> Iterator[pa.Table]:
        while True:
            yield self.next()

    def reader(self, limit: Optional[int] = None, timeout: Optional[float] = None, *,
               schema: Optional[pa.Schema] = None) -> pa.RecordBatchReader:
        """The next messages as an Arrow stream: a ``pyarrow.RecordBatchReader`` of their record
        batches, zero-copy, which exports ``__arrow_c_stream__`` (DuckDB, Polars, ...).

        It ends after ``limit`` messages (None: no limit), or once ``timeout`` seconds pass
        without a new one (None: wait forever). Its schema is ``schema`` or else the first
        message's, taken now (within ``timeout``; none came: an empty stream with no columns).
        A message with another schema ends it with ``SchemaChangedError``; that message is
        returned first by the subscriber's next call. Messages are taken as the stream is read.
        """
        return _stream.open_reader(self, limit, timeout, schema)

    async def next_message_async(self, timeout: Optional[float] = None) -> Optional[Message]:
        """``next_message`` for asyncio: waits without blocking the event loop (an eventfd the loop
        watches, signalled from the ring's futex; no polling). None once ``timeout`` seconds pass.
        A cancelled await takes no message."""
        return await _async.next_message_async(self, timeout)

    async def next_async(self, timeout: Optional[float] = None) -> Optional[pa.Table]:
        """``next`` for asyncio (see ``next_message_async``): the next table, or None on timeout."""
        return await _async.next_async(self, timeout)

    def aiter(self, limit: Optional[int] = None, timeout: Optional[float] = None) -> AsyncIterator[pa.Table]:
        """``async for table in sub.aiter()``: tables as they come, until ``limit`` tables or until
        ``timeout`` seconds pass without one (None: forever)."""
        return _async.iterate(self, limit, timeout)

    def _commit_notifier(self) -> "_core.CommitNotifier":
        if self._notifier is None:
            self._notifier = _core.CommitNotifier(self.ring._core)
        return self._notifier

    def close(self) -> None:
        """Leaves the ring: messages still due to this subscriber are released."""
        self._unread = None
        if os.getpid() == self._pid:
            if self._notifier is not None:
                self._notifier.close()
            self._subscription.leave()

    def __enter__(self) -> "Subscriber":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
