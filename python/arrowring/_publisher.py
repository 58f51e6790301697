"""Publisher: tables into a ring, sized exactly and written once, straight into ring memory."""
from __future__ import annotations

import operator
import os
import threading
from typing import TYPE_CHECKING, Dict, Mapping, Optional, Tuple, Union

import pyarrow as pa
import pyarrow.ipc

from . import _core
from ._core import Handle
from ._ipc import StreamSizer, TableLike, as_table, native_stream
from . import _loan
from ._loan import LoanedBatch
from .errors import Error, InvalidArgumentError, LoanUnavailableError, RingFullError, TooLargeError

if TYPE_CHECKING:
    from types import EllipsisType

    from ._ring import Ring


class Publisher:
    """Publishes tables: exact size without serializing, one write straight into ring memory."""

    def __init__(self, ring: Ring, *, timeout: Optional[float] = 10.0, deliveries: int = 0,
                 delivery_ttl: int = 60, compression: Optional[str] = None):
        self.ring = ring
        self.timeout = timeout
        self.deliveries = deliveries
        self.delivery_ttl = delivery_ttl
        self.compression = compression
        self._options = pa.ipc.IpcWriteOptions(compression=compression)
        self._sizer = StreamSizer(self._options)
        self._loaner: Optional[_core.LoanPublisher] = None  # the C++ Publisher behind loan(), made on first use
        self._loaner_key: Optional[Tuple[int, Optional[float], int, int]] = None  # (pid, options) it was made for
        self._loaner_lock = threading.Lock()

    def publish(self, data: TableLike, timeout: Union[float, None, EllipsisType] = ...) -> Handle:
        """Publishes a Table or RecordBatch and returns its handle. Waits for room as the ring's
        policy says (``timeout`` seconds, None: forever); RingFullError when there is none,
        TooLargeError when it can never fit."""
        return self._publish(as_table(data), self.timeout if timeout is ... else timeout, wait=True)

    def try_publish(self, data: TableLike) -> Handle:
        """As publish, but never waits."""
        return self._publish(as_table(data), 0, wait=False)

    def loan(self, schema: pa.Schema, num_rows: int, *, validity: bool = True, wait: bool = True,
             capacities: Optional[Mapping[str, int]] = None) -> LoanedBatch:
        """Lends ring space holding a record batch of ``schema`` with ``num_rows`` rows, every
        buffer where the published Arrow IPC stream will have it: fill the NumPy views of
        :class:`LoanedBatch` in place; leaving the ``with`` block (or ``commit()``) publishes it
        without copying, an exception (or ``abort()``) publishes nothing and frees the space.

        Fixed-width columns (numbers, booleans, temporal, decimals, fixed-size binary, and
        fixed-size lists and structs of them) and, with a capacity, top-level utf8/binary
        columns and lists of fixed-width values: ``capacities={"label": 65536}`` gives column
        ``label`` 64 KiB of values (for a list: bytes of its values). Fill ``offsets(key)`` and
        ``data(key)``; the commit publishes what ``offsets[num_rows]`` uses. InvalidArgumentError
        names the column of any other type.
        ``validity``: bitmaps for nullable fields (all valid at first); False: none, no nulls.
        Declare fields non-nullable (or validity=False) for a commit that moves nothing: a
        bitmap left without nulls is dropped at commit, moving the buffers after it.
        Waits for room as publish does (``wait=False``: never); TooLargeError when it can
        never fit, RingFullError when there is no room."""
        if not _core.LOANS:
            raise LoanUnavailableError(_core.LOAN_UNAVAILABLE)
        if not _loan.HAVE_NUMPY:
            raise LoanUnavailableError(
                "a loan's columns are NumPy arrays, and numpy is not installed: pip install numpy")
        if self.compression is not None:
            raise InvalidArgumentError("a loan cannot be compressed (its body is written in place): make the "
                                       "publisher with compression=None, or use publish()")
        if not hasattr(schema, "__arrow_c_schema__"):
            raise InvalidArgumentError(f"loan() takes a pyarrow.Schema (or an object with __arrow_c_schema__), "
                                       f"not {type(schema).__name__}")
        if not isinstance(schema, pa.Schema):
            schema = pa.schema(schema)
        _loan.check_loanable(schema, dict(capacities or {}))
        core_loan = self._core_publisher().loan(schema.__arrow_c_schema__(), num_rows, validity, wait,
                                                self._capacities(capacities))
        return LoanedBatch(core_loan, schema, num_rows)

    def _core_publisher(self) -> "_core.LoanPublisher":
        """The C++ Publisher behind loans and native publishing: made again after a fork (this
        process's attachment) or when the options were changed; otherwise kept, with its
        encoder's schema message and the framing of its last loan."""
        key = (os.getpid(), self.timeout, self.deliveries, self.delivery_ttl)
        with self._loaner_lock:
            if self._loaner is None or self._loaner_key != key:
                self._loaner = _core.LoanPublisher(self.ring._core, self.timeout, self.deliveries, self.delivery_ttl)
                self._loaner_key = key
            return self._loaner

    def _capacities(self, capacities: Optional[Mapping[str, int]]) -> Dict[str, int]:
        """The capacities as C++ takes them: names to ints (NumPy integers too); one beyond
        the ring can never be reserved (TooLargeError, as C++ says for those within int64)."""
        checked: Dict[str, int] = {}
        for name, capacity in (capacities or {}).items():
            try:
                capacity = operator.index(capacity)
            except TypeError:
                raise InvalidArgumentError(f"capacities[{name!r}] must be a number of bytes, "
                                           f"not {type(capacity).__name__}") from None
            if capacity > self.ring.capacity:
                raise TooLargeError(f"capacities[{name!r}] = {capacity} bytes; ring {self.ring.name!r} holds at "
                                    f"most {self.ring.capacity}: use a smaller capacity or a bigger ring")
            checked[str(name)] = capacity
        return checked

    def _publish(self, data: TableLike, timeout: Optional[float], wait: bool) -> Handle:
        try:
            return self._publish_sized(data, timeout, wait)
        except Error:
            raise
        except (pa.ArrowException, OSError) as error:  # pyarrow's words (IO errors are OSError), as ours
            raise _arrow_error(error) from error

    def _publish_sized(self, data: TableLike, timeout: Optional[float], wait: bool) -> Handle:
        if _core.NATIVE_TABLES and self.compression is None and (timeout == self.timeout or not wait):
            # The C++ Publisher: the table as it is, the schema message built once, no GIL
            # while it waits and copies. Its waits are the publisher's own timeout.
            return _core.publish_table(self._core_publisher(), data, wait)
        size, message = self._sizer.measure(data)
        native = native_stream(data, size, self._options)
        if native is not None:
            size = native.size
        core = self.ring._core
        if size > core.capacity:
            raise TooLargeError(f"the table is {size} bytes as an Arrow IPC stream; ring {self.ring.name!r} holds "
                                f"at most {core.capacity}: use a bigger ring or the copying fallback")
        slot = core.allocate(size, timeout) if wait else core.try_allocate(size)
        if slot is None:
            raise RingFullError(f"ring {self.ring.name!r} has no room for {size} bytes"
                                f"{'' if not wait else f' after waiting {timeout} s'} (policy {core.policy})")
        try:
            written = native.write_into(slot) if native is not None else self._sizer.write(slot, data, size, message)
            return slot.commit(written, self.deliveries, self.delivery_ttl)
        finally:
            if slot.open:
                slot.abort()


def _arrow_error(error: Exception) -> Error:
    """An error pyarrow raised while sizing or writing a stream, as an arrowring error."""
    if isinstance(error, pa.ArrowCapacityError):
        return TooLargeError(f"pyarrow cannot write this table as one Arrow IPC stream: {error}")
    if isinstance(error, (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, pa.ArrowKeyError)):
        return InvalidArgumentError(f"pyarrow cannot write this table as an Arrow IPC stream: {error}")
    return Error(f"writing the table as an Arrow IPC stream failed: {error}")
