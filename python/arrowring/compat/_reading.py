"""``read_table_from_address``: a table read zero-copy from ring memory.

The framework's ``arrow_ipc`` module exports it, and ``RingBufferHandle.load_pyarrow`` reads
with it; it lives here, below both, so that neither module imports the other's.
"""
from __future__ import annotations

import threading

import pyarrow as pa
import pyarrow.ipc

from .. import _core
from . import _attachments

__all__ = ["read_table_from_address"]

# One C++ reader per thread (each keeps the schema it decoded last; one is not thread-safe).
_readers = threading.local()


def _native_reader() -> "_core.TableReader":
    reader = getattr(_readers, "reader", None)
    if reader is None:
        reader = _readers.reader = _core.TableReader()
    return reader


def read_table_from_address(address: int, size: int, base: object = None) -> pa.Table:
    """Reads a table zero-copy from ``size`` bytes of raw memory at ``address``.

    When the address is a ring message this process holds for reading, the table takes its own
    reference to the message: it stays intact (never overwritten) until the table and every
    slice of it are garbage-collected, even after the slot is released. Otherwise ``base`` is
    kept alive as long as the table."""
    held = _attachments.held_read_slot(address)
    if held is not None:
        if size > held.size:
            raise ValueError(f"read_table_from_address: {size} bytes asked of a message of {held.size}")
        if _core.NATIVE_TABLES and size == held.size:  # the C++ layer's reader, its schema decoded once
            table: pa.Table = _native_reader().read(held.duplicate())
            return table
        return pa.ipc.open_stream(pa.py_buffer(held.duplicate())[:size]).read_all()
    return pa.ipc.open_stream(pa.foreign_buffer(address, size, base=base)).read_all()
