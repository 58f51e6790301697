"""``RingBufferHandle``: names one message of a ring, to send to another process.

The framework's handle (``enrgdaq.daq.models.RingBufferHandle``, a ``msgspec.Struct``) has these
fields and these two methods; this one is a dataclass with the same fields, so it pickles and
msgspec encodes it. ``try_zero_copy_pyarrow`` returns the framework's own class when the
framework is loaded, and that class works unchanged with this package under its module names.
"""
from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from ..errors import StaleHandleError
from ._reading import read_table_from_address
from .shared_ring_buffer import DEFAULT_RING_BUFFER_SIZE, DEFAULT_SLOT_SIZE, attach_to_ring_buffer

__all__ = ["RingBufferHandle"]


@dataclass
class RingBufferHandle:
    """A message in ring ``buffer_name``: slot ``slot_index``, ``data_size`` bytes of Arrow IPC
    stream. Any number of processes may load it until it is dropped for space."""

    buffer_name: str
    slot_index: int
    data_size: int
    is_pyarrow: bool = True
    total_size: int = DEFAULT_RING_BUFFER_SIZE
    slot_size: int = DEFAULT_SLOT_SIZE

    def load_pyarrow(self) -> pa.Table:
        """The table, zero-copy. It keeps the message intact for as long as it lives (also after
        ``release()``). StaleHandleError when the message was dropped for space or released."""
        ring_buffer = attach_to_ring_buffer(self.buffer_name, self.total_size, self.slot_size)
        if not ring_buffer.acquire_for_read(self.slot_index, self.data_size):
            raise StaleHandleError(
                f"ring {self.buffer_name!r} no longer holds the message in slot {self.slot_index}: it was dropped "
                "to make room for newer ones or released (load handles sooner, or give the ring more slots)")
        try:
            return read_table_from_address(ring_buffer.get_slot_address(self.slot_index), self.data_size,
                                           base=ring_buffer)
        except BaseException:
            ring_buffer.release(self.slot_index)
            raise

    def release(self) -> None:
        """Drops the reference ``load_pyarrow`` took (a loaded table keeps its own)."""
        attach_to_ring_buffer(self.buffer_name, self.total_size, self.slot_size).release(self.slot_index)
