"""Publisher: tables into a ring, sized exactly and written once, straight into ring memory."""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import pyarrow as pa
import pyarrow.ipc

from ._core import Handle
from ._ipc import StreamSizer, TableLike, as_table
from .errors import RingFullError, TooLargeError

if TYPE_CHECKING:
    from ._ring import Ring


class Publisher:
    """Publishes tables: exact size without serializing, one write straight into ring memory."""

    def __init__(self, ring: Ring, *, timeout: Optional[float] = 10.0, deliveries: int = 0,
                 delivery_ttl: int = 60, compression: Optional[str] = None):
        self.ring = ring
        self.timeout = timeout
        self.deliveries = deliveries
        self.delivery_ttl = delivery_ttl
        self._options = pa.ipc.IpcWriteOptions(compression=compression)
        self._sizer = StreamSizer(self._options)

    def publish(self, data: TableLike, timeout: Optional[float] = ...) -> Handle:
        """Publishes a Table or RecordBatch and returns its handle. Waits for room as the ring's
        policy says (``timeout`` seconds, None: forever); RingFullError when there is none,
        TooLargeError when it can never fit."""
        return self._publish(as_table(data), self.timeout if timeout is ... else timeout, wait=True)

    def try_publish(self, data: TableLike) -> Handle:
        """As publish, but never waits."""
        return self._publish(as_table(data), 0, wait=False)

    def _publish(self, data: TableLike, timeout: Optional[float], wait: bool) -> Handle:
        size = self._sizer.size(data)
        core = self.ring._core
        if size > core.capacity:
            raise TooLargeError(f"the table is {size} bytes as an Arrow IPC stream; ring {self.ring.name!r} holds "
                                f"at most {core.capacity}: use a bigger ring or the copying fallback")
        slot = core.allocate(size, timeout) if wait else core.try_allocate(size)
        if slot is None:
            raise RingFullError(f"ring {self.ring.name!r} has no room for {size} bytes"
                                f"{'' if not wait else f' after waiting {timeout} s'} (policy {core.policy})")
        try:
            written = self._sizer.write(slot, data, size)
            return slot.commit(written, self.deliveries, self.delivery_ttl)
        finally:
            if slot.open:
                slot.abort()
